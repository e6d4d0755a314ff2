/**
 * The lowdb store's indexes over its main document: built once at open from the records loaded,
 * then kept up to date by every committed change (`update`: each record the change touched, as
 * it was and as it is once applied; a change that threw and applied nothing has nothing to
 * give). Nothing in them is a record: ids and values, the records stay in the document.
 *
 * Per server:
 * - users in userid order, by lastlogin and by numberaccounts (sorted-list.ts: a rank is
 *   O(log n), a change O(log n + chunk)); attribute → value → users (and how many accounts those
 *   users have, so an account listing filtered on attributes is counted without a walk); userids
 *   in lower case where that differs (search);
 * - accounts in order of each column of ACCOUNT_COLUMNS (equality filters on a column are ranges
 *   of its order); public key → account; userid → accounts, the greatest lastlogin among them.
 *
 * Global: api keys by role and by the role that made them (in the document's order); the roles
 * with global root; enrol codes by creation time.
 */
import {
  ACCOUNT_COLUMNS,
  type AccountRecord,
  type ApiKeyRecord,
  type Condition,
  type EnrolCodeRecord,
  type ListQuery,
  type OidcField,
  type OidcRecord,
  type Page,
  type PermissionsRecord,
  type RecordKind,
  type UserRecord,
  type UserSummary,
} from '../../ports.ts';
import type { Data } from './data.ts';
import { asText, type Candidates, type Listing, listIndexed, matches, ownValue } from './query.ts';
import { orderValue, SortedList, type Value } from './sorted-list.ts';

/** One change to a record: its kind, key, value before and after (undefined: absent). */
export interface RecordChange {
  kind: RecordKind;
  key: readonly (string | number)[];
  before: unknown;
  after: unknown;
}

type AccountColumn = (typeof ACCOUNT_COLUMNS)[number];
const OIDC_FIELDS = ['grantId', 'uid', 'userCode', 'accountId'] as const satisfies readonly OidcField[];
const USER_ORDERS = ['lastlogin', 'numberaccounts'] as const;
/** A user's values in the orders that depend on its accounts. */
type Stats = { lastlogin: number | undefined; numberaccounts: number };

// ---- One value or a set of them (most keys of these maps have one) ---------------------------

type Many<T> = T | Set<T>;

function addMany<K, T>(map: Map<K, Many<T>>, key: K, value: T): void {
  const now = map.get(key);
  if (now === undefined) map.set(key, value);
  else if (now instanceof Set) now.add(value);
  else if (now !== value) map.set(key, new Set([now, value]));
}

function removeMany<K, T>(map: Map<K, Many<T>>, key: K, value: T): void {
  const now = map.get(key);
  if (now instanceof Set) {
    now.delete(value);
    if (now.size === 0) map.delete(key);
  } else if (now === value) map.delete(key);
}

const sizeOf = <T>(m: Many<T> | undefined): number => (m === undefined ? 0 : m instanceof Set ? m.size : 1);

function eachOf<T>(m: Many<T> | undefined, visit: (value: T) => boolean): boolean {
  if (m === undefined) return true;
  if (!(m instanceof Set)) return visit(m);
  for (const v of m) if (!visit(v)) return false;
  return true;
}

const valuesOf = <T>(m: Many<T> | undefined): T[] => (m === undefined ? [] : m instanceof Set ? [...m] : [m]);

// ---- Per server -------------------------------------------------------------------------------

/** A user's attributes as (attribute, value text) pairs; null and missing values are not there. */
function attributePairs(user: UserRecord): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const attrs = user.attributes as Record<string, unknown> | undefined;
  if (typeof attrs !== 'object' || attrs === null) return out;
  for (const key of Object.keys(attrs)) {
    const v = attrs[key];
    if (v !== undefined && v !== null) out.push([key, asText(v)]);
  }
  return out;
}

/** An account's lastlogin as a user's lastlogin counts it (0: none). */
const lastOf = (a: AccountRecord | undefined): number => (a !== undefined && typeof a.lastlogin === 'number' && a.lastlogin > 0 ? a.lastlogin : 0);

const columnValue = (a: AccountRecord, column: AccountColumn): Value => orderValue((a as unknown as Record<string, unknown>)[column]);

