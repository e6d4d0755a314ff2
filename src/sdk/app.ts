/**
 * The phone side of nextAuth: the reference client of the app channel (PROTOCOL.md §3 and §4).
 *
 * It reads QR codes and app links, enrols accounts, logs in, and keeps a sealed connection
 * (pings, pushes, logouts). It depends only on `tweetnacl` and `@msgpack/msgpack` and uses no
 * Node API, so the same file runs in Node 20, browsers and React Native. Randomness comes from
 * tweetnacl, which uses `crypto.getRandomValues`: in React Native, install a polyfill such as
 * `react-native-get-random-values` before importing this file.
 *
 * ```ts
 * const phone = new Phone({ keystore: new MemoryKeyStore(), WebSocket });
 * await phone.enrol(enrolQrText);                            // stores the account
 * const { connection } = await phone.login(loginQrText);     // the browser is now logged in
 * connection.logout(hsid);
 * connection.close();
 * ```
 */
import nacl from 'tweetnacl';
import { fromB64, fromB64url, toB64, toB64url } from '../wire/base64url.ts';
import { LABELS } from '../wire/labels.ts';
import { decodeMsgpack, encodeMsgpack } from '../wire/msgpack.ts';
import { counterNonce, ENROL_RESULT_NONCE, FIRST_APP_COUNTER, FIRST_NS_COUNTER, HANDSHAKE_NONCE } from '../wire/nonces.ts';
import { QrError, type QrCode, parseQr as wireParseQr, parseQrText as wireParseQrText } from '../wire/qr.ts';
import type { KeyStore, StoredAccount } from './keystore.ts';

/** What the NS sends may carry the relying party's JSON (session info): read it with room to spare. */
const readMsgpack = (bytes: Uint8Array): unknown => decodeMsgpack(bytes, 64);

export { MemoryKeyStore, type KeyStore, type StoredAccount } from './keystore.ts';

// ───────────────────────────── bytes ─────────────────────────────

export { fromB64, fromB64url, toB64, toB64url };
export { counterNonce } from '../wire/nonces.ts';
export type { QrCode } from '../wire/qr.ts';

/** `a || b || …` */
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function isBytes(value: unknown, length?: number): value is Uint8Array {
  return value instanceof Uint8Array && (length === undefined || value.length === length);
}

// ───────────────────────────── errors ─────────────────────────────

/**
 * Every failure the SDK reports. `code` is one of BAD_QR, BAD_FRAME, BAD_SERVER_SIGNATURE,
 * NO_ACCOUNT, DECLINED, TIMEOUT, CLOSED, or the NS's own code (e.g. BAD_SIGNATURE) when it
 * answered `{t:"error"}`; then `message` is the NS's message.
 */
export class SdkError extends Error {
  readonly code: string;

  constructor(code: string, message?: string) {
    super(message ?? code);
    this.name = 'SdkError';
    this.code = code;
  }
}

// ───────────────────────────── QR codes (§3) ─────────────────────────────

/** Reads the raw bytes of a QR code (PROTOCOL.md §3); SdkError('BAD_QR') on anything else. */
export function parseQr(bytes: Uint8Array): QrCode {
  return asSdkError(() => wireParseQr(bytes));
}

/**
 * Reads a QR code given as text: base64 (`LoginStatus.loginqrdata`), base64url, or an app link
 * `<prefix>?qr=<base64url>` (any prefix, e.g. `nextauth:` or an https URL; `qr` may also follow `&`).
 */
export function parseQrText(text: string): QrCode {
  return asSdkError(() => wireParseQrText(text));
}

function asSdkError<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    throw e instanceof QrError ? new SdkError('BAD_QR', e.message) : e;
  }
}

/** A QrCode as is, or parsed from bytes or text. */
function toQr(qr: QrCode | Uint8Array | string): QrCode {
  if (typeof qr === 'string') return parseQrText(qr);
  return qr instanceof Uint8Array ? parseQr(qr) : qr;
}

// ───────────────────────────── signing ─────────────────────────────

