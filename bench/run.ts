/**
 * The nextAuth server benchmark (see bench/README.md).
 *
 *   npm run bench                       quick form, under a minute
 *   npm run bench -- --full             10,000 + 10,000 idle browsers, a 30 s storm, a 10-minute soak
 *   npm run bench -- --tiny             tiny numbers (what `npm test` runs)
 *
 * Options: --out FILE (default bench/results/<date>[-form].json), --readme / --no-readme (the
 * full form rewrites the table in bench/README.md), --profile (the server runs with --cpu-prof;
 * a summary goes in the JSON), --only enrol,idle,storm,push,soak,growth,events (storm, push and
 * events need enrol; events (the storm with a webhook for every event, beside none) and growth run only when named: --users 1000,10000,… --resting 100000,… --growth-ops N
 * --login-seconds S), and overrides --concurrency N --storm-seconds S --idle N --enrol N --soak-seconds S, and
 * --server-node-flags "…" (node flags for the server process, e.g. GC settings).
 *
 * --cluster (alone: --only enrol,storm,cluster): after the embedded NS's storm, the same
 * enrolment and storm against an NS on PostgreSQL and Redis (TEST_POSTGRES_URL, TEST_REDIS_URL,
 * defaults 127.0.0.1) as one process, then as `--workers N` (--workers, default 2): logins/s, CPU
 * per login over all its processes, PostgreSQL round trips and Redis commands per login (counted
 * by proxies, bench/lib/counting-proxy.ts) and their CPU per login, and a capacity projection.
 *
 * Processes: this driver (baselines, measurements, the counting proxies of --cluster), the NS (`dist/server/cli.js start`, measured from
 * /proc, its /metrics and bench/probe.mjs), and load generators (bench/generator.ts): one for
 * enrolments, the storm and the text-socket browsers, one for the socket.io browsers.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cryptoBaseline, type CryptoBaseline } from './crypto-baseline.ts';
import { floorBaseline } from './floor-baseline.ts';
import { GeneratorProcess } from './lib/generator-client.ts';
import { machine, machineBusyUs, type Machine } from './lib/machine.ts';
import { summarizeProfile, type ProfileSummary } from './lib/profile.ts';
import { Rest } from './lib/rest.ts';
import { WebhookSink } from './lib/webhook-sink.ts';
import { backendWindow, ClusterBackend, DEFAULT_POSTGRES_URL, DEFAULT_REDIS_URL, postgresCpuDelta, type BackendSample } from './lib/backend.ts';
import { fdLimit, NsProcess, repoRoot, type ServerSample, type StoreStats } from './lib/server.ts';
import { ratio, round, sleep, soakGrowth, type SoakSample } from './lib/stats.ts';
import { wsBaseline, type WsBaseline } from './ws-baseline.ts';
import { updateReadme } from './lib/report.ts';
import type { EnrolBurstResult } from './scenarios/enrol-burst.ts';
import type { IdleStep } from './scenarios/idle-browsers.ts';
import type { StormResult } from './scenarios/login-storm.ts';
import type { PushResult } from './scenarios/push-round-trip.ts';
import { growth } from './scenarios/growth.ts';

// ───────────────────────────── forms and options ─────────────────────────────

interface Form {
  name: 'tiny' | 'quick' | 'full';
  /** ms per crypto operation */
  cryptoMs: number;
  wsSeconds: number;
  enrol: number;
  enrolConcurrency: number;
  /** phones of the storm (also the ws baseline's sockets) */
  concurrency: number;
  stormSeconds: number;
  /** the one-phone run (latency floor) */
  latencySeconds: number;
  idleText: number;
  idleSocketIo: number;
  /** listening phones of the push run */
  pushConcurrency: number;
  pushSeconds: number;
  /** (e) the storm's length on a server whose logins and idle sessions last `soakLimitSeconds`; sampled every `soakSampleSeconds` */
  soakSeconds: number;
  soakLimitSeconds: number;
  soakSampleSeconds: number;
}

const FORMS: Record<Form['name'], Form> = {
  tiny: {
    name: 'tiny',
    cryptoMs: 30,
    wsSeconds: 0.3,
    enrol: 8,
    enrolConcurrency: 4,
    concurrency: 4,
    stormSeconds: 1.5,
    latencySeconds: 0.5,
    idleText: 40,
    idleSocketIo: 40,
    pushConcurrency: 2,
    pushSeconds: 1,
    soakSeconds: 3,
    soakLimitSeconds: 1,
    soakSampleSeconds: 1,
  },
  quick: {
    name: 'quick',
    cryptoMs: 250,
    wsSeconds: 1.5,
    enrol: 200,
    enrolConcurrency: 16,
    concurrency: 32,
    stormSeconds: 8,
    latencySeconds: 2,
    idleText: 1000,
    idleSocketIo: 1000,
    pushConcurrency: 16,
    pushSeconds: 5,
    soakSeconds: 12,
    soakLimitSeconds: 3,
    soakSampleSeconds: 2,
  },
  full: {
    name: 'full',
    cryptoMs: 1500,
    wsSeconds: 5,
    enrol: 2000,
    enrolConcurrency: 32,
    concurrency: 64,
    stormSeconds: 30,
    latencySeconds: 5,
    idleText: 10_000,
    idleSocketIo: 10_000,
    pushConcurrency: 32,
    pushSeconds: 20,
    soakSeconds: 600,
    soakLimitSeconds: 60,
    soakSampleSeconds: 30,
  },
};

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const form: Form = { ...FORMS[flag('full') ? 'full' : flag('tiny') ? 'tiny' : 'quick'] };
for (const [opt, key] of [
  ['concurrency', 'concurrency'],
  ['storm-seconds', 'stormSeconds'],
  ['enrol', 'enrol'],
  ['soak-seconds', 'soakSeconds'],
] as const) {
  if (option(opt)) form[key] = Number(option(opt));
}
if (option('idle')) form.idleText = form.idleSocketIo = Number(option('idle'));
form.enrol = Math.max(form.enrol, form.concurrency);
const clusterRun = flag('cluster');
const only = new Set((option('only') ?? (clusterRun ? 'enrol,storm' : 'enrol,idle,storm,push,soak')).split(','));
if (clusterRun) only.add('cluster');
// The cluster forms are compared with the embedded NS's storm of the same run.
if (only.has('cluster')) only.add('storm');
if (only.has('storm') || only.has('push') || only.has('events')) only.add('enrol');
/** --workers N: the processes of the last cluster form (`nextauth start --workers N`) */
const clusterWorkers = Number(option('workers') ?? 2);
/** The machines of the capacity projection (--cluster): NS machines of this many cores, and this many of them. */
const PROJECTED_CORES = 16;
const PROJECTED_MACHINES = 4;
/**
 * --cluster: each form also runs the storm paced at one rate R for all (--cluster-rate, default
 * this share of the embedded NS's closed loop), and `--workers N` at N × R too (R per process):
 * CPU per login depends on how busy a process is (the more it has at once, the more each write
 * and each pipeline carries), so forms are compared at the same load, in all and per process, as
 * well as each at its closed loop (on a small machine the workers of the last form cannot all be
 * busy at once).
 */
