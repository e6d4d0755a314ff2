/**
 * The cluster Store: records in PostgreSQL, one row per record (migrations/0001-records.ts),
 * shared by every process of the NS. The schema is brought up to date at open (migrations.ts).
 *
 * Changes. In a process, changes run one at a time, in the order asked (a queue). The changes
 * waiting when one batch ends run as the next batch, each alone and in order, in ONE PostgreSQL
 * transaction (their writes coalesced into a statement or two); the batch commits, then each
 * change's promise settles (a change that threw rejects and its writes are dropped; the others
 * are stored). A change's reads see its own writes and those of the changes before it in the
 * batch, then the database as the transaction sees it.
 *
 * Across processes the transactions are SERIALIZABLE: PostgreSQL lets them commit only as if
 * they ran one after another, and aborts one that could not (serialization failure, deadlock).
 * The batch is then run again from the start (its changes' reads were of a state that lost), at
 * most MAX_ATTEMPTS times (then its changes reject with StorageUnavailableError); nothing of an
 * aborted attempt is stored or reported. So a change may run more than once, but only its last
 * run counts: a change must keep what it does to the store within `tx` (the core's do). Chosen
 * over a global advisory lock (every write of the cluster in a single file, whatever it
 * touches) and SELECT … FOR UPDATE (reads of records that do not exist yet lock nothing):
 * changes that touch different records do not wait on each other.
 *
 * A change's `patch` of a record it has not read yet cannot know at once whether the record is
 * there (that takes a read): the read is made when the change reads that record or returns, and
 * a patch of a missing record then rejects the change, as it would have thrown. The store's own
 * reads (`get`, listings) see what is committed: called inside a change, not the writes of the
 * changes before it in its batch.
 *
 * Events (the outbox). A change's `emit` is written with its records, by the same statement, in
 * the batch's transaction: an event commits with its change, and a change that threw (or a batch
 * attempt that was aborted) leaves none. `seq` is the identity PostgreSQL gives at the insert,
 * in the order of the batch's changes; `txid` the transaction's id. The webhooks read events in
 * (txid, seq) order up to the oldest transaction still running (`eventsAfter`), not in seq
 * order: ids of transactions still running lie between those committed. `nextauth store copy`
 * copies records only (the embedded store's `records()`): events stay behind; a delivery's
 * cursor copied with its record is not one of these and reads from the start of the events.
 *
 * When the database cannot be reached, `transact` (and every read) rejects with
 * StorageUnavailableError (code STORAGE_UNAVAILABLE: 503, try again later). A connection lost
 * while COMMIT was on its way leaves the batch's fate unknown: its changes reject so, though they
 * may have been stored.
 */
import pg from 'pg';
import type {
  AccountRecord,
  ApiKeyRecord,
  EnrolCodeRecord,
  EventQuery,
  EventRecord,
  KeyOf,
  NewEvent,
  ListQuery,
  OidcField,
  OidcRecord,
  Page,
  RecordKind,
  SavedSession,
  Scope,
  ServerRecord,
  Store,
  StoreTx,
  TransactOptions,
  UserSummary,
  ValueOf,
  WebhookRecord,
} from '../../ports.ts';
import { tellWritten } from '../../ports.ts';
import { deepFreeze } from '../frozen.ts';
import { type ListingContext, listAccounts, listEvents, listUsers } from './listings.ts';
import { migrate } from './migrations.ts';
import {
  asFreeText,
  attributeRows,
  columnValues,
  deleteSql,
  EVENT_SELECT,
  type EventRow,
  eventOf,
  eventRow,
  insertEventsSql,
  integerBound,
  type Key,
  OIDC_COLUMNS,
  recordId,
  rowLimit,
  scopeRows,
  storable,
  TABLES,
  tableKey,
  upsertSql,
} from './rows.ts';
import { isConflict, isUnavailable, StorageUnavailableError, storageError } from './storage-errors.ts';

export { StorageUnavailableError } from './storage-errors.ts';

export interface PostgresStoreOptions {
  /** node-postgres pool settings beyond the URL (`max` connections: default 10). */
  pool?: Omit<pg.PoolConfig, 'connectionString'>;
  /** Apply the migrations the database lacks at open (default true; false: `nextauth migrate` did). */
  migrate?: boolean;
  /** At most this many changes in one transaction (default 256). */
  maxBatch?: number;
  /** Told of what goes wrong out of any call (a connection lost while idle: the pool makes another). */
  onError?: (error: Error) => void;
}

