/**
 * The reading half of one app connection (PROTOCOL.md §4), as `ws` splits its engine: one
 * WebSocket message in, one event of the connection machine (machines/connection.ts) out. It
 * decodes, checks each frame against its schema (src/wire/frames.ts) and, once sealed, opens
 * each `{t:"sealed", box}` with the next counter. What a frame means in the connection's state
 * is the machine's: the receiver keeps no session, no handshake, and answers nothing.
 *
 * Two parser states:
 * - `plain` (until the first handshake completes): a message must be a binary msgpack map with a
 *   string `t`. What cannot be read is `malformed` (`BAD_FRAME`, `BAD_MESSAGE`,
 *   `UNSUPPORTED_VERSION`); a `{t:"sealed"}` map is `unopened` (there are no keys yet).
 * - `sealed` (after `seal(kC)`): a message must be a `{t:"sealed", box}` map whose box opens with
 *   kC and the next counter (§4.2: the app counts from 1). Anything else is `plain` (a text
 *   frame, bytes that are not msgpack, a map that is not `sealed`) or `unopened` (replayed,
 *   dropped, reordered, forged), and the counter does not move. The inner map of a box that
 *   opened is read as a frame of the `plain` state: its `malformed` is answered, not fatal.
 */
import { NsError } from '../../wire/errors.ts';
import { toB64url } from '../../wire/base64url.ts';
import { check, decodeFrame, PROTOCOL_VERSION, type Frame } from '../../wire/frames.ts';
import { counterNonce, FIRST_APP_COUNTER } from '../../wire/nonces.ts';
import { open } from '../../wire/secretbox.ts';
import type { ChannelKeys, ConnectionEvent } from '../../../machines/connection.ts';

/** The events a message from the app becomes. */
export type ReceivedEvent = Extract<ConnectionEvent, { type: 'hello' | 'proof' | 'decline' | 'logout' | 'pong' | 'approve' | 'reject' | 'malformed' | 'unopened' | 'plain' }>;

export type ReceiverState = 'plain' | 'sealed';

export interface ReceiverOptions {
  /**
   * §4.1 step 2 for a `hello` that fits its schema: the handshake's keys from `M1` (the exact
   * bytes of the hello, the inner map when sealed) and `ea`; undefined when the key agreement is
   * all zero (`BAD_MESSAGE`).
   */
  keysFor(m1: Uint8Array, ea: Uint8Array): ChannelKeys | undefined;
  /** Each frame read (`t`, `sealed:<t>` for an inner map), for metrics. */
  onFrame?(t: string): void;
}

export class Receiver {
  #state: ReceiverState = 'plain';
  #kC: Uint8Array | undefined;
  #counter = FIRST_APP_COUNTER;

  constructor(private readonly opts: ReceiverOptions) {}

  get state(): ReceiverState {
    return this.#state;
  }

  /** The counter the next sealed frame must open with. */
  get counter(): number {
    return this.#counter;
  }

  /** From now on every message must be a sealed frame, opened with `kC` (§4.2). Once only. */
  seal(kC: Uint8Array): void {
    if (this.#state === 'sealed') throw new Error('the receiver is sealed already');
    this.#kC = kC;
    this.#state = 'sealed';
  }

  /** One WebSocket message: the machine's event for it. */
  read(data: Uint8Array, isBinary: boolean): ReceivedEvent {
    switch (this.#state) {
      case 'plain':
        return this.#readPlain(data, isBinary);
      case 'sealed':
        return this.#readSealed(data, isBinary);
    }
  }

  #readPlain(data: Uint8Array, isBinary: boolean): ReceivedEvent {
    if (!isBinary) return { type: 'malformed', code: 'BAD_FRAME', message: 'Frames are binary msgpack, not text' };
    const frame = this.#decode(data, '');
    if (!('t' in frame)) return frame;
    if (frame.t === 'sealed') return { type: 'unopened' };
    return this.#event(frame, data);
  }

