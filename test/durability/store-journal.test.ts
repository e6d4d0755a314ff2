/**
 * The store's journal (src/adapters/lowdb/journal-file.ts): a change is one appended line, on disk
 * before it resolves, coalesced; replayed on start and folded into the snapshot; a torn last line dropped,
 * a damaged line refused; numbered, so a crash between a snapshot and the journal's truncation
 * replays nothing twice; a failed append is carried by the next whole write.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LowdbStore, StoreDamagedError } from '../../src/adapters/lowdb/lowdb-store.ts';
import type { SavedSession } from '../../src/ports.ts';
import { until } from '../helpers/peers.ts';

const tempDir = () => mkdtempSync(path.join(os.tmpdir(), 'nextauth-journal-'));
const session = (n: number) => ({ snapshot: { n }, since: n });
const journal = (dir: string, name = 'sessions') => path.join(dir, `${name}.journal`);
const lines = (dir: string, name = 'sessions') =>
  readFileSync(journal(dir, name), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { n: number; p: string[]; s?: Record<string, unknown>; d?: string[] });
const put = (store: LowdbStore, key: string, value: SavedSession) => store.transact((tx) => tx.put('session', [key], value));
const sessionsOf = async (store: LowdbStore) => Object.fromEntries(await store.savedSessions());
const file = (dir: string, name: string) => JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as Record<string, unknown>;

test('each saved session is one appended line, on disk when it resolves; a burst shares few writes', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  await put(store, 'a', session(1));
  assert.equal(lines(dir), [{ n: 1, p: ['sessions'], s: { a: session(1) } }]);
  const writes = store.stats.sessions.writes;
  await Promise.all(Array.from({ length: 500 }, (_, i) => put(store, `k${i}`, session(i))));
  assert.ok(store.stats.sessions.writes - writes < 10, `${store.stats.sessions.writes - writes} writes for 500 changes`);
  await store.transact((tx) => tx.delete('session', ['a']));
  assert.equal(lines(dir).at(-1), { n: 502, p: ['sessions'], d: ['a'] });
  assert.is((statSync(journal(dir)).mode & 0o777).toString(8), '600');
  // Not closed (as after a crash): the next start replays the journal…
  const again = await LowdbStore.open(dir);
  const saved = await sessionsOf(again);
  assert.is(Object.keys(saved).length, 500);
  assert.is(saved.a, undefined);
  assert.equal(saved.k7, session(7));
  // …and folds it into sessions.json (which names the last change it holds), emptying the journal.
  assert.equal(lines(dir), []);
  const snapshot = file(dir, 'sessions.json');
  assert.is(snapshot.journal, 502);
  assert.is(Object.keys(snapshot.sessions as object).length, 500);
  await again.close();
});

test('a torn last line (a crash mid-append) is dropped; a damaged line before it is refused, untouched', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  await put(store, 'a', session(1));
  appendFileSync(journal(dir), '{"n":2,"p":["sessions"],"s":{"b":{"snap');
  const again = await LowdbStore.open(dir);
  assert.equal(Object.keys(await sessionsOf(again)), ['a']);
  await again.close();

  writeFileSync(journal(dir), 'garbage\n{"n":9,"p":["sessions"],"s":{"c":{"snapshot":1,"since":1}}}\n');
  const bytes = readFileSync(journal(dir));
  for (const damaged of [bytes, Buffer.from('{"k":"c"}\n{"n":9,"p":["sessions"]}\n')]) {
    writeFileSync(journal(dir), damaged);
    try {
      await LowdbStore.open(dir);
      assert.unreachable('opened a damaged journal');
    } catch (e) {
      assert.instance(e, StoreDamagedError);
      assert.match((e as Error).message, 'sessions.journal line 1');
    }
    assert.equal(readFileSync(journal(dir)), damaged, 'left untouched');
  }
});

test('a crash between the snapshot and emptying the journal replays nothing the snapshot holds', async () => {
  const dir = tempDir();
  const account = (id: number, more: object = {}) => ({ id, description: 'p', blocked: false, created: 0, pk: `pk${id}`, ...more });
  const first = await LowdbStore.open(dir);
  await first.transact((tx) => {
    tx.put('account', ['s', 1], account(1, { lastlogin: 0 }));
    tx.put('account', ['s', 2], account(2));
  });
  await first.transact((tx) => tx.patch('account', ['s', 1], { lastlogin: 5 }));
  await first.transact((tx) => tx.patch('account', ['s', 2], { lastlogin: 6 }));
  const old = readFileSync(journal(dir, 'nextauth'));
  assert.is(lines(dir, 'nextauth').length, 3);
  await first.close(); // folds: the snapshot holds changes 1 to 3, the journal is emptied
  assert.is(file(dir, 'nextauth.json').journal, 3);
  const store = await LowdbStore.open(dir);
  assert.equal(lines(dir, 'nextauth'), []);
  // Later changes touch the same field and delete the other record.
  await store.transact((tx) => {
    tx.patch('account', ['s', 1], { lastlogin: 7 });
    tx.delete('account', ['s', 2]);
  });
  await store.transact((tx) => tx.patch('account', ['s', 1], { lastSecondFactor: 8 }));
  // As if the crash came after the snapshot's rename but before the journal was emptied.
  writeFileSync(journal(dir, 'nextauth'), Buffer.concat([old, readFileSync(journal(dir, 'nextauth'))]));
  const again = await LowdbStore.open(dir);
  assert.equal(await again.get('account', 's', 1), account(1, { lastlogin: 7, lastSecondFactor: 8 }));
  assert.is(await again.get('account', 's', 2), undefined);
  await again.close();
  await store.close();
});

test('a journal whose first change is not the one after its file (changes missing) is refused, untouched', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  for (let i = 1; i <= 3; i++) await put(store, `k${i}`, session(i));
  await store.close(); // sessions.json holds changes 1 to 3
  const line = (n: number) => `${JSON.stringify({ n, p: ['sessions'], s: { [`k${n}`]: session(n) } })}\n`;
  // As a backup copied while a fold ended between the file and its journal could be: 4 is missing.
  writeFileSync(journal(dir), line(5) + line(6));
  try {
    await LowdbStore.open(dir);
    assert.unreachable('opened a journal with a gap');
  } catch (e) {
    assert.instance(e, StoreDamagedError);
    assert.match((e as Error).message, 'sessions.journal line 1 is change 5, but the changes before it end at 3');
  }
  assert.is(readFileSync(journal(dir), 'utf8'), line(5) + line(6), 'left untouched');
  // With it (and a line given twice, as overlapping copies could hold), it opens.
  writeFileSync(journal(dir), line(2) + line(4) + line(5) + line(4) + line(6));
  const again = await LowdbStore.open(dir);
  assert.equal(Object.keys(await sessionsOf(again)).sort(), ['k1', 'k2', 'k3', 'k4', 'k5', 'k6']);
  await again.close();
});

test('a change of a record that is not there rejects and writes nothing', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  const before = readFileSync(path.join(dir, 'nextauth.json'));
  for (const [serverid, id] of [
    ['nope', 1],
    ['__proto__', 1],
    ['constructor', 1],
  ] as const) {
    try {
      await store.transact((tx) => tx.patch('account', [serverid, id], { lastlogin: 1 }));
      assert.unreachable(`patched ${serverid}.${id}`);
    } catch (e) {
      assert.match((e as Error).message, 'No account');
    }
  }
  assert.is(store.stats.registry.changes, 0);
  assert.equal(readFileSync(path.join(dir, 'nextauth.json')), before);
  assert.equal(({} as Record<string, unknown>).lastlogin, undefined, 'no prototype touched');
  await store.close();
});

/** A change refused because its write failed: STORAGE_UNAVAILABLE, with the file system's error as its cause. */
function assertUnavailable(e: unknown, cause: string): void {
  assert.is((e as { code?: string }).code, 'STORAGE_UNAVAILABLE');
  assert.is(((e as { cause?: NodeJS.ErrnoException }).cause as NodeJS.ErrnoException).code, cause);
}