/** A server's row_counts rows of a kind are folded into one past this many. */
const FOLD_AT = 64;

/** How many times a batch runs when other processes' changes keep conflicting with it. */
const MAX_ATTEMPTS = 12;

/** A record as the store keeps it: JSON's copy (what a restart would read back), frozen. */
const stored = <V>(value: V): V => deepFreeze(JSON.parse(JSON.stringify(value)) as V);

/** The SQL reading one record by key. */
const selectOne = (kind: RecordKind): string => {
  const t = TABLES[kind];
  return `SELECT rec FROM ${t.name} WHERE ${t.keys.map((k, i) => `${k} = $${i + 1}`).join(' AND ')}`;
};

interface Pending {
  change: (tx: StoreTx) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class PostgresStore implements Store {
  private readonly queue: Pending[] = [];
  private running: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private readonly maxBatch: number;
  private readonly onError: ((error: Error) => void) | undefined;
  /** Folds of row_counts under way (`kind serverid`). */
  private readonly folding = new Map<string, Promise<void>>();
  /** Per server, the batches that made or deleted its users or accounts since it was last folded. */
  private readonly unfolded = new Map<string, number>();
  /**
   * Where `keep` cut the events in the last `pruneEvents`, when that call took a whole batch (the
   * run goes on). The cut only moves later (events come; those pruned were past it), so an older
   * one removes only events past `keep` still: the rest of the run keeps it, and the next run,
   * after a call that found less than a batch, finds it again.
   */
  private eventCut: { keep: number; time: number } | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    options: PostgresStoreOptions,
  ) {
    this.maxBatch = options.maxBatch ?? 256;
    this.onError = options.onError;
  }

