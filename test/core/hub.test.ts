/**
 * The session hub (src/core/hub.ts) in one process: sessions as snapshots in the Sessions port
 * (one per (serverid, hsid), applied with the machine's pure transition), status and its
 * `expires`, browser subscriptions through the Bus, app peers, revoke through the account index,
 * deadlines instead of timers (a session at rest costs none), the tombstone of an expired
 * session, write-through and restore, and the inspector hook. XState's SimulatedClock stands
 * for time; fake peers and a stub verifier stand for the app channel. Several hubs on one store
 * and one broker: hub-cluster.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import type { SessionLimits, VerifyInput } from '../../machines/session.ts';
import { LowdbStore } from '../../src/adapters/lowdb/lowdb-store.ts';
import { MemoryBus } from '../../src/adapters/memory/bus.ts';
import { MemorySessions } from '../../src/adapters/memory/sessions.ts';
import { SessionHub, type AppliedEvent, type AppPeer, type SessionUpdate, type Shown } from '../../src/core/hub.ts';
import type { Store } from '../../src/ports.ts';
import { RecordingPeer } from '../helpers/recording-peer.ts';

const S1 = 'c2VydmVyLW9uZS0xNi1ieXRlcw';
const S2 = 'c2VydmVyLXR3by0xNi1ieXRlcw';
const hsid = (n: number) => `hsid-${String(n).padStart(38, '0')}`;
const H1 = hsid(1);
const H2 = hsid(2);
const keyOf = (serverid: string, h: string) => `${serverid}:${h}`;

const limits: SessionLimits = { challenge: 60_000, idle: 15 * 60_000, session: 12 * 3600_000, handshakes: 4, handshakesPerSource: 2 };
/** How long the hub remembers an expired session (src/core/hub.ts, FORGET): the idle limit. */
const MEMORY = limits.idle;
/** XState's ids of the machine's `after` timers (the deadline names). */
const IDLE_WAITING = 'xstate.after.idle.session.waiting';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-hub-'));
  dirs.push(dir);
  return path.join(dir, 'data');
}
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The timers pending on a SimulatedClock (its private map: observable at run time). */
const pendingTimers = (clock: SimulatedClock) => (clock as unknown as { timeouts: Map<number, unknown> }).timeouts.size;

/** What a fresh session shows the phone (no context given). */
const plain: Shown = { userContext: null };

interface HubSetup {
  clock?: SimulatedClock;
  sessions?: MemorySessions;
  bus?: MemoryBus;
  saved?: Store;
  /** The account as the registry has it (default: `accounts` below, never blocked). */
  account?: (serverid: string, account: number) => Promise<{ blocked: boolean } | undefined>;
  onMute?: (serverid: string, accounts: number[]) => void;
}

/**
 * A hub on a simulated clock with memory adapters. The stub verifier reads the proof:
 * `{account, pingTime?}` logs it in, `{code}` fails with that code; while `hold` is on, each
 * verification waits for `release()`. `accounts` is what exists. Every applied event is in
 * `applied` (the inspector hook).
 */
function makeHub(setup: HubSetup = {}) {
  const clock = setup.clock ?? new SimulatedClock();
  const sessions = setup.sessions ?? new MemorySessions();
  const bus = setup.bus ?? new MemoryBus();
  const verified: VerifyInput[] = [];
  const accounts = new Set<string>();
  const applied: AppliedEvent[] = [];
  const waiting: Array<() => void> = [];
  const gate = { hold: false };
  const hub = new SessionHub({
    limits,
    clock,
    sessions,
    bus,
    ...(setup.saved ? { saved: setup.saved } : {}),
    ...(setup.onMute ? { onMute: setup.onMute } : {}),
    inspect: (a) => applied.push(a),
    verifyProof: async (input) => {
      verified.push(input);
      if (gate.hold) await new Promise<void>((resolve) => waiting.push(resolve));
      const { proof } = input;
      if (typeof proof.code === 'string') throw Object.assign(new Error(proof.code), { code: proof.code });
      return { account: proof.account as number, ...(typeof proof.pingTime === 'number' ? { pingTime: proof.pingTime } : {}) };
    },
    account: setup.account ?? (async (serverid, account) => (accounts.has(`${serverid}/${account}`) ? { blocked: false } : undefined)),
  });
  const peer = (id: string, source?: string) => {
    const p = new RecordingPeer(id, source);
    hub.attach(p);
    return p;
  };
  /** Hold every verification until `release()`. */
  const hold = () => {
    gate.hold = true;
  };
  const release = () => {
    gate.hold = false;
    for (const resolve of waiting.splice(0)) resolve();
  };
  /** Logs `account` in on (serverid, hsid) through a new peer. */
  const login = async (serverid: string, h: string, account: number, extra: Record<string, unknown> = {}) => {
    const p = peer(`phone-${serverid.slice(0, 4)}-${h.slice(-3)}-${account}`);
    await hub.open(serverid, h);
    accounts.add(`${serverid}/${account}`);
    await hub.hello(p, serverid, h, 'login');
    await hub.proof(p, { serverid, hsid: h }, { account, ...extra });
    await hub.settled();
    assert.is((await hub.status(serverid, h)).state, 'authenticated');
    return p;
  };
  /** Moves the clock and lets the hub fire its deadlines and deliver its notices. */
  const advance = async (ms: number) => {
    clock.increment(ms);
    await hub.settled();
  };
  return { clock, sessions, bus, hub, verified, accounts, applied, peer, hold, release, login, advance };
}

// ---- sessions -----------------------------------------------------------------------------------

test('open() makes one session per (serverid, hsid); opening it again returns it as it is', async () => {
  const { hub, sessions, advance } = makeHub();
  assert.is(hub.size, 0);
  assert.is(await hub.snapshot(S1, H1), undefined);
  const first = await hub.open(S1, H1);
  assert.is(first.state, 'waiting');
  assert.is(hub.size, 1);
  await advance(1_000);
  const again = await hub.open(S1, H1);
  assert.equal(again, first, 'the same session: opening it does not restart its idle limit');
  assert.is(hub.size, 1);
  await hub.open(S1, H2);
  await hub.open(S2, H1);
  assert.is(hub.size, 3);
  assert.equal(hub.countByState(), { waiting: 3 });
  assert.equal([...sessions.store.entries.keys()].sort(), [keyOf(S1, H1), keyOf(S1, H2), keyOf(S2, H1)].sort());

  const snapshot = await hub.snapshot(S2, H1);
  assert.equal(snapshot!.value, 'waiting');
  assert.is(snapshot!.context.serverid, S2);
  assert.is(snapshot!.context.hsid, H1);
  assert.equal(snapshot!.context.limits, limits);
  assert.is(snapshot!.context.account, null);
});

