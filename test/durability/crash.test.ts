/**
 * Crash safety. The real server runs as a child process (the `nextauth start` command line);
 * phones (the SDK over `ws`) and REST clients drive a stream of enrolments, logins, logouts,
 * blocks and attribute changes at it; it is killed with SIGKILL at random moments (some of them
 * while it is still starting), restarted on the same data folder, and checked each time:
 *
 * - the store opens (the server starts), both data files parse, no temp file outlives a start;
 * - every enrolment whose `result` reached the phone exists, as that phone's account;
 * - every login acknowledged to the phone is still logged in, as that account (unless a logout
 *   or a block of its account was acknowledged since: then it is not);
 * - every REST change answered 200 is there (and a later unanswered one may be, nothing older);
 * - no account id is used twice (two phones never hear the same id; nextAccountId stays ahead).
 *
 * `npm test` runs a bounded form (20 kills, 100-600 ms apart). Longer:
 *   CRASH_KILLS=200 node --import tsx test/durability/crash.test.ts
 * Other knobs: CRASH_MIN_MS, CRASH_MAX_MS (the random interval), CRASH_WORKERS (concurrent
 * clients, default 4), CRASH_SEED (seeds the choices of ops and moments; printed at the start —
 * the timing of a real process still varies from run to run).
 *
 * The server's journals fold into their files every 2 KiB here (NEXTAUTH_STORE_FOLD_BYTES), not
 * past 4 MiB, so that kills also hit folds: a kill that leaves a rotated journal
 * (`*.journal.<N>`) came during one. (fold-crash.test.ts aims kills at folds of a big file.)
 */
import { random as seeded } from '../helpers/random.ts';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fromB64url } from '../../src/sdk/app.ts';
import { cliApi, killAll, startCli, type Cli as Child } from '../helpers/child.ts';
import { newNonce, newPhone } from '../helpers/peers.ts';

const KEY = 'crash-test-root-key-0123456789';
const KILLS = Number(process.env.CRASH_KILLS ?? 20);
const MIN_MS = Number(process.env.CRASH_MIN_MS ?? 100);
const MAX_MS = Number(process.env.CRASH_MAX_MS ?? 600);
const WORKERS = Number(process.env.CRASH_WORKERS ?? 4);
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
process.env.NEXTAUTH_STORE_FOLD_BYTES ??= String(2 * 1024); // (the children's environment)
// Four phones on one address, as fast as they can: §7's per-source hello limit is not what this tests.
process.env.NEXTAUTH_HELLO_RATE ??= '100000000/1';
/** Logins checked after each restart beyond the newest ones (all of them after the last kill). */
const LOGIN_SAMPLE = 400;
/** One kill in this many hits the server while it starts (before or around its "listening" line)… */
const STARTUP_KILL_ONE_IN = 5;
/** …and one in this many of the others comes right behind an acknowledgement (the worst moment). */
const ACK_KILL_ONE_IN = 3;

// The op and timing choices are reproducible with CRASH_SEED.
const random = seeded(SEED);
const pick = <T>(items: readonly T[]): T | undefined => (items.length ? items[Math.floor(random() * items.length)] : undefined);
const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));

// ───────────────────────── the server as a child process, REST ─────────────────────────

const startServer = (dataDir: string): Child => startCli(dataDir, { rootApiKey: KEY });
const api = cliApi(KEY, { timeoutMs: 10_000 });

async function qrCode(url: string, route: string, nonce: string): Promise<string> {
  const r = await api(url, 'GET', route, { headers: { 'x-nonce': nonce } });
  if (r.status !== 200) throw new Error(`qr: ${r.status} ${r.raw.toString()}`);
  return r.raw.toString('base64');
}

/** Runs `work` over `items`, `n` at a time. */
async function inBatches<T>(items: readonly T[], n: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}

// ───────────────────────── what the clients were told ─────────────────────────

interface Enrolment {
  serverid: string;
  acc: number;
  description: string;
  userid?: string;
  /** The account's public key, standard base64 (as getSession gives it). */
  pk: string;
  worker: number;
}

interface Login {
  serverid: string;
  nonce: string;
  acc: number;
  pk: string;
  worker: number;
  round: number;
  logoutSent?: boolean;
  logoutAcked?: boolean;
}

/** A value written again and again: the last one answered 200, the last one sent. */
interface Counter {
  acked?: number;
  sent?: number;
}