/** Signs with an account key. Lets an app keep keys in secure hardware or use a faster library. */
export interface Signer {
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** The 64-byte Ed25519 signature of `message`. */
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/** A Signer over a 64-byte NaCl Ed25519 secret key (seed || public key). */
export function naclSigner(secretKey: Uint8Array): Signer {
  if (!isBytes(secretKey, nacl.sign.secretKeyLength)) throw new TypeError('a NaCl sign secret key has 64 bytes');
  const key = new Uint8Array(secretKey);
  return {
    publicKey: nacl.sign.keyPair.fromSecretKey(key).publicKey,
    sign: (message) => nacl.sign.detached(message, key),
  };
}

// ───────────────────────────── frames and keys (§4) ─────────────────────────────

/** One decoded frame: a msgpack map with a string `t`. */
export type Frame = Record<string, unknown>;

/** `value` is a plain map (not an array, not bytes, not null). */
function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** The frame in `bytes`, or undefined when they are not one msgpack map with a string `t`. */
function decodeFrame(bytes: Uint8Array): Frame | undefined {
  try {
    const value = readMsgpack(bytes);
    return isMap(value) && typeof value.t === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The two keys of one handshake: the NS seals with kS, the app with kC. */
export interface SessionKeys {
  kS: Uint8Array;
  kC: Uint8Array;
}

// ───────────────────────────── the connection ─────────────────────────────

/** What the SDK needs of a WebSocket: the browser / React Native API, which `ws` also offers. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket class: the global one, the `ws` package's, or any with the same API. */
export type WebSocketClass = typeof globalThis.WebSocket | (new (url: string) => unknown);

const OPEN = 1;
/** Close code when the peer breaks the sealed channel (a frame that does not open, or is not sealed). */
const CLOSE_POLICY = 1008;
const DEFAULT_TIMEOUT_MS = 15_000;

/** A received frame with the exact bytes it was decoded from (the inner plaintext when sealed). */
export interface ReceivedFrame {
  frame: Frame;
  bytes: Uint8Array;
}

type QueueItem = ReceivedFrame | { error: SdkError };

interface Waiter {
  accepts: (frame: Frame) => boolean;
  resolve: (received: ReceivedFrame) => void;
  reject: (error: SdkError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** The counters of a sealed channel: the next nonce each way. */
interface SealedChannel extends SessionKeys {
  sendCounter: number;
  receiveCounter: number;
}

/** The bytes of a binary WebSocket message in any of the shapes the runtimes deliver, or undefined. */
function messageBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) {
    // `ws` with binaryType "fragments"
    const parts = (data as unknown[]).map(messageBytes);
    return parts.every((p) => p !== undefined) ? concat(...(parts as Uint8Array[])) : undefined;
  }
  return undefined; // a text frame, or a Blob (binaryType could not be set)
}

/**
 * One app-channel WebSocket: binary msgpack frames, plus the sealing of §4.2.
 *
 * After the first handshake on the connection that ends in `{t:"result", ok:true}`, every frame
 * both ways is `{t:"sealed", box}`: the app seals with that handshake's kC counting from 1 and
 * opens with its kS counting from 2. Later handshakes travel inside sealed frames and do not
 * change the keys. A sealed frame that does not open closes the connection (code 1008).
 *
 * Received frames wait in a queue for `next()`, except `ping` (answered with `pong` at once)
 * and frames of a type that has `on()` handlers, which go to the handlers instead.
 */
export class AppConnection {
  /** Settles when the socket has closed, with the close code and reason. Never rejects. */
  readonly closed: Promise<{ code: number; reason: string }>;

  #socket: WebSocketLike;
  #timeoutMs: number;
  #queue: QueueItem[] = [];
  #waiters: Waiter[] = [];
  #handlers = new Map<string, Set<(frame: Frame) => void>>();
  #channel: SealedChannel | undefined;
  /** Keys of the handshake in progress; they seal the channel if its result is ok and it is not sealed yet. */
  #pendingKeys: SessionKeys | undefined;
  #isClosed = false;

  /**
   * Opens a connection to an app-channel URL (`ws(s)://host/ns/sigmai`). Rejects with
   * SdkError('CLOSED') when the socket cannot open, SdkError('TIMEOUT') after `timeoutMs`.
   */
  static open(url: string, options: { WebSocket?: WebSocketClass; timeoutMs?: number } = {}): Promise<AppConnection> {
    const Socket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketClass }).WebSocket;
    if (!Socket) return Promise.reject(new TypeError('no WebSocket in this runtime: pass one in the options'));
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const socket = new Socket(url) as WebSocketLike;
    socket.binaryType = 'arraybuffer';
    return new Promise((resolve, reject) => {
      const fail = (error: SdkError): void => {
        clearTimeout(timer);
        // No-ops rather than null: `ws` throws on an error event nobody listens to.
        socket.onopen = socket.onerror = socket.onclose = () => {};
        reject(error);
      };
      const timer = setTimeout(() => {
        fail(new SdkError('TIMEOUT', `no connection to ${url} within ${timeoutMs} ms`));
        socket.close();
      }, timeoutMs);
      socket.onopen = () => {
        clearTimeout(timer);
        resolve(new AppConnection(socket, timeoutMs));
      };
      socket.onerror = (event) => {
        const message = isMap(event) && typeof event.message === 'string' ? `: ${event.message}` : '';
        fail(new SdkError('CLOSED', `cannot connect to ${url}${message}`));
      };
      socket.onclose = (event) => fail(new SdkError('CLOSED', `cannot connect to ${url}: ${event.code} ${event.reason}`));
    });
  }

  /**
   * Wraps an open socket. Prefer `AppConnection.open()` or `Phone.connect()`.
   * @param timeoutMs default wait of `next()`
   */
  constructor(socket: WebSocketLike, timeoutMs = DEFAULT_TIMEOUT_MS) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.binaryType = 'arraybuffer';
    this.closed = new Promise((resolve) => {
      socket.onclose = (event) => {
        this.#shutDown(`connection closed: ${event.code} ${event.reason}`);
        resolve({ code: event.code, reason: event.reason });
      };
    });
    socket.onerror = () => {}; // a close event follows
    socket.onmessage = (event) => this.#onMessage(event.data);
  }