test('status() of an unknown session is waiting (and makes no session)', async () => {
  const { hub, sessions } = makeHub();
  assert.equal(await hub.status(S1, H1), { state: 'waiting', account: null, lastAccount: null, canprovoke: false, userinput: null, userContext: null });
  assert.is(hub.size, 0);
  assert.is(await hub.snapshot(S1, H1), undefined);
  assert.is(await hub.wasExpired(S1, H1), false);
  assert.is(sessions.store.entries.size, 0);
});

test("status().expires: waiting + idle, challenged + the last handshake's challenge, verifying too, authenticated + session, loggedOut + idle", async () => {
  const { hub, clock, peer, accounts, hold, release } = makeHub();
  clock.increment(1_000);
  await hub.open(S1, H1);
  let st = await hub.status(S1, H1);
  assert.is(st.state, 'waiting');
  assert.is(st.expires, 1_000 + limits.idle);

  clock.increment(2_000);
  const a = peer('A');
  await hub.hello(a, S1, H1, 'login');
  st = await hub.status(S1, H1);
  assert.is(st.state, 'challenged');
  assert.is(st.expires, 3_000 + limits.challenge);

  // A second handshake: the session is challenged until the later one's limit.
  clock.increment(250);
  await hub.hello(peer('B'), S1, H1, 'login');
  assert.is((await hub.status(S1, H1)).expires, 3_250 + limits.challenge);

  clock.increment(250);
  accounts.add(`${S1}/7`);
  hold();
  await hub.proof(a, { serverid: S1, hsid: H1 }, { account: 7 });
  st = await hub.status(S1, H1);
  assert.is(st.state, 'verifying');
  assert.is(st.expires, 3_500 + limits.challenge, "the proof's check has a challenge limit of its own");
  release();
  await hub.settled();
  st = await hub.status(S1, H1);
  assert.is(st.state, 'authenticated');
  assert.is(st.expires, 3_500 + limits.session);

  clock.increment(4_000);
  assert.is(await hub.logout(S1, H1), true);
  st = await hub.status(S1, H1);
  assert.is(st.state, 'loggedOut');
  assert.is(st.expires, 7_500 + limits.idle);

  // Back to waiting: the challenge timed out.
  await hub.hello(a, S1, H1, 'login');
  assert.is((await hub.status(S1, H1)).state, 'challenged');
  clock.increment(limits.challenge);
  await hub.settled();
  const t = clock.now();
  st = await hub.status(S1, H1);
  assert.is(st.state, 'waiting');
  assert.is(st.expires, t + limits.idle);
});

test('a session shown again keeps living past its first idle limit: the replaced deadline is not applied', async () => {
  const { hub, clock, sessions, advance } = makeHub();
  await hub.show(S1, H1);
  assert.is((await hub.status(S1, H1)).expires, limits.idle);
  await advance(limits.idle - 1_000);
  const shownAgain = clock.now();
  const st = await hub.show(S1, H1, { sessioninfo: { ip: '192.0.2.1' } });
  assert.is(st.expires, shownAgain + limits.idle);
  assert.equal(st.userContext, { sessioninfo: { ip: '192.0.2.1' } });
  assert.is(sessions.store.deadlines.size, 1, 'the deadline was moved, not added');

  await advance(1_000); // the first idle limit
  assert.equal((await hub.snapshot(S1, H1))!.value, 'waiting');
  assert.not.ok(await hub.wasExpired(S1, H1));
  await advance(limits.idle - 1_001);
  assert.ok(await hub.snapshot(S1, H1), 'alive until its new limit');
  // A show without a context keeps the one given.
  await hub.show(S1, H1);
  assert.equal((await hub.status(S1, H1)).userContext, { sessioninfo: { ip: '192.0.2.1' } });
  await advance(limits.idle);
  assert.ok(await hub.wasExpired(S1, H1));
});

test('open() and status() restart nothing; setContext() and provoke() restart the idle limit while waiting', async () => {
  const { hub, advance } = makeHub();
  await hub.open(S1, H1);
  await advance(1_000);
  await hub.open(S1, H1);
  await hub.status(S1, H1);
  assert.is((await hub.status(S1, H1)).expires, limits.idle);
  await hub.setContext(S1, H1, { announceinfo: { info: 'x' } });
  assert.is((await hub.status(S1, H1)).expires, 1_000 + limits.idle);
  await advance(1_000);
  await hub.provoke(S1, H1, [3]);
  assert.is((await hub.status(S1, H1)).expires, 2_000 + limits.idle);
  assert.equal((await hub.snapshot(S1, H1))!.context.push, { accounts: [3] });
});

// ---- the tombstone ------------------------------------------------------------------------------

test('an expired session leaves a tombstone (SESSION_EXPIRED) that is forgotten after the idle limit (UNKNOWN_SESSION)', async () => {
  const { hub, sessions, peer, advance } = makeHub();
  const a = peer('A');
  await hub.open(S1, H1);
  await advance(limits.idle);
  assert.is(hub.size, 0);
  assert.is(await hub.snapshot(S1, H1), undefined);
  assert.ok(await hub.wasExpired(S1, H1));
  assert.is((await hub.status(S1, H1)).state, 'waiting');
  await hub.hello(a, S1, H1, 'login');
  assert.equal(a.calls, [['refused', 'SESSION_EXPIRED']]);
  assert.ok(sessions.store.entries.has(keyOf(S1, H1)), 'the tombstone is a stored value');

  await advance(MEMORY - 1);
  assert.ok(await hub.wasExpired(S1, H1), 'remembered for the idle limit');
  await advance(1);
  assert.not.ok(await hub.wasExpired(S1, H1));
  assert.not.ok(sessions.store.entries.has(keyOf(S1, H1)), 'forgotten: nothing stored');
  assert.is(sessions.store.deadlines.size, 0, 'and no deadline left');
  a.clear();
  await hub.hello(a, S1, H1, 'login');
  assert.equal(a.calls, [['refused', 'UNKNOWN_SESSION']]);
});

test('a session made again over its tombstone lives its own life (the old forget deadline does not remove it)', async () => {
  const { hub, sessions, peer, advance } = makeHub();
  await hub.open(S1, H1);
  await advance(limits.idle); // expired at idle: forgotten at idle + MEMORY
  await advance(MEMORY - limits.idle);
  await hub.open(S1, H1); // made again at MEMORY, over the tombstone
  assert.not.ok(await hub.wasExpired(S1, H1));
  await advance(limits.idle - 60_000);
  await hub.show(S1, H1); // kept alive past idle + MEMORY
  assert.is(sessions.store.deadlines.size, 2, 'the old forget deadline is still due');
  await advance(60_000);
  assert.is(sessions.store.deadlines.size, 1, 'it came…');
  assert.ok(await hub.snapshot(S1, H1), '…and left the new life alone');
  const a = peer('A');
  await hub.hello(a, S1, H1, 'login');
  assert.equal(a.calls, [['accepted', { serverid: S1, hsid: H1 }, { userContext: {} }]], 'shown: an empty context');
});

// ---- browsers -----------------------------------------------------------------------------------

