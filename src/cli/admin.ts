/**
 * The admin commands (server, key, user, account, webhook, events, oidc-client), on one of two backends:
 * - REST: a running server, with --url and --key (or NEXTAUTH_URL / NEXTAUTH_API_KEY);
 * - local: the data folder of a STOPPED server, opened through the registry. Refused while the
 *   run lock names a live process, since two writers on one JSON file lose data.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../config.ts';
import { NsError } from '../wire/errors.ts';
import { GLOBAL, PERMISSIONS, type Principal } from '../core/admin/access.ts';
import type { AccountView } from '../core/admin/accounts.ts';
import { checkAttributes } from '../core/admin/attributes.ts';
import { Registry } from '../core/admin/registry.ts';
import type { ServerView } from '../core/admin/servers.ts';
import type { UserView } from '../core/admin/users.ts';
import { listAuditEvents } from '../core/events/audit.ts';
import type { CloudEvent } from '../core/events/cloud-event.ts';
import { DEFAULT_WEBHOOK_SETTINGS, type WebhookInput, type WebhookView } from '../core/events/webhooks.ts';
import type { OidcClientInput, OidcClientView } from '../core/oidc/oidc-clients.ts';
import { keyViews, ROTATION, rotateOidcKeys, type SigningKeyView } from '../core/oidc/oidc-keys.ts';
import type { Attributes, DeliveryAttempt } from '../ports.ts';
import { auditQuery, type AuditQueryText } from '../transports/http/audit-query.ts';
import { LowdbStore } from '../adapters/lowdb/lowdb-store.ts';
import { RunLockError, acquireRunLock, removeRunLock } from '../adapters/lowdb/run-lock.ts';
import { OpError, UsageError, accountIdArg, checkFlags, flagValue, positionals, serverIdArg, switchOn, userIdArg, type Args } from './args.ts';
import { EVENT_COMMANDS } from './events.ts';
import { OIDC_COMMANDS } from './oidc.ts';
import { clean, fields, json, table, time } from './output.ts';

export interface NewKey {
  apikey: string;
  role: string;
  description: string;
  server?: string;
  permissions?: string[];
}

/** A webhook as createWebhook answers it: with its secret, this once. */
export type NewWebhook = WebhookView & { secret: string };

/** An OpenID Connect client as createOidcClient answers it: a confidential one with its secret, this once. */
export type NewOidcClient = OidcClientView & { secret?: string };

export interface EventsPage {
  items: CloudEvent[];
  next?: string;
}

export interface UserDetail {
  userid: string;
  numberaccounts: number;
  lastlogin?: number;
  attributes: Attributes;
  accounts: AccountView[];
}

/** What the commands need; one implementation per mode. Failures throw OpError or NsError. */
export interface Backend {
  createServer(name: string): Promise<ServerView>;
  listServers(): Promise<ServerView[]>;
  getServer(serverid: string): Promise<ServerView>;
  createKey(description: string, grant?: { server: string; permissions: string[] }): Promise<NewKey>;
  /** A new root key; the root keys the server made itself revoked (a stopped data folder only). */
  resetRootKey(): Promise<{ apikey: string; revoked: number }>;
  listUsers(serverid: string): Promise<UserView[]>;
  getUser(serverid: string, userid: string): Promise<UserDetail>;
  setUserAttributes(serverid: string, userid: string, attrs: Attributes): Promise<void>;
  listAccounts(serverid: string): Promise<AccountView[]>;
  setBlocked(serverid: string, id: number, blocked: boolean): Promise<AccountView>;
  deleteAccount(serverid: string, id: number): Promise<void>;
  createWebhook(serverid: string, input: WebhookInput): Promise<NewWebhook>;
  listWebhooks(serverid: string): Promise<WebhookView[]>;
  getWebhook(serverid: string, id: string): Promise<WebhookView>;
  updateWebhook(serverid: string, id: string, input: Partial<WebhookInput>): Promise<WebhookView>;
  rotateWebhook(serverid: string, id: string): Promise<{ secret: string; previousSecretUntil: number }>;
  deleteWebhook(serverid: string, id: string): Promise<void>;
  webhookAttempts(serverid: string, id: string): Promise<DeliveryAttempt[]>;
  /** The audit trail (getEvents), its query in text as REST takes it. */
  listEvents(serverid: string, query: AuditQueryText): Promise<EventsPage>;
  createOidcClient(serverid: string, input: OidcClientInput): Promise<NewOidcClient>;
  listOidcClients(serverid: string): Promise<OidcClientView[]>;
  deleteOidcClient(serverid: string, clientId: string): Promise<void>;
  rotateOidcKeys(serverid: string): Promise<SigningKeyView[]>;
  close(): Promise<void>;
}

