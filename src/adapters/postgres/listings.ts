/**
 * The 2.2 listings (getAllAccounts, a user's accounts, getUsers) in SQL, with the lowdb store's
 * meaning (src/adapters/lowdb/query.ts): a condition holds when the value's text (a string as it
 * is, anything else as JSON) is one of its values, a missing value never matching; sorted by the
 * keys, missing values last in either direction, ties by the key column ascending; `marker`
 * items skipped, `limit` kept; `totalnumber` counts every match.
 *
 * One statement answers a page: the count and the page's keys (in the sort column's index
 * order, the page found by OFFSET/LIMIT on that index, touching no record it skips), then the
 * page's records. A descending sort on a column that may be missing reads the index backwards
 * over the rows that have a value, then the rows without, in key order (a btree gives "nulls
 * last" in one direction only). Ties come in key order from the index itself (ascending), or
 * are put back in key order per run of equal values (incremental sort) when read backwards.
 *
 * What REST never asks (a sort column outside the listing's columns, a negative or fractional
 * marker or limit) is answered as the lowdb store answers it: every match, sorted and paged by
 * query.ts itself.
 */
import type pg from 'pg';
import { ACCOUNT_COLUMNS, type AccountRecord, type Condition, type ListQuery, type Page, type UserRecord, type UserSummary } from '../../ports.ts';
import { page as pageOf, sortItems } from '../lowdb/query.ts';
import { asFreeText, attributePair, PREFIX, storable } from './rows.ts';

export type Queryable = Pick<pg.Pool, 'query'>;

/** Parameters of a statement being built: `$n` for each value. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type?: string): string {
    this.values.push(value);
    return `$${this.values.length}${type ? `::${type}` : ''}`;
  }
}

/** How a listing sorts on a column: its SQL (the first expression is the indexed one), whether it may be missing. */
interface Column {
  exprs: readonly string[];
  nullable: boolean;
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

const direction = (s: SortSpec): string => (s.desc ? 'DESC NULLS LAST' : 'ASC NULLS LAST');

interface Listing {
  /** the table (read as `t`) and its key column within a server (unique there) */
  table: 'accounts' | 'users';
  key: 'id' | 'userid';
  /** conditions over `t`; the first is `t.serverid = $1` */
  where: string[];
  specs: SortSpec[];
  /** what a page's item is, of the table's row `x` */
  item: string;
  marker: number;
  limit: number | undefined;
}

/**
 * The statement answering a listing: one row, `total` and `items` (a JSON array, in order). The
 * page is a list of keys with their sort values (`o0_0`, …, `k`), its items fetched by key.
 */
function listingSql(l: Listing): string {
  const where = l.where.join(' AND ');
  const keyLast = l.specs.length > 0 && l.specs[l.specs.length - 1]!.exprs[0] === `t.${l.key}`;
  /** ORDER BY over sort keys (each key's expressions as `names` gives them), then the key column (`key`). */
  const orderBy = (specs: readonly SortSpec[], names: (s: SortSpec, i: number) => readonly string[], key: string): string =>
    [...specs.flatMap((s, i) => names(s, i).map((e) => `${e} ${direction(s)}`)), ...(keyLast ? [] : [`${key} ASC`])].join(', ');
  const inTable = (s: SortSpec) => s.exprs;
  const inPage = (prefix: string) => (s: SortSpec, i: number) => s.exprs.map((_, j) => `${prefix}o${i}_${j}`);
  const select = [...l.specs.flatMap((s, i) => s.exprs.map((e, j) => `${e} AS o${i}_${j}`)), `t.${l.key} AS k`].join(', ');
  const paging = `${l.marker > 0 ? ` OFFSET ${l.marker}` : ''}${l.limit !== undefined ? ` LIMIT ${l.limit}` : ''}`;
  const first = l.specs[0];
  let page: string;
  let order: string;
  if (first?.desc && first.nullable) {
    // The rows with a value (the index read backwards), then those without; of each at most what the page needs.
    const enough = l.limit !== undefined ? ` LIMIT ${l.marker + l.limit}` : '';
    const valued = `SELECT ${select}, 0 AS part FROM ${l.table} t WHERE ${where} AND ${first.exprs[0]} IS NOT NULL ORDER BY ${orderBy(l.specs, inTable, `t.${l.key}`)}${enough}`;
    const missing = `SELECT ${select}, 1 AS part FROM ${l.table} t WHERE ${where} AND ${first.exprs[0]} IS NULL ORDER BY ${orderBy(l.specs.slice(1), inTable, `t.${l.key}`)}${enough}`;
    page = `SELECT * FROM ((${valued}) UNION ALL (${missing})) b ORDER BY part, ${orderBy(l.specs, inPage(''), 'k')}${paging}`;
    order = `p.part, ${orderBy(l.specs, inPage('p.'), 'p.k')}`;
  } else {
    page = `SELECT ${select} FROM ${l.table} t WHERE ${where} ORDER BY ${orderBy(l.specs, inTable, `t.${l.key}`)}${paging}`;
    order = orderBy(l.specs, inPage('p.'), 'p.k');
  }
  return `WITH p AS (${page})
    SELECT (SELECT count(*) FROM ${l.table} t WHERE ${where})::float8 AS total,
      (SELECT coalesce(json_agg(${l.item} ORDER BY ${order}), '[]'::json) FROM p JOIN ${l.table} x ON x.serverid = $1 AND x.${l.key} = p.k) AS items`;
}

/** A condition on the user's attributes: the users (of the server `serverid`) having one of the values. */
function usersWith(params: Params, serverid: string, c: Condition): string {
  const pairs = [...new Set(c.values)].map((text) => attributePair(c.key, text));
  const k = pairs[0]?.[1] ?? attributePair(c.key, '')[1];
  return `(SELECT ua.userid FROM user_attrs ua WHERE ua.serverid = ${serverid} AND ua.h = ANY(${params.add(
    pairs.map((p) => p[0]),
    'bigint[]',
  )}) AND ua.k = ${params.add(k, 'bytea')} AND ua.v = ANY(${params.add(
    pairs.map((p) => p[2]),
    'bytea[]',
  )}))`;
}

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
  id: { exprs: ['t.id'], nullable: false },
  description: { exprs: [`left(t.description, ${PREFIX})`, 't.description'], nullable: true },
  userid: { exprs: ['t.userid'], nullable: true },
  blocked: { exprs: ['t.blocked'], nullable: true },
  clientVersion: { exprs: [`left(t.client_version, ${PREFIX})`, 't.client_version'], nullable: true },
  created: { exprs: ['t.created'], nullable: true },
  lastlogin: { exprs: ['t.lastlogin'], nullable: true },
  lastprovoke: { exprs: ['t.lastprovoke'], nullable: true },
};