test('subscribe() hears notify events through the bus, also from the next life of the same key', async () => {
  const { hub, peer, accounts, advance } = makeHub();
  const heard: SessionUpdate[] = [];
  const other: SessionUpdate[] = [];
  const stop = hub.subscribe(S1, H1, (u) => heard.push(u));
  hub.subscribe(S1, H2, (u) => other.push(u));
  assert.is(hub.watchers, 2);

  await hub.open(S1, H1);
  await hub.open(S1, H2);
  const a = peer('A');
  await hub.hello(a, S1, H1, 'login');
  assert.equal(heard, [], 'a notice arrives later, through the bus');
  await hub.settled();
  assert.equal(heard, [{ serverid: S1, hsid: H1, event: 'confirmscan', state: 'challenged', account: null }]);
  accounts.add(`${S1}/7`);
  await hub.proof(a, { serverid: S1, hsid: H1 }, { account: 7 });
  await hub.settled();
  await hub.logout(S1, H1);
  await hub.settled();
  assert.equal(heard, [
    { serverid: S1, hsid: H1, event: 'confirmscan', state: 'challenged', account: null },
    { serverid: S1, hsid: H1, event: 'login', state: 'authenticated', account: 7 },
    { serverid: S1, hsid: H1, event: 'logout', state: 'loggedOut', account: null },
  ]);
  assert.equal(other, [], 'another session hears nothing');

  // The session expires; the browser keeps watching the key, and hears its next life.
  await advance(limits.idle);
  assert.is(await hub.snapshot(S1, H1), undefined);
  await hub.open(S1, H1);
  const fresh = (await hub.snapshot(S1, H1))!.context;
  assert.is(fresh.lastAccount, null, 'a new life: nothing of the old one');
  heard.length = 0;
  await hub.hello(a, S1, H1, 'login');
  await hub.decline(a, { serverid: S1, hsid: H1 });
  await hub.settled();
  assert.equal(heard, [
    { serverid: S1, hsid: H1, event: 'confirmscan', state: 'challenged', account: null },
    { serverid: S1, hsid: H1, event: 'cancel', state: 'waiting', account: null },
  ]);

  // Unsubscribed: no more.
  stop();
  assert.is(hub.watchers, 1);
  heard.length = 0;
  await hub.hello(a, S1, H1, 'login');
  await hub.settled();
  assert.equal(heard, []);
});

test('a listener that throws does not stop the others', async () => {
  const { hub, peer } = makeHub();
  const heard: string[] = [];
  hub.subscribe(S1, H1, () => {
    throw new Error('a broken browser');
  });
  hub.subscribe(S1, H1, (u) => heard.push(u.event));
  await hub.open(S1, H1);
  await hub.hello(peer('A'), S1, H1, 'login');
  await hub.settled();
  assert.equal(heard, ['confirmscan']);
});

test('announce() tells the browsers how a transaction ended', async () => {
  const { hub, login } = makeHub();
  const heard: SessionUpdate[] = [];
  await login(S1, H1, 7);
  hub.subscribe(S1, H1, (u) => heard.push(u));
  await hub.announce(S1, H1, { tid: 't1', outcome: 'approved' });
  await hub.settled();
  assert.equal(heard, [{ serverid: S1, hsid: H1, event: 'transaction', state: 'authenticated', account: 7, transaction: { tid: 't1', outcome: 'approved' } }]);
});

test('provoke() with a number: browsers hear confirmprovoke with it, the phone is shown it, pushNumber() has it', async () => {
  const { hub, peer, verified, accounts } = makeHub();
  const heard: SessionUpdate[] = [];
  hub.subscribe(S1, H1, (u) => heard.push(u));
  await hub.show(S1, H1, { sessioninfo: { ip: '192.0.2.9' } });
  assert.is(await hub.pushNumber(S1, H1), undefined);
  await hub.provoke(S1, H1, [7, 8], '42');
  assert.is(await hub.pushNumber(S1, H1), '42');
  const a = peer('A');
  await hub.hello(a, S1, H1, 'login');
  assert.equal(a.calls, [['accepted', { serverid: S1, hsid: H1 }, { userContext: { sessioninfo: { ip: '192.0.2.9' } }, number: '42' }]]);
  await hub.settled();
  assert.equal(heard, [{ serverid: S1, hsid: H1, event: 'confirmprovoke', state: 'challenged', account: null, number: '42' }]);
  accounts.add(`${S1}/7`);
  await hub.proof(a, { serverid: S1, hsid: H1 }, { account: 7 });
  await hub.settled();
  assert.equal(
    verified,
    [{ serverid: S1, hsid: H1, op: 'login', proof: { account: 7 }, number: '42', source: 'source-A' }],
    'the proof must carry the number (and names its source)',
  );
  assert.is(await hub.pushNumber(S1, H1), undefined, 'the push ended with the handshake');
});

test('decline() with a report mutes the pushed accounts the reporter has proven; without one, or from a stranger, it does not', async () => {
  const muted: Array<[string, number[]]> = [];
  const { hub, peer } = makeHub({ onMute: (serverid, accounts) => muted.push([serverid, accounts]) });
  const heard: string[] = [];
  hub.subscribe(S1, H1, (u) => heard.push(u.event));
  const a = peer('A');
  await hub.provoke(S1, H1, [3, 4]);
  await hub.hello(a, S1, H1, 'login');
  await hub.decline(a, { serverid: S1, hsid: H1 });
  assert.equal(muted, []);
  await hub.provoke(S1, H1, [3, 4]);
  await hub.hello(a, S1, H1, 'login');
  await hub.decline(a, { serverid: S1, hsid: H1 }, true, []);
  assert.equal(muted, [], 'a connection that proved none of them mutes nothing');
  await hub.provoke(S1, H1, [3, 4]);
  await hub.hello(a, S1, H1, 'login');
  await hub.decline(a, { serverid: S1, hsid: H1 }, true, [3, 4, 5]);
  assert.equal(muted, [[S1, [3, 4]]]);
  await hub.settled();
  assert.equal(heard, ['confirmprovoke', 'cancel', 'confirmprovoke', 'cancel', 'confirmprovoke', 'cancel']);
  assert.is((await hub.snapshot(S1, H1))!.context.push, null);
});

// ---- app peers ----------------------------------------------------------------------------------

test('hello() for an unknown session refuses UNKNOWN_SESSION, for an expired one SESSION_EXPIRED', async () => {
  const { hub, peer, advance } = makeHub();
  const a = peer('A');
  await hub.hello(a, S1, H1, 'login');
  assert.equal(a.calls, [['refused', 'UNKNOWN_SESSION']]);
  assert.is(hub.size, 0, 'a hello makes no session');
  assert.is(await hub.snapshot(S1, H1), undefined);

  await hub.open(S1, H1);
  await advance(limits.idle);
  assert.is(hub.size, 0);
  assert.ok(await hub.wasExpired(S1, H1));
  a.clear();
  await hub.hello(a, S1, H1, 'login');
  assert.equal(a.calls, [['refused', 'SESSION_EXPIRED']]);
  // The same hsid on another server was never there.
  a.clear();
  await hub.hello(a, S2, H1, 'login');
  assert.equal(a.calls, [['refused', 'UNKNOWN_SESSION']]);

  // Made again (a new getSession): the session takes hellos again.
  await hub.open(S1, H1);
  assert.not.ok(await hub.wasExpired(S1, H1));
  a.clear();
  await hub.hello(a, S1, H1, 'login');
  assert.equal(a.calls, [['accepted', { serverid: S1, hsid: H1 }, plain]]);
});

