/**
 * `@nextauth/node`: the relying party's side of nextAuth for a Node backend. The REST client
 * (client.ts), what the Express middleware (`@nextauth/node/express`) and the fastify plugin
 * (`@nextauth/node/fastify`) put on each request (request.ts), and the check a webhook receiver
 * runs on each delivery: the server's own code (src/core/events/sign-webhook.ts, which imports
 * only node:crypto and src/wire/), so that signing and verifying are one file.
 */
export { createNextAuth, isNonce, newNonce, NextAuthError } from './client.ts';
export type { EnrolOptions, FooterOptions, NextAuthClient, NextAuthOptions, Session, SessionInfo } from './client.ts';
export { readCookie, requestNextAuth } from './request.ts';
export type { CookieOptions, NextAuthMiddlewareOptions, NextAuthRequest, RequestSide } from './request.ts';
export { verifyWebhook, WebhookVerificationError } from '../core/events/sign-webhook.ts';