const CLUSTER_RATE_SHARE = 0.15;
let clusterRate = 0;
const profile = flag('profile');
const date = new Date().toISOString();
const suffix = `${form.name === 'full' ? '' : `-${form.name}`}${only.has('cluster') ? '-cluster' : ''}${profile ? '-profile' : ''}`;
const outFile = path.resolve(option('out') ?? path.join(repoRoot, 'bench/results', `${date.slice(0, 10)}${suffix}.json`));
const writeReadme = flag('readme') || (form.name === 'full' && !flag('no-readme') && !profile);

const log = (line: string) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);
const t0 = performance.now();

// ───────────────────────────── measuring the server ─────────────────────────────

interface Window {
  wallSeconds: number;
  /** server CPU over the window, µs (process.cpuUsage via the probe) */
  serverCpuUs: number;
  /** the same from /proc/<pid>/stat (clock ticks), as a check */
  serverProcCpuUs: number;
  /** /proc utime + stime of all the server's processes (with --workers N: the primary and its workers), µs */
  serverTreeCpuUs: number;
  /** of which stime (in the kernel: system calls, sockets), µs */
  serverTreeSystemUs: number;
  /** the server's processes at the end of the window; whether they were others at the start (a worker replaced: its CPU is partly missing) */
  serverProcesses: number;
  serverProcessesChanged?: true;
  /** with --workers N: the primary's CPU (it hands the connections to the workers) and each worker's, µs */
  serverCpuUsByProcess?: { primary: number; workers: number[] };
  /** average cores busy: server, load generators, and everything else on the machine */
  serverCores: number;
  generatorCores: number;
  /** this driver (with --cluster: the counting proxies) */
  driverCores: number;
  /** PostgreSQL's processes (all of them) and Redis, when on this machine (cluster windows) */
  backendCores?: { postgres: number; redis: number };
  otherCores: number;
  /** per store: changes asked and file writes done in the window (server's /metrics) */
  stores: Record<string, StoreStats>;
  /** renames onto each data file seen by inotify in the window (a check of the stores' whole-file writes) */
  fileWrites: Record<string, number>;
  /** size of each data file at the end of the window, and its growth over it, bytes */
  fileBytes: Record<string, { end: number; growth: number }>;
}

const diffRecord = <T extends Record<string, number>>(a: Record<string, T>, b: Record<string, T>): Record<string, T> =>
  Object.fromEntries(Object.entries(b).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([f, x]) => [f, x - (a[k]?.[f] ?? 0)])) as T]));

async function measured<T>(
  ns: NsProcess,
  generators: GeneratorProcess[],
  fn: () => Promise<T>,
  backend?: ClusterBackend,
): Promise<{ result: T; window: Window; backend?: [BackendSample, BackendSample] }> {
  const b0 = await backend?.sample();
  const s0 = await ns.sample();
  const g0 = generators.map((g) => g.cpuUs());
  const m0 = machineBusyUs();
  const d0 = process.cpuUsage();
  const result = await fn();
  const s1 = await ns.sample();
  const b1 = await backend?.sample();
  const wall = s1.at - s0.at;
  const generatorUs = generators.reduce((sum, g, i) => sum + g.cpuUs() - g0[i]!, 0);
  const d = process.cpuUsage(d0);
  const serverCpuUs = s1.cpuUs - s0.cpuUs;
  const serverProcCpuUs = s1.procCpuUs - s0.procCpuUs;
  const serverTreeCpuUs = s1.treeCpuUs - s0.treeCpuUs;
  // PostgreSQL's processes (all of them, gone ones too) and Redis, where they run on this machine.
  const pg = b0?.postgresCpu && b1?.postgresCpu ? postgresCpuDelta(b0.postgresCpu, b1.postgresCpu) : undefined;
  // (not the exited backends': their whole lives' CPU, reaped in the window)
  const backendUs = b0 && b1 ? { postgres: pg ? pg.oursUs + pg.serverUs + pg.otherDatabasesUs : 0, redis: backend!.local ? b1.redisCpuUs - b0.redisCpuUs : 0 } : undefined;
  const others = machineBusyUs() - m0 - serverTreeCpuUs - generatorUs - d.user - d.system - (backendUs ? backendUs.postgres + backendUs.redis : 0);
  const fileWrites: Record<string, number> = {};
  for (const [k, v] of Object.entries(s1.fileWrites)) fileWrites[k] = v - (s0.fileWrites[k] ?? 0);
  return {
    result,
    ...(b0 && b1 ? { backend: [b0, b1] as [BackendSample, BackendSample] } : {}),
    window: {
      wallSeconds: round(wall / 1000, 3),
      serverCpuUs: Math.round(serverCpuUs),
      serverProcCpuUs: Math.round(serverProcCpuUs),
      serverTreeCpuUs: Math.round(serverTreeCpuUs),
      serverTreeSystemUs: Math.round(s1.treeSystemUs - s0.treeSystemUs),
      serverProcesses: s1.pids.length,
      ...(s1.pids.join() !== s0.pids.join() ? { serverProcessesChanged: true as const } : {}),
      ...(s1.pids.length > 1
        ? {
            serverCpuUsByProcess: {
              primary: Math.round(s1.cpuUsByPid[ns.pid]! - (s0.cpuUsByPid[ns.pid] ?? 0)),
              workers: s1.pids.slice(1).map((pid) => Math.round(s1.cpuUsByPid[pid]! - (s0.cpuUsByPid[pid] ?? 0))),
            },
          }
        : {}),
      // The tree: with --workers N the probe's process.cpuUsage() is the primary's alone.
      serverCores: round((s1.pids.length > 1 ? serverTreeCpuUs : serverCpuUs) / 1000 / wall, 3),
      generatorCores: round(generatorUs / 1000 / wall, 3),
      driverCores: round((d.user + d.system) / 1000 / wall, 3),
      ...(backendUs ? { backendCores: { postgres: round(backendUs.postgres / 1000 / wall, 3), redis: round(backendUs.redis / 1000 / wall, 3) } } : {}),
      otherCores: round(Math.max(0, others) / 1000 / wall, 3),
      stores: diffRecord(s0.stores, s1.stores),
      fileWrites,
      fileBytes: Object.fromEntries(Object.entries(s1.fileBytes).map(([f, end]) => [f, { end, growth: end - (s0.fileBytes[f] ?? 0) }])),
    },
  };
}