  /** True once a handshake on this connection has succeeded: frames are sealed both ways. */
  get sealed(): boolean {
    return this.#channel !== undefined;
  }

  /** Sends one frame, sealed once the channel is sealed. Throws SdkError('CLOSED') when closed. */
  send(map: Record<string, unknown>): void {
    this.sendEncoded(encodeMsgpack(map));
  }

  /** Sends one already msgpack-encoded map, sealed once the channel is sealed (keep `bytes` as M1). */
  sendEncoded(bytes: Uint8Array): void {
    const channel = this.#channel;
    if (!channel) return this.sendRaw(bytes);
    this.#assertOpen(); // before the counter moves
    const box = nacl.secretbox(bytes, counterNonce(channel.sendCounter), channel.kC);
    channel.sendCounter++;
    this.sendRaw(encodeMsgpack({ t: 'sealed', box }));
  }

  /** Sends exactly these bytes (a string goes as a text frame), never sealed. For tests. */
  sendRaw(bytes: Uint8Array | string): void {
    this.#assertOpen();
    this.#socket.send(bytes);
  }

  #assertOpen(): void {
    if (this.#isClosed || this.#socket.readyState !== OPEN) throw new SdkError('CLOSED', 'connection closed');
  }

  /**
   * The next received frame (unsealed). Rejects with SdkError('BAD_FRAME') for a frame that is
   * not a msgpack map, 'TIMEOUT' after `timeoutMs`, 'CLOSED' when the connection closes.
   */
  async next(timeoutMs?: number): Promise<Frame> {
    return (await this.receive(() => true, timeoutMs)).frame;
  }

