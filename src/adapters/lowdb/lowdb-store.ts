/**
 * The embedded Store (the default, one process): every record in memory, durable in two JSON
 * documents of the data folder, `nextauth.json` and `sessions.json` (saved sessions, written on
 * every login, kept apart), each with its journal (journal-file.ts). A change is one journal
 * line; the snapshot files are folded from the journals at start, at close and, as they grow,
 * beside the writes (a file written a slice at a time, the event loop free between slices).
 * Listings and lookups answer from indexes (indexes.ts) built at open and kept by every change.
 */
import type {
  AccountRecord,
  ApiKeyRecord,
  EnrolCodeRecord,
  EventQuery,
  EventRecord,
  KeyOf,
  ListQuery,
  NewEvent,
  OidcField,
  OidcRecord,
  Page,
  RecordKind,
  SavedSession,
  Scope,
  ServerRecord,
  Store,
  StoreTx,
  StoredRecord,
  TransactOptions,
  UserSummary,
  ValueOf,
  WebhookRecord,
} from '../../ports.ts';
import { tellWritten } from '../../ports.ts';
import { EventLog } from './event-log.ts';
import { type Data, emptyData, emptySessions, type SessionsData } from './data.ts';
import { Indexes, type RecordChange } from './indexes.ts';
import { deepFreeze, frozenCopy } from '../frozen.ts';
import { JournalFile, keyed, type JournalOptions, type Op } from './journal-file.ts';
import { ownValue } from './query.ts';

export { StoreDamagedError } from './journal-file.ts';

type Doc = 'main' | 'sessions';

/** Where a record lives: which document, the path of its container, its key in it. */
function placeOf<K extends RecordKind>(kind: K, key: KeyOf<K>): { doc: Doc; parent: string[]; leaf: string } {
  const k = key as readonly (string | number)[];
  switch (kind) {
    case 'server':
      return { doc: 'main', parent: ['servers'], leaf: String(k[0]) };
    case 'account':
      return { doc: 'main', parent: ['accounts', String(k[0])], leaf: String(k[1]) };
    case 'user':
      return { doc: 'main', parent: ['users', String(k[0])], leaf: String(k[1]) };
    case 'role':
      return { doc: 'main', parent: ['roles'], leaf: String(k[0]) };
    case 'apiKey':
      return { doc: 'main', parent: ['apiKeys'], leaf: String(k[0]) };
    case 'permissions':
      return { doc: 'main', parent: ['permissions'], leaf: String(k[0]) };
    case 'enrolCode':
      return { doc: 'main', parent: ['enrolCodes'], leaf: `${k[0]}:${k[1]}` };
    case 'globalAttributes':
      return { doc: 'main', parent: [], leaf: 'globalAttributes' };
    case 'session':
      return { doc: 'sessions', parent: ['sessions'], leaf: String(k[0]) };
    case 'transaction':
      return { doc: 'main', parent: ['transactions'], leaf: String(k[0]) };
    case 'webhook':
      return { doc: 'main', parent: ['webhooks', String(k[0])], leaf: String(k[1]) };
    case 'delivery':
      return { doc: 'main', parent: ['deliveries', String(k[0])], leaf: String(k[1]) };
    case 'oidc':
      return { doc: 'main', parent: ['oidc', String(k[0])], leaf: `${k[1]}/${k[2]}` };
    default:
      throw new Error(`Unknown record kind ${String(kind)}`);
  }
}

/** The own property `key` of the object at `path`, if there is one. */
function lookup(root: object, path: readonly string[], key: string): unknown {
  let node: unknown = root;
  for (const p of [...path, key]) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, p)) return undefined;
    node = (node as Record<string, unknown>)[p];
  }
  return node;
}

/** A cursor of eventsAfter (a `seq`; anything else: the start). */
const seqOf = (cursor: string): number => (/^\d+$/.test(cursor) ? Number(cursor) : 0);

const values = <V>(container: Record<string, V> | undefined): V[] => (container ? Object.values(container) : []);

/** The kinds of record the indexes follow. */
const INDEXED: ReadonlySet<RecordKind> = new Set<RecordKind>(['user', 'account', 'apiKey', 'permissions', 'enrolCode', 'oidc']);