/** Changes and writes of all stores in a window, and writes per change. */
function storeFigures(w: Window, per: number) {
  const changes = Object.values(w.stores).reduce((n, s) => n + s.changes, 0);
  const writes = Object.values(w.stores).reduce((n, s) => n + s.writes, 0);
  return {
    byStore: Object.fromEntries(Object.entries(w.stores).map(([k, s]) => [k, { ...s, writesPerChange: ratio(s.writes, s.changes), changesPer: ratio(s.changes, per, 2) }])),
    changes,
    writes,
    /** store changes made per login / enrolment */
    changesPer: ratio(changes, per, 2),
    writesPer: ratio(writes, per, 3),
    writesPerChange: ratio(writes, changes),
  };
}

interface MemoryPer {
  rssBytes: number;
  heapBytes: number;
}
const memoryPer = (a: ServerSample, b: ServerSample, n: number): MemoryPer => ({
  rssBytes: n ? Math.round((b.rss - a.rss) / n) : 0,
  heapBytes: n ? Math.round((b.heapUsed - a.heapUsed) / n) : 0,
});
const memorySnapshot = (s: ServerSample) => ({ rss: s.rss, heapUsed: s.heapUsed, heapTotal: s.heapTotal, external: s.external, fds: s.fds });
/** Bytes each store file grew by per login / enrolment, and the average bytes one write carried. */
const fileFigures = (w: Window, per: number) =>
  Object.fromEntries(
    Object.entries(w.fileBytes).map(([f, b]) => [
      f,
      { endBytes: b.end, growthBytesPer: per ? Math.round(b.growth / per) : 0, ...(w.fileWrites[f] ? { bytesPerWrite: Math.round(b.end - b.growth / 2) } : {}) },
    ]),
  );

// ───────────────────────────── the run ─────────────────────────────

const results: Record<string, any> = {
  date,
  command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
  form,
  machine: machine() satisfies Machine,
};

log(`${form.name} form; ${results.machine.nproc} CPUs (${results.machine.cpuModel}), node ${results.machine.node}, load ${results.machine.loadAverageAtStart}`);

log('crypto baseline (node:crypto, as the NS does a login)');
const crypto: CryptoBaseline = cryptoBaseline(form.cryptoMs);
results.baselines = { crypto };
log(`  pure crypto per login ${crypto.loginCryptoUs} µs (${crypto.loginCryptoPerSecondPerCore}/s per core)`);

log(`ws baseline (echo server in its own process, ${form.concurrency} sockets)`);
const ws: WsBaseline = await wsBaseline({ seconds: form.wsSeconds, concurrency: form.concurrency });
results.baselines.ws = ws;
log(`  ${ws.roundTripN.perSecond} round trips/s, ${ws.connectN.perSecond} connects/s, round trip p50 ${ws.roundTrip1.latencyMs.p50} ms`);

