/** base64url (no padding) and base64 helpers for ids, keys and QR data. */
export const toB64url = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
export const toB64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/** Decodes strict base64url of exactly `length` bytes, or returns undefined. */
export function fromB64url(text: string, length?: number): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  if (length !== undefined && bytes.length !== length) return undefined;
  // Reject non-canonical encodings (trailing bits), so one id has one spelling.
  return bytes.toString('base64url') === text ? bytes : undefined;
}

/** Accepts base64 or base64url, with or without padding (QR data travels both ways). */
export function fromAnyB64(text: string): Buffer | undefined {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(t)) return undefined;
  return Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}
