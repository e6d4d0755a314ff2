/**
 * Durability of the store itself (LowdbStore): coalescing (a burst of changes takes far fewer
 * writes, and none is lost), a change resolves only once it is on disk, atomic writes leave no
 * temp files, `.bak` rotation, a damaged file is never overwritten, and secrets at rest (folder
 * 0700, files 0600) — through the store and through a real server, whose /metrics shows the
 * store's changes and writes.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LowdbStore, StoreDamagedError } from '../../src/adapters/lowdb/lowdb-store.ts';
import { startTestServer } from '../helpers/ns.ts';
import { newNonce, newPhone, qr } from '../helpers/peers.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-durability-'));
  dirs.push(dir);
  return path.join(dir, 'data');
}
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
const modeOf = (file: string) => statSync(file).mode & 0o777;
const octal = (mode: number) => `0${mode.toString(8)}`;
/** A small record to write many of. */
const role = (i: number) => ({ description: `r${i}`, created: i });
/** Sets one global attribute (a change that reads, then writes). */
const setAttribute = (store: LowdbStore, key: string, value: unknown) =>
  store.transact(async (tx) => tx.put('globalAttributes', [], { ...(await tx.get('globalAttributes')), [key]: value }));

test('a burst of 1,000 changes is carried by a few writes, and none is lost', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  const before = { ...store.stats.registry };
  const done = Array.from({ length: 1000 }, (_, i) =>
    store.transact((tx) => {
      tx.put('role', [`k${i}`], role(i));
      return i;
    }),
  );
  const results = await Promise.all(done);
  assert.equal(
    results,
    Array.from({ length: 1000 }, (_, i) => i),
    'each change resolves with its result',
  );
  const changes = store.stats.registry.changes - before.changes;
  const writes = store.stats.registry.writes - before.writes;
  assert.is(changes, 1000);
  assert.ok(writes >= 1 && writes <= 3, `1,000 changes in one burst took ${writes} writes`);
  // Everything is on disk already (each change resolved once written)…
  const journal = readFileSync(path.join(dir, 'nextauth.journal'), 'utf8').trim().split('\n');
  assert.is(journal.length, 1000, 'one journal line per change');
  await store.close();
  // …and a new process (a reopened store) sees all of it.
  const again = await LowdbStore.open(dir);
  assert.is(Object.keys(JSON.parse(again.dump()).roles).length, 1000);
  for (let i = 0; i < 1000; i++) assert.equal(await again.get('role', `k${i}`), role(i));
  await again.close();
});

test('changes that arrive while a write runs share the next write; each resolves only once on disk', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  const file = path.join(dir, 'nextauth.journal');
  const before = { ...store.stats.registry };
  const pending: Promise<void>[] = [];
  let lateResolutions = 0;
  // 500 changes spread over many turns of the event loop, so most of them land while a write runs.
  for (let i = 0; i < 500; i++) {
    const key = `t${i}`;
    pending.push(
      store
        .transact((tx) => tx.put('role', [key], role(i)))
        .then(() => {
          // Resolved: the change must be in the journal now (read synchronously, in this very turn).
          if (!readFileSync(file, 'utf8').includes(`"${key}":`)) lateResolutions++;
        }),
    );
    if (i % 5 === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(pending);
  assert.is(lateResolutions, 0, 'no change resolved before it was on disk');
  const changes = store.stats.registry.changes - before.changes;
  const writes = store.stats.registry.writes - before.writes;
  assert.is(changes, 500);
  assert.ok(writes < changes / 5, `500 changes over 100 turns took ${writes} writes`);
  await store.close();
  const again = await LowdbStore.open(dir);
  for (let i = 0; i < 500; i++) assert.equal(await again.get('role', `t${i}`), role(i));
  await again.close();
});

test('a change that throws is not counted, not written, and changes nothing (not even what it wrote before it threw)', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  await setAttribute(store, 'kept', 1);
  const stats = { ...store.stats.registry };
  const files = ['nextauth.json', 'nextauth.journal'].map((f) => readFileSync(path.join(dir, f)));
  try {
    await store.transact(async (tx) => {
      tx.put('globalAttributes', [], { lost: 1 });
      tx.put('role', ['lost'], role(1));
      assert.equal(await tx.get('globalAttributes'), { lost: 1 }, 'a change reads its own writes');
      throw new Error('refused');
    });
    assert.unreachable('should have rejected');
  } catch (e) {
    assert.is((e as Error).message, 'refused');
  }
  await store.flush();
  assert.is(store.stats.registry.changes, stats.changes);
  assert.equal(await store.get('globalAttributes'), { kept: 1 });
  assert.is(await store.get('role', 'lost'), undefined);
  assert.equal(
    ['nextauth.json', 'nextauth.journal'].map((f) => readFileSync(path.join(dir, f))),
    files,
  );
  await store.close();
});

