/**
 * The benchmark still works: `bench/run.ts --tiny` (the real driver, server process and load
 * generators, with tiny numbers) exits 0 and its JSON has every figure, and the README table
 * renders from it. With PostgreSQL and Redis reachable (test/helpers/services.ts) the same run
 * has `--cluster` too: the storm on an NS on them, one process and `--workers 2`. The numbers
 * themselves are not judged here (a busy machine changes them).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCluster, renderTable } from '../../bench/lib/report.ts';
import { service } from '../helpers/services.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-bench-test-'));
const out = path.join(dir, 'results.json');
let results: any;
let log = '';
const cluster = (await service('postgres')) !== undefined && (await service('redis')) !== undefined;
const args = ['--tiny', '--out', out, ...(cluster ? ['--cluster', '--only', 'enrol,idle,storm,push,soak,events,cluster'] : ['--only', 'enrol,idle,storm,push,soak,events'])];

test.before(async () => {
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('close', (c) => (clearTimeout(timer), resolve(c)));
  });
  assert.is(code, 0, log);
  results = JSON.parse(readFileSync(out, 'utf8'));
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** The value at a dotted path. */
const at = (p: string): any => p.split('.').reduce((v: any, k) => v?.[k], results);
const positive = (...paths: string[]) => {
  for (const p of paths) {
    const v = at(p);
    assert.ok(typeof v === 'number' && Number.isFinite(v) && v > 0, `${p} = ${v}`);
  }
};
const finite = (...paths: string[]) => {
  for (const p of paths) assert.ok(Number.isFinite(at(p)), `${p} = ${at(p)}`);
};
const latency = (p: string) => {
  positive(`${p}.p50`, `${p}.p95`, `${p}.p99`);
  assert.ok(at(`${p}.p50`) <= at(`${p}.p95`) && at(`${p}.p95`) <= at(`${p}.p99`), `${p} percentiles in order`);
};

test('the run succeeded and names its machine and command', () => {
  assert.is(results.ok, true);
  assert.is(results.form.name, 'tiny');
  assert.match(results.command, 'npm run bench -- --tiny');
  positive('machine.nproc', 'machine.fdLimit', 'machine.memTotalMiB');
  assert.ok(results.machine.cpuModel.length > 0);
  assert.match(results.machine.node, /^v\d+/);
});

test('baselines: node:crypto per operation and bare ws', () => {
  for (const op of ['x25519Keygen', 'x25519Agree', 'x25519ImportDer', 'ed25519Sign', 'ed25519Verify', 'sha512', 'secretboxSeal', 'naclEd25519Verify']) {
    positive(`baselines.crypto.ops.${op}.us`, `baselines.crypto.ops.${op}.perSecond`);
  }
  positive('baselines.crypto.loginCryptoUs', 'baselines.crypto.loginCryptoPerSecondPerCore', 'baselines.crypto.phoneLoginCryptoTweetnaclUs');
  for (const run of ['roundTrip1', 'roundTripN', 'connectN']) {
    positive(`baselines.ws.${run}.perSecond`, `baselines.ws.${run}.count`);
    latency(`baselines.ws.${run}.latencyMs`);
  }
});

test('(a) login storm: rate, latency proof → LOGIN, server CPU per login, store writes per change', () => {
  for (const run of ['onePhone', 'manyPhones', 'pacedPhones']) {
    const p = `scenarios.loginStorm.${run}`;
    assert.is(at(`${p}.errors`), 0, at(`${p}.firstError`));
    positive(`${p}.logins`, `${p}.perSecond`, `${p}.serverCpuUsPerLogin`, `${p}.window.serverCpuUs`, `${p}.store.writesPerChange`);
    latency(`${p}.latencyMs`);
    latency(`${p}.resultLatencyMs`);
    assert.ok(at(`${p}.store.changesPer`) >= 1, 'a login changes the store at least once');
    assert.ok(at(`${p}.store.writesPerChange`) <= 1, 'writes never outnumber changes');
    // inotify saw every whole-file write the server counted (a rename onto the file; journal
    // appends are not renames) — and a login makes none: its changes are journal lines (the tiny
    // form never grows a journal to its 4 MiB compaction, which a long storm does now and then).
    for (const [store, file] of [
      ['registry', 'nextauth.json'],
      ['sessions', 'sessions.json'],
    ]) {
      if (at(`${p}.store.byStore.${store}`)) {
        assert.is(at(`${p}.window.fileWrites`)[file!] ?? 0, at(`${p}.store.byStore.${store}.snapshots`), file);
        assert.is(at(`${p}.store.byStore.${store}.snapshots`), 0, `${file} rewritten during a login storm`);
      }
    }
  }
  assert.is(at('scenarios.loginStorm.manyPhones.concurrency'), results.form.concurrency);
  // The floor server: the same storm (the SDK's phones, the text socket's browsers) with 0 errors.
  for (const run of ['onePhone', 'manyPhones']) {
    const p = `baselines.floor.${run}`;
    assert.is(at(`${p}.errors`), 0, at(`${p}.firstError`));
    positive(`${p}.logins`, `${p}.perSecond`, `${p}.serverCpuUsPerLogin`);
    latency(`${p}.latencyMs`);
  }
  assert.is(at('baselines.floor.manyPhones.concurrency'), results.form.concurrency);
  positive('ratios.serverCpuPerLoginVsFloor', 'ratios.loginsPerSecondVsFloor', 'ratios.latencyP50VsFloorOnePhone');
  assert.is(
    at('scenarios.loginStorm.pacedPhones.offeredPerSecond'),
    Math.max(1, Math.round(0.7 * at('scenarios.loginStorm.manyPhones.perSecond'))),
    '70 % of what the closed loop carried',
  );
  assert.ok(at('scenarios.loginStorm.manyPhones.perSecondTimeline').length >= 1);
});

