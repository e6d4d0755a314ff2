/**
 * The Limits port's contract (src/ports.ts), run against any adapter:
 *
 *   limitsContract(async () => new MemoryLimits());
 *
 * `make` gives an empty, isolated store each call; `connect` (optional) another "process" on the
 * store of one `make` gave, to check that counts are shared. Time is given to each call (`now`),
 * so no test waits.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Limits } from '../../src/ports.ts';

export interface LimitsContractOptions {
  name?: string;
  connect?: (first: Limits) => Promise<Limits>;
}

const T = 1_900_000_000_000;

export function limitsContract(make: () => Promise<Limits>, options: LimitsContractOptions = {}): void {
  const s = suite(options.name ?? 'Limits contract');
  function each(title: string, body: (limits: Limits, also: (x: Limits) => Limits) => Promise<void>): void {
    s(title, async () => {
      const opened: Limits[] = [];
      const limits = await make();
      opened.push(limits);
      try {
        await body(limits, (x) => (opened.push(x), x));
      } finally {
        for (const x of opened.reverse()) await x.close();
      }
    });
  }

  each('a burst of `limit` is allowed, the next is refused with the time until one is back; nothing refused is taken', async (limits) => {
    const rate = { limit: 30, windowMs: 10_000 };
    for (let i = 0; i < 30; i++) {
      const t = await limits.take('hello:10.0.0.1', rate, T);
      assert.ok(t.allowed, `take ${i + 1}`);
      assert.is(t.remaining, 29 - i);
    }
    const refused = await limits.take('hello:10.0.0.1', rate, T);
    assert.equal(refused, { allowed: false, remaining: 0, retryAfterMs: Math.ceil(10_000 / 30) });
    // Refusals take nothing: after the interval exactly one more is allowed.
    for (let i = 0; i < 5; i++) assert.not.ok((await limits.take('hello:10.0.0.1', rate, T + 100)).allowed);
    assert.ok((await limits.take('hello:10.0.0.1', rate, T + 334)).allowed);
    assert.not.ok((await limits.take('hello:10.0.0.1', rate, T + 334)).allowed);
    // Another key has its own bucket.
    assert.ok((await limits.take('hello:10.0.0.2', rate, T)).allowed);
  });

  each('no window of `windowMs` ever holds more than limit + what refilled in it; a full wait refills the whole bucket', async (limits) => {
    const rate = { limit: 5, windowMs: 1_000 };
    const allowedAt: number[] = [];
    for (let t = 0; t <= 5_000; t += 7) if ((await limits.take('k', rate, T + t)).allowed) allowedAt.push(t);
    for (let i = 0; i < allowedAt.length; i++) {
      const inWindow = allowedAt.filter((x) => x >= allowedAt[i]! && x < allowedAt[i]! + 1_000).length;
      assert.ok(inWindow <= 10, `window at ${allowedAt[i]}: ${inWindow}`);
    }
    assert.ok(allowedAt.length >= 5 + 5 * 5 - 2 && allowedAt.length <= 5 + 5 * 5 + 1, `${allowedAt.length} over 5 s`);
    for (let i = 0; i < 5; i++) assert.ok((await limits.take('k', rate, T + 20_000)).allowed, 'refilled');
  });

  each('a cost takes that many; a cost above the limit is never allowed', async (limits) => {
    const rate = { limit: 10, windowMs: 1_000 };
    assert.is((await limits.take('c', rate, T, 7)).remaining, 3);
    assert.not.ok((await limits.take('c', rate, T, 4)).allowed);
    assert.ok((await limits.take('c', rate, T, 3)).allowed);
    assert.not.ok((await limits.take('big', rate, T, 11)).allowed);
  });

  each('a block refuses every take until it ends; a later block wins, an earlier one does not shorten it', async (limits) => {
    const rate = { limit: 100, windowMs: 1_000 };
    await limits.block('hello:10.0.0.9', T + 300_000);
    await limits.block('hello:10.0.0.9', T + 1_000);
    assert.is(await limits.blockedUntil('hello:10.0.0.9', T), T + 300_000);
    assert.equal(await limits.take('hello:10.0.0.9', rate, T + 299_999), { allowed: false, remaining: 0, retryAfterMs: 1 });
    assert.ok((await limits.take('hello:10.0.0.9', rate, T + 300_000)).allowed);
    assert.is(await limits.blockedUntil('hello:10.0.0.9', T + 300_000), undefined);
    assert.is(await limits.blockedUntil('never', T), undefined);
  });

  each('open counts per key, never below 0; release drops what a holder held', async (limits, also) => {
    assert.is(await limits.open('ws:10.0.0.1', 1, 'p1'), 1);
    assert.is(await limits.open('ws:10.0.0.1', 1, 'p1'), 2);
    const other = options.connect ? also(await options.connect(limits)) : limits;
    assert.is(await other.open('ws:10.0.0.1', 1, 'p2'), 3, 'counts are shared by every process');
    assert.is(await limits.open('ws:10.0.0.1', -1, 'p1'), 2);
    assert.is(await limits.open('ws:10.0.0.2', -1, 'p1'), 0, 'never below 0');
    await limits.release('p2');
    assert.is(await limits.open('ws:10.0.0.1', 1, 'p1'), 2, 'p2 is gone');
  });

  each('takes from many concurrent callers never over-allow', async (limits, also) => {
    const callers = [limits];
    if (options.connect) callers.push(also(await options.connect(limits)));
    const rate = { limit: 50, windowMs: 60_000 };
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => callers[i % callers.length]!.take('race', rate, T)));
    assert.is(results.filter((r) => r.allowed).length, 50);
  });

  each('admit: at most `limit` in any window, `gapMs` apart; refused ones log nothing; the retry is when the next would be admitted', async (limits) => {
    const log = { limit: 3, windowMs: 60_000, gapMs: 10_000 };
    assert.equal(await limits.admit('push:a', log, T), { allowed: true, remaining: 2, retryAfterMs: 0 });
    assert.equal(await limits.admit('push:a', log, T + 4_000), { allowed: false, remaining: 0, retryAfterMs: 6_000 }, 'too soon after the last');
    assert.is((await limits.admit('push:a', log, T + 10_000)).remaining, 1);
    assert.ok((await limits.admit('push:a', log, T + 20_000)).allowed);
    assert.equal(await limits.admit('push:a', log, T + 30_000), { allowed: false, remaining: 0, retryAfterMs: 30_000 }, 'three in the window: until the first leaves it');
    assert.equal(await limits.admit('push:a', log, T + 59_999), { allowed: false, remaining: 0, retryAfterMs: 1 });
    assert.ok((await limits.admit('push:a', log, T + 60_000)).allowed, 'the first left the window');
    assert.not.ok((await limits.admit('push:a', log, T + 69_000)).allowed, 'the second is still in it (and the last is 9 s old)');
    assert.ok((await limits.admit('push:b', log, T + 30_000)).allowed, 'another key has its own log');
    // A log never lets a window hold more than its limit (a bucket would let 2 × limit through).
    const hourly = { limit: 5, windowMs: 3_600_000, gapMs: 0 };
    const admitted: number[] = [];
    for (let t = 0; t <= 3 * 3_600_000; t += 60_000) if ((await limits.admit('h', hourly, T + t)).allowed) admitted.push(t);
    for (const start of admitted) assert.ok(admitted.filter((x) => x >= start && x < start + 3_600_000).length <= 5, `window at ${start}`);
    assert.equal(admitted.length, 16, '5 an hour for 3 hours, and the first of the fourth');
  });

  each('admit: a blocked key is refused until its block ends; callers racing on processes never over-admit', async (limits, also) => {
    const log = { limit: 4, windowMs: 60_000, gapMs: 0 };
    await limits.block('muted', T + 5_000);
    assert.equal(await limits.admit('muted', log, T), { allowed: false, remaining: 0, retryAfterMs: 5_000 });
    assert.ok((await limits.admit('muted', log, T + 5_000)).allowed);
    const callers = [limits];
    if (options.connect) callers.push(also(await options.connect(limits)));
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => callers[i % callers.length]!.admit('race', log, T)));
    assert.is(results.filter((r) => r.allowed).length, 4);
  });

  each('bad rates are refused', async (limits) => {
    await limits.admit('x', { limit: 0, windowMs: 1, gapMs: 0 }, T).then(
      () => assert.unreachable('admitted'),
      (e: Error) => assert.instance(e, RangeError),
    );
    for (const rate of [
      { limit: 0, windowMs: 1 },
      { limit: 1, windowMs: 0 },
      { limit: Number.NaN, windowMs: 1 },
    ]) {
      await limits.take('x', rate, T).then(
        () => assert.unreachable('allowed'),
        (e: Error) => assert.instance(e, RangeError),
      );
    }
  });

  s.run();
}
