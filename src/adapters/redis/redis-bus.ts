/**
 * The Bus port on Redis pub/sub, one instance per process: a publisher connection and a
 * subscriber connection of its own (a connection that subscribes can do nothing else). Topic
 * `t` is the channel `<prefix>bus:<t>`; messages cross as JSON text.
 *
 * - Order: Redis delivers a channel's messages to a subscriber in the order it ran the PUBLISHes,
 *   and one connection's commands run in the order sent, so publishes from one process arrive in
 *   publish order, and publishes awaited one after another (from any processes) in that order.
 * - Each topic is one Redis subscription however many handlers this process has on it: the first
 *   `subscribe` of a topic sends SUBSCRIBE and resolves once Redis has confirmed it (messages
 *   published after that reach the handler); later ones only wait for that confirmation. The last
 *   unsubscribe of a topic sends UNSUBSCRIBE.
 * - Each handler gets its own `JSON.parse` of the text. A handler that throws is reported
 *   (`onError`) and changes nothing else.
 * - Unsubscribing (or closing) marks the handler's subscription inactive at once, so it is not
 *   called again, not even for messages already received and not yet handed out.
 * - Delivery is at most once: a message published while the subscriber connection is down is
 *   lost (ioredis reconnects and subscribes again by itself). The hub relies on the Bus only for
 *   notices that a client can ask for again (a browser re-reads its session on reconnect).
 */
import type { Redis } from 'ioredis';
import type { Bus, Json } from '../../ports.ts';
import { DEFAULT_PREFIX, ping, redisClient } from './connect.ts';

type Handler = (message: Json) => void;

interface Subscription {
  handler: Handler;
  active: boolean;
}

interface Topic {
  subscriptions: Set<Subscription>;
  /** Resolves once Redis confirmed the SUBSCRIBE (rejects if it failed). */
  ready: Promise<void>;
}

export interface RedisBusOptions {
  /** A `redis://` or `rediss://` URL; the bus opens two connections of its own. */
  url: string;
  /** Put before every channel (default `nextauth:`). */
  prefix?: string;
  /** Called when a handler throws (default: a line on stderr). */
  onError?: (error: unknown, topic: string) => void;
  /** Called with errors of the connections (default: a line on stderr). */
  onConnectionError?: (error: Error) => void;
}

export class RedisBus implements Bus {
  readonly prefix: string;
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #channelPrefix: string;
  readonly #topics = new Map<string, Topic>();
  readonly #onError: (error: unknown, topic: string) => void;
  #closed = false;

  constructor(options: RedisBusOptions) {
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#channelPrefix = `${this.prefix}bus:`;
    this.#onError = options.onError ?? ((error, topic) => console.error(`RedisBus: a handler of ${topic} threw`, error));
    this.#pub = redisClient(options.url, 'nextauth-bus-publish', options.onConnectionError);
    this.#sub = redisClient(options.url, 'nextauth-bus-subscribe', options.onConnectionError);
    this.#sub.on('message', (channel: string, text: string) => this.#deliver(channel, text));
  }

  async publish(topic: string, message: Json): Promise<void> {
    this.#open();
    const text = JSON.stringify(message);
    if (typeof text !== 'string') throw new TypeError(`Bus.publish(${topic}): the message is not JSON`);
    await this.#pub.publish(this.#channelPrefix + topic, text);
  }

  async subscribe(topic: string, handler: Handler): Promise<() => Promise<void>> {
    this.#open();
    const subscription: Subscription = { handler, active: true };
    let entry = this.#topics.get(topic);
    if (!entry) {
      const ready = this.#sub.subscribe(this.#channelPrefix + topic).then(() => undefined);
      entry = { subscriptions: new Set(), ready };
      this.#topics.set(topic, entry);
      const failed = entry;
      // A SUBSCRIBE that failed leaves no topic behind (a later subscribe tries again).
      ready.catch(() => {
        if (this.#topics.get(topic) === failed) this.#topics.delete(topic);
      });
    }
    entry.subscriptions.add(subscription);
    try {
      await entry.ready;
    } catch (error) {
      subscription.active = false;
      entry.subscriptions.delete(subscription);
      throw error;
    }
    return async () => {
      if (!subscription.active) return;
      subscription.active = false;
      const current = this.#topics.get(topic);
      if (current !== entry || !current.subscriptions.delete(subscription) || current.subscriptions.size > 0) return;
      this.#topics.delete(topic);
      if (!this.#closed) await this.#sub.unsubscribe(this.#channelPrefix + topic);
    };
  }

  /**
   * Resolves when both connections are up and the publisher's answers PING (within `ms`);
   * rejects saying why not (a subscriber connection that is down would miss messages).
   */
  async ping(ms?: number): Promise<void> {
    this.#open();
    if (this.#sub.status !== 'ready') throw new Error(`Redis (subscriber) is not connected (${this.#sub.status})`);
    await ping(this.#pub, ms);
  }

  /** Stops every handler of this process at once and ends both connections; other processes go on. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of this.#topics.values()) for (const subscription of entry.subscriptions) subscription.active = false;
    this.#topics.clear();
    await Promise.all([this.#pub.quit(), this.#sub.quit()]);
  }

  #deliver(channel: string, text: string): void {
    if (!channel.startsWith(this.#channelPrefix)) return;
    const topic = channel.slice(this.#channelPrefix.length);
    const entry = this.#topics.get(topic);
    if (!entry) return;
    // Those subscribed when it came (one a handler adds now waits for the next message).
    for (const subscription of [...entry.subscriptions]) {
      if (!subscription.active) continue;
      try {
        subscription.handler(JSON.parse(text) as Json);
      } catch (error) {
        try {
          this.#onError(error, topic);
        } catch {
          // The reporter failing must not stop delivery either.
        }
      }
    }
  }

  #open(): void {
    if (this.#closed) throw new Error('RedisBus: closed');
  }
}