test('records handed out are frozen: a reader cannot change the store', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  await store.transact((tx) => tx.put('role', ['r'], role(1)));
  const got = (await store.get('role', 'r'))!;
  assert.throws(() => {
    (got as { description: string }).description = 'changed';
  });
  await store.transact((tx) => tx.patch('role', ['r'], { description: 'patched' }));
  assert.is(got.description, 'r1', 'what was handed out does not move under its reader');
  assert.is((await store.get('role', 'r'))!.description, 'patched');
  await store.close();
});

test('writes are atomic: no temp file is left behind, and stale temp files are removed on open', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  await Promise.all(Array.from({ length: 50 }, (_, i) => setAttribute(store, `a${i}`, i)));
  await store.close();
  assert.equal(readdirSync(dir).sort(), ['nextauth.journal', 'nextauth.json', 'sessions.json']);
  // A process killed in the middle of a write leaves its temp file: the next open removes it and
  // never reads it.
  writeFileSync(path.join(dir, 'nextauth.json.4242.7.tmp'), '{"version":1,"globalAttributes":{"torn":');
  const again = await LowdbStore.open(dir);
  assert.is((await again.get('globalAttributes'))?.a49, 49);
  assert.is((await again.get('globalAttributes'))?.torn, undefined);
  await again.close();
  assert.equal(readdirSync(dir).sort(), ['nextauth.journal', 'nextauth.json', 'nextauth.json.bak', 'sessions.json', 'sessions.json.bak']);
});

test('.bak is the file as it was at the last successful start, rotated on each start', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'nextauth.json');
  const first = await LowdbStore.open(dir);
  assert.not.ok(existsSync(`${file}.bak`), 'nothing to keep on the very first start');
  await setAttribute(first, 'generation', 1);
  await first.close();

  const second = await LowdbStore.open(dir);
  assert.is(readJson(`${file}.bak`).globalAttributes.generation, 1, 'the copy taken at this start');
  await setAttribute(second, 'generation', 2);
  await second.close();
  assert.is(readJson(`${file}.bak`).globalAttributes.generation, 1, 'changes while running do not touch .bak');

  const third = await LowdbStore.open(dir);
  assert.is(readJson(`${file}.bak`).globalAttributes.generation, 2, 'rotated on the next start');
  await third.close();
});

for (const name of ['nextauth.json', 'sessions.json']) {
  test(`a damaged ${name} is never overwritten: StoreDamagedError naming the file and its .bak`, async () => {
    const dir = tempDir();
    const file = path.join(dir, name);
    const open = () => LowdbStore.open(dir);
    // Two good starts, so a .bak exists.
    for (let i = 0; i < 2; i++) await (await open()).close();
    const bak = readFileSync(`${file}.bak`);
    for (const damage of ['{"version":1,"servers":{', '', '\u0000\u0000\u0000\u0000', 'not json at all']) {
      writeFileSync(file, damage);
      const bytes = readFileSync(file);
      try {
        await open();
        assert.unreachable(`opened a damaged file (${JSON.stringify(damage)})`);
      } catch (e) {
        assert.instance(e, StoreDamagedError);
        const message = (e as Error).message;
        assert.ok(message.includes(file), `the message names the file: ${message}`);
        assert.ok(message.includes(`${file}.bak`), `the message names the last good copy: ${message}`);
      }
      assert.equal(readFileSync(file), bytes, 'the damaged file is untouched');
      assert.equal(readFileSync(`${file}.bak`), bak, 'the last good copy is untouched');
      assert.equal(
        readdirSync(dir).filter((f) => f.endsWith('.tmp')),
        [],
        'nothing was being written',
      );
    }
    // The way back the message gives: copy .bak over the file.
    writeFileSync(file, bak);
    await (await open()).close();
  });
}

