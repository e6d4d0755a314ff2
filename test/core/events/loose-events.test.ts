/**
 * Events with no record to write (src/core/events/loose-events.ts): they wait for the next change
 * made through the store, whoever makes it, and go in it first (so the order holds); a change
 * that is refused gives them back, a change run again has them in its last run; with no change they are written by themselves, together; a
 * failed write is logged, not thrown, and gives its events back, tried again less and less often; at most MAX_WAITING wait; one
 * LooseEvents per store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LowdbStore } from '../../../src/adapters/lowdb/lowdb-store.ts';
import { LOOSE_MS, LooseEvents, MAX_WAITING } from '../../../src/core/events/loose-events.ts';
import { newEvent } from '../../../src/core/events/new-event.ts';
import { server } from '../../ports/store.contract.ts';
import type { NewEvent, StoreTx, TransactOptions } from '../../../src/ports.ts';

const dirs: string[] = [];
const open = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-loose-'));
  dirs.push(dir);
  return LowdbStore.open(path.join(dir, 'data'));
};
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const S = 'c2VydmVyLW9uZS0xNi1ieQ';
const scan = (n: number) => newEvent('com.nextauth.session.scanned', S, { subject: `session/${n}` }, 1_000 + n);

const changes = (store: LowdbStore) => store.stats.sessions.changes + store.stats.registry.changes;
const typesOf = async (store: LowdbStore) => (await store.listEvents(S, { limit: 10 })).map((e) => `${e.type.replace('com.nextauth.', '')} ${e.subject}`).reverse();

test('with no change to take them, the events of one window are one change, in the order they came', async () => {
  const store = await open();
  await store.transact((tx) => tx.put('server', [S], server(S)));
  const before = changes(store);
  const loose = LooseEvents.over(store);
  // Several turns of the event loop, within one window.
  for (let n = 0; n < 5; n++) {
    loose.add(scan(n));
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.is(changes(store), before, 'not written at once');
  await loose.settled();
  assert.is(changes(store) - before, 1, 'one change');
  assert.equal(
    await typesOf(store),
    [0, 1, 2, 3, 4].map((n) => `session.scanned session/${n}`),
    'in the order they came',
  );
  await store.close();
});

test("any change made through the store takes the waiting events first, in its own line (the scan's event rides with the login)", async () => {
  const store = await open();
  await store.transact((tx) => tx.put('server', [S], server(S)));
  const loose = LooseEvents.over(store);
  const before = changes(store);
  const started = Date.now();
  loose.add(scan(1));
  // Another writer (an enrolment, a REST change) through the same store, at once.
  await loose.store.transact((tx) => tx.emit(newEvent('com.nextauth.session.login', S, { subject: 'session/1' }, 2_000)));
  assert.is(changes(store) - before, 1, 'one change holds both');
  assert.ok(Date.now() - started < LOOSE_MS, 'the scan did not wait for its window');
  await loose.settled();
  assert.is(changes(store) - before, 1, 'and nothing was written twice');
  assert.equal(await typesOf(store), ['session.scanned session/1', 'session.login session/1']);
  await store.close();
});

test('a change that is refused gives the events back: they go in the next one, still first', async () => {
  const store = await open();
  await store.transact((tx) => tx.put('server', [S], server(S)));
  const loose = LooseEvents.over(store);
  loose.add(scan(1));
  await loose.store
    .transact(() => {
      throw new Error('refused');
    })
    .then(
      () => assert.unreachable('resolved'),
      (e: Error) => assert.is(e.message, 'refused'),
    );
  loose.add(scan(2));
  await loose.store.transact((tx) => tx.emit(newEvent('com.nextauth.session.login', S, { subject: 'session/2' }, 2_000)));
  await loose.settled();
  assert.equal(await typesOf(store), ['session.scanned session/1', 'session.scanned session/2', 'session.login session/2']);
  await store.close();
});

test('a store that runs a change again (PostgreSQL, after a conflict): the events are in its last run, once', async () => {
  const store = await open();
  await store.transact((tx) => tx.put('server', [S], server(S)));
  let firstRun: string[] = [];
  const rerunning = Object.assign(Object.create(store) as LowdbStore, {
    transact: async <R>(change: (tx: StoreTx) => R | Promise<R>): Promise<R> => {
      // A first run whose writes are dropped, then the one that counts.
      const dropped: string[] = [];
      await change({ emit: (e: NewEvent) => void dropped.push(e.type) } as unknown as StoreTx);
      firstRun = dropped;
      return store.transact(change);
    },
  });
  const loose = LooseEvents.over(rerunning);
  loose.add(scan(1));
  await loose.store.transact((tx) => tx.emit(newEvent('com.nextauth.session.login', S, { subject: 'session/1' }, 2_000)));
  await loose.settled();
  assert.equal(firstRun, ['com.nextauth.session.scanned', 'com.nextauth.session.login'], 'the first run had them too');
  assert.equal(await typesOf(store), ['session.scanned session/1', 'session.login session/1'], 'the last run wrote them, once');
  await store.close();
});

test('one LooseEvents per store: over the store or over the store it hands out, the same one', async () => {
  const store = await open();
  const loose = LooseEvents.over(store);
  assert.is(LooseEvents.over(store), loose);
  assert.is(LooseEvents.over(loose.store), loose);
  await store.close();
});

/** A store over `store` whose writes fail while `broken.now`, counting its tries. */
const breakable = (store: LowdbStore) => {
  const broken = { now: true, tries: 0 };
  const failing = Object.assign(Object.create(store) as LowdbStore, {
    transact: <R>(change: (tx: StoreTx) => R | Promise<R>): Promise<R> => {
      broken.tries++;
      return broken.now ? Promise.reject(new Error('disk full')) : store.transact(change);
    },
  });
  return { failing, broken };
};
const quiet = { warn: () => undefined, error: () => undefined };

