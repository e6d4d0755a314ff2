/**
 * Scenario (f), growth: what a store of N users costs, for each N of `--users` (default
 * 1,000, 10,000, 100,000, 1,000,000), and what resting logged-in sessions cost (`--resting`,
 * default 100,000 and 1,000,000).
 *
 * For each size the store is seeded in the embedded store's own format (bench/lib/seed.ts: one
 * server made by a real NS, then N users with an account each written straight into its
 * `nextauth.json`, not a million REST calls), then an NS starts on it and this driver measures:
 * - start: spawn → listening, and RSS / heap after two full GCs;
 * - each operation `ops` times in a row, its latency (p50) and the server CPU it took (µs each):
 *   `createUser` (setUserAttributes of a new userid), `registerUser` (a logged-in session's
 *   account linked to a new userid), an enrolment (getQrEnrol + a phone's enrol), `createApiKey`,
 *   a login (getSession + a phone's login on one open connection) and `getUsers limit=10`;
 * - login latency p50 / p99 for `loginSeconds`, alone, then with a stream of admin writes
 *   (`createUser`, back to back) beside it.
 * Resting sessions: the 1,000-user store plus S saved logged-in sessions (sessions.json, as the
 * NS writes it); the heap after start less the heap of the same store without them, per session,
 * and the start time (every one is restored into the Sessions port, no actor made).
 *
 * The phone runs in this process with node:crypto (bench/lib/fast-crypto.ts), so the phone's
 * side costs the server nothing and the driver little.
 */
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { MemoryKeyStore, Phone, type AppConnection, type StoredAccount } from '../../src/sdk/app.ts';
import { nodeSigner } from '../lib/fast-crypto.ts';
import { newNonce, Rest } from '../lib/rest.ts';
import { seedStore } from '../lib/seed.ts';
import { NsProcess } from '../lib/server.ts';
import { latency, round, type Latency } from '../lib/stats.ts';

export interface GrowthOptions {
  users: number[];
  resting: number[];
  /** times each operation runs */
  ops: number;
  loginSeconds: number;
  rootKey: string;
  log: (line: string) => void;
}

export interface OpFigures {
  n: number;
  latencyMs: Latency;
  serverCpuUs: number;
}

export interface GrowthPoint {
  users: number;
  storeBytes: number;
  seedSeconds: number;
  startSeconds: number;
  rssBytes: number;
  heapBytes: number;
  ops: Record<'createUser' | 'registerUser' | 'enrolment' | 'createApiKey' | 'login' | 'getUsers', OpFigures>;
  /** login latency alone, and with admin writes running beside it */
  loginAlone: { logins: number; latencyMs: Latency };
  loginWithWrites: { logins: number; writes: number; latencyMs: Latency };
  /** p99 with writes / p99 alone */
  p99Ratio: number;
}

export interface RestingPoint {
  sessions: number;
  startSeconds: number;
  heapBytes: number;
  heapBytesPerSession: number;
  rssBytesPerSession: number;
}

/** Runs `fn` `n` times in a row; its latencies and the server CPU they took (µs each). */
async function timed(ns: NsProcess, n: number, fn: (i: number) => Promise<void>): Promise<OpFigures> {
  const times: number[] = [];
  const s0 = await ns.sample();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    times.push(performance.now() - t0);
  }
  const s1 = await ns.sample();
  return { n, latencyMs: latency(times), serverCpuUs: Math.round((s1.cpuUs - s0.cpuUs) / n) };
}

const ok = async (p: Promise<{ status: number; raw: Buffer }>, what: string): Promise<Buffer> => {
  const r = await p;
  if (r.status !== 200) throw new Error(`${what}: HTTP ${r.status} ${r.raw.toString('utf8').slice(0, 200)}`);
  return r.raw;
};

/** One phone (node:crypto) with one open connection to the NS. */
class BenchPhone {
  private constructor(
    readonly phone: Phone,
    readonly keystore: MemoryKeyStore,
    public connection: AppConnection,
  ) {}