class ServerIndex {
  /** userid order (the value is the userid) */
  users = new SortedList<string>();
  usersBy: Record<(typeof USER_ORDERS)[number], SortedList<string>> = { lastlogin: new SortedList(), numberaccounts: new SortedList() };
  /** attribute → value text → users */
  readonly attrUsers = new Map<string, Map<string, Many<string>>>();
  /** attribute → value text → the number of accounts of those users (absent: 0) */
  readonly attrAccounts = new Map<string, Map<string, number>>();
  /** userid → userid.toLowerCase(), for userids where they differ */
  readonly lowered = new Map<string, string>();
  accountsBy = Object.fromEntries(ACCOUNT_COLUMNS.map((c) => [c, new SortedList<number>()])) as Record<AccountColumn, SortedList<number>>;
  readonly byPk = new Map<string, Many<number>>();
  /** userid → its accounts (whether or not the user exists) */
  readonly byUser = new Map<string, Many<number>>();
  /** userid → the greatest lastlogin of its accounts (absent: none) */
  readonly lastByUser = new Map<string, number>();

  constructor(
    readonly userRecords: () => Record<string, UserRecord> | undefined,
    readonly accountRecords: () => Record<string, AccountRecord> | undefined,
  ) {}

  numberOf(userid: string): number {
    return sizeOf(this.byUser.get(userid));
  }

  /** The user's values in the lastlogin and numberaccounts orders. */
  private stats(userid: string): Stats {
    return { lastlogin: this.lastByUser.get(userid), numberaccounts: this.numberOf(userid) };
  }

  /** Adds (+1) or removes (-1) the user's place in the lastlogin and numberaccounts orders and its accounts in the attribute counts. */
  private statsOf(userid: string, user: UserRecord, sign: 1 | -1): void {
    const stats = this.stats(userid);
    for (const column of USER_ORDERS) {
      if (sign > 0) this.usersBy[column].insert(stats[column], userid);
      else this.usersBy[column].remove(stats[column], userid);
    }
    this.countAccounts(user, sign * stats.numberaccounts);
  }

  /** The user's accounts changed (it was `was`): it moves in the orders whose value changed (a login: lastlogin only). */
  private restat(userid: string, user: UserRecord, was: Stats): void {
    const now = this.stats(userid);
    for (const column of USER_ORDERS) {
      if (was[column] === now[column]) continue;
      this.usersBy[column].remove(was[column], userid);
      this.usersBy[column].insert(now[column], userid);
    }
    this.countAccounts(user, now.numberaccounts - was.numberaccounts);
  }

  /** Adds `n` accounts to the counts of the user's attribute values. */
  private countAccounts(user: UserRecord, n: number): void {
    if (n === 0) return;
    for (const [key, text] of attributePairs(user)) {
      let counts = this.attrAccounts.get(key);
      if (!counts) this.attrAccounts.set(key, (counts = new Map()));
      const next = (counts.get(text) ?? 0) + n;
      if (next === 0) counts.delete(text);
      else counts.set(text, next);
      if (counts.size === 0) this.attrAccounts.delete(key);
    }
  }

  private userIn(userid: string, user: UserRecord): void {
    this.users.insert(userid, userid);
    for (const [key, text] of attributePairs(user)) {
      let byText = this.attrUsers.get(key);
      if (!byText) this.attrUsers.set(key, (byText = new Map()));
      addMany(byText, text, userid);
    }
    const lower = userid.toLowerCase();
    if (lower !== userid) this.lowered.set(userid, lower);
    this.statsOf(userid, user, 1);
  }

  private userOut(userid: string, user: UserRecord): void {
    this.statsOf(userid, user, -1);
    this.users.remove(userid, userid);
    for (const [key, text] of attributePairs(user)) {
      const byText = this.attrUsers.get(key);
      if (!byText) continue;
      removeMany(byText, text, userid);
      if (byText.size === 0) this.attrUsers.delete(key);
    }
    this.lowered.delete(userid);
  }

