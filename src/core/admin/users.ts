/**
 * Users: a userid of the relying party's choosing, with attributes and, on request, a role.
 * A user exists once attributes are set for it or an account is linked to it, and until it is
 * deleted (losing its last account does not delete it).
 */
import { NsError } from '../../wire/errors.ts';
import { newRoleId } from '../crypto/ids.ts';
import { type Attributes, type Store, type StoreTx, USER_COLUMNS, type UserRecord } from '../../ports.ts';
import type { AccountView, Accounts } from './accounts.ts';
import { type AttributeChange, changedAttributes } from './attributes.ts';
import { type ListParams, listQuery } from './query.ts';

/** The 2.2 `User`. */
export interface UserView {
  userid: string;
  lastlogin?: number;
  numberaccounts: number;
}

export { USER_COLUMNS };

const unknownUser = (userid: string) => new NsError('UNKNOWN_USER', `No user "${userid.slice(0, 64)}" on this server`);

export class Users {
  constructor(
    private readonly store: Store,
    private readonly accounts: Accounts,
  ) {}

  get(serverid: string, userid: string): Promise<UserRecord | undefined> {
    return this.store.get('user', serverid, userid);
  }

  async require(serverid: string, userid: string): Promise<UserRecord> {
    const user = await this.get(serverid, userid);
    if (!user) throw unknownUser(userid);
    return user;
  }

  /** getUsers: filter on the users' attributes, search in the userid (case-insensitive), sort, page. */
  async list(serverid: string, q: ListParams): Promise<{ users: UserView[]; totalnumber: number }> {
    const { items, totalnumber } = await this.store.listUsers(serverid, listQuery(q, USER_COLUMNS));
    return {
      users: items.map((u) => ({ userid: u.user.userid, ...(u.lastlogin !== undefined ? { lastlogin: u.lastlogin } : {}), numberaccounts: u.numberaccounts })),
      totalnumber,
    };
  }

  /** getUser: the accounts of a user (sort and page; 404 for an unknown user). */
  async accountsOf(serverid: string, userid: string, q: Pick<ListParams, 'sort' | 'limit' | 'marker'>): Promise<{ accounts: AccountView[]; totalnumber: number }> {
    await this.require(serverid, userid);
    return this.accounts.list(
      serverid,
      { ...(q.sort !== undefined ? { sort: q.sort } : {}), ...(q.limit !== undefined ? { limit: q.limit } : {}), ...(q.marker !== undefined ? { marker: q.marker } : {}) },
      userid,
    );
  }

  /** deleteUserAccounts: every account of the user goes; the user stays. Returns the ids. `source`: the asking client's address, for their events. */
  async deleteAccounts(serverid: string, userid: string, source?: string): Promise<number[]> {
    await this.require(serverid, userid);
    return this.accounts.deleteOfUser(serverid, userid, source);
  }

  /** The user's attributes (404 for an unknown user). */
  async attributes(serverid: string, userid: string): Promise<Attributes> {
    return (await this.require(serverid, userid)).attributes;
  }

  /** setUserAttributes: replaces them; makes the user if new. */
  setAttributes(serverid: string, userid: string, attrs: Attributes): Promise<void> {
    return this.store.transact(async (tx) => {
      if (!(await tx.get('server', serverid))) throw new NsError('UNKNOWN_SERVER');
      const user = await tx.get('user', serverid, userid);
      if (user) tx.patch('user', [serverid, userid], { attributes: attrs });
      else tx.put('user', [serverid, userid], { userid, attributes: attrs, created: Date.now() });
    });
  }

  /** updateUserAttributes (merge), clearUserAttributes, deleteUserAttribute: 404 UNKNOWN_USER or UNKNOWN_ATTRIBUTE. */
  changeAttributes(serverid: string, userid: string, how: Exclude<AttributeChange, 'set'>, attrs: Attributes = {}): Promise<void> {
    return this.store.transact(async (tx) => {
      const user = await inChange(tx, serverid, userid);
      tx.patch('user', [serverid, userid], { attributes: changedAttributes(user.attributes, how, attrs) });
    });
  }

  /**
   * deleteUser: the user, its attributes, its role (with the role's keys and permissions) and its
   * accounts, in one change. The accounts are announced as revoked once it is durable; their
   * events carry `source`, the asking client's address.
   */
  async delete(serverid: string, userid: string, source?: string): Promise<void> {
    const ids = await this.store.transact(async (tx) => {
      const user = await inChange(tx, serverid, userid);
      const ids = await this.accounts.removeOfUserInChange(tx, serverid, userid, source);
      tx.delete('user', [serverid, userid]);
      if (user.role) {
        tx.delete('role', [user.role]);
        tx.delete('permissions', [user.role]);
        for (const { hash, key } of await this.store.apiKeysOf(user.role)) if (key.role === user.role) tx.delete('apiKey', [hash]);
      }
      return ids;
    });
    this.accounts.announceRevoked(serverid, ids, 'deleted', userid);
  }

  /** getUserRole: the user's role, or 404 when it has none. */
  async role(serverid: string, userid: string): Promise<string> {
    const role = (await this.require(serverid, userid)).role;
    if (!role) throw new NsError('UNKNOWN_ROLE', `User "${userid.slice(0, 64)}" has no role`);
    return role;
  }

  /** getOrCreateUserRole */
  async getOrCreateRole(serverid: string, userid: string): Promise<string> {
    return this.store.transact(async (tx) => {
      const user = await inChange(tx, serverid, userid);
      if (user.role) return user.role;
      const role = newRoleId();
      tx.put('role', [role], { description: `user ${userid}`, created: Date.now(), user: { serverid, userid } });
      tx.patch('user', [serverid, userid], { role });
      return role;
    });
  }
}

/** The user inside a change; 404 when it has gone. */
async function inChange(tx: StoreTx, serverid: string, userid: string): Promise<UserRecord> {
  const user = await tx.get('user', serverid, userid);
  if (!user) throw unknownUser(userid);
  return user;
}