  static async enrolled(rest: Rest, ns: NsProcess, serverid: string): Promise<BenchPhone> {
    const keystore = new MemoryKeyStore();
    const phone = new Phone({ keystore, WebSocket, timeoutMs: 60_000, signer: (a: StoredAccount) => nodeSigner(a) });
    const qr = await ok(rest.request('GET', `/servers/${serverid}/sessions/qr/enrol?name=growth`, { headers: { 'x-nonce': newNonce() } }), 'getQrEnrol');
    await phone.enrol(new Uint8Array(qr));
    return new BenchPhone(phone, keystore, await phone.connect(ns.appUrl));
  }

  /** A fresh session logged in; its nonce. */
  async login(rest: Rest, serverid: string): Promise<string> {
    const nonce = newNonce();
    const status = await rest.ok<{ loginqrdata: string }>('GET', `/servers/${serverid}/sessions/`, { headers: { 'x-nonce': nonce } });
    await this.phone.login(status.loginqrdata, { connection: this.connection });
    return nonce;
  }
}

/** Logins back to back for `seconds`, while `beside` (if any) runs; latencies and how many `beside` did. */
async function loginRun(phone: BenchPhone, rest: Rest, serverid: string, seconds: number, beside?: () => Promise<void>) {
  const times: number[] = [];
  const end = performance.now() + seconds * 1000;
  let writes = 0;
  let stop = false;
  const side = beside
    ? (async () => {
        while (!stop) {
          await beside();
          writes++;
        }
      })()
    : Promise.resolve();
  while (performance.now() < end) {
    const t0 = performance.now();
    await phone.login(rest, serverid);
    times.push(performance.now() - t0);
  }
  stop = true;
  await side;
  return { logins: times.length, writes, latencyMs: latency(times) };
}

export async function growthAt(users: number, opts: GrowthOptions): Promise<GrowthPoint> {
  const { log, rootKey } = opts;
  const t0 = performance.now();
  const seeded = await seedStore({ users, rootKey });
  const seedSeconds = (performance.now() - t0) / 1000;
  log(`  ${users} users seeded in ${round(seedSeconds, 1)} s (${round(seeded.storeBytes / 2 ** 20, 1)} MiB)`);
  const t1 = performance.now();
  const ns = await NsProcess.start({ rootKey, dataDir: seeded.dir });
  const startSeconds = (performance.now() - t1) / 1000;
  try {
    const memory = await ns.sample(true);
    const rest = new Rest(ns.url, rootKey);
    const { serverid } = seeded;
    const phone = await BenchPhone.enrolled(rest, ns, serverid);
    await phone.login(rest, serverid); // warm
    const tag = randomBytes(4).toString('hex');
    const n = opts.ops;

    const createUser = await timed(ns, n, (i) =>
      ok(rest.request('POST', `/servers/${serverid}/users/new-${tag}-${i}/attributes/`, { body: { name: `New ${i}`, plan: 'bench' } }), 'createUser').then(() => {}),
    );
    const nonces: string[] = [];
    for (let i = 0; i < n; i++) nonces.push(await phone.login(rest, serverid));
    const registerUser = await timed(ns, n, (i) =>
      ok(rest.request('POST', `/servers/${serverid}/sessions/registeruser?userid=reg-${tag}-${i}`, { headers: { 'x-nonce': nonces[i]! } }), 'registerUser').then(() => {}),
    );
    const enrolment = await timed(ns, n, async () => {
      const p = new Phone({ keystore: new MemoryKeyStore(), WebSocket, timeoutMs: 60_000, signer: (a: StoredAccount) => nodeSigner(a) });
      const qr = await ok(rest.request('GET', `/servers/${serverid}/sessions/qr/enrol?name=growth`, { headers: { 'x-nonce': newNonce() } }), 'getQrEnrol');
      await p.enrol(new Uint8Array(qr));
    });
    const createApiKey = await timed(ns, n, (i) => ok(rest.request('POST', `/apikeys/?description=growth-${tag}-${i}`), 'createApiKey').then(() => {}));
    const login = await timed(ns, n, async () => void (await phone.login(rest, serverid)));
    const getUsers = await timed(ns, n, (i) => ok(rest.request('GET', `/servers/${serverid}/users/?limit=10&marker=${i * 10}`), 'getUsers').then(() => {}));

    const loginAlone = await loginRun(phone, rest, serverid, opts.loginSeconds);
    let w = 0;
    const loginWithWrites = await loginRun(phone, rest, serverid, opts.loginSeconds, () =>
      ok(rest.request('POST', `/servers/${serverid}/users/side-${tag}-${w++}/attributes/`, { body: { name: 'Side' } }), 'createUser').then(() => {}),
    );
    phone.connection.close();
    rest.close();
    const point: GrowthPoint = {
      users,
      storeBytes: seeded.storeBytes,
      seedSeconds: round(seedSeconds, 2),
      startSeconds: round(startSeconds, 2),
      rssBytes: memory.rss,
      heapBytes: memory.heapUsed,
      ops: { createUser, registerUser, enrolment, createApiKey, login, getUsers },
      loginAlone: { logins: loginAlone.logins, latencyMs: loginAlone.latencyMs },
      loginWithWrites,
      p99Ratio: round(loginWithWrites.latencyMs.p99 / Math.max(0.001, loginAlone.latencyMs.p99), 2),
    };
    const op = (k: keyof GrowthPoint['ops']) => `${k} ${point.ops[k].latencyMs.p50} ms / ${point.ops[k].serverCpuUs} µs`;
    log(`  start ${point.startSeconds} s, RSS ${round(memory.rss / 2 ** 20)} MiB, heap ${round(memory.heapUsed / 2 ** 20)} MiB`);
    log(`  p50 / server CPU each: ${(Object.keys(point.ops) as Array<keyof GrowthPoint['ops']>).map(op).join('; ')}`);
    log(
      `  login p50/p99 alone ${loginAlone.latencyMs.p50}/${loginAlone.latencyMs.p99} ms; with ${loginWithWrites.writes} admin writes beside ` +
        `${loginWithWrites.latencyMs.p50}/${loginWithWrites.latencyMs.p99} ms (p99 ×${point.p99Ratio})`,
    );
    return point;
  } finally {
    await ns.stop();
    seeded.remove();
  }
}

