/**
 * The session machine (machines/session.ts) against PROTOCOL.md §2: one test per transition
 * named there, with XState's SimulatedClock (no real time) and stub actions / a stub verifier
 * (no sockets, no store).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock, createActor } from 'xstate';
import {
  failureCode,
  SESSION_STATES,
  sessionMachine,
  stateName,
  type ProofPayload,
  type SessionLimits,
  type SessionState,
  type VerifyInput,
  type VerifyOutput,
} from '../../machines/session.ts';

const SRV = 'c2VydmVyaWQtMTYtYnl0ZQ';
const HSID = 'aHNpZC1vZi10aGUtc2Vzc2lvbi0zMi1ieXRlcy1sb25nIQ';

/** The §2 / §7 defaults: 60 s challenge, 15 min idle, 12 h session, 4 open handshakes, 2 of them per source. */
const limits: SessionLimits = { challenge: 60_000, idle: 15 * 60_000, session: 12 * 3600_000, handshakes: 4, handshakesPerSource: 2 };

type Call = [string, unknown];

/** A promise with its resolve / reject outside (a proof that is "being checked"). */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const coded = (code: string) => Object.assign(new Error(`proof failed: ${code}`), { code });

/**
 * The stub verifier reads its answer from the proof:
 *   {account, userinput?}  resolves;   {code}  rejects with that code;   {error}  rejects with a plain Error;
 *   {wait: Deferred}  waits for the test to settle it.
 */
async function stubVerify({ proof }: VerifyInput): Promise<VerifyOutput> {
  if (proof.wait) return (proof.wait as ReturnType<typeof deferred<VerifyOutput>>).promise;
  if (typeof proof.code === 'string') throw coded(proof.code);
  if (proof.error) throw new Error('verifier broke');
  return {
    account: proof.account as number,
    ...(typeof proof.userinput === 'string' ? { userinput: proof.userinput } : {}),
    ...(typeof proof.pingTime === 'number' ? { pingTime: proof.pingTime } : {}),
  };
}

function start(limitsOverride: Partial<SessionLimits> = {}) {
  const clock = new SimulatedClock();
  const log: Call[] = [];
  const notices: string[] = [];
  const verified: VerifyInput[] = [];
  /** Every observable state the actor went through. */
  const seen: string[] = [];
  const machine = sessionMachine.provide({
    actions: {
      // The hub's part: check the proof, send the outcome back for its handshake.
      verify: (_, { peer, input }) => {
        verified.push(input);
        stubVerify(input).then(
          (output) => actor.send({ type: 'verified', peer, output }),
          (err: unknown) => actor.send({ type: 'unverified', peer, code: failureCode(err) }),
        );
      },
      mute: (_, p) => {
        log.push(['mute', p]);
      },
      accept: (_, p) => {
        log.push(['accept', p]);
      },
      refuse: (_, p) => {
        log.push(['refuse', p]);
      },
      confirm: (_, p) => {
        log.push(['confirm', p]);
      },
      ping: (_, p) => {
        log.push(['ping', p]);
      },
    },
  });
  const actor = createActor(machine, { input: { serverid: SRV, hsid: HSID, limits: { ...limits, ...limitsOverride } }, clock });
  actor.on('notify', (e) => {
    notices.push(e.event);
  });
  actor.subscribe((s) => {
    const name = typeof s.value === 'string' ? s.value : Object.keys(s.value)[0]!;
    if (seen.at(-1) !== name) seen.push(name);
  });
  actor.start();
  const snap = () => actor.getSnapshot();
  return {
    actor,
    clock,
    log,
    notices,
    verified,
    seen,
    snap,
    state: (): SessionState => stateName(snap().value),
    ctx: () => snap().context,
    /** A hello of `peer` (each peer its own source address unless one is given). */
    hello: (peer: string, op: 'login' | 'enrol' = 'login', source = `source-${peer}`) => actor.send({ type: 'hello', peer, op, source }),
    proof: (peer: string, proof: ProofPayload) => actor.send({ type: 'proof', peer, proof }),
    /** Clears the recorded calls and notices (to look at what one step did). */
    clear: () => {
      log.length = 0;
      notices.length = 0;
    },
  };
}
type Session = ReturnType<typeof start>;

/** Let the promise actor settle (its result travels through a few microtasks). */
const settle = () => new Promise<void>((r) => setImmediate(r));

/** Logs `account` in through `peer` (waiting or loggedOut → authenticated). */
async function login(s: Session, peer: string, account: number): Promise<void> {
  s.hello(peer);
  s.proof(peer, { account });
  await settle();
  assert.is(s.state(), 'authenticated');
  s.clear();
}

