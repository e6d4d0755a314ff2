/** The ASCII labels of PROTOCOL.md §4 and §5.1, as bytes (what is hashed or signed after them). */

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

export const LABELS = {
  /** k = SHA-512(sigma || dh || h1) */
  sigma: ascii('nextauth/sigma/1'),
  /** sigS = sign(server key, server || h1) */
  server: ascii('nextauth/server'),
  login: ascii('nextauth/login'),
  enrol: ascii('nextauth/enrol'),
  listen: ascii('nextauth/listen'),
  transaction: ascii('nextauth/transaction'),
  /** the browser token: HMAC(session secret, browser || hsid) */
  browser: ascii('nextauth/browser'),
} as const;
