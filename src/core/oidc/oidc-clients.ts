/**
 * The OpenID Connect clients of a virtual server (applications that log in with it): made,
 * listed and deleted by its administrators. A confidential client gets a secret, shown once and
 * kept as a scrypt hash (the provider compares a presented secret with it: oidc-provider's
 * `compareClientSecret`); a public client has none and must use PKCE. Each is an OIDC record of
 * model `Client` (the provider reads it as its metadata), and the server's list of them one more.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Json, Store } from '../../ports.ts';
import { toB64url } from '../../wire/base64url.ts';
import { NsError } from '../../wire/errors.ts';

const scryptAsync = promisify(scrypt) as (secret: string, salt: Buffer, length: number) => Promise<Buffer>;

export const OIDC_SCOPES = ['openid', 'profile', 'email', 'phone', 'address', 'offline_access'] as const;

export interface OidcClientInput {
  name: string;
  redirectUris: string[];
  /** public (a single-page or native app: no secret, PKCE) or confidential (default) */
  public?: boolean;
  postLogoutRedirectUris?: string[];
  backchannelLogoutUri?: string;
  scopes?: string[];
}

export interface OidcClientView {
  clientId: string;
  name: string;
  public: boolean;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  backchannelLogoutUri?: string;
  scopes: string[];
  created: number;
}

const MODEL = 'Client';
const LIST = ['ClientList', 'all'] as const;

export async function hashClientSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  return `scrypt$${toB64url(salt)}$${toB64url(await scryptAsync(secret, salt, 32))}`;
}

/** Whether `given` is the secret `stored` is the hash of (constant time). */
export async function verifyClientSecret(stored: unknown, given: unknown): Promise<boolean> {
  if (typeof stored !== 'string' || typeof given !== 'string' || given.length > 512) return false;
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64url');
  const got = await scryptAsync(given, Buffer.from(salt, 'base64url'), 32);
  return got.length === want.length && timingSafeEqual(got, want);
}

function checkUri(text: string, what: string, allowHttp: (u: URL) => boolean): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new NsError('BAD_REQUEST', `${what} must be absolute URLs`);
  }
  if (url.hash) throw new NsError('BAD_REQUEST', `${what} must not have a fragment`);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowHttp(url))) throw new NsError('BAD_REQUEST', `${what} must be https:// (http:// only for localhost)`);
  return url.href;
}
const loopback = (u: URL) => ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname) || u.hostname.endsWith('.localhost');

export const viewOfClient = (m: Record<string, unknown>): OidcClientView => ({
  clientId: m.client_id as string,
  name: m.client_name as string,
  public: m.token_endpoint_auth_method === 'none',
  redirectUris: m.redirect_uris as string[],
  postLogoutRedirectUris: (m.post_logout_redirect_uris as string[] | undefined) ?? [],
  ...(typeof m.backchannel_logout_uri === 'string' ? { backchannelLogoutUri: m.backchannel_logout_uri } : {}),
  scopes: String(m.scope ?? '')
    .split(' ')
    .filter(Boolean),
  created: m.created as number,
});

export class OidcClients {
  constructor(
    private readonly store: Store,
    private readonly perServer = 32,
    private readonly now: () => number = Date.now,
  ) {}

  /** Registers a client: its view, and its secret (a confidential client's; shown this once). */
  async create(serverid: string, input: OidcClientInput): Promise<{ client: OidcClientView; secret?: string }> {
    const name = input.name.trim();
    if (!name || name.length > 128) throw new NsError('BAD_REQUEST', 'name must be 1 to 128 characters');
    if (!input.redirectUris.length || input.redirectUris.length > 16) throw new NsError('BAD_REQUEST', 'redirectUris must name 1 to 16 URLs');
    const redirects = input.redirectUris.map((u) => checkUri(u, 'redirectUris', loopback));
    const logouts = (input.postLogoutRedirectUris ?? []).map((u) => checkUri(u, 'postLogoutRedirectUris', loopback));
    const backchannel = input.backchannelLogoutUri === undefined ? undefined : checkUri(input.backchannelLogoutUri, 'backchannelLogoutUri', loopback);
    const scopes = [...new Set(input.scopes ?? ['openid', 'profile', 'email', 'offline_access'])];
    for (const s of scopes) if (!(OIDC_SCOPES as readonly string[]).includes(s)) throw new NsError('BAD_REQUEST', `Unknown scope ${JSON.stringify(s)} (${OIDC_SCOPES.join(', ')})`);
    if (!scopes.includes('openid')) scopes.unshift('openid');
    const clientId = `oc_${toB64url(randomBytes(12))}`;
    const secret = input.public ? undefined : `ocs_${toB64url(randomBytes(32))}`;
    const metadata: { [key: string]: Json } = {
      client_id: clientId,
      client_name: name,
      redirect_uris: redirects,
      post_logout_redirect_uris: logouts,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      scope: scopes.join(' '),
      token_endpoint_auth_method: secret ? 'client_secret_basic' : 'none',
      created: this.now(),
      ...(secret ? { client_secret: await hashClientSecret(secret) } : {}),
      ...(backchannel ? { backchannel_logout_uri: backchannel, backchannel_logout_session_required: true } : {}),
    };
    await this.store.transact(async (tx) => {
      if (!(await tx.get('server', serverid))) throw new NsError('UNKNOWN_SERVER');
      const list = ((await tx.get('oidc', serverid, ...LIST))?.payload.ids as string[] | undefined) ?? [];
      if (list.length >= this.perServer) throw new NsError('BAD_REQUEST', `A server has at most ${this.perServer} OIDC clients`);
      tx.put('oidc', [serverid, MODEL, clientId], { payload: metadata });
      tx.put('oidc', [serverid, ...LIST], { payload: { ids: [...list, clientId] } });
    });
    return { client: viewOfClient(metadata), ...(secret ? { secret } : {}) };
  }

  async list(serverid: string): Promise<OidcClientView[]> {
    const ids = ((await this.store.get('oidc', serverid, ...LIST))?.payload.ids as string[] | undefined) ?? [];
    const out: OidcClientView[] = [];
    for (const id of ids) {
      const c = await this.store.get('oidc', serverid, MODEL, id);
      if (c) out.push(viewOfClient(c.payload));
    }
    return out;
  }

  async delete(serverid: string, clientId: string): Promise<void> {
    await this.store.transact(async (tx) => {
      if (!(await tx.get('oidc', serverid, MODEL, clientId))) throw new NsError('UNKNOWN_OIDC_CLIENT');
      const list = ((await tx.get('oidc', serverid, ...LIST))?.payload.ids as string[] | undefined) ?? [];
      tx.delete('oidc', [serverid, MODEL, clientId]);
      tx.put('oidc', [serverid, ...LIST], { payload: { ids: list.filter((id) => id !== clientId) } });
    });
  }
}
