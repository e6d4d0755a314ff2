/**
 * The PostgreSQL store's schema, as numbered migrations (migrations/NNNN-name.ts, each a `name`
 * and its `sql`), applied in order and recorded in `nextauth_migrations`. `migrate` applies those
 * a database lacks in one transaction, under a transaction-scoped advisory lock: processes
 * starting together wait for the first, then find nothing left to do, so each migration runs
 * once. A migration is never edited once released; a change of schema is a new one.
 */
import pg from 'pg';
import { storageError } from './storage-errors.ts';
import * as records from './migrations/0001-records.ts';
import * as events from './migrations/0002-events.ts';
import * as oidc from './migrations/0003-oidc.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Every migration, oldest first (versions 1, 2, … with no gap). */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, ...records },
  { version: 2, ...events },
  { version: 3, ...oidc },
];

/** The advisory lock key migrations hold (any bigint constant of ours: "nextauth" in ASCII). */
const LOCK = '7959390390288020840';

/** A database a newer server migrated: this one does not know its schema. */
export class SchemaTooNewError extends Error {
  constructor(
    readonly found: number,
    readonly known: number,
  ) {
    super(`The database's schema is at version ${found}; this server knows versions up to ${known} (a newer server migrated it)`);
    this.name = 'SchemaTooNewError';
  }
}

/**
 * Applies the migrations the database lacks (all in one transaction) and resolves the versions
 * applied now (none when it was up to date).
 */
export async function migrate(client: pg.ClientBase, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(${LOCK})`);
    await client.query(`CREATE TABLE IF NOT EXISTS nextauth_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ version: number }>('SELECT coalesce(max(version), 0)::integer AS version FROM nextauth_migrations');
    const at = rows[0]!.version;
    const known = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
    if (at > known) throw new SchemaTooNewError(at, known);
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= at) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO nextauth_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/** `nextauth migrate`: connects to the database at `url`, applies what it lacks, disconnects; resolves the versions applied. */
export async function migrateDatabase(url: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined); // a connection lost mid-way fails the query under way too
  try {
    await client.connect();
    return await migrate(client);
  } catch (e) {
    throw storageError(e);
  } finally {
    await client.end().catch(() => undefined);
  }
}
