/**
 * What the Redis adapters cost on this machine (a quick look, not part of `npm run bench`):
 *
 *   npx tsx bench/redis-ports.ts [redis://127.0.0.1:6379]
 *
 * put + get of a ~1 KiB session snapshot one after another (round trips) and many at once;
 * claimDue of 1,000 due deadlines; Limits.take one after another and many at once (ioredis
 * sends calls made in the same tick as one pipeline). Everything under a prefix of its own,
 * deleted at the end.
 */
import { dropKeys, redisClient } from '../src/adapters/redis/connect.ts';
import { RedisLimits } from '../src/adapters/redis/redis-limits.ts';
import { RedisSessions } from '../src/adapters/redis/redis-sessions.ts';
import type { StoredSession } from '../src/ports.ts';
import { benchName, DEFAULT_REDIS_URL } from './lib/backend.ts';

const url = process.argv[2] ?? DEFAULT_REDIS_URL;
const prefix = `${benchName()}:`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)]!;
const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;

const snapshot: StoredSession = {
  snapshot: {
    status: 'active',
    value: { waiting: 'open' },
    context: { serverid: 'srv', hsid: 'x'.repeat(43), peer: null, accounts: [1, 2, 3], browsers: Array.from({ length: 8 }, (_, i) => `browser-${i}-${'b'.repeat(60)}`) },
    historyValue: {},
    children: {},
  },
  since: Date.now(),
  timers: { 'xstate.after.waiting.limit': Date.now() + 300_000 },
};

async function main(): Promise<void> {
  console.log(`Redis at ${url}; snapshot ${JSON.stringify(snapshot).length} bytes of JSON`);
  const sessions = new RedisSessions({ url, prefix });
  const limits = new RedisLimits({ url, prefix });
  try {
    // Warm up: connections, scripts loaded.
    for (let i = 0; i < 200; i++) {
      const v = await sessions.put(`warm:${i}`, snapshot, 0);
      await sessions.get(`warm:${i}`);
      await sessions.delete(`warm:${i}`, v!);
      await limits.take('warm', { limit: 1e9, windowMs: 1000 }, Date.now());
    }

    // put + get, one after another.
    const puts: number[] = [];
    const gets: number[] = [];
    let version = 0;
    for (let i = 0; i < 2000; i++) {
      const t0 = performance.now();
      version = (await sessions.put('srv:rt', snapshot, version))!;
      const t1 = performance.now();
      await sessions.get('srv:rt');
      gets.push(performance.now() - t1);
      puts.push(t1 - t0);
    }
    console.log(`put (CAS) one at a time: p50 ${us(median(puts))}, p99 ${us(p99(puts))}; get: p50 ${us(median(gets))}, p99 ${us(p99(gets))}`);

    // put + get of 10,000 keys, 200 in flight.
    const n = 10_000;
    let t0 = performance.now();
    for (let i = 0; i < n; i += 200) await Promise.all(Array.from({ length: 200 }, (_, j) => sessions.put(`srv:many:${i + j}`, snapshot, 0)));
    const putRate = n / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    for (let i = 0; i < n; i += 200) await Promise.all(Array.from({ length: 200 }, (_, j) => sessions.get(`srv:many:${i + j}`)));
    const getRate = n / ((performance.now() - t0) / 1000);
    console.log(`200 in flight: ${putRate.toFixed(0)} puts/s, ${getRate.toFixed(0)} gets/s`);

    // claimDue of 1,000 due deadlines (of 1,000 due among 10,000).
    const claims: number[] = [];
    for (let round = 0; round < 7; round++) {
      const base = 1_900_000_000_000 + round * 1_000_000;
      await Promise.all(Array.from({ length: 10_000 }, (_, i) => sessions.addDeadline({ key: `srv:${round}:${i}`, name: 'limit', at: base + i, payload: { type: 'limit' } })));
      const start = performance.now();
      const due = await sessions.claimDue(base + 999, 1000);
      claims.push(performance.now() - start);
      if (due.length !== 1000) throw new Error(`claimed ${due.length}`);
      await sessions.claimDue(Number.POSITIVE_INFINITY);
    }
    t0 = performance.now();
    await Promise.all(
      Array.from({ length: 10_000 }, (_, i) => sessions.addDeadline({ key: `srv:add:${i}`, name: 'limit', at: 1_800_000_000_000 + i, payload: { type: 'limit' } })),
    );
    const addRate = 10_000 / ((performance.now() - t0) / 1000);
    await sessions.claimDue(Number.POSITIVE_INFINITY);
    console.log(
      `claimDue of 1,000 (among 10,000): median ${median(claims).toFixed(1)} ms (${claims.map((c) => c.toFixed(1)).join(', ')}); addDeadline ${addRate.toFixed(0)}/s all at once`,
    );

    // take(), one after another and 256 in flight, on 1,000 keys.
    const rate = { limit: 30, windowMs: 10_000 };
    const takes: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const start = performance.now();
      await limits.take(`hello:10.0.${i % 1000}`, rate, Date.now());
      takes.push(performance.now() - start);
    }
    t0 = performance.now();
    const total = 50_000;
    for (let i = 0; i < total; i += 256) await Promise.all(Array.from({ length: 256 }, (_, j) => limits.take(`hello:10.1.${(i + j) % 1000}`, rate, Date.now())));
    const takeRate = total / ((performance.now() - t0) / 1000);
    console.log(`take one at a time: p50 ${us(median(takes))}, p99 ${us(p99(takes))} (${(1000 / median(takes)).toFixed(0)}/s); 256 in flight: ${takeRate.toFixed(0)} takes/s`);
  } finally {
    await sessions.close();
    await limits.close();
    const client = redisClient(url, 'nextauth-bench');
    await dropKeys(client, prefix);
    await client.quit();
  }
}

await main();