  /** Puts the account in every structure but the users' (`accountOut`: takes it out). */
  private accountIn(id: number, a: AccountRecord): void {
    for (const column of ACCOUNT_COLUMNS) this.accountsBy[column].insert(columnValue(a, column), id);
    if (a.pk !== undefined) addMany(this.byPk, a.pk, id);
    if (a.userid !== undefined) addMany(this.byUser, a.userid, id);
  }

  private accountOut(id: number, a: AccountRecord): void {
    for (const column of ACCOUNT_COLUMNS) this.accountsBy[column].remove(columnValue(a, column), id);
    if (a.pk !== undefined) removeMany(this.byPk, a.pk, id);
    if (a.userid !== undefined) removeMany(this.byUser, a.userid, id);
  }

  /** Builds everything from the document's records at once (open). */
  build(): void {
    const accounts = this.accountRecords() ?? {};
    const keys = Object.keys(accounts); // integer keys: in id order
    const ids = keys.map(Number);
    const columns = Object.fromEntries(ACCOUNT_COLUMNS.map((c) => [c, new Array<Value>(keys.length)])) as Record<AccountColumn, Value[]>;
    for (let k = 0; k < keys.length; k++) {
      const a = accounts[keys[k]!]!;
      const id = ids[k]!;
      for (const column of ACCOUNT_COLUMNS) columns[column][k] = columnValue(a, column);
      if (a.pk !== undefined) addMany(this.byPk, a.pk, id);
      if (a.userid !== undefined) {
        addMany(this.byUser, a.userid, id);
        const last = lastOf(a);
        if (last > (this.lastByUser.get(a.userid) ?? 0)) this.lastByUser.set(a.userid, last);
      }
    }
    for (const column of ACCOUNT_COLUMNS) this.accountsBy[column] = SortedList.of(columns[column], ids);

    const users = this.userRecords() ?? {};
    const userids = Object.keys(users).sort(); // code unit order, as `<`
    const stats = { lastlogin: new Array<Value>(userids.length), numberaccounts: new Array<Value>(userids.length) };
    for (let k = 0; k < userids.length; k++) {
      const userid = userids[k]!;
      const n = this.numberOf(userid);
      const attrs = users[userid]!.attributes as Record<string, unknown> | undefined;
      if (typeof attrs === 'object' && attrs !== null) {
        for (const key of Object.keys(attrs)) {
          const v = attrs[key];
          if (v === undefined || v === null) continue;
          const text = asText(v);
          let byText = this.attrUsers.get(key);
          if (!byText) this.attrUsers.set(key, (byText = new Map()));
          addMany(byText, text, userid);
          if (n === 0) continue;
          let counts = this.attrAccounts.get(key);
          if (!counts) this.attrAccounts.set(key, (counts = new Map()));
          counts.set(text, (counts.get(text) ?? 0) + n);
        }
      }
      const lower = userid.toLowerCase();
      if (lower !== userid) this.lowered.set(userid, lower);
      stats.lastlogin[k] = this.lastByUser.get(userid);
      stats.numberaccounts[k] = n;
    }
    this.users = SortedList.of(userids, userids);
    for (const column of USER_ORDERS) this.usersBy[column] = SortedList.of(stats[column], userids);
  }

