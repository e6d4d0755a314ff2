/**
 * Accounts: one app instance's keypair for one user on one server. Enrolment makes them
 * (`createInChange`); REST lists, reads, blocks, re-links and deletes them. A change's last
 * parameter, `source`, is the address of the client that asked: its events carry it.
 */
import { newEvent } from '../events/new-event.ts';
import { EventEmitter } from 'node:events';
import { NsError } from '../../wire/errors.ts';
import { ACCOUNT_COLUMNS, type AccountRecord, type Store, type StoreTx } from '../../ports.ts';
import { type ListParams, listQuery } from './query.ts';

/** The 2.2 `Account` as REST shows it: the record without its keys and second-factor time. */
export type AccountView = Omit<AccountRecord, 'pk' | 'pkx' | 'lastSecondFactor'>;

export { ACCOUNT_COLUMNS };

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
  revoked: [serverid: string, id: number, reason: 'blocked' | 'deleted', userid: string | undefined];
  /** re-linked to another user */
  relinked: [serverid: string, id: number, userid: string];
  /** made by an enrolment (its record is durable) */
  enrolled: [serverid: string, id: number];
  /** a login's times (`recordLogin`) could not be written: taken back out */
  unwritten: [serverid: string, id: number, error: unknown];
}

export const isValidUserid = (userid: unknown): userid is string => typeof userid === 'string' && userid.length >= 1 && userid.length <= 256;

export class Accounts {
  readonly events = new EventEmitter<AccountEvents>();

  constructor(private readonly store: Store) {}

  get(serverid: string, id: number): Promise<AccountRecord | undefined> {
    return this.store.get('account', serverid, id);
  }

  async require(serverid: string, id: number): Promise<AccountRecord> {
    const account = await this.get(serverid, id);
    if (!account) throw new NsError('UNKNOWN_ACCOUNT', `No account ${id} on this server`);
    return account;
  }

