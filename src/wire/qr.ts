/**
 * The bytes of login and enrol QR codes, and app links (PROTOCOL.md §3).
 */
import { encode } from '@msgpack/msgpack';
import { appChannelUrl } from '../config.ts';
import { toB64url } from './base64url.ts';
import type { ServerRecord } from '../adapters/lowdb/data.ts';

/** The app channel URL a server's QR codes name: its `wsurl` if set, else ours. */
export const appUrlOf = (server: ServerRecord, publicUrl: string): string => server.wsurl || appChannelUrl(publicUrl);

const raw = (b64url: string) => Buffer.from(b64url, 'base64url');

/** `[1, "login", serverid, hsid, appUrl]` */
export const loginQrBytes = (server: ServerRecord, hsid: string, publicUrl: string): Uint8Array =>
  encode([1, 'login', raw(server.serverid), raw(hsid), appUrlOf(server, publicUrl)]);

/** `[1, "enrol", serverid, hsid, appUrl, serverpk, name, userid|nil]` */
export const enrolQrBytes = (server: ServerRecord, hsid: string, publicUrl: string, name: string, userid: string | undefined): Uint8Array =>
  encode([1, 'enrol', raw(server.serverid), raw(hsid), appUrlOf(server, publicUrl), raw(server.publicKey), name, userid ?? null]);

/** `<appurl or "nextauth:">?qr=<base64url of the QR bytes>` */
export const appLink = (server: ServerRecord, bytes: Uint8Array): string => `${server.appurl || 'nextauth:'}?qr=${toB64url(bytes)}`;