  /**
   * Applies one change's users and accounts of this server. The document holds them as they
   * are after it; `before` as they were. Users that change leave first (as they were) and come
   * back last (as they are); the other users whose accounts change move once those are applied.
   */
  apply(
    users: Map<string, [before: UserRecord | undefined, after: UserRecord | undefined]>,
    accounts: Array<[id: number, before: AccountRecord | undefined, after: AccountRecord | undefined]>,
  ): void {
    for (const [userid, [before]] of users) if (before) this.userOut(userid, before);

    const docUsers = this.userRecords();
    const touched = new Set<string>();
    for (const [, before, after] of accounts) {
      if (before?.userid !== undefined) touched.add(before.userid);
      if (after?.userid !== undefined) touched.add(after.userid);
    }
    /** Users of the index (not changing in this change) whose accounts change, with their values before. */
    const moved: Array<[string, UserRecord, Stats]> = [];
    for (const userid of touched) {
      const user = users.has(userid) ? undefined : ownValue(docUsers, userid);
      if (user) moved.push([userid, user, this.stats(userid)]);
    }
    /** Users whose greatest lastlogin may have gone down: counted again from their accounts. */
    const recount = new Set<string>();
    for (const [id, before, after] of accounts) {
      this.accountChanged(id, before, after);
      const from = before?.userid;
      const to = after?.userid;
      const lastBefore = lastOf(before);
      const lastAfter = lastOf(after);
      if (from !== undefined && lastBefore > 0 && lastBefore === this.lastByUser.get(from) && (from !== to || lastAfter < lastBefore)) recount.add(from);
      if (to !== undefined && lastAfter > (this.lastByUser.get(to) ?? 0)) this.lastByUser.set(to, lastAfter);
    }
    const docAccounts = this.accountRecords();
    for (const userid of recount) {
      let last = 0;
      eachOf(this.byUser.get(userid), (id) => ((last = Math.max(last, lastOf(ownValue(docAccounts, String(id))))), true));
      if (last > 0) this.lastByUser.set(userid, last);
      else this.lastByUser.delete(userid);
    }
    for (const [userid, user, was] of moved) this.restat(userid, user, was);

    for (const [userid, [, after]] of users) if (after) this.userIn(userid, after);
  }

  private accountChanged(id: number, before: AccountRecord | undefined, after: AccountRecord | undefined): void {
    if (!before || !after) {
      if (before) this.accountOut(id, before);
      if (after) this.accountIn(id, after);
      return;
    }
    // A change of some fields (a login: lastlogin) moves the account in those orders only.
    for (const column of ACCOUNT_COLUMNS) {
      const was = columnValue(before, column);
      const is = columnValue(after, column);
      if (was === is) continue;
      this.accountsBy[column].remove(was, id);
      this.accountsBy[column].insert(is, id);
    }
    if (before.pk !== after.pk) {
      if (before.pk !== undefined) removeMany(this.byPk, before.pk, id);
      if (after.pk !== undefined) addMany(this.byPk, after.pk, id);
    }
    if (before.userid !== after.userid) {
      if (before.userid !== undefined) removeMany(this.byUser, before.userid, id);
      if (after.userid !== undefined) addMany(this.byUser, after.userid, id);
    }
  }

  // ---- Listings -------------------------------------------------------------------------------

  listUsers(query: ListQuery): Page<UserSummary> {
    const users = this.userRecords() ?? {};
    const conditions = query.filter ?? [];
    const search = query.search?.toLowerCase();
    // Search: a substring of the userid in lower case (kept for userids that have upper case
    // letters). With no condition to narrow it, every user is tested: O(n), nothing allocated per
    // user (~50 ns a user: ~40 ms for 200,000).
    const lowered = this.lowered;
    const found =
      search === undefined ? () => true : lowered.size === 0 ? (userid: string) => userid.includes(search) : (userid: string) => (lowered.get(userid) ?? userid).includes(search);
    const row = (userid: string): UserRow => {
      const last = this.lastByUser.get(userid);
      return { userid, numberaccounts: this.numberOf(userid), ...(last !== undefined ? { lastlogin: last } : {}), user: users[userid]! };
    };
    const listing: Listing<string, UserRow> = {
      all: this.users,
      key: 'userid',
      order: (column) => (column === 'lastlogin' || column === 'numberaccounts' ? this.usersBy[column] : undefined),
      sources: conditions.map((c) => this.usersWith(c)),
      more: search !== undefined && search !== '',
      test: (userid) => (search === undefined || found(userid)) && (conditions.length === 0 || matches(conditions, users[userid]!.attributes)),
      row,
    };
    const { items, totalnumber } = listIndexed(listing, query);
    return { items: items.map(({ user, numberaccounts, lastlogin }) => ({ user, numberaccounts, ...(lastlogin !== undefined ? { lastlogin } : {}) })), totalnumber };
  }