test('a full flow with a fake app peer: accepted, confirmed, logged in; a failed proof is refused with its code', async () => {
  const { hub, peer, verified, accounts } = makeHub();
  const key = { serverid: S1, hsid: H1 };
  const a = peer('A');
  const b = peer('B');
  await hub.open(S1, H1);

  // A first attempt that fails.
  await hub.hello(a, S1, H1, 'login');
  await hub.proof(a, key, { code: 'UNKNOWN_ACCOUNT' });
  await hub.settled();
  assert.equal(a.calls, [
    ['accepted', key, plain],
    ['refused', 'UNKNOWN_ACCOUNT'],
  ]);
  assert.is((await hub.status(S1, H1)).state, 'waiting');

  // Then one that logs in; another phone meanwhile has a handshake of its own, and its later
  // proof hears that the first one won.
  a.clear();
  await hub.hello(a, S1, H1, 'enrol');
  await hub.hello(b, S1, H1, 'login');
  assert.equal(b.calls, [['accepted', key, plain]]);
  accounts.add(`${S1}/7`);
  await hub.proof(a, key, { account: 7 });
  await hub.settled();
  b.clear();
  await hub.proof(b, key, { account: 7 });
  assert.equal(b.calls, [['refused', 'SESSION_BUSY']]);
  assert.equal(a.calls, [
    ['accepted', key, plain],
    ['confirmed', key, { account: 7 }],
  ]);
  assert.equal(verified.at(-1), { serverid: S1, hsid: H1, op: 'enrol', proof: { account: 7 }, source: 'source-A' });
  const st = await hub.status(S1, H1);
  assert.is(st.state, 'authenticated');
  assert.is(st.account, 7);
  assert.is(st.lastAccount, 7);
  assert.is(st.canprovoke, true);
  b.clear();
  await hub.hello(b, S1, H1, 'login');
  assert.equal(b.calls, [['refused', 'SESSION_BUSY']], 'a logged-in session is busy too');

  // Logged out: canprovoke while the account exists.
  assert.is(await hub.logout(S1, H1), true);
  let now = await hub.status(S1, H1);
  assert.is(now.state, 'loggedOut');
  assert.is(now.account, null);
  assert.is(now.canprovoke, true);
  // Deleted: the registry tells the hub (main.ts wires accounts' `revoked` to hub.revoke).
  accounts.delete(`${S1}/7`);
  await hub.revoke(S1, 7, true);
  now = await hub.status(S1, H1);
  assert.is(now.lastAccount, null);
  assert.is(now.canprovoke, false);

  // setContext reaches the status.
  await hub.setContext(S1, H1, { sessioninfo: { ip: '192.0.2.1', useragent: 'ua' } });
  assert.equal((await hub.status(S1, H1)).userContext, { sessioninfo: { ip: '192.0.2.1', useragent: 'ua' } });
  // A logged-out session takes a new login, and the phone is shown that context.
  a.clear();
  await hub.hello(a, S1, H1, 'login');
  assert.equal(a.calls, [['accepted', key, { userContext: { sessioninfo: { ip: '192.0.2.1', useragent: 'ua' } } }]]);
});

test('logout() of an unknown or waiting session changes nothing', async () => {
  const { hub, applied } = makeHub();
  assert.is(await hub.logout(S1, H1), true);
  assert.is(await hub.snapshot(S1, H1), undefined);
  await hub.open(S1, H1);
  const before = applied.length;
  assert.is(await hub.logout(S1, H1), true);
  assert.is((await hub.status(S1, H1)).state, 'waiting');
  assert.is(applied.length, before, 'nothing applied');
});

test('hub.size returns to zero after every session expires', async () => {
  const { hub, sessions, peer, login, advance } = makeHub();
  // waiting
  await hub.open(S1, hsid(10));
  await hub.open(S2, hsid(10));
  // challenged
  await hub.open(S1, hsid(11));
  await hub.hello(peer('C'), S1, hsid(11), 'login');
  // authenticated, and loggedOut
  await login(S1, hsid(12), 1);
  await login(S1, hsid(13), 2);
  await hub.logout(S1, hsid(13));
  // challenged by two handshakes
  await hub.open(S1, hsid(14));
  await hub.hello(peer('L'), S1, hsid(14), 'login');
  await hub.hello(peer('M'), S1, hsid(14), 'login');
  // a watched one (watchers do not keep a session alive)
  hub.subscribe(S1, hsid(10), () => {});
  assert.is(hub.size, 6);
  assert.equal(hub.countByState(), { waiting: 2, challenged: 2, authenticated: 1, loggedOut: 1 });

  await advance(limits.idle);
  // waiting and loggedOut are gone; the challenged ones went back to waiting later than the
  // others, so they expire one idle limit after that.
  assert.equal(hub.countByState(), { waiting: 2, authenticated: 1 });
  await advance(limits.idle);
  assert.equal(hub.countByState(), { authenticated: 1 });
  // Logged in at 0: its session limit ends at `session` (and a deadline applies at its own
  // time, so one clock jump past several fires each in turn).
  await advance(limits.session - 2 * limits.idle);
  assert.equal(hub.countByState(), { loggedOut: 1 });
  await advance(limits.idle);
  assert.is(hub.size, 0);
  assert.equal(hub.countByState(), {});
  assert.is(hub.watchers, 1);
  // The last one to expire is remembered (a late hello hears SESSION_EXPIRED).
  assert.ok(await hub.wasExpired(S1, hsid(12)));
  // Nothing of them is left but their tombstones (and the deadlines that forget them).
  assert.equal(
    [...sessions.store.sets.keys()].filter((name) => name.startsWith('account:')),
    [],
    'the account index is empty',
  );
  for (const [key, entry] of sessions.store.entries) assert.is(JSON.parse(entry.text).snapshot, null, key);
  await advance(MEMORY);
  assert.is(sessions.store.entries.size, 0);
  assert.is(sessions.store.deadlines.size, 0);
});

