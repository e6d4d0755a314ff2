/**
 * The sessions journal (src/store/session-journal.ts): appends on disk before they resolve,
 * coalesced; replay on start; a torn last line dropped; a damaged line refused; folded into
 * sessions.json on start and close.
 */
import { appendFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SessionJournal } from '../../src/store/session-journal.ts';
import { StoreDamagedError } from '../../src/store/lowdb-store.ts';

const tempDir = () => mkdtempSync(path.join(os.tmpdir(), 'nextauth-journal-'));
const session = (n: number) => ({ snapshot: { n }, since: n });
const lines = (dir: string) => readFileSync(path.join(dir, 'sessions.journal'), 'utf8').split('\n').filter(Boolean);

test('each change is one appended line, on disk when it resolves; a burst shares few writes', async () => {
  const dir = tempDir();
  const j = await SessionJournal.open(dir);
  await j.put('a', session(1));
  assert.equal(lines(dir).map((l) => JSON.parse(l)), [{ k: 'a', v: session(1) }]);
  await Promise.all(Array.from({ length: 500 }, (_, i) => j.put(`k${i}`, session(i))));
  assert.ok(j.stats.writes < 10, `${j.stats.writes} writes for ${j.stats.changes} changes`);
  await j.remove('a');
  assert.equal(JSON.parse(lines(dir).at(-1)!), { k: 'a' });
  assert.is((statSync(path.join(dir, 'sessions.journal')).mode & 0o777).toString(8), '600');
  // Not closed (as after a crash): the next start replays the journal.
  const again = await SessionJournal.open(dir);
  assert.is(Object.keys(again.sessions).length, 500);
  assert.is(again.sessions.a, undefined);
  assert.equal(again.sessions.k7, session(7));
  // …and folded it into sessions.json, leaving the journal empty.
  assert.equal(lines(dir), []);
  assert.is(Object.keys(JSON.parse(readFileSync(path.join(dir, 'sessions.json'), 'utf8')).sessions).length, 500);
  await again.close();
});

test('a torn last line (a crash mid-append) is dropped; a damaged line before it is refused', async () => {
  const dir = tempDir();
  const j = await SessionJournal.open(dir);
  await j.put('a', session(1));
  appendFileSync(path.join(dir, 'sessions.journal'), '{"k":"b","v":{"snap');
  const again = await SessionJournal.open(dir);
  assert.equal(Object.keys(again.sessions), ['a']);
  await again.close();

  writeFileSync(path.join(dir, 'sessions.journal'), 'garbage\n{"k":"c","v":{"snapshot":1,"since":1}}\n');
  const bytes = readFileSync(path.join(dir, 'sessions.journal'));
  try {
    await SessionJournal.open(dir);
    assert.unreachable('opened a damaged journal');
  } catch (e) {
    assert.instance(e, StoreDamagedError);
    assert.match((e as Error).message, 'sessions.journal line 1');
  }
  assert.equal(readFileSync(path.join(dir, 'sessions.journal')), bytes, 'left untouched');
});

test('replaying a journal over a snapshot that already holds it changes nothing', async () => {
  const dir = tempDir();
  const j = await SessionJournal.open(dir);
  await j.put('a', session(1));
  await j.put('b', session(2));
  await j.remove('a');
  const journal = readFileSync(path.join(dir, 'sessions.journal'));
  await j.close(); // folded: the snapshot holds b only, the journal is empty
  writeFileSync(path.join(dir, 'sessions.journal'), journal); // as if the crash came before truncating
  const again = await SessionJournal.open(dir);
  assert.equal(again.sessions, { b: session(2) });
  await again.close();
});

test.run();