  listAccounts(query: ListQuery, userid: string | undefined): Page<AccountRecord> {
    const accounts = this.accountRecords() ?? {};
    const users = this.userRecords();
    const conditions = query.filter ?? [];
    const columns: readonly string[] = ACCOUNT_COLUMNS;
    const onColumns = conditions.filter((c) => columns.includes(c.key));
    const onUser = conditions.filter((c) => !columns.includes(c.key));
    const sources = [...onColumns.map((c) => this.accountsWithValue(c)), ...onUser.map((c) => this.accountsOfUsersWith(c))];
    if (userid !== undefined) {
      const ids = this.byUser.get(userid);
      sources.push({ size: sizeOf(ids), each: (visit) => eachOf(ids, visit) });
    }
    const listing: Listing<number, AccountRecord> = {
      all: this.accountsBy.id,
      key: 'id',
      order: (column) => (columns.includes(column) ? this.accountsBy[column as AccountColumn] : undefined),
      sources,
      more: false,
      // On its own columns, then on its user's attributes (none: no match).
      test: (id) => {
        const a = accounts[id]!;
        return (
          (userid === undefined || a.userid === userid) &&
          matches(onColumns, a as unknown as Record<string, unknown>) &&
          (onUser.length === 0 || (a.userid !== undefined && matches(onUser, ownValue(users, a.userid)?.attributes)))
        );
      },
      row: (id) => accounts[id]!,
    };
    return listIndexed(listing, query);
  }

  /** The users whose attribute `c.key` has one of the values. */
  private usersWith(c: Condition): Candidates<string> {
    const byText = this.attrUsers.get(c.key);
    const parts = [...new Set(c.values)].map((text) => byText?.get(text)).filter((p) => p !== undefined);
    return { size: parts.reduce((n, p) => n + sizeOf(p), 0), each: (visit) => parts.every((p) => eachOf(p, visit)) };
  }

  /** The accounts whose users' attribute `c.key` has one of the values. */
  private accountsOfUsersWith(c: Condition): Candidates<number> {
    const users = this.usersWith(c);
    const counts = this.attrAccounts.get(c.key);
    return {
      size: [...new Set(c.values)].reduce((n, text) => n + (counts?.get(text) ?? 0), 0),
      each: (visit) => users.each((u) => eachOf(this.byUser.get(u), visit)),
    };
  }

  /** The accounts whose column `c.key` has one of the values (as text): ranges of that column's order. */
  private accountsWithValue(c: Condition): Candidates<number> {
    const order = this.accountsBy[c.key as AccountColumn];
    const ranges: Array<[number, number]> = [];
    for (const text of new Set(c.values)) {
      for (const value of valuesWithText(text)) {
        const from = order.rankOf(value);
        const to = order.rankOf(value, true);
        if (to > from) ranges.push([from, to]);
      }
    }
    const run = ranges.length === 1 ? ranges[0]! : undefined;
    return {
      size: ranges.reduce((n, [from, to]) => n + to - from, 0),
      each: (visit) => ranges.every(([from, to]) => order.forEach(from, to, visit)),
      // one value: its entries are in id order
      ...(run ? { inKeyOrder: (position: number, visit: (id: number) => boolean) => order.forEach(run[0] + position, run[1], visit) } : {}),
    };
  }
}

/** A row of the user listing: what it sorts on, and the user. */
interface UserRow {
  userid: string;
  numberaccounts: number;
  lastlogin?: number;
  user: UserRecord;
}

/** The values an order may hold whose text (`asText`) is `text`: the string itself, and the number or boolean written so. */
function valuesWithText(text: string): Value[] {
  if (text === 'true') return [text, true];
  if (text === 'false') return [text, false];
  const n = Number(text);
  return text.trim() !== '' && Number.isFinite(n) && JSON.stringify(n) === text ? [text, n] : [text];
}

// ---- The store's indexes ------------------------------------------------------------------------

export class Indexes {
  private readonly servers = new Map<string, ServerIndex>();
  /** role → api keys of the role; role → api keys it made */
  private readonly keysOfRole = new Map<string, Many<string>>();
  private readonly keysMadeBy = new Map<string, Many<string>>();
  /** api key → its place in the document (the order it came in) */
  private readonly keyOrder = new Map<string, number>();
  private keysSeen = 0;
  /** roles whose permissions hold global root */
  private readonly rootRoles = new Set<string>();
  /** enrol codes (by their key in the document) in order of creation */
  private enrolCodes = new SortedList<string>();
  /** OIDC records by `serverid \0 field \0 value` → `model/id`; and by expiry (`serverid \0 model/id`) */
  private readonly oidcFields = new Map<string, Many<string>>();
  private oidcExpiry = new SortedList<string>();