test('a failed append is refused and taken back: the next write does not carry it (its client was told no)', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  mkdirSync(journal(dir)); // the append cannot open it
  try {
    await put(store, 'a', session(1));
    assert.unreachable('the append succeeded');
  } catch (e) {
    assertUnavailable(e, 'EISDIR');
  }
  assert.equal(await sessionsOf(store), {}, 'not in memory either');
  rmSync(journal(dir), { recursive: true });
  await put(store, 'b', session(2));
  assert.equal(Object.keys(file(dir, 'sessions.json').sessions as object), ['b'], 'the snapshot carries only what was acknowledged');
  await store.close();
  const again = await LowdbStore.open(dir);
  assert.equal(await sessionsOf(again), { b: session(2) });
  await again.close();
});

test('a lazy change (given `written`) resolves once made: it goes with the next waited-for write, or by itself soon after, several sharing one write; close writes it', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  await put(store, 'a', session(1));
  const writes = store.stats.sessions.writes;
  const told: unknown[] = [];
  const lazy = (key: string, n: number) => store.transact((tx) => tx.put('session', [key], session(n)), { written: (e) => told.push(e ?? 'ok') });
  await lazy('b', 2);
  assert.equal((await sessionsOf(store)).b, session(2), 'every read sees it at once');
  assert.is(lines(dir).length, 1, 'not on disk when it resolves');
  await lazy('c', 3);
  await lazy('d', 4);
  await until(() => told.length === 3, 'the lazy changes written');
  assert.equal(told, ['ok', 'ok', 'ok']);
  assert.equal(
    lines(dir).map((l) => l.n),
    [1, 2, 3, 4],
  );
  assert.is(store.stats.sessions.writes - writes, 1, 'three lazy changes, one write');
  // A waited-for change takes the lazy one before it: both on disk when it resolves, in one write.
  await lazy('e', 5);
  await put(store, 'f', session(6));
  assert.equal(
    lines(dir).map((l) => l.n),
    [1, 2, 3, 4, 5, 6],
  );
  assert.is(store.stats.sessions.writes - writes, 2);
  // One still waiting when the store closes is written by the close.
  await lazy('g', 7);
  await store.close();
  const again = await LowdbStore.open(dir);
  assert.equal((await sessionsOf(again)).g, session(7));
  await again.close();
});