test('a file that parses but holds no data object (null, [], 42, "x") is refused too, and neither it nor its .bak is overwritten', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'nextauth.json');
  for (let i = 0; i < 2; i++) {
    const store = await LowdbStore.open(dir);
    await setAttribute(store, 'precious', i);
    await store.close();
  }
  const bak = readFileSync(`${file}.bak`);
  for (const content of ['null', '[]', '42', '"x"']) {
    writeFileSync(file, content);
    let refused: unknown;
    try {
      await (await LowdbStore.open(dir)).close();
    } catch (e) {
      refused = e;
    }
    const now = readFileSync(file, 'utf8');
    const bakNow = readFileSync(`${file}.bak`);
    assert.instance(refused, StoreDamagedError, `${content}: refused as damaged`);
    assert.is(now, content, `${content}: the file keeps its bytes`);
    assert.equal(bakNow, bak, `${content}: the last good copy keeps its bytes`);
  }
});

test('secrets at rest: the store makes its folder 0700 and every file 0600, whatever the umask or the old modes', async () => {
  const old = process.umask(0o000);
  try {
    const dir = tempDir();
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const first = await LowdbStore.open(dir);
    await setAttribute(first, 'x', 1);
    await first.close();
    // A restore made with a plain `cp` may leave the file world-readable.
    chmodSync(path.join(dir, 'nextauth.json'), 0o644);
    const second = await LowdbStore.open(dir);
    await second.close();
    assert.is(octal(modeOf(dir)), '0700');
    for (const f of ['nextauth.json', 'nextauth.json.bak', 'nextauth.journal', 'sessions.json', 'sessions.json.bak']) assert.is(octal(modeOf(path.join(dir, f))), '0600', f);
  } finally {
    process.umask(old);
  }
});

test('secrets at rest through a real server: folder 0700; nextauth.json, sessions.json and both .bak 0600', async () => {
  const old = process.umask(0o000);
  try {
    let ns = await startTestServer({}, tempDir());
    const srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Modes' } })).body.serverid;
    const phone = newPhone();
    await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
    (await phone.login(await qr(ns, srv, newNonce()))).connection.close();
    ns = await ns.restart(); // the second start rotates both .bak files
    await ns.stop();
    const dir = ns.dataDir;
    assert.is(octal(modeOf(dir)), '0700', 'the data folder');
    const files = readdirSync(dir).sort();
    for (const f of ['nextauth.json', 'nextauth.json.bak', 'sessions.json', 'sessions.json.bak']) {
      assert.ok(files.includes(f), `${f} is there (${files.join(', ')})`);
    }
    for (const f of files) assert.is(octal(modeOf(path.join(dir, f))), '0600', f);
    assert.ok(Object.keys(readJson(path.join(dir, 'sessions.json')).sessions).length >= 1, 'the login was saved');
  } finally {
    process.umask(old);
  }
});

/** The value of `name{store="<store>"}` in a Prometheus text exposition. */
function metric(text: string, name: string, store: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{store="${store}"} `));
  assert.ok(line, `${name}{store="${store}"} is in /metrics`);
  return Number(line!.split(' ')[1]);
}

test('/metrics shows nextauth_store_changes_total and nextauth_store_writes_total (counters) of both stores; a burst of REST changes coalesces', async () => {
  const ns = await startTestServer({}, tempDir());
  try {
    const read = async () => {
      const r = await ns.api('GET', '/metrics', { key: null });
      assert.is(r.status, 200);
      const text = String(r.body);
      assert.match(text, '# TYPE nextauth_store_changes_total counter');
      assert.match(text, '# TYPE nextauth_store_writes_total counter');
      const stores = ['registry', 'sessions'] as const;
      return Object.fromEntries(
        stores.map((s) => [s, { changes: metric(text, 'nextauth_store_changes_total', s), writes: metric(text, 'nextauth_store_writes_total', s) }]),
      ) as Record<(typeof stores)[number], { changes: number; writes: number }>;
    };
    const before = await read();
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => ns.api('PUT', '/attributes/', { body: { [`m${i}`]: i } })));
    assert.ok(replies.every((r) => r.status === 200));
    const after = await read();
    const changes = after.registry.changes - before.registry.changes;
    const writes = after.registry.writes - before.registry.writes;
    assert.is(changes, 200, 'one change per request');
    assert.ok(writes <= changes / 2, `200 concurrent requests took ${writes} writes`);
    assert.equal(after.sessions, before.sessions, 'the sessions store was not asked for anything');
    // The metrics are the store's own counters.
    assert.is(after.registry.changes, ns.store.stats.registry.changes);
    // None lost:
    const attrs = (await ns.api('GET', '/attributes/')).body;
    for (let i = 0; i < 200; i++) assert.is(attrs[`m${i}`], i);
  } finally {
    await ns.stop();
  }
});

test.run();
