/**
 * Crash safety of the fold: a child process (fold-writer.ts) writes a stream of changes to a store
 * whose journals fold over and over (a 32 KiB threshold, a registry of 20,000 users, so a fold of
 * nextauth.json takes a while), and is killed with SIGKILL at random moments — half of them aimed
 * at a fold: a random moment after one begins (writing its file, waiting for the journal, renaming,
 * removing the rotated journal). After each kill the folder is opened again (here, in the parent)
 * and checked:
 *
 * - both files parse, and nextauth.json alone (before its journals are replayed) holds no part of a
 *   change: a fold writes the document as it was when it began;
 * - the start removes rotated journals and temp files;
 * - every change acknowledged to the child is there: key j holds the state of its last
 *   acknowledged change or of the one after it (asked, maybe not acknowledged), never an older one;
 * - a change is whole: a user and its role, changed together, are at the same change;
 * - what earlier rounds left is unchanged, and the 20,000 users written before the first round are all there.
 *
 *   FOLD_KILLS=100 node --import tsx test/durability/fold-crash.test.ts     (FOLD_SEED replays the choices)
 */
import { emptyData } from '../../src/adapters/lowdb/data.ts';
import { random as seeded } from '../helpers/random.ts';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LowdbStore } from '../../src/adapters/lowdb/lowdb-store.ts';
import { lastPut, step } from './fold-writer.ts';

const KILLS = Number(process.env.FOLD_KILLS ?? 16);
const SEED = Number(process.env.FOLD_SEED ?? Math.floor(Math.random() * 2 ** 31));
const KEYS = 300;
const FOLD_BYTES = 32 * 1024;
const BASE_USERS = 20_000;
const WRITER = fileURLToPath(new URL('./fold-writer.ts', import.meta.url));
const ROOT = path.resolve(path.dirname(WRITER), '../..');

const random = seeded(SEED);
const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));

const base = mkdtempSync(path.join(os.tmpdir(), 'nextauth-fold-crash-'));
const dir = path.join(base, 'data');
const children = new Set<ReturnType<typeof spawn>>();
test.after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(base, { recursive: true, force: true });
});

/** The registry the first round starts from: BASE_USERS users on server `base`. */
function writeBase(): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const users: Record<string, unknown> = {};
  for (let i = 0; i < BASE_USERS; i++) users[`u${i}`] = { userid: `u${i}`, attributes: { name: `User ${i}`, email: `u${i}@example.org` }, created: 1_700_000_000_000 + i };
  const doc = {
    journal: 0,
    ...emptyData(),
    users: { base: users },
  };
  writeFileSync(path.join(dir, 'nextauth.json'), JSON.stringify(doc));
  return JSON.stringify(users);
}

interface Child {
  acked: Map<number, number>;
  /** Per file: a fold begun and not ended (as the child last told). */
  folding: Map<string, boolean>;
  folds: number;
  ready: Promise<void>;
  /** Resolves at the next fold of nextauth.json that begins. */
  nextFold: () => Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill: () => void;
  stderr: () => string;
}

function startWriter(round: number): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, String(round), String(SEED + round), String(KEYS), String(FOLD_BYTES)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const acked = new Map<number, number>();
  const folding = new Map<string, boolean>();
  let folds = 0;
  let err = '';
  let rest = '';
  let onReady: () => void = () => undefined;
  let onFold: (() => void) | undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.on('data', (d) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      const [what, a, b, c] = line.split(' ');
      if (what === 'ack') acked.set(Number(a), Number(b));
      else if (what === 'ready') onReady();
      else if (what === 'fold') {
        folding.set(a!, b === 'start');
        if (b === 'start') folds++;
        if (b === 'start' && a === 'nextauth.json') onFold?.();
        void c;
      }
    }
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return {
    acked,
    folding,
    get folds() {
      return folds;
    },
    ready: Promise.race([ready, exit.then(() => Promise.reject(new Error(`the writer ended before it was ready: ${err}`)))]),
    nextFold: () => new Promise<void>((resolve) => (onFold = resolve)),
    exit,
    kill: () => child.kill('SIGKILL'),
    stderr: () => err,
  };
}

/** What key j of a round holds: the user and role (one document), the saved session (the other). */
interface Found {
  main: string;
  session: string;
}

/** The state change i leaves (i = -1: nothing yet), as `found` describes it. */
function stateAfter(i: number): Found {
  if (i < 0 || step(i) === 'delete') return { main: 'absent', session: 'absent' };
  return { main: `user ${i} put ${lastPut(i)}, role ${i} put ${lastPut(i)}`, session: `session ${i} put ${lastPut(i)}` };
}

async function found(store: LowdbStore, round: number, j: number): Promise<Found> {
  const user = (await store.get('user', `r${round}`, `j${j}`)) as { created: number; attributes: { put: number } } | undefined;
  const role = await store.get('role', `r${round}j${j}`);
  const session = (await store.get('session', `r${round}:j${j}`)) as { since: number; snapshot: { put: number } } | undefined;
  const main =
    user === undefined && role === undefined ? 'absent' : `user ${user?.created} put ${user?.attributes.put}, role ${role?.created} put ${role?.description.replace('put ', '')}`;
  return { main, session: session === undefined ? 'absent' : `session ${session.since} put ${session.snapshot.put}` };
}

