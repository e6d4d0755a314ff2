/**
 * `@nextauth/node/fastify`: a plugin that puts nextAuth on every request as `req.nextauth`
 * (src/rp/request.ts): the browser's nonce in a cookie, its session, its login block and footer,
 * its logout. Registered on an app, it applies to the whole app (not encapsulated).
 *
 * ```ts
 * await app.register(nextAuth, { url: 'https://ns.example', apiKey, serverid });
 * app.get('/', async (req, reply) => {
 *   const s = await req.nextauth.session();
 *   reply.type('text/html').send(s.loggedin ? `Hello ${s.userid}` : (await req.nextauth.loginBlock()) + (await req.nextauth.footer()));
 * });
 * ```
 */
import type { FastifyPluginAsync } from 'fastify';
import { clientOf, requestNextAuth, type NextAuthMiddlewareOptions, type NextAuthRequest } from './request.ts';

export type { CookieOptions, NextAuthMiddlewareOptions, NextAuthRequest } from './request.ts';

declare module 'fastify' {
  interface FastifyRequest {
    nextauth: NextAuthRequest;
  }
}

const plugin: FastifyPluginAsync<NextAuthMiddlewareOptions> = async (app, options) => {
  const client = clientOf(options);
  app.decorateRequest('nextauth', null as unknown as NextAuthRequest);
  app.addHook('onRequest', async (req, reply) => {
    req.nextauth = requestNextAuth(
      client,
      {
        cookieHeader: req.headers.cookie,
        https: req.protocol === 'https',
        ip: req.ip,
        useragent: req.headers['user-agent'],
        setCookie: (value) => {
          reply.header('set-cookie', value); // fastify appends Set-Cookie headers
        },
        headersSent: () => reply.sent || reply.raw.headersSent,
      },
      options.cookie,
    );
  });
};

/** The plugin: `await app.register(nextAuth, { url, apiKey, serverid })`. */
export const nextAuth: FastifyPluginAsync<NextAuthMiddlewareOptions> = Object.assign(plugin, {
  // What fastify-plugin sets: the decoration and the hook apply to the app that registers it.
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@nextauth/node',
});

export default nextAuth;