export class LowdbStore implements Store {
  /** Changes run one at a time (a change may read, then write what it read). */
  private turn: Promise<unknown> = Promise.resolve();
  private readonly indexes: Indexes;
  /**
   * The registry's record changes applied in memory whose write is not on disk yet, oldest first
   * (a write that fails takes them back). Only the registry document is indexed; a change writes
   * one document (the registry, or the saved sessions).
   */
  private unwritten: RecordChange[][] = [];

  /** The events both documents hold, indexed (an event is here once its change is on disk). */
  private readonly events: EventLog;
  /** The `seq` of events whose lines are being written (the two documents' writes may end out of order). */
  private readonly writing = new Set<number>();

  private constructor(
    private readonly main: JournalFile<Data>,
    private readonly sessions: JournalFile<SessionsData>,
  ) {
    this.indexes = Indexes.build(() => this.main.data);
    this.events = EventLog.of([...Object.values(main.data.events), ...Object.values(sessions.data.events)]);
  }

  /** Opens (or creates) the store of a data folder (made 0700). `options`: when to fold each journal, and who is told (tests). */
  static async open(dir: string, options: JournalOptions = {}): Promise<LowdbStore> {
    const main = await JournalFile.open(dir, 'nextauth.json', emptyData, freezeRecords, options);
    try {
      const sessions = await JournalFile.open(dir, 'sessions.json', emptySessions, (d) => [...values(d.sessions), ...values(d.events)].forEach(deepFreeze), options);
      return new LowdbStore(main, sessions);
    } catch (e) {
      await main.close();
      throw e;
    }
  }

  /** Folds both journals into their files now (beside the writes, as when a journal outgrows its file). */
  async fold(): Promise<void> {
    await Promise.all([this.main.fold(), this.sessions.fold()]);
  }

  /** Changes asked for, file writes that carried them, files written whole (whole writes and folds), folds (per document, for metrics). */
  get stats(): { registry: JournalFile<Data>['stats']; sessions: JournalFile<SessionsData>['stats'] } {
    return { registry: this.main.stats, sessions: this.sessions.stats };
  }

  /** Every record, kind by kind (`nextauth store copy` moves them to another store). */
  *records(): Generator<StoredRecord> {
    const d = this.main.data;
    if (Object.keys(d.globalAttributes).length > 0) yield { kind: 'globalAttributes', key: [], value: d.globalAttributes };
    for (const [serverid, value] of Object.entries(d.servers)) yield { kind: 'server', key: [serverid], value };
    for (const [role, value] of Object.entries(d.roles)) yield { kind: 'role', key: [role], value };
    for (const [hash, value] of Object.entries(d.apiKeys)) yield { kind: 'apiKey', key: [hash], value };
    for (const [role, value] of Object.entries(d.permissions)) yield { kind: 'permissions', key: [role], value };
    for (const [serverid, users] of Object.entries(d.users)) for (const [userid, value] of Object.entries(users)) yield { kind: 'user', key: [serverid, userid], value };
    for (const [serverid, accounts] of Object.entries(d.accounts))
      for (const [id, value] of Object.entries(accounts)) yield { kind: 'account', key: [serverid, Number(id)], value };
    for (const value of Object.values(d.enrolCodes)) yield { kind: 'enrolCode', key: [value.serverid, value.hsid], value };
    for (const [tid, value] of Object.entries(d.transactions)) yield { kind: 'transaction', key: [tid], value };
    for (const [serverid, hooks] of Object.entries(d.webhooks)) for (const [id, value] of Object.entries(hooks)) yield { kind: 'webhook', key: [serverid, id], value };
    for (const [serverid, hooks] of Object.entries(d.deliveries)) for (const [id, value] of Object.entries(hooks)) yield { kind: 'delivery', key: [serverid, id], value };
    for (const [serverid, records] of Object.entries(d.oidc)) {
      for (const [leaf, value] of Object.entries(records)) {
        const cut = leaf.indexOf('/');
        yield { kind: 'oidc', key: [serverid, leaf.slice(0, cut), leaf.slice(cut + 1)], value };
      }
    }
    // (events are not records: a copy starts its own outbox)
    for (const [key, value] of Object.entries(this.sessions.data.sessions)) yield { kind: 'session', key: [key], value };
  }

