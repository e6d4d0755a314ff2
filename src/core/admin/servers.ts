/**
 * Virtual servers: their public configuration (2.2 `Server`), their Ed25519 key and session
 * secret (which never leave the process), and their attribute bags.
 */
import { newEvent } from '../events/new-event.ts';
import { NsError } from '../../wire/errors.ts';
import { newSecret, newServerId } from '../crypto/ids.ts';
import { generateSigningKey } from '../crypto/keys.ts';
import type { ServerRecord, Store } from '../../ports.ts';
import { GLOBAL, grantInChange, type Access, type Principal } from './access.ts';

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

/** The fields a caller may set (createServer / updateServer). */
export type ServerInput = Partial<Pick<ServerRecord, (typeof EDITABLE)[number]>>;

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
] as const satisfies ReadonlyArray<keyof ServerRecord>;

export class Servers {
  constructor(
    private readonly store: Store,
    private readonly access: Access,
  ) {}

  get(serverid: string): Promise<ServerRecord | undefined> {
    return this.store.get('server', serverid);
  }

  /** The server, or 404 UNKNOWN_SERVER. */
  async require(serverid: string): Promise<ServerRecord> {
    const server = await this.get(serverid);
    if (!server) throw new NsError('UNKNOWN_SERVER', `No server ${serverid}`);
    return server;
  }

  list(): Promise<ServerRecord[]> {
    return this.store.listServers();
  }

  async view(server: ServerRecord): Promise<ServerView> {
    const view: ServerView = {
      serverid: server.serverid,
      serverpk: server.publicKey,
      serverName: server.serverName,
      logo: server.logo,
      pinTimeout: server.pinTimeout,
      pinTransTimeout: server.pinTransTimeout,
      pingTime: server.pingTime,
      serverFlags: [...server.serverFlags],
      accountCount: await this.store.countAccounts(server.serverid),
    };
    for (const key of ['appname', 'appurl', 'appandroid', 'appios', 'siteurl', 'wsurl', 'owner', 'lastLogin'] as const) {
      if (server[key] !== undefined) (view as unknown as Record<string, unknown>)[key] = server[key];
    }
    return view;
  }

  /** createServer; the creating role gets root on the new server (unless it is global root already). `source`: the asking client's address, for the event. */
  async create(input: ServerInput, creator?: Principal, source?: string): Promise<ServerRecord> {
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
    const grantRoot = creator !== undefined && !(await this.access.has(creator, 'root'));
    await this.store.transact(async (tx) => {
      tx.put('server', [server.serverid], server);
      tx.emit(newEvent('com.nextauth.server.created', server.serverid, { source, subject: 'server', data: { serverName: server.serverName } }, server.created));
      if (creator && grantRoot) await grantInChange(tx, creator.role, server.serverid, ['root']);
    });
    return server;
  }

  /** updateServer: every editable field given is replaced; serverid and keys never change. `source`: as for `create`. */
  async update(serverid: string, input: ServerInput, source?: string): Promise<ServerRecord> {
    checkServerInput(input);
    if (input.serverName === '') throw new NsError('BAD_REQUEST', 'body/serverName: must not be empty');
    return this.store.transact(async (tx) => {
      const current = await tx.get('server', serverid);
      if (!current) throw new NsError('UNKNOWN_SERVER', `No server ${serverid}`);
      const server = structuredClone(current);
      assign(server, input);
      tx.put('server', [serverid], server);
      tx.emit(newEvent('com.nextauth.server.updated', serverid, { source, subject: 'server', data: { fields: Object.keys(input).sort() } }, Date.now()));
      return server;
    });
  }

  /** Servers the principal may see with `servers` (or `createserver`). */
  async visibleTo(principal: Principal): Promise<ServerRecord[]> {
    const all = await this.list();
    if ((await this.access.has(principal, 'servers')) || (await this.access.has(principal, 'createserver'))) return all;
    const visible: ServerRecord[] = [];
    for (const s of all) {
      if ((await this.access.has(principal, 'servers', s.serverid)) || (await this.access.has(principal, 'createserver', s.serverid))) visible.push(s);
    }
    return visible;
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