/** One failed proof of `peer` with `code` (through verifyProof). */
async function failOnce(s: Session, peer: string, code: string): Promise<void> {
  s.hello(peer);
  s.proof(peer, { code });
  await settle();
}

// ---- waiting → challenged ----------------------------------------------------------------------

test('waiting → challenged on hello: accept is called and the browsers hear confirmscan', () => {
  const s = start();
  assert.is(s.state(), 'waiting');
  assert.equal(s.snap().value, 'waiting');
  assert.equal(s.ctx(), {
    serverid: SRV,
    hsid: HSID,
    limits,
    handshakes: [],
    account: null,
    lastAccount: null,
    userContext: null,
    userinput: null,
    push: null,
    pinger: null,
    pingTime: 0,
    pings: 0,
  });

  s.hello('A', 'enrol');
  assert.is(s.state(), 'challenged');
  assert.equal(s.log, [['accept', { peer: 'A' }]]);
  assert.equal(s.notices, ['confirmscan']);
  assert.equal(s.ctx().handshakes, [{ peer: 'A', op: 'enrol', source: 'source-A', proving: false }]);
});

test('challenged: more hellos open handshakes of their own, up to 4 per session and 2 per source; past either SESSION_BUSY', () => {
  const s = start();
  s.hello('A', 'login', 'owner');
  s.clear();
  s.hello('B', 'login', 'stranger');
  s.hello('C', 'login', 'stranger');
  s.hello('D', 'login', 'stranger'); // a third from one source
  s.hello('A', 'login', 'owner'); // a second of the same connection
  assert.equal(s.log, [
    ['accept', { peer: 'B' }],
    ['accept', { peer: 'C' }],
    ['refuse', { peer: 'D', code: 'SESSION_BUSY' }],
    ['refuse', { peer: 'A', code: 'SESSION_BUSY' }],
  ]);
  assert.equal(s.notices, [], 'browsers heard confirmscan once, at the first');
  s.hello('E', 'login', 'owner');
  s.hello('F', 'login', 'elsewhere'); // a fifth
  assert.equal(s.log.slice(-2), [
    ['accept', { peer: 'E' }],
    ['refuse', { peer: 'F', code: 'SESSION_BUSY' }],
  ]);
  assert.equal(
    s.ctx().handshakes.map((h) => h.peer),
    ['A', 'B', 'C', 'E'],
  );
  assert.is(s.state(), 'challenged');
});

test("a stranger's silent hello holds nothing: the owner logs in beside it, and the stranger's proof then gets SESSION_BUSY", async () => {
  const s = start();
  s.hello('stranger', 'login', '192.0.2.66');
  s.hello('owner', 'login', '192.0.2.1');
  s.clear();
  s.proof('owner', { account: 7 });
  await settle();
  assert.is(s.state(), 'authenticated');
  assert.equal(s.log, [['confirm', { peer: 'owner', output: { account: 7 } }]]);
  assert.equal(s.notices, ['login']);
  assert.equal(s.ctx().handshakes, [], 'the login closed every handshake');
  // The stranger's handshake is over (the hub answers its proof SESSION_BUSY: it is not open).
  s.clear();
  s.proof('stranger', { account: 9 });
  await settle();
  assert.equal(s.verified.length, 1, "the stranger's proof was not checked");
  assert.is(s.ctx().account, 7);
});

test('first verified proof wins: proofs checked at once, the later success hears SESSION_BUSY, a failure its own code', async () => {
  const s = start();
  const slow = deferred<VerifyOutput>();
  const fast = deferred<VerifyOutput>();
  const bad = deferred<VerifyOutput>();
  s.hello('A');
  s.hello('B');
  s.hello('C');
  s.clear();
  s.proof('A', { wait: slow });
  s.proof('B', { wait: fast });
  s.proof('C', { wait: bad });
  assert.is(s.state(), 'verifying');
  assert.equal(
    s.verified.map((v) => v.op),
    ['login', 'login', 'login'],
    'all three are being checked',
  );
  fast.resolve({ account: 2 });
  await settle();
  assert.is(s.state(), 'authenticated');
  assert.is(s.ctx().account, 2);
  assert.is(s.ctx().pinger, 'B');
  slow.resolve({ account: 1 });
  bad.reject(coded('BAD_SIGNATURE'));
  await settle();
  assert.equal(s.log, [
    ['confirm', { peer: 'B', output: { account: 2 } }],
    ['refuse', { peer: 'A', code: 'SESSION_BUSY' }],
    ['refuse', { peer: 'C', code: 'BAD_SIGNATURE' }],
  ]);
  assert.equal(s.notices, ['login']);
  assert.is(s.ctx().account, 2, 'the later success changed nothing');
});