/** Heap per resting logged-in session: the 1,000-user store with and without `sessions` saved logins. */
export async function restingAt(sessions: number, opts: GrowthOptions, baseline: { heapBytes: number; rssBytes: number }): Promise<RestingPoint> {
  const seeded = await seedStore({ users: 1000, rootKey: opts.rootKey, sessions });
  const t0 = performance.now();
  const ns = await NsProcess.start({ rootKey: opts.rootKey, dataDir: seeded.dir });
  const startSeconds = (performance.now() - t0) / 1000;
  try {
    const memory = await ns.sample(true);
    const point: RestingPoint = {
      sessions,
      startSeconds: round(startSeconds, 2),
      heapBytes: memory.heapUsed,
      heapBytesPerSession: Math.round((memory.heapUsed - baseline.heapBytes) / sessions),
      rssBytesPerSession: Math.round((memory.rss - baseline.rssBytes) / sessions),
    };
    opts.log(`  ${sessions} resting sessions: start ${point.startSeconds} s, ${point.heapBytesPerSession} B heap and ${point.rssBytesPerSession} B RSS each`);
    return point;
  } finally {
    await ns.stop();
    seeded.remove();
  }
}

export async function growth(opts: GrowthOptions): Promise<{ sizes: GrowthPoint[]; resting: RestingPoint[] }> {
  const sizes: GrowthPoint[] = [];
  for (const users of opts.users) {
    opts.log(`(f) growth: ${users} users`);
    sizes.push(await growthAt(users, opts));
  }
  const resting: RestingPoint[] = [];
  if (opts.resting.length > 0) {
    // The baseline: the same 1,000-user store, no saved session, measured the same way.
    const base = await seedStore({ users: 1000, rootKey: opts.rootKey });
    const ns = await NsProcess.start({ rootKey: opts.rootKey, dataDir: base.dir });
    const memory = await ns.sample(true);
    await ns.stop();
    base.remove();
    for (const n of opts.resting) {
      opts.log(`(f) growth: ${n} resting logged-in sessions`);
      resting.push(await restingAt(n, opts, { heapBytes: memory.heapUsed, rssBytes: memory.rss }));
    }
  }
  return { sizes, resting };
}
