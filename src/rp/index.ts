/**
 * `@nextauth/node`: the relying party's side of nextAuth for a Node backend. The REST client
 * (client.ts), and what the Express middleware (`@nextauth/node/express`) and the fastify plugin
 * (`@nextauth/node/fastify`) put on each request (request.ts).
 */
export { createNextAuth, isNonce, newNonce, NextAuthError } from './client.ts';
export type { EnrolOptions, FooterOptions, NextAuthClient, NextAuthOptions, Session, SessionInfo } from './client.ts';
export { readCookie, requestNextAuth } from './request.ts';
export type { CookieOptions, NextAuthMiddlewareOptions, NextAuthRequest, RequestSide } from './request.ts';