test('a lazy change whose write fails is taken back out and `written` hears why', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  mkdirSync(journal(dir)); // the append cannot open it
  let told: (error?: unknown) => void = () => undefined;
  const written = new Promise<unknown>((resolve) => (told = resolve));
  await store.transact((tx) => tx.put('session', ['a'], session(1)), { written: (e) => told(e) });
  assert.equal(Object.keys(await sessionsOf(store)), ['a'], 'made at once');
  assertUnavailable(await written, 'EISDIR');
  assert.equal(await sessionsOf(store), {}, 'taken back out of memory');
  rmSync(journal(dir), { recursive: true });
  await store.close();
  const again = await LowdbStore.open(dir);
  assert.equal(await sessionsOf(again), {});
  await again.close();
});

test('the whole write after a failed append empties the journal even when it held no counted line (a torn start of one)', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  mkdirSync(journal(dir));
  try {
    await put(store, 'a', session(1));
    assert.unreachable('the append succeeded');
  } catch (e) {
    assertUnavailable(e, 'EISDIR');
  }
  rmSync(journal(dir), { recursive: true });
  // What a failed append (a full disk) can leave when it cannot be cut off: the start of a line,
  // in a journal that had none.
  writeFileSync(journal(dir), '{"n":1,"p":["sessions"],"s":{"a":{"snap');
  await put(store, 'b', session(2)); // the whole write (the failed append could not be cut off)
  await put(store, 'c', session(3)); // an append: on an empty journal, not after the torn start
  assert.equal(
    lines(dir).map((l) => l.n),
    [2],
  );
  const again = await LowdbStore.open(dir);
  assert.equal(await sessionsOf(again), { b: session(2), c: session(3) });
  await again.close();
  await store.close();
});

test.run();
