/**
 * The connection machine (machines/connection.ts) against PROTOCOL.md §4: one test per
 * transition, the refusals (frames in the wrong state), the challenge limit with XState's
 * SimulatedClock (no real time), handshakes one after the other on a sealed connection, listen,
 * and the peer going away in every state. Every action is a recording stub: the tests check what
 * ran, with which params, in which order, and the state it left.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock, createActor } from 'xstate';
import {
  CLOSE_POLICY,
  CONNECTION_STATES,
  DEFAULT_CHALLENGE_LIMIT,
  connectionMachine,
  handshakeState,
  stateName,
  type ChannelKeys,
  type ConnectionEvent,
  type ConnectionInput,
  type Handshake,
  type HandshakeState,
} from '../../machines/connection.ts';

const SRV = 'c2VydmVyaWQtMTYtYnl0ZQ';
const HSID = 'aHNpZC1vZi10aGUtc2Vzc2lvbi0zMi1ieXRlcy1sb25nIQ';
const HSID2 = 'YW5vdGhlci1oc2lkLW9mLTMyLWJ5dGVzLWxvbmctLS0tIQ';

const keys = (n: number): ChannelKeys => ({ kS: new Uint8Array(32).fill(n), kC: new Uint8Array(32).fill(n + 100) });
const K1 = keys(1);
const K2 = keys(2);
const K3 = keys(3);

const ACTIONS = [
  'forwardHello',
  'sendChallenge',
  'forwardProof',
  'forwardDecline',
  'sendResult',
  'seal',
  'listen',
  'refuse',
  'abandonHandshake',
  'forwardLogout',
  'forwardPong',
  'forwardAnswer',
  'send',
  'drop',
  'close',
  'release',
] as const;
type ActionName = (typeof ACTIONS)[number];
type Call = [ActionName, unknown];

const login = (hsid = HSID, k = K1): Handshake => ({ op: 'login', serverid: SRV, hsid, keys: k });
const enrol = (hsid = HSID, k = K1): Handshake => ({ op: 'enrol', serverid: SRV, hsid, keys: k });
const listen = (k = K1): Handshake => ({ op: 'listen', serverid: SRV, keys: k });
const hello = (hs: Handshake): ConnectionEvent => ({ type: 'hello', ...hs });
const BOX = new Uint8Array([1, 2, 3]);

/** The frames that travel only on a sealed connection (§4.2, §4.3). */
const SEALED_ONLY: ConnectionEvent[] = [
  { type: 'logout', hsid: HSID },
  { type: 'pong', n: 1 },
  { type: 'approve', tid: 'tx-1', sig: new Uint8Array(64), sf: 'pin' },
  { type: 'reject', tid: 'tx-1' },
];

function start(input: ConnectionInput = {}) {
  const clock = new SimulatedClock();
  const log: Call[] = [];
  /** Every observable state value the actor went through (to show `closing` never shows). */
  const seen: string[] = [];
  const record = (name: ActionName) => (_: unknown, params: unknown) => {
    log.push([name, params]);
  };
  const actions = Object.fromEntries(ACTIONS.map((name) => [name, record(name)])) as Record<ActionName, (_: unknown, params: unknown) => void>;
  const actor = createActor(connectionMachine.provide({ actions }), { input, clock });
  actor.subscribe((s) => {
    const v = JSON.stringify(s.value);
    if (seen.at(-1) !== v) seen.push(v);
  });
  actor.start();
  const snap = () => actor.getSnapshot();
  return {
    actor,
    clock,
    log,
    seen,
    snap,
    send: (...events: ConnectionEvent[]) => {
      for (const e of events) actor.send(e);
    },
    value: () => snap().value,
    state: () => stateName(snap().value),
    ctx: () => snap().context,
    /** The names of the actions recorded so far. */
    names: () => log.map(([name]) => name),
    clear: () => {
      log.length = 0;
    },
  };
}
type Conn = ReturnType<typeof start>;

