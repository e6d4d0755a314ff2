/**
 * RedisLimits (src/adapters/redis/redis-limits.ts) on the real Redis: the Limits contract, each
 * test under a key prefix of its own, the other "process" a second RedisLimits with its own
 * connection on the same prefix; then what is its own: the same answers as MemoryLimits to the
 * same 3,000 seeded calls (odd rates, costs, blocks), keys that expire once full or ended, counts
 * of a dead holder released from another process, a closed instance refusing calls. Every key of
 * the run is deleted at the end. Skipped (one line) when Redis is not reachable.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryLimits } from '../../src/adapters/memory/limits.ts';
import { redisClient } from '../../src/adapters/redis/connect.ts';
import { RedisLimits } from '../../src/adapters/redis/redis-limits.ts';
import type { Limits, Rate } from '../../src/ports.ts';
import { redisRun } from '../helpers/redis.ts';
import { limitsContract } from './limits.contract.ts';
import { random } from '../helpers/random.ts';

const run = await redisRun('limits');

if (run) {
  const { url } = run;
  const T = 1_900_000_000_000;

  limitsContract(async () => new RedisLimits({ url, prefix: run.prefix() }), {
    name: 'RedisLimits: Limits contract',
    connect: async (first) => new RedisLimits({ url, prefix: (first as RedisLimits).prefix }),
  });

  test('the same answers as MemoryLimits, call for call (3,000 seeded takes, blocks and lookups; rates whose interval is not a whole number)', async () => {
    const redis = new RedisLimits({ url, prefix: run.prefix() });
    const memory = new MemoryLimits();
    const rnd = random(7);
    const rates: Rate[] = [
      { limit: 30, windowMs: 10_000 },
      { limit: 20, windowMs: 300_000 },
      { limit: 7, windowMs: 1_000 },
      { limit: 3, windowMs: 1 },
      { limit: 1000, windowMs: 10_000 },
      { limit: 2.5, windowMs: 999.9 },
    ];
    const seen = { allowed: 0, refused: 0 };
    try {
      let now = T;
      for (let i = 0; i < 3000; i++) {
        now += Math.floor(rnd() * 1200) + (rnd() < 0.1 ? 0.25 : 0);
        const key = `k${Math.floor(rnd() * 6)}`;
        const rate = rates[Math.floor(rnd() * rates.length)]!;
        const roll = rnd();
        const until = now + Math.floor(rnd() * 2_000);
        const call = async (limits: Limits) => {
          if (roll < 0.01) return limits.block(key, until);
          if (roll < 0.04) return limits.blockedUntil(key, now);
          const cost = roll < 0.2 ? 1 + Math.floor(roll * 20) : 1;
          return limits.take(key, rate, now, cost);
        };
        const [fromMemory, fromRedis] = [await call(memory), await call(redis)];
        assert.equal(fromRedis, fromMemory, `call ${i}: ${key} at +${now - T} ms`);
        if (fromMemory && typeof fromMemory === 'object') seen[fromMemory.allowed ? 'allowed' : 'refused']++;
      }
      assert.ok(seen.allowed > 1000 && seen.refused > 1000, `both answers seen: ${JSON.stringify(seen)}`);
    } finally {
      await redis.close();
      await memory.close();
    }
  });

  test('a bucket key expires once the bucket is full again; a block key once the block ends (on the given clock); open counts do not', async () => {
    const prefix = run.prefix();
    let clockNow = T;
    const limits = new RedisLimits({ url, prefix, clock: { now: () => clockNow } });
    const client = redisClient(url, 'nextauth-test');
    try {
      await limits.take('hello:10.0.0.1', { limit: 30, windowMs: 10_000 }, T);
      const bucketTtl = await client.pttl(`${prefix}bucket:hello:10.0.0.1`);
      assert.ok(bucketTtl > 334 - 50 && bucketTtl <= 334 + 1000, `bucket ttl ${bucketTtl}`);
      for (let i = 0; i < 29; i++) await limits.take('hello:10.0.0.1', { limit: 30, windowMs: 10_000 }, T);
      const fullTtl = await client.pttl(`${prefix}bucket:hello:10.0.0.1`);
      assert.ok(fullTtl > 10_000 - 50 && fullTtl <= 11_000, `empty bucket ttl ${fullTtl}`);
      clockNow = T + 100;
      await limits.block('fail:10.0.0.1', T + 300_000);
      const blockTtl = await client.pttl(`${prefix}block:fail:10.0.0.1`);
      assert.ok(blockTtl > 299_900 - 50 && blockTtl <= 299_900 + 1000, `block ttl ${blockTtl}`);
      await limits.open('ws:10.0.0.1', 1, 'p1');
      assert.is(await client.pttl(`${prefix}open:ws:10.0.0.1`), -1);
      // A bucket whose key is gone is full.
      await limits.take('short', { limit: 1, windowMs: 5 }, T);
      assert.not.ok((await limits.take('short', { limit: 1, windowMs: 5 }, T)).allowed);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      assert.is(await client.exists(`${prefix}bucket:short`), 0, 'expired');
      assert.ok((await limits.take('short', { limit: 1, windowMs: 5 }, T + 5)).allowed);
    } finally {
      await client.quit();
      await limits.close();
    }
  });

  test("release from another process drops a dead holder's counts on every key, and only its own; nothing is left once all close", async () => {
    const prefix = run.prefix();
    const [p1, p2] = [new RedisLimits({ url, prefix }), new RedisLimits({ url, prefix })];
    const client = redisClient(url, 'nextauth-test');
    try {
      for (let i = 0; i < 50; i++) {
        await p1.open(`ws:10.0.0.${i % 5}`, 1, 'node-1');
        await p2.open(`ws:10.0.0.${i % 5}`, 1, 'node-2');
      }
      assert.is(await p2.open('ws:10.0.0.0', 1, 'node-2'), 21);
      await p2.release('node-1'); // node-1 died; node-2 cleans up after it
      assert.is(await p2.open('ws:10.0.0.0', -1, 'node-2'), 10);
      for (let i = 1; i < 5; i++) assert.is(await p1.open(`ws:10.0.0.${i}`, -1, 'node-1'), 10, 'node-1 holds nothing: never below 0');
      await p2.release('node-2');
      await p2.release('never-held');
      assert.equal(await client.keys(`${prefix}*`), [], 'no key left');
    } finally {
      await client.quit();
      await p1.close();
      await p2.close();
    }
  });

  test('a closed RedisLimits refuses calls; close again does nothing; a delta other than ±1 is refused', async () => {
    const limits = new RedisLimits({ url, prefix: run.prefix() });
    await limits.open('k', 2 as never, 'h').then(
      () => assert.unreachable('resolved'),
      (e: Error) => assert.instance(e, RangeError),
    );
    await limits.close();
    await limits.take('k', { limit: 1, windowMs: 1 }, 0).then(
      () => assert.unreachable('resolved'),
      (e: Error) => assert.match(e.message, /closed/),
    );
    await limits.close();
  });

  test.after(async () => {
    await run.cleanup();
  });
}

test.run();