const stats = { kills: 0, aimed: 0, duringFold: 0, rotatedLeft: 0, tempsLeft: 0, folds: 0, acked: 0 };

test(`the fold survives SIGKILLs: ${KILLS} kills of a writer whose journals fold over and over, every acknowledged change found after each`, async () => {
  console.log(`  fold crash test: seed ${SEED} (FOLD_SEED=${SEED} to replay the choices), ${KILLS} kills`);
  const baseUsers = writeBase();
  /** What each round left (checked again after every later kill). */
  const left = new Map<number, Found[]>();
  const started = Date.now();
  let failed = true;
  try {
    for (let round = 1; round <= KILLS; round++) {
      const child = startWriter(round);
      await child.ready;
      const aimed = random() < 0.5;
      if (aimed) {
        stats.aimed++;
        // A random moment of a fold of nextauth.json: it takes from tens to a few hundred ms here.
        await Promise.race([child.nextFold(), new Promise((r) => setTimeout(r, 3000))]);
        await new Promise((r) => setTimeout(r, between(0, 200)));
      } else await new Promise((r) => setTimeout(r, between(20, 600)));
      child.kill();
      const { signal } = await child.exit;
      assert.is(signal, 'SIGKILL', `round ${round}: the writer was alive until the kill (stderr: ${child.stderr()})`);
      stats.kills++;
      stats.folds += child.folds;
      stats.acked += child.acked.size && [...child.acked.values()].reduce((n, i) => n + i + 1, 0);
      if ([...child.folding.values()].some(Boolean)) stats.duringFold++;

      // The files as the kill left them: whole, and nextauth.json alone (without its journals)
      // never holds part of a change — a user and its role are at the same change.
      for (const name of ['nextauth.json', 'sessions.json']) {
        const file = path.join(dir, name);
        if (existsSync(file)) JSON.parse(readFileSync(file, 'utf8')); // throws if torn
      }
      const raw = JSON.parse(readFileSync(path.join(dir, 'nextauth.json'), 'utf8'));
      for (let j = 0; j < KEYS; j++) {
        const user = raw.users[`r${round}`]?.[`j${j}`];
        const role = raw.roles[`r${round}j${j}`];
        assert.is(user?.created, role?.created, `round ${round}, key ${j}: nextauth.json alone holds its user and role at the same change`);
      }
      const files = readdirSync(dir);
      stats.rotatedLeft += files.filter((f) => /\.journal\.\d+$/.test(f)).length;
      stats.tempsLeft += files.filter((f) => f.endsWith('.tmp')).length;

      // Opened again: every acknowledged change is there, whole.
      const store = await LowdbStore.open(dir);
      try {
        assert.equal(
          readdirSync(dir).filter((f) => /\.journal\.\d+$/.test(f) || f.endsWith('.tmp')),
          [],
          'the start removed rotated journals and temp files',
        );
        const now: Found[] = [];
        for (let j = 0; j < KEYS; j++) {
          const a = child.acked.get(j) ?? -1;
          const got = await found(store, round, j);
          const what = `round ${round}, key ${j} (last acknowledged change ${a}, a ${a >= 0 ? step(a) : 'none'})`;
          const main = [a, a + 1].map((i) => stateAfter(i).main);
          const session = [a, a + 1].map((i) => stateAfter(i).session);
          assert.ok(main.includes(got.main), `${what}: the registry holds "${got.main}", expected one of ${JSON.stringify(main)}`);
          assert.ok(session.includes(got.session), `${what}: sessions.json holds "${got.session}", expected one of ${JSON.stringify(session)}`);
          now.push(got);
        }
        left.set(round, now);
        for (const [earlier, states] of left) {
          if (earlier === round) continue;
          for (let j = 0; j < KEYS; j += 7) assert.equal(await found(store, earlier, j), states[j], `round ${earlier}, key ${j}: as it was left`);
        }
        const users = JSON.parse(store.dump()).users.base;
        assert.is(Object.keys(users).length, BASE_USERS, 'the users written before the first round');
        if (round === KILLS) assert.is(JSON.stringify(users), baseUsers, 'every one of them as it was');
      } finally {
        await store.close();
      }
    }
    failed = false;
  } finally {
    console.log(
      `  ${failed ? 'FAILED after' : 'survived'} ${stats.kills} kills in ${((Date.now() - started) / 1000).toFixed(1)} s: ${stats.aimed} aimed at a fold, ` +
        `${stats.duringFold} with a fold running; ${stats.folds} folds begun, ${stats.acked} changes acknowledged and found; ` +
        `rotated journals left by kills ${stats.rotatedLeft}, temp files ${stats.tempsLeft} (all removed at the next start)`,
    );
  }
  assert.ok(stats.duringFold > 0, 'some kill hit a fold');
});

test.run();
