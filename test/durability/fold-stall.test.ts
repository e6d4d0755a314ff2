/**
 * A fold never holds the event loop (nor a login) for long: on a ~40 MiB registry (100,000 users,
 * each with an account), the journal is folded into nextauth.json while logins (an account's last
 * login and a saved session, each acknowledged once on disk) go on every 2 ms. Measured with
 * perf_hooks.monitorEventLoopDelay and a 1 ms interval's drift; the same for a whole write (what
 * a fold was before: JSON.stringify of the whole document, every change meanwhile waiting for it;
 * still done at close). The numbers are printed; what is asserted is relative to the same run's whole
 * write (a fifth of its stall at most), so a busy machine does not fail it — the design aims at slices of ~1 ms.
 *
 *   node --import tsx test/durability/fold-stall.test.ts     (FOLD_USERS=… to change the size)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FoldEvent } from '../../src/adapters/lowdb/journal-file.ts';
import { LowdbStore } from '../../src/adapters/lowdb/lowdb-store.ts';

const USERS = Number(process.env.FOLD_USERS ?? 100_000);
/** A fold holds the event loop at most 1/STALL_RATIO of what a whole write of the same document does. */
const STALL_RATIO = 5;

const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-fold-stall-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A registry of USERS users on 4 servers, each user with one account: written as nextauth.json. */
function writeRegistry(): void {
  const users: Record<string, Record<string, unknown>> = {};
  const accounts: Record<string, Record<string, unknown>> = {};
  for (let i = 0; i < USERS; i++) {
    const serverid = `srv${i % 4}`;
    const userid = `user-${i.toString(36).padStart(6, '0')}`;
    (users[serverid] ??= {})[userid] = {
      userid,
      attributes: { name: `User ${i}`, email: `user${i}@example.org`, plan: i % 5 ? 'free' : 'gold' },
      created: 1_700_000_000_000 + i,
      role: `user:${serverid}:${userid}`,
    };
    (accounts[serverid] ??= {})[i] = {
      id: i,
      description: `Phone of user ${i}`,
      userid,
      blocked: false,
      clientVersion: '1.4.2',
      created: 1_700_000_000_000 + i,
      lastlogin: 1_700_000_000_000 + i * 7,
      pk: Buffer.alloc(32, i % 251).toString('base64url'),
      lastSecondFactor: 1_700_000_000_000 + i * 3,
    };
  }
  const doc = { journal: 0, version: 1, globalAttributes: {}, servers: {}, roles: {}, apiKeys: {}, permissions: {}, users, accounts, enrolCodes: {}, transactions: {} };
  writeFileSync(path.join(dir, 'nextauth.json'), JSON.stringify(doc));
}

interface Window {
  ms: number;
  /** The longest the event loop was held: the most a 1 ms interval came late (monitorEventLoopDelay's max, when larger). */
  stallMax: number;
  /** monitorEventLoopDelay's p99. */
  stallP99: number;
  /** Logins acknowledged, and their latency from the moment each was due (a slot on a 2 ms grid: a blocked loop is not hidden), ms. */
  logins: number;
  loginP50: number;
  loginP99: number;
  loginMax: number;
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]! : 0);

/** Runs `work` (with a login due every 2 ms when `logins`); measures the event loop and the logins' latency meanwhile. */
async function measure(store: LowdbStore, work: () => Promise<void>, logins = true): Promise<Window> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const latencies: number[] = [];
  let driftMax = 0;
  let last = performance.now();
  const started = last;
  let n = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    driftMax = Math.max(driftMax, now - last - 1);
    last = now;
    // Every login due by now (one per 2 ms slot since the start), timed from its slot.
    for (; logins && started + n * 2 <= now; n++) {
      const due = started + n * 2;
      const i = n % USERS;
      void store
        .transact((tx) => {
          tx.patch('account', [`srv${i % 4}`, i], { lastlogin: Date.now() });
          tx.put('session', [`srv${i % 4}:hs${i}`], { snapshot: { value: 'authenticated', accountid: i }, since: Date.now() });
        })
        .then(() => latencies.push(performance.now() - due));
    }
  }, 1);
  histogram.enable();
  await work();
  const ms = performance.now() - started;
  histogram.disable();
  clearInterval(probe);
  await new Promise((r) => setTimeout(r, 100)); // the last logins' acknowledgements
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    ms,
    stallMax: Math.max(driftMax, histogram.max / 1e6),
    stallP99: histogram.percentile(99) / 1e6,
    logins: sorted.length,
    loginP50: pct(sorted, 50),
    loginP99: pct(sorted, 99),
    loginMax: sorted.at(-1) ?? 0,
  };
}

const show = (w: Window) =>
  `${w.ms.toFixed(0)} ms; event loop held ${w.stallMax.toFixed(1)} ms at most (delay p99 ${w.stallP99.toFixed(1)} ms)` +
  (w.logins ? `; ${w.logins} logins (one due every 2 ms) acknowledged: p50 ${w.loginP50.toFixed(1)} ms, p99 ${w.loginP99.toFixed(1)} ms, max ${w.loginMax.toFixed(1)} ms` : '');

test(`a fold of a ${USERS.toLocaleString('en')}-user registry holds the event loop a fraction of what a whole write does (aim: slices of ~1 ms; the bench reports the figures), logins acknowledged all along`, async () => {
  const t = performance.now();
  writeRegistry();
  let done: Extract<FoldEvent, { phase: 'done' }> | undefined;
  const store = await LowdbStore.open(dir, { onFold: (e) => void (e.phase === 'done' && e.file.endsWith('nextauth.json') && (done = e)) });
  const setup = performance.now() - t;
  const size = Buffer.byteLength(store.dump());

  const idle = await measure(store, () => new Promise((r) => setTimeout(r, 500)));
  const fold = await measure(store, () => store.fold());
  const folds = store.stats.registry.folds;
  // The whole write that every fold was before (JSON.stringify of the document on the event loop), as close still does it.
  const whole = await measure(store, () => store.close(), false);

  console.log(`  registry of ${USERS.toLocaleString('en')} users: ${(size / 2 ** 20).toFixed(1)} MiB (written and opened in ${setup.toFixed(0)} ms)`);
  console.log(`  idle, logins only: ${show(idle)}`);
  console.log(`  fold:              ${show(fold)}`);
  if (done) console.log(`                     (${(done.bytes / 2 ** 20).toFixed(1)} MiB written in ${done.slices} slices, the longest ${done.longestSliceMs.toFixed(1)} ms)`);
  console.log(`  whole write:       ${show(whole)}`);
  assert.is(folds, 1);
  assert.ok(fold.logins > 50, `${fold.logins} logins acknowledged during the fold`);
  // Relative to the same run's whole write, not an absolute time: a shared machine stalls both alike.
  assert.ok(fold.stallMax * STALL_RATIO < whole.stallMax, `the fold held the event loop ${fold.stallMax.toFixed(1)} ms at once, a whole write ${whole.stallMax.toFixed(1)} ms`);

  // What was folded reopens to the same registry.
  const reopened = await LowdbStore.open(dir);
  assert.is(Object.keys(JSON.parse(reopened.dump()).users.srv0).length, USERS / 4);
  await reopened.close();
});

test.run();
