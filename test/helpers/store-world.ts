/**
 * Random users, accounts, attributes, api keys, permissions and enrol codes, random changes of
 * them (creates, attribute changes, logins, relinks, deletes) and random 2.2 listing queries, for
 * the tests that compare a store's listings with a reference (test/adapters/…/listings.test.ts).
 * Seeded: the same seed, the same records, changes and queries.
 */
import type { Data } from '../../src/adapters/lowdb/data.ts';
import { ACCOUNT_COLUMNS, type AccountRecord, type ApiKeyRecord, type EnrolCodeRecord, type ListQuery, type StoreTx, USER_COLUMNS, type UserRecord } from '../../src/ports.ts';

const asText = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
const ownValue = <V>(obj: Record<string, V> | undefined, key: string): V | undefined => (obj !== undefined && Object.hasOwn(obj, key) ? obj[key] : undefined);
const values = <V>(container: Record<string, V> | undefined): V[] => (container ? Object.values(container) : []);
const accountsOf = (data: Data, serverid: string): AccountRecord[] => values(ownValue(data.accounts, serverid));

export const SERVERS = ['s1', 's2'];
export const TEAMS = ['red', 'blue', 'green', 'Red', 'black'];
export const TAGS = Array.from({ length: 12 }, (_, i) => `tag${i}`);
export const DESCRIPTIONS = ['phone', 'tablet', 'Pixel', 'iPhone', ''];
export const VERSIONS = ['1.0', '1.2', '2.0', '10.1'];
export const ROLES = Array.from({ length: 25 }, (_, i) => `role${i}`);