/** Runs a handshake from idle to `target` (in the current phase), then clears the log. */
function runTo(c: Conn, target: HandshakeState, hs: Handshake = login()): void {
  if (target !== 'idle') c.send(hello(hs));
  if (target === 'challenged' || target === 'verifying') c.send({ type: 'accepted' });
  if (target === 'verifying') c.send({ type: 'proof', box: BOX });
  assert.is(handshakeState(c.value()), target);
  c.clear();
}

/** Completes a first handshake with `k` (the connection is then sealed with `k`), then clears the log. */
function seal(c: Conn, k = K1, hs: Handshake = login(HSID, k)): void {
  runTo(c, 'verifying', hs);
  c.send({ type: 'confirmed', account: 7 });
  assert.equal(c.value(), { sealed: 'idle' });
  assert.is(c.ctx().keys, k);
  c.clear();
}

/** A fresh connection in `phase`, at `target`, with a login handshake of HSID2 (sealed) or HSID. */
function at(phase: 'unsealed' | 'sealed', target: HandshakeState, hs?: Handshake): Conn {
  const c = start();
  if (phase === 'sealed') seal(c);
  runTo(c, target, hs ?? (phase === 'sealed' ? login(HSID2, K2) : login()));
  assert.equal(c.value(), { [phase]: target });
  return c;
}

const PHASES = ['unsealed', 'sealed'] as const;
const STATES: HandshakeState[] = ['idle', 'helloed', 'challenged', 'verifying'];

// ---- the start -----------------------------------------------------------------------------------

test('starts in unsealed.idle with the default challenge limit (60 s), no handshake, no keys', () => {
  const c = start();
  assert.equal(c.value(), { unsealed: 'idle' });
  assert.is(c.state(), 'idle');
  assert.equal(c.ctx(), { challengeLimit: DEFAULT_CHALLENGE_LIMIT, handshake: null, keys: null, listening: false });
  assert.is(DEFAULT_CHALLENGE_LIMIT, 60_000);
  assert.equal(c.log, []);
  assert.is(start({ challengeLimit: 5_000 }).ctx().challengeLimit, 5_000);
});

test('stateName and handshakeState read snapshot values', () => {
  assert.equal([...CONNECTION_STATES], ['idle', 'helloed', 'challenged', 'verifying', 'sealed', 'closed']);
  assert.is(stateName({ unsealed: 'challenged' }), 'challenged');
  assert.is(stateName({ sealed: 'verifying' }), 'sealed');
  assert.is(stateName('closed'), 'closed');
  assert.is(handshakeState({ unsealed: 'helloed' }), 'helloed');
  assert.is(handshakeState({ sealed: 'verifying' }), 'verifying');
  assert.is(handshakeState('closed'), null);
});

// ---- the first handshake: idle → helloed → challenged → verifying → sealed ------------------------

test('idle → helloed on hello: the handshake is kept and handed on (forwardHello)', () => {
  const c = start();
  c.send(hello(enrol()));
  assert.equal(c.value(), { unsealed: 'helloed' });
  assert.equal(c.log, [['forwardHello', enrol()]]);
  assert.equal(c.ctx().handshake, enrol());
  assert.is(c.ctx().keys, null, 'a handshake that has not completed seals nothing');
});

test('helloed → challenged on accepted: sendChallenge with the handshake (its keys seal the challenge box)', () => {
  const c = at('unsealed', 'helloed');
  c.send({ type: 'accepted' });
  assert.equal(c.value(), { unsealed: 'challenged' });
  assert.equal(c.log, [['sendChallenge', login()]]);
  assert.equal(c.ctx().handshake, login());
});

test('helloed → idle on refused: the app hears the code, the handshake is gone, a new hello may follow', () => {
  for (const code of ['UNKNOWN_SERVER', 'UNKNOWN_SESSION', 'SESSION_BUSY', 'SESSION_EXPIRED', 'RATE_LIMITED', 'ENROL_USED'] as const) {
    const c = at('unsealed', 'helloed');
    c.send({ type: 'refused', code });
    assert.equal(c.value(), { unsealed: 'idle' }, code);
    assert.equal(c.log, [['refuse', { code }]], code);
    assert.is(c.ctx().handshake, null);
    c.clear();
    c.send(hello(login(HSID2, K2)));
    assert.equal(c.log, [['forwardHello', login(HSID2, K2)]]);
  }
});

