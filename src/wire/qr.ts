/** The bytes of login and enrol QR codes, and app links (PROTOCOL.md §3): made by the NS, read by apps. */
import { decode, encode } from '@msgpack/msgpack';
import { fromAnyB64, toB64url } from './base64url.ts';

/** A decoded QR code or app link. */
export type QrCode =
  | { v: 1; op: 'login'; srv: Uint8Array; hsid: Uint8Array; appUrl: string }
  | {
      v: 1;
      op: 'enrol';
      srv: Uint8Array;
      hsid: Uint8Array;
      appUrl: string;
      serverpk: Uint8Array;
      name: string;
      userid: string | null;
    };

/** `[1, "login", serverid, hsid, appUrl]` */
export const loginQr = (srv: Uint8Array, hsid: Uint8Array, appUrl: string): Uint8Array => encode([1, 'login', srv, hsid, appUrl]);

/** `[1, "enrol", serverid, hsid, appUrl, serverpk, name, userid|nil]` */
export const enrolQr = (srv: Uint8Array, hsid: Uint8Array, appUrl: string, serverpk: Uint8Array, name: string, userid: string | undefined): Uint8Array =>
  encode([1, 'enrol', srv, hsid, appUrl, serverpk, name, userid ?? null]);

/** `<prefix or "nextauth:">?qr=<base64url of the QR bytes>` */
export const qrLink = (prefix: string | undefined, bytes: Uint8Array): string => `${prefix || 'nextauth:'}?qr=${toB64url(bytes)}`;

/** A QR code that cannot be read; the message says why. */
export class QrError extends Error {
  override name = 'QrError';
  constructor(why: string) {
    super(`bad QR code: ${why}`);
  }
}

const isBytes = (value: unknown, length: number): value is Uint8Array => value instanceof Uint8Array && value.length === length;

/** Reads the raw bytes of a QR code; QrError on anything else (extra elements and trailing bytes included). */
export function parseQr(bytes: Uint8Array): QrCode {
  let value: unknown;
  try {
    value = decode(bytes, { maxStrLength: 4096, maxBinLength: 64, maxArrayLength: 16, maxMapLength: 0, maxExtLength: 0 });
  } catch {
    throw new QrError('not msgpack');
  }
  if (!Array.isArray(value)) throw new QrError('not an array');
  const [v, op, srv, hsid, appUrl] = value as unknown[];
  if (v !== 1) throw new QrError(`unsupported version ${String(v)}`);
  if (!isBytes(srv, 16)) throw new QrError('serverid is not 16 bytes');
  if (!isBytes(hsid, 32)) throw new QrError('hsid is not 32 bytes');
  if (typeof appUrl !== 'string' || !/^wss?:\/\/\S+$/i.test(appUrl)) throw new QrError('appUrl is not a ws(s) URL');
  const common = { v: 1 as const, srv: new Uint8Array(srv), hsid: new Uint8Array(hsid), appUrl };
  if (op === 'login') {
    if (value.length !== 5) throw new QrError('a login code has 5 elements');
    return { ...common, op };
  }
  if (op === 'enrol') {
    if (value.length !== 8) throw new QrError('an enrol code has 8 elements');
    const [serverpk, name, userid] = value.slice(5) as unknown[];
    if (!isBytes(serverpk, 32)) throw new QrError('serverpk is not 32 bytes');
    if (typeof name !== 'string') throw new QrError('name is not a string');
    if (userid !== null && typeof userid !== 'string') throw new QrError('userid is neither a string nor nil');
    return { ...common, op, serverpk: new Uint8Array(serverpk), name, userid };
  }
  throw new QrError(`unknown op ${String(op)}`);
}

/**
 * Reads a QR code given as text: base64 (`LoginStatus.loginqrdata`), base64url, or an app link
 * `<prefix>?qr=<base64url>` (any prefix, e.g. `nextauth:` or an https URL; `qr` may also follow `&`).
 */
export function parseQrText(text: string): QrCode {
  let data = text.trim();
  const link = /[?&]qr=([^&#]*)/.exec(data);
  if (link) {
    try {
      data = decodeURIComponent(link[1]!);
    } catch {
      throw new QrError('bad escape in app link');
    }
  }
  let bytes: Uint8Array;
  try {
    bytes = fromAnyB64(data);
  } catch {
    throw new QrError('not base64');
  }
  return parseQr(bytes);
}
