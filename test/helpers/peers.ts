/**
 * The peers of a test: phones (the real SDK over `ws`, optionally tampering with what they send),
 * and browsers on the text socket and on socket.io.
 */
import http from 'node:http';
import { decode } from '@msgpack/msgpack';
import { WebSocket } from 'ws';
import { io, type Socket } from 'socket.io-client';
import { MemoryKeyStore, Phone, type Consent, type PhoneOptions } from '../../src/sdk/app.ts';
import type { TestServer } from './ns.ts';

/** Rewrites (or records) each binary frame a phone sends; return undefined to send it as is. */
export type Tamper = (bytes: Uint8Array, frame: Record<string, unknown> | undefined) => Uint8Array | undefined;

/** A `ws` WebSocket whose sends go through `tamper`. */
export function tamperingSocket(tamper: Tamper): typeof WebSocket {
  return class extends WebSocket {
    override send(data: unknown, ...rest: unknown[]): void {
      if (data instanceof Uint8Array) {
        let frame: Record<string, unknown> | undefined;
        try {
          frame = decode(data) as Record<string, unknown>;
        } catch {
          frame = undefined;
        }
        data = tamper(data, frame) ?? data;
      }
      (super.send as (...a: unknown[]) => void)(data, ...rest);
    }
  } as typeof WebSocket;
}

export function newPhone(opts: Partial<PhoneOptions> & { sf?: Consent['sf']; decline?: boolean } = {}): Phone & { keystore: MemoryKeyStore } {
  const keystore = (opts.keystore as MemoryKeyStore | undefined) ?? new MemoryKeyStore();
  const phone = new Phone({
    WebSocket,
    timeoutMs: 5000,
    consent: () => ({ accept: !opts.decline, sf: opts.sf ?? 'none' }),
    ...opts,
    keystore,
  });
  return Object.assign(phone, { keystore });
}

/**
 * A WebSocket class whose connections come from `localAddress` (127.0.0.2, 127.0.1.1, …): another
 * source, as the NS sees it; with `forwardedFor`, as a proxy would send it (X-Forwarded-For).
 */
export function socketFrom(localAddress: string, forwardedFor?: string): typeof WebSocket {
  return class extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols ?? [], { localAddress, ...(forwardedFor ? { headers: { 'x-forwarded-for': forwardedFor } } : {}) });
    }
  } as typeof WebSocket;
}

const NONCE_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** A fresh random nonce of 32 characters. */
export const newNonce = (): string => Array.from({ length: 32 }, () => NONCE_CHARS[Math.floor(Math.random() * NONCE_CHARS.length)]).join('');

/** The raw QR bytes (base64) of a login or enrol code for a nonce. */
export async function qr(ns: Pick<TestServer, 'api'>, serverid: string, nonce: string, kind: 'login' | 'enrol' = 'login', query = ''): Promise<string> {
  const url = kind === 'login' ? `/servers/${serverid}/sessions/qr/login${query}` : `/servers/${serverid}/sessions/qr/enrol?name=phone${query}`;
  const r = await ns.api('GET', url, { headers: { 'x-nonce': nonce } });
  if (r.status !== 200) throw new Error(`qr ${kind}: ${r.status} ${JSON.stringify(r.body)}`);
  return Buffer.from(r.raw).toString('base64');
}

export async function getSession(ns: Pick<TestServer, 'api'>, serverid: string, nonce: string) {
  const r = await ns.api('GET', `/servers/${serverid}/sessions/`, { headers: { 'x-nonce': nonce } });
  if (r.status !== 200) throw new Error(`getSession: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Resolves when `check` holds, polling (for effects that land asynchronously). */
/** 'ok' when `p` resolves, else the code of its error (what the SDK or the NS refused with). */
export const codeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (e: { code?: string }) => e.code ?? String(e),
  );

/** Polls `check` until it holds; `what` (or what it returns when the time is up) names it in the error. */
export async function until(check: () => boolean | Promise<boolean>, what: string | (() => string), ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A browser on the text socket: what it heard, in order. */
export class TextBrowser {
  readonly heard: string[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => this.heard.push(d.toString()));
  }
  /** `localAddress` (127.0.0.2, 127.0.1.1, …): another source, as the NS sees it. */
  static open(ns: Pick<TestServer, 'url'>, headers: Record<string, string> = {}, localAddress?: string): Promise<TextBrowser> {
    const ws = new WebSocket(`${ns.url.replace('http', 'ws')}/ns/websocket`, { headers, ...(localAddress ? { localAddress } : {}) });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new TextBrowser(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }
  send(line: string): void {
    this.ws.send(line);
  }
  /** The types heard for one hsid (`LOGIN`, `CONFIRMSCAN`…). */
  types(hsid: string): string[] {
    return this.heard.filter((l) => l.split(' ')[1] === hsid).map((l) => l.split(' ')[0]!);
  }
  waitFor(type: string, hsid: string): Promise<void> {
    return until(() => this.types(hsid).includes(type), `${type} on the text socket`);
  }
  close(): void {
    this.ws.close();
  }
}

/** A browser on socket.io /sessions. */
export class IoBrowser {
  readonly heard: Array<{ srv: string; hsid: string; state: string; event: string; account?: number; number?: string; transaction?: { tid: string; outcome: string } }> = [];
  private constructor(readonly socket: Socket) {
    socket.on('status', (s) => this.heard.push(s));
  }
  static async open(ns: Pick<TestServer, 'url'>, localAddress?: string): Promise<IoBrowser> {
    const socket = io(`${ns.url}/sessions`, { transports: ['websocket'], reconnection: false, ...(localAddress ? { localAddress } : {}) });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    return new IoBrowser(socket);
  }
  watch(srv: string, hsid: string): Promise<{ state?: string; canprovoke?: boolean; error?: string }> {
    return this.socket.timeout(3000).emitWithAck('watch', { srv, hsid });
  }
  events(): string[] {
    return this.heard.map((h) => h.event);
  }
  waitFor(event: string): Promise<void> {
    return until(() => this.events().includes(event), `${event} on socket.io`);
  }
  close(): void {
    this.socket.close();
  }
}

/** A request with an api key (and a JSON body, if any) from a source address (127.0.0.x), as the NS sees it: status, Retry-After, body. */
export function requestFrom(
  method: string,
  url: string,
  key: string,
  localAddress: string,
  body?: unknown,
): Promise<{ status: number; retryAfter: string | undefined; body: unknown }> {
  const json = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const headers = { 'x-apikey': key, ...(json !== undefined ? { 'content-type': 'application/json' } : {}) };
    const req = http.request(url, { method, headers, localAddress }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(json);
  });
}

/** A GET with an api key from a source address (127.0.0.x). */
export const getFrom = (url: string, key: string, localAddress: string) => requestFrom('GET', url, key, localAddress);
