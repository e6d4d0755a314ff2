/**
 * One OpenID Provider (oidc-provider, panva) per virtual server: issuer
 * `<public url>/servers/<serverid>/oidc`, its keys and cookie keys from the store (the same in
 * every process), its state in the store (store-adapter.ts), its clients those the server's
 * administrators registered (core/oidc/oidc-clients.ts). Its login is a nextAuth session
 * (oidc-routes.ts, the interaction). Providers are made on first use and kept for the 100
 * servers used last; building one costs well under a millisecond.
 *
 * - Authorization code flow only, PKCE (S256) required of every client; refresh tokens for
 *   `offline_access` (and confidential clients), rotated; userinfo; revocation; RP-initiated and
 *   back-channel logout.
 * - ID tokens: ES256 by default, EdDSA for clients that ask; `sub` is the userid; `amr` `hwk` (a
 *   key held by the phone), with `pin` when the login used the second factor; `acr` one of ACR.
 * - Claims: the user's attributes, by a per-server mapping in the server attribute `oidcClaims`
 *   (claim → attribute name), each standard claim by default from the attribute of its name.
 * - Client secrets are kept hashed (compareClientSecret); nothing may use a client secret as a
 *   key (no client_secret_jwt, no HS* or symmetric encryption).
 */
import type { Configuration, KoaContextWithOIDC, Provider } from 'oidc-provider';
import type { Json, Store } from '../../ports.ts';
import type { Registry } from '../../core/admin/registry.ts';
import { verifyClientSecret } from '../../core/oidc/oidc-clients.ts';
import { oidcKeysOf, signingOrder } from '../../core/oidc/oidc-keys.ts';
import { esc } from '../../web/blocks.ts';
import { oidcPage } from './pages.ts';
import { StoreAdapter } from './store-adapter.ts';

/**
 * The nextAuth session of an interaction's login: an OIDC record of this model, by interaction
 * uid, with its nonce (never shown to the browser); once the login is done, with the user it
 * logged in and found by `nextauth:<hsid>` (its `accountId` field), so that the session's logout
 * ends the user's OpenID Connect sessions (`endLogin`).
 */
export const LOGIN_MODEL = 'Login';
export const loginKey = (hsid: string): string => `nextauth:${hsid}`;

/** `acr` values: a login with the phone's key, and one that also used the second factor (PIN or biometrics). */
export const ACR = { key: 'urn:nextauth:acr:hwk', secondFactor: 'urn:nextauth:acr:2fa' } as const;

export const STANDARD_CLAIMS = {
  profile: [
    'name',
    'family_name',
    'given_name',
    'middle_name',
    'nickname',
    'preferred_username',
    'profile',
    'picture',
    'website',
    'gender',
    'birthdate',
    'zoneinfo',
    'locale',
    'updated_at',
  ],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  address: ['address'],
} as const;

export interface ProviderOptions {
  store: Store;
  registry: Registry;
  /** The NS's public URL (read when a provider is made: with port 0 it is known once the server listens). */
  publicUrl: () => string;
  /** Back-channel logouts may go to loopback and private addresses. */
  privateAddresses: boolean;
  /** Behind trusted proxies: X-Forwarded-* are believed. */
  proxy: boolean;
  log?: { error(obj: object, msg: string): void; info?(obj: object, msg: string): void };
}

export interface ServerProvider {
  provider: Provider;
  callback: ReturnType<Provider['callback']>;
  mountPath: string;
}

const MAX_PROVIDERS = 100;
/** A provider is rebuilt (from the store) this long after it was made: a key rotation reaches every process (before the new key signs: ROTATION, oidc-keys.ts). */
const REBUILD_MS = 60_000;

export class OidcProviders {
  private readonly made = new Map<string, { at: number; provider: Promise<ServerProvider> }>();

  constructor(private readonly o: ProviderOptions) {}

