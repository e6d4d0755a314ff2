/**
 * The browser token of a session (PROTOCOL.md §5.1): what a browser must show to act on a
 * session (PROVOKE, LOGOUT), not only watch it. The hsid is public (it is in the QR code); the
 * token is `base64url(HMAC-SHA256(session secret, "nextauth/browser" || hsid))[0..22)`, derived
 * whenever it is needed and never stored, and only the pages the relying party serves (its HTML
 * blocks, its getSession) carry it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { LABELS } from '../../wire/labels.ts';

/** The token's length in base64url characters. */
export const BROWSER_TOKEN_LENGTH = 22;

/** The session's token; `sessionSecret` and `hsid` as base64url (as records and keys hold them). */
export function browserToken(sessionSecret: string, hsid: string): string {
  const mac = createHmac('sha256', Buffer.from(sessionSecret, 'base64url')).update(LABELS.browser).update(Buffer.from(hsid, 'base64url')).digest();
  return mac.toString('base64url').slice(0, BROWSER_TOKEN_LENGTH);
}

/** Whether `token` is the session's, compared in constant time (its length is no secret). */
export function isBrowserToken(sessionSecret: string, hsid: string, token: unknown): boolean {
  if (typeof token !== 'string' || token.length !== BROWSER_TOKEN_LENGTH) return false;
  return timingSafeEqual(Buffer.from(token, 'latin1'), Buffer.from(browserToken(sessionSecret, hsid), 'latin1'));
}