  #readSealed(data: Uint8Array, isBinary: boolean): ReceivedEvent {
    if (!isBinary) return { type: 'plain' };
    let outer: Frame;
    try {
      outer = decodeFrame(data);
    } catch {
      return { type: 'plain' };
    }
    this.opts.onFrame?.(outer.t);
    if (outer.t !== 'sealed') return { type: 'plain' };
    let box: Uint8Array;
    try {
      box = check('sealed', outer).box;
    } catch {
      return { type: 'unopened' };
    }
    const inner = open(box, counterNonce(this.#counter), this.#kC!);
    if (!inner) return { type: 'unopened' };
    this.#counter++;
    const frame = this.#decode(inner, 'sealed:');
    if (!('t' in frame)) return frame;
    return this.#event(frame, inner);
  }

  /** One msgpack map with a string `t` (counted), or `malformed` BAD_FRAME. */
  #decode(bytes: Uint8Array, prefix: string): Frame | ReceivedEvent {
    try {
      const frame = decodeFrame(bytes);
      this.opts.onFrame?.(`${prefix}${frame.t}`);
      return frame;
    } catch (e) {
      return malformed(e);
    }
  }

  /** A frame of the app (or an inner map) as the machine's event; `bytes` are its exact bytes. */
  #event(frame: Frame, bytes: Uint8Array): ReceivedEvent {
    try {
      switch (frame.t) {
        case 'hello':
          return this.#hello(frame, bytes);
        case 'proof':
          return { type: 'proof', box: check('proof', frame).box };
        case 'decline': {
          const { report } = check('decline', frame);
          return report === undefined ? { type: 'decline' } : { type: 'decline', report };
        }
        case 'logout':
          return { type: 'logout', hsid: toB64url(check('logout', frame).hsid) };
        case 'pong':
          return { type: 'pong', n: check('pong', frame).n };
        case 'approve': {
          const { tid, sig, sf } = check('approve', frame);
          return { type: 'approve', tid, sig, sf };
        }
        case 'reject':
          return { type: 'reject', tid: check('reject', frame).tid };
        default:
          // `sealed` inside a sealed frame too: the app sends none of the NS's frame types.
          return { type: 'malformed', code: 'BAD_MESSAGE', message: `Unknown frame type "${frame.t.slice(0, 32)}"` };
      }
    } catch (e) {
      return malformed(e);
    }
  }

  #hello(frame: Frame, m1: Uint8Array): ReceivedEvent {
    // The version first: a later version may have another schema.
    if (frame.v !== PROTOCOL_VERSION) {
      return { type: 'malformed', code: 'UNSUPPORTED_VERSION', message: `Version ${shown(frame.v)} is not supported; use ${PROTOCOL_VERSION}` };
    }
    const hello = check('hello', frame);
    if (hello.op === 'listen' ? hello.hsid !== undefined : hello.hsid === undefined) {
      return { type: 'malformed', code: 'BAD_MESSAGE', message: `hello: hsid is ${hello.op === 'listen' ? 'not taken' : 'required'} for op "${hello.op}"` };
    }
    const keys = this.opts.keysFor(m1, hello.ea);
    if (!keys) return { type: 'malformed', code: 'BAD_MESSAGE', message: 'hello: ea gives an all-zero key agreement' };
    const serverid = toB64url(hello.srv);
    return hello.op === 'listen' ? { type: 'hello', op: 'listen', serverid, keys } : { type: 'hello', op: hello.op, serverid, hsid: toB64url(hello.hsid!), keys };
  }
}

/**
 * A value of the app's frame as a message may show it: a scalar as text (cut), anything else by
 * its kind. Never `String(value)` of a map: a map with a key `toString` (msgpack can carry one)
 * throws there (found by test/fuzz/app-channel.test.ts: it was answered INTERNAL).
 */
function shown(value: unknown): string {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return String(value).slice(0, 32);
  return value instanceof Uint8Array ? 'bytes' : Array.isArray(value) ? 'an array' : 'a map';
}

/** A decoding or schema error as the machine's `malformed` event. */
function malformed(e: unknown): ReceivedEvent {
  if (e instanceof NsError && (e.code === 'BAD_FRAME' || e.code === 'BAD_MESSAGE')) return { type: 'malformed', code: e.code, message: e.message };
  throw e;
}