test('detach() of a peer mid-handshake sends the session back to waiting', async () => {
  const { hub, peer } = makeHub();
  const heard: string[] = [];
  hub.subscribe(S1, H1, (u) => heard.push(u.event));
  await hub.open(S1, H1);
  await hub.open(S1, H2);
  const a = peer('A');
  const b = peer('B');
  await hub.hello(a, S1, H1, 'login');
  await hub.hello(b, S1, H2, 'login');
  await hub.detach(a);
  assert.is((await hub.status(S1, H1)).state, 'waiting');
  assert.equal((await hub.snapshot(S1, H1))!.context.handshakes, []);
  await hub.settled();
  assert.equal(heard, ['confirmscan', 'cancel']);
  assert.is((await hub.status(S1, H2)).state, 'challenged', "another peer's handshake goes on");

  // Another phone can answer now.
  const c = peer('C');
  await hub.hello(c, S1, H1, 'login');
  assert.equal(c.calls, [['accepted', { serverid: S1, hsid: H1 }, plain]]);
  // A detached peer is not called again, and detaching it twice does nothing.
  a.clear();
  await hub.detach(a);
  assert.equal(a.calls, []);
  assert.is((await hub.status(S1, H1)).state, 'challenged');
});

test('revoke() logs out the sessions of that account on that server only, found through the account index', async () => {
  const { hub, sessions, applied, login } = makeHub();
  const heard: string[] = [];
  hub.subscribe(S1, hsid(1), (u) => heard.push(u.event));
  await login(S1, hsid(1), 7);
  await login(S1, hsid(2), 7);
  await login(S1, hsid(3), 8);
  await login(S2, hsid(4), 7); // account ids are per server
  await hub.open(S1, hsid(5)); // waiting: no account
  await hub.settled();
  heard.length = 0;
  assert.equal((await sessions.members(`account:${S1}:7`)).sort(), [keyOf(S1, hsid(1)), keyOf(S1, hsid(2))]);
  assert.equal(await sessions.members(`account:${S1}:8`), [keyOf(S1, hsid(3))]);
  assert.equal(await sessions.members(`account:${S2}:7`), [keyOf(S2, hsid(4))]);

  const before = applied.length;
  await hub.revoke(S1, 7, false); // blocked
  const touched = applied.slice(before).map((a) => a.key);
  assert.equal(touched.sort(), [keyOf(S1, hsid(1)), keyOf(S1, hsid(2))], 'only the sessions of the index get the event');
  assert.is((await hub.status(S1, hsid(1))).state, 'loggedOut');
  assert.is((await hub.status(S1, hsid(2))).state, 'loggedOut');
  assert.is((await hub.status(S1, hsid(3))).state, 'authenticated');
  assert.is((await hub.status(S2, hsid(4))).state, 'authenticated');
  await hub.settled();
  assert.equal(heard, ['logout']);
  assert.is((await hub.snapshot(S1, hsid(1)))!.context.lastAccount, 7, 'blocked: kept');
  assert.is((await hub.status(S1, hsid(1))).canprovoke, true);
  assert.equal((await sessions.members(`account:${S1}:7`)).length, 2, 'still in the index by their last account');

  await hub.revoke(S1, 7, true); // then deleted
  assert.is((await hub.snapshot(S1, hsid(1)))!.context.lastAccount, null, 'deleted: forgotten');
  assert.is((await hub.snapshot(S1, hsid(2)))!.context.lastAccount, null);
  assert.is((await hub.status(S1, hsid(3))).account, 8);
  assert.is((await hub.status(S2, hsid(4))).account, 7);
  await hub.settled();
  assert.equal(heard, ['logout'], 'a logged-out session is not logged out again');
  assert.equal(await sessions.members(`account:${S1}:7`), [], 'out of the index');

  await hub.revoke(S2, 7, true);
  assert.is((await hub.status(S2, hsid(4))).state, 'loggedOut');
  assert.is((await hub.snapshot(S2, hsid(4)))!.context.lastAccount, null);
  // An account nobody is logged in with: nothing to do.
  const quiet = applied.length;
  await hub.revoke(S1, 99, true);
  assert.is(applied.length, quiet);
});

test('the account index follows a session from one account to another', async () => {
  const { hub, sessions, login } = makeHub();
  await login(S1, H1, 7);
  await hub.logout(S1, H1);
  assert.equal(await sessions.members(`account:${S1}:7`), [keyOf(S1, H1)], 'logged out: by its last account');
  await login(S1, H1, 8);
  assert.equal(await sessions.members(`account:${S1}:7`), []);
  assert.equal(await sessions.members(`account:${S1}:8`), [keyOf(S1, H1)]);
  await hub.revoke(S1, 7, false);
  assert.is((await hub.status(S1, H1)).account, 8, 'a revoke of the old account leaves the new login alone');
});

test('proof(), fail() and decline() from a peer whose handshake is over refuse SESSION_EXPIRED', async () => {
  const { hub, peer, verified, hold, release, advance } = makeHub();
  const key = { serverid: S1, hsid: H1 };
  await hub.open(S1, H1);
  const a = peer('A');
  const b = peer('B');

  // The challenge limit passed.
  await hub.hello(a, S1, H1, 'login');
  await advance(limits.challenge);
  assert.is((await hub.status(S1, H1)).state, 'waiting');
  a.clear();
  await hub.proof(a, key, { account: 7 });
  await hub.fail(a, key, 'BAD_BOX');
  await hub.decline(a, key);
  assert.equal(a.calls, [
    ['refused', 'SESSION_EXPIRED'],
    ['refused', 'SESSION_EXPIRED'],
    ['refused', 'SESSION_EXPIRED'],
  ]);
  await hub.settled();
  assert.equal(verified, []);

  // Another phone has a handshake now: A is still over, B's goes on.
  await hub.hello(b, S1, H1, 'login');
  a.clear();
  await hub.proof(a, key, { account: 7 });
  assert.equal(a.calls, [['refused', 'SESSION_EXPIRED']]);
  assert.is((await hub.status(S1, H1)).state, 'challenged');
  assert.equal(
    (await hub.snapshot(S1, H1))!.context.handshakes.map((h) => h.peer),
    ['B'],
  );

  // The session itself expired.
  await hub.decline(b, key);
  await advance(limits.idle);
  assert.is(hub.size, 0);
  b.clear();
  await hub.proof(b, key, { account: 7 });
  assert.equal(b.calls, [['refused', 'SESSION_EXPIRED']]);
  assert.is(hub.size, 0, 'a late proof makes no session');
  assert.is(await hub.snapshot(S1, H1), undefined);

  // And a proof already being checked: a second proof is refused.
  await hub.open(S1, H1);
  await hub.hello(a, S1, H1, 'login');
  hold();
  await hub.proof(a, key, { account: 7 });
  a.clear();
  await hub.proof(a, key, { account: 7 });
  assert.equal(a.calls, [['refused', 'SESSION_EXPIRED']]);
  release();
  await hub.settled();
  assert.equal(a.calls.at(-1), ['confirmed', key, { account: 7 }]);
  assert.is(verified.length, 1, 'verified once');
});