  /** The server's provider (made on first use; the 100 used last are kept). */
  get(serverid: string): Promise<ServerProvider> {
    const now = Date.now();
    const kept = this.made.get(serverid);
    this.made.delete(serverid);
    if (kept && now - kept.at < REBUILD_MS) {
      this.made.set(serverid, kept);
      return kept.provider;
    }
    const p = this.make(serverid);
    this.made.set(serverid, { at: now, provider: p });
    p.catch(() => this.made.delete(serverid));
    if (this.made.size > MAX_PROVIDERS) this.made.delete(this.made.keys().next().value!);
    return p;
  }

  /**
   * Ends a user's OpenID Connect sessions on a server, from outside a request (the nextAuth
   * session they came from was logged out; an account of the user was blocked or deleted):
   * each client that registered a back-channel logout URI is told (a signed logout token), and
   * the sessions' grants are revoked with their codes and tokens; with `allGrants`, every grant
   * of the user (offline ones too). Resolves how many sessions and grants ended.
   */
  async endUser(serverid: string, userid: string, allGrants = false): Promise<{ sessions: number; grants: number }> {
    const records = await this.o.store.oidcBy(serverid, 'accountId', userid);
    // A user who never logged in with OpenID Connect: nothing to end (and no provider to make).
    if (!records.some((r) => r.model === 'Session' || r.model === 'Grant')) return { sessions: 0, grants: 0 };
    const { provider } = await this.get(serverid);
    let sessions = 0;
    const ended = new Set<string>();
    for (const r of records.filter((x) => x.model === 'Session')) {
      const session = await provider.Session.find(r.id);
      if (!session) continue;
      for (const [clientId, auth] of Object.entries(session.authorizations ?? {})) {
        const client = (await provider.Client.find(clientId)) as (InstanceType<Provider['Client']> & { backchannelLogout(sub: string, sid: string): Promise<void> }) | undefined;
        if (client?.backchannelLogoutUri && auth.sid) {
          await client.backchannelLogout(userid, auth.sid).catch((err: unknown) => this.o.log?.error({ err, serverid, code: 'INTERNAL' }, 'a back-channel logout was not taken'));
        }
        if (auth.grantId) ended.add(auth.grantId);
      }
      await session.destroy();
      sessions++;
    }
    if (allGrants) for (const g of records.filter((x) => x.model === 'Grant')) ended.add(g.id);
    for (const grantId of ended) {
      await Promise.all([provider.AccessToken.revokeByGrantId(grantId), provider.RefreshToken.revokeByGrantId(grantId), provider.AuthorizationCode.revokeByGrantId(grantId)]);
      await new StoreAdapter(this.o.store, serverid, 'Grant').destroy(grantId);
    }
    return { sessions, grants: ended.size };
  }

  /** A nextAuth session was logged out: if an OpenID Connect login came of it, the user's OIDC sessions end. */
  async endLogin(serverid: string, hsid: string): Promise<void> {
    const logins = (await this.o.store.oidcBy(serverid, 'accountId', loginKey(hsid))).filter((r) => r.model === LOGIN_MODEL);
    for (const login of logins) {
      const userid = login.record.payload.userid;
      if (typeof userid === 'string') await this.endUser(serverid, userid);
      await new StoreAdapter(this.o.store, serverid, LOGIN_MODEL).destroy(login.id);
    }
  }

  /** A page of the provider (logout, errors): in English (their words are not in the catalogue yet). */
  private page(_ctx: KoaContextWithOIDC, title: string, body: string): string {
    return oidcPage(this.o.publicUrl(), 'en', title, body);
  }

  /** Forgets a server's provider (its keys were rotated): the next use builds it again. */
  forget(serverid: string): void {
    this.made.delete(serverid);
  }

