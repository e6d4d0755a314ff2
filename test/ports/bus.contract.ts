/**
 * The Bus port's contract (src/ports.ts), run against any adapter:
 *
 *   import { busContract } from './bus.contract.ts';
 *   busContract(async () => { const broker = new MemoryBroker(); return [new MemoryBus(broker), new MemoryBus(broker)]; });
 *
 * `make` gives two connected buses, as two processes would hold (a Redis adapter: two
 * connections), isolated from the pairs made before; every test closes both. What the contract
 * holds beyond the port's own comments:
 *
 * - a process hears its own messages too, when it subscribes to their topic;
 * - publishes made one after another (each awaited), from any process, arrive in that order;
 * - once `unsubscribe()` has been called the handler is not called again, not even for messages
 *   published before and not yet delivered;
 * - a handler that throws stays subscribed, and the others on the topic still get the message;
 * - closing one bus stops its handlers only; the other goes on.
 *
 * Delivery takes real time, so tests wait for it (polling, a few seconds at most), and prove
 * that something did NOT arrive with a later message on the same topic (order per topic).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Bus, Json } from '../../src/ports.ts';

export interface BusContractOptions {
  /** The suite's name in uvu's output. */
  name?: string;
  /** How long to wait for a delivery before failing (ms; default 5000). */
  timeout?: number;
}

interface Collector {
  got: Json[];
  handler: (message: Json) => void;
}

function collector(): Collector {
  const got: Json[] = [];
  return { got, handler: (message) => void got.push(message) };
}

const END = { end: true };
const isEnd = (m: Json) => typeof m === 'object' && m !== null && !Array.isArray(m) && m.end === true;