test('challenged → verifying on proof: forwardProof with the handshake and the box', () => {
  const c = at('unsealed', 'challenged');
  c.send({ type: 'proof', box: BOX });
  assert.equal(c.value(), { unsealed: 'verifying' });
  assert.equal(c.log, [['forwardProof', { handshake: login(), box: BOX }]]);
});

test('challenged → idle on decline: the session hears it (report or not); no answer to the app', () => {
  for (const [event, report] of [
    [{ type: 'decline' }, false],
    [{ type: 'decline', report: false }, false],
    [{ type: 'decline', report: true }, true],
  ] as const) {
    const c = at('unsealed', 'challenged');
    c.send(event);
    assert.equal(c.value(), { unsealed: 'idle' });
    assert.equal(c.log, [['forwardDecline', { handshake: login(), report }]]);
    assert.is(c.ctx().handshake, null);
  }
});

test('challenged → idle after the challenge limit: the session hears abandonHandshake, the app SESSION_EXPIRED', () => {
  const c = start();
  c.clock.increment(1_000);
  runTo(c, 'challenged');
  c.clock.increment(DEFAULT_CHALLENGE_LIMIT - 1);
  assert.equal(c.value(), { unsealed: 'challenged' });
  assert.equal(c.log, []);
  c.clock.increment(1);
  assert.equal(c.value(), { unsealed: 'idle' });
  assert.equal(c.log, [
    ['abandonHandshake', login()],
    ['refuse', { code: 'SESSION_EXPIRED' }],
  ]);
  assert.is(c.ctx().handshake, null);

  // A late proof has no challenge out.
  c.clear();
  c.send({ type: 'proof', box: BOX });
  assert.equal(c.log, [['refuse', { code: 'BAD_MESSAGE' }]]);
  assert.equal(c.value(), { unsealed: 'idle' });
});

test('the challenge limit is a deadline from the input, counted from the challenge; a proof in time stops it', () => {
  const c = start({ challengeLimit: 5_000 });
  c.send(hello(login()));
  c.clock.increment(10_000); // helloed has no deadline: the session answers
  assert.equal(c.value(), { unsealed: 'helloed' });
  c.send({ type: 'accepted' });
  c.clock.increment(4_999);
  assert.equal(c.value(), { unsealed: 'challenged' });
  c.send({ type: 'proof', box: BOX });
  c.clock.increment(60 * DEFAULT_CHALLENGE_LIMIT);
  assert.equal(c.value(), { unsealed: 'verifying' }, 'verifying waits for its answer');
  assert.not.ok(c.names().includes('refuse'));
  c.send({ type: 'confirmed', account: 3 });
  assert.is(c.state(), 'sealed');

  // A new challenge gets its own full limit.
  const d = start({ challengeLimit: 5_000 });
  runTo(d, 'challenged');
  d.clock.increment(5_000);
  assert.equal(d.value(), { unsealed: 'idle' });
  runTo(d, 'challenged');
  d.clock.increment(4_999);
  assert.equal(d.value(), { unsealed: 'challenged' });
  d.clock.increment(1);
  assert.equal(d.value(), { unsealed: 'idle' });
});

test('challenged → idle on refused (the challenge could not be made): the app hears the code, the session abandonHandshake', () => {
  const c = at('unsealed', 'challenged');
  c.send({ type: 'refused', code: 'UNKNOWN_SERVER' });
  assert.equal(c.value(), { unsealed: 'idle' });
  assert.equal(c.log, [
    ['refuse', { code: 'UNKNOWN_SERVER' }],
    ['abandonHandshake', login()],
  ]);
  assert.is(c.ctx().handshake, null);
});