const USER_SORT: Record<string, Column> = {
  userid: { exprs: ['t.userid'], nullable: false },
  lastlogin: { exprs: ['t.lastlogin'], nullable: true },
  numberaccounts: { exprs: ['t.numberaccounts'], nullable: false },
};

const EMPTY = Object.freeze({ items: [], totalnumber: 0 });

/** getAllAccounts / a user's accounts: conditions on the account's columns, else on its user's attributes. */
export async function listAccounts(db: Queryable, serverid: string, query: ListQuery, userid: string | undefined, freeze: <T>(v: T) => T): Promise<Page<AccountRecord>> {
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
  const sql = listingSql({ table: 'accounts', key: 'id', where, specs, item: 'x.rec', marker, limit });
  const { rows } = await db.query<{ total: number; items: AccountRecord[] }>(sql, params.values);
  const { total, items } = rows[0]!;
  return { items: items.map(freeze), totalnumber: total };
}

/** getUsers: conditions on the user's attributes, search in the userid; sort by userid, lastlogin, numberaccounts. */
export async function listUsers(db: Queryable, serverid: string, query: ListQuery, freeze: <T>(v: T) => T): Promise<Page<UserSummary>> {
  const search = query.search?.toLowerCase();
  if (!storable(serverid) || (search !== undefined && !storable(search))) return { ...EMPTY, items: [] };
  const params = new Params();
  const s = params.add(serverid);
  const where = [`t.serverid = ${s}`];
  for (const c of query.filter ?? []) where.push(`t.userid IN ${usersWith(params, s, c)}`);
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
  const sql = listingSql({ table: 'users', key: 'userid', where, specs, item: 'json_build_array(x.rec, x.numberaccounts, x.lastlogin)', marker, limit });
  const { rows } = await db.query<{ total: number; items: Row[] }>(sql, params.values);
  const { total, items } = rows[0]!;
  return { items: items.map(summary), totalnumber: total };
}