export function busContract(make: () => Promise<[Bus, Bus]>, options: BusContractOptions = {}): void {
  const s = suite(options.name ?? 'Bus contract');
  const timeout = options.timeout ?? 5000;
  let run = 0;

  async function until(what: string, done: () => boolean): Promise<void> {
    const give = Date.now() + timeout;
    while (!done()) {
      if (Date.now() > give) assert.unreachable(`waited ${timeout} ms for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  const ends = (c: Collector) => c.got.filter(isEnd).length;

  /** Publishes END on `topic` and waits until every collector heard it: all before it has arrived. */
  async function barrier(bus: Bus, topic: string, ...collectors: Collector[]): Promise<void> {
    const before = collectors.map(ends);
    await bus.publish(topic, END);
    await until(`the end of ${topic}`, () => collectors.every((c, i) => ends(c) > before[i]!));
    // Let deliveries queued beside the last one run too.
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  }

  interface Context {
    a: Bus;
    b: Bus;
    /** A topic name of this test only. */
    topic: (name: string) => string;
    /** Closes a bus now (the test's end does not close it again). */
    close: (bus: Bus) => Promise<void>;
  }

  function each(title: string, body: (c: Context) => Promise<void>): void {
    s(title, async () => {
      const [a, b] = await make();
      const closed = new Set<Bus>();
      const id = `${process.pid}.${Date.now().toString(36)}.${++run}`;
      try {
        await body({
          a,
          b,
          topic: (name) => `contract:${id}:${name}`,
          close: async (bus) => (closed.add(bus), bus.close()),
        });
      } finally {
        for (const bus of [a, b]) if (!closed.has(bus)) await bus.close();
      }
    });
  }

  each('a message reaches every subscriber of its topic, in this process and the other, once each', async ({ a, b, topic }) => {
    const t = topic('t');
    const [a1, a2, b1] = [collector(), collector(), collector()];
    await a.subscribe(t, a1.handler);
    await a.subscribe(t, a2.handler);
    await b.subscribe(t, b1.handler);
    await a.publish(t, { n: 1 });
    await b.publish(t, { n: 2 });
    await barrier(a, t, a1, a2, b1);
    for (const c of [a1, a2, b1]) assert.equal(c.got, [{ n: 1 }, { n: 2 }, END]);
  });

  each('a subscriber hears only its topic', async ({ a, b, topic }) => {
    const [x, y, xs] = [topic('x'), topic('y'), topic('x:sub')];
    const [hx, hy, hxs] = [collector(), collector(), collector()];
    await b.subscribe(x, hx.handler);
    await b.subscribe(y, hy.handler);
    await b.subscribe(xs, hxs.handler);
    await a.publish(y, 'for y');
    await a.publish(xs, 'for x:sub');
    await a.publish(topic('nobody'), 'for no one');
    await a.publish(x, 'for x');
    await barrier(a, x, hx);
    await barrier(a, y, hy);
    await barrier(a, xs, hxs);
    assert.equal(hx.got, ['for x', END]);
    assert.equal(hy.got, ['for y', END]);
    assert.equal(hxs.got, ['for x:sub', END]);
  });

  each('messages arrive in publish order on each topic (200 published without waiting, on two topics)', async ({ a, b, topic }) => {
    const [t, u] = [topic('t'), topic('u')];
    const [bt, bu, at] = [collector(), collector(), collector()];
    await b.subscribe(t, bt.handler);
    await b.subscribe(u, bu.handler);
    await a.subscribe(t, at.handler);
    const sent = Array.from({ length: 200 }, (_, i) => i);
    await Promise.all(sent.map((i) => a.publish(i % 3 ? t : u, i)));
    await until('200 messages', () => bt.got.length + bu.got.length === 200 && at.got.length === bt.got.length);
    assert.equal(
      bt.got,
      sent.filter((i) => i % 3),
    );
    assert.equal(
      bu.got,
      sent.filter((i) => !(i % 3)),
    );
    assert.equal(at.got, bt.got, 'the publishing process hears the same order');
  });

  each('publishes awaited one after another, from either process, arrive in that order', async ({ a, b, topic }) => {
    const t = topic('t');
    const [ha, hb] = [collector(), collector()];
    await a.subscribe(t, ha.handler);
    await b.subscribe(t, hb.handler);
    for (let i = 0; i < 20; i++) await (i % 2 ? b : a).publish(t, i);
    await until('20 messages', () => ha.got.length === 20 && hb.got.length === 20);
    const order = Array.from({ length: 20 }, (_, i) => i);
    assert.equal(ha.got, order);
    assert.equal(hb.got, order);
  });

  each('each subscriber gets its own copy; the publisher may change its object once publish is called', async ({ a, b, topic }) => {
    const t = topic('t');
    const seen: Json[] = [];
    const sent = { list: [1, 2], nested: { n: 1 } };
    const mutate = (message: Json) => {
      const m = message as typeof sent;
      assert.is.not(message, sent, 'not the published object');
      m.list.push(99);
      m.nested.n = 99;
    };
    const keep = (message: Json) => void seen.push(structuredClone(message));
    await b.subscribe(t, mutate);
    await b.subscribe(t, keep);
    await a.subscribe(t, mutate);
    await a.subscribe(t, keep);
    const published = a.publish(t, sent);
    sent.list.push(3);
    sent.nested.n = 3;
    await published;
    await until('two copies', () => seen.length === 2);
    assert.equal(seen, [
      { list: [1, 2], nested: { n: 1 } },
      { list: [1, 2], nested: { n: 1 } },
    ]);
  });

  each('delivery is asynchronous: never inside the publish call', async ({ a, b, topic }) => {
    const t = topic('t');
    let publishing = false;
    const during: boolean[] = [];
    await a.subscribe(t, () => void during.push(publishing));
    await b.subscribe(t, () => void during.push(publishing));
    for (let i = 0; i < 10; i++) {
      publishing = true;
      const published = a.publish(t, i);
      publishing = false;
      await published;
    }
    await until('20 deliveries', () => during.length === 20);
    assert.equal(
      during,
      during.map(() => false),
    );
  });

  each('any JSON value arrives as it was sent', async ({ a, b, topic }) => {
    const t = topic('t');
    const values: Json[] = [null, true, false, 0, -1.5, 2 ** 52, '', 'é 漢字 🙂 "q" \\ \n', [], [1, [2, [3]]], {}, { a: { b: { c: [null, { d: 'e' }] } }, '': 'empty key' }];
    const h = collector();
    await b.subscribe(t, h.handler);
    for (const v of values) await a.publish(t, v);
    await until('every value', () => h.got.length === values.length);
    assert.equal(h.got, values);
  });

  each('a subscription is live once subscribe resolves', async ({ a, b, topic }) => {
    for (let i = 0; i < 20; i++) {
      const t = topic(`t${i}`);
      const h = collector();
      await b.subscribe(t, h.handler);
      await a.publish(t, i);
      await until(`message ${i}`, () => h.got.length === 1);
      assert.equal(h.got, [i]);
    }
  });

  each('unsubscribe stops delivery to that handler only, messages published before it and not yet delivered included', async ({ a, b, topic }) => {
    const t = topic('t');
    const [gone, stays, witness, other] = [collector(), collector(), collector(), collector()];
    const unsubscribe = await b.subscribe(t, gone.handler);
    await b.subscribe(t, stays.handler);
    await b.subscribe(t, witness.handler);
    await a.subscribe(t, other.handler);
    // Published, not yet delivered (delivery is never inside publish), then unsubscribed at once.
    const published = [a.publish(t, 1), a.publish(t, 2), b.publish(t, 3)];
    const unsubscribed = unsubscribe();
    await Promise.all([...published, unsubscribed]);
    await a.publish(t, 4);
    await barrier(a, t, witness, other, stays);
    assert.equal(gone.got, [], 'nothing after unsubscribe');
    for (const c of [stays, witness, other]) assert.equal(c.got, [1, 2, 3, 4, END]);
    await unsubscribe(); // a second call does nothing
  });

  each('unsubscribe after deliveries: what came before stays, nothing after; the same handler twice is two subscriptions', async ({ a, b, topic }) => {
    const t = topic('t');
    const h = collector();
    const witness = collector();
    const first = await b.subscribe(t, h.handler);
    await b.subscribe(t, h.handler);
    await b.subscribe(t, witness.handler);
    await a.publish(t, 1);
    await barrier(a, t, witness);
    assert.equal(h.got, [1, 1, END, END], 'both subscriptions deliver');
    await first();
    await a.publish(t, 2);
    await barrier(a, t, witness);
    assert.equal(h.got, [1, 1, END, END, 2, END], 'the other subscription goes on');
  });

  each('a handler that throws stays subscribed, and the others still get every message', async ({ a, b, topic }) => {
    const t = topic('t');
    let thrown = 0;
    const thrower = () => {
      thrown++;
      throw new Error('a handler that throws (expected in this test)');
    };
    const [hb, ha] = [collector(), collector()];
    await b.subscribe(t, thrower);
    await b.subscribe(t, hb.handler);
    await a.subscribe(t, thrower);
    await a.subscribe(t, ha.handler);
    for (let i = 0; i < 3; i++) await a.publish(t, i);
    await barrier(a, t, ha, hb);
    assert.equal(hb.got, [0, 1, 2, END]);
    assert.equal(ha.got, [0, 1, 2, END]);
    assert.is(thrown, 8, 'each thrower got all four messages');
  });

  each("closing one bus stops its handlers only: the other's subscribers hear it and each other", async ({ a, b, topic, close }) => {
    const t = topic('t');
    const [ha, hb] = [collector(), collector()];
    await a.subscribe(t, ha.handler);
    await b.subscribe(t, hb.handler);
    await b.publish(t, 1);
    await until('the first message', () => ha.got.length === 1 && hb.got.length === 1);
    await close(b);
    await a.publish(t, 2);
    await barrier(a, t, ha);
    assert.equal(ha.got, [1, 2, END]);
    assert.equal(hb.got, [1], 'a closed bus delivers nothing');
  });

  s.run();
}