function userDetail(userid: string, attributes: Attributes, accounts: AccountView[]): UserDetail {
  const last = Math.max(0, ...accounts.map((a) => a.lastlogin ?? 0));
  return { userid, numberaccounts: accounts.length, ...(last > 0 ? { lastlogin: last } : {}), attributes, accounts };
}

// ───────────────────────────── REST ─────────────────────────────

export class RestBackend implements Backend {
  constructor(
    readonly url: string,
    private readonly key: string,
  ) {}

  async call<T>(method: string, route: string, opts: { query?: Record<string, string>; body?: unknown } = {}): Promise<T> {
    const query = opts.query ? `?${new URLSearchParams(opts.query).toString()}` : '';
    const headers: Record<string, string> = { 'x-apikey': this.key };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.url + route + query, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new OpError('UNREACHABLE', `cannot reach ${this.url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    }
    const text = await res.text();
    let body: unknown = null;
    try {
      body = text === '' ? null : JSON.parse(text);
    } catch {
      body = text;
    }
    if (!res.ok) {
      const err = body as { code?: unknown; message?: unknown } | null;
      const code = typeof err?.code === 'string' ? err.code : `HTTP_${res.status}`;
      const message = typeof err?.message === 'string' ? err.message : `${method} ${route} answered ${res.status}`;
      throw new OpError(code, message);
    }
    return body as T;
  }

  private server = (serverid: string) => `/servers/${serverid}`;
  private user = (serverid: string, userid: string) => `${this.server(serverid)}/users/${encodeURIComponent(userid)}`;

  createServer(name: string) {
    return this.call<ServerView>('POST', '/servers/', { body: { serverName: name } });
  }

  async listServers() {
    return (await this.call<{ servers: ServerView[] }>('GET', '/servers/')).servers;
  }

  getServer(serverid: string) {
    return this.call<ServerView>('GET', `${this.server(serverid)}/`);
  }

  async createKey(description: string, grant?: { server: string; permissions: string[] }): Promise<NewKey> {
    // Check the server first, so an unknown one leaves no key without permissions behind.
    if (grant) await this.getServer(grant.server);
    const key = await this.call<NewKey>('POST', '/apikeys/', { query: { description } });
    if (!grant) return key;
    try {
      await this.call('POST', `${this.server(grant.server)}/permissions/${encodeURIComponent(key.role)}`, { body: grant.permissions });
    } catch (e) {
      if (!(e instanceof OpError)) throw e;
      throw new OpError(e.code, `${e.message} (the key of role ${key.role} was made, without permissions: ${key.apikey})`);
    }
    return { ...key, ...grant };
  }

  async resetRootKey(): Promise<never> {
    throw new UsageError(
      'key reset-root works on the data folder of a stopped server (--data), for a root key that is lost; a running server replaces a key with createApiKey, grantPermissions and deleteApiKey',
    );
  }

  async listUsers(serverid: string) {
    return (await this.call<{ users: UserView[] }>('GET', `${this.server(serverid)}/users/`)).users;
  }

  async getUser(serverid: string, userid: string) {
    const { accounts } = await this.call<{ accounts: AccountView[] }>('GET', `${this.user(serverid, userid)}/accounts`);
    const attributes = await this.call<Attributes>('GET', `${this.user(serverid, userid)}/attributes/`);
    return userDetail(userid, attributes, accounts);
  }

  async setUserAttributes(serverid: string, userid: string, attrs: Attributes) {
    await this.call('POST', `${this.user(serverid, userid)}/attributes/`, { body: attrs });
  }

  async listAccounts(serverid: string) {
    return (await this.call<{ accounts: AccountView[] }>('GET', `${this.server(serverid)}/accounts/`)).accounts;
  }

  setBlocked(serverid: string, id: number, blocked: boolean) {
    return this.call<AccountView>('PUT', `${this.server(serverid)}/accounts/${id}/`, { query: { blocked: String(blocked) } });
  }

  async deleteAccount(serverid: string, id: number) {
    await this.call('DELETE', `${this.server(serverid)}/accounts/${id}/`);
  }

  private webhook = (serverid: string, id: string) => `${this.server(serverid)}/webhooks/${encodeURIComponent(id)}`;

  createWebhook(serverid: string, input: WebhookInput) {
    return this.call<NewWebhook>('POST', `${this.server(serverid)}/webhooks`, { body: input });
  }

  async listWebhooks(serverid: string) {
    return (await this.call<{ webhooks: WebhookView[] }>('GET', `${this.server(serverid)}/webhooks`)).webhooks;
  }

  getWebhook(serverid: string, id: string) {
    return this.call<WebhookView>('GET', this.webhook(serverid, id));
  }

  updateWebhook(serverid: string, id: string, input: Partial<WebhookInput>) {
    return this.call<WebhookView>('PATCH', this.webhook(serverid, id), { body: input });
  }

  rotateWebhook(serverid: string, id: string) {
    return this.call<{ secret: string; previousSecretUntil: number }>('POST', `${this.webhook(serverid, id)}/rotate`);
  }

  async deleteWebhook(serverid: string, id: string) {
    await this.call('DELETE', this.webhook(serverid, id));
  }

  async webhookAttempts(serverid: string, id: string) {
    return (await this.call<{ attempts: DeliveryAttempt[] }>('GET', `${this.webhook(serverid, id)}/attempts`)).attempts;
  }

  listEvents(serverid: string, q: AuditQueryText) {
    const query: Record<string, string> = {};
    for (const [name, value] of Object.entries(q)) {
      if (value !== undefined) query[name] = Array.isArray(value) ? value.join(',') : String(value);
    }
    return this.call<EventsPage>('GET', `${this.server(serverid)}/events`, { query });
  }

  createOidcClient(serverid: string, input: OidcClientInput) {
    return this.call<NewOidcClient>('POST', `${this.server(serverid)}/oidc/clients`, { body: input });
  }

  async listOidcClients(serverid: string) {
    return (await this.call<{ clients: OidcClientView[] }>('GET', `${this.server(serverid)}/oidc/clients`)).clients;
  }

  async rotateOidcKeys(serverid: string) {
    return (await this.call<{ keys: SigningKeyView[] }>('POST', `${this.server(serverid)}/oidc/keys/rotate`)).keys;
  }

  async deleteOidcClient(serverid: string, clientId: string) {
    await this.call('DELETE', `${this.server(serverid)}/oidc/clients/${encodeURIComponent(clientId)}`);
  }

  async close() {}
}

// ───────────────────────────── local store ─────────────────────────────

/** How long a command waits for another command that works on the same data folder (ms; tests shorten it). */
const BUSY_WAIT_MS = (() => {
  const n = Number(process.env.NEXTAUTH_CLI_BUSY_WAIT_MS);
  return Number.isFinite(n) && n >= 0 ? n : 5000;
})();

export class LocalBackend implements Backend {
  private constructor(
    private readonly store: LowdbStore,
    readonly registry: Registry,
    private readonly dataDir: string,
    /** The NS's public URL: the `source` of the audit trail's CloudEvents. */
    private readonly publicUrl: string,
  ) {}

  /**
   * Opens the store of a stopped server, holding the run lock while it works. Refuses while a
   * server (or another command) holds the folder, and (unless `create`) when the folder holds no
   * data, so a mistyped --data does not make an empty store.
   */
  static async open(config: Config, create: boolean): Promise<LocalBackend> {
    const { dataDir } = config;
    if (!create && !existsSync(path.join(dataDir, 'nextauth.json'))) {
      throw new OpError('NO_DATA', `no nextAuth data in ${dataDir}: give --data <folder>, or --url and --key for a running server`);
    }
    // Another command's turn is short: wait for it (a while); a server's is not.
    for (const deadline = Date.now() + BUSY_WAIT_MS; ; ) {
      try {
        await acquireRunLock(dataDir, '', 'cli');
        break;
      } catch (e) {
        if (!(e instanceof RunLockError)) throw e;
        const { lock } = e;
        if (lock.by !== 'cli') {
          throw new OpError('SERVER_RUNNING', `a server (pid ${lock.pid}) is running on the data folder ${dataDir}: use --url ${lock.url} --key <apikey>, or stop it first`);
        }
        if (Date.now() > deadline) throw new OpError('DATA_BUSY', e.message);
        await new Promise((resolve) => setTimeout(resolve, 25 + Math.random() * 50));
      }
    }
    try {
      const store = await LowdbStore.open(dataDir);
      const registry = new Registry(store, config.limits, { ...DEFAULT_WEBHOOK_SETTINGS, perServer: config.events.webhooksPerServer });
      return new LocalBackend(store, registry, dataDir, config.publicUrl);
    } catch (e) {
      await removeRunLock(dataDir);
      throw e;
    }
  }

  async createServer(name: string) {
    return this.registry.servers.view(await this.registry.servers.create({ serverName: name }));
  }

  async listServers() {
    return Promise.all((await this.registry.servers.list()).map((s) => this.registry.servers.view(s)));
  }

  async getServer(serverid: string) {
    return this.registry.servers.view(await this.registry.servers.require(serverid));
  }

  /**
   * The key is made on behalf of the global root role (so the root key lists it in getApiKeys),
   * or of the pseudo role "cli" when the folder has no root key yet.
   */
  async createKey(description: string, grant?: { server: string; permissions: string[] }): Promise<NewKey> {
    if (grant) await this.registry.servers.require(grant.server);
    const root = (await this.registry.store.permissionsOn(GLOBAL)).find((p) => p.acl.includes('root'))?.role;
    const principal: Principal = { role: root ?? 'cli', keyRole: root ?? 'cli' };
    const key = await this.registry.access.createApiKey(principal, description);
    if (!grant) return key;
    await this.registry.access.grant(grant.server, key.role, grant.permissions);
    return { ...key, ...grant };
  }

  async resetRootKey() {
    return this.registry.access.resetRootKey();
  }

  async listUsers(serverid: string) {
    await this.registry.servers.require(serverid);
    return (await this.registry.users.list(serverid, {})).users;
  }

  async getUser(serverid: string, userid: string) {
    await this.registry.servers.require(serverid);
    const { accounts } = await this.registry.users.accountsOf(serverid, userid, {});
    return userDetail(userid, await this.registry.users.attributes(serverid, userid), accounts);
  }

  async setUserAttributes(serverid: string, userid: string, attrs: Attributes) {
    await this.registry.servers.require(serverid);
    await this.registry.users.setAttributes(serverid, userid, checkAttributes(attrs));
  }

  async listAccounts(serverid: string) {
    await this.registry.servers.require(serverid);
    return (await this.registry.accounts.list(serverid, {})).accounts;
  }

  async setBlocked(serverid: string, id: number, blocked: boolean) {
    await this.registry.servers.require(serverid);
    return this.registry.accounts.view(await this.registry.accounts.setBlocked(serverid, id, blocked));
  }

  async deleteAccount(serverid: string, id: number) {
    await this.registry.servers.require(serverid);
    await this.registry.accounts.delete(serverid, id);
  }

  async createWebhook(serverid: string, input: WebhookInput) {
    await this.registry.servers.require(serverid);
    const { webhook, secret } = await this.registry.webhooks.create(serverid, input);
    return { ...webhook, secret };
  }

  async listWebhooks(serverid: string) {
    await this.registry.servers.require(serverid);
    return this.registry.webhooks.list(serverid);
  }

  async getWebhook(serverid: string, id: string) {
    await this.registry.servers.require(serverid);
    return this.registry.webhooks.get(serverid, id);
  }

  async updateWebhook(serverid: string, id: string, input: Partial<WebhookInput>) {
    await this.registry.servers.require(serverid);
    return this.registry.webhooks.update(serverid, id, input);
  }

  async rotateWebhook(serverid: string, id: string) {
    await this.registry.servers.require(serverid);
    return this.registry.webhooks.rotate(serverid, id);
  }

  async deleteWebhook(serverid: string, id: string) {
    await this.registry.servers.require(serverid);
    await this.registry.webhooks.delete(serverid, id);
  }

  async webhookAttempts(serverid: string, id: string) {
    await this.registry.servers.require(serverid);
    return this.registry.webhooks.attempts(serverid, id);
  }

  async listEvents(serverid: string, q: AuditQueryText) {
    await this.registry.servers.require(serverid);
    return listAuditEvents(this.registry.store, serverid, auditQuery(q), this.publicUrl);
  }

  async createOidcClient(serverid: string, input: OidcClientInput) {
    await this.registry.servers.require(serverid);
    const { client, secret } = await this.registry.oidcClients.create(serverid, input);
    return secret === undefined ? client : { ...client, secret };
  }

  async listOidcClients(serverid: string) {
    await this.registry.servers.require(serverid);
    return this.registry.oidcClients.list(serverid);
  }

  async deleteOidcClient(serverid: string, clientId: string) {
    await this.registry.servers.require(serverid);
    await this.registry.oidcClients.delete(serverid, clientId);
  }

  async rotateOidcKeys(serverid: string) {
    await this.registry.servers.require(serverid);
    return keyViews((await rotateOidcKeys(this.registry.store, serverid, ROTATION)).keys);
  }

  async close() {
    try {
      await this.store.close();
    } finally {
      await removeRunLock(this.dataDir);
    }
  }
}

// ───────────────────────────── commands ─────────────────────────────

/** Flags every admin command takes. */
const COMMON = ['url', 'key', 'data', 'json', 'help'];

export type Run = (b: Backend) => Promise<{ data: unknown; text: string }>;

export interface Command {
  args: string[];
  flags?: string[];
  /** May make the data folder (local mode). */
  creates?: boolean;
  /** Checks the arguments (UsageError) before any backend is opened, and returns the work. */
  prepare(args: string[], flags: ReadonlyMap<string, string>): Run;
}

const serverText = (s: ServerView) =>
  fields([
    ['serverid', s.serverid],
    ['name', s.serverName],
    ['serverpk', s.serverpk],
    ['accounts', s.accountCount],
    ['last login', time(s.lastLogin)],
    ['pinTimeout', s.pinTimeout],
    ['pingTime', s.pingTime],
    ['flags', s.serverFlags.join(',')],
    ...(['appname', 'appurl', 'siteurl', 'wsurl'] as const).filter((k) => s[k] !== undefined).map((k): [string, string] => [k, String(s[k])]),
  ]);

const accountRows = (accounts: AccountView[]) =>
  table(
    ['ID', 'USERID', 'DESCRIPTION', 'BLOCKED', 'CREATED', 'LAST LOGIN'],
    accounts.map((a) => [a.id, a.userid, a.description, a.blocked ? 'yes' : 'no', time(a.created), time(a.lastlogin)]),
  );

function parseJsonObject(text: string, name: string): Attributes {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${name}: not JSON (${(e as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`${name}: must be a JSON object`);
  return value as Attributes;
}

export const COMMANDS: Record<string, Command> = {
  'server create': {
    args: [],
    flags: ['name'],
    creates: true,
    prepare(_args, flags) {
      const name = flagValue(flags, 'name');
      if (name === undefined) throw new UsageError('server create: --name is required');
      return async (b) => {
        const s = await b.createServer(name);
        return { data: s, text: `Server created: ${s.serverid}\n${serverText(s)}` };
      };
    },
  },
  'server list': {
    args: [],
    prepare: () => async (b) => {
      const servers = await b.listServers();
      return {
        data: servers,
        text: table(
          ['SERVERID', 'NAME', 'ACCOUNTS', 'LAST LOGIN'],
          servers.map((s) => [s.serverid, s.serverName, s.accountCount, time(s.lastLogin)]),
        ),
      };
    },
  },
  'server show': {
    args: ['<serverid>'],
    prepare([serverid]) {
      const sid = serverIdArg(serverid!);
      return async (b) => {
        const s = await b.getServer(sid);
        return { data: s, text: serverText(s) };
      };
    },
  },
  'key create': {
    args: [],
    flags: ['description', 'server', 'permissions'],
    prepare(_args, flags) {
      const description = flagValue(flags, 'description');
      if (description === undefined) throw new UsageError('key create: --description is required');
      const server = flagValue(flags, 'server');
      const perms = flagValue(flags, 'permissions');
      if ((server === undefined) !== (perms === undefined)) throw new UsageError('key create: --server and --permissions go together');
      let grant: { server: string; permissions: string[] } | undefined;
      if (server !== undefined && perms !== undefined) {
        const permissions = [
          ...new Set(
            perms
              .split(',')
              .map((p) => p.trim())
              .filter(Boolean),
          ),
        ];
        if (permissions.length === 0) throw new UsageError('--permissions: give at least one');
        for (const p of permissions) {
          if (!(PERMISSIONS as readonly string[]).includes(p)) throw new UsageError(`--permissions: "${p}" is not one of ${PERMISSIONS.join(', ')}`);
        }
        grant = { server: serverIdArg(server, '--server'), permissions };
      }
      return async (b) => {
        const key = await b.createKey(description, grant);
        return {
          data: key,
          text:
            `Api key (shown once, keep it safe): ${key.apikey}\n` +
            fields([
              ['role', key.role],
              ['description', key.description],
              ['permissions', key.server ? `${key.permissions!.join(',')} on server ${key.server}` : 'none yet (grant them with grantPermissions)'],
            ]),
        };
      };
    },
  },
  'key reset-root': {
    args: [],
    prepare() {
      return async (b) => {
        const { apikey, revoked } = await b.resetRootKey();
        return {
          data: { apikey, revoked },
          text: `Root api key (shown once, keep it safe): ${apikey}\n${revoked === 1 ? 'The old root key is' : `${revoked} old root keys are`} revoked.\n`,
        };
      };
    },
  },
  'user list': {
    args: ['<serverid>'],
    prepare([serverid]) {
      const sid = serverIdArg(serverid!);
      return async (b) => {
        const users = await b.listUsers(sid);
        return {
          data: users,
          text: table(
            ['USERID', 'ACCOUNTS', 'LAST LOGIN'],
            users.map((u) => [u.userid, u.numberaccounts, time(u.lastlogin)]),
          ),
        };
      };
    },
  },
  'user show': {
    args: ['<serverid>', '<userid>'],
    prepare([serverid, userid]) {
      const sid = serverIdArg(serverid!);
      const uid = userIdArg(userid!);
      return async (b) => {
        const u = await b.getUser(sid, uid);
        const text =
          fields([
            ['userid', u.userid],
            ['last login', time(u.lastlogin)],
            ['attributes', JSON.stringify(u.attributes)],
          ]) +
          `\naccounts (${u.numberaccounts}):\n` +
          accountRows(u.accounts);
        return { data: u, text };
      };
    },
  },
  'user set-attributes': {
    args: ['<serverid>', '<userid>', '<json>'],
    prepare([serverid, userid, attrs]) {
      const sid = serverIdArg(serverid!);
      const uid = userIdArg(userid!);
      const attributes = parseJsonObject(attrs!, '<json>');
      return async (b) => {
        await b.setUserAttributes(sid, uid, attributes);
        return { data: { userid: uid, attributes }, text: `Attributes of user ${clean(uid)} set.\n` };
      };
    },
  },
  'account list': {
    args: ['<serverid>'],
    prepare([serverid]) {
      const sid = serverIdArg(serverid!);
      return async (b) => {
        const accounts = await b.listAccounts(sid);
        return { data: accounts, text: accountRows(accounts) };
      };
    },
  },
  'account block': {
    args: ['<serverid>', '<accountid>'],
    flags: ['unblock'],
    prepare([serverid, id], flags) {
      const sid = serverIdArg(serverid!);
      const n = accountIdArg(id!);
      const blocked = !switchOn(flags, 'unblock');
      return async (b) => {
        const account = await b.setBlocked(sid, n, blocked);
        return { data: account, text: `Account ${account.id} ${account.blocked ? 'blocked' : 'unblocked'}.\n` };
      };
    },
  },
  'account delete': {
    args: ['<serverid>', '<accountid>'],
    prepare([serverid, id]) {
      const sid = serverIdArg(serverid!);
      const n = accountIdArg(id!);
      return async (b) => {
        await b.deleteAccount(sid, n);
        return { data: { id: n, deleted: true }, text: `Account ${n} deleted.\n` };
      };
    },
  },
  ...EVENT_COMMANDS,
  ...OIDC_COMMANDS,
};

/** The backend the flags and environment ask for. */
export async function backendFor(flags: ReadonlyMap<string, string>, create: boolean, env: NodeJS.ProcessEnv = process.env): Promise<Backend> {
  const flagUrl = flagValue(flags, 'url');
  const flagKey = flagValue(flags, 'key');
  // An explicit --data means the local store, whatever NEXTAUTH_URL says.
  if (flags.has('data') && (flagUrl !== undefined || flagKey !== undefined)) {
    throw new UsageError('--data excludes --url and --key: --data works on a stopped server, --url and --key on a running one');
  }
  const url = flags.has('data') ? undefined : (flagUrl ?? (env.NEXTAUTH_URL || undefined));
  if (url === undefined) {
    if (flagKey !== undefined) throw new UsageError('--key needs --url (or NEXTAUTH_URL)');
    return LocalBackend.open(loadConfig(flags, env), create);
  }
  const key = flagKey ?? (env.NEXTAUTH_API_KEY || undefined);
  if (key === undefined) throw new UsageError('--url needs --key (or NEXTAUTH_API_KEY)');
  let base: URL;
  try {
    base = new URL(url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error();
  } catch {
    throw new UsageError(`--url: "${url}" is not an http(s) URL`);
  }
  return new RestBackend(base.href.replace(/\/+$/, ''), key);
}

/** Runs `nextauth <group> <sub> …` (or a command of one word: `nextauth events …`); returns the text to print. */
export async function runAdmin(group: string, a: Args): Promise<string> {
  const single = Object.hasOwn(COMMANDS, group);
  const [sub, ...rest] = a.rest.slice(1);
  const name = single ? group : `${group} ${sub ?? ''}`.trim();
  const args = single ? a.rest.slice(1) : rest;
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    const known = Object.keys(COMMANDS)
      .filter((c) => c.startsWith(`${group} `))
      .map((c) => c.split(' ')[1]);
    throw new UsageError(`${sub === undefined ? `${group}: missing subcommand` : `unknown subcommand "${name}"`} (known: ${known.join(', ')})`);
  }
  checkFlags(a.flags, [...COMMON, ...(command.flags ?? [])], name);
  positionals(args, command.args, name);
  const asJson = switchOn(a.flags, 'json');
  const run = command.prepare(args, a.flags);
  const backend = await backendFor(a.flags, command.creates ?? false);
  try {
    const { data, text } = await run(backend);
    return asJson ? json(data) : text;
  } catch (e) {
    if (e instanceof NsError) throw new OpError(e.code, e.message);
    throw e;
  } finally {
    await backend.close();
  }
}