test('verifying → sealed on confirmed (the first completed handshake): sendResult, then seal with its keys', () => {
  const c = at('unsealed', 'verifying', enrol());
  c.send({ type: 'confirmed', account: 42 });
  assert.equal(c.value(), { sealed: 'idle' });
  assert.is(c.state(), 'sealed');
  // The result goes out before the seal: it is the last plain frame (§4.2).
  assert.equal(c.log, [
    ['sendResult', { handshake: enrol(), account: 42 }],
    ['seal', { keys: K1 }],
  ]);
  assert.is(c.ctx().keys, K1);
  assert.is(c.ctx().handshake, null);
  assert.is(c.ctx().listening, false);
});

test('verifying → idle on refused (the proof failed): the app hears the code; nothing is sealed; the next handshake may seal', () => {
  for (const code of ['BAD_BOX', 'BAD_MESSAGE', 'BAD_SIGNATURE', 'UNKNOWN_ACCOUNT', 'ACCOUNT_BLOCKED', 'SECOND_FACTOR_REQUIRED', 'SESSION_BUSY', 'SESSION_EXPIRED'] as const) {
    const c = at('unsealed', 'verifying');
    c.send({ type: 'refused', code });
    assert.equal(c.value(), { unsealed: 'idle' }, code);
    assert.equal(c.log, [['refuse', { code }]], code);
    assert.is(c.ctx().keys, null);
    assert.is(c.ctx().handshake, null);
  }
  const c = at('unsealed', 'verifying', login(HSID, K1));
  c.send({ type: 'refused', code: 'BAD_SIGNATURE' });
  runTo(c, 'verifying', login(HSID2, K2));
  c.send({ type: 'confirmed', account: 5 });
  assert.equal(c.log.at(-1), ['seal', { keys: K2 }], 'the first COMPLETED handshake seals, not the first one');
  assert.is(c.ctx().keys, K2);
});

// ---- frames in the wrong state -------------------------------------------------------------------

for (const phase of PHASES) {
  test(`${phase}: a proof or a decline with no challenge out (idle, helloed) is refused BAD_MESSAGE and changes nothing`, () => {
    for (const target of ['idle', 'helloed'] as const) {
      for (const event of [{ type: 'proof', box: BOX }, { type: 'decline' }, { type: 'decline', report: true }] as const) {
        const c = at(phase, target);
        const before = c.ctx();
        c.send(event);
        assert.equal(c.value(), { [phase]: target }, `${target} ${event.type}`);
        assert.equal(c.log, [['refuse', { code: 'BAD_MESSAGE' }]]);
        assert.equal(c.ctx(), before);
      }
    }
  });

  test(`${phase}: a second hello while a handshake runs (helloed, challenged, verifying) is refused BAD_MESSAGE; the first goes on`, () => {
    for (const target of ['helloed', 'challenged', 'verifying'] as const) {
      const c = at(phase, target);
      const running = c.ctx().handshake;
      c.send(hello(login(HSID2, K3)), hello(listen(K3)));
      assert.equal(c.value(), { [phase]: target }, target);
      assert.equal(c.log, [
        ['refuse', { code: 'BAD_MESSAGE' }],
        ['refuse', { code: 'BAD_MESSAGE' }],
      ]);
      assert.equal(c.ctx().handshake, running);
    }
    // ... and it completes with its own handshake.
    const c = at(phase, 'verifying');
    c.send(hello(login(HSID2, K3)));
    c.send({ type: 'confirmed', account: 9 });
    assert.equal(c.value(), { sealed: 'idle' });
    assert.equal(c.log[1]![0], 'sendResult');
    assert.ok((c.log[1]![1] as { handshake: Handshake }).handshake.keys !== K3);
  });

  test(`${phase}: while verifying, a proof or a decline is refused BAD_MESSAGE`, () => {
    const c = at(phase, 'verifying');
    c.send({ type: 'proof', box: BOX }, { type: 'decline' });
    assert.equal(c.value(), { [phase]: 'verifying' });
    assert.equal(c.log, [
      ['refuse', { code: 'BAD_MESSAGE' }],
      ['refuse', { code: 'BAD_MESSAGE' }],
    ]);
  });

  test(`${phase}: a frame that cannot be read (inner map, when sealed) is refused with its code in every state; nothing changes`, () => {
    for (const target of STATES) {
      for (const code of ['BAD_FRAME', 'BAD_MESSAGE', 'UNSUPPORTED_VERSION'] as const) {
        const c = at(phase, target);
        const before = c.ctx();
        c.send({ type: 'malformed', code });
        assert.equal(c.value(), { [phase]: target });
        assert.equal(c.log, [['refuse', { code }]]);
        assert.equal(c.ctx(), before);
      }
    }
  });

  test(`${phase}: answers that come when nothing waits for them (stale accepted, confirmed, refused) change nothing`, () => {
    const stale: Record<HandshakeState, ConnectionEvent[]> = {
      idle: [{ type: 'accepted' }, { type: 'confirmed', account: 1 }, { type: 'refused', code: 'SESSION_EXPIRED' }],
      helloed: [{ type: 'confirmed', account: 1 }],
      challenged: [{ type: 'accepted' }, { type: 'confirmed', account: 1 }],
      verifying: [{ type: 'accepted' }],
    };
    for (const target of STATES) {
      const c = at(phase, target);
      const before = c.ctx();
      c.send(...stale[target]);
      assert.equal(c.value(), { [phase]: target }, target);
      assert.equal(c.log, [], target);
      assert.equal(c.ctx(), before);
    }
  });
}

