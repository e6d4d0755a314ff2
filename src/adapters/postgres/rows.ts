/**
 * Records as rows: for each kind its table, its key columns and the columns computed from the
 * record for lookups and listings (migrations/0001-records.ts), and the SQL that reads, writes
 * and deletes many rows of a kind in one statement (arrays unnested into rows).
 *
 * PostgreSQL text holds neither U+0000 nor an unpaired surrogate. A key or a column that names
 * another record (a userid, a role) with one of them cannot be stored: writing it throws
 * (`UnstorableTextError`), and looking it up finds nothing (nothing stored can hold it). Free
 * text columns (an account's description, client version, public key) keep such characters as
 * U+FFFD (their records keep them as they are); user attributes are compared by a hash of
 * their UTF-16, exactly.
 *
 * Events are rows of their own columns (migrations/0002-events.ts): their texts are refused as
 * keys are (a userid, a type that cannot be looked up again is no audit), their data kept as
 * JSON text, exactly.
 *
 * OIDC records (migrations/0003-oidc.ts) have the fields they are found by as columns, refused
 * as keys are when text cannot hold them, and their expiry rounded up to a whole ms.
 */
import { createHash } from 'node:crypto';
import type { EventRecord, KeyOf, NewEvent, OidcField, RecordKind, ValueOf } from '../../ports.ts';
import { NsError } from '../../wire/errors.ts';
import { asText } from '../lowdb/query.ts';

/** A key as the store normalises it: strings, and numbers where the key is a number. */
export type Key = readonly (string | number)[];

/** What PostgreSQL text cannot hold: U+0000, a surrogate without its pair. */
const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

/** Whether PostgreSQL text can hold the string. */
export const storable = (s: string): boolean => !UNSTORABLE.test(s);

/** The string with what text cannot hold as U+FFFD. */
const lossy = (s: string): string => (storable(s) ? s : s.replace(UNSTORABLE_ALL, '\uFFFD'));

/** A write of a string PostgreSQL text cannot hold into a key or an id column. */
export class UnstorableTextError extends NsError {
  constructor(what: string) {
    super('BAD_REQUEST', `${what} holds U+0000 or an unpaired surrogate, which the PostgreSQL store cannot keep`);
  }
}

/** A key's string part, or an error. */
function keyText(s: string, what: string): string {
  if (!storable(s)) throw new UnstorableTextError(what);
  return s;
}

/** A string column naming a record (userid, role): the string, null when missing or not a string; an error when it cannot be stored. */
function idText(v: unknown, what: string): string | null {
  return typeof v === 'string' ? keyText(v, what) : null;
}

const freeText = (v: unknown): string | null => (typeof v === 'string' ? lossy(v) : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null);

/** The column of each field an OIDC record is found by (oidcBy). */
export const OIDC_COLUMNS: Readonly<Record<OidcField, string>> = { grantId: 'grant_id', uid: 'uid', userCode: 'user_code', accountId: 'account_id' };
const OIDC_FIELDS = Object.keys(OIDC_COLUMNS) as OidcField[];

/** Descriptions and client versions are indexed by this many first characters (code points). */
export const PREFIX = 200;

/** A kind's table. */
export interface Table {
  name: string;
  /** Key columns and their types (as arrays are cast: `text`, `bigint`). */
  keys: readonly string[];
  keyTypes: readonly string[];
  /** Columns computed from the record (not the key, not `rec`), and their types. */
  columns: readonly string[];
  types: readonly string[];
  /** The computed columns' values (throws for a value that cannot be stored). */
  values(key: Key, value: Record<string, unknown>): unknown[];
}

const none = { columns: [], types: [], values: () => [] } as const;

