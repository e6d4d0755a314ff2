/**
 * The relying party's side of nextAuth, for a Node backend: a small client of the NS's REST API
 * (PROTOCOL.md §6, the 2.2 operations a site needs per browser session). Published as
 * `@nextauth/node`; `express.ts` and `fastify.ts` put it on each request.
 *
 * ```ts
 * const nextauth = createNextAuth({ url: 'https://ns.example', apiKey, serverid });
 * const nonce = newNonce();                       // one per browser session, kept in a cookie
 * const s = await nextauth.getSession(nonce);     // { loggedin, userid?, … }
 * const html = s.loggedin ? `Hello ${s.userid}` : await nextauth.loginBlock(nonce);
 * page(html + (await nextauth.footer(nonce)));    // the footer script keeps the page current
 * await nextauth.logout(nonce);
 * ```
 *
 * It uses only `fetch` (Node 20's, or one given) and imports nothing of the server but the
 * base64 codec of src/wire.
 */
import { toB64, toB64url } from '../wire/base64url.ts';

/** Where the NS is and who the site is. */
export interface NextAuthOptions {
  /** The NS's URL, e.g. `https://ns.example` (its REST API; a path prefix is kept). */
  url: string;
  /** An api key with the permission `sessions` on the server. */
  apiKey: string;
  /** The site's virtual server on the NS (base64url, 22 characters). */
  serverid: string;
  /** The fetch to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** How long one call may take, in ms (default 10 000). */
  timeoutMs?: number;
}

/** What getSession answers (2.2 `LoginStatus`, with this NS's additions). */
export interface Session {
  loggedin: boolean;
  /** The user the account was enrolled for (absent for an account enrolled without one). */
  userid?: string;
  accountid?: number;
  /** A login can be pushed to the phone that logged this session in before. */
  canprovoke: boolean;
  /** The session's public id (in its QR code and on the browser sockets). */
  hsid: string;
  /** The session's state (PROTOCOL.md §2): waiting, challenged, verifying, authenticated, loggedOut. */
  state?: string;
  /** base64 of the login QR code's bytes. */
  loginqrdata?: string;
  /** The account's public key (base64). */
  pk?: string;
  /** The token a page needs to provoke or log out over the browser socket (§5.1). */
  browsertoken?: string;
  /** When a waiting session is forgotten (ms since epoch). */
  expires?: number;
  [more: string]: unknown;
}

/** What the phone shows of the browser that asks to log in (2.2 `SessionInfo`). */
export interface SessionInfo {
  ip?: string;
  useragent?: string;
  /** Anything else to show, as JSON. */
  info?: Record<string, unknown>;
}

export interface EnrolOptions extends SessionInfo {
  /** The account's name in the app (default: the server's name). */
  name?: string;
  /** The user the phone is enrolled for. */
  userid?: string;
}

export interface FooterOptions {
  /** A global function (`myApp.onLogin`) the footer script calls on a login or logout instead of reloading the page. */
  callback?: string;
  /** Nonces of more sessions of this server for the script to watch. */
  watch?: readonly string[];
}

/** The NS refused (`status` and its `{code, message}`), or answered what is not HTTP 2xx. */
export class NextAuthError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'NextAuthError';
    this.status = status;
    this.code = code;
  }
}

/** The REST calls of one site (one server on one NS), each for a browser session's nonce. */
export interface NextAuthClient {
  readonly serverid: string;
  /** Is the session logged in, and as whom (getSession). */
  getSession(nonce: string): Promise<Session>;
  /** The login block's HTML (getHtmlLogin): QR code, app link, push button, progress. `info` is shown on the phone. */
  loginBlock(nonce: string, info?: SessionInfo): Promise<string>;
  /** The enrol block's HTML (getHtmlEnrol): a code that adds a phone for `userid`. */
  enrolBlock(nonce: string, options?: EnrolOptions): Promise<string>;
  /** The footer's HTML (getHtmlFooter): the script that watches the session, once per page at the end of `<body>`. */
  footer(nonce: string, options?: FooterOptions): Promise<string>;
  /** Logs the session out (logout). */
  logout(nonce: string): Promise<void>;
}