test('a message that comes with a malformed frame or a refusal goes with the refusal; without one the code says it all', () => {
  const c = at('unsealed', 'helloed');
  c.send({ type: 'malformed', code: 'BAD_MESSAGE', message: 'hello/ea: Expected Uint8Array' });
  c.send({ type: 'refused', code: 'UNKNOWN_SERVER', message: 'No such server' });
  assert.equal(c.log, [
    ['refuse', { code: 'BAD_MESSAGE', message: 'hello/ea: Expected Uint8Array' }],
    ['refuse', { code: 'UNKNOWN_SERVER', message: 'No such server' }],
  ]);
  assert.equal(c.value(), { unsealed: 'idle' });
  c.clear();
  c.send({ type: 'malformed', code: 'BAD_FRAME' });
  assert.equal(c.log, [['refuse', { code: 'BAD_FRAME' }]]);
});

test('unsealed: logout, pong, approve, reject and a sealed frame are refused BAD_MESSAGE in every state; nothing is handed on', () => {
  for (const target of STATES) {
    const c = at('unsealed', target);
    const before = c.ctx();
    c.send(...SEALED_ONLY, { type: 'unopened' });
    assert.equal(c.value(), { unsealed: target }, target);
    assert.equal(
      c.log,
      Array.from({ length: 5 }, () => ['refuse', { code: 'BAD_MESSAGE' }]),
      target,
    );
    assert.equal(c.ctx(), before);
  }
});

test('unsealed: a frame the NS has for the phone (ping, push, deleted, transaction) is dropped, not sent', () => {
  for (const target of STATES) {
    const c = at('unsealed', target);
    for (const kind of ['ping', 'push', 'deleted', 'transaction'] as const) c.send({ type: 'deliver', kind, frame: { t: kind } });
    assert.equal(c.log, [
      ['drop', { kind: 'ping' }],
      ['drop', { kind: 'push' }],
      ['drop', { kind: 'deleted' }],
      ['drop', { kind: 'transaction' }],
    ]);
    assert.equal(c.value(), { unsealed: target });
  }
});

// ---- the sealed connection -----------------------------------------------------------------------

test('sealed: logout, pong, approve and reject are handed on in every sub-state, the handshake undisturbed', () => {
  for (const target of STATES) {
    const c = at('sealed', target);
    const before = c.ctx();
    c.send(...SEALED_ONLY);
    assert.equal(c.value(), { sealed: target }, target);
    assert.equal(c.log, [
      ['forwardLogout', { hsid: HSID }],
      ['forwardPong', { n: 1 }],
      ['forwardAnswer', { type: 'approve', tid: 'tx-1', sig: new Uint8Array(64), sf: 'pin' }],
      ['forwardAnswer', { type: 'reject', tid: 'tx-1' }],
    ]);
    assert.equal(c.ctx(), before);
  }
});