export const TABLES: Record<RecordKind, Table> = {
  server: { name: 'servers', keys: ['serverid'], keyTypes: ['text'], ...none },
  user: {
    name: 'users',
    keys: ['serverid', 'userid'],
    keyTypes: ['text', 'text'],
    columns: ['userid_lower'],
    types: ['text'],
    values: (key) => [String(key[1]).toLowerCase()],
  },
  account: {
    name: 'accounts',
    keys: ['serverid', 'id'],
    keyTypes: ['text', 'bigint'],
    columns: ['userid', 'description', 'blocked', 'client_version', 'created', 'lastlogin', 'lastprovoke', 'pk'],
    types: ['text', 'text', 'boolean', 'text', 'float8', 'float8', 'float8', 'text'],
    values: (_key, a) => [
      idText(a.userid, "An account's userid"),
      freeText(a.description),
      bool(a.blocked),
      freeText(a.clientVersion),
      num(a.created),
      num(a.lastlogin),
      num(a.lastprovoke),
      freeText(a.pk),
    ],
  },
  role: { name: 'roles', keys: ['role'], keyTypes: ['text'], ...none },
  apiKey: {
    name: 'api_keys',
    keys: ['hash'],
    keyTypes: ['text'],
    columns: ['role', 'created_by'],
    types: ['text', 'text'],
    values: (_key, k) => [idText(k.role, "An api key's role"), idText(k.createdBy, "An api key's createdBy")],
  },
  permissions: {
    name: 'permissions',
    keys: ['role'],
    keyTypes: ['text'],
    columns: ['global_root'],
    types: ['boolean'],
    values: (_key, p) => [globalRoot(p)],
  },
  enrolCode: {
    name: 'enrol_codes',
    keys: ['serverid', 'hsid'],
    keyTypes: ['text', 'text'],
    columns: ['created'],
    types: ['float8'],
    values: (_key, c) => [num(c.created)],
  },
  globalAttributes: { name: 'singletons', keys: ['name'], keyTypes: ['text'], ...none },
  session: { name: 'sessions', keys: ['key'], keyTypes: ['text'], ...none },
  transaction: { name: 'transactions', keys: ['tid'], keyTypes: ['text'], ...none },
  webhook: { name: 'webhooks', keys: ['serverid', 'id'], keyTypes: ['text', 'text'], ...none },
  delivery: { name: 'deliveries', keys: ['serverid', 'id'], keyTypes: ['text', 'text'], ...none },
  oidc: {
    name: 'oidc',
    keys: ['serverid', 'model', 'id'],
    keyTypes: ['text', 'text', 'text'],
    columns: ['expires_at', ...Object.values(OIDC_COLUMNS)],
    types: ['bigint', 'text', 'text', 'text', 'text'],
    values: (_key, r) => [expiry(r.expiresAt), ...OIDC_FIELDS.map((f) => idText(r[f], `An OIDC record's ${f}`))],
  },
};