const NONCE_BYTES = 24;

/** A fresh random nonce: 32 base64url characters (192 bits). */
export function newNonce(): string {
  return toB64url(globalThis.crypto.getRandomValues(new Uint8Array(NONCE_BYTES)));
}

/** A nonce newNonce could have made: what a cookie must hold to be taken as one. */
export const isNonce = (value: unknown): value is string => typeof value === 'string' && /^[A-Za-z0-9_-]{32}$/.test(value);

const sessionInfo = (info: SessionInfo | undefined) => {
  const out: SessionInfo = {};
  if (info?.ip) out.ip = info.ip;
  if (info?.useragent) out.useragent = info.useragent.slice(0, 1000);
  if (info?.info) out.info = info.info;
  return Object.keys(out).length ? { sessioninfo: out } : undefined;
};

export function createNextAuth(options: NextAuthOptions): NextAuthClient {
  const { apiKey, serverid } = options;
  if (!options.url || !apiKey || !serverid) throw new TypeError('createNextAuth needs url, apiKey and serverid');
  const base = `${options.url.replace(/\/+$/, '')}/servers/${encodeURIComponent(serverid)}/sessions`;
  const timeoutMs = options.timeoutMs ?? 10_000;

  async function call(method: 'GET' | 'POST', path: string, nonce: string, body?: unknown): Promise<{ text: string; type: string }> {
    if (typeof nonce !== 'string' || !/^[\x20-\x7e]{16,512}$/.test(nonce)) throw new TypeError('a nonce is 16 to 512 printable ASCII characters');
    const doFetch = options.fetch ?? globalThis.fetch;
    const res = await doFetch(base + path, {
      method,
      headers: { 'x-apikey': apiKey, 'x-nonce': nonce, accept: 'application/json, text/html', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    if (!res.ok) {
      let code = `HTTP_${res.status}`;
      let message = `${method} ${path || '/'}: HTTP ${res.status}`;
      if (type.includes('json')) {
        try {
          const e = JSON.parse(text) as { code?: unknown; message?: unknown };
          if (typeof e.code === 'string') code = e.code;
          if (typeof e.message === 'string') message = `${method} ${path || '/'}: ${e.message}`;
        } catch {
          // not JSON after all: the status says enough
        }
      }
      throw new NextAuthError(res.status, code, message);
    }
    return { text, type };
  }

  const html = async (path: string, nonce: string, body?: unknown) => (await call(body === undefined ? 'GET' : 'POST', path, nonce, body)).text;

  return {
    serverid,
    async getSession(nonce) {
      const { text, type } = await call('GET', '/', nonce);
      if (!type.includes('json')) throw new NextAuthError(502, 'BAD_ANSWER', `getSession answered ${type || 'no content type'}`);
      return JSON.parse(text) as Session;
    },
    loginBlock: (nonce, info) => html('/html/login', nonce, sessionInfo(info)),
    enrolBlock(nonce, opts = {}) {
      const query = new URLSearchParams();
      if (opts.name) query.set('name', opts.name);
      if (opts.userid) query.set('userid', opts.userid);
      const q = query.toString();
      return html(`/html/enrol${q ? `?${q}` : ''}`, nonce, sessionInfo(opts));
    },
    footer(nonce, opts = {}) {
      const q = opts.callback ? `?callback=${encodeURIComponent(opts.callback)}` : '';
      const watch = opts.watch ?? [];
      const body = watch.length ? { sessions: watch.map((n) => ({ serverid, sessionid: toB64(new TextEncoder().encode(n)) })) } : undefined;
      return html(`/html/footer${q}`, nonce, body);
    },
    async logout(nonce) {
      await call('POST', '/logout', nonce);
    },
  };
}
