/**
 * MemorySessions (src/adapters/memory/sessions.ts): the Sessions contract, with two "processes"
 * sharing one store for the races; then what is its own: the heap stays right with 100,000
 * deadlines, sharing a store, and a closed instance refusing calls.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DeadlineHeap, MemorySessions } from '../../src/adapters/memory/sessions.ts';
import type { Deadline } from '../../src/ports.ts';
import { sessionsContract } from './sessions.contract.ts';
import { random } from '../helpers/random.ts';

sessionsContract(async () => new MemorySessions(), {
  name: 'MemorySessions: Sessions contract',
  connect: async (first) => new MemorySessions((first as MemorySessions).store),
  lose: async (first) => (first as MemorySessions).store.lose(),
});

test('100,000 deadlines: adds, replaces and cancels keep the heap right; claimDue of 10 gives the 10 earliest', async () => {
  const sessions = new MemorySessions();
  const rnd = random(42);
  const T = 1_000_000;
  const n = 100_000;
  /** What should be there: "key/name" → at. */
  const expected = new Map<string, number>();
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const at = T + Math.floor(rnd() * 1_000_000);
    await sessions.addDeadline({ key: `srv:${i}`, name: 'limit', at, payload: { i } });
    expected.set(`srv:${i}/limit`, at);
  }
  const added = performance.now() - started;
  // Replace a fifth (earlier and later), cancel a tenth.
  for (let j = 0; j < n / 5; j++) {
    const i = Math.floor(rnd() * n);
    const at = T + Math.floor(rnd() * 1_000_000);
    await sessions.addDeadline({ key: `srv:${i}`, name: 'limit', at, payload: { i, replaced: true } });
    expected.set(`srv:${i}/limit`, at);
  }
  for (let j = 0; j < n / 10; j++) {
    const i = Math.floor(rnd() * n);
    await sessions.cancelDeadline(`srv:${i}`, 'limit');
    expected.delete(`srv:${i}/limit`);
  }
  const sorted = [...expected.values()].sort((a, b) => a - b);
  assert.is(await sessions.nextDue(), sorted[0]);

  // The first claim of 10 is the 10 earliest.
  const t0 = performance.now();
  const first = await sessions.claimDue(Number.MAX_SAFE_INTEGER, 10);
  const claimTen = performance.now() - t0;
  assert.equal(
    first.map((d) => d.at),
    sorted.slice(0, 10),
  );

  // Claim the rest 10 at a time, moving `now` forward: always in order, each exactly as last added.
  const claimed: Deadline[] = [...first];
  let now = T;
  while (claimed.length < expected.size) {
    now += 5_000;
    for (let batch = await sessions.claimDue(now, 10); batch.length > 0; batch = await sessions.claimDue(now, 10)) {
      assert.ok(batch.length <= 10);
      for (const d of batch) assert.ok(d.at <= now, 'not due yet');
      claimed.push(...batch);
    }
    const next = await sessions.nextDue();
    assert.ok(next === undefined || next > now, 'everything due was claimed');
  }
  for (let j = 1; j < claimed.length; j++) assert.ok(claimed[j - 1]!.at <= claimed[j]!.at, `order at ${j}`);
  assert.is(claimed.length, expected.size);
  for (const d of claimed) {
    const id = `${d.key}/${d.name}`;
    assert.is(d.at, expected.get(id), id);
    assert.is((d.payload as { i: number }).i, Number(d.key.slice(4)));
    expected.delete(id);
  }
  assert.is(expected.size, 0);
  assert.is(await sessions.nextDue(), undefined);
  console.log(`    100,000 addDeadline: ${added.toFixed(0)} ms in all; the first claimDue(…, 10): ${claimTen.toFixed(2)} ms`);
  await sessions.close();
});

test('DeadlineHeap: ties by `at` go in order of adding; a replace goes to the back of its tie', () => {
  const heap = new DeadlineHeap();
  for (const key of ['a', 'b', 'c', 'd']) heap.add(key, 'n', 5, undefined);
  heap.add('b', 'n', 5, undefined);
  const order: string[] = [];
  for (let t = heap.popDue(5); t; t = heap.popDue(5)) order.push(t.key);
  assert.equal(order, ['a', 'c', 'd', 'b']);
  assert.is(heap.size, 0);
});

test('two MemorySessions on one store see the same values and deadlines; closing one leaves the other working', async () => {
  const a = new MemorySessions();
  const b = new MemorySessions(a.store);
  const v = (await a.put('srv:x', { snapshot: { n: 1 }, since: 1 }, 0))!;
  assert.equal(await b.get('srv:x'), { value: { snapshot: { n: 1 }, since: 1 }, version: v });
  assert.is(await b.put('srv:x', { snapshot: { n: 2 }, since: 2 }, v), v + 1);
  assert.is(await a.put('srv:x', { snapshot: { n: 3 }, since: 3 }, v), undefined, "a's version is stale after b wrote");
  await b.addDeadline({ key: 'srv:x', name: 'limit', at: 10 });
  await a.close();
  assert.equal(await b.claimDue(10), [{ key: 'srv:x', name: 'limit', at: 10 }]);
  await b.close();
});

test.run();
