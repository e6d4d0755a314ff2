/**
 * Fresh PostgreSQL databases for a test file: `databases(url)` (the `test` database's URL, from
 * `service('postgres')`) gives `fresh()`, a new empty database's URL (CREATE DATABASE from a
 * connection to `test`), and `dropAll()`, which drops every one it made (connections still open
 * to them are ended). Names come from `runName`, so runs never share one; databases left by a
 * run that died (its process gone, made over an hour ago) are dropped when a later run first
 * connects.
 */
import pg from 'pg';
import { runName } from './services.ts';

export interface Databases {
  fresh(): Promise<string>;
  dropAll(): Promise<void>;
}

const PREFIX = 'nextauth_test';

/** Whether the process is alive (a database named after a pid that is gone was left by a run that died). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function databases(url: string): Databases {
  const made: string[] = [];
  let admin: pg.Client | undefined;
  const connect = async () => {
    if (!admin) {
      admin = new pg.Client({ connectionString: url });
      admin.on('error', () => undefined);
      await admin.connect();
      const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [`${PREFIX}_`]);
      for (const { datname } of rows) {
        // runName: prefix_<pid>_<Date.now() in base 36>_<random>
        const [pid = NaN, made = NaN] = datname
          .slice(PREFIX.length + 1)
          .split('_')
          .map((part, i) => (i === 0 ? Number(part) : Number.parseInt(part, 36)));
        const stale = Number.isInteger(pid) && pid > 0 && !alive(pid) && Date.now() - made > 60 * 60_000;
        if (stale) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => undefined);
      }
    }
    return admin;
  };
  return {
    async fresh() {
      const name = runName(PREFIX);
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