test('(b) idle browsers: every text-socket and socket.io browser waiting, memory per browser', () => {
  for (const kind of ['text', 'socketio']) {
    const p = `scenarios.idleBrowsers.${kind}`;
    assert.is(at(`${p}.browsers`), at(`${p}.asked`), `${kind} browsers all waiting (${at(`${p}.firstError`)})`);
    assert.is(at(`${p}.errors`), 0);
    finite(`${p}.perWaitingBrowser.rssBytes`, `${p}.perWaitingBrowser.heapBytes`, `${p}.perSession.heapBytes`, `${p}.perSocket.heapBytes`);
    positive(`${p}.server.afterBrowsers.rss`, `${p}.server.afterBrowsers.heapUsed`);
  }
  assert.is(at('scenarios.idleBrowsers.heldAtOnce'), results.form.idleText + results.form.idleSocketIo);
});

test('(c) push round trip: PROVOKE → push at the phone and → LOGIN at the browser', () => {
  for (const run of ['onePhone', 'manyPhones']) {
    const p = `scenarios.pushRoundTrip.${run}`;
    assert.is(at(`${p}.errors`), 0, at(`${p}.firstError`));
    positive(`${p}.roundTrips`, `${p}.perSecond`, `${p}.serverCpuUsPerIteration`);
    latency(`${p}.pushLatencyMs`);
    latency(`${p}.loginLatencyMs`);
    assert.ok(at(`${p}.pushLatencyMs.p50`) <= at(`${p}.loginLatencyMs.p50`), 'the push comes before the login');
  }
});

test('(d) enrolment burst: every phone enrolled, rate, latency, CPU, store writes per change', () => {
  const p = 'scenarios.enrolBurst';
  assert.is(at(`${p}.enrolled`), at(`${p}.asked`), at(`${p}.firstError`));
  positive(`${p}.perSecond`, `${p}.serverCpuUsPerEnrolment`, `${p}.store.writesPerChange`);
  latency(`${p}.latencyMs`);
  assert.ok(at(`${p}.store.changesPer`) >= 3, 'issue, scan and use of the enrol code at least');
});

test('(e) soak: the storm on a server of its own with short limits, sampled; growth after the warm-up', () => {
  const p = 'scenarios.soak';
  assert.is(at(`${p}.errors`), 0, at(`${p}.firstError`));
  positive(`${p}.logins`, `${p}.perSecond`, `${p}.limitSeconds`, `${p}.heapEndVsWarm`);
  assert.equal(at(`${p}.serverFlags`), ['--session-seconds', String(results.form.soakLimitSeconds), '--idle-seconds', String(results.form.soakLimitSeconds)]);
  const timeline = at(`${p}.timeline`) as Array<{ seconds: number; logins: number; heapUsed: number; rss: number; liveSessions: number; fds: number }>;
  assert.ok(timeline.length >= 3, `${timeline.length} samples`);
  for (const [i, s] of timeline.entries()) {
    assert.ok(s.heapUsed > 0 && s.rss > 0 && s.fds > 0 && s.liveSessions >= 0, JSON.stringify(s));
    if (i > 0) assert.ok(s.seconds > timeline[i - 1]!.seconds && s.logins >= timeline[i - 1]!.logins, 'in order');
  }
  assert.is(timeline.at(-1)!.logins, at(`${p}.logins`));
  finite(`${p}.growthPerMinute.heapBytes`, `${p}.growthPerMinute.rssBytes`, `${p}.growthPerMinute.liveSessions`);
});