test('a change that is refused is not a store that fails: the events it gave back are written in their window, not later', async () => {
  const store = await open();
  await store.transact((tx) => tx.put('server', [S], server(S)));
  const loose = LooseEvents.over(store, quiet);
  loose.add(scan(1));
  await loose.store
    .transact(() => {
      throw new Error('refused');
    })
    .catch(() => undefined);
  const started = Date.now();
  await loose.settled();
  assert.equal(await typesOf(store), ['session.scanned session/1'], 'written by themselves');
  assert.ok(Date.now() - started < 10 * LOOSE_MS, 'within their window, no backoff');
  await store.close();
});

test('a write that fails is logged, and nothing throws', async () => {
  const store = await open();
  const warned: string[] = [];
  const { failing } = breakable(store);
  const loose = LooseEvents.over(failing, { ...quiet, warn: (_o, msg) => void warned.push(msg) });
  loose.add(scan(1));
  await loose.flush();
  assert.equal(warned, ['could not write events']);
  await store.close();
});

test('a write that fails gives its events back: tried again by themselves, then first in the next change, once', async () => {
  const store = await open();
  await store.transact((tx) => tx.put('server', [S], server(S)));
  const { failing, broken } = breakable(store);
  const loose = LooseEvents.over(failing, quiet);
  loose.add(scan(1));
  await loose.flush();
  assert.equal(await typesOf(store), [], 'nothing written while the disk is full');
  // Tried again by themselves (LOOSE_MS after one failure), once the store works again.
  broken.now = false;
  for (let waited = 0; waited < 2_000 && (await typesOf(store)).length === 0; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(await typesOf(store), ['session.scanned session/1'], 'written by the retry');
  // A change that fails takes them and gives them back too: they go first in the next one.
  broken.now = true;
  loose.add(scan(2));
  await loose.store.transact((tx) => tx.emit(newEvent('com.nextauth.session.login', S, { subject: 'session/2' }, 2_000))).catch(() => undefined);
  broken.now = false;
  await loose.store.transact((tx) => tx.emit(newEvent('com.nextauth.session.login', S, { subject: 'session/3' }, 3_000)));
  await loose.settled();
  assert.equal(await typesOf(store), ['session.scanned session/1', 'session.scanned session/2', 'session.login session/3'], 'in order, each once');
  await store.close();
});

test("a lazy change (a login's times) whose write fails later gives its events back too: written by the retry, once", async () => {
  const written: string[] = [];
  let fail = true;
  const told: unknown[] = [];
  const store = {
    transact: async <R>(change: (tx: StoreTx) => R | Promise<R>, options?: TransactOptions): Promise<R> => {
      const emitted: string[] = [];
      const result = await change({ emit: (e: NewEvent) => void emitted.push(e.subject!) } as unknown as StoreTx);
      const write = () => {
        if (fail) return new Error('disk full');
        written.push(...emitted);
        return undefined;
      };
      if (!options?.written) {
        const error = write();
        if (error) throw error;
        return result;
      }
      // Lazy: resolved at once, written (or not) a moment later.
      setTimeout(() => options.written!(write()), 5);
      return result;
    },
  } as unknown as LowdbStore;
  const loose = LooseEvents.over(store, quiet);
  loose.add(scan(1));
  await loose.store.transact(() => undefined, { written: (e) => void told.push(e) });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.is(told.length, 1, 'the change heard its failure');
  assert.instance(told[0], Error);
  assert.equal(written, [], 'nothing written yet');
  fail = false;
  for (let waited = 0; waited < 2_000 && written.length === 0; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(written, ['session/1'], 'the scan, by the retry, once');
});

test('a store that keeps failing is tried less and less often (the wait doubles), and does not hold the process', async () => {
  const store = await open();
  const { failing, broken } = breakable(store);
  const loose = LooseEvents.over(failing, quiet);
  loose.add(scan(1));
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  // Every LOOSE_MS, a second would be 20 tries; doubling from LOOSE_MS, at most 5 (at 50, 100, 200, 400 and 800 ms).
  assert.ok(broken.tries >= 2 && broken.tries <= 5, `${broken.tries} tries in a second`);
  await loose.settled(); // does not wait for the next try
  await store.close();
});

test(`at most ${MAX_WAITING} events wait for a store that keeps failing: the oldest are dropped, with an error line`, async () => {
  const written: string[] = [];
  let fail = true;
  const store = {
    transact: async <R>(change: (tx: StoreTx) => R | Promise<R>): Promise<R> => {
      const emitted: string[] = [];
      const result = await change({ emit: (e: NewEvent) => void emitted.push(e.subject!) } as unknown as StoreTx);
      if (fail) throw new Error('disk full');
      written.push(...emitted);
      return result;
    },
  } as unknown as LowdbStore;
  const errors: Array<Record<string, unknown>> = [];
  const loose = LooseEvents.over(store, { ...quiet, error: (o) => void errors.push(o as Record<string, unknown>) });
  const events = Array.from({ length: MAX_WAITING + 5 }, (_, n) => scan(n));
  for (const e of events) loose.add(e);
  assert.is(errors.length, 1, 'one error line');
  assert.is(errors[0]!.first, events[0]!.id, 'naming the first event dropped');
  fail = false;
  await loose.flush();
  assert.is(written.length, MAX_WAITING);
  assert.is(written[0], 'session/5', 'the oldest went first');
  assert.is(written.at(-1), `session/${MAX_WAITING + 4}`);
});

test.run();
