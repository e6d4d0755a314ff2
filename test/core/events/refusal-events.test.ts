/**
 * Refusal events are sampled: at most 10 per (server, source) and minute are written; the rest
 * become one event when the minute is over, with their number; unknown servers have none.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LowdbStore } from '../../../src/adapters/lowdb/lowdb-store.ts';
import { RefusalEvents } from '../../../src/core/events/refusal-events.ts';
import { until } from '../../helpers/peers.ts';
import { server } from '../../ports/store.contract.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-refusals-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('10 a minute per server and source are written; the rest are one event with their number when the minute is over', async () => {
  const store = await LowdbStore.open(dir);
  const S = 'c2VydmVyLW9uZS0xNi1ieQ';
  await store.transact((tx) => tx.put('server', [S], server(S)));
  let now = Date.UTC(2026, 0, 1, 0, 0, 5);
  const refusals = new RefusalEvents(store, () => now);
  for (let i = 0; i < 13; i++) refusals.record(S, i < 12 ? 'BAD_MESSAGE' : 'BAD_SIGNATURE', '127.0.0.2', 'app');
  for (let i = 0; i < 3; i++) refusals.record(S, 'FORBIDDEN', '127.0.0.3', 'rest');
  refusals.record('AAAAAAAAAAAAAAAAAAAAAA', 'BAD_MESSAGE', '127.0.0.2', 'app');
  refusals.record(undefined, 'BAD_FRAME', '127.0.0.2', 'app');
  let n = 0;
  const count = async () => (n = (await store.listEvents(S, { limit: 100 })).length);
  await until(
    async () => (await count()) === 13,
    () => `ten of one source and three of the other (${n})`,
  );
  assert.equal(await store.listEvents('AAAAAAAAAAAAAAAAAAAAAA', { limit: 10 }), [], 'an unknown server has no events');
  now += 60_000;
  refusals.record(S, 'BAD_MESSAGE', '127.0.0.2', 'app');
  await until(
    async () => (await count()) === 15,
    () => `the summary and the new one (${n})`,
  );
  const [latest, summary] = await store.listEvents(S, { limit: 2 });
  const both = [latest!, summary!].sort((a, b) => (a.data?.suppressed ? -1 : 0) - (b.data?.suppressed ? -1 : 0));
  assert.equal(both[0]!.data, { code: 'BAD_SIGNATURE', channel: 'app', suppressed: 3 });
  assert.is(both[0]!.source, '127.0.0.2');
  assert.equal(both[1]!.data, { code: 'BAD_MESSAGE', channel: 'app' });
  await store.close();
});

test.run();
