/**
 * Accounts: one app instance's keypair for one user on one server. Enrolment makes them
 * (`createInChange`); REST lists, reads, blocks, re-links and deletes them.
 */
import { EventEmitter } from 'node:events';
import { NsError } from '../../wire/errors.ts';
import type { AccountRecord, Data } from '../../adapters/lowdb/data.ts';
import type { Store } from '../../ports.ts';
import { matches, own, page, parseFilter, putOwn, sortItems, type ListQuery } from './query.ts';

/** The 2.2 `Account` as REST shows it. */
export interface AccountView {
  id: number;
  description: string;
  userid?: string;
  blocked: boolean;
  clientVersion?: string;
  created: number;
  lastlogin?: number;
  lastprovoke?: number;
}

export const ACCOUNT_COLUMNS = ['id', 'description', 'userid', 'blocked', 'clientVersion', 'created', 'lastlogin', 'lastprovoke'] as const;

export type SecondFactor = 'none' | 'pin' | 'biometric';

export interface NewAccount {
  pk: string;
  pkx?: string;
  description: string;
  clientVersion?: string;
  userid?: string;
  secondFactor: SecondFactor;
}

/** What sessions and live connections must hear about. */
export interface AccountEvents {
  /** blocked, or deleted */
  revoked: [serverid: string, id: number, reason: 'blocked' | 'deleted'];
  /** re-linked to another user */
  relinked: [serverid: string, id: number, userid: string];
}

export const isValidUserid = (userid: unknown): userid is string => typeof userid === 'string' && userid.length >= 1 && userid.length <= 256;

export class Accounts {
  readonly events = new EventEmitter<AccountEvents>();

  constructor(private readonly store: Store) {}

  get(serverid: string, id: number): AccountRecord | undefined {
    const accounts = this.store.data.accounts[serverid];
    return accounts && Object.hasOwn(accounts, id) ? accounts[id] : undefined;
  }

  require(serverid: string, id: number): AccountRecord {
    const account = this.get(serverid, id);
    if (!account) throw new NsError('UNKNOWN_ACCOUNT', `No account ${id} on this server`);
    return account;
  }

  all(serverid: string): AccountRecord[] {
    return Object.values(this.store.data.accounts[serverid] ?? {});
  }

  ofUser(serverid: string, userid: string): AccountRecord[] {
    return this.all(serverid).filter((a) => a.userid === userid);
  }

  view(a: AccountRecord): AccountView {
    const v: AccountView = { id: a.id, description: a.description, blocked: a.blocked, created: a.created };
    if (a.userid !== undefined) v.userid = a.userid;
    if (a.clientVersion !== undefined) v.clientVersion = a.clientVersion;
    if (a.lastlogin !== undefined) v.lastlogin = a.lastlogin;
    if (a.lastprovoke !== undefined) v.lastprovoke = a.lastprovoke;
    return v;
  }

  /** getAllAccounts / getUser: filter on account fields, then on the user's attributes. */
  list(serverid: string, q: ListQuery, userid?: string): { accounts: AccountView[]; totalnumber: number } {
    const conditions = parseFilter(q.filter);
    const users = this.store.data.users[serverid] ?? {};
    let views = (userid === undefined ? this.all(serverid) : this.ofUser(serverid, userid)).map((a) => this.view(a));
    views = views.filter((v) =>
      matches(conditions, (key) =>
        (ACCOUNT_COLUMNS as readonly string[]).includes(key)
          ? (v as unknown as Record<string, unknown>)[key]
          : v.userid !== undefined
            ? own(own(users, v.userid)?.attributes, key)
            : undefined,
      ),
    );
    views = sortItems(views, q.sort, ACCOUNT_COLUMNS, 'id');
    const { items, totalnumber } = page(views, q);
    return { accounts: items, totalnumber };
  }

