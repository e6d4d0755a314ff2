/**
 * Fresh PostgreSQL databases for a test file: `databases(url)` (the `test` database's URL, from
 * `service('postgres')`) gives `fresh()`, a new empty database's URL (CREATE DATABASE from a
 * connection to `test`), and `dropAll()`, which drops every one it made (connections still open
 * to them are ended). Names come from `runName`, so runs never share one.
 */
import pg from 'pg';
import { runName } from './services.ts';

export interface Databases {
  fresh(): Promise<string>;
  dropAll(): Promise<void>;
}

export function databases(url: string): Databases {
  const made: string[] = [];
  let admin: pg.Client | undefined;
  const connect = async () => {
    if (!admin) {
      admin = new pg.Client({ connectionString: url });
      admin.on('error', () => undefined);
      await admin.connect();
    }
    return admin;
  };
  return {
    async fresh() {
      const name = runName('nextauth_test');
      await (await connect()).query(`CREATE DATABASE ${name}`);
      made.push(name);
      const u = new URL(url);
      u.pathname = `/${name}`;
      return u.toString();
    },
    async dropAll() {
      if (!admin) return;
      for (const name of made.splice(0)) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
      admin = undefined;
    },
  };
}
