/** The QR codes and app links of a server's sessions, as the REST API and the HTML blocks give them. */
import { appChannelUrl } from '../../config.ts';
import type { ServerRecord } from '../../ports.ts';
import { fromB64url } from '../../wire/base64url.ts';
import { enrolQr, loginQr, qrLink } from '../../wire/qr.ts';

/** The app channel URL a server's QR codes name: its `wsurl` if set, else ours. */
export const appUrlOf = (server: ServerRecord, publicUrl: string): string => server.wsurl || appChannelUrl(publicUrl);

export const loginQrBytes = (server: ServerRecord, hsid: string, publicUrl: string): Uint8Array =>
  loginQr(fromB64url(server.serverid), fromB64url(hsid), appUrlOf(server, publicUrl));

export const enrolQrBytes = (server: ServerRecord, hsid: string, publicUrl: string, name: string, userid: string | undefined): Uint8Array =>
  enrolQr(fromB64url(server.serverid), fromB64url(hsid), appUrlOf(server, publicUrl), fromB64url(server.publicKey), name, userid);

/** `<server.appurl or "nextauth:">?qr=…` */
export const appLink = (server: ServerRecord, bytes: Uint8Array): string => qrLink(server.appurl, bytes);