  /** The whole registry document as JSON (tests compare it before and after a refusal). */
  dump(): string {
    return JSON.stringify(this.main.data);
  }

  private root(doc: Doc): object {
    return doc === 'main' ? this.main.data : this.sessions.data;
  }

  async get<K extends RecordKind>(kind: K, ...key: KeyOf<K>): Promise<ValueOf<K> | undefined> {
    return this.read(kind, key);
  }

  /** The committed record (frozen). */
  read<K extends RecordKind>(kind: K, key: KeyOf<K>): ValueOf<K> | undefined {
    const { doc, parent, leaf } = placeOf(kind, key);
    return lookup(this.root(doc), parent, leaf) as ValueOf<K> | undefined;
  }

  transact<R>(change: (tx: StoreTx) => R | Promise<R>, options?: TransactOptions): Promise<R> {
    const written = options?.written;
    const run = this.turn.then(async () => {
      const tx = new LowdbTx(this);
      const result = await change(tx);
      return { result, durable: this.commit(tx, written !== undefined) };
    });
    this.turn = run.catch(() => undefined);
    return run.then(({ result, durable }) => {
      if (!written) return durable.then(() => result);
      durable.then(
        () => tellWritten(written),
        (e: unknown) => tellWritten(written, e),
      );
      return result;
    });
  }

  /**
   * Applies the change's operations to the documents (at once; durable when the promise
   * resolves, which a `lazy` change does not hurry), then brings the indexes to what the document
   * now holds: each indexed record the change touched, as it was and as it is (whatever was
   * applied, when applying throws).
   */
  private commit(tx: LowdbTx, lazy: boolean): Promise<unknown> {
    // Its events go in the line of the document it writes (the registry's, when it writes both);
    // events alone (a scan, a refusal: no record changed) in the sessions document's, so the
    // registry's changes only with its records.
    const events: EventRecord[] = tx.events.map((e) => {
      // (Not `{ ...e, seq }`: on node 20 an object that starts with a spread and adds a key gets a hidden class of its own.)
      const record: EventRecord = { seq: 0, ...e };
      record.seq = ++this.events.lastSeq;
      return Object.freeze(record);
    });
    if (events.length > 0) {
      const doc: Doc = tx.ops.some((o) => o.doc === 'main') ? 'main' : 'sessions';
      tx.ops.push({ doc, op: { p: ['events'], s: Object.fromEntries(events.map((e) => [String(e.seq), e])) } });
    }
    const main = tx.ops.filter((o) => o.doc === 'main').map((o) => o.op);
    const sessions = tx.ops.filter((o) => o.doc === 'sessions').map((o) => o.op);
    const changes: RecordChange[] = [...tx.touched.values()].map(({ kind, key }) => ({ kind, key, before: this.read(kind, key as KeyOf<RecordKind>), after: undefined }));
    let written: Promise<unknown>;
    try {
      written = Promise.all([main.length ? this.main.apply(main, lazy) : undefined, sessions.length ? this.sessions.apply(sessions, lazy) : undefined]);
    } finally {
      for (const c of changes) c.after = this.read(c.kind, c.key as KeyOf<RecordKind>);
      this.indexes.update(changes);
    }
    // Events are read (audit, deliveries) once their line is on disk: never one of a change that failed.
    if (events.length > 0) {
      for (const e of events) this.writing.add(e.seq);
      const done = () => {
        for (const e of events) this.writing.delete(e.seq);
      };
      written = written.then(
        (v) => {
          done();
          for (const e of events) this.events.add(e);
          return v;
        },
        (e: unknown) => {
          done();
          throw e;
        },
      );
    }
    if (main.length === 0) return written;
    this.unwritten.push(changes);
    return written.then(
      () => {
        const i = this.unwritten.indexOf(changes);
        if (i >= 0) this.unwritten.splice(i, 1);
      },
      (e: unknown) => {
        this.unindex(changes);
        throw e;
      },
    );
  }

  /**
   * A write failed: the journal took its change, and every change made after it, back out of the
   * document (journal-file.ts); the indexes follow, the last change first.
   */
  private unindex(failed: RecordChange[]): void {
    const i = this.unwritten.indexOf(failed);
    if (i < 0) return; // (taken back with an earlier one)
    const undone = this.unwritten.splice(i);
    for (let k = undone.length - 1; k >= 0; k--) this.indexes.update(undone[k]!.map((c) => ({ ...c, before: c.after, after: c.before })));
  }

