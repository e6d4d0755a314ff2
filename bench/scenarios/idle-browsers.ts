/**
 * Scenario (b), idle waiting browsers: `n` browsers each with its own session (getSession, so
 * the NS holds a waiting session actor), registered on the text socket (`REGISTER`, answered
 * `LOGOUT`) or on socket.io (`watch`, acked `{state:"waiting"}`), then left open and idle.
 * The driver measures the server between the steps: sessions made, browsers connected.
 */
import { WebSocket } from 'ws';
import { io, type Socket } from 'socket.io-client';
import { newNonce, Rest } from '../lib/rest.ts';
import { pool } from '../lib/stats.ts';
import type { GeneratorContext } from '../generator.ts';

export type BrowserKind = 'text' | 'socketio';

export interface IdleStep {
  kind: BrowserKind;
  asked: number;
  done: number;
  errors: number;
  firstError?: string;
  seconds: number;
}

export class IdleBrowsers {
  #hsids: string[] = [];
  #text: WebSocket[] = [];
  #io: Socket[] = [];

  constructor(private readonly ctx: GeneratorContext) {}

  /** getSession for `n` fresh nonces (the sessions the browsers will wait on). */
  async makeSessions(kind: BrowserKind, n: number, concurrency: number): Promise<IdleStep> {
    const start = performance.now();
    let errors = 0;
    let firstError: string | undefined;
    // Its own REST client, closed after: keep-alive connections hold file descriptors in the server.
    const rest = new Rest(this.ctx.url, this.ctx.apikey, concurrency);
    const hsids = await pool(n, concurrency, async () => {
      try {
        const s = await rest.ok<{ hsid: string }>('GET', `/servers/${this.ctx.serverid}/sessions/`, { headers: { 'x-nonce': newNonce() } });
        return s.hsid;
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
        return undefined;
      }
    });
    this.#hsids = hsids.filter((h): h is string => h !== undefined);
    rest.close();
    return { kind, asked: n, done: this.#hsids.length, errors, ...(firstError ? { firstError } : {}), seconds: (performance.now() - start) / 1000 };
  }

  /** Opens up to `n` browsers of `kind` on the sessions made, `concurrency` handshakes at a time. */
  async connect(kind: BrowserKind, n: number, concurrency: number): Promise<IdleStep> {
    const start = performance.now();
    const hsids = this.#hsids.slice(0, n);
    let errors = 0;
    let firstError: string | undefined;
    await pool(hsids.length, concurrency, async (i) => {
      try {
        if (kind === 'text') this.#text.push(await this.#openText(hsids[i]!));
        else this.#io.push(await this.#openIo(hsids[i]!));
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
      }
    });
    const done = kind === 'text' ? this.#text.length : this.#io.length;
    return { kind, asked: hsids.length, done, errors, ...(firstError ? { firstError } : {}), seconds: (performance.now() - start) / 1000 };
  }

  #openText(hsid: string): Promise<WebSocket> {
    const ws = new WebSocket(`${this.ctx.url.replace(/^http/, 'ws')}/ns/websocket`, { perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (ws.terminate(), reject(new Error('text browser: no answer to REGISTER'))), 60_000);
      ws.once('open', () => ws.send(`REGISTER ${hsid} ${this.ctx.serverid}`));
      ws.once('message', (data) => {
        clearTimeout(timer);
        const line = data.toString();
        if (line.startsWith('LOGOUT ')) resolve(ws);
        else ws.terminate(), reject(new Error(`text browser: ${line}`));
      });
      ws.once('error', (e) => (clearTimeout(timer), reject(e)));
    });
  }

  async #openIo(hsid: string): Promise<Socket> {
    // forceNew: one engine.io connection per browser, as separate browsers have (io() would share one).
    const socket = io(`${this.ctx.url}/sessions`, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: 60_000 });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      const ack = (await socket.timeout(60_000).emitWithAck('watch', { srv: this.ctx.serverid, hsid })) as { state?: string; error?: string };
      if (ack.state !== 'waiting') throw new Error(`socket.io browser: watch answered ${JSON.stringify(ack)}`);
      return socket;
    } catch (e) {
      socket.close();
      throw e;
    }
  }

  /** Closes every browser and waits until their sockets are closed on this side. */
  async close(): Promise<void> {
    const closing: Promise<unknown>[] = [];
    for (const ws of this.#text) {
      if (ws.readyState === WebSocket.CLOSED) continue;
      closing.push(new Promise((r) => ws.once('close', r)));
      ws.close();
    }
    for (const s of this.#io) s.close();
    await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, 10_000))]);
    this.#text = [];
    this.#io = [];
    this.#hsids = [];
  }
}
