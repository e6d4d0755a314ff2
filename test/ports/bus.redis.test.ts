/**
 * RedisBus (src/adapters/redis/redis-bus.ts) on the real Redis: the Bus contract on two buses
 * (two "processes", each with its own two connections) under a prefix of their own; then what is
 * its own: a subscriber on B gets what A publishes, in order, 2,000 messages without waiting;
 * handler errors reach onError; a topic's Redis subscription follows its handlers; buses under
 * other prefixes hear nothing; a closed bus refuses calls. Skipped (one line) when Redis is not
 * reachable.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { redisClient } from '../../src/adapters/redis/connect.ts';
import { RedisBus } from '../../src/adapters/redis/redis-bus.ts';
import type { Json } from '../../src/ports.ts';
import { redisRun } from '../helpers/redis.ts';
import { busContract } from './bus.contract.ts';

const run = await redisRun('bus');

/** Waits (polling, 5 s at most) until `done`. */
async function until(what: string, done: () => boolean): Promise<void> {
  const give = Date.now() + 5000;
  while (!done()) {
    if (Date.now() > give) assert.unreachable(`waited 5 s for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

if (run) {
  const { url } = run;
  const errors: { error: unknown; topic: string }[] = [];
  const onError = (error: unknown, topic: string) => void errors.push({ error, topic });

  busContract(
    async () => {
      const prefix = run.prefix();
      return [new RedisBus({ url, prefix, onError }), new RedisBus({ url, prefix, onError })];
    },
    { name: 'RedisBus: Bus contract' },
  );

  test("the contract's throwing handlers reached onError (not stderr), with their topic", () => {
    assert.is(errors.length, 8);
    for (const { error, topic } of errors) {
      assert.match((error as Error).message, /expected in this test/);
      assert.match(topic, /^contract:/);
    }
  });

  test('a subscriber on B gets 2,000 messages A publishes without waiting, in order; one on A gets them too', async () => {
    const prefix = run.prefix();
    const [a, b] = [new RedisBus({ url, prefix }), new RedisBus({ url, prefix })];
    try {
      const onB: Json[] = [];
      const onA: Json[] = [];
      await b.subscribe('peer:phone-1', (m) => void onB.push(m));
      await a.subscribe('peer:phone-1', (m) => void onA.push(m));
      const sent = Array.from({ length: 2000 }, (_, i) => ({ op: 'confirm', n: i }));
      await Promise.all(sent.map((m) => a.publish('peer:phone-1', m)));
      await until('2,000 messages', () => onB.length === 2000 && onA.length === 2000);
      assert.equal(onB, sent);
      assert.equal(onA, sent);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("a topic is one Redis subscription while it has handlers, none after; other prefixes' buses hear nothing", async () => {
    const prefix = run.prefix();
    const [a, other] = [new RedisBus({ url, prefix }), new RedisBus({ url, prefix: run.prefix() })];
    const client = redisClient(url, 'nextauth-test');
    try {
      const channel = `${prefix}bus:session:srv:1`;
      const subscribers = async () => ((await client.pubsub('NUMSUB', channel)) as [string, number])[1];
      const got: Json[] = [];
      const heardByOther: Json[] = [];
      await other.subscribe('session:srv:1', (m) => void heardByOther.push(m));
      const [u1, u2] = await Promise.all([a.subscribe('session:srv:1', (m) => void got.push(m)), a.subscribe('session:srv:1', (m) => void got.push(m))]);
      assert.is(await subscribers(), 1, 'one subscription for two handlers');
      await u1();
      assert.is(await subscribers(), 1, 'still one handler');
      await a.publish('session:srv:1', 'x');
      await until('the message', () => got.length === 1);
      await u2();
      assert.is(await subscribers(), 0, 'no handler left');
      // Subscribing again right after works (UNSUBSCRIBE then SUBSCRIBE on one connection).
      const u3 = await a.subscribe('session:srv:1', (m) => void got.push(m));
      const u4Pending = a.subscribe('session:srv:1', (m) => void got.push(m));
      await u3();
      const u4 = await u4Pending;
      await a.publish('session:srv:1', 'y');
      await until('the second message', () => got.length === 2);
      assert.equal(got, ['x', 'y']);
      await u4();
      assert.equal(heardByOther, [], 'another prefix is another bus');
    } finally {
      await client.quit();
      await a.close();
      await other.close();
    }
  });

  test('a closed RedisBus refuses publish and subscribe; close again does nothing; a message that is not JSON is refused', async () => {
    const bus = new RedisBus({ url, prefix: run.prefix() });
    await bus.publish('t', undefined as never).then(
      () => assert.unreachable('resolved'),
      (error: Error) => assert.instance(error, TypeError),
    );
    await bus.close();
    await bus.publish('t', 1).then(
      () => assert.unreachable('resolved'),
      (error: Error) => assert.match(error.message, /closed/),
    );
    await bus
      .subscribe('t', () => {})
      .then(
        () => assert.unreachable('resolved'),
        (error: Error) => assert.match(error.message, /closed/),
      );
    await bus.close();
  });
}

test.run();