  async listServers(): Promise<ServerRecord[]> {
    return values(this.main.data.servers);
  }

  async countAccounts(serverid: string): Promise<number> {
    return this.indexes.countAccounts(serverid);
  }

  async findAccountByPk(serverid: string, pk: string): Promise<AccountRecord | undefined> {
    return this.indexes.findAccountByPk(serverid, pk);
  }

  async accountsOfUser(serverid: string, userid: string): Promise<AccountRecord[]> {
    return this.indexes.accountsOfUser(serverid, userid);
  }

  async listAccounts(serverid: string, query: ListQuery, userid?: string): Promise<Page<AccountRecord>> {
    return this.indexes.listAccounts(serverid, query, userid);
  }

  async listUsers(serverid: string, query: ListQuery): Promise<Page<UserSummary>> {
    return this.indexes.listUsers(serverid, query);
  }

  async apiKeysOf(role: string): Promise<Array<{ hash: string; key: ApiKeyRecord }>> {
    return this.indexes.apiKeysOf(role);
  }

  async hasRootKey(): Promise<boolean> {
    return this.indexes.hasRootKey();
  }

  async permissionsOn(scope: Scope): Promise<Array<{ role: string; acl: string[] }>> {
    const out: Array<{ role: string; acl: string[] }> = [];
    for (const [role, scopes] of Object.entries(this.main.data.permissions)) {
      const acl = ownValue(scopes, scope);
      if (acl?.length) out.push({ role, acl });
    }
    return out;
  }

  /** The oldest first. */
  async staleEnrolCodes(before: number, limit: number): Promise<EnrolCodeRecord[]> {
    return this.indexes.staleEnrolCodes(before, limit);
  }

  async savedSessions(): Promise<Array<[string, SavedSession]>> {
    return Object.entries(this.sessions.data.sessions);
  }

  async webhooksOf(serverid?: string): Promise<WebhookRecord[]> {
    const d = this.main.data.webhooks;
    return serverid === undefined ? Object.values(d).flatMap(values) : values(ownValue(d, serverid));
  }

  async oidcBy(serverid: string, field: OidcField, value: string): Promise<Array<{ model: string; id: string; record: OidcRecord }>> {
    return this.indexes.oidcBy(serverid, field, value);
  }

  /** One change: the expired records, the first to expire first. */
  pruneOidc(before: number, limit: number): Promise<number> {
    return this.transact((tx) => {
      const gone = this.indexes.expiredOidc(before, limit);
      for (const [serverid, model, id] of gone) tx.delete('oidc', [serverid, model, id]);
      return gone.length;
    });
  }

  async listEvents(serverid: string, query: EventQuery): Promise<EventRecord[]> {
    return this.events.list(serverid, query);
  }

  /** Cursors are the last `seq` seen. */
  async eventsAfter(serverid: string, cursor: string, limit: number): Promise<{ events: EventRecord[]; cursor: string }> {
    // Not past an event still being written: one of a lower seq could come in after it.
    let upTo = Number.POSITIVE_INFINITY;
    for (const seq of this.writing) upTo = Math.min(upTo, seq - 1);
    const events = this.events.after(serverid, seqOf(cursor), limit).filter((e) => e.seq <= upTo);
    return { events, cursor: events.length ? String(events.at(-1)!.seq) : cursor };
  }

  async eventsEnd(): Promise<string> {
    return String(this.events.lastSeq);
  }

  /** Each document loses its own in one line (a change of their own, beside the others). */
  pruneEvents(before: number, limit: number, keep = Number.POSITIVE_INFINITY): Promise<number> {
    const run = this.turn.then(async () => {
      const gone = this.events.takeOldest(before, limit, keep);
      const of = (doc: JournalFile<Data> | JournalFile<SessionsData>) => gone.filter((e) => Object.hasOwn(doc.data.events, e.seq)).map((e) => String(e.seq));
      const [inMain, inSessions] = [of(this.main), of(this.sessions)];
      await Promise.all([
        inMain.length ? this.main.apply([{ p: ['events'], d: inMain }]) : undefined,
        inSessions.length ? this.sessions.apply([{ p: ['events'], d: inSessions }]) : undefined,
      ]);
      return gone.length;
    });
    this.turn = run.catch(() => undefined);
    return run;
  }