/** An OIDC record's expiry as `expires_at` holds it: rounded up to a whole ms, so a prune never takes it early (`integerBound`); within what bigint holds. */
function expiry(v: unknown): number | null {
  const at = num(v);
  return at === null ? null : Math.min(Math.max(Math.ceil(at), -Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
}

/** Whether a role's permissions hold root in scope "*" (as the lowdb store's indexes decide it). */
function globalRoot(p: Record<string, unknown>): boolean {
  const all = Object.hasOwn(p, '*') ? p['*'] : undefined;
  return Array.isArray(all) ? all.includes('root') : typeof all === 'string' && all.includes('root');
}

/**
 * The key as the table holds it (an account's id a safe integer; every string storable), or
 * undefined when no stored record can have it (lookups find nothing; `required`: it throws).
 */
export function tableKey<K extends RecordKind>(kind: K, key: KeyOf<K>, required = false): Key | undefined {
  const k = key as readonly unknown[];
  const fail = (why: string) => {
    if (required) throw kind === 'account' && why === 'id' ? new NsError('BAD_REQUEST', 'An account id must be a safe integer') : new UnstorableTextError(`The key of a ${kind}`);
    return undefined;
  };
  if (kind === 'globalAttributes') return ['globalAttributes'];
  if (kind === 'account') {
    const id = Number(k[1]);
    if (!Number.isSafeInteger(id)) return fail('id');
    const serverid = String(k[0]);
    return storable(serverid) ? [serverid, id] : fail('text');
  }
  const out = TABLES[kind].keys.map((_, i) => String(k[i]));
  return out.every(storable) ? out : fail('text');
}

/** The identity of a record within a change (kind and normalised key). */
export const recordId = (kind: RecordKind, key: Key): string => JSON.stringify([kind, ...key]);

// ---- Rows derived from a record -------------------------------------------------------------

/** A user's attributes as a filter compares them: the hash of each (attribute, value text). */
export function attributeRows(attributes: unknown): string[] {
  const out: string[] = [];
  if (typeof attributes !== 'object' || attributes === null) return out;
  const attrs = attributes as Record<string, unknown>;
  for (const key of Object.keys(attrs)) {
    const v = attrs[key];
    if (v === undefined || v === null) continue;
    out.push(attributeHash(key, asText(v)));
  }
  return out;
}

/**
 * 128 bits of SHA-256 of (attribute, value text) as UTF-16, a uuid: equal exactly when both are,
 * whatever the strings hold (U+0000, lone surrogates), and short whatever their length.
 */
export function attributeHash(key: string, text: string): string {
  const k = Buffer.from(key, 'utf16le');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(k.length);
  const h = createHash('sha256').update(length).update(k).update(text, 'utf16le').digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A role's permissions by scope, where it has some (the lowdb store lists `acl?.length`). */
export function scopeRows(permissions: Record<string, unknown>): Array<[scope: string, acl: string]> {
  const out: Array<[string, string]> = [];
  for (const scope of Object.keys(permissions)) {
    const acl = permissions[scope] as { length?: unknown } | null | undefined;
    if (!acl?.length) continue;
    out.push([keyText(scope, 'A permission scope'), JSON.stringify(acl)]);
  }
  return out;
}

// ---- SQL ----------------------------------------------------------------------------------------

/** `unnest($1::text[], $2::bigint[])` over a key's columns, from parameter `from`. */
const unnestKeys = (t: Table, from: number): string => `unnest(${t.keys.map((_, i) => `$${from + i}::${t.keyTypes[i]}[]`).join(', ')})`;

/** Deletes the records of many keys: one array per key column. */
export function deleteSql(t: Table): string {
  return `DELETE FROM ${t.name} r USING ${unnestKeys(t, 1)} AS d(${t.keys.join(', ')}) WHERE ${t.keys.map((k) => `r.${k} = d.${k}`).join(' AND ')}`;
}

/**
 * Puts (makes or replaces) many records: one array per key column, per computed column, then
 * the records' JSON. A replaced row keeps its `seq` (its place in the order records came in).
 */
export function upsertSql(t: Table): string {
  const all = [...t.keys, ...t.columns, 'rec'];
  const types = [...t.keyTypes, ...t.types, 'json'];
  const arrays = types.map((type, i) => `$${i + 1}::${type}[]`).join(', ');
  const set = [...t.columns, 'rec'].map((c) => `${c} = EXCLUDED.${c}`).join(', ');
  return `INSERT INTO ${t.name} (${all.join(', ')}) SELECT * FROM unnest(${arrays}) ON CONFLICT (${t.keys.join(', ')}) DO UPDATE SET ${set}`;
}

/** The record of a kind from its row (the key columns as the table gives them). */
export type Row = { rec: unknown } & Record<string, unknown>;

/** A table row's key, normalised as `tableKey` gives it. */
export function rowKey(t: Table, row: Row): Key {
  return t.keys.map((k, i) => (t.keyTypes[i] === 'bigint' ? Number(row[k]) : String(row[k])));
}

/** The record's computed columns, checked: throws for what cannot be stored. */
export function columnValues<K extends RecordKind>(kind: K, key: Key, value: ValueOf<K>): unknown[] {
  return TABLES[kind].values(key, value as unknown as Record<string, unknown>);
}

/** A string as a free text column holds it (what text cannot hold as U+FFFD). */
export const asFreeText = lossy;

// ---- Events -------------------------------------------------------------------------------------

/** The columns of `events` an emitted event fills (PostgreSQL gives `seq` and `txid`), and their types. */
const EVENT_COLUMNS = ['id', 'type', 'serverid', 'time', 'userid', 'account', 'source', 'subject', 'data'] as const;
const EVENT_TYPES = ['text', 'text', 'text', 'bigint', 'text', 'bigint', 'text', 'text', 'json'] as const;

/** What the listings select of an event (`eventOf` makes the record of it). */
export const EVENT_SELECT = `seq, ${EVENT_COLUMNS.join(', ')}`;

/** An event's row: the values of EVENT_COLUMNS. Throws for a value they cannot hold (as a put does). */
export function eventRow(e: NewEvent): unknown[] {
  const text = (v: string | undefined, what: string) => (v === undefined ? null : keyText(String(v), `An event's ${what}`));
  const integer = (v: number | undefined, what: string) => {
    if (v === undefined) return null;
    if (!Number.isSafeInteger(v)) throw new NsError('BAD_REQUEST', `An event's ${what} must be a safe integer`);
    return v;
  };
  return [
    text(e.id, 'id'),
    text(e.type, 'type'),
    text(e.serverid, 'serverid'),
    integer(e.time, 'time'),
    text(e.userid, 'userid'),
    integer(e.account, 'account'),
    text(e.source, 'source'),
    text(e.subject, 'subject'),
    e.data === undefined ? null : JSON.stringify(e.data),
  ];
}

/**
 * Inserts many events, one array per column of EVENT_COLUMNS: `seq` given in the order of the
 * arrays (a change's events after those of the change before it), `txid` the transaction's.
 * An event whose id is stored already is left out: it is the same event written again, after a
 * COMMIT that went through but whose answer was lost (LooseEvents tries a failed write's events
 * again), and refusing it would refuse every change that carries it.
 */
export const insertEventsSql = `INSERT INTO events (${EVENT_COLUMNS.join(', ')}) SELECT ${EVENT_COLUMNS.join(', ')} FROM unnest(${EVENT_TYPES.map(
  (type, i) => `$${i + 1}::${type}[]`,
).join(', ')}) WITH ORDINALITY AS e(${EVENT_COLUMNS.join(', ')}, n) ORDER BY n ON CONFLICT (id) DO NOTHING`;

/**
 * `x` as a bound on a bigint column of integers (time, seq): the least integer at or above it, so
 * `column < bound` and `column >= bound` mean `column < x` and `column >= x`; within what bigint
 * holds (undefined: a bound beyond every value, as ±Infinity is).
 */
export function integerBound(x: number): number | undefined {
  const n = Math.ceil(x);
  return Math.abs(n) <= Number.MAX_SAFE_INTEGER ? n : undefined;
}

/** A LIMIT's value: a whole number of rows (null: no limit, for Infinity or a number bigint cannot hold). */
export const rowLimit = (limit: number): number | null => (limit <= Number.MAX_SAFE_INTEGER ? Math.ceil(limit) : null);

/** A row of EVENT_SELECT (bigints as text, as node-postgres gives them). */
export interface EventRow {
  seq: string;
  id: string;
  type: string;
  serverid: string;
  time: string;
  userid: string | null;
  account: string | null;
  source: string | null;
  subject: string | null;
  data: EventRecord['data'] | null;
}

/** The event of a row: the fields it has (a column without a value: a field the event had not). */
export function eventOf(r: EventRow): EventRecord {
  const e: EventRecord = { seq: Number(r.seq), id: r.id, type: r.type, serverid: r.serverid, time: Number(r.time) };
  if (r.userid !== null) e.userid = r.userid;
  if (r.account !== null) e.account = Number(r.account);
  if (r.source !== null) e.source = r.source;
  if (r.subject !== null) e.subject = r.subject;
  if (r.data !== null) e.data = r.data;
  return e;
}
