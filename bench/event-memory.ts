/**
 * What the embedded store's events cost in memory: a lowdb store in a temp folder takes the
 * events of N logins as the soak makes them (`scanned`, `login`, two `expired`, each login its own
 * session), and the heap after full GCs is compared before and after. This is what
 * NEXTAUTH_EVENT_MAX bounds (docs/events.md "Retention").
 *
 *   node --expose-gc --import tsx bench/event-memory.ts [logins, default 25000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LowdbStore } from '../src/adapters/lowdb/lowdb-store.ts';
import { newEvent, sessionSubject } from '../src/core/events/new-event.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with node --expose-gc --import tsx bench/event-memory.ts');
  process.exit(2);
}
const heap = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const logins = Number(process.argv[2] ?? 25_000);
const serverid = 'c2VydmVyLW9uZS0xNi1ieQ';
const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-event-memory-'));
const store = await LowdbStore.open(path.join(dir, 'data'));
const before = heap();
for (let i = 0; i < logins; i++) {
  const subject = sessionSubject(`bench-session-${i}`.padEnd(43, '-'));
  const account = (i % 64) + 1;
  const at = Date.now();
  await store.transact((tx) => {
    tx.emit(newEvent('com.nextauth.session.scanned', serverid, { subject, source: '127.0.0.1', data: { op: 'login' } }, at));
    tx.emit(newEvent('com.nextauth.session.login', serverid, { subject, source: '127.0.0.1', account }, at));
    tx.emit(newEvent('com.nextauth.session.expired', serverid, { subject, account, data: { state: 'authenticated' } }, at));
    tx.emit(newEvent('com.nextauth.session.expired', serverid, { subject, account, data: { state: 'loggedOut' } }, at));
  });
}
await store.flush();
const grown = heap() - before;
console.log(`${logins * 4} events: ${Math.round(grown / 2 ** 20)} MiB of heap, ${Math.round(grown / (logins * 4))} bytes per event`);
await store.close();
rmSync(dir, { recursive: true, force: true });