  async flush(): Promise<void> {
    await this.turn;
    await Promise.all([this.main.flush(), this.sessions.flush()]);
  }

  async close(): Promise<void> {
    await this.turn;
    await Promise.all([this.main.close(), this.sessions.close()]);
  }
}

/** A change in the making: its writes, staged, and read back by its own reads. */
class LowdbTx implements StoreTx {
  readonly ops: Array<{ doc: Doc; op: Op }> = [];
  readonly events: NewEvent[] = [];
  /** The indexed records it writes (place in the document → kind and key). */
  readonly touched = new Map<string, { kind: RecordKind; key: readonly (string | number)[] }>();
  /** record place → its staged value (undefined: deleted) */
  private readonly staged = new Map<string, unknown>();

  constructor(private readonly store: LowdbStore) {}

  private touch(kind: RecordKind, key: readonly (string | number)[], place: { doc: Doc; parent: string[]; leaf: string }): void {
    if (!INDEXED.has(kind)) return;
    const at = JSON.stringify([place.doc, ...place.parent, place.leaf]);
    if (!this.touched.has(at)) this.touched.set(at, { kind, key: [...key] });
  }

  private current<K extends RecordKind>(kind: K, key: KeyOf<K>): ValueOf<K> | undefined {
    const id = JSON.stringify([kind, key]);
    return (this.staged.has(id) ? this.staged.get(id) : this.store.read(kind, key)) as ValueOf<K> | undefined;
  }

  async get<K extends RecordKind>(kind: K, ...key: KeyOf<K>): Promise<ValueOf<K> | undefined> {
    return this.current(kind, key);
  }

  put<K extends RecordKind>(kind: K, key: KeyOf<K>, value: ValueOf<K>): void {
    const place = placeOf(kind, key);
    const { doc, parent, leaf } = place;
    const frozen = frozenCopy(value);
    this.staged.set(JSON.stringify([kind, key]), frozen);
    this.touch(kind, key, place);
    const s = keyed();
    s[leaf] = frozen;
    this.ops.push({ doc, op: { p: parent, s } });
  }

  patch<K extends RecordKind>(kind: K, key: KeyOf<K>, fields: Partial<ValueOf<K>>): void {
    const now = this.current(kind, key) as Record<string, unknown> | undefined;
    if (now === undefined) throw new Error(`No ${kind} ${JSON.stringify(key)} to change`);
    const place = placeOf(kind, key);
    const { doc, parent, leaf } = place;
    const set: Record<string, unknown> = {};
    const removed: string[] = [];
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) removed.push(k);
      else set[k] = frozenCopy(v);
    }
    const next = { ...now, ...set };
    for (const k of removed) delete next[k];
    this.staged.set(JSON.stringify([kind, key]), Object.freeze(next));
    this.touch(kind, key, place);
    this.ops.push({ doc, op: { p: [...parent, leaf], s: set, ...(removed.length ? { d: removed } : {}), r: 1 } });
  }

  emit(event: NewEvent): void {
    this.events.push(frozenCopy(event));
  }

  delete<K extends RecordKind>(kind: K, key: KeyOf<K>): void {
    const place = placeOf(kind, key);
    const { doc, parent, leaf } = place;
    this.staged.set(JSON.stringify([kind, key]), undefined);
    this.touch(kind, key, place);
    this.ops.push({ doc, op: { p: parent, d: [leaf] } });
  }
}

/** Records are frozen from the start (containers are not). */
function freezeRecords(data: Data): void {
  deepFreeze(data.globalAttributes);
  for (const kind of ['servers', 'roles', 'apiKeys', 'permissions', 'enrolCodes', 'transactions', 'events'] as const) values<object>(data[kind]).forEach(deepFreeze);
  for (const kind of ['users', 'accounts', 'webhooks', 'deliveries', 'oidc'] as const)
    for (const perServer of values<Record<string, object>>(data[kind])) values(perServer).forEach(deepFreeze);
}