test('events: the storm with a webhook for every event beside none, twice each; every delivery counted', () => {
  const w = at('scenarios.webhookStorm');
  assert.is(w.rounds.length, 2);
  for (const [i, r] of w.rounds.entries()) {
    for (const k of ['noneLoginsPerSecond', 'webhookLoginsPerSecond', 'noneServerCpuUsPerLogin', 'webhookServerCpuUsPerLogin', 'delivered'])
      positive(`scenarios.webhookStorm.rounds.${i}.${k}`);
    assert.ok(r.deliveredPerLogin >= 2, `a login is at least its scanned and login events (${r.deliveredPerLogin})`);
    assert.ok(r.deliveredDuringStorm <= r.delivered && r.catchUpMs >= 0);
  }
  positive('scenarios.webhookStorm.loginsRatio', 'scenarios.webhookStorm.cpuPerLoginRatio');
});

test('ratios to the baselines', () => {
  for (const name of Object.keys(results.ratios)) positive(`ratios.${name}`);
  assert.ok(Object.keys(results.ratios).length >= 6);
});

if (cluster) {
  test('--cluster: the storm on PostgreSQL + Redis, one process and 2 workers, beside the embedded NS; counts and CPU per login; the projection', () => {
    for (const [label, processes] of [
      ['oneProcess', 1],
      ['workers2', 3],
    ] as const) {
      for (const run of ['onePhone', 'manyPhones', 'commonRate', ...(processes > 1 ? ['perProcessRate'] : [])]) {
        const p = `cluster.runs.${label}.loginStorm.${run}`;
        assert.is(at(`${p}.errors`), 0, at(`${p}.firstError`));
        positive(
          `${p}.logins`,
          `${p}.serverTreeCpuUsPerLogin`,
          `${p}.backend.postgres.roundTripsPerLogin`,
          `${p}.backend.redis.commandsPerLogin`,
          `${p}.backend.redis.writesPerLogin`,
        );
        assert.is(at(`${p}.window.serverProcesses`), processes, `${label}: the primary and its workers`);
        assert.ok(at(`${p}.backend.redis.commandsPerLogin`) >= at(`${p}.backend.redis.writesPerLogin`), 'a write carries one command or more');
        const pgCpu = at(`${p}.backend.postgres.cpuUsPerLogin`);
        if (pgCpu !== undefined) assert.ok(pgCpu >= 0, `PostgreSQL CPU per login ${pgCpu}`);
      }
      assert.is(at(`cluster.runs.${label}.enrolBurst.enrolled`), results.form.enrol);
      for (const at_ of ['closedLoop', 'commonRate']) positive(`cluster.ratios.${label}.${at_}.nsCpuPerLogin`, `cluster.ratios.${label}.${at_}.totalCpuPerLogin`);
    }
    assert.is(at('cluster.runs.workers2.loginStorm.commonRate.offeredPerSecond'), at('scenarios.loginStorm.commonRate.offeredPerSecond'), 'one rate for every form');
    assert.is(at('cluster.runs.workers2.loginStorm.perProcessRate.offeredPerSecond'), 2 * at('scenarios.loginStorm.commonRate.offeredPerSecond'), 'and as much per process');
    positive('cluster.ratios.workers2.perProcessRate.nsCpuPerLogin');
    positive(
      'cluster.capacity.perLoginUs.ns',
      'cluster.capacity.perLoginUs.redisMainThread',
      'cluster.capacity.oneMachine.loginsPerSecond',
      'cluster.capacity.fourMachines.loginsPerSecond',
    );
    assert.ok(at('cluster.capacity.fourMachines.loginsPerSecond') >= at('cluster.capacity.oneMachine.loginsPerSecond'));
    const section = renderCluster(results, 'results/x.json');
    for (const text of ['--workers 2', 'PostgreSQL round trips', 'Redis commands', 'logins/s', '1 machine × 16 cores']) assert.ok(section.includes(text), `section has "${text}"`);
    assert.not.match(section, /NaN|undefined/);
  });
}

test('the README table renders every scenario from the JSON', () => {
  const table = renderTable(results, 'results/x.json');
  for (const text of [
    '(a) login storm',
    'completed logins/s',
    'logins/s offered',
    'proof → browser LOGIN',
    'server CPU per login',
    'writes per change',
    '(b) idle waiting browsers',
    'socket.io',
    '(c) push round trip',
    'PROVOKE → push',
    '(d) enrolment burst',
    '(e) soak',
    'growth per minute',
    'x25519Keygen',
    results.machine.cpuModel,
  ]) {
    assert.ok(table.includes(text), `table has "${text}"`);
  }
  assert.not.match(table, /NaN|undefined/);
});

test.run();