test('verifying: a hello is refused SESSION_BUSY; another open handshake may still send its proof', async () => {
  const s = start();
  const wait = deferred<VerifyOutput>();
  s.hello('A');
  s.hello('B');
  s.proof('A', { wait });
  assert.is(s.state(), 'verifying');
  s.clear();
  s.hello('C');
  assert.equal(s.log, [['refuse', { peer: 'C', code: 'SESSION_BUSY' }]]);
  // A fails; B's handshake is still open: back to challenged, not waiting.
  wait.reject(coded('BAD_SIGNATURE'));
  await settle();
  assert.is(s.state(), 'challenged');
  assert.equal(s.notices, [], 'no cancel while a handshake is open');
  s.proof('B', { account: 4 });
  await settle();
  assert.is(s.state(), 'authenticated');
  assert.equal(s.log.at(-1), ['confirm', { peer: 'B', output: { account: 4 } }]);
});

test('authenticated: a hello is refused SESSION_BUSY', async () => {
  const s = start();
  await login(s, 'A', 7);
  s.hello('B', 'login');
  s.hello('C', 'enrol');
  assert.equal(s.log, [
    ['refuse', { peer: 'B', code: 'SESSION_BUSY' }],
    ['refuse', { peer: 'C', code: 'SESSION_BUSY' }],
  ]);
  assert.equal(s.notices, []);
  assert.is(s.state(), 'authenticated');
  assert.is(s.ctx().account, 7);
});

// ---- challenged → waiting ----------------------------------------------------------------------

test('challenged → waiting when the last app declines (cancel once); a decline of another app is ignored', () => {
  const s = start();
  s.hello('A');
  s.hello('B');
  s.clear();
  s.actor.send({ type: 'decline', peer: 'X' });
  s.actor.send({ type: 'decline', peer: 'A' });
  assert.is(s.state(), 'challenged', 'B is still open');
  assert.equal(s.notices, []);

  s.actor.send({ type: 'decline', peer: 'B' });
  assert.equal(s.snap().value, 'waiting');
  assert.equal(s.notices, ['cancel']);
  assert.equal(s.log, [], 'a decline is not refused');
  assert.equal(s.ctx().handshakes, []);
  // Another app may answer now.
  s.hello('C');
  assert.is(s.state(), 'challenged');
});

test('a decline that reports a push mutes only the pushed accounts its connection has proven (a stranger mutes nothing)', () => {
  const s = start();
  s.actor.send({ type: 'provoke', accounts: [3, 4] });
  s.hello('stranger');
  s.hello('owner');
  s.clear();
  s.actor.send({ type: 'decline', peer: 'stranger', report: true, reporter: [] });
  s.actor.send({ type: 'decline', peer: 'owner', report: true, reporter: [4, 9] });
  assert.equal(s.log, [['mute', { accounts: [4] }]]);
  assert.is(s.state(), 'waiting');
  assert.is(s.ctx().push, null, 'the push is answered');
});

test('challenged → waiting when the app connection goes away (abandon)', () => {
  const s = start();
  s.hello('A');
  s.clear();
  s.actor.send({ type: 'abandon', peer: 'B' });
  assert.is(s.state(), 'challenged');

  s.actor.send({ type: 'abandon', peer: 'A' });
  assert.is(s.state(), 'waiting');
  assert.equal(s.notices, ['cancel']);
  assert.equal(s.log, []);
  assert.equal(s.ctx().handshakes, []);
});

test('each handshake has its own challenge limit: challenged → waiting when the last one passes; a late proof is ignored', async () => {
  const s = start();
  s.clock.increment(1000);
  s.hello('A');
  s.clock.increment(10_000);
  s.hello('B');
  s.clear();
  s.clock.increment(limits.challenge - 10_000);
  assert.is(s.state(), 'challenged');
  assert.equal(
    s.ctx().handshakes.map((h) => h.peer),
    ['B'],
    "A's limit passed",
  );
  assert.equal(s.notices, []);
  s.clock.increment(10_000);
  assert.equal(s.snap().value, 'waiting');
  assert.equal(s.notices, ['cancel']);
  assert.equal(s.log, []);

  s.proof('A', { account: 1 });
  await settle();
  assert.is(s.state(), 'waiting');
  assert.equal(s.verified, [], 'the late proof was not checked');
});

