/**
 * The one base64 codec of the NS and the SDK (PROTOCOL.md §1: ids and keys are base64url without
 * padding): plain JavaScript over Uint8Array, so it runs the same in node, a browser and a phone.
 */

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Value of each base64 character, both alphabets; -1 for anything else. */
const B64_VALUES = (() => {
  const values = new Int8Array(128).fill(-1);
  for (let i = 0; i < 64; i++) {
    values[B64_ALPHABET.charCodeAt(i)] = i;
    values[B64URL_ALPHABET.charCodeAt(i)] = i;
  }
  return values;
})();

function encodeBase64(bytes: Uint8Array, alphabet: string, pad: boolean): string {
  let out = '';
  const n = bytes.length;
  const whole = n - (n % 3);
  let i = 0;
  for (; i < whole; i += 3) {
    const group = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += alphabet[group >> 18]! + alphabet[(group >> 12) & 63]! + alphabet[(group >> 6) & 63]! + alphabet[group & 63]!;
  }
  if (i < n) {
    // 1 byte left → 2 chars, 2 → 3
    const group = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += alphabet[group >> 18]! + alphabet[(group >> 12) & 63]!;
    if (n - i === 2) out += alphabet[(group >> 6) & 63]!;
    if (pad) out += n - i === 2 ? '=' : '==';
  }
  return out;
}

/** Decodes `text` if it matches `allowed` (an alphabet plus optional `=` padding); throws TypeError otherwise. */
function decodeBase64(text: string, allowed: RegExp, what: string): Uint8Array {
  const body = text.replace(/=+$/, '');
  const padded = body.length !== text.length;
  if (!allowed.test(text) || body.length % 4 === 1 || (padded && text.length % 4 !== 0)) {
    throw new TypeError(`invalid ${what}`);
  }
  const out = new Uint8Array(Math.floor((body.length * 3) / 4));
  let bits = 0;
  let buffer = 0;
  let o = 0;
  for (let i = 0; i < body.length; i++) {
    buffer = (buffer << 6) | B64_VALUES[body.charCodeAt(i)]!;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (buffer >> bits) & 0xff;
      buffer &= (1 << bits) - 1;
    }
  }
  return out;
}

/** base64url without padding (PROTOCOL.md §1). */
export const toB64url = (bytes: Uint8Array): string => encodeBase64(bytes, B64URL_ALPHABET, false);
/** Standard base64 with padding. */
export const toB64 = (bytes: Uint8Array): string => encodeBase64(bytes, B64_ALPHABET, true);
/** Decodes base64url (padding optional). Throws TypeError on any other character. */
export const fromB64url = (text: string): Uint8Array => decodeBase64(text, /^[A-Za-z0-9_-]*={0,2}$/, 'base64url');
/** Decodes standard base64 (padding optional). Throws TypeError on any other character. */
export const fromB64 = (text: string): Uint8Array => decodeBase64(text, /^[A-Za-z0-9+/]*={0,2}$/, 'base64');
/** Decodes base64 in either alphabet, padding optional (QR data travels both ways). Throws TypeError otherwise. */
export const fromAnyB64 = (text: string): Uint8Array => decodeBase64(text.trim(), /^[A-Za-z0-9+/_-]*={0,2}$/, 'base64');

/**
 * An id as the NS takes it: base64url without padding, in its one canonical spelling (no
 * trailing bits), of exactly `length` bytes when given; undefined for anything else.
 */
export function idBytes(text: string, length?: number): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = fromB64url(text);
  } catch {
    return undefined;
  }
  if (length !== undefined && bytes.length !== length) return undefined;
  return toB64url(bytes) === text ? bytes : undefined;
}
