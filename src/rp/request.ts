/**
 * nextAuth on one request of the relying party's site, whatever the framework: the browser
 * session's nonce in a cookie (made the first time it is needed: random, HttpOnly, SameSite=Lax,
 * Secure over https) and the client's calls for it. `express.ts` and `fastify.ts` make one per
 * request as `req.nextauth`.
 */
import { createNextAuth, isNonce, newNonce, type EnrolOptions, type FooterOptions, type NextAuthClient, type NextAuthOptions, type Session, type SessionInfo } from './client.ts';

export interface CookieOptions {
  /** The cookie's name (default `nextauth`; over https `__Host-nextauth`, which no other site and no subdomain can set). */
  name?: string;
  /** Secure: `'auto'` (the default) when the request came over https, as the framework sees it (behind a proxy: trust the proxy first). */
  secure?: boolean | 'auto';
  /** How long the browser keeps the nonce, in seconds (default 30 days): the site can push a login to its phone while it does. */
  maxAge?: number;
}

/** How a middleware or plugin is set up: the NS (or a client made already), and the cookie. */
export type NextAuthMiddlewareOptions = (NextAuthOptions | { client: NextAuthClient }) & { cookie?: CookieOptions };

/** `req.nextauth`: the calls of the client for this browser's nonce. */
export interface NextAuthRequest {
  /** The browser session's nonce (read from the cookie, or made and set in it now). */
  readonly nonce: string;
  /** The client, for what is not about this browser. */
  readonly client: NextAuthClient;
  /** Is this browser logged in, and as whom (getSession; asked once per request, again after logout()). */
  session(): Promise<Session>;
  /** The login block's HTML; the phone is shown this browser's address and user agent. */
  loginBlock(info?: SessionInfo): Promise<string>;
  /** The enrol block's HTML: a code that adds a phone (for `userid`) and logs this browser in. */
  enrolBlock(options?: EnrolOptions): Promise<string>;
  /** The footer's HTML: put it at the end of every page that shows a block or a logged-in user. */
  footer(options?: FooterOptions): Promise<string>;
  /** Logs this browser out. */
  logout(): Promise<void>;
}

/** What a framework tells of one request, and how it sets a cookie. */
export interface RequestSide {
  cookieHeader: string | undefined;
  https: boolean;
  ip: string | undefined;
  useragent: string | undefined;
  /** Adds a Set-Cookie header to the answer. */
  setCookie(value: string): void;
  headersSent(): boolean;
}

export const clientOf = (options: NextAuthMiddlewareOptions): NextAuthClient => ('client' in options ? options.client : createNextAuth(options));

/** The value of cookie `name` in a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const DAY = 86_400;

export function requestNextAuth(client: NextAuthClient, side: RequestSide, cookie: CookieOptions = {}): NextAuthRequest {
  const secure = cookie.secure === undefined || cookie.secure === 'auto' ? side.https : cookie.secure;
  const name = cookie.name ?? (secure ? '__Host-nextauth' : 'nextauth');
  const maxAge = cookie.maxAge ?? 30 * DAY;
  let nonce: string | undefined;
  let session: Promise<Session> | undefined;

  const nonceNow = (): string => {
    if (nonce) return nonce;
    const saved = readCookie(side.cookieHeader, name);
    if (isNonce(saved)) return (nonce = saved);
    if (side.headersSent()) throw new Error('nextauth: the answer was sent before the nonce was made: use req.nextauth before sending');
    nonce = newNonce();
    side.setCookie(`${name}=${nonce}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`);
    return nonce;
  };
  const seen = (info: SessionInfo | undefined): SessionInfo => ({
    ...(side.ip ? { ip: side.ip } : {}),
    ...(side.useragent ? { useragent: side.useragent } : {}),
    ...info,
  });

  return {
    get nonce() {
      return nonceNow();
    },
    client,
    session() {
      session ??= client.getSession(nonceNow());
      // A failed call is not kept: the next one asks again.
      session.catch(() => (session = undefined));
      return session;
    },
    loginBlock: (info) => client.loginBlock(nonceNow(), seen(info)),
    enrolBlock: (options) => client.enrolBlock(nonceNow(), { ...seen(undefined), ...options }),
    footer: (options) => client.footer(nonceNow(), options),
    async logout() {
      session = undefined;
      await client.logout(nonceNow());
    },
  };
}