test('challenged → verifying → waiting when the proof fails: refused with its code, noaccounts for UNKNOWN_ACCOUNT, cancel otherwise', async () => {
  const s = start();
  const codes = ['BAD_SIGNATURE', 'UNKNOWN_ACCOUNT', 'ACCOUNT_BLOCKED', 'SECOND_FACTOR_REQUIRED'];
  for (const code of codes) {
    s.clear();
    s.hello('A');
    s.proof('A', { code });
    assert.is(s.state(), 'verifying');
    await settle();
    assert.equal(s.snap().value, 'waiting', code);
    assert.equal(
      s.log,
      [
        ['accept', { peer: 'A' }],
        ['refuse', { peer: 'A', code }],
      ],
      code,
    );
    assert.equal(s.notices, ['confirmscan', code === 'UNKNOWN_ACCOUNT' ? 'noaccounts' : 'cancel'], code);
    assert.equal(s.ctx().handshakes, []);
    assert.is(s.ctx().account, null);
  }
  // A verifier that throws something without a code: INTERNAL.
  s.clear();
  s.hello('A');
  s.proof('A', { error: true });
  await settle();
  assert.equal(s.log.at(-1), ['refuse', { peer: 'A', code: 'INTERNAL' }]);
  assert.equal(s.notices, ['confirmscan', 'cancel']);
  assert.is(s.state(), 'waiting');
  assert.ok(
    s.seen.every((x) => (SESSION_STATES as readonly string[]).includes(x)),
    s.seen.join(','),
  );
  assert.equal(s.verified[0], { serverid: SRV, hsid: HSID, op: 'login', proof: { code: 'BAD_SIGNATURE' } });
});

test("failed proofs never lock the session: a stranger's five bad proofs, then the owner logs in at once", async () => {
  const s = start();
  for (let i = 0; i < 5; i++) {
    s.hello(`stranger-${i}`, 'login', '192.0.2.66');
    if (i % 2) s.actor.send({ type: 'unverified', peer: `stranger-${i}`, code: 'BAD_BOX' });
    else s.proof(`stranger-${i}`, { code: 'UNKNOWN_ACCOUNT' });
    await settle();
    assert.is(s.state(), 'waiting');
  }
  s.clear();
  s.hello('owner');
  assert.equal(s.log, [['accept', { peer: 'owner' }]]);
  s.proof('owner', { account: 2 });
  await settle();
  assert.is(s.state(), 'authenticated');
});

test('challenged → waiting on `unverified` before any check (a proof whose box did not open): refused BAD_BOX, not verified', () => {
  const s = start();
  s.hello('A');
  s.clear();
  s.actor.send({ type: 'unverified', peer: 'B', code: 'BAD_BOX' });
  assert.is(s.state(), 'challenged', 'an outcome for another app does not end this handshake');
  assert.equal(s.log, [['refuse', { peer: 'B', code: 'BAD_BOX' }]], 'it still reaches its app');

  s.clear();
  s.actor.send({ type: 'unverified', peer: 'A', code: 'BAD_BOX' });
  assert.equal(s.snap().value, 'waiting');
  assert.equal(s.log, [['refuse', { peer: 'A', code: 'BAD_BOX' }]]);
  assert.equal(s.notices, ['cancel']);
  assert.equal(s.ctx().handshakes, []);
  assert.equal(s.verified, []);
});

test('challenged: a proof from a different app is ignored', async () => {
  const s = start();
  s.hello('A');
  s.clear();
  s.proof('B', { account: 9 });
  await settle();
  assert.is(s.state(), 'challenged');
  assert.equal(s.verified, []);
  assert.equal(s.log, []);
  assert.equal(s.notices, []);
});

// ---- verifying → authenticated -----------------------------------------------------------------

test('verifying → authenticated: confirm gets the output, account and lastAccount are set, browsers hear login', async () => {
  const s = start();
  await failOnce(s, 'A', 'BAD_SIGNATURE');
  s.clear();

  s.hello('A', 'enrol');
  s.proof('A', { account: 7, userinput: 'typed on the phone' });
  assert.is(s.state(), 'verifying');
  assert.is(s.ctx().account, null);
  await settle();
  assert.is(s.state(), 'authenticated');
  assert.equal(s.verified.at(-1), { serverid: SRV, hsid: HSID, op: 'enrol', proof: { account: 7, userinput: 'typed on the phone' } });
  assert.equal(s.log, [
    ['accept', { peer: 'A' }],
    ['confirm', { peer: 'A', output: { account: 7, userinput: 'typed on the phone' } }],
  ]);
  assert.equal(s.notices, ['confirmscan', 'login']);
  const ctx = s.ctx();
  assert.is(ctx.account, 7);
  assert.is(ctx.lastAccount, 7);
  assert.is(ctx.userinput, 'typed on the phone');
  assert.equal(ctx.handshakes, []);
  assert.is(ctx.pinger, 'A');
});

