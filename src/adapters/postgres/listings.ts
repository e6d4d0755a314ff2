/**
 * The 2.2 listings (getAllAccounts, a user's accounts, getUsers) in SQL, with the lowdb store's
 * meaning (src/adapters/lowdb/query.ts): a condition holds when the value's text (a string as it
 * is, anything else as JSON) is one of its values, a missing value never matching; sorted by the
 * keys, missing values last in either direction, ties by the key column ascending; `marker`
 * items skipped, `limit` kept; `totalnumber` counts every match.
 *
 * A page's keys are read in the order of the sort column's index for that direction
 * (migrations/0001-records.ts: missing values last, ties in key order, as the listing wants
 * them), the page found by OFFSET/LIMIT on it without touching a record it skips, or, when the
 * matches are few, collected and sorted; then the page's records are fetched by key. Further
 * sort keys order the runs of equal values of the first (incremental sort). Without conditions
 * the total is the server's count, kept in row_counts; with some, the matches are counted (an
 * index range, or a semi-join per condition), and the count decides how the page is found
 * (`list`).
 *
 * What REST never asks (a sort column outside the listing's columns, a negative or fractional
 * marker or limit) is answered as the lowdb store answers it: every match, sorted and paged by
 * query.ts itself.
 *
 * The audit listing (`listEvents`) is apart: newest first, paged by seq, read along an index of
 * one of its conditions (migrations/0002-events.ts).
 */
import type pg from 'pg';
import {
  ACCOUNT_COLUMNS,
  type AccountRecord,
  type Condition,
  type EventQuery,
  type EventRecord,
  type ListQuery,
  type Page,
  type UserRecord,
  type UserSummary,
} from '../../ports.ts';
import { page as pageOf, sortItems } from '../lowdb/query.ts';
import { asFreeText, attributeHash, EVENT_SELECT, type EventRow, eventOf, integerBound, PREFIX, rowLimit, storable } from './rows.ts';

/** What a listing needs of the store: its pool; records frozen as it hands them out; told how many row_counts rows a server's count summed (to fold them). */
export interface ListingContext {
  db: pg.Pool;
  freeze: <T>(value: T) => T;
  counted(serverid: string, kind: 'users' | 'accounts', rows: number): void;
}

/** Parameters of a statement being built: `$n` for each value. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type?: string): string {
    this.values.push(value);
    return `$${this.values.length}${type ? `::${type}` : ''}`;
  }
}

/**
 * How a listing sorts on a column: its SQL, as the column's indexes have it. A text column kept
 * by its first PREFIX characters (`long`: the column itself) is sorted by those, then, where
 * values longer than that exist in the server, by the whole value of those only.
 */
interface Column {
  expr: string;
  long?: string;
}

interface SortSpec extends Column {
  desc: boolean;
}

/** The listing's sort keys in SQL (after the first key column nothing decides more), or undefined when one is no column of the listing. */
function sortSpecs(query: ListQuery, columns: Record<string, Column>, key: string): SortSpec[] | undefined {
  const out: SortSpec[] = [];
  const seen = new Set<string>();
  for (const { column, desc } of query.sort ?? []) {
    if (seen.has(column)) continue;
    seen.add(column);
    if (!Object.hasOwn(columns, column)) return undefined;
    out.push({ ...columns[column]!, desc });
    if (column === key) break;
  }
  return out;
}

const isCount = (x: number | undefined): boolean => x === undefined || (Number.isInteger(x) && x >= 0);

interface Listing {
  /** the table (read as `t`) and its key column within a server (unique there) */
  table: 'accounts' | 'users';
  key: 'id' | 'userid';
  /** conditions over `t`; the first is `t.serverid = $1` */
  where: string[];
  params: Params;
  specs: SortSpec[];
  /** what a page's item is, of the table's row `x` */
  item: string;
  /** a statement counting the matches more cheaply than counting the rows `where` selects */
  count?: string | undefined;
  marker: number;
  limit: number | undefined;
}

/** Up to this many matches are sorted rather than found by walking an index (as query.ts decides). */
const SORT_ALWAYS = 256;