const rootKey = randomBytes(24).toString('hex');
const profileDir = profile ? mkdtempSync(path.join(os.tmpdir(), 'nextauth-bench-prof-')) : undefined;
// Push limits lifted for scenario (c): by default an account takes one push per 10 s, 20 an hour.
// (NsProcess lifts §7's per-client REST and hello limits: a load generator is one client.)
const serverFlags = ['--push-interval-seconds', '0', '--push-hourly', '100000'];
// --server-node-flags "…": node flags for the server process (e.g. GC settings, to compare).
const serverNodeFlags = (option('server-node-flags') ?? '').split(' ').filter(Boolean);
const ns = await NsProcess.start({
  rootKey,
  serverFlags,
  env: { NEXTAUTH_WEBHOOK_PRIVATE_ADDRESSES: 'true' },
  nodeFlags: [...serverNodeFlags, ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])],
});
results.serverCommand = `node ${serverNodeFlags.length ? `${serverNodeFlags.join(' ')} ` : ''}dist/server/cli.js start --port 0 --data <tmp> --log-level warn --demo false --root-api-key <key> ${serverFlags.join(' ')}`;
const generators: GeneratorProcess[] = [];
let failed = false;
try {
  log(`NS at ${ns.url} (pid ${ns.pid}, data ${ns.dataDir})`);
  const rest = new Rest(ns.url, rootKey);
  const { serverid } = await rest.ok<{ serverid: string }>('POST', '/servers/', { body: { serverName: 'bench' } });
  rest.close();
  const init = { url: ns.url, apikey: rootKey, serverid };
  const g1 = await GeneratorProcess.start(init);
  generators.push(g1);
  results.scenarios = {};

  // (d) enrolment burst; its accounts are the storm's phones.
  if (only.has('enrol')) results.scenarios.enrolBurst = await enrolBurst(ns, g1, generators);

  // (b) idle waiting browsers: text socket (generator 1), then socket.io (generator 2) beside them.
  if (only.has('idle')) {
    const serverFdLimit = fdLimit(ns.pid);
    log(`(b) idle browsers: ${form.idleText} text socket, then ${form.idleSocketIo} socket.io (server fd limit ${serverFdLimit})`);
    const idle: Record<string, any> = { serverFdLimit };
    const g2 = await GeneratorProcess.start(init);
    generators.push(g2);
    const steps: Array<[kind: 'text' | 'socketio', g: GeneratorProcess, n: number]> = [
      ['text', g1, form.idleText],
      ['socketio', g2, form.idleSocketIo],
    ];
    for (const [kind, g, asked] of steps) {
      const before = await ns.sample(true);
      const sessions = await g.call<IdleStep>({ cmd: 'idle-sessions', args: { kind, n: asked, concurrency: 32 } });
      const afterSessions = await ns.sample(true);
      // Room for more sockets in the server: its limit, less what is open, less a margin.
      const room = Math.max(0, serverFdLimit - afterSessions.fds - 64);
      const n = Math.min(sessions.done, room);
      const connect = await g.call<IdleStep>({ cmd: 'idle-connect', args: { kind, n, concurrency: 128 } });
      await sleep(200);
      const afterBrowsers = await ns.sample(true);
      const perSession = memoryPer(before, afterSessions, sessions.done);
      const perSocket = memoryPer(afterSessions, afterBrowsers, connect.done);
      idle[kind] = {
        asked,
        browsers: connect.done,
        ...(n < asked ? { limitedBy: `the server's open-file limit, ${serverFdLimit}, with ${afterSessions.fds} already open` } : {}),
        errors: sessions.errors + connect.errors,
        ...(sessions.firstError || connect.firstError ? { firstError: sessions.firstError ?? connect.firstError } : {}),
        sessionsSeconds: round(sessions.seconds, 2),
        connectSeconds: round(connect.seconds, 2),
        connectsPerSecond: round(connect.done / connect.seconds),
        /** the session actor a waiting browser's getSession made */
        perSession,
        /** the browser's socket and its subscription */
        perSocket,
        /** both: what one more waiting browser costs the server */
        perWaitingBrowser: { rssBytes: perSession.rssBytes + perSocket.rssBytes, heapBytes: perSession.heapBytes + perSocket.heapBytes },
        server: { before: memorySnapshot(before), afterSessions: memorySnapshot(afterSessions), afterBrowsers: memorySnapshot(afterBrowsers) },
      };
      log(
        `  ${kind}: ${connect.done} browsers waiting (${round(connect.done / connect.seconds)}/s to connect); per waiting browser ` +
          `${round(idle[kind].perWaitingBrowser.rssBytes / 1024, 1)} KiB RSS, ${round(idle[kind].perWaitingBrowser.heapBytes / 1024, 1)} KiB heap ` +
          `(session ${round(perSession.heapBytes / 1024, 1)} KiB heap, socket ${round(perSocket.heapBytes / 1024, 1)} KiB heap); ${afterBrowsers.fds} server fds`,
      );
    }
    idle.heldAtOnce = idle.text.browsers + idle.socketio.browsers;
    idle.serverRssWithAll = (await ns.sample(true)).rss;
    await Promise.all([g1.call({ cmd: 'idle-close' }), g2.call({ cmd: 'idle-close' })]);
    await g2.stop();
    generators.pop();
    results.scenarios.idleBrowsers = idle;
    await sleep(500);
  }

  // (a) login storm: one phone (latency floor), then `concurrency` phones (throughput), then 70 %
  // of that on a schedule (the latency of a load the server can carry, not of a queue).
  if (only.has('storm')) {
    results.scenarios.loginStorm = await loginStorm(ns, g1, generators, ['onePhone', 'manyPhones', 'pacedPhones']);
    // The floor server: the same storm on the login's protocol and nothing else (its own process).
    log(`floor server (bench/floor-server.ts): 1 phone for ${form.latencySeconds} s, ${form.concurrency} phones for ${form.stormSeconds} s`);
    const floor = await floorBaseline(g1, rootKey, { concurrency: form.concurrency, seconds: form.stormSeconds, latencySeconds: form.latencySeconds });
    results.baselines.floor = floor;
    for (const [label, r] of Object.entries(floor)) {
      log(
        `  ${label}: ${round(r.perSecond)} logins/s, proof→LOGIN p50 ${r.latencyMs.p50} ms, ${r.serverCpuUsPerLogin} µs CPU per login (${r.serverCores} cores), ${r.errors} errors`,
      );
    }
    // --cluster: every form also at one offered rate, a share of what this closed loop carried.
    if (only.has('cluster')) {
      clusterRate = Number(option('cluster-rate') ?? Math.max(1, Math.round(CLUSTER_RATE_SHARE * results.scenarios.loginStorm.manyPhones.perSecond)));
      Object.assign(results.scenarios.loginStorm, await loginStorm(ns, g1, generators, ['commonRate']));
    }
  }

  // (g) events (issue 18): the storm's closed loop with a webhook subscribed to every event,
  // beside the same without one, alternating, twice each; and how long the deliveries took to
  // catch up after each storm with the webhook.
  if (only.has('events')) results.scenarios.webhookStorm = await webhookStorm(ns, g1, generators, serverid, rootKey);

  // (c) push round trip to listening phones: one phone, then `pushConcurrency`.
  if (only.has('push')) {
    const push: Record<string, any> = {};
    for (const [label, concurrency, seconds] of [
      ['onePhone', 1, form.latencySeconds],
      ['manyPhones', form.pushConcurrency, form.pushSeconds],
    ] as const) {
      log(`(c) push round trip: ${concurrency} listening phone(s) for ${seconds} s`);
      await g1.call({ cmd: 'push-prepare', args: { concurrency } });
      const { result, window } = await measured(ns, generators, () => g1.call<PushResult>({ cmd: 'push-run', args: { seconds } }));
      push[label] = {
        ...result,
        seconds: round(result.seconds, 3),
        perSecond: round(result.perSecond, 1),
        generatorCpu: round(result.generatorCpu, 3),
        /** an iteration is a QR login, a logout, PROVOKE, the push and the login from it */
        serverCpuUsPerIteration: Math.round(window.serverCpuUs / Math.max(1, result.roundTrips)),
        store: storeFigures(window, result.roundTrips),
        window,
      };
      log(
        `  ${round(result.perSecond, 1)} round trips/s, PROVOKE→push p50 ${result.pushLatencyMs.p50} / p95 ${result.pushLatencyMs.p95} / p99 ${result.pushLatencyMs.p99} ms, ` +
          `PROVOKE→LOGIN p50 ${result.loginLatencyMs.p50} / p95 ${result.loginLatencyMs.p95} / p99 ${result.loginLatencyMs.p99} ms, ${result.errors} errors`,
      );
    }
    await g1.call({ cmd: 'push-release' });
    results.scenarios.pushRoundTrip = push;
  }

  // (e) soak: the storm for a long while, on a server of its own whose logins (and idle sessions)
  // last `soakLimitSeconds`: once the first ones have expired, what the server holds must stop
  // growing (actors, sockets, saved sessions all released).
  if (only.has('soak')) results.scenarios.soak = await soak();

  // (f) growth: stores of many users and many resting sessions, each on an NS of its own.
  if (only.has('growth')) {
    const list = (name: string, fallback: string) => (option(name) ?? fallback).split(',').filter(Boolean).map(Number);
    results.scenarios.growth = await growth({
      users: list('users', form.name === 'tiny' ? '200,2000' : '1000,10000,100000,1000000'),
      resting: list('resting', form.name === 'tiny' ? '2000' : '100000,1000000'),
      ops: Number(option('growth-ops') ?? (form.name === 'tiny' ? 5 : 20)),
      loginSeconds: Number(option('login-seconds') ?? (form.name === 'tiny' ? 1 : 5)),
      rootKey,
      log,
    });
  }
} catch (e) {
  failed = true;
  results.error = String((e as Error).stack ?? e);
  log(`FAILED: ${results.error}`);
  results.serverDiagnosis = await ns.diagnose();
  log(`server: ${JSON.stringify(results.serverDiagnosis)}`);
  if (ns.stderr) log(`server stderr:\n${ns.stderr}`);
} finally {
  for (const g of generators) await g.stop();
  await ns.stop();
}

if (profileDir) {
  const summary = profileSummary(profileDir, 'server');
  if (summary) results.serverProfile = summary;
}

// --cluster: the same enrolment and storm on an NS on PostgreSQL and Redis, one process, then
// `--workers N`; compared with the embedded NS's storm above.
if (only.has('cluster') && !failed) {
  try {
    results.cluster = await clusterForms();
  } catch (e) {
    failed = true;
    results.error = String((e as Error).stack ?? e);
    log(`FAILED: ${results.error}`);
  }
}