  ofUser(serverid: string, userid: string): Promise<AccountRecord[]> {
    return this.store.accountsOfUser(serverid, userid);
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
  async list(serverid: string, q: ListParams, userid?: string): Promise<{ accounts: AccountView[]; totalnumber: number }> {
    const { items, totalnumber } = await this.store.listAccounts(serverid, listQuery(q, ACCOUNT_COLUMNS), userid);
    return { accounts: items.map((a) => this.view(a)), totalnumber };
  }

  /** Makes an account inside a change (enrolment), with the next id of its server. */
  async createInChange(tx: StoreTx, serverid: string, input: NewAccount, at: number): Promise<AccountRecord> {
    const server = await tx.get('server', serverid);
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
    if (input.userid !== undefined) {
      await linkInChange(tx, serverid, input.userid, at);
      account.userid = input.userid;
    }
    tx.patch('server', [serverid], { nextAccountId: server.nextAccountId + 1, lastLogin: at });
    tx.put('account', [serverid, account.id], account);
    return account;
  }

  /**
   * Records a login: lastlogin, the second factor, the server's lastLogin. Resolves once made
   * (every read sees it), not once durable: nothing acknowledged depends on it, so it is written
   * with the store's next write or within 50 ms (`TransactOptions.written`), and the login waits
   * for one write to the disk (its saved session), not two. A crash in between loses those
   * times; a lost `lastSecondFactor` asks for the second factor again. A write that fails is
   * told as `unwritten`.
   */
  recordLogin(serverid: string, id: number, secondFactor: SecondFactor, at: number): Promise<void> {
    return this.store.transact(
      async (tx) => {
        if (!(await tx.get('account', serverid, id))) throw new NsError('UNKNOWN_ACCOUNT');
        tx.patch('account', [serverid, id], { lastlogin: at, ...(secondFactor !== 'none' ? { lastSecondFactor: at } : {}) });
        if (await tx.get('server', serverid)) tx.patch('server', [serverid], { lastLogin: at });
      },
      {
        written: (error) => {
          if (error !== undefined) this.events.emit('unwritten', serverid, id, error);
        },
      },
    );
  }

  async setBlocked(serverid: string, id: number, blocked: boolean, source?: string): Promise<AccountRecord> {
    const account = await this.store.transact(async (tx) => {
      const a = await tx.get('account', serverid, id);
      if (!a) throw new NsError('UNKNOWN_ACCOUNT', `No account ${id} on this server`);
      tx.patch('account', [serverid, id], { blocked });
      if (a.blocked !== blocked)
        tx.emit(
          newEvent(
            blocked ? 'com.nextauth.account.blocked' : 'com.nextauth.account.unblocked',
            serverid,
            { account: id, userid: a.userid, source, subject: `account/${id}` },
            Date.now(),
          ),
        );
      return { ...a, blocked };
    });
    if (blocked) this.events.emit('revoked', serverid, id, 'blocked', account.userid);
    return account;
  }

  /** updateAccountUser: links the account to `userid` (made if new). */
  async setUser(serverid: string, id: number, userid: string, source?: string): Promise<AccountRecord> {
    if (!isValidUserid(userid)) throw new NsError('INVALID_USERID');
    const account = await this.store.transact(async (tx) => {
      const a = await tx.get('account', serverid, id);
      if (!a) throw new NsError('UNKNOWN_ACCOUNT', `No account ${id} on this server`);
      await linkInChange(tx, serverid, userid, Date.now());
      tx.patch('account', [serverid, id], { userid });
      tx.emit(
        newEvent(
          'com.nextauth.account.relinked',
          serverid,
          { account: id, userid, source, subject: `account/${id}`, data: a.userid !== undefined ? { previousUserid: a.userid } : {} },
          Date.now(),
        ),
      );
      return { ...a, userid };
    });
    this.events.emit('relinked', serverid, id, userid);
    return account;
  }

  async delete(serverid: string, id: number, source?: string): Promise<void> {
    const userid = await this.store.transact(async (tx) => {
      const a = await tx.get('account', serverid, id);
      if (!a) throw new NsError('UNKNOWN_ACCOUNT', `No account ${id} on this server`);
      tx.delete('account', [serverid, id]);
      tx.emit(newEvent('com.nextauth.account.deleted', serverid, { account: id, userid: a.userid, source, subject: `account/${id}` }, Date.now()));
      return a.userid;
    });
    this.events.emit('revoked', serverid, id, 'deleted', userid);
  }

  /** Removes every account of the user inside a change (deleteUser); returns their ids, to `announceRevoked` once durable. */
  async removeOfUserInChange(tx: StoreTx, serverid: string, userid: string, source?: string): Promise<number[]> {
    const ids = (await this.store.accountsOfUser(serverid, userid)).map((a) => a.id);
    for (const id of ids) {
      tx.delete('account', [serverid, id]);
      tx.emit(newEvent('com.nextauth.account.deleted', serverid, { account: id, userid, source, subject: `account/${id}` }, Date.now()));
    }
    return ids;
  }

  /** Tells sessions and live connections that these accounts can no longer log in. */
  announceRevoked(serverid: string, ids: readonly number[], reason: 'blocked' | 'deleted', userid: string | undefined): void {
    for (const id of ids) this.events.emit('revoked', serverid, id, reason, userid);
  }

  /** deleteUserAccounts / deleteUser: every account of the user; returns their ids. */
  async deleteOfUser(serverid: string, userid: string, source?: string): Promise<number[]> {
    const ids = await this.store.transact((tx) => this.removeOfUserInChange(tx, serverid, userid, source));
    this.announceRevoked(serverid, ids, 'deleted', userid);
    return ids;
  }
}

/** Makes the user if it does not exist yet (linking an account to it), inside a change. */
export async function linkInChange(tx: StoreTx, serverid: string, userid: string, at: number): Promise<void> {
  if (!(await tx.get('user', serverid, userid))) tx.put('user', [serverid, userid], { userid, attributes: {}, created: at });
}