/**
 * A listing's total and page (its items as `l.item` gives them, in order).
 *
 * Without conditions: one statement, the total from row_counts and the page read along the
 * sort column's index. With conditions: in one read-only snapshot, the matches are counted
 * first; then, as query.ts decides it, few matches (or few compared with the rows a walk would
 * test to fill the page, about (marker + limit) · rows / matches) are collected and sorted, and
 * many are found by walking the sort column's index, testing each row. (PostgreSQL's planner
 * guesses the matches from its statistics and walks the index for rare ones that are correlated
 * with each other: the exact count decides better.)
 */
async function list(ctx: ListingContext, serverid: string, l: Listing): Promise<{ total: number; items: unknown[] }> {
  const where = l.where.join(' AND ');
  const key = `t.${l.key}`;
  const rowCount = `FROM row_counts WHERE serverid = $1 AND kind = '${l.table}'`;
  const values = l.params.values;
  /** Whether the server has values longer than PREFIX in the column. */
  const longIn = (column: string) => `EXISTS (SELECT 1 FROM ${l.table} t WHERE t.serverid = $1 AND length(${column}) > ${PREFIX})`;

  /** The statement giving the page's items (`long`: per sort key, whether to compare whole values; `sorted`: collect the matches first). */
  const pageSql = (long: readonly boolean[], sorted: boolean, also = ''): string => {
    // Each sort key's expressions and directions: NULLS LAST as the indexes have it (the key column, never missing, as its primary key has it).
    const keys = l.specs.flatMap((s, i) => {
      const dir = s.desc ? 'DESC' : 'ASC';
      if (s.expr === key) return [{ expr: s.expr, dir }];
      const first = { expr: s.expr, dir: `${dir} NULLS LAST` };
      // Values longer than the prefix, after the shorter ones with the same prefix (which are that prefix), by their whole value.
      return long[i] && s.long ? [first, { expr: `CASE WHEN length(${s.long}) > ${PREFIX} THEN ${s.long} END`, dir: `${dir} NULLS ${s.desc ? 'LAST' : 'FIRST'}` }] : [first];
    });
    const last = keys.length > 0 && keys[keys.length - 1]!.expr === key;
    const orderBy = (name: (e: string, j: number) => string, k: string) => [...keys.map((o, j) => `${name(o.expr, j)} ${o.dir}`), ...(last ? [] : [`${k} ASC`])].join(', ');
    const select = [...keys.map((o, j) => `${o.expr} AS o${j}`), `${key} AS k`].join(', ');
    const paging = `${l.marker > 0 ? ` OFFSET ${l.marker}` : ''}${l.limit !== undefined ? ` LIMIT ${l.limit}` : ''}`;
    const p = sorted
      ? `WITH m AS MATERIALIZED (SELECT ${select} FROM ${l.table} t WHERE ${where}), p AS (SELECT * FROM m ORDER BY ${orderBy((_, j) => `m.o${j}`, 'm.k')}${paging})`
      : `WITH p AS (SELECT ${select} FROM ${l.table} t WHERE ${where} ORDER BY ${orderBy((e) => e, key)}${paging})`;
    return `${p} SELECT ${also}(SELECT coalesce(json_agg(${l.item} ORDER BY ${orderBy((_, j) => `p.o${j}`, 'p.k')}), '[]'::json) FROM p JOIN ${l.table} x ON x.serverid = $1 AND x.${l.key} = p.k) AS items`;
  };

  const longKeys = l.specs.map((s) => s.long);
  if (l.where.length === 1 && longKeys.every((c) => c === undefined)) {
    // No condition, no long values to mind: one statement.
    const sql = pageSql([], false, `(SELECT coalesce(sum(n), 0) ${rowCount})::float8 AS total, (SELECT count(*) ${rowCount})::float8 AS parts, `);
    const { rows } = await ctx.db.query<{ total: number; parts: number; items: unknown[] }>(sql, values);
    ctx.counted(serverid, l.table, rows[0]!.parts);
    return rows[0]!;
  }
  const client = await ctx.db.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const conditions = l.where.length > 1;
    const count = conditions ? (l.count ?? `SELECT count(*) FROM ${l.table} t WHERE ${where}`) : `SELECT coalesce(sum(n), 0) ${rowCount}`;
    const first = await client.query<{ m: number; n: number; long: boolean[] }>(
      `SELECT (${count})::float8 AS m, (SELECT coalesce(sum(n), 0) ${rowCount})::float8 AS n, ARRAY[${['false', ...longKeys.map((c) => (c ? longIn(c) : 'false'))].join(', ')}] AS long`,
      conditions ? values : [values[0]],
    );
    const { m, n, long } = first.rows[0]!;
    let items: unknown[] = [];
    if (l.marker < m && l.limit !== 0) {
      // With conditions, few matches are collected and sorted, many found along the index (query.ts's choice).
      const need = l.limit === undefined ? m : Math.min(m, l.marker + l.limit);
      const sorted = conditions && (m <= SORT_ALWAYS || m * Math.log2(m) <= (need >= m ? n : (need * n) / m));
      items = (await client.query<{ items: unknown[] }>(pageSql(long.slice(1), sorted), values)).rows[0]!.items;
    }
    await client.query('COMMIT');
    return { total: m, items };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

/** A condition on the user's attributes: the users (of the server `serverid`) having one of the values. */
function usersWith(params: Params, serverid: string, c: Condition): string {
  return `(SELECT ua.userid FROM user_attrs ua WHERE ua.serverid = ${serverid} AND ua.h = ANY(${attributeValues(params, c)}))`;
}

/** The hashes of a condition's (attribute, value) pairs, as a parameter. */
const attributeValues = (params: Params, c: Condition): string =>
  params.add(
    [...new Set(c.values)].map((text) => attributeHash(c.key, text)),
    'uuid[]',
  );

/** A number column's values whose JSON text is one of `texts`. */
const numbersOf = (texts: readonly string[]): number[] =>
  texts.flatMap((t) => {
    const n = Number(t);
    return t.trim() !== '' && Number.isFinite(n) && JSON.stringify(n) === t ? [n] : [];
  });

/** The first PREFIX characters (code points), as left(text, PREFIX) gives them. */
const prefix = (s: string): string => Array.from(s).slice(0, PREFIX).join('');

/** A condition on an account column, in SQL over `t`. */
function accountCondition(params: Params, c: Condition & { key: (typeof ACCOUNT_COLUMNS)[number] }): string {
  const texts = [...new Set(c.values)];
  switch (c.key) {
    case 'id':
      return `t.id = ANY(${params.add(numbersOf(texts).filter(Number.isSafeInteger), 'bigint[]')})`;
    case 'created':
    case 'lastlogin':
    case 'lastprovoke':
      return `t.${c.key} = ANY(${params.add(numbersOf(texts), 'float8[]')})`;
    case 'blocked':
      return `t.blocked = ANY(${params.add(
        texts.filter((t) => t === 'true' || t === 'false').map((t) => t === 'true'),
        'boolean[]',
      )})`;
    case 'userid':
      return `t.userid = ANY(${params.add(texts.filter(storable), 'text[]')})`;
    case 'description':
    case 'clientVersion': {
      const column = c.key === 'description' ? 'description' : 'client_version';
      const held = texts.map(asFreeText);
      return `left(t.${column}, ${PREFIX}) = ANY(${params.add(held.map(prefix), 'text[]')}) AND t.${column} = ANY(${params.add(held, 'text[]')})`;
    }
  }
}

const ACCOUNT_SORT: Record<(typeof ACCOUNT_COLUMNS)[number], Column> = {
  id: { expr: 't.id' },
  description: { expr: `left(t.description, ${PREFIX})`, long: 't.description' },
  userid: { expr: 't.userid' },
  blocked: { expr: 't.blocked' },
  clientVersion: { expr: `left(t.client_version, ${PREFIX})`, long: 't.client_version' },
  created: { expr: 't.created' },
  lastlogin: { expr: 't.lastlogin' },
  lastprovoke: { expr: 't.lastprovoke' },
};

const USER_SORT: Record<string, Column> = {
  userid: { expr: 't.userid' },
  lastlogin: { expr: 't.lastlogin' },
  numberaccounts: { expr: 't.numberaccounts' },
};

const EMPTY = Object.freeze({ items: [], totalnumber: 0 });

/** getAllAccounts / a user's accounts: conditions on the account's columns, else on its user's attributes. */
export async function listAccounts(ctx: ListingContext, serverid: string, query: ListQuery, userid: string | undefined): Promise<Page<AccountRecord>> {
  const { db, freeze } = ctx;
  if (!storable(serverid) || (userid !== undefined && !storable(userid))) return { ...EMPTY, items: [] };
  const params = new Params();
  const s = params.add(serverid);
  const where = [`t.serverid = ${s}`];
  if (userid !== undefined) where.push(`t.userid = ${params.add(userid)}`);
  const columns: readonly string[] = ACCOUNT_COLUMNS;
  for (const c of query.filter ?? []) {
    if (columns.includes(c.key)) where.push(accountCondition(params, c as Condition & { key: (typeof ACCOUNT_COLUMNS)[number] }));
    else where.push(`t.userid IN ${usersWith(params, s, c)}`);
  }
  const specs = sortSpecs(query, ACCOUNT_SORT, 'id');
  const { marker = 0, limit } = query;
  if (specs === undefined || !isCount(marker) || !isCount(limit)) {
    // Not what REST asks: every match, sorted and paged as query.ts does.
    const { rows } = await db.query<{ rec: AccountRecord }>(`SELECT t.rec FROM accounts t WHERE ${where.join(' AND ')} ORDER BY t.id`, params.values);
    return pageOf(
      sortItems(
        rows.map((r) => freeze(r.rec)),
        query.sort,
        'id',
      ),
      query,
    );
  }
  const { total, items } = await list(ctx, serverid, { table: 'accounts', key: 'id', where, params, specs, item: 'x.rec', marker, limit });
  return { items: (items as AccountRecord[]).map(freeze), totalnumber: total };
}

/** getUsers: conditions on the user's attributes, search in the userid; sort by userid, lastlogin, numberaccounts. */
export async function listUsers(ctx: ListingContext, serverid: string, query: ListQuery): Promise<Page<UserSummary>> {
  const { db, freeze } = ctx;
  const search = query.search?.toLowerCase();
  if (!storable(serverid) || (search !== undefined && !storable(search))) return { ...EMPTY, items: [] };
  const params = new Params();
  const s = params.add(serverid);
  const where = [`t.serverid = ${s}`];
  const hashes = (query.filter ?? []).map((c) => attributeValues(params, c));
  for (const h of hashes) where.push(`t.userid IN (SELECT ua.userid FROM user_attrs ua WHERE ua.serverid = ${s} AND ua.h = ANY(${h}))`);
  // One condition: its users are its rows of user_attrs (a user has one value of an attribute), counted from the index alone.
  const count = hashes.length === 1 && !search ? `SELECT count(*) FROM user_attrs ua WHERE ua.serverid = ${s} AND ua.h = ANY(${hashes[0]})` : undefined;
  if (search) where.push(`t.userid_lower LIKE ${params.add(`%${search.replace(/[\\%_]/g, '\\$&')}%`)}`);
  const specs = sortSpecs(query, USER_SORT, 'userid');
  const { marker = 0, limit } = query;
  type Row = [rec: UserRecord, numberaccounts: number, lastlogin: number | null];
  const summary = ([rec, numberaccounts, lastlogin]: Row): UserSummary => ({ user: freeze(rec), numberaccounts, ...(lastlogin !== null ? { lastlogin } : {}) });
  if (specs === undefined || !isCount(marker) || !isCount(limit)) {
    const { rows } = await db.query<{ k: string; r: Row }>(
      `SELECT t.userid AS k, json_build_array(t.rec, t.numberaccounts, t.lastlogin) AS r FROM users t WHERE ${where.join(' AND ')} ORDER BY t.userid`,
      params.values,
    );
    const found = rows.map(({ k, r }) => {
      const u = summary(r);
      return { userid: k, numberaccounts: u.numberaccounts, ...(u.lastlogin !== undefined ? { lastlogin: u.lastlogin } : {}), user: u.user, summary: u };
    });
    const { items, totalnumber } = pageOf(sortItems(found, query.sort, 'userid'), query);
    return { items: items.map((r) => r.summary), totalnumber };
  }
  const { total, items } = await list(ctx, serverid, {
    table: 'users',
    key: 'userid',
    where,
    params,
    specs,
    item: 'json_build_array(x.rec, x.numberaccounts, x.lastlogin)',
    count,
    marker,
    limit,
  });
  return { items: (items as Row[]).map(summary), totalnumber: total };
}

// ---- The audit listing ----------------------------------------------------------------------------

/** A time range alone: the newest this many times `limit` events are read first (`listEvents`). */
const WINDOW = 4;

/**
 * `column op x` on an integer column, for any number x: its SQL, or whether it holds for every
 * row (true) or none (false).
 */
function integerCondition(params: Params, column: string, op: '<' | '>=', x: number): string | boolean {
  if (Number.isNaN(x)) return false;
  const bound = integerBound(x);
  // Beyond what bigint holds: `< +∞` and `>= -∞` hold for every row, the others for none.
  if (bound === undefined) return x > 0 === (op === '<');
  return `${column} ${op} ${params.add(bound, 'bigint')}`;
}

/**
 * A server's events matching `query`, newest first (seq DESC), at most `limit`. Each condition
 * is an equality or a range on an index of its own (serverid, column, seq), so PostgreSQL reads
 * the matches of one condition in seq order, checks the others on each, and stops at `limit`
 * (the planner picks the condition: the one it expects to match least). Several types are a
 * branch each, merged (one index range gives one type's events in seq order). A time range
 * alone has no such index (times are the changes' clocks, not seq's order): the newest
 * WINDOW × limit events are read first, which is the answer when `limit` of them are in the
 * range (a range of recent times); else the range's events older than those are read along
 * events_time_server, the newest of them kept.
 */
export async function listEvents(ctx: ListingContext, serverid: string, query: EventQuery): Promise<EventRecord[]> {
  const limit = query.limit > 0 ? rowLimit(query.limit) : 0;
  if (limit === 0 || !storable(serverid)) return [];
  const params = new Params();
  const server = `serverid = ${params.add(serverid)}`;
  const conditions: Array<string | boolean> = [];
  if (query.before !== undefined) conditions.push(integerCondition(params, 'seq', '<', query.before));
  const seqs = conditions.filter((c) => typeof c === 'string');
  if (query.from !== undefined) conditions.push(integerCondition(params, 'time', '>=', query.from));
  if (query.to !== undefined) conditions.push(integerCondition(params, 'time', '<', query.to));
  const times = conditions.filter((c) => typeof c === 'string').slice(seqs.length);
  if (query.userid !== undefined) conditions.push(storable(query.userid) && `userid = ${params.add(query.userid)}`);
  if (query.account !== undefined) conditions.push(Number.isSafeInteger(query.account) && `account = ${params.add(query.account, 'bigint')}`);
  // An empty list of types asks for no type in particular (as a webhook's does).
  const types = [...new Set(query.types ?? [])];
  if (types.length) conditions.push(types.some(storable));
  if (conditions.includes(false)) return [];
  const where = [server, ...conditions.filter((c) => typeof c === 'string')].join(' AND ');
  const lim = params.add(limit, 'bigint');
  const newest = `ORDER BY seq DESC LIMIT ${lim}`;

  let sql: string;
  if (types.length) {
    const branches = types.filter(storable).map((type) => `(SELECT ${EVENT_SELECT} FROM events WHERE ${where} AND type = ${params.add(type)} ${newest})`);
    sql = branches.length === 1 ? branches[0]! : `${branches.join(' UNION ALL ')} ${newest}`;
  } else if (times.length && limit !== null && query.userid === undefined && query.account === undefined) {
    const window = params.add(Math.max(WINDOW * limit, 64), 'bigint');
    sql = `WITH w AS MATERIALIZED (SELECT ${EVENT_SELECT} FROM events WHERE ${[server, ...seqs].join(' AND ')} ORDER BY seq DESC LIMIT ${window}),
      hits AS (SELECT * FROM w WHERE ${times.join(' AND ')}),
      older AS MATERIALIZED (SELECT ${EVENT_SELECT} FROM events WHERE ${where} AND seq < (SELECT min(seq) FROM w))
      SELECT * FROM hits
      UNION ALL
      (SELECT * FROM older WHERE (SELECT count(*) FROM hits) < ${lim} AND (SELECT count(*) FROM w) = ${window} ${newest})
      ${newest}`;
  } else {
    sql = `SELECT ${EVENT_SELECT} FROM events WHERE ${where} ${newest}`;
  }
  const { rows } = await ctx.db.query<EventRow>(sql, params.values);
  return rows.map((r) => ctx.freeze(eventOf(r)));
}