const model = {
  servers: [] as string[],
  enrolments: [] as Enrolment[],
  logins: [] as Login[],
  /** `${serverid}:${acc}` of accounts whose block was sent / answered 200. */
  blockSent: new Set<string>(),
  blockAcked: new Set<string>(),
  /** Global attribute g<worker>, and user w<worker>'s attribute n on the first server. */
  globalCounters: new Map<number, Counter>(),
  userCounters: new Map<number, Counter>(),
  /** Global attributes made and deleted: present (made, answered), deleting (delete sent), deleted (answered). */
  ephemeral: new Map<string, 'making' | 'present' | 'deleting' | 'deleted'>(),
  acked: { enrolments: 0, logins: 0, logouts: 0, blocks: 0, changes: 0, servers: 0 },
};

const accountKey = (serverid: string, acc: number) => `${serverid}:${acc}`;

// ───────────────────────── the workload ─────────────────────────

type Op = 'enrol' | 'login' | 'logout' | 'block' | 'userAttr' | 'globalAttr' | 'ephemeral' | 'server';
const WEIGHTS: Array<[Op, number]> = [
  ['enrol', 6],
  ['login', 8],
  ['logout', 2],
  ['block', 1],
  ['userAttr', 4],
  ['globalAttr', 4],
  ['ephemeral', 2],
  ['server', 1],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((n, [, w]) => n + w, 0);
function chooseOp(): Op {
  let r = random() * TOTAL_WEIGHT;
  for (const [op, w] of WEIGHTS) if ((r -= w) < 0) return op;
  return 'login';
}

const phones = Array.from({ length: WORKERS }, () => newPhone({ timeoutMs: 5000 }));
let serial = 0;

type AckKind = keyof typeof model.acked;
/** Set for a kill "right behind an acknowledgement": called (once) by the next answer of its kind. */
let ackTrap: { kind: AckKind | 'any'; spring: () => void } | undefined;
function acknowledged(kind: AckKind): void {
  const trap = ackTrap;
  if (!trap || (trap.kind !== 'any' && trap.kind !== kind)) return;
  ackTrap = undefined;
  trap.spring();
}

async function runOp(worker: number, url: string, round: number): Promise<void> {
  const before = { ...model.acked };
  await act(worker, url, round);
  for (const kind of Object.keys(before) as AckKind[]) if (model.acked[kind] !== before[kind]) acknowledged(kind);
}

/** One op of the workload, recorded in the model once it is acknowledged. */
async function act(worker: number, url: string, round: number): Promise<void> {
  const phone = phones[worker]!;
  const op = chooseOp();
  const n = ++serial;
  switch (op) {
    case 'server': {
      const r = await api(url, 'POST', '/servers/', { body: { serverName: `crash ${worker}-${n}` } });
      assert.is(r.status, 200, `createServer: ${r.raw}`);
      model.servers.push(r.body.serverid);
      model.acked.servers++;
      return;
    }
    case 'enrol': {
      const serverid = pick(model.servers)!;
      const description = `w${worker}-e${n}`;
      const userid = random() < 0.5 ? `w${worker}` : undefined;
      const route = `/servers/${serverid}/sessions/qr/enrol?name=phone${userid ? `&userid=${userid}` : ''}`;
      const { acc, account } = await phone.enrol(await qrCode(url, route, newNonce()), { description });
      const pk = Buffer.from(fromB64url(account.secretKey).slice(32)).toString('base64');
      model.enrolments.push({ serverid, acc, description, ...(userid ? { userid } : {}), pk, worker });
      model.acked.enrolments++;
      return;
    }
    case 'login': {
      const mine = model.enrolments.filter((e) => e.worker === worker && !model.blockSent.has(accountKey(e.serverid, e.acc)));
      const enrolment = pick(mine);
      if (!enrolment) return;
      const nonce = newNonce();
      const result = await phone.login(await qrCode(url, `/servers/${enrolment.serverid}/sessions/qr/login`, nonce), { acc: enrolment.acc });
      result.connection.close();
      assert.is(result.acc, enrolment.acc);
      model.logins.push({ serverid: enrolment.serverid, nonce, acc: enrolment.acc, pk: enrolment.pk, worker, round });
      model.acked.logins++;
      return;
    }
    case 'logout': {
      const login = pick(model.logins.filter((l) => l.worker === worker && !l.logoutSent));
      if (!login) return;
      login.logoutSent = true;
      const r = await api(url, 'POST', `/servers/${login.serverid}/sessions/logout`, { headers: { 'x-nonce': login.nonce } });
      assert.is(r.status, 200, `logout: ${r.raw}`);
      login.logoutAcked = true;
      model.acked.logouts++;
      return;
    }
    case 'block': {
      // Only accounts that have a login (so the block has a session to end).
      const login = pick(model.logins.filter((l) => l.worker === worker && !model.blockSent.has(accountKey(l.serverid, l.acc))));
      if (!login) return;
      const key = accountKey(login.serverid, login.acc);
      model.blockSent.add(key);
      const r = await api(url, 'PUT', `/servers/${login.serverid}/accounts/${login.acc}/?blocked=true`);
      assert.is(r.status, 200, `block: ${r.raw}`);
      model.blockAcked.add(key);
      model.acked.blocks++;
      return;
    }
    case 'userAttr': {
      const c = model.userCounters.get(worker) ?? {};
      model.userCounters.set(worker, c);
      const value = (c.sent = (c.sent ?? 0) + 1);
      const r = await api(url, 'POST', `/servers/${model.servers[0]}/users/w${worker}/attributes/`, { body: { n: value } });
      assert.is(r.status, 200, `setUserAttributes: ${r.raw}`);
      c.acked = Math.max(c.acked ?? 0, value);
      model.acked.changes++;
      return;
    }
    case 'globalAttr': {
      const c = model.globalCounters.get(worker) ?? {};
      model.globalCounters.set(worker, c);
      const value = (c.sent = (c.sent ?? 0) + 1);
      const r = await api(url, 'PUT', '/attributes/', { body: { [`g${worker}`]: value } });
      assert.is(r.status, 200, `updateGlobalAttributes: ${r.raw}`);
      c.acked = Math.max(c.acked ?? 0, value);
      model.acked.changes++;
      return;
    }
    case 'ephemeral': {
      // Delete one made earlier, or make a new one.
      const made = [...model.ephemeral].filter(([, s]) => s === 'present').map(([k]) => k);
      const key = made.length && random() < 0.5 ? pick(made)! : undefined;
      if (key) {
        model.ephemeral.set(key, 'deleting');
        const r = await api(url, 'DELETE', `/attributes/${key}`);
        assert.is(r.status, 200, `deleteGlobalAttribute: ${r.raw}`);
        model.ephemeral.set(key, 'deleted');
        model.acked.changes++;
      } else {
        const k = `e${worker}x${n}`;
        model.ephemeral.set(k, 'making');
        const r = await api(url, 'PUT', '/attributes/', { body: { [k]: n } });
        assert.is(r.status, 200, `updateGlobalAttributes: ${r.raw}`);
        model.ephemeral.set(k, 'present');
        model.acked.changes++;
      }
      return;
    }
  }
}

/** Runs ops until `stop()` says so; an op the kill interrupts just fails (it was never acknowledged). */
async function worker(index: number, url: string, round: number, stopped: () => boolean, errors: string[]): Promise<void> {
  while (!stopped()) {
    try {
      await runOp(index, url, round);
    } catch (e) {
      if (!stopped()) {
        // The server is alive: a failure now is a real one.
        errors.push(`worker ${index}: ${(e as Error).stack ?? e}`);
        return;
      }
    }
  }
}

// ───────────────────────── the checks ─────────────────────────

const stats = { kills: 0, startupKills: 0, ackKills: {} as Record<string, number>, tornBak: 0, tempFilesLeft: 0, runLockTemps: 0, loginChecks: 0, duringFold: 0 };

/** Right after a kill, before the restart: what is on disk. */
function checkFilesAfterKill(dir: string): void {
  for (const name of ['nextauth.json', 'sessions.json']) {
    const file = path.join(dir, name);
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8');
      try {
        JSON.parse(text);
      } catch {
        assert.unreachable(`${name} does not parse after a SIGKILL (${text.length} bytes): the write was not atomic`);
      }
    }
    if (existsSync(`${file}.bak`)) {
      try {
        JSON.parse(readFileSync(`${file}.bak`, 'utf8'));
      } catch {
        stats.tornBak++;
      }
    }
  }
  stats.tempFilesLeft += readdirSync(dir).filter((f) => f.endsWith('.tmp')).length;
  if (readdirSync(dir).some((f) => /\.journal\.\d+$/.test(f))) stats.duringFold++;
  const file = path.join(dir, 'nextauth.json');
  if (!existsSync(file)) return;
  // No account id is used twice: each server's next id is past every id it gave.
  const data = JSON.parse(readFileSync(file, 'utf8'));
  for (const [serverid, server] of Object.entries<any>(data.servers ?? {})) {
    const ids = Object.keys(data.accounts?.[serverid] ?? {}).map(Number);
    for (const id of ids) assert.ok(id < server.nextAccountId, `server ${serverid}: account ${id} but nextAccountId ${server.nextAccountId}`);
  }
}