test('sealed: a frame the NS has for the phone is sent, in every sub-state', () => {
  for (const target of STATES) {
    const c = at('sealed', target);
    c.send({ type: 'deliver', kind: 'push', frame: { t: 'push', hsid: HSID } }, { type: 'deliver', kind: 'ping', frame: { t: 'ping', n: 1 } });
    assert.equal(c.log, [
      ['send', { kind: 'push', frame: { t: 'push', hsid: HSID } }],
      ['send', { kind: 'ping', frame: { t: 'ping', n: 1 } }],
    ]);
    assert.equal(c.value(), { sealed: target });
  }
});

test('sealed: a frame that is not sealed (plain) closes the connection with 1008 in every sub-state; an open session handshake is abandoned', () => {
  assert.is(CLOSE_POLICY, 1008);
  for (const target of STATES) {
    const c = at('sealed', target);
    c.send({ type: 'plain' });
    assert.is(c.value(), 'closed', target);
    assert.is(c.snap().status, 'done');
    assert.equal(c.log, [['close', { code: 1008, reason: 'BAD_FRAME' }], ...(target === 'idle' ? [] : [['abandonHandshake', login(HSID2, K2)]]), ['release', undefined]], target);
    assert.not.ok(c.seen.includes('"closing"'), 'closing is never observed');
  }
});

test('sealed: a sealed frame that does not open with the next counter (replayed, dropped, reordered) closes with 1008', () => {
  for (const target of STATES) {
    const c = at('sealed', target);
    c.send({ type: 'unopened' });
    assert.is(c.value(), 'closed', target);
    assert.equal(c.log, [['close', { code: 1008, reason: 'BAD_BOX' }], ...(target === 'idle' ? [] : [['abandonHandshake', login(HSID2, K2)]]), ['release', undefined]]);
    // Nothing after the close reaches the machine's actions.
    c.clear();
    c.send(hello(login()), { type: 'plain' }, { type: 'gone' });
    assert.equal(c.log, []);
  }
});

test('two handshakes one after the other on a sealed connection: each runs idle → helloed → challenged → verifying → idle; the keys of the first stay', () => {
  const c = start();
  seal(c, K1, login(HSID, K1));

  // Second: an enrolment on another session, inside the sealed channel.
  c.send(hello(enrol(HSID2, K2)));
  assert.equal(c.value(), { sealed: 'helloed' });
  c.send({ type: 'accepted' });
  assert.equal(c.value(), { sealed: 'challenged' });
  c.send({ type: 'proof', box: BOX });
  assert.equal(c.value(), { sealed: 'verifying' });
  c.send({ type: 'confirmed', account: 8 });
  assert.equal(c.value(), { sealed: 'idle' });
  assert.equal(c.log, [
    ['forwardHello', enrol(HSID2, K2)],
    ['sendChallenge', enrol(HSID2, K2)],
    ['forwardProof', { handshake: enrol(HSID2, K2), box: BOX }],
    ['sendResult', { handshake: enrol(HSID2, K2), account: 8 }],
  ]);
  assert.is(c.ctx().keys, K1, 'a later handshake does not change the keys');
  assert.is(c.ctx().handshake, null);

  // Third: a login again.
  c.clear();
  runTo(c, 'verifying', login(HSID, K3));
  c.send({ type: 'confirmed', account: 7 });
  assert.equal(c.log, [['sendResult', { handshake: login(HSID, K3), account: 7 }]]);
  assert.is(c.ctx().keys, K1);
  assert.not.ok(c.names().includes('seal'));
});

