/**
 * The session hub (src/core/hub.ts): actors per (serverid, hsid), status, browser
 * subscriptions, app peers, revoke, and that every actor is forgotten once it expires. XState's
 * SimulatedClock stands for time; fake peers and a stub verifier stand for the app channel.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import type { SessionLimits, VerifyInput, VerifyOutput } from '../../machines/session.ts';
import { SessionHub, type AppPeer, type SessionKey, type SessionUpdate } from '../../src/core/hub.ts';

const S1 = 'c2VydmVyLW9uZS0xNi1ieXRlcw';
const S2 = 'c2VydmVyLXR3by0xNi1ieXRlcw';
const hsid = (n: number) => `hsid-${String(n).padStart(38, '0')}`;
const H1 = hsid(1);
const H2 = hsid(2);

const limits: SessionLimits = { challenge: 60_000, idle: 15 * 60_000, session: 12 * 3600_000, maxFailures: 5, lock: 5 * 60_000 };

/** Let the verifier's promise settle. */
const settle = () => new Promise<void>((r) => setImmediate(r));

class FakePeer implements AppPeer {
  readonly calls: unknown[][] = [];
  /** Runs inside `accepted` (to call back into the hub, as the app channel may). */
  onAccepted?: (session: SessionKey) => void;
  constructor(readonly id: string) {}
  accepted(session: SessionKey): void {
    this.calls.push(['accepted', session]);
    this.onAccepted?.(session);
  }
  refused(code: string): void {
    this.calls.push(['refused', code]);
  }
  confirmed(session: SessionKey, output: VerifyOutput): void {
    this.calls.push(['confirmed', session, output]);
  }
  ping(session: SessionKey, n: number): void {
    this.calls.push(['ping', session, n]);
  }
  clear(): void {
    this.calls.length = 0;
  }
}

/**
 * A hub on a simulated clock. The stub verifier reads the proof: `{account}` logs it in,
 * `{code}` fails with that code. `accounts` is what exists (for canprovoke).
 */
function makeHub() {
  const clock = new SimulatedClock();
  const verified: VerifyInput[] = [];
  const accounts = new Set<string>();
  const hub = new SessionHub({
    limits,
    clock,
    verifyProof: async (input) => {
      verified.push(input);
      const { proof } = input;
      if (typeof proof.code === 'string') throw Object.assign(new Error(proof.code), { code: proof.code });
      return { account: proof.account as number };
    },
    account: async (serverid, account) => (accounts.has(`${serverid}/${account}`) ? { blocked: false } : undefined),
  });
  const peer = (id: string) => {
    const p = new FakePeer(id);
    hub.attach(p);
    return p;
  };
  /** Logs `account` in on (serverid, hsid) through a new peer. */
  const login = async (serverid: string, h: string, account: number) => {
    const p = peer(`phone-${serverid.slice(0, 4)}-${h.slice(-3)}-${account}`);
    hub.ensure(serverid, h);
    accounts.add(`${serverid}/${account}`);
    hub.hello(p, serverid, h, 'login');
    hub.proof(p, { serverid, hsid: h }, { account });
    await settle();
    assert.is(hub.status(serverid, h).state, 'authenticated');
    return p;
  };
  return { clock, hub, verified, accounts, peer, login };
}

// ---- actors ------------------------------------------------------------------------------------

test('ensure() makes one actor per (serverid, hsid) and returns the same one', () => {
  const { hub } = makeHub();
  assert.is(hub.size, 0);
  assert.is(hub.find(S1, H1), undefined);
  const a = hub.ensure(S1, H1);
  assert.is(hub.ensure(S1, H1), a);
  assert.is(hub.find(S1, H1), a);
  assert.is(hub.size, 1);
  const b = hub.ensure(S1, H2);
  const c = hub.ensure(S2, H1);
  assert.is.not(b, a);
  assert.is.not(c, a);
  assert.is.not(c, b);
  assert.is(hub.size, 3);
  assert.equal(hub.countByState(), { waiting: 3 });
  const ctx = c.getSnapshot().context;
  assert.is(ctx.serverid, S2);
  assert.is(ctx.hsid, H1);
  assert.equal(ctx.limits, limits);
});