test('a peer that calls back into the hub from accepted() sees the state after the hello', async () => {
  // The app channel does this: AppResponder.accepted → hub.decline when the challenge cannot be sent.
  const { hub, peer } = makeHub();
  await hub.open(S1, H1);
  const a = peer('A');
  let seenInside: Promise<string> | undefined;
  let declined: Promise<void> | undefined;
  a.onAccepted = (session) => {
    seenInside = hub.status(session.serverid, session.hsid).then((s) => s.state);
    declined = hub.decline(a, session);
  };
  await hub.hello(a, S1, H1, 'login');
  assert.is(await seenInside, 'challenged');
  await declined;
  assert.equal(a.calls, [['accepted', { serverid: S1, hsid: H1 }, plain]]);
  assert.is((await hub.status(S1, H1)).state, 'waiting');
  const b = peer('B');
  await hub.hello(b, S1, H1, 'login');
  assert.equal(b.calls, [['accepted', { serverid: S1, hsid: H1 }, plain]]);
});

test("failed proofs never lock the session: a stranger's five bad proofs, then the owner logs in; browsers hear one cancel each", async () => {
  const { hub, peer, accounts } = makeHub();
  const heard: string[] = [];
  hub.subscribe(S1, H1, (u) => heard.push(u.event));
  await hub.open(S1, H1);
  const key = { serverid: S1, hsid: H1 };
  for (let i = 0; i < 5; i++) {
    const stranger = peer(`stranger-${i}`);
    await hub.hello(stranger, S1, H1, 'login');
    await hub.fail(stranger, key, 'BAD_BOX');
    assert.equal(stranger.calls.at(-1), ['refused', 'BAD_BOX']);
  }
  await hub.settled();
  const owner = peer('owner');
  accounts.add(`${S1}/7`);
  await hub.hello(owner, S1, H1, 'login');
  await hub.proof(owner, key, { account: 7 });
  await hub.settled();
  assert.equal(owner.calls.at(-1), ['confirmed', key, { account: 7 }]);
  assert.equal(heard, [...Array.from({ length: 5 }, () => ['confirmscan', 'cancel']).flat(), 'confirmscan', 'login']);
});

test("a stranger's silent hello does not hold the session; per session at most 4 handshakes and 2 per source", async () => {
  const { hub, peer, accounts } = makeHub();
  await hub.open(S1, H1);
  const key = { serverid: S1, hsid: H1 };
  const stranger = [peer('s1', '192.0.2.66'), peer('s2', '192.0.2.66'), peer('s3', '192.0.2.66')];
  for (const p of stranger) await hub.hello(p, S1, H1, 'login');
  assert.equal(
    stranger.map((p) => p.calls[0]?.[0]),
    ['accepted', 'accepted', 'refused'],
  );
  assert.equal(stranger[2]!.calls[0], ['refused', 'SESSION_BUSY']);
  const others = [peer('o1', '198.51.100.1'), peer('o2', '198.51.100.2'), peer('o3', '198.51.100.3')];
  for (const p of others) await hub.hello(p, S1, H1, 'login');
  assert.equal(
    others.map((p) => p.calls[0]?.[0]),
    ['accepted', 'accepted', 'refused'],
    'four at once',
  );
  // The owner (o1) logs in beside the silent ones.
  accounts.add(`${S1}/7`);
  await hub.proof(others[0]!, key, { account: 7 });
  await hub.settled();
  assert.is((await hub.status(S1, H1)).state, 'authenticated');
  assert.equal(others[0]!.calls.at(-1), ['confirmed', key, { account: 7 }]);
  await hub.proof(stranger[0]!, key, { account: 7 });
  assert.equal(stranger[0]!.calls.at(-1), ['refused', 'SESSION_BUSY']);
});

test('a continuous session: pings on its deadlines, a pong keeps it, a missed pong logs it out', async () => {
  const { hub, clock, sessions, login, advance } = makeHub();
  const key = { serverid: S1, hsid: H1 };
  const heard: string[] = [];
  hub.subscribe(S1, H1, (u) => heard.push(u.event));
  const p = await login(S1, H1, 7, { pingTime: 10_000 });
  assert.equal(p.calls.at(-1), ['ping', key, 1]);
  assert.equal((await hub.snapshot(S1, H1))!.value, { authenticated: 'pinging' });
  assert.is((await hub.status(S1, H1)).expires, clock.now() + limits.session, 'its session limit still holds');

  await advance(3_000);
  await hub.pong(p, key, 1);
  assert.equal((await hub.snapshot(S1, H1))!.value, { authenticated: 'ponged' });
  await hub.pong(p, key, 1); // again: nothing
  await advance(5_000); // pingTime / 2 after the pong
  assert.equal(p.calls.at(-1), ['ping', key, 2]);
  // A pong from another connection, or for another ping, does not count.
  await hub.pong(new RecordingPeer('someone-else'), key, 2);
  await hub.pong(p, key, 1);
  assert.equal((await hub.snapshot(S1, H1))!.value, { authenticated: 'pinging' });
  assert.is(sessions.store.deadlines.size, 2, 'the session limit and the pong limit');
  await advance(10_000);
  assert.is((await hub.status(S1, H1)).state, 'loggedOut');
  assert.is(sessions.store.deadlines.size, 1, 'the session and ping deadlines gave way to the idle one');
  await hub.settled();
  assert.equal(heard, ['confirmscan', 'login', 'logout']);
  assert.is((await hub.snapshot(S1, H1))!.context.pinger, null);
});

test('toLoginPeer() shows a transaction to the phone that logged in, while the session is logged in', async () => {
  const { hub, login } = makeHub();
  assert.is(await hub.toLoginPeer(S1, H1, { t: 'transaction' }), false, 'no session');
  await hub.open(S1, H1);
  assert.is(await hub.toLoginPeer(S1, H1, { t: 'transaction' }), false, 'nobody logged in');
  const p = await login(S1, H1, 7);
  p.clear();
  assert.is(await hub.toLoginPeer(S1, H1, { t: 'transaction', tid: 't1' }), true);
  assert.equal(p.calls, [['transaction', { t: 'transaction', tid: 't1' }]]);
  await hub.logout(S1, H1);
  assert.is(await hub.toLoginPeer(S1, H1, { t: 'transaction', tid: 't2' }), false, 'logged out');
  assert.is(p.calls.length, 1);

  // A peer on this hub that cannot show transactions.
  const { hub: other, accounts } = makeHub();
  const plainPeer: AppPeer = { id: 'plain', source: '127.0.0.1', accepted: () => {}, refused: () => {}, confirmed: () => {}, ping: () => {} };
  other.attach(plainPeer);
  await other.open(S1, H2);
  accounts.add(`${S1}/7`);
  await other.hello(plainPeer, S1, H2, 'login');
  await other.proof(plainPeer, { serverid: S1, hsid: H2 }, { account: 7 });
  await other.settled();
  assert.is((await other.status(S1, H2)).state, 'authenticated');
  assert.is(await other.toLoginPeer(S1, H2, { t: 'transaction' }), false);
});