  /**
   * The first received frame that `accepts` takes, with its exact bytes; frames it does not take
   * stay queued for later. Errors (BAD_FRAME, TIMEOUT, CLOSED) reject as with `next()`.
   */
  receive(accepts: (frame: Frame) => boolean, timeoutMs = this.#timeoutMs): Promise<ReceivedFrame> {
    const index = this.#queue.findIndex((item) => 'error' in item || accepts(item.frame));
    if (index >= 0) {
      const [item] = this.#queue.splice(index, 1);
      return 'error' in item ? Promise.reject(item.error) : Promise.resolve(item);
    }
    if (this.#isClosed) return Promise.reject(new SdkError('CLOSED', 'connection closed'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        accepts,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(new SdkError('TIMEOUT', `no answer within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /**
   * Calls `handler` for every received frame of type `type` (e.g. ping, push, deleted) instead of
   * queueing it for `next()`. Handlers must not throw. Returns the function that removes it.
   */
  on(type: string, handler: (frame: Frame) => void): () => void {
    const handlers = this.#handlers.get(type) ?? new Set();
    handlers.add(handler);
    this.#handlers.set(type, handlers);
    return () => void handlers.delete(handler);
  }

  /** Logs the session `hsid` out: `{t:"logout", hsid}`, sealed (on a sealed channel). */
  logout(hsid: Uint8Array): void {
    this.send({ t: 'logout', hsid });
  }

  /** Closes the socket (code 1000). */
  close(): void {
    this.#closeSocket(1000, '');
  }

  /**
   * Called by a handshake just before it sends its proof: if the channel is not sealed yet, the
   * next unsealed `{t:"result", ok:true}` seals it with these keys. The switch happens as that
   * frame arrives, so a sealed frame right behind it already opens.
   */
  expectResult(keys: SessionKeys): void {
    if (!this.#channel) this.#pendingKeys = keys;
  }

  #onMessage(data: unknown): void {
    if (this.#isClosed) return;
    const bytes = messageBytes(data);
    if (!bytes) return this.#deliverError(new SdkError('BAD_FRAME', 'received a text frame'));
    if (this.#channel) this.#onSealedChannelFrame(bytes, this.#channel);
    else this.#onPlainFrame(bytes);
  }

  #onPlainFrame(bytes: Uint8Array): void {
    const frame = decodeFrame(bytes);
    if (!frame) return this.#deliverError(new SdkError('BAD_FRAME', 'received a frame that is not a msgpack map'));
    if (frame.t === 'result' || frame.t === 'error') {
      if (frame.t === 'result' && frame.ok === true && this.#pendingKeys) {
        const { kS, kC } = this.#pendingKeys;
        this.#channel = { kS, kC, sendCounter: FIRST_APP_COUNTER, receiveCounter: FIRST_NS_COUNTER };
      }
      this.#pendingKeys = undefined;
    }
    this.#deliver({ frame, bytes });
  }

  #onSealedChannelFrame(bytes: Uint8Array, channel: SealedChannel): void {
    const outer = decodeFrame(bytes);
    if (!outer) return this.#deliverError(new SdkError('BAD_FRAME', 'received a frame that is not a msgpack map'));
    // Lenient: an unsealed error can only fail what is waiting, so it is passed on rather than fatal.
    if (outer.t === 'error') return this.#deliver({ frame: outer, bytes });
    if (outer.t !== 'sealed' || !isBytes(outer.box)) return this.#closeSocket(CLOSE_POLICY, 'unsealed frame on a sealed channel');
    const inner = nacl.secretbox.open(outer.box, counterNonce(channel.receiveCounter), channel.kS);
    if (!inner) return this.#closeSocket(CLOSE_POLICY, 'sealed frame does not open');
    channel.receiveCounter++;
    const frame = decodeFrame(inner);
    if (!frame) return this.#deliverError(new SdkError('BAD_FRAME', 'sealed frame does not hold a msgpack map'));
    this.#deliver({ frame, bytes: inner });
  }

  /** Answers pings, calls handlers, or hands the frame to the first waiter that takes it, or queues it. */
  #deliver(received: ReceivedFrame): void {
    const { frame } = received;
    if (frame.t === 'ping' && this.#socket.readyState === OPEN) this.send({ t: 'pong', n: frame.n });
    const handlers = this.#handlers.get(frame.t as string);
    if (handlers?.size) {
      for (const handler of [...handlers]) handler(frame);
      return;
    }
    if (frame.t === 'ping') return;
    const waiter = this.#waiters.find((w) => w.accepts(frame));
    if (!waiter) return void this.#queue.push(received);
    this.#removeWaiter(waiter);
    waiter.resolve(received);
  }

  #deliverError(error: SdkError): void {
    const waiter = this.#waiters[0];
    if (!waiter) return void this.#queue.push({ error });
    this.#removeWaiter(waiter);
    waiter.reject(error);
  }

  #removeWaiter(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    this.#waiters = this.#waiters.filter((w) => w !== waiter);
  }

  #closeSocket(code: number, reason: string): void {
    this.#shutDown(reason || 'connection closed');
    this.#socket.close(code, reason);
  }

  /** Stops taking frames and fails every waiter with CLOSED. Idempotent. */
  #shutDown(reason: string): void {
    this.#isClosed = true;
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new SdkError('CLOSED', reason));
    }
    this.#waiters = [];
  }
}

// ───────────────────────────── the handshake (§4.1) ─────────────────────────────

/** What the NS shows the user before consent: `info` of the challenge. */
export interface ChallengeInfo {
  name: string;
  logo?: string;
  pinTimeout: number;
  session: { ip?: string; ua?: string; info?: unknown };
  announce?: unknown;
  number?: string;
  [k: string]: unknown;
}

/** The user's answer to a challenge. */
export interface Consent {
  accept: boolean;
  /** The second factor the user gave; default 'none'. */
  sf?: 'none' | 'pin' | 'biometric';
  /** Text the user typed, passed to the relying party (login only). */
  input?: string;
  /** After a push with number match: the number the user picked (it must be `info.number`). */
  number?: string;
  /** With `accept: false` after a push: "deny and report" mutes pushes to this account for a while. */
  report?: boolean;
}