test('status() of an unknown session is waiting (and makes no actor)', () => {
  const { hub } = makeHub();
  assert.equal(hub.status(S1, H1), { state: 'waiting', account: null, lastAccount: null, canprovoke: false, userinput: null, userContext: null });
  assert.is(hub.size, 0);
});

test('status().expires: waiting + idle, challenged + challenge, authenticated + session, loggedOut + idle, locked + lock + idle', async () => {
  const { hub, clock, peer, accounts } = makeHub();
  clock.increment(1_000);
  hub.ensure(S1, H1);
  let st = hub.status(S1, H1);
  assert.is(st.state, 'waiting');
  assert.is(st.expires, 1_000 + limits.idle);

  clock.increment(2_000);
  const a = peer('A');
  hub.hello(a, S1, H1, 'login');
  st = hub.status(S1, H1);
  assert.is(st.state, 'challenged');
  assert.is(st.expires, 3_000 + limits.challenge);

  clock.increment(500);
  accounts.add(`${S1}/7`);
  hub.proof(a, { serverid: S1, hsid: H1 }, { account: 7 });
  st = hub.status(S1, H1);
  assert.is(st.state, 'verifying');
  assert.is(st.expires, undefined);
  await settle();
  st = hub.status(S1, H1);
  assert.is(st.state, 'authenticated');
  assert.is(st.expires, 3_500 + limits.session);

  clock.increment(4_000);
  void hub.logout(S1, H1);
  st = hub.status(S1, H1);
  assert.is(st.state, 'loggedOut');
  assert.is(st.expires, 7_500 + limits.idle);

  // Back to waiting: the challenge timed out.
  hub.hello(a, S1, H1, 'login');
  clock.increment(limits.challenge);
  const t = clock.now();
  st = hub.status(S1, H1);
  assert.is(st.state, 'waiting');
  assert.is(st.expires, t + limits.idle);

  // Locked: the lock plus the idle limit that follows it.
  for (let i = 0; i < limits.maxFailures; i++) {
    hub.hello(a, S1, H1, 'login');
    hub.fail(a, { serverid: S1, hsid: H1 }, 'BAD_BOX');
  }
  assert.equal(hub.find(S1, H1)!.getSnapshot().value, { waiting: 'locked' });
  assert.is(hub.status(S1, H1).expires, t + limits.lock + limits.idle);
});

// ---- browsers ----------------------------------------------------------------------------------

test('subscribe() hears notify events as SessionUpdate, also from the next actor of the same key', async () => {
  const { hub, clock, peer } = makeHub();
  const heard: SessionUpdate[] = [];
  const other: SessionUpdate[] = [];
  const stop = hub.subscribe(S1, H1, (u) => heard.push(u));
  hub.subscribe(S1, H2, (u) => other.push(u));
  assert.is(hub.watchers, 2);

  hub.ensure(S1, H1);
  hub.ensure(S1, H2);
  const a = peer('A');
  hub.hello(a, S1, H1, 'login');
  hub.proof(a, { serverid: S1, hsid: H1 }, { account: 7 });
  await settle();
  void hub.logout(S1, H1);
  assert.equal(heard, [
    { serverid: S1, hsid: H1, event: 'confirmscan', state: 'challenged', account: null },
    { serverid: S1, hsid: H1, event: 'login', state: 'authenticated', account: 7 },
    { serverid: S1, hsid: H1, event: 'logout', state: 'loggedOut', account: null },
  ]);
  assert.equal(other, [], 'another session hears nothing');

  // The actor expires and is forgotten; the browser keeps watching the key.
  const first = hub.find(S1, H1);
  clock.increment(limits.idle);
  assert.is(hub.find(S1, H1), undefined);
  const second = hub.ensure(S1, H1);
  assert.is.not(second, first);
  heard.length = 0;
  hub.hello(a, S1, H1, 'login');
  hub.decline(a, { serverid: S1, hsid: H1 });
  assert.equal(heard, [
    { serverid: S1, hsid: H1, event: 'confirmscan', state: 'challenged', account: null },
    { serverid: S1, hsid: H1, event: 'cancel', state: 'waiting', account: null },
  ]);

  // Unsubscribed: no more.
  stop();
  assert.is(hub.watchers, 1);
  heard.length = 0;
  hub.hello(a, S1, H1, 'login');
  assert.equal(heard, []);
});

