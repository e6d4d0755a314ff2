/**
 * The fold of a journal into its file, beside the writes (src/adapters/lowdb/journal-file.ts,
 * sliced-json.ts): the journal is rotated (`<name>.journal.<N>`), the document written a slice at
 * a time while changes go on being made and acknowledged by their own lines, then renamed over
 * the file. Nothing is lost, every change is acknowledged from the journal during the fold, what
 * is on disk at each step reopens to the document, and a document that does not change is
 * written exactly as JSON.stringify writes it.
 */
import { emptyData } from '../../src/adapters/lowdb/data.ts';
import { random as seeded } from '../helpers/random.ts';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deepFreeze } from '../../src/adapters/frozen.ts';
import { type FoldEvent, JournalFile } from '../../src/adapters/lowdb/journal-file.ts';
import { LowdbStore } from '../../src/adapters/lowdb/lowdb-store.ts';
import type { AccountRecord, UserRecord } from '../../src/ports.ts';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-fold-'));
  dirs.push(dir);
  return dir;
};
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const user = (userid: string, n: number): UserRecord => ({ userid, attributes: { plan: n % 3 ? 'free' : 'gold', n }, created: 1_700_000_000_000 + n, role: `role-${n}` });
const account = (id: number, userid: string): AccountRecord => ({
  id,
  description: `phone ${id}`,
  userid,
  blocked: false,
  created: 1_700_000_000_000 + id,
  pk: Buffer.alloc(32, id % 251).toString('base64url'),
  lastlogin: 1_700_000_000_000 + id,
});

/** A nextauth.json of `n` users (and one account each) on server `base`, as a file written before the store opens. */
function writeRegistry(dir: string, n: number): { users: Record<string, UserRecord>; accounts: Record<string, AccountRecord> } {
  const users: Record<string, UserRecord> = {};
  const accounts: Record<string, AccountRecord> = {};
  for (let i = 0; i < n; i++) {
    users[`u${i}`] = user(`u${i}`, i);
    accounts[i] = account(i, `u${i}`);
  }
  const doc = {
    journal: 0,
    ...emptyData(),
    users: { base: users },
    accounts: { base: accounts },
  };
  writeFileSync(path.join(dir, 'nextauth.json'), JSON.stringify(doc));
  return { users, accounts };
}

const rotated = (dir: string) => readdirSync(dir).filter((f) => /\.journal\.\d+$/.test(f));
const turn = () => new Promise((r) => setImmediate(r));

test('a fold of a document that does not change writes the bytes JSON.stringify writes, and empties the journal', async () => {
  const dir = tempDir();
  type Doc = { version: 1; items: Record<string, Record<string, unknown>>; top: Record<string, unknown> };
  const empty = (): Doc => ({ version: 1, items: {}, top: {} });
  const file = await JournalFile.open(dir, 'doc.json', empty, (d) => Object.values(d.items).forEach(deepFreeze));
  const weird = ['__proto__', 'constructor', 'a"b', 'é\u2028', '\\', ''];
  await file.apply(weird.map((k, i) => ({ p: ['items'], s: { [k]: { i, s: `v${k}`, nested: { deep: [1, { x: null }] } } } })));
  for (let i = 0; i < 3000; i++) void file.apply([{ p: ['items'], s: { [`k${i}`]: { i, text: 'x'.repeat(i % 50), list: [i, `${i}`] } } }]);
  await file.apply([
    { p: ['top'], s: { a: 1, b: 'two', c: [3] } },
    { p: ['nested', 'deeper'], s: { leaf: true } },
  ]);
  const events: FoldEvent[] = [];
  await file.close();
  const again = await JournalFile.open(dir, 'doc.json', empty, (d) => Object.values(d.items).forEach(deepFreeze), { onFold: (e) => events.push(e) });
  await again.apply([{ p: ['top'], s: { last: 1 } }]);
  await again.fold();
  assert.equal(
    events.map((e) => e.phase),
    ['start', 'done'],
  );
  const text = readFileSync(path.join(dir, 'doc.json'), 'utf8');
  assert.is((events[0] as { upTo: number }).upTo, 3003, 'the last line before the fold');
  assert.ok(text === JSON.stringify({ journal: 3003, ...again.data }), 'the very bytes of JSON.stringify');
  assert.equal(rotated(dir), [], 'the rotated journal is removed');
  assert.is(readFileSync(path.join(dir, 'doc.journal'), 'utf8'), '', 'the journal lines since the rotation: none');
  assert.is(again.stats.folds, 1);
  await again.close();
});

