/**
 * The registry answers questions about durable things (servers, keys, users, accounts,
 * enrol codes, global attributes) and is the only writer of the store.
 */
import type { Limits } from '../../config.ts';
import { NsError } from '../../wire/errors.ts';

import type { Attributes, Store } from '../../ports.ts';
import { Access } from './access.ts';
import { Accounts } from './accounts.ts';
import { type AttributeChange, changedAttributes } from './attributes.ts';
import { Enrolment } from '../enrol/enrolment.ts';
import { Servers } from './servers.ts';
import { Users } from './users.ts';
import { OidcClients } from '../oidc/oidc-clients.ts';
import { DEFAULT_WEBHOOK_SETTINGS, Webhooks, type WebhookSettings } from '../events/webhooks.ts';

/** Which attribute bag of which owner. */
export type AttributeBag = { kind: 'global' } | { kind: 'server' | 'privileged'; serverid: string };

export class Registry {
  readonly access: Access;
  readonly servers: Servers;
  readonly accounts: Accounts;
  readonly users: Users;
  readonly enrolment: Enrolment;
  readonly webhooks: Webhooks;
  readonly oidcClients: OidcClients;

  constructor(
    readonly store: Store,
    limits: Pick<Limits, 'enrol' | 'challenge'>,
    webhooks: WebhookSettings = DEFAULT_WEBHOOK_SETTINGS,
  ) {
    this.access = new Access(store);
    this.servers = new Servers(store, this.access);
    this.accounts = new Accounts(store);
    this.users = new Users(store, this.accounts);
    this.enrolment = new Enrolment(store, limits);
    this.webhooks = new Webhooks(store, webhooks);
    this.oidcClients = new OidcClients(store);
  }

  /** The attributes of a bag (global, a server's or a server's privileged ones). */
  async attributes(bag: AttributeBag): Promise<Attributes> {
    if (bag.kind === 'global') return (await this.store.get('globalAttributes')) ?? {};
    const server = await this.servers.require(bag.serverid);
    return bag.kind === 'server' ? server.attributes : server.privilegedAttributes;
  }

  /** set (replace), update (merge), clear, or delete one key of a bag; 404 for an unknown key. */
  changeAttributes(bag: AttributeBag, how: AttributeChange, attrs: Attributes = {}): Promise<void> {
    return this.store.transact(async (tx) => {
      if (bag.kind === 'global') return tx.put('globalAttributes', [], changedAttributes((await tx.get('globalAttributes')) ?? {}, how, attrs));
      const server = await tx.get('server', bag.serverid);
      if (!server) throw new NsError('UNKNOWN_SERVER', `No server ${bag.serverid}`);
      const field = bag.kind === 'server' ? 'attributes' : 'privilegedAttributes';
      tx.patch('server', [bag.serverid], { [field]: changedAttributes(server[field], how, attrs) });
    });
  }
}
