/**
 * What the session machinery and the store cost the server for one login, in this process, with
 * no socket and no cryptography: the hub (src/core/hub.ts) on the memory Sessions and Bus, the
 * lowdb store in a temp folder (its journal written and fsynced as the server writes it), the
 * registry over it with the loose events (as main.ts builds them, without the metrics' timing),
 * the inspector, the default limits. Each login is what the storm of bench/run.ts makes the
 * server do between its sockets: `getSession` (`open`), a browser's `REGISTER` (`subscribe`,
 * `listening`, `status`), the phone's `hello` and `proof`, the proof's check (the account's
 * login recorded: `recordLogin`; the signature check is left out, it is the crypto baseline's),
 * the browser's `LOGIN`, its close.
 *
 * `concurrency` logins run at once (32, as the storm's phones), for `seconds`; the CPU of the
 * whole process (every thread: the journal's writes run in libuv's pool) per login, the best of
 * five rounds (this machine is shared: the best round is the least disturbed).
 *
 *   npx tsx bench/hub-login.ts [--concurrency 32] [--seconds 3] [--rounds 5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { SessionLimits } from '../machines/session.ts';
import { LowdbStore } from '../src/adapters/lowdb/lowdb-store.ts';
import { MemoryBus } from '../src/adapters/memory/bus.ts';
import { MemorySessions } from '../src/adapters/memory/sessions.ts';
import { Registry } from '../src/core/admin/registry.ts';
import { LooseEvents } from '../src/core/events/loose-events.ts';
import { SessionHub, type AppPeer, type SessionKey, type Shown } from '../src/core/hub.ts';
import { Inspector } from '../src/inspect/inspector.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import type { VerifyOutput } from '../machines/session.ts';

const option = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const concurrency = option('concurrency', 32);
const seconds = option('seconds', 3);
const rounds = option('rounds', 5);

const config = loadConfig(new Map(), {});
const limits: SessionLimits = config.limits;
const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-hub-login-'));
const log = createLogger({ ...config, logLevel: 'warn' });

const store = await LowdbStore.open(path.join(dir, 'data'));
const registry = new Registry(LooseEvents.over(store, log).store, config.limits);
const server = await registry.servers.create({ serverName: 'bench' });
const serverid = server.serverid;
const accounts: number[] = [];
for (let i = 0; i < concurrency; i++) {
  const account = await registry.store.transact((tx) =>
    registry.accounts.createInChange(
      tx,
      serverid,
      { pk: randomBytes(32).toString('base64url'), description: `phone ${i}`, clientVersion: 'bench', secondFactor: 'none' } as never,
      Date.now(),
    ),
  );
  accounts.push(account.id);
}
const inspector = new Inspector();
const hub = new SessionHub({
  limits,
  sessions: new MemorySessions(),
  bus: new MemoryBus(),
  saved: registry.store,
  log,
  verifyProof: async (input) => {
    const account = (input.proof as { account: number }).account;
    await registry.accounts.recordLogin(input.serverid, account, 'none', Date.now());
    return { account, pingTime: 0 };
  },
  account: (sid, id) => registry.accounts.get(sid, id),
  inspect: (applied) => inspector.applied(applied),
});

/** One phone: its connection, kept open from login to login (as the storm's). */
class Phone implements AppPeer {
  readonly source = '127.0.0.1';
  #accepted: (() => void) | undefined;
  #confirmed: (() => void) | undefined;
  constructor(readonly id: string) {}
  accepted(_session: SessionKey, _shown: Shown): void {
    this.#accepted?.();
  }
  refused(code: string): void {
    throw new Error(`refused: ${code}`);
  }
  confirmed(_session: SessionKey, _output: VerifyOutput): void {
    this.#confirmed?.();
  }
  ping(): void {}
  async login(hsid: string, account: number): Promise<void> {
    const accepted = new Promise<void>((resolve) => (this.#accepted = resolve));
    await hub.hello(this, serverid, hsid, 'login');
    await accepted;
    const confirmed = new Promise<void>((resolve) => (this.#confirmed = resolve));
    await hub.proof(this, { serverid, hsid }, { account });
    await confirmed;
  }
}

async function login(phone: Phone, account: number): Promise<void> {
  const hsid = randomBytes(32).toString('base64url');
  await hub.open(serverid, hsid);
  let loggedIn!: () => void;
  const heard = new Promise<void>((resolve) => (loggedIn = resolve));
  const unsubscribe = hub.subscribe(serverid, hsid, (u) => {
    if (u.event === 'login') loggedIn();
  });
  await hub.listening(serverid, hsid);
  await hub.status(serverid, hsid);
  await phone.login(hsid, account);
  await heard;
  unsubscribe();
}

const phones = accounts.map((_, i) => new Phone(`phone-${i}`));
for (const p of phones) hub.attach(p);

async function round(ms: number): Promise<{ logins: number; cpuUs: number; wallMs: number }> {
  let logins = 0;
  const end = performance.now() + ms;
  const cpu = process.cpuUsage();
  const t = performance.now();
  await Promise.all(
    phones.map(async (p, i) => {
      while (performance.now() < end) {
        await login(p, accounts[i]!);
        logins++;
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return { logins, cpuUs: used.user + used.system, wallMs: performance.now() - t };
}

await round(1000); // warm-up
let best = Number.POSITIVE_INFINITY;
const all: number[] = [];
for (let r = 0; r < rounds; r++) {
  const { logins, cpuUs } = await round(seconds * 1000);
  const per = cpuUs / logins;
  all.push(per);
  best = Math.min(best, per);
}
await hub.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
console.log(`hub + store per login: best ${best.toFixed(0)} µs CPU (rounds ${all.map((x) => x.toFixed(0)).join(', ')}; ${concurrency} at once, node ${process.version})`);