/**
 * --cluster: for each form (one process, then `--workers N`), a database and a key prefix of its
 * own (bench/lib/backend.ts, through counting proxies), an NS on them, a generator of its own,
 * the enrolment burst, and the storm's onePhone and manyPhones runs. Then each form's figures
 * beside the embedded NS's storm of this run, and the capacity projection from the costs of the
 * last form.
 */
async function clusterForms(): Promise<Record<string, any>> {
  const postgresUrl = option('postgres-url') ?? DEFAULT_POSTGRES_URL;
  const redisUrl = option('redis-url') ?? DEFAULT_REDIS_URL;
  const runs: Record<string, any> = {};
  for (const workers of [1, clusterWorkers]) {
    const label = workers === 1 ? 'oneProcess' : `workers${workers}`;
    const backend = await ClusterBackend.open(postgresUrl, redisUrl);
    const profileOf = profile ? mkdtempSync(path.join(os.tmpdir(), `nextauth-bench-prof-${label}-`)) : undefined;
    let server: NsProcess | undefined;
    let g: GeneratorProcess | undefined;
    try {
      server = await NsProcess.start({
        rootKey,
        serverFlags: [...serverFlags, ...(workers > 1 ? ['--workers', String(workers)] : [])],
        nodeFlags: [...serverNodeFlags, ...(profileOf ? ['--cpu-prof', '--cpu-prof-dir', profileOf] : [])],
        env: backend.env,
        ...(workers > 1 ? { readyLine: /\d+ workers running/ } : {}),
      });
      log(`cluster NS (${label}) at ${server.url}, pids ${server.pids().join(', ')}; database ${backend.database.name}, key prefix ${backend.prefix}`);
      const rest = new Rest(server.url, rootKey);
      const { serverid } = await rest.ok<{ serverid: string }>('POST', '/servers/', { body: { serverName: 'bench' } });
      rest.close();
      g = await GeneratorProcess.start({ url: server.url, apikey: rootKey, serverid });
      runs[label] = {
        workers,
        enrolBurst: await enrolBurst(server, g, [g], backend),
        loginStorm: await loginStorm(server, g, [g], ['onePhone', 'manyPhones', 'commonRate', ...(workers > 1 ? (['perProcessRate'] as const) : [])], backend, workers),
      };
    } catch (e) {
      if (server) log(`server stderr:\n${server.stderr}`);
      throw e;
    } finally {
      await g?.stop();
      await server?.stop();
      await backend.close();
    }
    if (profileOf) {
      const summary = profileSummary(profileOf, `${label} server`);
      if (summary) runs[label].serverProfile = summary;
    }
  }

  // Each form's runs side by side: its closed loop (manyPhones) and the common rate.
  const figures = (run: Record<string, any>) => {
    const b = run.backend as ReturnType<typeof backendWindow> | undefined;
    const ns = run.serverTreeCpuUsPerLogin as number;
    const pg = b?.postgres.cpuUsPerLogin ?? 0;
    const redis = b?.redis.cpuUsPerLogin ?? 0;
    return {
      phones: run.concurrency as number,
      ...(run.offeredPerSecond ? { offeredPerSecond: run.offeredPerSecond as number } : {}),
      logins: run.logins as number,
      errors: run.errors as number,
      perSecond: run.perSecond as number,
      latencyMs: { p50: run.latencyMs.p50 as number, p99: run.latencyMs.p99 as number },
      /** /proc utime + stime of the NS's processes per login */
      nsCpuUsPerLogin: ns,
      /** of which in the kernel (stime: system calls, the sockets' work) */
      nsSystemCpuUsPerLogin: Math.round(run.window.serverTreeSystemUs / Math.max(1, run.logins)),
      /** with --workers N: of which the primary's (node's cluster module hands it every connection to pass on) */
      ...(run.window.serverCpuUsByProcess ? { primaryCpuUsPerLogin: Math.round(run.window.serverCpuUsByProcess.primary / Math.max(1, run.logins)) } : {}),
      nsCores: run.window.serverCores as number,
      ...(b
        ? {
            postgres: { roundTripsPerLogin: b.postgres.roundTripsPerLogin, statementsPerLogin: b.postgres.statementsPerLogin, cpuUsPerLogin: b.postgres.cpuUsPerLogin ?? 0 },
            redis: {
              commandsPerLogin: b.redis.commandsPerLogin,
              writesPerLogin: b.redis.writesPerLogin,
              cpuUsPerLogin: b.redis.cpuUsPerLogin,
              mainThreadCpuUsPerLogin: b.redis.mainThreadCpuUsPerLogin,
              otherClients: b.redis.otherClients,
            },
          }
        : {}),
      /** NS + PostgreSQL + Redis */
      totalCpuUsPerLogin: ns + pg + redis,
      window: { otherCores: run.window.otherCores, generatorCores: run.window.generatorCores, driverCores: run.window.driverCores, backendCores: run.window.backendCores },
    };
  };
  const summary = (storm: Record<string, any>) => ({
    processes: storm.manyPhones.window.serverProcesses as number,
    closedLoop: figures(storm.manyPhones),
    commonRate: figures(storm.commonRate),
    ...(storm.perProcessRate ? { perProcessRate: figures(storm.perProcessRate) } : {}),
    onePhone: {
      latencyMs: { p50: storm.onePhone.latencyMs.p50 as number, p99: storm.onePhone.latencyMs.p99 as number },
      nsCpuUsPerLogin: storm.onePhone.serverTreeCpuUsPerLogin as number,
    },
  });
  const embedded = summary(results.scenarios.loginStorm);
  const forms: Record<string, ReturnType<typeof summary>> = { embedded };
  for (const [label, run] of Object.entries(runs)) forms[label] = summary(run.loginStorm);
  const versus = (f: ReturnType<typeof figures>, e: ReturnType<typeof figures>) => ({
    /** NS CPU per login ÷ the embedded NS's (target ≤ 1.3) */
    nsCpuPerLogin: ratio(f.nsCpuUsPerLogin, e.nsCpuUsPerLogin, 2),
    /** NS + PostgreSQL + Redis CPU per login ÷ the embedded NS's */
    totalCpuPerLogin: ratio(f.totalCpuUsPerLogin, e.nsCpuUsPerLogin, 2),
    loginsPerSecond: ratio(f.perSecond, e.perSecond, 2),
  });
  /** each cluster form ÷ the embedded NS: each at its closed loop, both at the common rate, and --workers N at N × that (the same per process) ÷ the embedded NS at the common rate */
  const ratios = Object.fromEntries(
    Object.entries(forms)
      .filter(([label]) => label !== 'embedded')
      .map(([label, f]) => [
        label,
        {
          closedLoop: versus(f.closedLoop, embedded.closedLoop),
          commonRate: versus(f.commonRate, embedded.commonRate),
          // the same rate per process as the embedded NS at the common rate
          ...(f.perProcessRate ? { perProcessRate: versus(f.perProcessRate, embedded.commonRate) } : {}),
        },
      ]),
  );

  // What bigger machines would carry, each bound at 100 % CPU, from the costs per login of the
  // cluster form whose processes were busiest (the most logins/s per serving process at its
  // closed loop: costs per login fall as a process gets busier, and at capacity every worker is
  // busy), the NS's times what N workers cost more than one process at the same rate per process
  // (their perProcessRate run ÷ one process's commonRate run; never taken below 1).
  const serving = (f: ReturnType<typeof summary>) => (f.processes > 1 ? f.processes - 1 : 1);
  const [busiestLabel, busiest] = Object.keys(runs)
    .map((label) => [label, forms[label]!] as const)
    .reduce((a, b) => (b[1].closedLoop.perSecond / serving(b[1]) > a[1].closedLoop.perSecond / serving(a[1]) ? b : a));
  const workersForm = Object.values(forms).find((f) => f.perProcessRate);
  const workersFactor = workersForm && forms.oneProcess ? Math.max(1, ratio(workersForm.perProcessRate!.nsCpuUsPerLogin, forms.oneProcess.commonRate.nsCpuUsPerLogin, 2)) : 1;
  const nsUs = Math.round(busiest.closedLoop.nsCpuUsPerLogin * workersFactor);
  const pgUs = busiest.closedLoop.postgres?.cpuUsPerLogin ?? 0;
  const redisUs = busiest.closedLoop.redis?.mainThreadCpuUsPerLogin ?? 0;
  const bound = (cores: number, us: number) => (us > 0 ? Math.round((cores * 1e6) / us) : Infinity);
  const nsMachine = bound(PROJECTED_CORES, nsUs);
  const bounds = {
    [`ns, 1 machine × ${PROJECTED_CORES} cores`]: nsMachine,
    [`ns, ${PROJECTED_MACHINES} machines × ${PROJECTED_CORES} cores`]: PROJECTED_MACHINES * nsMachine,
    'redis, one thread': bound(1, redisUs),
    [`postgres, ${PROJECTED_CORES} cores`]: bound(PROJECTED_CORES, pgUs),
  };
  const carry = (ns: number) => {
    const limits: Array<[string, number]> = [
      ['NS CPU', ns],
      ['Redis (its one thread)', bounds['redis, one thread']!],
      [`PostgreSQL CPU (${PROJECTED_CORES} cores)`, bounds[`postgres, ${PROJECTED_CORES} cores`]!],
    ];
    const [boundBy, loginsPerSecond] = limits.reduce((a, b) => (b[1] < a[1] ? b : a));
    return { loginsPerSecond, boundBy, nsCoresBusy: round((loginsPerSecond * nsUs) / 1e6, 1) };
  };
  const capacity = {
    cores: PROJECTED_CORES,
    machines: PROJECTED_MACHINES,
    assumptions:
      `NS machines of ${PROJECTED_CORES} cores running ${PROJECTED_CORES} workers and nothing else (load balancer, TLS and clients elsewhere); ` +
      `PostgreSQL alone on a ${PROJECTED_CORES}-core machine, Redis alone on its own; the CPU per login of each as measured here at the closed loop of the busiest cluster form (${busiestLabel}), ` +
      `the NS's × ${workersFactor} (what ${clusterWorkers} workers cost more than one process at the same rate per process), the same per login at any number of workers and any load ` +
      `(an upper bound: busier processes batch more); every bound at 100 % CPU (no headroom); disks, network and locks not bounding`,
    /** the form the costs are from, and the factor applied to its NS cost */
    from: busiestLabel,
    workersFactor,
    perLoginUs: { ns: nsUs, postgres: pgUs, redisMainThread: redisUs },
    bounds,
    oneMachine: carry(nsMachine),
    fourMachines: carry(PROJECTED_MACHINES * nsMachine),
    /** the embedded store (one process, one core) for comparison */
    embeddedOneProcess: bound(1, embedded.closedLoop.nsCpuUsPerLogin),
  };
  log(
    `cluster: NS CPU per login, closed loop / at ${clusterRate} logins/s offered: ${Object.entries(forms)
      .map(
        ([label, f]) =>
          `${label} ${f.closedLoop.nsCpuUsPerLogin} / ${f.commonRate.nsCpuUsPerLogin} µs (with PostgreSQL and Redis ${f.closedLoop.totalCpuUsPerLogin} / ${f.commonRate.totalCpuUsPerLogin} µs; ${f.closedLoop.perSecond} / ${f.commonRate.perSecond} logins/s)`,
      )
      .join('; ')}; ratios ${JSON.stringify(ratios)}`,
  );
  log(
    `  capacity: 1 × ${PROJECTED_CORES} cores ${capacity.oneMachine.loginsPerSecond}/s (${capacity.oneMachine.boundBy}); ` +
      `${PROJECTED_MACHINES} × ${PROJECTED_CORES} cores ${capacity.fourMachines.loginsPerSecond}/s (${capacity.fourMachines.boundBy})`,
  );
  return {
    postgres: new URL(postgresUrl).host,
    redis: new URL(redisUrl).host,
    workers: clusterWorkers,
    /** logins/s offered to every form in its commonRate run */
    commonRate: clusterRate,
    forms,
    ratios,
    capacity,
    runs,
  };
}