  private async make(serverid: string): Promise<ServerProvider> {
    const { store, registry } = this.o;
    const mountPath = `/servers/${serverid}/oidc`;
    const issuer = `${this.o.publicUrl().replace(/\/+$/, '')}${mountPath}`;
    const keys = await oidcKeysOf(store, serverid);
    const tag = serverid.slice(0, 8);
    const configuration: Configuration = {
      adapter: (model: string) => new StoreAdapter(store, serverid, model),
      clients: [],
      jwks: { keys: signingOrder(keys.keys).map(({ created: _c, retired: _r, activates: _a, ...jwk }) => jwk) as NonNullable<Configuration['jwks']>['keys'] },
      cookies: {
        keys: keys.cookieKeys,
        names: { session: `_nas_${tag}`, interaction: `_nai_${tag}`, resume: `_nar_${tag}` },
        long: { path: mountPath, httpOnly: true, sameSite: 'lax' },
        short: { httpOnly: true, sameSite: 'lax' },
      },
      features: {
        devInteractions: { enabled: false },
        rpInitiatedLogout: {
          enabled: true,
          logoutSource: async (ctx: KoaContextWithOIDC, form: string) => {
            const name = ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId;
            ctx.body = this.page(
              ctx,
              'Log out',
              `${form}<h1>Log out${name ? ` of ${esc(name)}` : ''}?</h1><p><button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Log out</button> <button type="submit" form="op.logoutForm">Stay logged in</button></p>`,
            );
          },
          postLogoutSuccessSource: async (ctx: KoaContextWithOIDC) => {
            ctx.body = this.page(ctx, 'Logged out', '<h1>You are logged out.</h1>');
          },
        },
        backchannelLogout: { enabled: true },
        revocation: { enabled: true },
      },
      clientDefaults: {
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
      },
      enabledJWA: { idTokenSigningAlgValues: ['ES256', 'EdDSA'] },
      clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
      pkce: { required: () => true },
      scopes: ['openid', 'offline_access', 'profile', 'email', 'phone', 'address'],
      claims: { openid: ['sub', 'acr', 'amr', 'auth_time'], ...STANDARD_CLAIMS, acr: null, amr: null } as unknown as Configuration['claims'],
      acrValues: [ACR.key, ACR.secondFactor],
      findAccount: async (_ctx: KoaContextWithOIDC, sub: string) => {
        const user = await registry.users.get(serverid, sub).catch(() => undefined);
        if (!user) return undefined;
        const server = await registry.servers.get(serverid);
        const mapping = (server?.attributes.oidcClaims ?? {}) as Record<string, unknown>;
        return {
          accountId: sub,
          claims: async () => {
            const claims: { [key: string]: unknown } = { sub };
            for (const name of Object.values(STANDARD_CLAIMS).flat()) {
              const attribute = typeof mapping[name] === 'string' ? (mapping[name] as string) : name;
              if (Object.hasOwn(user.attributes, attribute)) claims[name] = user.attributes[attribute] as Json;
            }
            return claims as { sub: string };
          },
        };
      },
      interactions: { url: (_ctx: KoaContextWithOIDC, interaction) => `${mountPath}/interaction/${interaction.uid}` },
      issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && (code.scopes.has('offline_access') || client.clientAuthMethod !== 'none'),
      rotateRefreshToken: true,
      renderError: async (ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }) => {
        ctx.type = 'html';
        ctx.body = this.page(ctx, 'Error', `<h1>${esc(out.error)}</h1>${out.error_description ? `<p>${esc(out.error_description)}</p>` : ''}`);
      },
      ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, RefreshToken: 14 * 86400, Interaction: 600, Session: 14 * 86400, Grant: 14 * 86400 },
      // Back-channel logouts to the NS's own network only when the operator allows it (as webhooks).
      fetch: (url: string | URL | Request, options?: RequestInit) => {
        if (this.o.privateAddresses && options) delete (options as { dispatcher?: unknown }).dispatcher;
        return globalThis.fetch(url, options);
      },
    };
    // Loaded on first use: a server that nobody logs in to with OIDC does not carry it.
    const { Provider } = await import('oidc-provider');
    const provider = new Provider(issuer, configuration);
    provider.proxy = this.o.proxy;
    provider.on('server_error', (_ctx: unknown, err: Error) => this.o.log?.error({ err, serverid, code: 'INTERNAL' }, 'the OpenID Provider failed'));
    // Secrets are kept as hashes (oidc-provider's hook for it).
    (provider.Client.prototype as unknown as { compareClientSecret(actual: string): Promise<boolean> }).compareClientSecret = async function (
      this: { clientSecret?: string },
      actual: string,
    ) {
      return verifyClientSecret(this.clientSecret, actual);
    };
    return { provider, callback: provider.callback(), mountPath };
  }
}