  /** Makes an account inside a change (enrolment), with the next id of its server. */
  createInChange(data: Data, serverid: string, input: NewAccount, at: number): AccountRecord {
    const server = data.servers[serverid];
    if (!server) throw new NsError('UNKNOWN_SERVER');
    const account: AccountRecord = {
      id: server.nextAccountId,
      description: input.description,
      blocked: false,
      created: at,
      lastlogin: at,
      pk: input.pk,
    };
    if (input.pkx !== undefined) account.pkx = input.pkx;
    if (input.clientVersion !== undefined) account.clientVersion = input.clientVersion;
    if (input.secondFactor !== 'none') account.lastSecondFactor = at;
    server.nextAccountId++;
    server.lastLogin = at;
    (data.accounts[serverid] ??= {})[account.id] = account;
    if (input.userid !== undefined) this.linkInChange(data, serverid, account, input.userid, at);
    return account;
  }

  /**
   * Records a login: lastlogin, the second factor, the server's lastLogin. Resolves when on
   * disk. Patched in place (two journal lines), not a whole-file write: it is on every login.
   */
  recordLogin(serverid: string, id: number, secondFactor: SecondFactor, at: number): Promise<void> {
    if (!this.get(serverid, id)) return Promise.reject(new NsError('UNKNOWN_ACCOUNT'));
    return Promise.all([
      this.store.patch(['accounts', serverid, String(id)], { lastlogin: at, ...(secondFactor !== 'none' ? { lastSecondFactor: at } : {}) }),
      this.store.patch(['servers', serverid], { lastLogin: at }),
    ]).then(() => undefined);
  }

  async setBlocked(serverid: string, id: number, blocked: boolean): Promise<AccountRecord> {
    this.require(serverid, id);
    const account = await this.store.update((data) => {
      const a = data.accounts[serverid]![id]!;
      a.blocked = blocked;
      return a;
    });
    if (blocked) this.events.emit('revoked', serverid, id, 'blocked');
    return account;
  }

  /** updateAccountUser: links the account to `userid` (made if new). */
  async setUser(serverid: string, id: number, userid: string): Promise<AccountRecord> {
    if (!isValidUserid(userid)) throw new NsError('INVALID_USERID');
    this.require(serverid, id);
    const account = await this.store.update((data) => {
      const a = data.accounts[serverid]![id]!;
      this.linkInChange(data, serverid, a, userid, Date.now());
      return a;
    });
    this.events.emit('relinked', serverid, id, userid);
    return account;
  }

  linkInChange(data: Data, serverid: string, account: AccountRecord, userid: string, at: number): void {
    const users = (data.users[serverid] ??= {});
    if (!Object.hasOwn(users, userid)) putOwn(users, userid, { userid, attributes: {}, created: at });
    account.userid = userid;
  }

  async delete(serverid: string, id: number): Promise<void> {
    this.require(serverid, id);
    await this.store.update((data) => {
      delete data.accounts[serverid]![id];
    });
    this.events.emit('revoked', serverid, id, 'deleted');
  }

  /** Removes every account of the user inside a change (deleteUser); returns their ids, to `announceRevoked` once on disk. */
  removeOfUserInChange(data: Data, serverid: string, userid: string): number[] {
    const accounts = data.accounts[serverid];
    if (!accounts) return [];
    const ids = Object.values(accounts)
      .filter((a) => a.userid === userid)
      .map((a) => a.id);
    for (const id of ids) delete accounts[id];
    return ids;
  }

  /** Tells sessions and live connections that these accounts can no longer log in. */
  announceRevoked(serverid: string, ids: readonly number[], reason: 'blocked' | 'deleted'): void {
    for (const id of ids) this.events.emit('revoked', serverid, id, reason);
  }

  /** deleteUserAccounts / deleteUser: every account of the user; returns their ids. */
  async deleteOfUser(serverid: string, userid: string): Promise<number[]> {
    const ids = this.ofUser(serverid, userid).map((a) => a.id);
    if (ids.length === 0) return ids;
    await this.store.update((data) => {
      for (const id of ids) delete data.accounts[serverid]![id];
    });
    for (const id of ids) this.events.emit('revoked', serverid, id, 'deleted');
    return ids;
  }
}
