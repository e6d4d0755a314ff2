/**
 * The registry answers questions about durable things (servers, keys, users, accounts,
 * enrol codes, global attributes) and is the only writer of the store.
 */
import type { Limits } from '../../config.ts';
import type { Attributes } from '../../adapters/lowdb/data.ts';
import type { Store } from '../../ports.ts';
import { Access } from './access.ts';
import { Accounts } from './accounts.ts';
import { checkAttributeExists, clearAttributes, setAttributes, updateAttributes } from './attributes.ts';
import { Enrolment } from '../enrol/enrolment.ts';
import { Servers } from './servers.ts';
import { Users } from './users.ts';

/** Which attribute bag of which owner. */
export type AttributeBag = { kind: 'global' } | { kind: 'server' | 'privileged'; serverid: string };

export class Registry {
  readonly access: Access;
  readonly servers: Servers;
  readonly accounts: Accounts;
  readonly users: Users;
  readonly enrolment: Enrolment;

  constructor(
    readonly store: Store,
    limits: Pick<Limits, 'enrol' | 'challenge'>,
  ) {
    this.access = new Access(store);
    this.servers = new Servers(store, this.access);
    this.accounts = new Accounts(store);
    this.users = new Users(store, this.accounts);
    this.enrolment = new Enrolment(store, limits);
  }

  /** The attributes of a bag (global, a server's or a server's privileged ones). */
  attributes(bag: AttributeBag): Attributes {
    if (bag.kind === 'global') return this.store.data.globalAttributes;
    const server = this.servers.require(bag.serverid);
    return bag.kind === 'server' ? server.attributes : server.privilegedAttributes;
  }

  /** set (replace), update (merge), clear, or delete one key of a bag; 404 for an unknown key. */
  changeAttributes(bag: AttributeBag, how: 'set' | 'update' | 'clear' | { delete: string }, attrs: Attributes = {}): Promise<void> {
    const current = this.attributes(bag);
    if (typeof how === 'object') checkAttributeExists(current, how.delete);
    return this.store.update((data) => {
      const target =
        bag.kind === 'global' ? data.globalAttributes : bag.kind === 'server' ? data.servers[bag.serverid]!.attributes : data.servers[bag.serverid]!.privilegedAttributes;
      if (how === 'set') setAttributes(target, attrs);
      else if (how === 'update') updateAttributes(target, attrs);
      else if (how === 'clear') clearAttributes(target);
      else delete target[how.delete];
    });
  }
}