  private constructor(private readonly doc: () => Data) {}

  /** The indexes of a document as it is (`doc` gives it at every read: they follow it). */
  static build(doc: () => Data): Indexes {
    const ix = new Indexes(doc);
    const data = doc();
    for (const serverid of new Set([...Object.keys(data.users), ...Object.keys(data.accounts)])) ix.server(serverid).build();
    for (const hash of Object.keys(data.apiKeys)) ix.apiKeyChanged(hash, undefined, data.apiKeys[hash]);
    for (const role of Object.keys(data.permissions)) ix.permissionsChanged(role, data.permissions[role]);
    for (const [serverid, records] of Object.entries(data.oidc)) for (const [leaf, r] of Object.entries(records)) ix.oidcChanged(serverid, leaf, undefined, r);
    const codes = Object.keys(data.enrolCodes);
    ix.enrolCodes = SortedList.of(
      codes.map((k) => orderValue(data.enrolCodes[k]!.created)),
      codes,
    );
    return ix;
  }

  private server(serverid: string): ServerIndex {
    let s = this.servers.get(serverid);
    if (!s) {
      s = new ServerIndex(
        () => ownValue(this.doc().users, serverid),
        () => ownValue(this.doc().accounts, serverid),
      );
      this.servers.set(serverid, s);
    }
    return s;
  }

  /** Follows one applied change: every record it touched, as it was and as the document now holds it. */
  update(changes: readonly RecordChange[]): void {
    const servers = new Map<
      string,
      { users: Map<string, [UserRecord | undefined, UserRecord | undefined]>; accounts: Array<[number, AccountRecord | undefined, AccountRecord | undefined]> }
    >();
    const of = (serverid: string) => {
      let s = servers.get(serverid);
      if (!s) servers.set(serverid, (s = { users: new Map(), accounts: [] }));
      return s;
    };
    for (const { kind, key, before, after } of changes) {
      if (before === after) continue;
      switch (kind) {
        case 'user':
          of(String(key[0])).users.set(String(key[1]), [before as UserRecord | undefined, after as UserRecord | undefined]);
          break;
        case 'account':
          of(String(key[0])).accounts.push([Number(key[1]), before as AccountRecord | undefined, after as AccountRecord | undefined]);
          break;
        case 'apiKey':
          this.apiKeyChanged(String(key[0]), before as ApiKeyRecord | undefined, after as ApiKeyRecord | undefined);
          break;
        case 'permissions':
          this.permissionsChanged(String(key[0]), after as PermissionsRecord | undefined);
          break;
        case 'oidc':
          this.oidcChanged(String(key[0]), `${key[1]}/${key[2]}`, before as OidcRecord | undefined, after as OidcRecord | undefined);
          break;
        case 'enrolCode': {
          const leaf = `${key[0]}:${key[1]}`;
          if (before) this.enrolCodes.remove(orderValue((before as EnrolCodeRecord).created), leaf);
          if (after) this.enrolCodes.insert(orderValue((after as EnrolCodeRecord).created), leaf);
          break;
        }
        default:
          break;
      }
    }
    for (const [serverid, { users, accounts }] of servers) this.server(serverid).apply(users, accounts);
  }

  private apiKeyChanged(hash: string, before: ApiKeyRecord | undefined, after: ApiKeyRecord | undefined): void {
    if (before) {
      removeMany(this.keysOfRole, before.role, hash);
      if (before.createdBy !== undefined) removeMany(this.keysMadeBy, before.createdBy, hash);
    }
    if (after) {
      addMany(this.keysOfRole, after.role, hash);
      if (after.createdBy !== undefined) addMany(this.keysMadeBy, after.createdBy, hash);
      if (!before) this.keyOrder.set(hash, this.keysSeen++);
    } else this.keyOrder.delete(hash);
  }

  private permissionsChanged(role: string, after: PermissionsRecord | undefined): void {
    if (ownValue(after, '*')?.includes('root')) this.rootRoles.add(role);
    else this.rootRoles.delete(role);
  }