// ---- authenticated → loggedOut -----------------------------------------------------------------

test('authenticated → loggedOut on logout: browsers hear logout, account cleared, lastAccount kept', async () => {
  const s = start();
  await login(s, 'A', 7);
  s.actor.send({ type: 'logout' });
  assert.is(s.state(), 'loggedOut');
  assert.equal(s.notices, ['logout']);
  assert.equal(s.log, []);
  assert.is(s.ctx().account, null);
  assert.is(s.ctx().lastAccount, 7, 'canprovoke: the last account is kept');
  // A second logout does nothing more.
  s.actor.send({ type: 'logout' });
  assert.equal(s.notices, ['logout']);
});

test('authenticated → loggedOut when the logged-in account is blocked: lastAccount kept', async () => {
  const s = start();
  await login(s, 'A', 7);
  s.actor.send({ type: 'revoke', account: 7, deleted: false });
  assert.is(s.state(), 'loggedOut');
  assert.equal(s.notices, ['logout']);
  assert.is(s.ctx().account, null);
  assert.is(s.ctx().lastAccount, 7);
});

test('authenticated → loggedOut when the logged-in account is deleted: lastAccount cleared', async () => {
  const s = start();
  await login(s, 'A', 7);
  s.actor.send({ type: 'revoke', account: 7, deleted: true });
  assert.is(s.state(), 'loggedOut');
  assert.equal(s.notices, ['logout']);
  assert.is(s.ctx().account, null);
  assert.is(s.ctx().lastAccount, null);
});

test('authenticated → loggedOut after the session limit (and not at the idle limit)', async () => {
  const s = start();
  await login(s, 'A', 7);
  s.clock.increment(limits.idle);
  assert.is(s.state(), 'authenticated', 'the idle limit does not end a login');
  s.clock.increment(limits.session - limits.idle - 1);
  assert.is(s.state(), 'authenticated');
  s.clock.increment(1);
  assert.is(s.state(), 'loggedOut');
  assert.equal(s.notices, ['logout']);
  assert.is(s.ctx().account, null);
  assert.is(s.ctx().lastAccount, 7);
});

test('a revoke of another account does nothing', async () => {
  const s = start();
  await login(s, 'A', 7);
  s.actor.send({ type: 'revoke', account: 8, deleted: false });
  s.actor.send({ type: 'revoke', account: 8, deleted: true });
  assert.is(s.state(), 'authenticated');
  assert.is(s.ctx().account, 7);
  assert.is(s.ctx().lastAccount, 7);
  assert.equal(s.notices, []);
  assert.equal(s.log, []);

  // Nor once logged out: only deleting the last account forgets it.
  s.actor.send({ type: 'logout' });
  s.clear();
  s.actor.send({ type: 'revoke', account: 8, deleted: true });
  s.actor.send({ type: 'revoke', account: 7, deleted: false });
  assert.is(s.state(), 'loggedOut');
  assert.is(s.ctx().lastAccount, 7);
  s.actor.send({ type: 'revoke', account: 7, deleted: true });
  assert.is(s.state(), 'loggedOut');
  assert.is(s.ctx().lastAccount, null);
  assert.equal(s.notices, []);
});

// ---- loggedOut → challenged --------------------------------------------------------------------

test('loggedOut → challenged on a new hello (re-login)', async () => {
  const s = start();
  await login(s, 'A', 7);
  s.actor.send({ type: 'logout' });
  s.clear();
  s.hello('B');
  assert.is(s.state(), 'challenged');
  assert.equal(s.log, [['accept', { peer: 'B' }]]);
  assert.equal(s.notices, ['confirmscan']);
  assert.equal(
    s.ctx().handshakes.map((h) => h.peer),
    ['B'],
  );
  assert.is(s.ctx().lastAccount, 7);
  s.proof('B', { account: 8 });
  await settle();
  assert.is(s.state(), 'authenticated');
  assert.is(s.ctx().account, 8);
  assert.is(s.ctx().lastAccount, 8);
});

