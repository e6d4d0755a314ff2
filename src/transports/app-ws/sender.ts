/**
 * The writing half of one app connection (PROTOCOL.md §4), as `ws` splits its engine: the only
 * place that writes to the socket. Before sealing a frame goes out as its plain msgpack bytes;
 * after `seal(kS)` every frame goes out as `{t:"sealed", box}`, its box sealed with kS and the
 * next NS counter (§4.2: the NS counts from 2; 0 and 1 were the handshake's nonces). Which frame
 * goes out when is the connection machine's: the sender only encodes, seals and counts.
 */
import { encodeFrame } from '../../wire/frames.ts';
import { counterNonce, FIRST_NS_COUNTER } from '../../wire/nonces.ts';
import { seal } from '../../wire/secretbox.ts';

/** The socket, as the sender writes to it. */
export interface Link {
  send(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
}

export type SenderState = 'plain' | 'sealed' | 'closed';

export interface SenderOptions {
  /** Each frame sent (its `t`; an inner map's, when sealed), for metrics. */
  onFrame?(t: string): void;
}

export class Sender {
  #state: SenderState = 'plain';
  #kS: Uint8Array | undefined;
  #counter = FIRST_NS_COUNTER;

  constructor(
    private readonly link: Link,
    private readonly opts: SenderOptions = {},
  ) {}

  get state(): SenderState {
    return this.#state;
  }

  /** The counter the next sealed frame is sealed with. */
  get counter(): number {
    return this.#counter;
  }

  /** From now on every frame goes out sealed with `kS` (§4.2). Once only. */
  seal(kS: Uint8Array): void {
    if (this.#state !== 'plain') throw new Error(`the sender is ${this.#state}`);
    this.#kS = kS;
    this.#state = 'sealed';
  }

  /** Sends one frame (a map with a string `t`). */
  send(frame: Record<string, unknown> & { t: string }): void {
    this.sendEncoded(encodeFrame(frame), frame.t);
  }

  /**
   * Sends one frame already encoded (the challenge, whose exact bytes are the transcript's `M2`);
   * `t` is its type, for metrics. Nothing goes out once closed.
   */
  sendEncoded(bytes: Uint8Array, t: string): void {
    if (this.#state === 'closed') return;
    this.opts.onFrame?.(t);
    if (this.#state === 'plain') return this.link.send(bytes);
    const box = seal(bytes, counterNonce(this.#counter++), this.#kS!);
    this.link.send(encodeFrame({ t: 'sealed', box }));
  }

  /** Closes the socket with this code and reason; nothing is sent after. */
  close(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.link.close(code, reason);
  }

  /** The socket closed by itself: nothing is sent after. */
  closed(): void {
    this.#state = 'closed';
  }
}
