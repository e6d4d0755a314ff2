/**
 * Retention (src/core/events/prune-events.ts) on the embedded store: at start and then every
 * period, events older than the retention go, and with a most to keep, those past it, the oldest
 * first, whatever their age; stopped, it prunes no more.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LowdbStore } from '../../../src/adapters/lowdb/lowdb-store.ts';
import { newEvent } from '../../../src/core/events/new-event.ts';
import { pruneEventsEvery } from '../../../src/core/events/prune-events.ts';
import { server } from '../../ports/store.contract.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-prune-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const S = 'c2VydmVyLW9uZS0xNi1ieQ';
const DAY = 86400_000;
const until = async (what: string, done: () => Promise<boolean>) => {
  for (let waited = 0; waited < 5_000; waited += 10) {
    if (await done()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.unreachable(`${what}: not within 5 s`);
};

test('the oldest go past the retention and past the most kept, at start; stopped, no more', async () => {
  const store = await LowdbStore.open(path.join(dir, 'data'));
  const now = Date.now();
  await store.transact((tx) => {
    tx.put('server', [S], server(S));
    // Two from before the retention, then twenty fresh ones.
    for (let n = 0; n < 22; n++) tx.emit(newEvent('com.nextauth.session.scanned', S, { subject: `session/${n}` }, n < 2 ? now - 100 * DAY : now - 1000 + n));
  });
  const subjects = async () => (await store.listEvents(S, { limit: 100 })).map((e) => e.subject);
  const stop = pruneEventsEvery(store, { retentionMs: 90 * DAY, keep: 5, everyMs: 60_000 }, undefined, () => now);
  await until('five left', async () => (await subjects()).length === 5);
  assert.equal(
    await subjects(),
    [21, 20, 19, 18, 17].map((n) => `session/${n}`),
    'the newest five',
  );
  stop();
  await store.transact((tx) => tx.emit(newEvent('com.nextauth.session.scanned', S, { subject: 'session/22' }, now)));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.is((await subjects()).length, 6, 'stopped: nothing more pruned');
  await store.close();
});

test.run();