test('a fold during a stream of writes loses nothing, and every write is acknowledged from the journal while it runs', async () => {
  const dir = tempDir();
  const USERS = 20_000;
  const base = writeRegistry(dir, USERS);
  const events: Array<FoldEvent & { at: number }> = [];
  let atStart: unknown;
  const store: LowdbStore = await LowdbStore.open(dir, {
    onFold: (e) => {
      events.push({ ...e, at: performance.now() });
      if (e.phase === 'start' && e.file.endsWith('nextauth.json')) atStart = JSON.parse(store.dump()); // the document the fold is to write
    },
  });
  const expected = JSON.parse(store.dump());
  const random = seeded(42);
  const acks: number[] = [];
  let sent = 0;
  /** One change, mirrored into `expected`; resolves with the moment it was acknowledged. */
  const change = (): Promise<void> => {
    const r = random();
    const i = Math.floor(random() * USERS);
    sent++;
    let done: Promise<unknown>;
    if (r < 0.3) {
      // A login: the account's last login (a patch of a record in the big container).
      const lastlogin = 1_800_000_000_000 + sent;
      if (!expected.accounts.base[i]) return Promise.resolve();
      expected.accounts.base[i] = { ...expected.accounts.base[i], lastlogin };
      done = store.transact((tx) => tx.patch('account', ['base', i], { lastlogin }));
    } else if (r < 0.45) {
      // A user removed with its account: keys gone from containers the fold may not have reached yet.
      delete expected.users.base[`u${i}`];
      delete expected.accounts.base[i];
      done = store.transact((tx) => {
        tx.delete('user', ['base', `u${i}`]);
        tx.delete('account', ['base', i]);
      });
    } else if (r < 0.6) {
      // A user put back (or replaced): keys added to containers the fold may have passed already.
      const u = user(`u${i}`, sent);
      expected.users.base[`u${i}`] = u;
      done = store.transact((tx) => tx.put('user', ['base', `u${i}`], u));
    } else if (r < 0.8) {
      // A new server's users: a container made during the fold.
      const serverid = `new${sent % 7}`;
      const userid = `n${sent}`;
      const u = user(userid, sent);
      expected.users[serverid] ??= {};
      expected.users[serverid][userid] = u;
      done = store.transact((tx) => tx.put('user', [serverid, userid], u));
    } else if (r < 0.9) {
      const value = { [`g${sent % 11}`]: sent };
      expected.globalAttributes = { ...expected.globalAttributes, ...value };
      done = store.transact(async (tx) => tx.put('globalAttributes', [], { ...(await tx.get('globalAttributes')), ...value }));
    } else {
      const key = `s${sent % 13}`;
      const session = { snapshot: { n: sent }, since: sent };
      done = store.transact((tx) => tx.put('session', [key], session));
    }
    return done.then(() => void acks.push(performance.now()));
  };

  const pending: Promise<void>[] = [];
  for (let i = 0; i < 300; i++) pending.push(change());
  await Promise.all(pending);
  const folded = store.fold();
  let foldDone = false;
  void folded.then(() => (foldDone = true));
  // Changes over many turns of the event loop, until the fold is done (and a few more).
  for (let i = 0; !foldDone || i % 50 !== 0; i++) {
    pending.push(change());
    if (i % 4 === 0) await turn();
    if (i > 200_000) assert.unreachable('the fold never ended');
  }
  await Promise.all(pending);
  await folded;

  const start = events.find((e) => e.file.endsWith('nextauth.json') && e.phase === 'start')!;
  const done = events.find((e) => e.file.endsWith('nextauth.json') && e.phase === 'done')!;
  assert.ok(start && done, JSON.stringify(events));
  const during = acks.filter((t) => t > start.at && t < done.at).length;
  console.log(
    `  fold of ${((done as { bytes: number }).bytes / 2 ** 20).toFixed(1)} MiB in ${(done.at - start.at).toFixed(0)} ms: ${during} changes acknowledged meanwhile, ${sent} in all`,
  );
  assert.ok(during >= 20, `${during} changes acknowledged during the fold`);
  assert.is(store.stats.registry.folds, 1);

  const final = JSON.parse(store.dump());
  assert.equal(final, expected, 'the document holds every change');
  assert.ok(Object.keys(final.users.base).length < USERS && Object.keys(final.users.base).length > USERS / 2);
  assert.not.equal(final.accounts.base, base.accounts);
  // On disk: the document exactly as it was when the fold began (none of the changes made while
  // it ran, not even part of one), naming the last line it holds; the rotated journal is gone.
  const { journal, ...written } = JSON.parse(readFileSync(path.join(dir, 'nextauth.json'), 'utf8'));
  assert.is(journal, (start as { upTo: number }).upTo);
  assert.equal(written, atStart, 'the file is the document of the moment the fold began');
  assert.not.equal(written, final);
  assert.equal(rotated(dir), []);
  // A restart on the files as they are (not closed: as after a crash)…
  const reopened = await LowdbStore.open(dir);
  assert.equal(JSON.parse(reopened.dump()), expected, 'reopened: the folded file and the new journal give the document');
  assert.equal(await reopened.savedSessions(), await store.savedSessions());
  await reopened.close();
  // …and after a close.
  await store.close();
  const again = await LowdbStore.open(dir);
  assert.equal(JSON.parse(again.dump()), expected, 'reopened after close');
  await again.close();
});