async function checkAfterRestart(url: string, dir: string, child: Child, full: boolean): Promise<void> {
  // No temp file of a data file written by an earlier process outlives a start.
  const files = readdirSync(dir);
  const stale = files.filter((f) => /^(nextauth|sessions)\.json\..*\.tmp$/.test(f) && !f.includes(`.${child.pid}.`));
  assert.equal(stale, [], 'temp files of killed processes are removed on start');
  // (The run lock's own temp file, left by a kill between its write and its rename, is only counted.)
  stats.runLockTemps = files.filter((f) => /^nextauth\.run\..*\.tmp$/.test(f)).length;

  for (const serverid of model.servers) {
    assert.is((await api(url, 'GET', `/servers/${serverid}/`)).status, 200, `server ${serverid} (answered 200) exists`);
  }

  // Enrolments: each exists as that phone's account; no id was given twice.
  const seen = new Map<string, Enrolment>();
  for (const e of model.enrolments) {
    const key = accountKey(e.serverid, e.acc);
    const twice = seen.get(key);
    assert.not.ok(twice, `account id ${e.acc} of server ${e.serverid} was given to two enrolments: ${twice?.description} and ${e.description}`);
    seen.set(key, e);
  }
  const accounts = new Map<string, any>();
  for (const serverid of model.servers) {
    const r = await api(url, 'GET', `/servers/${serverid}/accounts/`);
    assert.is(r.status, 200);
    for (const a of r.body.accounts) accounts.set(accountKey(serverid, a.id), a);
  }
  for (const e of model.enrolments) {
    const a = accounts.get(accountKey(e.serverid, e.acc));
    assert.ok(a, `enrolment ${e.description} (account ${e.acc}), acknowledged to the phone, exists`);
    assert.is(a.description, e.description, `account ${e.acc} is still the one the phone enrolled`);
    assert.is(a.userid, e.userid, `account ${e.acc}'s userid`);
    const key = accountKey(e.serverid, e.acc);
    if (model.blockAcked.has(key)) assert.is(a.blocked, true, `account ${e.acc}: its block was answered 200`);
    else if (!model.blockSent.has(key)) assert.is(a.blocked, false, `account ${e.acc} was never blocked`);
  }

  // Logins: the newest ones all, older ones sampled (all of them when `full`).
  const lastRound = model.logins.at(-1)?.round ?? 0;
  const newest = model.logins.filter((l) => l.round >= lastRound - 1);
  const older = model.logins.filter((l) => !newest.includes(l));
  const sample =
    full || older.length <= LOGIN_SAMPLE
      ? older
      : older
          .map((l) => [random(), l] as const)
          .sort((a, b) => a[0] - b[0])
          .slice(0, LOGIN_SAMPLE)
          .map(([, l]) => l);
  await inBatches([...newest, ...sample], 16, async (l) => {
    const r = await api(url, 'GET', `/servers/${l.serverid}/sessions/`, { headers: { 'x-nonce': l.nonce } });
    assert.is(r.status, 200);
    stats.loginChecks++;
    const blocked = model.blockAcked.has(accountKey(l.serverid, l.acc));
    const what = `login of account ${l.acc} (round ${l.round})`;
    if (l.logoutAcked) assert.is(r.body.loggedin, false, `${what}: its logout was answered 200, yet it is logged in`);
    else if (blocked) assert.is(r.body.loggedin, false, `${what}: its account's block was answered 200, yet it is logged in`);
    else if (!l.logoutSent && !model.blockSent.has(accountKey(l.serverid, l.acc))) {
      assert.is(r.body.loggedin, true, `${what}, acknowledged to the phone, is logged in (state ${r.body.state})`);
      assert.is(r.body.accountid, l.acc);
      assert.is(r.body.pk, l.pk, `${what}: as the phone's key`);
    }
  });

  // REST changes answered 200.
  const global = (await api(url, 'GET', '/attributes/')).body;
  for (const [w, c] of model.globalCounters) {
    const v = global[`g${w}`];
    if (c.acked !== undefined) assert.ok(typeof v === 'number' && v >= c.acked, `global g${w} = ${v}, but ${c.acked} was answered 200`);
    if (v !== undefined) assert.ok(v <= (c.sent ?? 0), `global g${w} = ${v}, never sent`);
  }
  for (const [key, state] of model.ephemeral) {
    if (state === 'present') assert.ok(key in global, `global ${key}, answered 200, is there`);
    if (state === 'deleted') assert.not.ok(key in global, `global ${key}, whose delete was answered 200, is gone`);
  }
  for (const [w, c] of model.userCounters) {
    const r = await api(url, 'GET', `/servers/${model.servers[0]}/users/w${w}/attributes/`);
    if (c.acked !== undefined) {
      assert.is(r.status, 200, `user w${w} (attributes answered 200) exists`);
      assert.ok(r.body.n >= c.acked && r.body.n <= c.sent!, `user w${w}: n = ${r.body.n}, answered ${c.acked}, sent up to ${c.sent}`);
    }
  }
}