/** A checked challenge: what to show, and what the proof needs. */
interface Challenge {
  info: ChallengeInfo;
  keys: SessionKeys;
  h2: Uint8Array;
}

const sha512 = (...parts: Uint8Array[]): Uint8Array => nacl.hash(concat(...parts));

/** Throws the NS's error as an SdkError when `frame` is `{t:"error"}`. */
function throwIfError(frame: Frame): void {
  if (frame.t !== 'error') return;
  const code = typeof frame.code === 'string' ? frame.code : 'ERROR';
  throw new SdkError(code, typeof frame.message === 'string' ? frame.message : code);
}

/** `info` of a challenge when it has the fields the app relies on. */
function readChallengeInfo(info: unknown): ChallengeInfo | undefined {
  if (!isMap(info) || typeof info.name !== 'string' || typeof info.pinTimeout !== 'number') return undefined;
  if (info.session !== undefined && !isMap(info.session)) return undefined;
  return { ...info, name: info.name, pinTimeout: info.pinTimeout, session: info.session ?? {} };
}

/**
 * Steps 1–4 of §4.1: sends `hello`, takes the challenge, derives kS/kC, opens the box and checks
 * that `srv` is the expected server and `sigS` verifies under `serverpk`.
 */
async function sendHello(
  conn: AppConnection,
  hello: { op: 'login' | 'enrol' | 'listen'; srv: Uint8Array; hsid?: Uint8Array; serverpk: Uint8Array },
  timeoutMs: number,
): Promise<Challenge> {
  const ea = nacl.box.keyPair();
  const m1 = encodeMsgpack({
    t: 'hello',
    v: 1,
    op: hello.op,
    srv: hello.srv,
    ...(hello.hsid ? { hsid: hello.hsid } : {}),
    ea: ea.publicKey,
    na: nacl.randomBytes(32),
  });
  conn.sendEncoded(m1);

  const { frame, bytes: m2 } = await conn.receive((f) => f.t === 'challenge' || f.t === 'error', timeoutMs);
  throwIfError(frame);
  const { es, ns, box } = frame;
  if (!isBytes(es, 32) || !isBytes(ns, 32) || !isBytes(box)) throw new SdkError('BAD_FRAME', 'malformed challenge');

  const dh = nacl.scalarMult(ea.secretKey, es);
  if (dh.every((b) => b === 0)) throw new SdkError('BAD_FRAME', 'challenge key is of low order');
  const h1 = sha512(m1, es, ns);
  const k = sha512(LABELS.sigma, dh, h1);
  const keys = { kS: k.slice(0, 32), kC: k.slice(32, 64) };

  const opened = nacl.secretbox.open(box, HANDSHAKE_NONCE, keys.kS);
  if (!opened) throw new SdkError('BAD_SERVER_SIGNATURE', 'challenge box does not open');
  let content: unknown;
  try {
    content = readMsgpack(opened);
  } catch {
    throw new SdkError('BAD_FRAME', 'challenge box does not hold msgpack');
  }
  if (!isMap(content) || !isBytes(content.srv) || !isBytes(content.sig, 64)) {
    throw new SdkError('BAD_FRAME', 'malformed challenge box');
  }
  if (!bytesEqual(content.srv, hello.srv)) throw new SdkError('BAD_SERVER_SIGNATURE', 'challenge is from another server');
  if (!nacl.sign.detached.verify(concat(LABELS.server, h1), content.sig, hello.serverpk)) {
    throw new SdkError('BAD_SERVER_SIGNATURE', 'server signature does not verify');
  }
  const info = readChallengeInfo(content.info);
  if (!info) throw new SdkError('BAD_FRAME', 'malformed challenge info');
  return { info, keys, h2: sha512(h1, m2) };
}

/** Steps 5–6 of §4.1: sends the proof box, returns the ok result (or throws the NS's error). */
async function sendProof(conn: AppConnection, challenge: Challenge, proof: Record<string, unknown>, timeoutMs: number): Promise<Frame & { acc: number }> {
  const box = nacl.secretbox(encodeMsgpack(proof), HANDSHAKE_NONCE, challenge.keys.kC);
  conn.expectResult(challenge.keys);
  conn.send({ t: 'proof', box });
  const { frame } = await conn.receive((f) => f.t === 'result' || f.t === 'error', timeoutMs);
  throwIfError(frame);
  if (frame.ok !== true || typeof frame.acc !== 'number') throw new SdkError('BAD_FRAME', 'malformed result');
  return { ...frame, acc: frame.acc };
}