  /**
   * Connects to the database at `url` (postgres://…) and brings its schema up to date (unless
   * `migrate: false`). Rejects with StorageUnavailableError when it cannot be reached.
   */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const pool = new pg.Pool({ connectionTimeoutMillis: 10_000, ...options.pool, connectionString: url });
    pool.on('error', (e) => options.onError?.(e));
    try {
      if (options.migrate !== false) {
        const client = await pool.connect();
        const onError = () => undefined; // the migration's query fails too
        client.on('error', onError);
        try {
          await migrate(client);
        } finally {
          client.removeListener('error', onError);
          client.release();
        }
      }
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw storageError(e);
    }
    return new PostgresStore(pool, options);
  }

  /** A query of the pool (outside any change), its failure as the store reports it. */
  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    if (this.closing) throw new Error('The store is closed');
    try {
      return await this.pool.query<R>(sql, params);
    } catch (e) {
      throw storageError(e);
    }
  }

  async get<K extends RecordKind>(kind: K, ...key: KeyOf<K>): Promise<ValueOf<K> | undefined> {
    const k = tableKey(kind, key);
    if (!k) return undefined;
    const { rows } = await this.query<{ rec: ValueOf<K> }>(selectOne(kind), [...k]);
    return rows.length ? deepFreeze(rows[0]!.rec) : undefined;
  }

  // ---- Changes ----------------------------------------------------------------------------------

  /** Each change commits before it resolves: `options.written` is told then. */
  transact<R>(change: (tx: StoreTx) => R | Promise<R>, options?: TransactOptions): Promise<R> {
    if (this.closing) return Promise.reject(new Error('The store is closed'));
    const committed = new Promise<R>((resolve, reject) => {
      this.queue.push({ change, resolve: resolve as (v: unknown) => void, reject });
      this.running ??= this.drain();
    });
    const written = options?.written;
    return written ? committed.then((result) => (tellWritten(written), result)) : committed;
  }

  /** Runs the queue a batch at a time until it is empty. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length) await this.runBatch(this.queue.splice(0, this.maxBatch));
    } finally {
      this.running = undefined;
    }
  }

  /** Runs a batch until it commits (again after a conflict), then settles every change of it. Never throws. */
  private async runBatch(batch: Pending[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (e) {
        for (const p of batch) p.reject(storageError(e));
        return;
      }
      // A checked-out client has no listener of its own: its connection lost between queries must not go unheard.
      let broken: Error | undefined;
      const onError = (e: Error) => (broken ??= e);
      client.on('error', onError);
      const release = (e?: Error) => {
        client.removeListener('error', onError);
        client.release(e ?? broken);
      };
      let outcomes: Outcome[];
      let counted: Set<string>;
      try {
        [outcomes, counted] = await this.attempt(client, batch);
        release();
      } catch (e) {
        const lost = isUnavailable(e) || broken !== undefined;
        if (!lost) await client.query('ROLLBACK').catch(() => undefined);
        release(lost ? (broken ?? (e as Error)) : undefined);
        if (isConflict(e) && attempt < MAX_ATTEMPTS) {
          await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
          continue;
        }
        if (!lost && !isConflict(e) && batch.length > 1) {
          // A fault of one change's statements (which is not known): each change alone, so only its own fails.
          for (const p of batch) await this.runBatch([p]);
          return;
        }
        // Out of reach, or still conflicting after every attempt: the store cannot write now (503, try again).
        const error = e instanceof StorageUnavailableError || !(lost || isConflict(e)) ? e : new StorageUnavailableError(e);
        for (const p of batch) p.reject(error);
        return;
      }
      this.written(counted);
      batch.forEach((p, i) => {
        const o = outcomes[i]!;
        if (o.ok) p.resolve(o.value);
        else p.reject(o.error);
      });
      return;
    }
  }

  /** One attempt at a batch: its changes in order, in one transaction, committed. Throws when the transaction is lost. */
  private async attempt(client: pg.PoolClient, batch: readonly Pending[]): Promise<[Outcome[], Set<string>]> {
    const b = new Batch(client);
    await b.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
    const outcomes: Outcome[] = [];
    for (const p of batch) {
      const tx = new PgTx(b);
      try {
        const value = await p.change(tx);
        await tx.settle();
        if (b.failed) throw b.failed.error;
        b.adopt(tx);
        outcomes.push({ ok: true, value });
      } catch (error) {
        // A statement of the transaction failed (the change may have caught it): the transaction is lost.
        if (b.failed) throw b.failed.error;
        outcomes.push({ ok: false, error });
      } finally {
        tx.end();
      }
    }
    const counted = await b.write();
    await b.query('COMMIT');
    return [outcomes, counted];
  }

  // ---- Listings and lookups ---------------------------------------------------------------------

  async listServers(): Promise<ServerRecord[]> {
    const { rows } = await this.query<{ rec: ServerRecord }>('SELECT rec FROM servers ORDER BY seq');
    return rows.map((r) => deepFreeze(r.rec));
  }

  async countAccounts(serverid: string): Promise<number> {
    if (!storable(serverid)) return 0;
    const { rows } = await this.query<{ n: number; rows: number }>(
      `SELECT coalesce(sum(n), 0)::float8 AS n, count(*)::float8 AS rows FROM row_counts WHERE serverid = $1 AND kind = 'accounts'`,
      [serverid],
    );
    if (rows[0]!.rows > FOLD_AT) this.fold(serverid, 'accounts');
    return rows[0]!.n;
  }

  async findAccountByPk(serverid: string, pk: string): Promise<AccountRecord | undefined> {
    if (!storable(serverid)) return undefined;
    // The column holds what text can of the key (rows.ts): the record says whether it is this one.
    const { rows } = await this.query<{ rec: AccountRecord }>('SELECT rec FROM accounts WHERE serverid = $1 AND pk = $2 ORDER BY id', [serverid, asFreeText(pk)]);
    const found = rows.find((r) => r.rec.pk === pk);
    return found ? deepFreeze(found.rec) : undefined;
  }

  async accountsOfUser(serverid: string, userid: string): Promise<AccountRecord[]> {
    if (!storable(serverid) || !storable(userid)) return [];
    const { rows } = await this.query<{ rec: AccountRecord }>('SELECT rec FROM accounts WHERE serverid = $1 AND userid = $2 ORDER BY id', [serverid, userid]);
    return rows.map((r) => deepFreeze(r.rec));
  }

  async listAccounts(serverid: string, query: ListQuery, userid?: string): Promise<Page<AccountRecord>> {
    try {
      return await listAccounts(this.listing(), serverid, query, userid);
    } catch (e) {
      throw storageError(e);
    }
  }

  async listUsers(serverid: string, query: ListQuery): Promise<Page<UserSummary>> {
    try {
      return await listUsers(this.listing(), serverid, query);
    } catch (e) {
      throw storageError(e);
    }
  }

  private listing(): ListingContext {
    if (this.closing) throw new Error('The store is closed');
    return { db: this.pool, freeze: deepFreeze, counted: (serverid, kind, rows) => (rows > FOLD_AT ? this.fold(serverid, kind) : undefined) };
  }

  // ---- Row counts -------------------------------------------------------------------------------

  /**
   * Folds a server's row_counts rows of a kind into one (each statement that makes or deletes
   * users or accounts adds one: migrations/0001-records.ts). In the background, as its own
   * statement: writers only add rows, so it waits on none of them, and readers summing see the
   * rows before or after it, the same sum.
   */
  private fold(serverid: string, kind: 'users' | 'accounts'): void {
    const id = `${kind} ${serverid}`;
    if (this.folding.has(id) || this.closing) return;
    const done = this.pool
      .query(
        `WITH d AS (DELETE FROM row_counts WHERE serverid = $1 AND kind = $2 RETURNING n)
         INSERT INTO row_counts (serverid, kind, n) SELECT $1, $2, sum(n) FROM d HAVING count(*) > 0 AND sum(n) <> 0`,
        [serverid, kind],
      )
      .then(
        () => undefined,
        (e: Error) => this.onError?.(e),
      )
      .finally(() => this.folding.delete(id));
    this.folding.set(id, done);
  }

  /** After a batch committed: the servers whose users or accounts it made or deleted, folded now and then. */
  private written(servers: Iterable<string>): void {
    for (const serverid of servers) {
      const n = (this.unfolded.get(serverid) ?? 0) + 1;
      if (n < FOLD_AT) {
        this.unfolded.set(serverid, n);
        continue;
      }
      this.unfolded.delete(serverid);
      this.fold(serverid, 'users');
      this.fold(serverid, 'accounts');
    }
  }

  async apiKeysOf(role: string): Promise<Array<{ hash: string; key: ApiKeyRecord }>> {
    if (!storable(role)) return [];
    const { rows } = await this.query<{ hash: string; rec: ApiKeyRecord }>('SELECT hash, rec FROM api_keys WHERE role = $1 OR created_by = $1 ORDER BY seq', [role]);
    return rows.map((r) => ({ hash: r.hash, key: deepFreeze(r.rec) }));
  }

  async hasRootKey(): Promise<boolean> {
    const { rows } = await this.query<{ root: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM permissions p WHERE p.global_root AND EXISTS (SELECT 1 FROM api_keys k WHERE k.role = p.role)) AS root',
    );
    return rows[0]!.root;
  }

  async permissionsOn(scope: Scope): Promise<Array<{ role: string; acl: string[] }>> {
    if (!storable(scope)) return [];
    const { rows } = await this.query<{ role: string; acl: string[] }>(
      'SELECT s.role, s.acl FROM permission_scopes s JOIN permissions p ON p.role = s.role WHERE s.scope = $1 ORDER BY p.seq',
      [scope],
    );
    return rows.map((r) => ({ role: r.role, acl: deepFreeze(r.acl) }));
  }

  async staleEnrolCodes(before: number, limit: number): Promise<EnrolCodeRecord[]> {
    if (!(limit > 0)) return [];
    const { rows } = await this.query<{ rec: EnrolCodeRecord }>(`SELECT rec FROM enrol_codes WHERE created < $1 ORDER BY created, (serverid || ':' || hsid) LIMIT $2`, [
      before,
      Number.isFinite(limit) ? Math.ceil(limit) : null,
    ]);
    return rows.map((r) => deepFreeze(r.rec));
  }

  async savedSessions(): Promise<Array<[string, SavedSession]>> {
    const { rows } = await this.query<{ key: string; rec: SavedSession }>('SELECT key, rec FROM sessions ORDER BY seq');
    return rows.map((r) => [r.key, deepFreeze(r.rec)]);
  }

  // ---- Webhooks and events ----------------------------------------------------------------------

  async webhooksOf(serverid?: string): Promise<WebhookRecord[]> {
    if (serverid !== undefined && !storable(serverid)) return [];
    const { rows } =
      serverid === undefined
        ? await this.query<{ rec: WebhookRecord }>('SELECT rec FROM webhooks ORDER BY serverid, id')
        : await this.query<{ rec: WebhookRecord }>('SELECT rec FROM webhooks WHERE serverid = $1 ORDER BY id', [serverid]);
    return rows.map((r) => deepFreeze(r.rec));
  }

  async listEvents(serverid: string, query: EventQuery): Promise<EventRecord[]> {
    try {
      return await listEvents(this.listing(), serverid, query);
    } catch (e) {
      throw storageError(e);
    }
  }

  /**
   * Events of transactions that had ended when the query's snapshot was taken (their txid below
   * its xmin: every transaction still running, or starting later, has one at or above it), after
   * the cursor in (txid, seq) order: a transaction's events together, in seq order. A
   * transaction still running may have a txid below one that committed; its events must be
   * waited for, not passed: nothing at or above the xmin is given, and the cursor stays below
   * it. Reads run outside any change (a connection of the pool's own): the store's batches they
   * follow have committed.
   */
  async eventsAfter(serverid: string, cursor: string, limit: number): Promise<{ events: EventRecord[]; cursor: string }> {
    const [txid, seq] = parseCursor(cursor);
    if (!storable(serverid) || !(limit > 0)) return { events: [], cursor };
    const { rows } = await this.query<EventRow & { txid: string }>(
      `SELECT ${EVENT_SELECT}, txid::text AS txid FROM events
       WHERE serverid = $1 AND (txid, seq) > ($2::xid8, $3::bigint) AND txid < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY txid, seq LIMIT $4`,
      [serverid, txid, seq, rowLimit(limit)],
    );
    const last = rows.at(-1);
    return { events: rows.map((r) => deepFreeze(eventOf(r))), cursor: last ? `${last.txid}:${last.seq}` : cursor };
  }

  /**
   * The xmin of a snapshot taken now, as a cursor: after every event of a transaction that had
   * ended (below the xmin), before every event of one still running or to come (at or above it).
   * Not the greatest (txid, seq) there is: an event of a transaction still running may have a
   * smaller txid than one committed, and would be passed for good. So the events of the few
   * transactions that committed while an older one was still running come after this end too
   * (a new webhook may be sent a change made just before it): they cannot be told from those of
   * the transactions still running by one (txid, seq).
   */
  async eventsEnd(serverid: string): Promise<string> {
    void serverid; // one end for every server: txids are the database's
    const { rows } = await this.query<{ xmin: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin');
    return `${rows[0]!.xmin}:0`;
  }

  async pruneEvents(before: number, limit: number, keep?: number): Promise<number> {
    const keeping = keep !== undefined && Number.isSafeInteger(keep) && keep >= 0;
    // Past `keep`: the time of the (keep + 1)-th newest, from events_time's end; the events before
    // it and at it go. Finding it walks `keep` index entries, so it is found once per run of calls
    // (each after a whole batch went, as a pruner calls), not per batch: see `eventCut`.
    let cut = keeping && this.eventCut?.keep === keep ? this.eventCut.time : undefined;
    this.eventCut = undefined;
    if (keeping && cut === undefined) {
      const { rows } = await this.query<{ time: string }>('SELECT time::text FROM events ORDER BY time DESC OFFSET $1 LIMIT 1', [keep]);
      cut = rows[0] ? Number(rows[0].time) + 1 : Number.NEGATIVE_INFINITY;
    }
    // Events are never updated: a row's place stays its own. From events_time's start.
    const gone = await this.pruneBefore('events', 'time', cut === undefined ? before : Math.max(before, cut), limit);
    if (keeping && limit > 0 && gone === limit) this.eventCut = { keep, time: cut! };
    return gone;
  }

  /**
   * Deletes a table's rows whose bigint `column` (null: never) is below `before`, the least
   * first, at most `limit`; resolves how many went. The rows are chosen by their place (ctid)
   * from the column's index, then deleted by a TID scan: a row updated meanwhile has another
   * place, is not the one chosen and stays.
   */
  private async pruneBefore(table: string, column: string, before: number, limit: number): Promise<number> {
    const bound = integerBound(before);
    if (!(limit > 0) || Number.isNaN(before) || (bound === undefined && before < 0)) return 0;
    const { rowCount } = await this.query(
      `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ${bound === undefined ? `${column} IS NOT NULL` : `${column} < $2::bigint`} ORDER BY ${column} LIMIT $1))`,
      bound === undefined ? [rowLimit(limit)] : [rowLimit(limit), bound],
    );
    return rowCount ?? 0;
  }

  // ---- The OpenID Providers' records ------------------------------------------------------------

  async oidcBy(serverid: string, field: OidcField, value: string): Promise<Array<{ model: string; id: string; record: OidcRecord }>> {
    const column = Object.hasOwn(OIDC_COLUMNS, field) ? OIDC_COLUMNS[field] : undefined;
    if (column === undefined || !storable(serverid) || !storable(value)) return [];
    // oidc_<column> (serverid, column), over the rows that have the field.
    const { rows } = await this.query<{ model: string; id: string; rec: OidcRecord }>(`SELECT model, id, rec FROM oidc WHERE serverid = $1 AND ${column} = $2 ORDER BY model, id`, [
      serverid,
      value,
    ]);
    return rows.map((r) => ({ model: r.model, id: r.id, record: deepFreeze(r.rec) }));
  }

  async pruneOidc(before: number, limit: number): Promise<number> {
    // From oidc_expires_at's start: records that do not expire are not in it. Expiries are rounded up: none goes early.
    return this.pruneBefore('oidc', 'expires_at', before, limit);
  }

  /** Resolves when every change asked for so far has settled (each stored, or rejected). */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * Resolves when the database answers a query within `ms` (readiness: GET /readyz); rejects
   * with StorageUnavailableError when it cannot be reached or is late.
   */
  async ping(ms = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StorageUnavailableError(new Error(`PostgreSQL did not answer within ${ms} ms`))), ms);
    });
    try {
      await Promise.race([this.query('SELECT 1'), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      await this.flush();
      await Promise.all(this.folding.values());
      await this.pool.end();
    })();
    await this.closing;
  }
}

