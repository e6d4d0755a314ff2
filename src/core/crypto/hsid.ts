/** hsid = HMAC-SHA256(server session secret, UTF-8 nonce) (PROTOCOL.md §1). */
import { createHmac } from 'node:crypto';

/** Printable ASCII, 16 to 512 characters. */
export const isValidNonce = (nonce: unknown): nonce is string => typeof nonce === 'string' && /^[\x20-\x7e]{16,512}$/.test(nonce);

export const deriveHsid = (sessionSecret: Uint8Array, nonce: string): Buffer => createHmac('sha256', sessionSecret).update(nonce, 'utf8').digest();