  // ---- Reads ------------------------------------------------------------------------------------

  countAccounts(serverid: string): number {
    return this.servers.get(serverid)?.accountsBy.id.size ?? 0;
  }

  findAccountByPk(serverid: string, pk: string): AccountRecord | undefined {
    const ids = valuesOf(this.servers.get(serverid)?.byPk.get(pk));
    return ids.length ? ownValue(ownValue(this.doc().accounts, serverid), String(Math.min(...ids))) : undefined;
  }

  accountsOfUser(serverid: string, userid: string): AccountRecord[] {
    const accounts = ownValue(this.doc().accounts, serverid);
    return valuesOf(this.servers.get(serverid)?.byUser.get(userid))
      .sort((a, b) => a - b)
      .map((id) => ownValue(accounts, String(id))!);
  }

  listUsers(serverid: string, query: ListQuery): Page<UserSummary> {
    return this.servers.get(serverid)?.listUsers(query) ?? { items: [], totalnumber: 0 };
  }

  listAccounts(serverid: string, query: ListQuery, userid?: string): Page<AccountRecord> {
    return this.servers.get(serverid)?.listAccounts(query, userid) ?? { items: [], totalnumber: 0 };
  }

  apiKeysOf(role: string): Array<{ hash: string; key: ApiKeyRecord }> {
    const hashes = new Set([...valuesOf(this.keysMadeBy.get(role)), ...valuesOf(this.keysOfRole.get(role))]);
    const { apiKeys } = this.doc();
    return [...hashes].sort((a, b) => this.keyOrder.get(a)! - this.keyOrder.get(b)!).map((hash) => ({ hash, key: apiKeys[hash]! }));
  }

  hasRootKey(): boolean {
    for (const role of this.rootRoles) if (this.keysOfRole.has(role)) return true;
    return false;
  }

  /** The oldest enrol codes made before `before`, at most `limit`. */
  private oidcChanged(serverid: string, leaf: string, before: OidcRecord | undefined, after: OidcRecord | undefined): void {
    for (const field of OIDC_FIELDS) {
      if (before?.[field] !== undefined) removeMany(this.oidcFields, `${serverid}\0${field}\0${before[field]}`, leaf);
      if (after?.[field] !== undefined) addMany(this.oidcFields, `${serverid}\0${field}\0${after[field]}`, leaf);
    }
    if (before?.expiresAt !== undefined) this.oidcExpiry.remove(orderValue(before.expiresAt), `${serverid}\0${leaf}`);
    if (after?.expiresAt !== undefined) this.oidcExpiry.insert(orderValue(after.expiresAt), `${serverid}\0${leaf}`);
  }

  oidcBy(serverid: string, field: OidcField, value: string): Array<{ model: string; id: string; record: OidcRecord }> {
    const records = ownValue(this.doc().oidc, serverid);
    return valuesOf(this.oidcFields.get(`${serverid}\0${field}\0${value}`)).map((leaf) => {
      const cut = leaf.indexOf('/');
      return { model: leaf.slice(0, cut), id: leaf.slice(cut + 1), record: records![leaf]! };
    });
  }

  /** The OIDC records that expired before `before`, the first to expire first (at most `limit`), as keys. */
  expiredOidc(before: number, limit: number): Array<[serverid: string, model: string, id: string]> {
    const out: Array<[string, string, string]> = [];
    this.oidcExpiry.forEach(0, Math.min(this.oidcExpiry.rankOf(before), Math.max(0, limit)), (k) => {
      const [serverid, leaf] = k.split('\0') as [string, string];
      const cut = leaf.indexOf('/');
      out.push([serverid, leaf.slice(0, cut), leaf.slice(cut + 1)]);
      return true;
    });
    return out;
  }

  staleEnrolCodes(before: number, limit: number): EnrolCodeRecord[] {
    const { enrolCodes } = this.doc();
    const out: EnrolCodeRecord[] = [];
    this.enrolCodes.forEach(0, Math.min(this.enrolCodes.rankOf(before), Math.max(0, limit)), (key) => (out.push(enrolCodes[key]!), true));
    return out;
  }
}