test('a crash at either side of the rename reopens to the document: before it (old file and both journals), after it (rotated journal not yet removed)', async () => {
  const dir = tempDir();
  writeRegistry(dir, 20_000);
  let rotatedFile = '';
  let upTo = 0;
  /** The data files as a crash would leave them now. */
  const filesNow = () =>
    Object.fromEntries(
      readdirSync(dir)
        .filter((f) => /^(nextauth|sessions)\.(json|journal)(\.\d+)?$/.test(f))
        .map((f) => [f, readFileSync(path.join(dir, f))]),
    );
  const store = await LowdbStore.open(dir, {
    onFold: (e) => {
      if (e.file.endsWith('nextauth.json') && e.phase === 'start') upTo = e.upTo;
    },
  });
  const put = (key: string, n: number) => store.transact((tx) => tx.put('role', [key], { description: `d${n}`, created: n }));
  for (let i = 0; i < 100; i++) await put(`a${i}`, i);
  const folded = store.fold();
  let before: Record<string, Buffer> = {};
  for (let i = 0; i < 100; i++) {
    await put(`b${i}`, i);
    if (i === 5) before = filesNow();
  }
  await folded;
  await put('c', 1);
  const after = filesNow();
  const expected = JSON.parse(store.dump());
  rotatedFile = Object.keys(before).find((f) => /^nextauth\.journal\.\d+$/.test(f)) ?? '';
  assert.ok(before[rotatedFile], `a rotated journal is there during the fold: ${Object.keys(before).join(', ')}`);
  assert.ok(JSON.parse(before['nextauth.json']!.toString()).journal < upTo, 'taken before the rename');
  assert.not.ok(after[rotatedFile], 'removed after the fold');
  assert.is(JSON.parse(after['nextauth.json']!.toString()).journal, upTo);

  /** A data folder holding `files`, opened: the document it gives. */
  const reopen = async (name: string, files: Record<string, Buffer>) => {
    const to = path.join(dir, name);
    mkdirSync(to, { mode: 0o700 });
    for (const [f, bytes] of Object.entries(files)) writeFileSync(path.join(to, f), bytes);
    const reopened = await LowdbStore.open(to);
    const doc = JSON.parse(reopened.dump());
    assert.equal(rotated(to), [], `${name}: the start removed the rotated journal`);
    await reopened.close();
    return doc;
  };
  // Before the rename: the old file, the rotated journal and the new one hold a0-a99 and b0-b5 (b6 was not asked for yet).
  const early = await reopen('before', before);
  assert.is(Object.keys(early.roles).length, 106);
  for (let i = 0; i <= 5; i++) assert.equal(early.roles[`b${i}`], { description: `d${i}`, created: i });
  assert.is(Object.keys(early.users.base).length, 20_000);
  // After the rename, the rotated journal not yet removed: its lines are all in the new file, skipped.
  assert.equal(await reopen('after', { ...after, [rotatedFile]: before[rotatedFile]! }), expected);
  await store.close();
});

test('close during a fold: the fold gives up (no temp file left), the whole write holds everything', async () => {
  const dir = tempDir();
  writeRegistry(dir, 20_000);
  const events: string[] = [];
  const store = await LowdbStore.open(dir, { onFold: (e) => events.push(`${path.basename(e.file)} ${e.phase}`) });
  await store.transact((tx) => tx.put('role', ['r'], { description: 'x', created: 1 }));
  const folded = store.fold();
  await turn();
  await turn();
  await store.close();
  await folded;
  assert.ok(events.includes('nextauth.json given up') || events.includes('nextauth.json done'), events.join(', '));
  assert.equal(
    readdirSync(dir).filter((f) => f.endsWith('.tmp') || /\.journal\.\d+$/.test(f)),
    [],
  );
  const again = await LowdbStore.open(dir);
  assert.equal(await again.get('role', 'r'), { description: 'x', created: 1 });
  assert.is(Object.keys(JSON.parse(again.dump()).users.base).length, 20_000);
  await again.close();
});

test('the journal folds by itself once it outgrows its threshold, over and over, beside a stream of writes', async () => {
  const dir = tempDir();
  writeRegistry(dir, 2000);
  const store = await LowdbStore.open(dir, { foldBytes: 16 * 1024 });
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < 3000; i++) {
    pending.push(store.transact((tx) => tx.put('role', [`r${i % 500}`], { description: `d${i}`, created: i })));
    if (i % 20 === 0) await pending.at(-1); // a stream, not one burst
  }
  await Promise.all(pending);
  await store.flush();
  // A fold started by the last writes may still be renaming files: a second store must not read
  // the folder meanwhile (one process holds a data folder), so let it finish first.
  await store.fold();
  const folds = store.stats.registry.folds;
  console.log(`  3,000 changes, 16 KiB threshold: ${folds} folds, ${store.stats.registry.writes} writes, ${store.stats.registry.snapshots} files written whole`);
  assert.ok(folds >= 3, `${folds} folds`);
  const expected = JSON.parse(store.dump());
  const reopened = await LowdbStore.open(dir);
  assert.equal(JSON.parse(reopened.dump()), expected);
  for (let i = 2500; i < 3000; i++) assert.equal(await reopened.get('role', `r${i % 500}`), { description: `d${i}`, created: i });
  await reopened.close();
  await store.close();
});

test.run();