test('sealed: a later handshake that is refused, declined or times out goes back to sealed.idle; the channel and its keys stay', () => {
  const refusedHello = at('sealed', 'helloed');
  refusedHello.send({ type: 'refused', code: 'SESSION_BUSY' });
  assert.equal(refusedHello.value(), { sealed: 'idle' });
  assert.equal(refusedHello.log, [['refuse', { code: 'SESSION_BUSY' }]]);

  const refusedProof = at('sealed', 'verifying');
  refusedProof.send({ type: 'refused', code: 'BAD_SIGNATURE' });
  assert.equal(refusedProof.value(), { sealed: 'idle' });
  assert.equal(refusedProof.log, [['refuse', { code: 'BAD_SIGNATURE' }]]);

  const noChallenge = at('sealed', 'challenged');
  noChallenge.send({ type: 'refused', code: 'UNKNOWN_SERVER' });
  assert.equal(noChallenge.value(), { sealed: 'idle' });
  assert.equal(noChallenge.log, [
    ['refuse', { code: 'UNKNOWN_SERVER' }],
    ['abandonHandshake', login(HSID2, K2)],
  ]);

  const declined = at('sealed', 'challenged');
  declined.send({ type: 'decline', report: true });
  assert.equal(declined.value(), { sealed: 'idle' });
  assert.equal(declined.log, [['forwardDecline', { handshake: login(HSID2, K2), report: true }]]);

  const late = at('sealed', 'challenged');
  late.clock.increment(DEFAULT_CHALLENGE_LIMIT - 1);
  assert.equal(late.value(), { sealed: 'challenged' });
  late.clock.increment(1);
  assert.equal(late.value(), { sealed: 'idle' });
  assert.equal(late.log, [
    ['abandonHandshake', login(HSID2, K2)],
    ['refuse', { code: 'SESSION_EXPIRED' }],
  ]);

  for (const c of [refusedHello, refusedProof, noChallenge, declined, late]) {
    assert.is(c.ctx().keys, K1);
    assert.is(c.ctx().handshake, null);
    assert.not.ok(c.names().includes('seal'));
    assert.not.ok(c.names().includes('close'));
  }
});

// ---- listen --------------------------------------------------------------------------------------

test('listen: a hello without hsid runs a handshake with no session; on success the result, the listen, then the seal', () => {
  const c = start();
  c.send(hello(listen(K1)));
  assert.equal(c.value(), { unsealed: 'helloed' });
  assert.equal(c.ctx().handshake, { op: 'listen', serverid: SRV, keys: K1 });
  c.send({ type: 'accepted' });
  c.send({ type: 'proof', box: BOX });
  c.send({ type: 'confirmed', account: 12 });
  assert.equal(c.value(), { sealed: 'idle' });
  assert.equal(c.log, [
    ['forwardHello', listen(K1)],
    ['sendChallenge', listen(K1)],
    ['forwardProof', { handshake: listen(K1), box: BOX }],
    ['sendResult', { handshake: listen(K1), account: 12 }],
    ['listen', { serverid: SRV, account: 12 }],
    ['seal', { keys: K1 }],
  ]);
  assert.is(c.ctx().listening, true);
  assert.is(c.ctx().keys, K1);
  // Pushes now go out.
  c.clear();
  c.send({ type: 'deliver', kind: 'push', frame: { t: 'push' } });
  assert.equal(c.log, [['send', { kind: 'push', frame: { t: 'push' } }]]);
});