/** The summary of the CPU profiles in `dir` (one per process of a server: summed), logged; undefined if there are none. */
function profileSummary(dir: string, what: string): ProfileSummary | undefined {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f));
  if (!files.length) return undefined;
  const summary: ProfileSummary = summarizeProfile(files);
  log(
    `${what} profile (${files.length} process${files.length > 1 ? 'es' : ''}): ${summary.busyMs} ms busy; by area: ${summary.byArea
      .slice(0, 8)
      .map((a) => `${a.area} ${Math.round(a.share * 100)}%`)
      .join(', ')}`,
  );
  log(`  the whole profile${files.length > 1 ? 's' : ''}: ${files.join(', ')} (open in Chrome DevTools → Performance)`);
  return summary;
}

/** (d) `form.enrol` new phones, `form.enrolConcurrency` at a time, on `ns` by `g` (its accounts are the storm's phones). */
async function enrolBurst(ns: NsProcess, g: GeneratorProcess, generators: GeneratorProcess[], backend?: ClusterBackend): Promise<Record<string, any>> {
  log(`(d) enrolment burst: ${form.enrol} phones, ${form.enrolConcurrency} at a time`);
  const { result, window } = await measured(ns, generators, () => g.call<EnrolBurstResult>({ cmd: 'enrol', args: { n: form.enrol, concurrency: form.enrolConcurrency } }), backend);
  const enrol = {
    ...result,
    perSecond: round(result.perSecond),
    serverCpuUsPerEnrolment: Math.round((window.serverProcesses > 1 ? window.serverTreeCpuUs : window.serverCpuUs) / Math.max(1, result.enrolled)),
    store: storeFigures(window, result.enrolled),
    files: fileFigures(window, result.enrolled),
    window,
  };
  log(`  ${round(result.perSecond)} enrolments/s, p50 ${result.latencyMs.p50} ms, ${enrol.serverCpuUsPerEnrolment} µs server CPU each, ${result.errors} errors`);
  return enrol;
}

