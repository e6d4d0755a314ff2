/**
 * Users: a userid of the relying party's choosing, with attributes and, on request, a role.
 * A user exists once attributes are set for it or an account is linked to it, and until it is
 * deleted (losing its last account does not delete it).
 */
import { NsError } from '../../wire/errors.ts';
import { newRoleId } from '../crypto/ids.ts';
import type { AccountRecord, Attributes, Data, UserRecord } from '../../adapters/lowdb/data.ts';
import type { Store } from '../../ports.ts';
import type { AccountView, Accounts } from './accounts.ts';
import { checkAttributeExists, clearAttributes, setAttributes, updateAttributes } from './attributes.ts';
import { matches, own, page, parseFilter, putOwn, sortItems, type ListQuery } from './query.ts';

/** The 2.2 `User`. */
export interface UserView {
  userid: string;
  lastlogin?: number;
  numberaccounts: number;
}

export const USER_COLUMNS = ['userid', 'lastlogin', 'numberaccounts'] as const;

/** numberaccounts and lastlogin of one user, from its accounts. */
function aggregate(user: UserRecord, accounts: readonly AccountRecord[]): UserView {
  const v: UserView = { userid: user.userid, numberaccounts: accounts.length };
  let last = 0;
  for (const a of accounts) if (a.lastlogin !== undefined && a.lastlogin > last) last = a.lastlogin;
  if (last > 0) v.lastlogin = last;
  return v;
}

export class Users {
  constructor(
    private readonly store: Store,
    private readonly accounts: Accounts,
  ) {}

  get(serverid: string, userid: string): UserRecord | undefined {
    return own(this.store.data.users[serverid], userid);
  }

  require(serverid: string, userid: string): UserRecord {
    const user = this.get(serverid, userid);
    if (!user) throw new NsError('UNKNOWN_USER', `No user "${userid.slice(0, 64)}" on this server`);
    return user;
  }

  view(serverid: string, user: UserRecord): UserView {
    return aggregate(user, this.accounts.ofUser(serverid, user.userid));
  }

  /** getUsers: filter on the users' attributes, search in the userid (case-insensitive), sort, page. */
  list(serverid: string, q: ListQuery): { users: UserView[]; totalnumber: number } {
    const conditions = parseFilter(q.filter);
    const search = q.search?.toLowerCase();
    const users = Object.values(this.store.data.users[serverid] ?? {}).filter(
      (u) => (search === undefined || u.userid.toLowerCase().includes(search)) && matches(conditions, (key) => own(u.attributes, key)),
    );
    // One pass over the accounts for all users, not one per user.
    const byUser = new Map<string, AccountRecord[]>();
    for (const a of this.accounts.all(serverid)) {
      if (a.userid === undefined) continue;
      const list = byUser.get(a.userid);
      if (list) list.push(a);
      else byUser.set(a.userid, [a]);
    }
    const views = sortItems(
      users.map((u) => aggregate(u, byUser.get(u.userid) ?? [])),
      q.sort,
      USER_COLUMNS,
      'userid',
    );
    const { items, totalnumber } = page(views, q);
    return { users: items, totalnumber };
  }

  /** getUser: the accounts of a user (sort and page; 404 for an unknown user). */
  accountsOf(serverid: string, userid: string, q: Pick<ListQuery, 'sort' | 'limit' | 'marker'>): { accounts: AccountView[]; totalnumber: number } {
    this.require(serverid, userid);
    return this.accounts.list(serverid, { sort: q.sort, limit: q.limit, marker: q.marker }, userid);
  }

  /** deleteUserAccounts: every account of the user goes; the user stays. Returns the ids. */
  deleteAccounts(serverid: string, userid: string): Promise<number[]> {
    this.require(serverid, userid);
    return this.accounts.deleteOfUser(serverid, userid);
  }

  /** The user's attributes (404 for an unknown user). */
  attributes(serverid: string, userid: string): Attributes {
    return this.require(serverid, userid).attributes;
  }

  /** setUserAttributes: replaces them; makes the user if new. */
  setAttributes(serverid: string, userid: string, attrs: Attributes): Promise<void> {
    return this.store.update((data) => {
      if (!data.servers[serverid]) throw new NsError('UNKNOWN_SERVER');
      const users = (data.users[serverid] ??= {});
      const user = own(users, userid) ?? putOwn(users, userid, { userid, attributes: {}, created: Date.now() });
      setAttributes(user.attributes, attrs);
    });
  }

  /** updateUserAttributes: merges them (404 for an unknown user). */
  updateAttributes(serverid: string, userid: string, attrs: Attributes): Promise<void> {
    this.require(serverid, userid);
    return this.store.update((data) => updateAttributes(this.inChange(data, serverid, userid).attributes, attrs));
  }

  clearAttributes(serverid: string, userid: string): Promise<void> {
    this.require(serverid, userid);
    return this.store.update((data) => clearAttributes(this.inChange(data, serverid, userid).attributes));
  }

  /** deleteUserAttribute: 404 UNKNOWN_USER or UNKNOWN_ATTRIBUTE. */
  deleteAttribute(serverid: string, userid: string, key: string): Promise<void> {
    checkAttributeExists(this.require(serverid, userid).attributes, key);
    return this.store.update((data) => {
      delete this.inChange(data, serverid, userid).attributes[key];
    });
  }

  /**
   * deleteUser: the user, its attributes, its role (with the role's keys and permissions) and its
   * accounts, in one change. The accounts are announced as revoked once it is on disk.
   */
  async delete(serverid: string, userid: string): Promise<void> {
    this.require(serverid, userid);
    const ids = await this.store.update((data) => {
      const user = this.inChange(data, serverid, userid);
      const ids = this.accounts.removeOfUserInChange(data, serverid, userid);
      delete data.users[serverid]![userid];
      if (user.role) {
        delete data.roles[user.role];
        delete data.permissions[user.role];
        for (const [hash, key] of Object.entries(data.apiKeys)) if (key.role === user.role) delete data.apiKeys[hash];
      }
      return ids;
    });
    this.accounts.announceRevoked(serverid, ids, 'deleted');
  }

  /** getUserRole: the user's role, or 404 when it has none. */
  role(serverid: string, userid: string): string {
    const role = this.require(serverid, userid).role;
    if (!role) throw new NsError('UNKNOWN_ROLE', `User "${userid.slice(0, 64)}" has no role`);
    return role;
  }

  /** getOrCreateUserRole */
  async getOrCreateRole(serverid: string, userid: string): Promise<string> {
    const user = this.require(serverid, userid);
    if (user.role) return user.role;
    const role = newRoleId();
    await this.store.update((data) => {
      data.roles[role] = { description: `user ${userid}`, created: Date.now(), user: { serverid, userid } };
      this.inChange(data, serverid, userid).role = role;
    });
    return role;
  }

  /** The user inside a change; it throws before anything is mutated when the user has gone. */
  private inChange(data: Data, serverid: string, userid: string): UserRecord {
    const user = own(data.users[serverid], userid);
    if (!user) throw new NsError('UNKNOWN_USER', `No user "${userid.slice(0, 64)}" on this server`);
    return user;
  }
}
