/**
 * `@nextauth/node/express`: a middleware that puts nextAuth on every request as `req.nextauth`
 * (src/rp/request.ts): the browser's nonce in a cookie, its session, its login block and footer,
 * its logout. It needs nothing of Express but (req, res, next), so it works on Connect and on
 * node:http too; `req.secure` and `req.ip` are Express's when there (set `trust proxy` behind one).
 *
 * ```js
 * app.use(nextAuth({ url: 'https://ns.example', apiKey, serverid }));
 * app.get('/', async (req, res) => {
 *   const s = await req.nextauth.session();
 *   res.send(s.loggedin ? `Hello ${s.userid}` : (await req.nextauth.loginBlock()) + (await req.nextauth.footer()));
 * });
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { clientOf, requestNextAuth, type NextAuthMiddlewareOptions, type NextAuthRequest } from './request.ts';

export type { CookieOptions, NextAuthMiddlewareOptions, NextAuthRequest } from './request.ts';

declare global {
  // Express's own types (@types/express) read their Request from this namespace.
  namespace Express {
    interface Request {
      nextauth: NextAuthRequest;
    }
  }
}

/** A request as the middleware reads it: Node's, with Express's `ip` and `secure` when there. */
type Req = IncomingMessage & { ip?: string; secure?: boolean; nextauth?: NextAuthRequest };

/** The middleware: `app.use(nextAuth({ url, apiKey, serverid }))`. */
export function nextAuth(options: NextAuthMiddlewareOptions): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  const client = clientOf(options);
  return (req: Req, res, next) => {
    req.nextauth = requestNextAuth(
      client,
      {
        cookieHeader: req.headers.cookie,
        https: req.secure ?? !!(req.socket as TLSSocket).encrypted,
        ip: req.ip ?? req.socket.remoteAddress,
        useragent: req.headers['user-agent'],
        setCookie: (value) => {
          const before = res.getHeader('set-cookie');
          res.setHeader('set-cookie', [...(before === undefined ? [] : [before].flat().map(String)), value]);
        },
        headersSent: () => res.headersSent,
      },
      options.cookie,
    );
    next();
  };
}