/** The server's settings for a new account, from the enrol result box (§4.1 step 6). */
interface EnrolSettings {
  name: string;
  logo?: string;
  pinTimeout: number;
  pingTime: number;
}

/** Opens the box of an enrol result (nonce 23 zero bytes || 0x01, key kS) and checks its fields. */
function openEnrolResult(result: Frame & { acc: number }, keys: SessionKeys): EnrolSettings {
  const opened = isBytes(result.box) ? nacl.secretbox.open(result.box, ENROL_RESULT_NONCE, keys.kS) : null;
  if (!opened) throw new SdkError('BAD_FRAME', 'enrol result box is missing or does not open');
  let r: unknown;
  try {
    r = readMsgpack(opened);
  } catch {
    r = undefined;
  }
  const valid =
    isMap(r) &&
    r.acc === result.acc &&
    typeof r.name === 'string' &&
    typeof r.pinTimeout === 'number' &&
    typeof r.pingTime === 'number' &&
    (r.logo === undefined || r.logo === null || typeof r.logo === 'string');
  if (!valid) throw new SdkError('BAD_FRAME', 'malformed enrol result box');
  const { name, pinTimeout, pingTime, logo } = r as { name: string; pinTimeout: number; pingTime: number; logo?: string | null };
  return { name, pinTimeout, pingTime, ...(typeof logo === 'string' ? { logo } : {}) };
}

// ───────────────────────────── the phone ─────────────────────────────

export interface PhoneOptions {
  keystore: KeyStore;
  /** Default globalThis.WebSocket; in Node 20 pass the `ws` package's WebSocket. */
  WebSocket?: WebSocketClass;
  /** Asked before every proof; default: accept with sf 'none'. */
  consent?: (info: ChallengeInfo, op: 'login' | 'enrol') => Consent | Promise<Consent>;
  /** Makes the Signer for an account; default naclSigner of its secretKey. */
  signer?: (account: StoredAccount) => Signer;
  /** Wait for each awaited frame (and for a connection to open), default 15000 ms. */
  timeoutMs?: number;
  /** Sent as `client` in the enrol proof, default 'nextauth-sdk/1'. */
  clientVersion?: string;
}

/** The result of a login (or listen) handshake. */
export interface LoginResult {
  acc: number;
  info: ChallengeInfo;
  /** The connection the handshake ran on, now sealed; the caller closes it. */
  connection: AppConnection;
  /** h2 of this handshake: a transaction approved on this connection is signed with it. */
  transcript: Uint8Array;
}

/** A phone: its accounts and what it can do with them. */
export class Phone {
  readonly #opts: PhoneOptions;
  readonly #timeoutMs: number;