// ---- app peers ---------------------------------------------------------------------------------

test('hello() for an unknown session refuses UNKNOWN_SESSION, for an expired one SESSION_EXPIRED', () => {
  const { hub, clock, peer } = makeHub();
  const a = peer('A');
  hub.hello(a, S1, H1, 'login');
  assert.equal(a.calls, [['refused', 'UNKNOWN_SESSION']]);
  assert.is(hub.size, 0, 'a hello makes no actor');

  hub.ensure(S1, H1);
  clock.increment(limits.idle);
  assert.is(hub.size, 0);
  assert.ok(hub.wasExpired(S1, H1));
  a.clear();
  hub.hello(a, S1, H1, 'login');
  assert.equal(a.calls, [['refused', 'SESSION_EXPIRED']]);
  // The same hsid on another server was never there.
  a.clear();
  hub.hello(a, S2, H1, 'login');
  assert.equal(a.calls, [['refused', 'UNKNOWN_SESSION']]);

  // Made again (a new getSession): the session takes hellos again.
  hub.ensure(S1, H1);
  assert.not.ok(hub.wasExpired(S1, H1));
  a.clear();
  hub.hello(a, S1, H1, 'login');
  assert.equal(a.calls, [['accepted', { serverid: S1, hsid: H1 }]]);
});

test('a full flow with a fake app peer: accepted, confirmed, logged in; a failed proof is refused with its code', async () => {
  const { hub, peer, verified, accounts } = makeHub();
  const key = { serverid: S1, hsid: H1 };
  const a = peer('A');
  const b = peer('B');
  hub.ensure(S1, H1);

  // A first attempt that fails.
  hub.hello(a, S1, H1, 'login');
  hub.proof(a, key, { code: 'UNKNOWN_ACCOUNT' });
  await settle();
  assert.equal(a.calls, [
    ['accepted', key],
    ['refused', 'UNKNOWN_ACCOUNT'],
  ]);
  assert.is(hub.status(S1, H1).state, 'waiting');

  // Then one that logs in; another phone meanwhile is busy-refused.
  a.clear();
  hub.hello(a, S1, H1, 'enrol');
  hub.hello(b, S1, H1, 'login');
  assert.equal(b.calls, [['refused', 'SESSION_BUSY']]);
  accounts.add(`${S1}/7`);
  hub.proof(a, key, { account: 7 });
  await settle();
  assert.equal(a.calls, [
    ['accepted', key],
    ['confirmed', key, { account: 7 }],
  ]);
  assert.equal(verified.at(-1), { serverid: S1, hsid: H1, op: 'enrol', proof: { account: 7 } });
  const st = hub.status(S1, H1);
  assert.is(st.state, 'authenticated');
  assert.is(st.account, 7);
  assert.is(st.lastAccount, 7);
  assert.is(st.canprovoke, true);

  // Logged out: canprovoke while the account exists.
  void hub.logout(S1, H1);
  assert.is(hub.status(S1, H1).state, 'loggedOut');
  assert.is(hub.status(S1, H1).account, null);
  assert.is(hub.status(S1, H1).canprovoke, true);
  // Deleted: the registry tells the hub (main.ts wires accounts' `revoked` to hub.revoke).
  accounts.delete(`${S1}/7`);
  hub.revoke(S1, 7, true);
  assert.is(hub.status(S1, H1).lastAccount, null);
  assert.is(hub.status(S1, H1).canprovoke, false);

  // setContext reaches the status.
  hub.setContext(S1, H1, { sessioninfo: { ip: '192.0.2.1', useragent: 'ua' } });
  assert.equal(hub.status(S1, H1).userContext, { sessioninfo: { ip: '192.0.2.1', useragent: 'ua' } });
});