test('toLoginPeer() after the phone that logged in disconnected is false (so the transaction goes out as a push)', async () => {
  const { hub, login } = makeHub();
  const p = await login(S1, H1, 7);
  await hub.detach(p);
  assert.is((await hub.status(S1, H1)).state, 'authenticated');
  assert.is(await hub.toLoginPeer(S1, H1, { t: 'transaction', tid: 't1' }), false);
});

// ---- write-through and the store ----------------------------------------------------------------

test('a login is written through before the phone hears it; a store that fails makes it STORAGE_UNAVAILABLE', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  try {
    const { hub, login } = makeHub({ saved: store });
    await hub.open(S1, H2);
    const p = await login(S1, H1, 7);
    assert.equal(p.calls.at(-1), ['confirmed', { serverid: S1, hsid: H1 }, { account: 7 }]);
    let saved = new Map(await store.savedSessions());
    assert.equal([...saved.keys()], [keyOf(S1, H1)], 'only the logged-in session is saved');
    const first = saved.get(keyOf(S1, H1))!;
    assert.equal((first.snapshot as { value: unknown }).value, { authenticated: 'oneShot' });

    // A logout with an account to push to stays saved; a deleted account's does not.
    assert.is(await hub.logout(S1, H1), true);
    saved = new Map(await store.savedSessions());
    assert.is((saved.get(keyOf(S1, H1))!.snapshot as { value: unknown }).value, 'loggedOut');
    await hub.revoke(S1, 7, true);
    assert.equal(await store.savedSessions(), []);
  } finally {
    await store.close();
  }

  // A store that cannot write: the phone hears INTERNAL, logout resolves false.
  const broken = {
    transact: async () => {
      throw new Error('disk full');
    },
    savedSessions: async () => [],
  } as unknown as Store;
  const { hub, peer, accounts } = makeHub({ saved: broken });
  const p = peer('P');
  await hub.open(S1, H1);
  accounts.add(`${S1}/7`);
  await hub.hello(p, S1, H1, 'login');
  await hub.proof(p, { serverid: S1, hsid: H1 }, { account: 7 });
  await hub.settled();
  assert.equal(p.calls.at(-1), ['refused', 'STORAGE_UNAVAILABLE']);
  assert.is(await hub.logout(S1, H1), false);
});

test('restore() brings back the saved sessions with the time they had left; the registry ends those of accounts gone or blocked', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  try {
    const first = makeHub({ saved: store });
    await first.login(S1, hsid(1), 7);
    await first.login(S1, hsid(2), 8); // deleted while down
    first.clock.increment(1_000);
    await first.login(S1, hsid(3), 9);
    await first.hub.logout(S1, hsid(3)); // logged out at 1s, canprovoke
    await first.login(S1, hsid(4), 10); // blocked while down
    await first.hub.open(S1, hsid(5)); // waiting: not saved
    await first.hub.close();
    assert.is((await store.savedSessions()).length, 4);

    // A new process ten minutes later, on empty Sessions.
    const clock = new SimulatedClock();
    clock.set(10 * 60_000);
    const registry: Record<number, { blocked: boolean }> = { 7: { blocked: false }, 9: { blocked: false }, 10: { blocked: true } };
    const second = makeHub({ clock, saved: store, account: async (_serverid, n) => registry[n] });
    assert.is(await second.hub.restore(), 4);
    await second.hub.settled();

    let st = await second.hub.status(S1, hsid(1));
    assert.is(st.state, 'authenticated');
    assert.is(st.account, 7);
    assert.is(st.expires, limits.session, 'the session limit from its login, not from the restart');
    st = await second.hub.status(S1, hsid(2));
    assert.is(st.state, 'loggedOut', 'its account is gone');
    assert.is(st.lastAccount, null);
    st = await second.hub.status(S1, hsid(3));
    assert.is(st.state, 'loggedOut');
    assert.is(st.canprovoke, true);
    assert.is(st.expires, 1_000 + limits.idle);
    st = await second.hub.status(S1, hsid(4));
    assert.is(st.state, 'loggedOut', 'its account is blocked');
    assert.is(st.lastAccount, 10);
    assert.is(await second.hub.snapshot(S1, hsid(5)), undefined, 'a waiting session does not survive');
    assert.equal(second.hub.countByState(), { authenticated: 1, loggedOut: 3 });
    assert.equal(
      (await store.savedSessions()).map(([k]) => k).sort(),
      [keyOf(S1, hsid(1)), keyOf(S1, hsid(3)), keyOf(S1, hsid(4))],
      'the one of the deleted account is no longer saved',
    );

    // The account index came back too.
    await second.hub.revoke(S1, 7, false);
    assert.is((await second.hub.status(S1, hsid(1))).state, 'loggedOut');
    // The restored limit: the logged-out one ends one idle limit after its logout.
    clock.set(1_000 + limits.idle - 1);
    await second.hub.settled();
    assert.ok(await second.hub.snapshot(S1, hsid(3)));
    clock.increment(1);
    await second.hub.settled();
    assert.ok(await second.hub.wasExpired(S1, hsid(3)));
    assert.not.ok(
      (await store.savedSessions()).some(([k]) => k === keyOf(S1, hsid(3))),
      'an expired session is no longer saved',
    );
    await second.hub.close();
  } finally {
    await store.close();
  }
});

test('restore() after the limits passed ends the sessions at once; a saved session that cannot be read is dropped', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  try {
    const first = makeHub({ saved: store });
    await first.login(S1, hsid(1), 7);
    await first.login(S1, hsid(2), 8);
    await first.hub.logout(S1, hsid(2));
    await first.hub.close();
    await store.transact((tx) => tx.put('session', [keyOf(S1, hsid(9))], { snapshot: 'garbage', since: 0 }));

    const clock = new SimulatedClock();
    clock.set(limits.session + 1);
    const heard: string[] = [];
    const second = makeHub({ clock, saved: store, account: async () => ({ blocked: false }) });
    second.hub.subscribe(S1, hsid(1), (u) => heard.push(u.event));
    assert.is(await second.hub.restore(), 2);
    await second.hub.settled();
    const st = await second.hub.status(S1, hsid(1));
    assert.is(st.state, 'loggedOut', 'the login ended: its session limit passed');
    assert.is(st.expires, clock.now() + limits.idle);
    assert.equal(heard, ['logout']);
    assert.ok(await second.hub.wasExpired(S1, hsid(2)), 'the logout ended: its idle limit passed');
    assert.equal(
      (await store.savedSessions()).map(([k]) => k),
      [keyOf(S1, hsid(1))],
      'the unreadable one is removed from the store',
    );
    assert.is(await second.hub.snapshot(S1, hsid(9)), undefined);
    await second.hub.close();

    // Restored twice (another process restored it first): counted once.
    const third = makeHub({ clock, sessions: second.sessions, saved: store, account: async () => ({ blocked: false }) });
    assert.is(await third.hub.restore(), 0);
  } finally {
    await store.close();
  }
});