  constructor(opts: PhoneOptions) {
    this.#opts = opts;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Opens a connection to an app-channel URL (ws://host:port/ns/sigmai). */
  connect(appUrl: string): Promise<AppConnection> {
    return AppConnection.open(appUrl, { WebSocket: this.#opts.WebSocket, timeoutMs: this.#timeoutMs });
  }

  /**
   * Enrols with an enrol QR code: checks the challenge's server signature against the QR's
   * serverpk, makes a new Ed25519 key (and an X25519 key for pushes), sends the enrol proof, opens
   * the result box, and stores the account with the pinned serverpk.
   *
   * Runs on `opts.connection` if given (and leaves it open, now sealed), else on a connection of
   * its own to the QR's appUrl, which it closes before returning.
   * @param opts.description the account's name on the server; default the QR's name
   */
  async enrol(
    qr: QrCode | Uint8Array | string,
    opts: { description?: string; connection?: AppConnection } = {},
  ): Promise<{ acc: number; account: StoredAccount; info: ChallengeInfo }> {
    const code = toQr(qr);
    if (code.op !== 'enrol') throw new SdkError('BAD_QR', 'not an enrol QR code');
    const signKeys = nacl.sign.keyPair();
    const boxKeys = nacl.box.keyPair();
    const conn = opts.connection ?? (await this.connect(code.appUrl));
    try {
      const hello = { op: 'enrol' as const, srv: code.srv, hsid: code.hsid, serverpk: code.serverpk };
      const challenge = await sendHello(conn, hello, this.#timeoutMs);
      const consent = await this.#askConsent(conn, challenge.info, 'enrol');
      const result = await sendProof(
        conn,
        challenge,
        {
          pk: signKeys.publicKey,
          pkx: boxKeys.publicKey,
          name: opts.description ?? code.name,
          client: this.#opts.clientVersion ?? 'nextauth-sdk/1',
          sf: consent.sf ?? 'none',
          sig: nacl.sign.detached(concat(LABELS.enrol, challenge.h2), signKeys.secretKey),
        },
        this.#timeoutMs,
      );
      const settings = openEnrolResult(result, challenge.keys);
      const account: StoredAccount = {
        serverid: toB64url(code.srv),
        serverpk: toB64url(code.serverpk),
        acc: result.acc,
        secretKey: toB64url(signKeys.secretKey),
        boxSecretKey: toB64url(boxKeys.secretKey),
        name: settings.name,
        appUrl: code.appUrl,
        pinTimeout: settings.pinTimeout,
        pingTime: settings.pingTime,
        ...(settings.logo !== undefined ? { logo: settings.logo } : {}),
        userid: code.userid,
      };
      await this.#opts.keystore.put(account);
      return { acc: result.acc, account, info: challenge.info };
    } finally {
      if (!opts.connection) conn.close();
    }
  }

  /**
   * Logs in with a login QR code, with the stored account for its server (`opts.acc`, or the
   * first one). The challenge must be signed by the serverpk pinned in that account. Rejects
   * with NO_ACCOUNT when there is no such account, DECLINED (after sending `{t:"decline"}`)
   * when consent says no, or the NS's error code.
   *
   * Runs on `opts.connection` if given, else on a new connection to the QR's appUrl, which is
   * returned on success (sealed; pings are answered; the caller closes it) and closed on failure.
   */
  async login(qr: QrCode | Uint8Array | string, opts: { acc?: number; connection?: AppConnection } = {}): Promise<LoginResult> {
    const code = toQr(qr);
    if (code.op !== 'login') throw new SdkError('BAD_QR', 'not a login QR code');
    const account = await this.#account(toB64url(code.srv), opts.acc);
    return this.#withConnection(opts.connection, code.appUrl, (conn) => this.#authenticate(conn, account, 'login', code.hsid));
  }

  /**
   * Runs a `listen` handshake (§4.1, no hsid, label "nextauth/listen") for a stored account, so
   * the NS can send `push` frames on the returned connection. No consent is asked.
   * @param serverid base64url server id
   */
  async listen(serverid: string, opts: { acc?: number; connection?: AppConnection } = {}): Promise<LoginResult> {
    const account = await this.#account(serverid, opts.acc);
    return this.#withConnection(opts.connection, account.appUrl, (conn) => this.#authenticate(conn, account, 'listen'));
  }

  /** Login or listen handshake of `account` on `conn`. */
  async #authenticate(conn: AppConnection, account: StoredAccount, op: 'login' | 'listen', hsid?: Uint8Array): Promise<LoginResult> {
    const srv = fromB64url(account.serverid);
    const challenge = await sendHello(conn, { op, srv, hsid, serverpk: fromB64url(account.serverpk) }, this.#timeoutMs);
    const consent: Consent = op === 'login' ? await this.#askConsent(conn, challenge.info, 'login') : { accept: true };
    const signer = this.#opts.signer?.(account) ?? naclSigner(fromB64url(account.secretKey));
    const sig = await signer.sign(concat(op === 'login' ? LABELS.login : LABELS.listen, challenge.h2));
    const input = consent.input !== undefined ? { input: consent.input } : {};
    const number = consent.number !== undefined ? { number: consent.number } : {};
    const proof = { acc: account.acc, sig, sf: consent.sf ?? 'none', ...input, ...number };
    const result = await sendProof(conn, challenge, proof, this.#timeoutMs);
    return { acc: result.acc, info: challenge.info, connection: conn, transcript: challenge.h2 };
  }

  /** Asks the consent callback; on a refusal sends `{t:"decline"}` and throws DECLINED. */
  async #askConsent(conn: AppConnection, info: ChallengeInfo, op: 'login' | 'enrol'): Promise<Consent> {
    const consent = this.#opts.consent ? await this.#opts.consent(info, op) : { accept: true };
    if (consent.accept) return consent;
    conn.send(consent.report ? { t: 'decline', report: true } : { t: 'decline' });
    throw new SdkError('DECLINED', `the user declined the ${op}`);
  }

  /** The stored account `acc` of `serverid`, or its first one; NO_ACCOUNT when there is none. */
  async #account(serverid: string, acc?: number): Promise<StoredAccount> {
    const accounts = await this.#opts.keystore.find(serverid);
    const account = acc === undefined ? accounts[0] : accounts.find((a) => a.acc === acc);
    if (!account) throw new SdkError('NO_ACCOUNT', `no account${acc === undefined ? '' : ` ${acc}`} for server ${serverid}`);
    return account;
  }

  /** Runs `use` on `given`, or on a new connection to `appUrl` that is closed if `use` fails. */
  async #withConnection<T>(given: AppConnection | undefined, appUrl: string, use: (conn: AppConnection) => Promise<T>): Promise<T> {
    if (given) return use(given);
    const conn = await this.connect(appUrl);
    try {
      return await use(conn);
    } catch (e) {
      conn.close();
      throw e;
    }
  }
}

/** A push frame's content (`{t:"push", hsid, srv, info}`) as a login code the phone can answer with `login`. */
export function pushToQr(push: Frame, appUrl: string): QrCode {
  const { hsid, srv } = push;
  if (!(hsid instanceof Uint8Array) || hsid.length !== 32 || !(srv instanceof Uint8Array) || srv.length !== 16) {
    throw new SdkError('BAD_FRAME', 'not a push frame');
  }
  return { v: 1, op: 'login', srv, hsid, appUrl };
}

/**
 * Opens a push that came through the push gateway: `payload` is base64 of msgpack
 * `{epk, nonce, box}`, a `nacl.box` to the account's X25519 key. Returns the push frame's content.
 */
export function openPushPayload(payload: string, boxSecretKey: Uint8Array): Frame {
  let sealed: unknown;
  try {
    sealed = readMsgpack(fromB64(payload));
  } catch {
    throw new SdkError('BAD_FRAME', 'the push payload is not msgpack');
  }
  const { epk, nonce, box } = (sealed ?? {}) as { epk?: unknown; nonce?: unknown; box?: unknown };
  if (!(epk instanceof Uint8Array) || !(nonce instanceof Uint8Array) || !(box instanceof Uint8Array)) throw new SdkError('BAD_FRAME', 'not a push payload');
  const plain = nacl.box.open(box, nonce, epk, boxSecretKey);
  if (!plain) throw new SdkError('BAD_FRAME', 'the push payload does not open with this key');
  const content = readMsgpack(plain);
  if (typeof content !== 'object' || content === null) throw new SdkError('BAD_FRAME', 'the push payload is not a map');
  return content as Frame;
}

/** A transaction as the phone must show it: the fields of the exact bytes it signs. */
export interface TransactionView {
  tid: string;
  /** base64url server id and account the transaction is for */
  srv: string;
  acc: number;
  amount?: string;
  benificiary?: string;
  description?: string;
}

/** Reads a `transaction` frame; what is shown comes from the signed bytes `tx`, nothing else. */
export function readTransaction(frame: Frame): TransactionView {
  if (!(frame.tx instanceof Uint8Array)) throw new SdkError('BAD_FRAME', 'not a transaction frame');
  const fields = readMsgpack(frame.tx) as Record<string, unknown>;
  if (!isMap(fields) || typeof fields.tid !== 'string' || typeof fields.srv !== 'string' || typeof fields.acc !== 'number') {
    throw new SdkError('BAD_FRAME', 'not a transaction');
  }
  const text = (k: string) => (typeof fields[k] === 'string' ? { [k]: fields[k] as string } : {});
  return { tid: fields.tid, srv: fields.srv, acc: fields.acc, ...text('amount'), ...text('benificiary'), ...text('description') };
}

/**
 * Answers a transaction on the connection it came on. Approving signs
 * `"nextauth/transaction" || transcript || tx` with the account's key, where `transcript` is the
 * h2 of the handshake that proved the account on this connection (`LoginResult.transcript`).
 * A transaction always needs the second factor. Resolves when the NS took the answer.
 */
export async function answerTransaction(
  conn: AppConnection,
  frame: Frame,
  opts: { signer: Signer; transcript: Uint8Array; approve: boolean; sf?: 'none' | 'pin' | 'biometric' },
): Promise<void> {
  const view = readTransaction(frame);
  const tx = frame.tx as Uint8Array;
  if (opts.approve) {
    const sig = await opts.signer.sign(concat(LABELS.transaction, opts.transcript, tx));
    conn.send({ t: 'approve', tid: view.tid, sig, sf: opts.sf ?? 'none' });
  } else {
    conn.send({ t: 'reject', tid: view.tid });
  }
  const { frame: answer } = await conn.receive((f) => f.t === 'error' || (f.t === 'result' && f.tid === view.tid));
  throwIfError(answer);
}