test('listen: a decline, the challenge limit, a refusal and the peer going away tell no session', () => {
  const declined = at('unsealed', 'challenged', listen());
  declined.send({ type: 'decline', report: true });
  assert.equal(declined.value(), { unsealed: 'idle' });
  assert.equal(declined.log, []);

  const late = at('unsealed', 'challenged', listen());
  late.clock.increment(DEFAULT_CHALLENGE_LIMIT);
  assert.equal(late.value(), { unsealed: 'idle' });
  assert.equal(late.log, [['refuse', { code: 'SESSION_EXPIRED' }]]);

  const noChallenge = at('unsealed', 'challenged', listen());
  noChallenge.send({ type: 'refused', code: 'UNKNOWN_SERVER' });
  assert.equal(noChallenge.log, [['refuse', { code: 'UNKNOWN_SERVER' }]]);

  const failed = at('unsealed', 'verifying', listen());
  failed.send({ type: 'refused', code: 'UNKNOWN_ACCOUNT' });
  assert.equal(failed.value(), { unsealed: 'idle' });
  assert.equal(failed.log, [['refuse', { code: 'UNKNOWN_ACCOUNT' }]]);
  assert.is(failed.ctx().listening, false);

  for (const target of ['helloed', 'challenged', 'verifying'] as const) {
    const gone = at('unsealed', target, listen());
    gone.send({ type: 'gone' });
    assert.is(gone.value(), 'closed');
    assert.equal(gone.log, [['release', undefined]], target);
  }
});

test('listen on a sealed connection (a later handshake): the connection listens, the keys stay', () => {
  const c = at('sealed', 'verifying', listen(K2));
  c.send({ type: 'confirmed', account: 12 });
  assert.equal(c.value(), { sealed: 'idle' });
  assert.equal(c.log, [
    ['sendResult', { handshake: listen(K2), account: 12 }],
    ['listen', { serverid: SRV, account: 12 }],
  ]);
  assert.is(c.ctx().listening, true);
  assert.is(c.ctx().keys, K1);
});

// ---- the peer goes away ----------------------------------------------------------------------------

test('gone in every state: closed (final), the connection released, an open session handshake abandoned; no close frame', () => {
  for (const phase of PHASES) {
    for (const target of STATES) {
      const c = at(phase, target);
      const hs = c.ctx().handshake;
      c.send({ type: 'gone' });
      assert.is(c.value(), 'closed', `${phase}.${target}`);
      assert.is(c.state(), 'closed');
      assert.is(c.snap().status, 'done');
      assert.equal(c.log, [...(target === 'idle' ? [] : [['abandonHandshake', hs]]), ['release', undefined]], `${phase}.${target}`);
      assert.not.ok(c.seen.includes('"closing"'), 'closing is never observed');
    }
  }
});

test('closed: nothing more happens (no deadline fires, no frame is answered, no answer is taken)', () => {
  const c = at('unsealed', 'challenged');
  c.send({ type: 'gone' });
  c.clear();
  c.clock.increment(2 * DEFAULT_CHALLENGE_LIMIT);
  c.send(hello(login()), { type: 'proof', box: BOX }, { type: 'confirmed', account: 1 }, { type: 'refused', code: 'BAD_BOX' }, { type: 'malformed', code: 'BAD_FRAME' });
  c.send({ type: 'deliver', kind: 'push', frame: {} }, { type: 'gone' });
  assert.equal(c.log, []);
  assert.is(c.value(), 'closed');
});

// ---- the diagram -----------------------------------------------------------------------------------

test('connection.md draws both phases with their four handshake states, the seal, the 1008 close and the deadline', () => {
  const md = readFileSync(new URL('../../machines/connection.md', import.meta.url), 'utf8');
  assert.ok(md.startsWith('# The `connection` machine\n'));
  for (const phase of PHASES) {
    assert.match(md, `state "${phase}" as ${phase} {`);
    for (const s of STATES) assert.match(md, `state "${s}" as ${phase}__${s}`);
    assert.match(
      md,
      `${phase}__challenged --> ${phase}__idle : decline [hasSession]<br>decline [else]<br>refused [hasSession]<br>refused [else]<br>after challenge [hasSession]<br>after challenge [else]`,
    );
  }
  assert.match(md, 'unsealed --> sealed : confirmed [isListen] (from verifying)<br>confirmed [else] (from verifying)');
  assert.match(md, 'sealed__verifying --> sealed__idle : confirmed [isListen]<br>confirmed [else]<br>refused');
  assert.match(md, 'sealed --> closing : plain<br>unopened');
  assert.match(md, 'connection --> connection : gone (to closing)');
  assert.match(md, 'closed : entry / release');
});

test.run();