// ───────────────────────── the test ─────────────────────────

const dirs: string[] = [];
test.after(() => {
  killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test(`crash safety: ${KILLS} SIGKILLs at random moments (${MIN_MS}-${MAX_MS} ms), a restart and a check after each`, async () => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'nextauth-crash-'));
  dirs.push(base);
  const dir = path.join(base, 'data');
  console.log(`  crash test: seed ${SEED} (CRASH_SEED=${SEED} to replay the choices), ${KILLS} kills, ${WORKERS} clients`);
  const started = Date.now();

  let failed = true;
  try {
    // The first server: made before any kill.
    let child = startServer(dir);
    let url = await child.listening;
    const first = await api(url, 'POST', '/servers/', { body: { serverName: 'crash' } });
    assert.is(first.status, 200);
    model.servers.push(first.body.serverid);

    for (let round = 1; round <= KILLS; round++) {
      const atStartup = round > 1 && random() < 1 / STARTUP_KILL_ONE_IN;
      if (atStartup) {
        // Kill it while it starts: anywhere from loading to just after listening.
        await new Promise((r) => setTimeout(r, between(0, 1500)));
        stats.startupKills++;
      } else {
        const t0 = Date.now();
        url = await child.listening;
        const t1 = Date.now();
        if (round > 1) await checkAfterRestart(url, dir, child, false);
        if (process.env.CRASH_DEBUG) console.log(`round ${round}: start ${t1 - child.spawnedAt} ms (waited ${t1 - t0}), check ${Date.now() - t1} ms`);
        let stopped = false;
        const errors: string[] = [];
        const kill = () => {
          stopped = true;
          child.process.kill('SIGKILL');
        };
        const workers = Array.from({ length: WORKERS }, (_, i) => worker(i, url, round, () => stopped, errors));
        await new Promise((r) => setTimeout(r, between(MIN_MS, MAX_MS)));
        if (random() < 1 / ACK_KILL_ONE_IN) {
          // The next answer of some kind that a client gets is the last: the kill follows it at once.
          const kind = pick(['any', 'enrolments', 'logins', 'logouts', 'blocks', 'changes'] as const)!;
          const sprung = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => ((ackTrap = undefined), kill(), resolve(false)), 1500);
            ackTrap = { kind, spring: () => (clearTimeout(timer), kill(), resolve(true)) };
          });
          if (sprung) stats.ackKills[kind] = (stats.ackKills[kind] ?? 0) + 1;
        } else kill();
        await Promise.all(workers);
        assert.equal(errors, [], 'no operation failed while the server was up');
      }
      child.process.kill('SIGKILL');
      const { signal } = await child.exit;
      if (!atStartup) assert.is(signal, 'SIGKILL', `round ${round}: the server was alive until the kill (stderr: ${child.stderr()})`);
      stats.kills++;
      checkFilesAfterKill(dir);
      child = startServer(dir);
    }

    // After the last kill: everything, then a graceful stop.
    url = await child.listening;
    await checkAfterRestart(url, dir, child, true);
    await fetch(`${url}/healthz`);
    child.process.kill('SIGTERM');
    assert.is((await child.exit).code, 0);
    failed = false;
  } finally {
    const s = (Date.now() - started) / 1000;
    const a = model.acked;
    console.log(
      `  ${failed ? 'FAILED after' : 'survived'} ${stats.kills} kills (${stats.startupKills} while starting; right behind an answer: ${JSON.stringify(stats.ackKills)}) in ${s.toFixed(1)} s: acknowledged and found after restarts ` +
        `${a.enrolments} enrolments, ${a.logins} logins, ${a.logouts} logouts, ${a.blocks} blocks, ${a.changes} attribute changes, ` +
        `${a.servers} servers; ${stats.loginChecks} login checks; kills during a fold (a rotated journal left) ${stats.duringFold}; temp files left by kills ${stats.tempFilesLeft} (all removed at the next start), run-lock temp files lying about ${stats.runLockTemps}, torn .bak seen ${stats.tornBak}`,
    );
  }
  const a = model.acked;
  assert.ok(a.enrolments > 0 && a.logins > 0 && a.changes > 0, 'the workload did something');
});

test.run();