test('hub.size returns to zero after every session expires', async () => {
  const { hub, clock, peer, login } = makeHub();
  // waiting
  hub.ensure(S1, hsid(10));
  hub.ensure(S2, hsid(10));
  // challenged
  hub.ensure(S1, hsid(11));
  hub.hello(peer('C'), S1, hsid(11), 'login');
  // authenticated, and loggedOut
  await login(S1, hsid(12), 1);
  await login(S1, hsid(13), 2);
  void hub.logout(S1, hsid(13));
  // locked
  hub.ensure(S1, hsid(14));
  const l = peer('L');
  for (let i = 0; i < limits.maxFailures; i++) {
    hub.hello(l, S1, hsid(14), 'login');
    hub.fail(l, { serverid: S1, hsid: hsid(14) }, 'BAD_BOX');
  }
  // a watched one (watchers do not keep an actor alive)
  hub.subscribe(S1, hsid(10), () => {});
  assert.is(hub.size, 6);
  assert.equal(hub.countByState(), { waiting: 3, challenged: 1, authenticated: 1, loggedOut: 1 });

  clock.increment(limits.idle);
  // waiting and loggedOut are gone; the challenged one went back to waiting and the locked one
  // opened, both later than the others, so they expire one idle limit after that.
  assert.equal(hub.countByState(), { waiting: 2, authenticated: 1 });
  clock.increment(limits.idle);
  assert.equal(hub.countByState(), { authenticated: 1 });
  clock.increment(limits.session);
  assert.equal(hub.countByState(), { loggedOut: 1 });
  clock.increment(limits.idle);
  assert.is(hub.size, 0);
  assert.equal(hub.countByState(), {});
  assert.is(hub.watchers, 1);
  // The last one to expire is remembered (a late hello hears SESSION_EXPIRED).
  assert.ok(hub.wasExpired(S1, hsid(12)));
});

test('detach() of a peer mid-handshake sends the session back to waiting', () => {
  const { hub, peer } = makeHub();
  const heard: string[] = [];
  hub.subscribe(S1, H1, (u) => heard.push(u.event));
  hub.ensure(S1, H1);
  hub.ensure(S1, H2);
  const a = peer('A');
  const b = peer('B');
  hub.hello(a, S1, H1, 'login');
  hub.hello(b, S1, H2, 'login');
  hub.detach(a);
  assert.is(hub.status(S1, H1).state, 'waiting');
  assert.is(hub.find(S1, H1)!.getSnapshot().context.peer, null);
  assert.equal(heard, ['confirmscan', 'cancel']);
  assert.is(hub.status(S1, H2).state, 'challenged', "another peer's handshake goes on");

  // Another phone can answer now.
  const c = peer('C');
  hub.hello(c, S1, H1, 'login');
  assert.equal(c.calls, [['accepted', { serverid: S1, hsid: H1 }]]);
});

test('revoke() logs out the sessions of that account on that server only', async () => {
  const { hub, login } = makeHub();
  const heard: string[] = [];
  hub.subscribe(S1, hsid(1), (u) => heard.push(u.event));
  await login(S1, hsid(1), 7);
  await login(S1, hsid(2), 7);
  await login(S1, hsid(3), 8);
  await login(S2, hsid(4), 7); // account ids are per server
  heard.length = 0;

  hub.revoke(S1, 7, false); // blocked
  assert.is(hub.status(S1, hsid(1)).state, 'loggedOut');
  assert.is(hub.status(S1, hsid(2)).state, 'loggedOut');
  assert.is(hub.status(S1, hsid(3)).state, 'authenticated');
  assert.is(hub.status(S2, hsid(4)).state, 'authenticated');
  assert.equal(heard, ['logout']);
  assert.is(hub.find(S1, hsid(1))!.getSnapshot().context.lastAccount, 7, 'blocked: kept');
  assert.is(hub.status(S1, hsid(1)).canprovoke, true);

  hub.revoke(S1, 7, true); // then deleted
  assert.is(hub.find(S1, hsid(1))!.getSnapshot().context.lastAccount, null, 'deleted: forgotten');
  assert.is(hub.find(S1, hsid(2))!.getSnapshot().context.lastAccount, null);
  assert.is(hub.status(S1, hsid(3)).account, 8);
  assert.is(hub.status(S2, hsid(4)).account, 7);
  assert.equal(heard, ['logout'], 'a logged-out session is not logged out again');

  hub.revoke(S2, 7, true);
  assert.is(hub.status(S2, hsid(4)).state, 'loggedOut');
  assert.is(hub.find(S2, hsid(4))!.getSnapshot().context.lastAccount, null);
});