// ---- A batch: one transaction ---------------------------------------------------------------------

/** What a batch knows of a record: its value (undefined: there is none). */
type Known = { value: unknown };

/** A record written by a batch: its value at the end (undefined: deleted), whether a delete came before it. */
interface Written {
  kind: RecordKind;
  key: Key;
  value: unknown;
  /** Deleted in the batch (made again after, it comes last in its kind's `seq` order, as a new record). */
  deleted: boolean;
}

class Batch {
  /** Records read from the database or written by the batch's changes, by record id. */
  private readonly known = new Map<string, Known>();
  private readonly written = new Map<string, Written>();
  /** Records the batch read as not there before it wrote them: nothing of theirs to delete. */
  private readonly absent = new Set<string>();
  /** The events its changes emitted, in order (rows of `eventRow`). */
  private readonly events: unknown[][] = [];
  /** The first statement that failed: the transaction is lost. */
  failed: { error: unknown } | undefined;

  constructor(private readonly client: pg.PoolClient) {}

  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    if (this.failed) throw this.failed.error;
    try {
      return await this.client.query<R>(sql, params);
    } catch (e) {
      this.failed = { error: e };
      throw storageError(e);
    }
  }

  /** What the batch knows of the record, without reading. */
  peek(id: string): Known | undefined {
    return this.known.get(id);
  }

  /** The record as the batch sees it (read from the database the first time). */
  async read(kind: RecordKind, key: Key): Promise<unknown> {
    const id = recordId(kind, key);
    const known = this.known.get(id);
    if (known) return known.value;
    const { rows } = await this.query<{ rec: unknown }>(selectOne(kind), [...key]);
    const value = rows.length ? deepFreeze(rows[0]!.rec) : undefined;
    // A change earlier in the batch may have written it meanwhile (reads and writes do not interleave, but be sure).
    if (!this.known.has(id)) {
      this.known.set(id, { value });
      if (value === undefined) this.absent.add(id);
    }
    return this.known.get(id)!.value;
  }

  /** Takes in the writes of a change that returned. */
  adopt(tx: PgTx): void {
    for (const [id, w] of tx.writes()) {
      this.known.set(id, { value: w.value });
      const before = this.written.get(id);
      // Deleted (and maybe made again) by this change: after what the changes before it made.
      if (w.deleted) this.written.delete(id);
      this.written.set(id, { ...w, deleted: w.deleted || (before?.deleted ?? false) });
    }
    this.events.push(...tx.emitted());
  }

  /**
   * Writes what the batch's changes wrote: first one statement deleting (records deleted, and
   * the rows kept beside users and permissions), then one putting every record (and those rows)
   * and the events emitted.
   */
  async write(): Promise<Set<string>> {
    /** The servers whose users or accounts it may make or delete (row_counts). */
    const counted = new Set<string>();
    if (this.written.size === 0 && this.events.length === 0) return counted;
    const deletes = new Map<RecordKind, Key[]>();
    const puts = new Map<RecordKind, Array<[Key, unknown]>>();
    for (const [id, w] of this.written) {
      if ((w.deleted || w.value === undefined) && !this.absent.has(id)) push(deletes, w.kind, w.key);
      if (w.value !== undefined) push(puts, w.kind, [w.key, w.value]);
      if (w.kind === 'user' || w.kind === 'account') counted.add(String(w.key[0]));
    }
    // The rows beside users and permissions: of those that were there, replaced.
    const beside = (kind: RecordKind) => [...this.written.values()].filter((w) => w.kind === kind);
    const users = beside('user');
    const permissions = beside('permissions');
    const replaced = (list: Written[]) => list.filter((w) => !this.absent.has(recordId(w.kind, w.key)));

    const del = new Statement();
    for (const [kind, keys] of deletes) {
      const t = TABLES[kind];
      del.add(
        deleteSql(t),
        t.keys.map((_, i) => keys.map((k) => k[i])),
      );
    }
    const oldUsers = replaced(users);
    if (oldUsers.length)
      del.add(
        'DELETE FROM user_attrs a USING unnest($1::text[], $2::text[]) AS d(serverid, userid) WHERE a.serverid = d.serverid AND a.userid = d.userid',
        columnsOf(oldUsers.map((w) => w.key)),
      );
    const oldPermissions = replaced(permissions);
    if (oldPermissions.length) del.add('DELETE FROM permission_scopes WHERE role = ANY($1::text[])', [oldPermissions.map((w) => w.key[0])]);
    if (del.parts.length) await this.query(...del.sql());

    const put = new Statement();
    for (const kind of ORDER) {
      const rows = puts.get(kind);
      if (!rows) continue;
      const t = TABLES[kind];
      const columns = rows.map(([key, value]) => [...key, ...columnValues(kind, key, value as ValueOf<typeof kind>), JSON.stringify(value)]);
      put.add(upsertSql(t), columnsOf(columns));
    }
    const attrs = users.flatMap((w) => (w.value === undefined ? [] : attributeRows((w.value as { attributes?: unknown }).attributes).map((h) => [w.key[0], w.key[1], h])));
    if (attrs.length) put.add('INSERT INTO user_attrs (serverid, userid, h) SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[])', columnsOf(attrs));
    const scopes = permissions.flatMap((w) => (w.value === undefined ? [] : scopeRows(w.value as Record<string, unknown>).map(([scope, acl]) => [scope, w.key[0], acl])));
    if (scopes.length) put.add('INSERT INTO permission_scopes (scope, role, acl) SELECT * FROM unnest($1::text[], $2::text[], $3::json[])', columnsOf(scopes));
    if (this.events.length) put.add(insertEventsSql, columnsOf(this.events));
    if (put.parts.length) await this.query(...put.sql());
    return counted;
  }
}

