/**
 * The Bus port in one process. A `MemoryBroker` stands for the message server (Redis pub/sub);
 * each `MemoryBus` on it stands for one process's connection, so tests can run several
 * "processes" on one bus: `const broker = new MemoryBroker(); new MemoryBus(broker)` twice.
 *
 * - `publish` turns the message into JSON text at once (so the publisher may change its object
 *   afterwards) and queues one delivery per subscriber of the topic at that moment; deliveries
 *   run later, in a `setImmediate` (never inside `publish`, and after pending I/O, as a real
 *   bus's would), in one queue for the whole broker, so in publish order on every topic.
 * - Each subscriber gets its own `JSON.parse` of the text: what one handler does to its message
 *   no other sees.
 * - Unsubscribing (or closing the bus) stops delivery at once, the deliveries already queued for
 *   that handler included: once `unsubscribe()` has been called, however soon, the handler is
 *   never called again. A handler can therefore unsubscribe and free what it uses without
 *   waiting for stragglers.
 * - A handler that throws is reported (`onError`) and changes nothing else: the other
 *   subscribers get the message, and the thrower stays subscribed and gets the next ones.
 */
import type { Bus, Json } from '../../ports.ts';

type Handler = (message: Json) => void;

interface Subscription {
  topic: string;
  handler: Handler;
  active: boolean;
}

interface Delivery {
  subscription: Subscription;
  text: string;
}

export interface MemoryBrokerOptions {
  /** Called when a handler throws (default: a line on stderr). */
  onError?: (error: unknown, topic: string) => void;
}

/** How many deliveries one turn of the event loop runs before letting I/O in. */
const BATCH = 10_000;

export class MemoryBroker {
  readonly #topics = new Map<string, Set<Subscription>>();
  #queue: (Delivery | undefined)[] = [];
  #head = 0;
  #scheduled = false;
  #idle: (() => void)[] = [];
  readonly #onError: (error: unknown, topic: string) => void;

  constructor(options: MemoryBrokerOptions = {}) {
    this.#onError = options.onError ?? ((error, topic) => console.error(`MemoryBus: a handler of ${topic} threw`, error));
  }

  /** Resolves once every message published so far has been delivered (for tests). */
  settled(): Promise<void> {
    if (this.#head === this.#queue.length) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  add(subscription: Subscription): void {
    let set = this.#topics.get(subscription.topic);
    if (!set) this.#topics.set(subscription.topic, (set = new Set()));
    set.add(subscription);
  }

  remove(subscription: Subscription): void {
    subscription.active = false;
    const set = this.#topics.get(subscription.topic);
    if (set?.delete(subscription) && set.size === 0) this.#topics.delete(subscription.topic);
  }

  publish(topic: string, text: string): void {
    const set = this.#topics.get(topic);
    if (!set) return;
    for (const subscription of set) this.#queue.push({ subscription, text });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#head === this.#queue.length) return;
    this.#scheduled = true;
    setImmediate(() => this.#drain());
  }

  #drain(): void {
    this.#scheduled = false;
    const end = Math.min(this.#queue.length, this.#head + BATCH);
    while (this.#head < end) {
      const { subscription, text } = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined;
      if (!subscription.active) continue;
      try {
        subscription.handler(JSON.parse(text) as Json);
      } catch (error) {
        try {
          this.#onError(error, subscription.topic);
        } catch {
          // The reporter failing must not stop delivery either.
        }
      }
    }
    if (this.#head < this.#queue.length) return this.#schedule();
    this.#queue = [];
    this.#head = 0;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }
}

export class MemoryBus implements Bus {
  readonly broker: MemoryBroker;
  readonly #subscriptions = new Set<Subscription>();
  #closed = false;

  /** A bus of its own, or one more "process" on `broker`. */
  constructor(broker: MemoryBroker = new MemoryBroker()) {
    this.broker = broker;
  }

  async publish(topic: string, message: Json): Promise<void> {
    this.#open();
    const text = JSON.stringify(message);
    if (typeof text !== 'string') throw new TypeError(`Bus.publish(${topic}): the message is not JSON`);
    this.broker.publish(topic, text);
  }

  async subscribe(topic: string, handler: Handler): Promise<() => Promise<void>> {
    this.#open();
    const subscription: Subscription = { topic, handler, active: true };
    this.#subscriptions.add(subscription);
    this.broker.add(subscription);
    const unsubscribe = () => {
      this.#subscriptions.delete(subscription);
      this.broker.remove(subscription);
    };
    return async () => unsubscribe();
  }

  /** Unsubscribes everything this bus subscribed; the broker, and other buses on it, go on. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const subscription of this.#subscriptions) this.broker.remove(subscription);
    this.#subscriptions.clear();
  }

  #open(): void {
    if (this.#closed) throw new Error('MemoryBus: closed');
  }
}