// ---- → expired ---------------------------------------------------------------------------------

test('waiting → expired after the idle limit: the actor is done', () => {
  const s = start();
  s.clock.increment(limits.idle - 1);
  assert.is(s.state(), 'waiting');
  // Any handshake restarts the idle count from its return to waiting.
  s.hello('A');
  s.actor.send({ type: 'decline', peer: 'A' });
  s.clock.increment(limits.idle - 1);
  assert.is(s.state(), 'waiting');
  assert.is(s.snap().status, 'active');
  s.clock.increment(1);
  assert.is(s.state(), 'expired');
  assert.is(s.snap().status, 'done');
  assert.equal(s.notices, ['confirmscan', 'cancel'], 'expiring tells the browsers nothing');
  // A done actor ignores everything.
  s.clear();
  s.hello('B');
  assert.equal(s.log, []);
});

test('loggedOut → expired after the idle limit: the actor is done', async () => {
  const s = start();
  await login(s, 'A', 7);
  s.clock.increment(1000);
  s.actor.send({ type: 'logout' });
  s.clock.increment(limits.idle - 1);
  assert.is(s.state(), 'loggedOut');
  s.clock.increment(1);
  assert.is(s.state(), 'expired');
  assert.is(s.snap().status, 'done');
});

test('challenged and verifying do not expire by the idle limit; a check that never ends ends with its challenge limit', async () => {
  const s = start({ challenge: 2 * limits.idle });
  s.hello('A');
  s.clock.increment(limits.idle);
  assert.is(s.state(), 'challenged');
  s.clock.increment(limits.idle);
  assert.is(s.state(), 'waiting');

  const wait = deferred<VerifyOutput>();
  s.hello('A');
  s.proof('A', { wait });
  s.clock.increment(2 * limits.idle - 1);
  assert.is(s.state(), 'verifying');
  s.clock.increment(1);
  assert.is(s.state(), 'waiting', 'the proof started its limit again; it passed');
  s.clear();
  // Its outcome, when it comes, still reaches the app.
  wait.resolve({ account: 3 });
  await settle();
  assert.equal(s.log, [['refuse', { peer: 'A', code: 'SESSION_EXPIRED' }]]);
  assert.is(s.state(), 'waiting');
});

// ---- where the machine differs from §2 ---------------------------------------------------------

test('continuous: authenticated → loggedOut when no pong arrives within pingTime; answered pings keep it', async () => {
  const s = start();
  const pingTime = 30_000; // a server with pingTime 30 s
  s.hello('A');
  s.proof('A', { account: 7, pingTime });
  await settle();
  assert.equal(s.snap().value, { authenticated: 'pinging' });
  assert.equal(s.log.at(-1), ['ping', { peer: 'A', n: 1 }]);
  s.actor.send({ type: 'pong', peer: 'B', n: 1 }); // another connection: ignored
  s.actor.send({ type: 'pong', peer: 'A', n: 9 }); // a wrong number: ignored
  assert.equal(s.snap().value, { authenticated: 'pinging' });
  s.actor.send({ type: 'pong', peer: 'A', n: 1 });
  assert.equal(s.snap().value, { authenticated: 'ponged' });
  s.clock.increment(pingTime / 2);
  assert.equal(s.log.at(-1), ['ping', { peer: 'A', n: 2 }]);
  s.clear();
  s.clock.increment(pingTime - 1);
  assert.is(s.state(), 'authenticated');
  s.clock.increment(1);
  assert.is(s.state(), 'loggedOut');
  assert.equal(s.notices, ['logout']);
});

test('one-shot: with pingTime 0 no ping goes out and the login lasts its session limit', async () => {
  const s = start();
  await login(s, 'A', 7);
  assert.equal(s.snap().value, { authenticated: 'oneShot' });
  s.clock.increment(limits.session - 1);
  assert.is(s.state(), 'authenticated');
  assert.ok(!s.log.some(([name]) => name === 'ping'));
});

test('an event that keeps the state (setContext) restarts the idle limit', () => {
  const s = start();
  s.clock.increment(limits.idle - 1);
  s.actor.send({ type: 'setContext', userContext: { sessioninfo: { ip: '192.0.2.1' } } });
  assert.equal(s.ctx().userContext, { sessioninfo: { ip: '192.0.2.1' } });
  s.clock.increment(limits.idle - 1);
  assert.is(s.snap().status, 'active');
  s.clock.increment(1);
  assert.is(s.snap().status, 'done');
});

test.run();