/** The order kinds are put in: users before accounts (whose triggers count them for their users). */
const ORDER: readonly RecordKind[] = [
  'server',
  'user',
  'account',
  'role',
  'apiKey',
  'permissions',
  'enrolCode',
  'globalAttributes',
  'session',
  'transaction',
  'webhook',
  'delivery',
  'oidc',
];

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Rows as columns (one array per column). */
function columnsOf(rows: readonly (readonly unknown[])[]): unknown[][] {
  const n = rows[0]?.length ?? 0;
  return Array.from({ length: n }, (_, i) => rows.map((r) => r[i]));
}

/**
 * Several data-changing statements as one (each a CTE), so that a batch's writes cost one round
 * trip; every part sees the database as it was before the statement, and the triggers on
 * accounts run once all parts are done.
 */
class Statement {
  readonly parts: string[] = [];
  private readonly params: unknown[] = [];

  /** A statement numbering its parameters from $1, with them. */
  add(sql: string, params: unknown[]): void {
    const from = this.params.length;
    this.parts.push(sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + from}`));
    this.params.push(...params);
  }

  sql(): [string, unknown[]] {
    if (this.parts.length === 1) return [this.parts[0]!, this.params];
    return [`WITH ${this.parts.map((p, i) => `w${i} AS (${p})`).join(', ')} SELECT 1`, this.params];
  }
}

// ---- A change -------------------------------------------------------------------------------------

/** A record a change wrote: its value once known (patches of a record it has not read wait in `patches`). */
interface Local {
  kind: RecordKind;
  key: Key;
  known: boolean;
  value: unknown;
  patches: Array<Record<string, unknown>>;
  deleted: boolean;
}

class PgTx implements StoreTx {
  private readonly local = new Map<string, Local>();
  /** The events it emitted (rows of `eventRow`), in order. */
  private readonly events: unknown[][] = [];
  private ended = false;

  constructor(private readonly batch: Batch) {}

  /** The change returned or threw: the tx takes no more calls (a stray write would be lost). */
  end(): void {
    this.ended = true;
  }

  private live(): void {
    if (this.ended) throw new Error('This change has ended: its tx takes no more writes');
  }

  private entry(kind: RecordKind, key: Key): Local {
    const id = recordId(kind, key);
    let l = this.local.get(id);
    if (!l) {
      const known = this.batch.peek(id);
      l = { kind, key, known: known !== undefined, value: known?.value, patches: [], deleted: false };
      this.local.set(id, l);
    }
    return l;
  }

  async get<K extends RecordKind>(kind: K, ...key: KeyOf<K>): Promise<ValueOf<K> | undefined> {
    const k = tableKey(kind, key);
    if (!k) return undefined;
    const l = this.local.get(recordId(kind, k));
    if (!l) return (await this.batch.read(kind, k)) as ValueOf<K> | undefined;
    if (!l.known) this.resolve(l, await this.batch.read(kind, k));
    return l.value as ValueOf<K> | undefined;
  }

  put<K extends RecordKind>(kind: K, key: KeyOf<K>, value: ValueOf<K>): void {
    this.live();
    const k = tableKey(kind, key, true)!;
    const v = stored(value);
    columnValues(kind, k, v);
    const l = this.entry(kind, k);
    if (l.deleted && l.known && l.value === undefined) {
      // Made again after a delete: it comes after what was made before (the order records came in).
      const id = recordId(kind, k);
      this.local.delete(id);
      this.local.set(id, l);
    }
    Object.assign(l, { known: true, value: v, patches: [] });
  }

  patch<K extends RecordKind>(kind: K, key: KeyOf<K>, fields: Partial<ValueOf<K>>): void {
    this.live();
    const k = tableKey(kind, key);
    if (!k) throw missing(kind, key);
    const l = this.entry(kind, k);
    // JSON's copy of the fields, but a field given as undefined (which JSON drops) is kept: it removes the field.
    const f = JSON.parse(JSON.stringify(fields)) as Record<string, unknown>;
    for (const [name, v] of Object.entries(fields)) if (v === undefined) f[name] = undefined;
    deepFreeze(f);
    if (l.known) this.apply(l, f);
    else l.patches.push(f);
  }

  delete<K extends RecordKind>(kind: K, key: KeyOf<K>): void {
    this.live();
    const k = tableKey(kind, key);
    if (!k) return;
    Object.assign(this.entry(kind, k), { known: true, value: undefined, patches: [], deleted: true });
  }

  emit(event: NewEvent): void {
    this.live();
    this.events.push(eventRow(event));
  }

  /** Reads what the change patched without reading, and applies the patches (throws for a record that is not there). */
  async settle(): Promise<void> {
    for (const l of this.local.values()) if (!l.known) this.resolve(l, await this.batch.read(l.kind, l.key));
  }

  /** The events it emitted. */
  emitted(): readonly unknown[][] {
    return this.events;
  }

  /** The change's writes, once settled. */
  *writes(): Iterable<[string, Written]> {
    for (const [id, l] of this.local) yield [id, { kind: l.kind, key: l.key, value: l.value, deleted: l.deleted }];
  }

  private resolve(l: Local, base: unknown): void {
    if (l.known) return;
    Object.assign(l, { known: true, value: base });
    const patches = l.patches.splice(0);
    for (const f of patches) this.apply(l, f);
  }

  private apply(l: Local, fields: Record<string, unknown>): void {
    if (l.value === undefined) throw missing(l.kind, l.key);
    const next: Record<string, unknown> = { ...(l.value as Record<string, unknown>) };
    for (const [name, v] of Object.entries(fields)) {
      if (v === undefined) delete next[name];
      else next[name] = v;
    }
    columnValues(l.kind, l.key, next as ValueOf<RecordKind>);
    l.value = deepFreeze(next);
  }
}

/** A cursor of eventsAfter: [txid, seq]; one that is not ours (a copied delivery's) is the start. */
function parseCursor(cursor: string): [txid: string, seq: string] {
  const m = /^(\d{1,20}):(\d{1,18})$/.exec(cursor);
  return m && BigInt(m[1]!) < 2n ** 64n ? [m[1]!, m[2]!] : ['0', '0'];
}

const missing = (kind: RecordKind, key: readonly unknown[]): Error => new Error(`No ${kind} ${JSON.stringify(key)} to change`);
