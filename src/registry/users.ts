/**
 * Users: a userid of the relying party's choosing, with attributes and, on request, a role.
 * A user exists once attributes are set for it or an account is linked to it.
 */
import { NsError } from '../errors.ts';
import { newRoleId } from '../crypto/ids.ts';
import type { Attributes, UserRecord } from '../store/data.ts';
import type { Store } from '../store/store.ts';
import type { Accounts } from './accounts.ts';
import { checkAttributeExists, clearAttributes, setAttributes, updateAttributes } from './attributes.ts';
import { matches, page, parseFilter, sortItems, type ListQuery } from './query.ts';

/** The 2.2 `User`. */
export interface UserView {
  userid: string;
  lastlogin?: number;
  numberaccounts: number;
}

export const USER_COLUMNS = ['userid', 'lastlogin', 'numberaccounts'] as const;

export class Users {
  constructor(
    private readonly store: Store,
    private readonly accounts: Accounts,
  ) {}

  get(serverid: string, userid: string): UserRecord | undefined {
    const users = this.store.data.users[serverid];
    return users && Object.hasOwn(users, userid) ? users[userid] : undefined;
  }

  require(serverid: string, userid: string): UserRecord {
    const user = this.get(serverid, userid);
    if (!user) throw new NsError('UNKNOWN_USER', `No user "${userid}" on this server`);
    return user;
  }

  view(serverid: string, user: UserRecord): UserView {
    const accounts = this.accounts.ofUser(serverid, user.userid);
    const v: UserView = { userid: user.userid, numberaccounts: accounts.length };
    const last = Math.max(...accounts.map((a) => a.lastlogin ?? 0));
    if (last > 0) v.lastlogin = last;
    return v;
  }

  /** getUsers: filter on attributes, search in the userid, sort, page. */
  list(serverid: string, q: ListQuery): { users: UserView[]; totalnumber: number } {
    const conditions = parseFilter(q.filter);
    const search = q.search?.toLowerCase();
    const users = Object.values(this.store.data.users[serverid] ?? {}).filter(
      (u) => (search === undefined || u.userid.toLowerCase().includes(search)) && matches(conditions, (key) => u.attributes[key]),
    );
    const views = sortItems(users.map((u) => this.view(serverid, u)), q.sort ?? 'userid', USER_COLUMNS);
    const { items, totalnumber } = page(views, q);
    return { users: items, totalnumber };
  }

  /** setUserAttributes: replaces them; makes the user if new. */
  setAttributes(serverid: string, userid: string, attrs: Attributes): Promise<void> {
    return this.store.update((data) => {
      const users = (data.users[serverid] ??= {});
      const user = Object.hasOwn(users, userid) ? users[userid]! : (users[userid] = { userid, attributes: {}, created: Date.now() });
      setAttributes(user.attributes, attrs);
    });
  }

  updateAttributes(serverid: string, userid: string, attrs: Attributes): Promise<void> {
    this.require(serverid, userid);
    return this.store.update((data) => updateAttributes(data.users[serverid]![userid]!.attributes, attrs));
  }

  clearAttributes(serverid: string, userid: string): Promise<void> {
    this.require(serverid, userid);
    return this.store.update((data) => clearAttributes(data.users[serverid]![userid]!.attributes));
  }

  deleteAttribute(serverid: string, userid: string, key: string): Promise<void> {
    checkAttributeExists(this.require(serverid, userid).attributes, key);
    return this.store.update((data) => {
      delete data.users[serverid]![userid]!.attributes[key];
    });
  }

  /** deleteUser: the user, its attributes, its role and its accounts. */
  async delete(serverid: string, userid: string): Promise<void> {
    const user = this.require(serverid, userid);
    await this.accounts.deleteOfUser(serverid, userid);
    await this.store.update((data) => {
      delete data.users[serverid]![userid];
      if (user.role) {
        delete data.roles[user.role];
        delete data.permissions[user.role];
        for (const [hash, key] of Object.entries(data.apiKeys)) if (key.role === user.role) delete data.apiKeys[hash];
      }
    });
  }

  /** getUserRole: the user's role, or 404 when it has none. */
  role(serverid: string, userid: string): string {
    const role = this.require(serverid, userid).role;
    if (!role) throw new NsError('UNKNOWN_ROLE', `User "${userid}" has no role`);
    return role;
  }

  /** getOrCreateUserRole */
  async getOrCreateRole(serverid: string, userid: string): Promise<string> {
    const user = this.require(serverid, userid);
    if (user.role) return user.role;
    const role = newRoleId();
    await this.store.update((data) => {
      data.roles[role] = { description: `user ${userid}`, created: Date.now(), user: { serverid, userid } };
      data.users[serverid]![userid]!.role = role;
    });
    return role;
  }
}