export class World {
  next = { user: 0, account: new Map<string, number>(), key: 0, code: 0 };
  constructor(readonly rnd: () => number) {}

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rnd() * items.length)]!;
  }
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }

  userid(): string {
    const n = this.next.user++;
    if (this.chance(0.01)) return this.pick(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'Ärger', 'İstanbul']);
    const base = this.pick(['user', 'User', 'ann', 'BOB', 'carl.x', 'dé']);
    return `${base}${n}`;
  }

  attributes(): Record<string, unknown> {
    const a: Record<string, unknown> = {};
    if (this.chance(0.85)) a.team = this.pick(TEAMS);
    if (this.chance(0.6)) a.level = this.int(8);
    if (this.chance(0.5)) a.vip = this.chance(0.2);
    if (this.chance(0.4)) a.tag = this.pick(TAGS);
    if (this.chance(0.5)) a.email = `m${this.int(100000)}@example.org`;
    if (this.chance(0.05)) a.team = null;
    if (this.chance(0.05)) a.obj = { a: this.int(2) };
    if (this.chance(0.03)) Object.defineProperty(a, '__proto__', { value: 'p', enumerable: true, writable: true, configurable: true });
    if (this.chance(0.05)) a.level = String(this.int(8));
    return a;
  }

  user(userid: string): UserRecord {
    return { userid, attributes: this.attributes(), created: this.int(1000) };
  }

  account(id: number, userids: readonly string[]): AccountRecord {
    const a: AccountRecord = { id, description: this.pick(DESCRIPTIONS), blocked: this.chance(0.2), created: 1000 + this.int(500), pk: `pk${this.int(1_000_000)}` };
    if (userids.length && this.chance(0.85)) a.userid = this.pick(userids);
    else if (this.chance(0.5)) a.userid = `ghost${this.int(20)}`;
    if (this.chance(0.7)) a.clientVersion = this.pick(VERSIONS);
    if (this.chance(0.8)) a.lastlogin = this.chance(0.05) ? 0 : 5000 + this.int(300);
    if (this.chance(0.3)) a.lastprovoke = 7000 + this.int(50);
    return a;
  }

  apiKey(): ApiKeyRecord {
    const k: ApiKeyRecord = { role: this.pick(ROLES), description: 'k', created: this.int(100), hint: 'nak_' };
    if (this.chance(0.7)) k.createdBy = this.pick(ROLES);
    return k;
  }

  enrolCode(serverid: string): EnrolCodeRecord {
    return { serverid, hsid: `h${this.next.code++}`, name: 'n', created: this.int(2000) };
  }

  nextId(serverid: string): number {
    const id = (this.next.account.get(serverid) ?? 0) + 1;
    this.next.account.set(serverid, id);
    return id;
  }

  /** The keys the changes pick from: the document's at the start of a batch, and those made since. */
  keys = { users: new Map<string, string[]>(), accounts: new Map<string, number[]>(), codes: [] as Array<[string, string]>, hashes: [] as string[] };
  /** Each user's accounts at the start of the batch. */
  accountsOfUser = new Map<string, number[]>();

  startBatch(data: Data): void {
    this.accountsOfUser.clear();
    for (const serverid of SERVERS) {
      this.keys.users.set(serverid, Object.keys(ownValue(data.users, serverid) ?? {}));
      this.keys.accounts.set(serverid, Object.keys(ownValue(data.accounts, serverid) ?? {}).map(Number));
      for (const a of accountsOf(data, serverid)) {
        if (a.userid === undefined) continue;
        const k = `${serverid} ${a.userid}`;
        this.accountsOfUser.set(k, [...(this.accountsOfUser.get(k) ?? []), a.id]);
      }
    }
    this.keys.codes = values(data.enrolCodes).map((c) => [c.serverid, c.hsid]);
    this.keys.hashes = Object.keys(data.apiKeys);
  }

  /** Random changes inside one transaction; a key picked that is gone by now is passed over. */
  async change(tx: StoreTx, size: number): Promise<void> {
    for (let i = 0; i < size; i++) {
      const serverid = this.pick(SERVERS);
      const users = this.keys.users.get(serverid)!;
      const accounts = this.keys.accounts.get(serverid)!;
      const user = async () => {
        const userid = users.length ? this.pick(users) : undefined;
        return userid !== undefined && (await tx.get('user', serverid, userid)) ? userid : undefined;
      };
      const account = async () => {
        const id = accounts.length ? this.pick(accounts) : undefined;
        return id !== undefined && (await tx.get('account', serverid, id)) ? id : undefined;
      };
      const r = this.rnd();
      if (r < 0.1) {
        const userid = this.userid();
        tx.put('user', [serverid, userid], this.user(userid));
        users.push(userid);
      } else if (r < 0.2) {
        const userid = await user();
        if (userid !== undefined) tx.patch('user', [serverid, userid], { attributes: this.attributes() });
      } else if (r < 0.25) {
        const userid = await user();
        if (userid === undefined) continue;
        tx.delete('user', [serverid, userid]);
        if (this.chance(0.5)) {
          for (const id of this.accountsOfUser.get(`${serverid} ${userid}`) ?? []) {
            if ((await tx.get('account', serverid, id))?.userid === userid) tx.delete('account', [serverid, id]);
          }
        }
      } else if (r < 0.35) {
        const id = this.nextId(serverid);
        tx.put('account', [serverid, id], this.account(id, users));
        accounts.push(id);
      } else if (r < 0.6) {
        // a login: lastlogin moves (mostly up)
        const id = await account();
        if (id !== undefined) tx.patch('account', [serverid, id], { lastlogin: this.chance(0.9) ? 5300 + this.int(1000) : this.int(10) });
      } else if (r < 0.68) {
        const id = await account();
        if (id === undefined) continue;
        let userid = this.chance(0.1) ? this.userid() : this.chance(0.1) ? undefined : await user();
        if (userid !== undefined && this.chance(0.05)) userid = `ghost${this.int(20)}`;
        if (userid !== undefined && !(await tx.get('user', serverid, userid)) && this.chance(0.7)) {
          tx.put('user', [serverid, userid], this.user(userid));
          users.push(userid);
        }
        tx.patch('account', [serverid, id], { userid });
      } else if (r < 0.74) {
        const id = await account();
        if (id === undefined) continue;
        const fields: Partial<AccountRecord> = this.pick([
          { blocked: this.chance(0.5) },
          { description: this.pick(DESCRIPTIONS) },
          { clientVersion: this.chance(0.3) ? undefined : this.pick(VERSIONS) },
          { lastlogin: undefined },
          { lastprovoke: 7000 + this.int(80) },
          { pk: `pk${this.int(50)}` },
        ]);
        tx.patch('account', [serverid, id], fields);
      } else if (r < 0.8) {
        const id = await account();
        if (id !== undefined) tx.delete('account', [serverid, id]);
      } else if (r < 0.86) {
        const { hashes } = this.keys;
        const k = this.rnd();
        if (hashes.length && k < 0.3) tx.delete('apiKey', [this.pick(hashes)]);
        else if (hashes.length && k < 0.5) tx.put('apiKey', [this.pick(hashes)], this.apiKey());
        else {
          const hash = `k${this.next.key++}`;
          tx.put('apiKey', [hash], this.apiKey());
          hashes.push(hash);
        }
      } else if (r < 0.9) {
        const role = this.pick(ROLES);
        if (this.chance(0.3)) tx.delete('permissions', [role]);
        else tx.put('permissions', [role], this.chance(0.15) ? { '*': ['root'] } : { [serverid]: ['users'] });
      } else if (r < 0.95) {
        const code = this.enrolCode(serverid);
        tx.put('enrolCode', [serverid, code.hsid], code);
        this.keys.codes.push([serverid, code.hsid]);
      } else if (this.keys.codes.length) {
        const [s, hsid] = this.pick(this.keys.codes);
        if (!(await tx.get('enrolCode', s, hsid))) continue;
        if (this.chance(0.7)) tx.delete('enrolCode', [s, hsid]);
        else tx.patch('enrolCode', [s, hsid], { created: this.int(2000) });
      }
    }
  }

  /** A random listing query (users or accounts). */
  query(kind: 'users' | 'accounts', data: Data, serverid: string, total: number): ListQuery {
    const q: ListQuery = {};
    const users = values(ownValue(data.users, serverid));
    const accounts = accountsOf(data, serverid);
    const attributeValue = (key: string): string => {
      const u = users.length ? this.pick(users) : undefined;
      const v = u ? ownValue(u.attributes, key) : undefined;
      return v === undefined || this.chance(0.1) ? this.pick(['nothing', 'null', '1', 'true', '']) : asText(v);
    };
    const columnValue = (key: string): string => {
      const a = accounts.length ? this.pick(accounts) : undefined;
      const v = a ? (a as unknown as Record<string, unknown>)[key] : undefined;
      return v === undefined || this.chance(0.1) ? this.pick(['nothing', '1', '1.0', 'true', 'false', '5000']) : asText(v);
    };
    const conditions = this.chance(0.35) ? 0 : this.chance(0.6) ? 1 : 1 + this.int(3);
    if (conditions) {
      q.filter = Array.from({ length: conditions }, () => {
        const onColumn = kind === 'accounts' && this.chance(0.5);
        const key = onColumn ? this.pick(ACCOUNT_COLUMNS) : this.pick(['team', 'team', 'level', 'vip', 'tag', 'email', 'obj', 'nope', '__proto__']);
        const n = this.chance(0.6) ? 1 : 1 + this.int(4);
        return { key, values: Array.from({ length: n }, () => (onColumn ? columnValue(key) : attributeValue(key))) };
      });
    }
    if (kind === 'users' && this.chance(0.25)) {
      const u = users.length ? this.pick(users).userid : 'x';
      const from = this.int(u.length);
      const part = u.slice(from, from + 1 + this.int(3));
      q.search = this.chance(0.1) ? '' : this.chance(0.5) ? part.toUpperCase() : part;
    }
    const columns: readonly string[] = kind === 'users' ? USER_COLUMNS : ACCOUNT_COLUMNS;
    const keys = this.chance(0.25) ? 0 : this.chance(0.6) ? 1 : 2 + this.int(2);
    if (keys || this.chance(0.5))
      q.sort = Array.from({ length: keys }, () => ({ column: this.chance(0.02) && kind === 'accounts' ? 'pk' : this.pick(columns), desc: this.chance(0.5) }));
    const r = this.rnd();
    if (r < 0.4) q.marker = 0;
    else if (r < 0.8) q.marker = this.int(Math.max(1, total + 5));
    else if (r < 0.98) q.marker = this.int(30);
    else q.marker = -this.int(5) - 1;
    const l = this.rnd();
    if (l < 0.3) q.limit = 10;
    else if (l < 0.5) q.limit = this.int(100);
    else if (l < 0.6) q.limit = 0;
    else if (l < 0.8) q.limit = 1 + this.int(3);
    return q;
  }
}
