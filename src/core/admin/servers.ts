/**
 * Virtual servers: their public configuration (2.2 `Server`), their Ed25519 key and session
 * secret (which never leave the process), and their attribute bags.
 */
import { NsError } from '../../wire/errors.ts';
import { newSecret, newServerId } from '../crypto/ids.ts';
import { generateSigningKey } from '../crypto/keys.ts';
import type { Data, ServerRecord } from '../../adapters/lowdb/data.ts';
import type { Store } from '../../ports.ts';
import { GLOBAL, type Access, type Principal } from './access.ts';

/** The fields a caller may set (createServer / updateServer). */
export interface ServerInput {
  serverName?: string;
  logo?: string;
  appname?: string;
  appurl?: string;
  appandroid?: string;
  appios?: string;
  siteurl?: string;
  wsurl?: string;
  owner?: number;
  pinTimeout?: number;
  pinTransTimeout?: number;
  pingTime?: number;
  serverFlags?: string[];
}

/** The 2.2 `Server` as REST shows it. */
export interface ServerView extends Omit<ServerInput, 'serverName' | 'logo'> {
  serverid: string;
  serverpk: string;
  serverName: string;
  logo: string;
  pinTimeout: number;
  pinTransTimeout: number;
  pingTime: number;
  serverFlags: string[];
  accountCount: number;
  lastLogin?: number;
}

export const SERVER_FLAGS = ['numbermatch'] as const;

const EDITABLE = [
  'serverName',
  'logo',
  'appname',
  'appurl',
  'appandroid',
  'appios',
  'siteurl',
  'wsurl',
  'owner',
  'pinTimeout',
  'pinTransTimeout',
  'pingTime',
  'serverFlags',
] as const satisfies ReadonlyArray<keyof ServerInput>;

export class Servers {
  constructor(
    private readonly store: Store,
    private readonly access: Access,
  ) {}

  get(serverid: string): ServerRecord | undefined {
    return Object.hasOwn(this.store.data.servers, serverid) ? this.store.data.servers[serverid] : undefined;
  }

  /** The server, or 404 UNKNOWN_SERVER. */
  require(serverid: string): ServerRecord {
    const server = this.get(serverid);
    if (!server) throw new NsError('UNKNOWN_SERVER', `No server ${serverid}`);
    return server;
  }

  list(): ServerRecord[] {
    return Object.values(this.store.data.servers);
  }

  accountCount(serverid: string): number {
    const accounts = this.store.data.accounts[serverid];
    return accounts ? Object.keys(accounts).length : 0;
  }

  view(server: ServerRecord): ServerView {
    const view: ServerView = {
      serverid: server.serverid,
      serverpk: server.publicKey,
      serverName: server.serverName,
      logo: server.logo,
      pinTimeout: server.pinTimeout,
      pinTransTimeout: server.pinTransTimeout,
      pingTime: server.pingTime,
      serverFlags: [...server.serverFlags],
      accountCount: this.accountCount(server.serverid),
    };
    for (const key of ['appname', 'appurl', 'appandroid', 'appios', 'siteurl', 'wsurl', 'owner', 'lastLogin'] as const) {
      if (server[key] !== undefined) (view as unknown as Record<string, unknown>)[key] = server[key];
    }
    return view;
  }

  /** createServer; the creating role gets root on the new server (unless it is global root already). */
  async create(input: ServerInput, creator?: Principal): Promise<ServerRecord> {
    checkServerInput(input);
    if (!input.serverName) throw new NsError('BAD_REQUEST', 'body/serverName: required');
    const key = generateSigningKey();
    const server: ServerRecord = {
      serverid: newServerId(),
      serverName: input.serverName,
      logo: '',
      pinTimeout: -1,
      pinTransTimeout: 0,
      pingTime: 0,
      serverFlags: [],
      created: Date.now(),
      publicKey: key.publicKey,
      secretKey: key.secretKey,
      sessionSecret: newSecret(),
      nextAccountId: 1,
      attributes: {},
      privilegedAttributes: {},
    };
    assign(server, input);
    await this.store.update((data) => {
      data.servers[server.serverid] = server;
      data.accounts[server.serverid] = {};
      data.users[server.serverid] = {};
      if (creator && !this.access.has(creator, 'root')) this.access.grantInChange(data, creator.role, server.serverid, ['root']);
    });
    return server;
  }

  /** updateServer: every editable field given is replaced; serverid and keys never change. */
  async update(serverid: string, input: ServerInput): Promise<ServerRecord> {
    this.require(serverid);
    checkServerInput(input);
    if (input.serverName === '') throw new NsError('BAD_REQUEST', 'body/serverName: must not be empty');
    return this.store.update((data) => {
      const server = data.servers[serverid]!;
      assign(server, input);
      return server;
    });
  }

  /** Records a login on the server (inside the change that records it on the account). */
  touchInChange(data: Data, serverid: string, at: number): void {
    const server = data.servers[serverid];
    if (server) server.lastLogin = at;
  }

  /** Servers the principal may see with `servers` (or `createserver`). */
  visibleTo(principal: Principal, access: Access): ServerRecord[] {
    if (access.has(principal, 'servers') || access.has(principal, 'createserver')) return this.list();
    return this.list().filter((s) => access.has(principal, 'servers', s.serverid) || access.has(principal, 'createserver', s.serverid));
  }
}

function assign(server: ServerRecord, input: ServerInput): void {
  for (const key of EDITABLE) {
    const value = input[key];
    if (value !== undefined) (server as unknown as Record<string, unknown>)[key] = Array.isArray(value) ? [...new Set(value)] : value;
  }
}

/** Checks what the schema cannot say; the REST schema checks the types. */
function checkServerInput(input: ServerInput): void {
  for (const key of ['pinTimeout', 'pinTransTimeout'] as const) {
    const v = input[key];
    if (v !== undefined && v < -1) throw new NsError('BAD_REQUEST', `body/${key}: must be -1 (never), 0 (always) or minutes`);
  }
  if (input.pingTime !== undefined && input.pingTime < 0) throw new NsError('BAD_REQUEST', 'body/pingTime: must be 0 (off) or seconds');
  for (const flag of input.serverFlags ?? []) {
    if (!(SERVER_FLAGS as readonly string[]).includes(flag)) {
      throw new NsError('BAD_REQUEST', `body/serverFlags: unknown flag "${flag}" (known: ${SERVER_FLAGS.join(', ')})`);
    }
  }
  if (input.logo !== undefined && input.logo !== '' && !/^[A-Za-z0-9+/_-]+={0,2}$/.test(input.logo)) {
    throw new NsError('BAD_REQUEST', 'body/logo: must be base64');
  }
  for (const key of ['appurl', 'siteurl', 'wsurl'] as const) {
    const v = input[key];
    if (v !== undefined && v !== '') {
      try {
        new URL(v);
      } catch {
        throw new NsError('BAD_REQUEST', `body/${key}: must be a URL`);
      }
    }
  }
}

export { GLOBAL };
