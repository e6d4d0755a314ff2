/**
 * MemoryLimits (src/adapters/memory/limits.ts): the Limits contract; then what is its own: its
 * memory follows the keys active within a window, not every key ever seen.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryLimits } from '../../src/adapters/memory/limits.ts';
import { limitsContract } from './limits.contract.ts';

limitsContract(async () => new MemoryLimits(), { name: 'MemoryLimits: Limits contract' });

test('100,000 sources over time: entries of full buckets and ended blocks are swept', async () => {
  const limits = new MemoryLimits();
  const rate = { limit: 30, windowMs: 10_000 };
  let now = 0;
  for (let i = 0; i < 100_000; i++) {
    now += 1; // 100 s in all: each source's bucket is full again 333 ms after its take
    await limits.take(`hello:${i}`, rate, now);
    if (i % 10 === 0) await limits.block(`fail:${i}`, now + 5_000);
  }
  assert.ok(limits.size < 20_000, `${limits.size} entries held`);
  await limits.close();
});

test('a closed MemoryLimits refuses calls', async () => {
  const limits = new MemoryLimits();
  await limits.close();
  await limits.take('k', { limit: 1, windowMs: 1 }, 0).then(
    () => assert.unreachable('resolved'),
    (e: Error) => assert.match(e.message, /closed/),
  );
});

test.run();