test('proof(), fail() and decline() from a peer whose handshake is over refuse SESSION_EXPIRED', async () => {
  const { hub, clock, peer, verified } = makeHub();
  const key = { serverid: S1, hsid: H1 };
  hub.ensure(S1, H1);
  const a = peer('A');
  const b = peer('B');

  // The challenge limit passed.
  hub.hello(a, S1, H1, 'login');
  clock.increment(limits.challenge);
  assert.is(hub.status(S1, H1).state, 'waiting');
  a.clear();
  hub.proof(a, key, { account: 7 });
  hub.fail(a, key, 'BAD_BOX');
  hub.decline(a, key);
  assert.equal(a.calls, [
    ['refused', 'SESSION_EXPIRED'],
    ['refused', 'SESSION_EXPIRED'],
    ['refused', 'SESSION_EXPIRED'],
  ]);
  await settle();
  assert.equal(verified, []);
  assert.is(hub.find(S1, H1)!.getSnapshot().context.failures, 0);

  // Another phone holds the handshake now: A is still over, B's goes on.
  hub.hello(b, S1, H1, 'login');
  a.clear();
  hub.proof(a, key, { account: 7 });
  assert.equal(a.calls, [['refused', 'SESSION_EXPIRED']]);
  assert.is(hub.status(S1, H1).state, 'challenged');
  assert.is(hub.find(S1, H1)!.getSnapshot().context.peer, 'B');

  // The session itself expired (no actor).
  hub.decline(b, key);
  clock.increment(limits.idle);
  assert.is(hub.size, 0);
  b.clear();
  hub.proof(b, key, { account: 7 });
  assert.equal(b.calls, [['refused', 'SESSION_EXPIRED']]);
  assert.is(hub.size, 0, 'a late proof makes no actor');

  // And a proof already being checked: a second proof is refused.
  hub.ensure(S1, H1);
  hub.hello(a, S1, H1, 'login');
  hub.proof(a, key, { account: 7 });
  a.clear();
  hub.proof(a, key, { account: 7 });
  assert.equal(a.calls, [['refused', 'SESSION_EXPIRED']]);
  await settle();
  assert.equal(a.calls.at(-1), ['confirmed', key, { account: 7 }]);
});

// ---- answers and times around a lock ------------------------------------------------------------

test('status().expires after a lock ends: one idle limit from the end of the lock', () => {
  const { hub, clock, peer } = makeHub();
  hub.ensure(S1, H1);
  const a = peer('A');
  for (let i = 0; i < limits.maxFailures; i++) {
    hub.hello(a, S1, H1, 'login');
    hub.fail(a, { serverid: S1, hsid: H1 }, 'BAD_BOX');
  }
  const lockedAt = clock.now();
  assert.is(hub.status(S1, H1).expires, lockedAt + limits.lock + limits.idle);
  clock.increment(limits.lock);
  assert.equal(hub.find(S1, H1)!.getSnapshot().value, { waiting: 'open' });
  assert.is(hub.status(S1, H1).expires, lockedAt + limits.lock + limits.idle);
  clock.increment(limits.idle - 1);
  assert.is(hub.size, 1);
  clock.increment(1);
  assert.is(hub.size, 0);
});

test('a peer that calls back into the hub from accepted() sees the state after the hello', () => {
  // The app channel does this: AppResponder.accepted → hub.decline when the challenge cannot be sent.
  const { hub, peer } = makeHub();
  hub.ensure(S1, H1);
  const a = peer('A');
  let seenInside: string | undefined;
  a.onAccepted = (session) => {
    seenInside = hub.status(session.serverid, session.hsid).state;
    hub.decline(a, session);
  };
  hub.hello(a, S1, H1, 'login');
  assert.is(seenInside, 'challenged');
  assert.equal(a.calls, [['accepted', { serverid: S1, hsid: H1 }]]);
  assert.is(hub.status(S1, H1).state, 'waiting');
  const b = peer('B');
  hub.hello(b, S1, H1, 'login');
  assert.equal(b.calls, [['accepted', { serverid: S1, hsid: H1 }]]);
});

test.run();
