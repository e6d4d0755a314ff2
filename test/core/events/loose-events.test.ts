/**
 * Events with no record to write (src/core/events/loose-events.ts): those of one turn of the
 * event loop are one change; a change that writes records takes the waiting ones first, so the
 * order holds; a failed write is logged, not thrown.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LowdbStore } from '../../../src/adapters/lowdb/lowdb-store.ts';
import { LooseEvents } from '../../../src/core/events/loose-events.ts';
import { newEvent } from '../../../src/core/events/new-event.ts';
import { server } from '../../ports/store.contract.ts';

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

/** A LooseEvents whose work is kept, and a wait for all of it. */
function loose(store: LowdbStore, log?: { warn(obj: object, msg: string): void }) {
  const work: Promise<unknown>[] = [];
  const events = new LooseEvents(store, (w) => void work.push(w), log);
  return { events, settled: () => Promise.all(work) };
}

test('the events of one turn are one change, in the order they came', async () => {
  const store = await open();
  await store.transact((tx) => tx.put('server', [S], server(S)));
  const before = store.stats.sessions.changes + store.stats.registry.changes;
  const { events, settled } = loose(store);
  for (let n = 0; n < 5; n++) events.add(scan(n));
  await settled();
  assert.is(store.stats.sessions.changes + store.stats.registry.changes - before, 1, 'one change');
  const listed = await store.listEvents(S, { limit: 10 });
  assert.equal(
    listed.map((e) => e.subject),
    ['session/4', 'session/3', 'session/2', 'session/1', 'session/0'],
    'newest first: written in the order they came',
  );
  await store.close();
});

test('a change that writes records takes the waiting events first: they keep their place before its own', async () => {
  const store = await open();
  await store.transact((tx) => tx.put('server', [S], server(S)));
  const { events, settled } = loose(store);
  events.add(scan(1));
  await store.transact((tx) => {
    events.takeInto(tx);
    tx.emit(newEvent('com.nextauth.session.login', S, { subject: 'session/1' }, 2_000));
  });
  await settled();
  const listed = await store.listEvents(S, { limit: 10 });
  assert.equal(
    listed.map((e) => e.type),
    ['com.nextauth.session.login', 'com.nextauth.session.scanned'],
    'each once, the scan before the login',
  );
  await store.close();
});

test('a write that fails is logged, and nothing throws', async () => {
  const store = await open();
  const warned: string[] = [];
  const failing = Object.assign(Object.create(store) as LowdbStore, { transact: () => Promise.reject(new Error('disk full')) });
  const { events, settled } = loose(failing, { warn: (_o, msg) => void warned.push(msg) });
  events.add(scan(1));
  await settled();
  assert.equal(warned, ['could not write events']);
  await store.close();
});

test.run();