test('a restored logged-out session shown again restarts its idle limit, as status().expires says', async () => {
  const dir = tempDir();
  const store = await LowdbStore.open(dir);
  try {
    const first = makeHub({ saved: store });
    await first.login(S1, H1, 7);
    await first.hub.logout(S1, H1); // at 0: ends at idle
    await first.hub.close();

    const clock = new SimulatedClock();
    const second = makeHub({ clock, saved: store, account: async () => ({ blocked: false }) });
    await second.hub.restore();
    clock.set(limits.idle - 1_000);
    await second.hub.settled();
    const st = await second.hub.show(S1, H1);
    assert.is(st.expires, limits.idle - 1_000 + limits.idle);
    await second.advance(1_000); // the restored limit
    assert.is((await second.hub.status(S1, H1)).state, 'loggedOut', 'alive until the limit status() gave');
    await second.hub.close();
  } finally {
    await store.close();
  }
});

// ---- deadlines, not timers ----------------------------------------------------------------------

test('a session at rest costs no timer: 1,000 logged-in sessions leave one clock timer, and 1,000 deadlines in the port', async () => {
  const { hub, clock, sessions, peer, accounts, advance } = makeHub();
  const p = peer('P');
  accounts.add(`${S1}/7`);
  for (let i = 0; i < 1000; i++) {
    const h = hsid(1000 + i);
    await hub.open(S1, h);
    await hub.hello(p, S1, h, 'login');
    await hub.proof(p, { serverid: S1, hsid: h }, { account: 7 });
  }
  await hub.settled();
  assert.equal(hub.countByState(), { authenticated: 1000 });
  assert.is(pendingTimers(clock), 1, "only the hub's own wake-up");
  assert.is(sessions.store.deadlines.size, 1000, 'each session: its one session deadline');
  assert.is((await sessions.members(`account:${S1}:7`)).length, 1000);
  await hub.revoke(S1, 7, false);
  assert.equal(hub.countByState(), { loggedOut: 1000 });
  assert.is(pendingTimers(clock), 1);
  await advance(limits.idle);
  assert.is(hub.size, 0);
  assert.is(pendingTimers(clock), 1, 'asleep until the tombstones are forgotten');
  await advance(MEMORY);
  assert.is(pendingTimers(clock), 0, 'nothing left to wake for');
  assert.is(sessions.store.deadlines.size, 0);
});

test('close() stops the wake-up and the subscriptions; the deadlines stay in the port', async () => {
  const { hub, clock, sessions, bus, peer } = makeHub();
  const heard: string[] = [];
  hub.subscribe(S1, H1, (u) => heard.push(u.event));
  const a = peer('A');
  await hub.open(S1, H1);
  assert.is(pendingTimers(clock), 1);
  await hub.close();
  assert.is(pendingTimers(clock), 0);
  clock.increment(limits.idle);
  await hub.settled();
  assert.ok(await hub.snapshot(S1, H1), 'nobody fired its deadline');
  assert.is(sessions.store.deadlines.size, 1, 'left for another process');
  await bus.publish(`session:${keyOf(S1, H1)}`, { event: 'login', state: 'authenticated', account: 1 });
  await bus.publish(`peer:${a.id}`, { call: 'refused', args: ['SESSION_BUSY'] });
  await bus.broker.settled();
  assert.equal(heard, []);
  assert.equal(a.calls, []);
});

// ---- the inspector ------------------------------------------------------------------------------

test('inspect: each applied event with its microsteps (a failed proof: challenged → waiting), made and ended', async () => {
  const { hub, clock, applied, peer, advance } = makeHub();
  const a = peer('A');
  await hub.open(S1, H1);
  assert.is(applied.length, 1);
  assert.is(applied[0]!.created, true);
  assert.is(applied[0]!.type, 'xstate.init');
  assert.is(applied[0]!.key, keyOf(S1, H1));
  assert.is(applied[0]!.serverid, S1);
  assert.equal(applied[0]!.value, 'waiting');

  await hub.hello(a, S1, H1, 'login');
  const hello = applied.at(-1)!;
  assert.is(hello.type, 'hello');
  assert.is(hello.created, false);
  assert.equal(hello.value, 'challenged');
  await hub.fail(a, { serverid: S1, hsid: H1 }, 'BAD_BOX');
  const failed = applied.at(-1)!;
  assert.is(failed.type, 'unverified');
  assert.equal(
    failed.microsteps.map((m) => m.value),
    ['challenged', 'waiting'],
    'the handshake ends, then the session leaves challenged by itself',
  );
  assert.is(failed.ended, false);
  assert.equal(failed.value, 'waiting');

  // A proof whose check fails: verifying, then back to waiting on its outcome.
  await hub.hello(a, S1, H1, 'login');
  await hub.proof(a, { serverid: S1, hsid: H1 }, { code: 'BAD_SIGNATURE' });
  await hub.settled();
  const [proof, outcome] = applied.slice(-2);
  assert.is(proof!.type, 'proof');
  assert.equal(proof!.value, 'verifying');
  assert.is(outcome!.type, 'unverified');
  assert.equal(
    outcome!.microsteps.map((m) => m.value),
    ['verifying', 'waiting'],
  );

  await advance(limits.idle);
  const last = applied.at(-1)!;
  assert.is(last.type, IDLE_WAITING);
  assert.is(last.ended, true);
  assert.is(last.value, 'expired');
  assert.is(last.since, clock.now(), 'it ended when its deadline was due');
});

test('inspect: nothing of a payload (proof, peer id, hsid) is passed beyond the key', async () => {
  const { hub, applied, peer, accounts, login } = makeHub();
  const secretHsid = hsid(4242);
  const a = peer('peer-id-SECRET');
  await hub.show(S1, secretHsid, { sessioninfo: { ip: '203.0.113.77', useragent: 'ua-SECRET' } });
  await hub.provoke(S1, secretHsid, [7], '31');
  await hub.hello(a, S1, secretHsid, 'login');
  await hub.proof(a, { serverid: S1, hsid: secretHsid }, { code: 'BAD_SIGNATURE', blob: 'proof-SECRET' });
  await hub.settled();
  accounts.add(`${S1}/7`);
  await hub.hello(a, S1, secretHsid, 'enrol');
  await hub.proof(a, { serverid: S1, hsid: secretHsid }, { account: 7, blob: 'proof-SECRET-2' });
  await hub.settled();
  await hub.detach(a);
  await login(S1, H2, 8);
  assert.ok(applied.length >= 8);
  for (const event of applied) {
    const { key, ...rest } = event;
    assert.ok(key === keyOf(S1, secretHsid) || key === keyOf(S1, H2), key);
    const text = JSON.stringify(rest);
    for (const secret of ['SECRET', secretHsid, H2, '203.0.113.77', 'BAD_SIGNATURE', '"31"', 'enrol']) {
      assert.not.ok(text.includes(secret), `${event.type} passes ${secret}: ${text}`);
    }
  }
});

test.run();