type StormRunName = 'onePhone' | 'manyPhones' | 'pacedPhones' | 'commonRate' | 'perProcessRate';

/**
 * (a) The login storm's runs on `ns` by `g`: `onePhone` (latency floor), `manyPhones`
 * (`form.concurrency` phones, throughput), `pacedPhones` (70 % of what manyPhones carried, on a
 * schedule). With `backend`, each run also has the PostgreSQL and Redis figures per login.
 */
async function webhookStorm(ns: NsProcess, g: GeneratorProcess, generators: GeneratorProcess[], serverid: string, rootKey: string): Promise<Record<string, any>> {
  const sink = await WebhookSink.start();
  const rest = new Rest(ns.url, rootKey);
  const rounds: Array<Record<string, number>> = [];
  try {
    for (let round_ = 0; round_ < 2; round_++) {
      const none = (await loginStorm(ns, g, generators, ['manyPhones'])).manyPhones;
      const made = await rest.request('POST', `/servers/${serverid}/webhooks`, { body: { url: sink.url, description: 'bench: every event' } });
      if (made.status !== 201) throw new Error(`createWebhook: HTTP ${made.status} ${made.raw.toString('utf8')}`);
      const { id } = made.json<{ id: string }>();
      const before = sink.count;
      const hooked = (await loginStorm(ns, g, generators, ['manyPhones'])).manyPhones;
      const stormEnd = Date.now();
      const duringStorm = sink.count - before;
      // Caught up: nothing new for a second.
      for (let n = -1; n !== sink.count; ) {
        n = sink.count;
        await sleep(1000);
      }
      const gone = await rest.request('DELETE', `/servers/${serverid}/webhooks/${id}`);
      if (gone.status !== 204) throw new Error(`deleteWebhook: HTTP ${gone.status}`);
      const delivered = sink.count - before;
      rounds.push({
        noneLoginsPerSecond: none.perSecond,
        webhookLoginsPerSecond: hooked.perSecond,
        noneServerCpuUsPerLogin: none.serverCpuUsPerLogin,
        webhookServerCpuUsPerLogin: hooked.serverCpuUsPerLogin,
        delivered,
        deliveredPerLogin: round(delivered / Math.max(1, hooked.logins), 2),
        deliveredDuringStorm: duringStorm,
        catchUpMs: Math.max(0, sink.lastAt - stormEnd),
      });
      log(`  events: ${none.perSecond} logins/s without a webhook, ${hooked.perSecond} with one; ${delivered} deliveries (${duringStorm} during the storm)`);
    }
  } finally {
    rest.close();
    await sink.close();
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const none = median(rounds.map((r) => r.noneLoginsPerSecond!));
  const hooked = median(rounds.map((r) => r.webhookLoginsPerSecond!));
  return {
    rounds,
    noneLoginsPerSecond: round(none),
    webhookLoginsPerSecond: round(hooked),
    /** webhook ÷ none (target ≥ 0.9: at most 10 % fewer logins per second) */
    loginsRatio: round(hooked / none, 3),
    cpuPerLoginRatio: round(median(rounds.map((r) => r.webhookServerCpuUsPerLogin!)) / median(rounds.map((r) => r.noneServerCpuUsPerLogin!)), 3),
  };
}

async function loginStorm(
  ns: NsProcess,
  g: GeneratorProcess,
  generators: GeneratorProcess[],
  names: StormRunName[],
  backend?: ClusterBackend,
  workers = 1,
): Promise<Record<string, any>> {
  const storm: Record<string, any> = {};
  const runs: Record<StormRunName, [concurrency: number, seconds: number, rate?: () => number]> = {
    onePhone: [1, form.latencySeconds],
    manyPhones: [form.concurrency, form.stormSeconds],
    pacedPhones: [form.concurrency, form.stormSeconds / 2, () => Math.max(1, Math.round(0.7 * storm.manyPhones.perSecond))],
    // --cluster: the same offered rate for every form (the embedded NS's and the cluster's)
    commonRate: [form.concurrency, form.stormSeconds, () => clusterRate],
    // --cluster, --workers N: N times that, the same rate per process
    perProcessRate: [form.concurrency, form.stormSeconds, () => clusterRate * workers],
  };
  for (const label of names) {
    const [concurrency, seconds, rateOf] = runs[label];
    const rate = rateOf?.();
    log(`(a) login storm: ${concurrency} phone(s) for ${seconds} s${rate ? `, ${rate} logins/s offered` : ''}`);
    await g.call({ cmd: 'storm-prepare', args: { concurrency } });
    const measure = await measured(ns, generators, () => g.call<StormResult>({ cmd: 'storm-run', args: { seconds, ...(rate ? { rate } : {}) } }), backend);
    const { result, window } = measure;
    const logins = Math.max(1, result.logins);
    storm[label] = {
      ...result,
      seconds: round(result.seconds, 3),
      perSecond: round(result.perSecond),
      generatorCpu: round(result.generatorCpu, 3),
      /** the probe's process.cpuUsage() (with --workers N the primary's alone: then the tree's, from /proc) */
      serverCpuUsPerLogin: Math.round((window.serverProcesses > 1 ? window.serverTreeCpuUs : window.serverCpuUs) / logins),
      /** /proc utime + stime of all the server's processes */
      serverTreeCpuUsPerLogin: Math.round(window.serverTreeCpuUs / logins),
      store: storeFigures(window, result.logins),
      files: fileFigures(window, result.logins),
      ...(measure.backend ? { backend: backendWindow(...measure.backend, result.logins) } : {}),
      window,
    };
    const b = storm[label].backend as ReturnType<typeof backendWindow> | undefined;
    log(
      `  ${round(result.perSecond)} logins/s, proof→LOGIN p50 ${result.latencyMs.p50} / p95 ${result.latencyMs.p95} / p99 ${result.latencyMs.p99} ms, ` +
        `${storm[label].serverCpuUsPerLogin} µs server CPU per login (server ${window.serverCores} cores, generator ${window.generatorCores}, others ${window.otherCores}), ` +
        `${result.errors} errors` +
        (b
          ? `; per login: PostgreSQL ${b.postgres.roundTripsPerLogin} round trips, ${b.postgres.cpuUsPerLogin ?? '?'} µs; ` +
            `Redis ${b.redis.commandsPerLogin} commands in ${b.redis.writesPerLogin} writes, ${b.redis.mainThreadCpuUsPerLogin} µs (main thread); ${b.redis.otherClients} other clients of Redis`
          : ''),
    );
  }
  await g.call({ cmd: 'storm-release' });
  return storm;
}

async function soak(): Promise<Record<string, unknown>> {
  const limit = form.soakLimitSeconds;
  const soakFlags = ['--session-seconds', String(limit), '--idle-seconds', String(limit)];
  log(`(e) soak: ${form.concurrency} phones for ${form.soakSeconds} s; logins last ${limit} s (${soakFlags.join(' ')})`);
  const server = await NsProcess.start({ rootKey, serverFlags: soakFlags, nodeFlags: serverNodeFlags });
  let g: GeneratorProcess | undefined;
  try {
    const rest = new Rest(server.url, rootKey);
    const { serverid } = await rest.ok<{ serverid: string }>('POST', '/servers/', { body: { serverName: 'soak' } });
    rest.close();
    g = await GeneratorProcess.start({ url: server.url, apikey: rootKey, serverid });
    await g.call<EnrolBurstResult>({ cmd: 'enrol', args: { n: form.concurrency, concurrency: form.enrolConcurrency } });
    await g.call({ cmd: 'storm-prepare', args: { concurrency: form.concurrency } });
    const live = async () => {
      let n = 0;
      for (const [key, value] of await server.metrics()) if (key.startsWith('nextauth_sessions_live{')) n += value;
      return n;
    };
    const samples: SoakSample[] = [];
    const start = performance.now();
    let logins = 0;
    let errors = 0;
    let firstError: string | undefined;
    const sample = async () => {
      const s = await server.sample(true);
      samples.push({ seconds: round((performance.now() - start) / 1000, 1), logins, errors, rss: s.rss, heapUsed: s.heapUsed, liveSessions: await live(), fds: s.fds });
    };
    await sample();
    while (performance.now() - start < form.soakSeconds * 1000) {
      const r = await g.call<StormResult>({ cmd: 'storm-run', args: { seconds: form.soakSampleSeconds } });
      logins += r.logins;
      errors += r.errors;
      firstError ??= r.firstError;
      await sample();
    }
    await g.call({ cmd: 'storm-release' });
    const last = samples.at(-1)!;
    const result = {
      seconds: last.seconds,
      limitSeconds: limit,
      serverFlags: soakFlags,
      logins,
      perSecond: round(logins / last.seconds),
      errors,
      ...(firstError ? { firstError } : {}),
      ...soakGrowth(samples, limit),
      timeline: samples,
    };
    const first = samples.find((s) => s.seconds >= result.afterWarmUp.fromSeconds)!;
    log(
      `  ${logins} logins (${result.perSecond}/s, ${errors} errors); after ${first.seconds} s: heap ${round(first.heapUsed / 2 ** 20, 1)} → ${round(last.heapUsed / 2 ** 20, 1)} MiB ` +
        `(${round(result.growthPerMinute.heapBytes / 1024, 1)} KiB/min), RSS ${round(first.rss / 2 ** 20, 1)} → ${round(last.rss / 2 ** 20, 1)} MiB, ` +
        `live sessions ${first.liveSessions} → ${last.liveSessions}, fds ${first.fds} → ${last.fds}`,
    );
    return result;
  } finally {
    await g?.stop();
    await server.stop();
  }
}

// ───────────────────────────── figures, ratios, output ─────────────────────────────

const storm = results.scenarios?.loginStorm;
if (storm?.manyPhones && storm?.onePhone) {
  const many = storm.manyPhones;
  results.ratios = {
    /** completed logins/s ÷ the logins/s one core could do if the login's crypto were all it did */
    loginsPerSecondVsCryptoBoundCore: ratio(many.perSecond, crypto.loginCryptoPerSecondPerCore),
    /** server CPU per login ÷ the pure crypto of a login */
    serverCpuPerLoginVsPureCrypto: ratio(many.serverCpuUsPerLogin, crypto.loginCryptoUs, 2),
    /** completed logins/s ÷ bare ws round trips/s (same number of sockets) */
    loginsPerSecondVsWsRoundTrips: ratio(many.perSecond, ws.roundTripN.perSecond, 4),
    /** completed logins/s ÷ bare ws connect+message+close/s (each login opens a browser socket) */
    loginsPerSecondVsWsConnects: ratio(many.perSecond, ws.connectN.perSecond),
    /** server CPU per login ÷ the echo server's CPU per bare ws connect */
    serverCpuPerLoginVsWsConnect: ratio(many.serverCpuUsPerLogin, ws.connectN.serverCpuUs, 2),
    /** one phone: proof→LOGIN p50 ÷ bare ws round trip p50 (one socket) */
    latencyP50VsWsRoundTripOnePhone: ratio(storm.onePhone.latencyMs.p50, ws.roundTrip1.latencyMs.p50, 1),
    /** many phones: proof→LOGIN p50 ÷ bare ws round trip p50 (same number of sockets) */
    latencyP50VsWsRoundTripManyPhones: ratio(many.latencyMs.p50, ws.roundTripN.latencyMs.p50, 1),
    /** completed logins/s ÷ the floor server's (the same storm) */
    loginsPerSecondVsFloor: ratio(many.perSecond, results.baselines.floor.manyPhones.perSecond, 3),
    /** server CPU per login ÷ the floor server's (the same storm) */
    serverCpuPerLoginVsFloor: ratio(many.serverCpuUsPerLogin, results.baselines.floor.manyPhones.serverCpuUsPerLogin, 2),
    /** one phone: proof→LOGIN p50 ÷ the floor server's */
    latencyP50VsFloorOnePhone: ratio(storm.onePhone.latencyMs.p50, results.baselines.floor.onePhone.latencyMs.p50, 2),
  };
}
results.ok = !failed;

mkdirSync(path.dirname(outFile), { recursive: true });
writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
log(`results: ${path.relative(process.cwd(), outFile)}`);
if (writeReadme && !failed) {
  // The main table from a run that has all of it; the cluster section from a --cluster run.
  const table = ['idle', 'storm', 'push'].every((k) => only.has(k));
  updateReadme(results, path.relative(path.join(repoRoot, 'bench'), outFile), { table, cluster: results.cluster !== undefined });
  log('bench/README.md table updated');
}
process.exit(failed ? 1 : 0);
