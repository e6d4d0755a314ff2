/**
 * The inspector's memory (src/inspect/inspector.ts), fed as in production by a real session hub
 * (`inspect: (a) => inspector.applied(a)`) on the memory adapters and XState's SimulatedClock:
 * each session's log holds event types and the transitions they made, in order, and never a
 * payload; logs are capped, sessions are bounded (least recently changed out first) and dropped
 * when they end; listings filter by server; transitions are counted by the top-level state
 * entered; junk and throwing watchers break nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import client from 'prom-client';
import { SimulatedClock } from 'xstate';
import type { SessionLimits, UserContext, VerifyInput, VerifyOutput } from '../../machines/session.ts';
import { MemoryBus } from '../../src/adapters/memory/bus.ts';
import { MemorySessions } from '../../src/adapters/memory/sessions.ts';
import { SessionHub, type AppPeer, type SessionKey } from '../../src/core/hub.ts';
import { Inspector, statePaths, stateText, type InspectorOptions, type LogEntry, type Watcher } from '../../src/inspect/inspector.ts';
import type { SavedSession, Store } from '../../src/ports.ts';

const S1 = 'srv-one';
const S2 = 'srv-two';
/** Session ids, peer ids and proofs are payloads: none may reach the inspector. */
const hsid = (n: number) => `hsid-secret-${n}`;
const PEER = 'peer-secret';

const limits: SessionLimits = { challenge: 60_000, idle: 10_000, session: 3600_000, handshakes: 4, handshakesPerSource: 2 };

const INIT = 'xstate.init';
const DONE = 'verified';
const ERROR = 'unverified';
const IDLE = 'xstate.after.idle.session.waiting';
const IDLE_OUT = 'xstate.after.idle.session.loggedOut';

class FakePeer implements AppPeer {
  readonly calls: unknown[][] = [];
  readonly source = '127.0.0.1';
  constructor(readonly id: string) {}
  accepted(session: SessionKey): void {
    this.calls.push(['accepted', session.hsid]);
  }
  refused(code: string): void {
    this.calls.push(['refused', code]);
  }
  confirmed(session: SessionKey, output: VerifyOutput): void {
    this.calls.push(['confirmed', session.hsid, output.account]);
  }
  ping(session: SessionKey, n: number): void {
    this.calls.push(['ping', session.hsid, n]);
  }
}

/** The stub verifier: a proof `{code}` fails with that code, else it logs in `{account}` (7), continuous with `{pingTime}`. */
async function verifyProof(input: VerifyInput): Promise<VerifyOutput> {
  const { proof } = input;
  if (typeof proof.code === 'string') throw Object.assign(new Error(proof.code), { code: proof.code });
  return { account: typeof proof.account === 'number' ? proof.account : 7, ...(typeof proof.pingTime === 'number' ? { pingTime: proof.pingTime } : {}) };
}

/** A Store that keeps only saved sessions (the write-through and restore() use nothing else). */
function savedStore(): Store & { rows: Map<string, SavedSession> } {
  const rows = new Map<string, SavedSession>();
  const tx = {
    put: (_kind: string, [key]: [string], value: SavedSession) => void rows.set(key, value),
    delete: (_kind: string, [key]: [string]) => void rows.delete(key),
    emit: () => {},
  };
  return { rows, savedSessions: async () => [...rows], transact: async (change: (t: typeof tx) => unknown) => change(tx) } as unknown as Store & {
    rows: Map<string, SavedSession>;
  };
}

/** A hub on a simulated clock whose every applied event goes to an inspector (as in src/main.ts). */
function setup(opts: InspectorOptions = {}, saved?: Store) {
  const clock = new SimulatedClock();
  const registry = new client.Registry();
  const inspector = new Inspector({ now: () => clock.now(), registry, ...opts });
  const hub = new SessionHub({
    limits,
    clock,
    sessions: new MemorySessions(),
    bus: new MemoryBus(),
    ...(saved ? { saved } : {}),
    verifyProof,
    account: async () => ({ blocked: false }),
    inspect: (a) => inspector.applied(a),
  });
  const peer = new FakePeer(PEER);
  hub.attach(peer);
  /** The id of the session that changed last. */
  const latest = () => inspector.list(null).at(-1)!.id;
  /** Opens the session and returns its inspector id. */
  const open = async (h: string, serverid = S1) => {
    await hub.open(serverid, h);
    return latest();
  };
  /** Logs account 7 in on the session (which must be open). */
  const login = async (h: string, proof: Record<string, unknown> = { account: 7 }, serverid = S1) => {
    await hub.hello(peer, serverid, h, 'login');
    await hub.proof(peer, { serverid, hsid: h }, proof);
    await hub.settled();
  };
  /** Moves the clock on and lets the hub apply what came due. */
  const advance = async (ms: number) => {
    clock.increment(ms);
    await hub.settled();
  };
  return { clock, registry, inspector, hub, peer, latest, open, login, advance };
}

/** A log as short strings: an event is its type, a transition `type: from>to`. */
const brief = (log: LogEntry[]) => log.map((e) => (e.kind === 'event' ? e.type : `${e.type}: ${e.from ?? ''}>${e.to}`));

/** A watcher that records what it hears. */
function recorder() {
  const heard: Array<{ entry: LogEntry; state: string }> = [];
  let ended = 0;
  const watcher: Watcher = {
    entry: (entry, state) => void heard.push({ entry, state }),
    ended: () => void ended++,
  };
  return {
    watcher,
    heard,
    get ended() {
      return ended;
    },
  };
}

/** nextauth_session_transitions_total by state, as the registry has it. */
async function counts(registry: client.Registry): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric('nextauth_session_transitions_total');
  assert.ok(metric, 'the counter is registered in the registry given');
  const out: Record<string, number> = {};
  for (const v of (await metric.get()).values) out[String(v.labels.state)] = v.value;
  return out;
}

// ---- state texts ---------------------------------------------------------------------------------

test('state values as dotted paths', () => {
  assert.is(stateText('expired'), 'expired');
  assert.is(stateText({ authenticated: 'pinging' }), 'authenticated.pinging');
  assert.is(stateText({ p: { a: 'x', b: { c: 'y' } } }), 'p.a.x, p.b.c.y');
  assert.is(stateText(undefined), '');
  assert.equal(statePaths({ authenticated: 'pinging' }), ['authenticated', 'authenticated.pinging']);
  assert.equal(statePaths(undefined), []);
});

// ---- logs ----------------------------------------------------------------------------------------

test('a login through the hub: event types and transitions in order, with times; a watcher hears each entry', async () => {
  const { clock, registry, inspector, hub, peer, open } = setup();
  let changes = 0;
  inspector.onChange(() => changes++);
  clock.increment(1_000);
  const id = await open(hsid(1));
  assert.match(id, /^a[0-9a-z]+$/);
  assert.is(inspector.size, 1);
  const w = recorder();
  inspector.watch(id, w.watcher);

  clock.increment(10);
  await hub.show(S1, hsid(1), { sessioninfo: { ip: '198.51.100.9' } } as UserContext);
  clock.increment(10);
  await hub.hello(peer, S1, hsid(1), 'login');
  clock.increment(10);
  await hub.proof(peer, { serverid: S1, hsid: hsid(1) }, { account: 7 });
  await hub.settled();

  const view = inspector.view(id)!;
  assert.is(view.id, id);
  assert.is(view.serverid, S1);
  assert.is(view.state, 'authenticated.oneShot');
  assert.is(view.account, 7);
  assert.is(view.started, 1_000);
  assert.equal(brief(view.log), [
    INIT,
    `${INIT}: >waiting`,
    'setContext',
    'setContext: waiting>waiting',
    'hello',
    'hello: waiting>challenged',
    'proof',
    'proof: challenged>verifying',
    DONE,
    `${DONE}: verifying>authenticated.oneShot`,
  ]);
  assert.equal(
    view.log.map((e) => e.at),
    [1_000, 1_000, 1_010, 1_010, 1_020, 1_020, 1_030, 1_030, 1_030, 1_030],
  );
  // The watcher came after the first two entries: it heard the rest, each with the state after it.
  assert.equal(
    w.heard.map((h) => h.entry),
    view.log.slice(2),
  );
  assert.equal(
    w.heard.map((h) => h.state),
    ['waiting', 'waiting', 'waiting', 'challenged', 'challenged', 'verifying', 'verifying', 'authenticated.oneShot'],
  );
  assert.is(w.ended, 0);
  assert.ok(changes >= 5, `every applied event is a change (${changes})`);
  // The hub did its work with the inspector attached.
  assert.equal(peer.calls, [
    ['accepted', hsid(1)],
    ['confirmed', hsid(1), 7],
  ]);
  assert.is((await hub.status(S1, hsid(1))).state, 'authenticated');
  // The view is a copy.
  view.log.length = 0;
  assert.is(inspector.view(id)!.log.length, 10);
  assert.equal(await counts(registry), { waiting: 2, challenged: 1, verifying: 1, authenticated: 1 });
  await hub.close();
});

test('a failed proof logs challenged → waiting (the session leaves by itself once no handshake is open); failures never lock', async () => {
  const { registry, inspector, hub, peer, open, login } = setup();
  const id = await open(hsid(1));
  await hub.hello(peer, S1, hsid(1), 'login');
  await hub.fail(peer, { serverid: S1, hsid: hsid(1) }, 'BAD_BOX');
  assert.equal(brief(inspector.view(id)!.log).slice(2), ['hello', 'hello: waiting>challenged', ERROR, `${ERROR}: challenged>waiting`]);
  assert.is(inspector.view(id)!.state, 'waiting');

  // A proof that does not verify: verifying, then waiting on its outcome; still not locked.
  await login(hsid(1), { code: 'BAD_SIGNATURE' });
  assert.equal(brief(inspector.view(id)!.log).slice(6), ['hello', 'hello: waiting>challenged', 'proof', 'proof: challenged>verifying', ERROR, `${ERROR}: verifying>waiting`]);
  assert.is(inspector.view(id)!.state, 'waiting');
  await hub.hello(peer, S1, hsid(1), 'login');
  assert.equal(brief(inspector.view(id)!.log).slice(-2), ['hello', 'hello: waiting>challenged']);
  assert.equal(
    peer.calls.filter((c) => c[0] === 'refused'),
    [
      ['refused', 'BAD_BOX'],
      ['refused', 'BAD_SIGNATURE'],
    ],
  );
  assert.equal(await counts(registry), { waiting: 3, challenged: 3, verifying: 1 });
  await hub.close();
});

test('re-entering a state is logged as a transition; an event that changes no state logs only its type', async () => {
  const { registry, inspector, hub, open, login } = setup();
  const id = await open(hsid(1));
  await hub.show(S1, hsid(1));
  await hub.setContext(S1, hsid(1), { sessioninfo: { ip: '192.0.2.1' } } as UserContext);
  assert.equal(brief(inspector.view(id)!.log), [INIT, `${INIT}: >waiting`, 'setContext', 'setContext: waiting>waiting', 'setContext', 'setContext: waiting>waiting']);
  await login(hsid(1));
  const before = inspector.view(id)!.log.length;
  // Logged in, setContext only changes the context (no target): its type, no transition.
  await hub.setContext(S1, hsid(1), { sessioninfo: { ip: '192.0.2.2' } } as UserContext);
  assert.equal(brief(inspector.view(id)!.log.slice(before)), ['setContext']);
  assert.is(inspector.view(id)!.state, 'authenticated.oneShot');
  // Logged out, setContext re-enters loggedOut.
  await hub.logout(S1, hsid(1));
  await hub.show(S1, hsid(1));
  assert.equal(brief(inspector.view(id)!.log.slice(before + 1)), ['logout', 'logout: authenticated.oneShot>loggedOut', 'setContext', 'setContext: loggedOut>loggedOut']);
  assert.equal(await counts(registry), { waiting: 3, challenged: 1, verifying: 1, authenticated: 1, loggedOut: 2 });
  await hub.close();
});

test('each log is capped at `cap`: the oldest entries go first, the order stays', async () => {
  const { clock, inspector, hub, open } = setup({ cap: 10 });
  clock.increment(100);
  const id = await open(hsid(1));
  const w = recorder();
  inspector.watch(id, w.watcher);
  for (let i = 1; i <= 30; i++) {
    clock.increment(1);
    await hub.show(S1, hsid(1));
  }
  const log = inspector.view(id)!.log;
  assert.is(log.length, 10);
  // The last five shows (at 126..130), each its event and its transition; the creation is gone.
  assert.equal(brief(log), Array.from({ length: 5 }, () => ['setContext', 'setContext: waiting>waiting']).flat());
  assert.equal(
    log.map((e) => e.at),
    [126, 126, 127, 127, 128, 128, 129, 129, 130, 130],
  );
  // Watchers hear every entry: the cap is the memory's, not theirs.
  assert.is(w.heard.length, 60);
  await hub.close();

  const one = setup({ cap: 1 });
  const id1 = await one.open(hsid(1));
  assert.equal(brief(one.inspector.view(id1)!.log), [`${INIT}: >waiting`]);
  await one.hub.hello(one.peer, S1, hsid(1), 'login');
  assert.equal(brief(one.inspector.view(id1)!.log), ['hello: waiting>challenged']);
  await one.hub.close();
});

// ---- sessions ------------------------------------------------------------------------------------

test('at most `maxSessions` sessions: the least recently changed is evicted and its watchers hear `ended`', async () => {
  const { clock, inspector, hub, open } = setup({ maxSessions: 2 });
  let changes = 0;
  inspector.onChange(() => changes++);
  const a = await open(hsid(1));
  const wa = recorder();
  inspector.watch(a, wa.watcher);
  clock.increment(10);
  const b = await open(hsid(2));
  clock.increment(10);
  const c = await open(hsid(3));
  assert.is(inspector.size, 2);
  assert.is(inspector.view(a), undefined);
  assert.is(wa.ended, 1);
  assert.equal(
    inspector.list(null).map((v) => v.id),
    [b, c],
  );
  assert.ok(changes >= 4, 'three sessions seen, one evicted');

  // b changes: c is now the least recently changed, and goes for d.
  const wb = recorder();
  const wc = recorder();
  inspector.watch(b, wb.watcher);
  inspector.watch(c, wc.watcher);
  clock.increment(10);
  await hub.show(S1, hsid(2));
  const d = await open(hsid(4));
  assert.equal(
    inspector.list(null).map((v) => v.id),
    [b, d],
  );
  assert.is(wc.ended, 1);
  assert.is(wb.ended, 0);
  assert.is(wb.heard.length, 2, 'b heard its setContext and the re-entry');
  assert.is(inspector.view(c), undefined);
  // Watching an evicted session ends at once.
  const late = recorder();
  inspector.watch(a, late.watcher);
  assert.is(late.ended, 1);
  // The hub still has all four.
  assert.is(hub.size, 4);
  await hub.close();
});

test('a session that expires is dropped and its watchers hear `ended`; the others stay', async () => {
  const { registry, inspector, hub, open, advance } = setup();
  const a = await open(hsid(1));
  await advance(4_000);
  const b = await open(hsid(2));
  const wa = recorder();
  inspector.watch(a, wa.watcher);
  let changes = 0;
  inspector.onChange(() => changes++);

  await advance(limits.idle - 4_000);
  assert.is(await hub.wasExpired(S1, hsid(1)), true);
  assert.is(inspector.view(a), undefined);
  assert.is(inspector.size, 1);
  assert.equal(
    wa.heard.map((h) => brief([h.entry])[0]),
    [IDLE, `${IDLE}: waiting>expired`],
  );
  assert.equal(
    wa.heard.map((h) => h.entry.at),
    [limits.idle, limits.idle],
  );
  assert.is(wa.ended, 1);
  assert.ok(changes >= 1);
  assert.ok(inspector.view(b));
  const late = recorder();
  inspector.watch(a, late.watcher);
  assert.is(late.ended, 1);

  await advance(4_000);
  assert.is(inspector.size, 0);
  assert.equal(await counts(registry), { waiting: 2, expired: 2 });
  await hub.close();
});

test('a logged-in session: logout, then its idle limit: loggedOut, expired, dropped', async () => {
  const { inspector, hub, open, login, advance } = setup();
  const id = await open(hsid(1));
  await login(hsid(1));
  const w = recorder();
  inspector.watch(id, w.watcher);
  await hub.logout(S1, hsid(1));
  assert.is(inspector.view(id)!.state, 'loggedOut');
  assert.is(inspector.view(id)!.account, null);
  await advance(limits.idle);
  assert.is(inspector.view(id), undefined);
  assert.equal(
    w.heard.map((h) => brief([h.entry])[0]),
    ['logout', 'logout: authenticated.oneShot>loggedOut', IDLE_OUT, `${IDLE_OUT}: loggedOut>expired`],
  );
  assert.is(w.ended, 1);
  await hub.close();
});

test('a continuous session: the microsteps of one event (logged in, then pinging), pongs and pings, a missed pong', async () => {
  const { registry, inspector, hub, peer, open, login, advance } = setup();
  const id = await open(hsid(1));
  await login(hsid(1), { account: 7, pingTime: 1_000 });
  const n = inspector.view(id)!.log.length;
  await hub.pong(peer, { serverid: S1, hsid: hsid(1) }, 1);
  await advance(500);
  await advance(1_000);
  const PING = 'xstate.after.pingInterval.session.authenticated.ponged';
  const TIMEOUT = 'xstate.after.pingTimeout.session.authenticated.pinging';
  assert.equal(brief(inspector.view(id)!.log).slice(n - 3), [
    DONE,
    `${DONE}: verifying>authenticated.oneShot`,
    `${DONE}: authenticated.oneShot>authenticated.pinging`,
    'pong',
    'pong: authenticated.pinging>authenticated.ponged',
    PING,
    `${PING}: authenticated.ponged>authenticated.pinging`,
    TIMEOUT,
    `${TIMEOUT}: authenticated.pinging>loggedOut`,
  ]);
  assert.equal(
    inspector
      .view(id)!
      .log.slice(n)
      .map((e) => e.at),
    [0, 0, 500, 500, 1_500, 1_500],
  );
  assert.equal(
    peer.calls.filter((c) => c[0] === 'ping'),
    [
      ['ping', hsid(1), 1],
      ['ping', hsid(1), 2],
    ],
  );
  // Every transition counts, under the top-level state it enters.
  assert.equal(await counts(registry), { waiting: 1, challenged: 1, verifying: 1, authenticated: 4, loggedOut: 1 });
  await hub.close();
});

test('list(servers) filters by server; listings carry no log', async () => {
  const { inspector, hub, open, login } = setup();
  await open(hsid(1), S1);
  await open(hsid(2), S1);
  await login(hsid(2));
  const other = await open(hsid(1), S2);
  const all = inspector.list(null);
  assert.is(all.length, 3);
  assert.equal(
    inspector.list(new Set([S1])).map((v) => [v.serverid, v.state]),
    [
      [S1, 'waiting'],
      [S1, 'authenticated.oneShot'],
    ],
  );
  assert.equal(
    inspector.list(new Set([S2])).map((v) => v.id),
    [other],
  );
  assert.is(inspector.list(new Set([S1, S2])).length, 3);
  assert.equal(inspector.list(new Set()), []);
  assert.equal(inspector.list(new Set(['srv-none'])), []);
  for (const v of all) {
    assert.equal(v.log, []);
    assert.ok(inspector.view(v.id)!.log.length > 0);
  }
  assert.is(new Set(all.map((v) => v.id)).size, 3, 'one id per session, the same hsid on two servers too');
  await hub.close();
});

test('no payload ever reaches the log, the listing or a watcher: no hsid, peer id, proof, context, code, number', async () => {
  const { inspector, hub, peer, open, login } = setup();
  const h = 'hsid-payload-secret';
  const id = await open(h);
  const w = recorder();
  inspector.watch(id, w.watcher);
  await hub.show(S1, h, { sessioninfo: { ip: '198.51.100.9', useragent: 'UA-secret' } } as UserContext);
  await hub.provoke(S1, h, [987654], '42');
  await hub.hello(peer, S1, h, 'login');
  await hub.fail(peer, { serverid: S1, hsid: h }, 'FAILCODE_SECRET');
  await login(h, { code: 'VERIFYCODE_SECRET', sig: 'signature-secret' });
  await login(h, { account: 7, sig: 'signature-secret', transcript: 'transcript-secret' });
  assert.is(inspector.view(id)!.state, 'authenticated.oneShot');
  const texts = [JSON.stringify(inspector.view(id)), JSON.stringify(inspector.list(null)), JSON.stringify(w.heard)];
  for (const text of texts) {
    for (const secret of [h, 'hsid-', PEER, 'signature-secret', 'transcript-secret', '198.51.100.9', 'UA-secret', '987654', 'FAILCODE_SECRET', 'VERIFYCODE_SECRET', '"42"']) {
      assert.not.ok(text.includes(secret), `${secret} in ${text}`);
    }
  }
  // What is there: types and states.
  const types = new Set(inspector.view(id)!.log.map((e) => e.type));
  for (const t of ['setContext', 'provoke', 'hello', 'proof', ERROR, DONE]) assert.ok(types.has(t), t);
  await hub.close();
});

test('a watcher or a change listener that throws breaks neither the inspector nor the hub', async () => {
  const { inspector, hub, peer, open, login, advance } = setup();
  const id = await open(hsid(1));
  const bad: Watcher = {
    entry: () => {
      throw new Error('watcher broke');
    },
    ended: () => {
      throw new Error('watcher broke at the end');
    },
  };
  inspector.watch(id, bad);
  const good = recorder();
  inspector.watch(id, good.watcher);
  const gone = recorder();
  const off = inspector.watch(id, gone.watcher);
  inspector.onChange(() => {
    throw new Error('listener broke');
  });
  let changes = 0;
  const offChange = inspector.onChange(() => changes++);

  await login(hsid(1));
  off();
  await hub.logout(S1, hsid(1));
  assert.equal(peer.calls, [
    ['accepted', hsid(1)],
    ['confirmed', hsid(1), 7],
  ]);
  assert.is((await hub.status(S1, hsid(1))).state, 'loggedOut');
  assert.is(inspector.view(id)!.state, 'loggedOut');
  assert.equal(
    good.heard.map((h) => h.entry),
    inspector.view(id)!.log.slice(2),
  );
  assert.is(gone.heard.length, 6, 'an unsubscribed watcher hears nothing more');
  assert.ok(changes >= 4);
  offChange();
  const seen = changes;
  await advance(limits.idle);
  assert.is(inspector.size, 0);
  assert.is(good.ended, 1, 'the good watcher hears the end after the bad one threw');
  assert.is(gone.ended, 0);
  assert.is(changes, seen, 'an unsubscribed listener hears nothing more');
  assert.is(await hub.wasExpired(S1, hsid(1)), true);
  await hub.close();
});

// ---- metrics -------------------------------------------------------------------------------------

test('nextauth_session_transitions_total counts by the top-level state entered, in the registry given', async () => {
  const { registry, hub, peer, open, login, advance } = setup();
  await open(hsid(1));
  await login(hsid(1));
  await open(hsid(2));
  await hub.hello(peer, S1, hsid(2), 'login');
  await hub.fail(peer, { serverid: S1, hsid: hsid(2) }, 'BAD_BOX');
  await open(hsid(3), S2);
  assert.equal(await counts(registry), { waiting: 4, challenged: 2, verifying: 1, authenticated: 1 });
  await hub.logout(S1, hsid(1));
  await advance(limits.idle);
  assert.equal(await counts(registry), { waiting: 4, challenged: 2, verifying: 1, authenticated: 1, loggedOut: 1, expired: 3 });
  const text = await registry.metrics();
  assert.match(text, /# TYPE nextauth_session_transitions_total counter/);
  assert.match(text, /nextauth_session_transitions_total\{state="waiting"\} 4/);
  assert.match(text, /nextauth_session_transitions_total\{state="expired"\} 3/);
  // Another inspector on another registry counts on its own.
  const other = setup();
  await other.open(hsid(1));
  assert.equal(await counts(other.registry), { waiting: 1 });
  assert.equal((await counts(registry)).waiting, 4);
  await hub.close();
  await other.hub.close();
});

// ---- robustness ----------------------------------------------------------------------------------

/** Things that are not AppliedEvents. */
function junk(): unknown[] {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  return [
    null,
    undefined,
    42,
    'applied',
    [],
    {},
    { key: 'junk-1' },
    { key: 'junk-2', serverid: S1, type: 'hello', microsteps: null, created: false },
    { key: 'junk-3', serverid: S1, type: 'hello', microsteps: [null], created: true },
    { key: 'junk-4', serverid: S1, type: 'hello', microsteps: [{ event: 'hello', value: cyclic, reenters: false }], value: cyclic, created: true },
    { key: 'junk-5', serverid: S1, type: 17, microsteps: 'abc', created: true },
    {
      get key(): string {
        throw new Error('a getter that throws');
      },
    },
  ];
}

test('applied() never throws, even on junk; real sessions go on being recorded', async () => {
  const { inspector, hub, open, login } = setup();
  const id = await open(hsid(1));
  for (const j of junk()) assert.not.throws(() => inspector.applied(j as never), String(j));
  await login(hsid(1));
  assert.is(inspector.view(id)!.state, 'authenticated.oneShot');
  assert.equal(brief(inspector.view(id)!.log).slice(-2), [DONE, `${DONE}: verifying>authenticated.oneShot`]);
  const id2 = await open(hsid(2));
  assert.is.not(id2, id);
  assert.is(inspector.view(id2)!.state, 'waiting');
  await hub.close();
});

test('junk leaves no session behind', async () => {
  const { inspector, hub, open } = setup();
  const id = await open(hsid(1));
  for (const j of junk()) inspector.applied(j as never);
  assert.equal(
    inspector.list(null).map((v) => v.id),
    [id],
  );
  await hub.close();
});

// ---- sessions first seen mid-life ----------------------------------------------------------------

test('a session first seen mid-life (restored after a restart) starts at the state it was in', async () => {
  const store = savedStore();
  const before = setup({}, store);
  await before.open(hsid(1));
  await before.login(hsid(1));
  assert.is(store.rows.size, 1, 'the login was written through');
  await before.hub.close();

  // A new process: the session comes back without any event, then the user logs out.
  const { registry, inspector, hub, peer, advance } = setup({}, store);
  assert.is(await hub.restore(), 1);
  assert.is(inspector.size, 0, 'restoring applies no event');
  await hub.logout(S1, hsid(1));
  assert.is(inspector.size, 1);
  const id = inspector.list(null)[0]!.id;
  const view = inspector.view(id)!;
  assert.is(view.state, 'loggedOut');
  assert.is(view.serverid, S1);
  const first = view.log[0]!;
  assert.is(first.kind, 'transition');
  assert.is(first.from, undefined);
  assert.is(first.to, 'authenticated.oneShot');
  assert.ok(brief(view.log).includes('logout'));
  assert.ok(brief(view.log).includes('logout: authenticated.oneShot>loggedOut'));
  // From there on, as for any session.
  const n = view.log.length;
  await hub.show(S1, hsid(1));
  await hub.hello(peer, S1, hsid(1), 'login');
  assert.equal(brief(inspector.view(id)!.log.slice(n)), ['setContext', 'setContext: loggedOut>loggedOut', 'hello', 'hello: loggedOut>challenged']);
  assert.is((await counts(registry)).challenged, 1);
  await advance(limits.challenge + limits.idle);
  assert.is(inspector.size, 0);
  await hub.close();
});

test('an evicted session that changes again comes back under a new id, from the state it was in', async () => {
  const { inspector, hub, peer, open } = setup({ maxSessions: 1 });
  const a = await open(hsid(1));
  const b = await open(hsid(2));
  assert.is(inspector.view(a), undefined);
  await hub.hello(peer, S1, hsid(1), 'login');
  assert.is(inspector.view(b), undefined);
  const again = inspector.list(null)[0]!;
  assert.is.not(again.id, a);
  assert.is(again.state, 'challenged');
  const log = inspector.view(again.id)!.log;
  assert.is(log[0]!.kind, 'transition');
  assert.is(log[0]!.to, 'waiting');
  assert.is(log[0]!.from, undefined);
  assert.is(log.at(-1)!.to, 'challenged');
  await hub.close();
});

test('the event that first shows a session mid-life is logged as its own transition and counted', async () => {
  const store = savedStore();
  const before = setup({}, store);
  await before.open(hsid(1));
  await before.login(hsid(1));
  await before.hub.close();
  const { registry, inspector, hub } = setup({}, store);
  await hub.restore();
  await hub.logout(S1, hsid(1));
  const log = inspector.view(inspector.list(null)[0]!.id)!.log;
  // The logout took the session into loggedOut: that is a transition of type `logout`, after the event.
  const i = log.findIndex((e) => e.kind === 'event' && e.type === 'logout');
  assert.ok(i >= 0);
  assert.ok(
    log.slice(i + 1).some((e) => e.kind === 'transition' && e.type === 'logout' && e.to === 'loggedOut'),
    JSON.stringify(log),
  );
  assert.is((await counts(registry)).loggedOut, 1);
  await hub.close();
});

test('a session made by an event (show) logs its creation first, then the event', async () => {
  const { inspector, hub, latest } = setup();
  await hub.show(S1, hsid(1), { sessioninfo: { ip: '192.0.2.1' } } as UserContext);
  assert.equal(brief(inspector.view(latest())!.log), [INIT, `${INIT}: >waiting`, 'setContext', 'setContext: waiting>waiting']);
  await hub.close();
});

test('the end of a session that is not kept evicts no live session', async () => {
  const { clock, inspector, hub, open, advance } = setup({ maxSessions: 2 });
  await open(hsid(1)); // expires at idle
  clock.increment(100);
  const b = await open(hsid(2));
  clock.increment(100);
  const c = await open(hsid(3)); // evicts hsid(1)
  clock.increment(300);
  await hub.show(S1, hsid(2)); // b lives on to 500 + idle
  await hub.show(S1, hsid(3));
  await advance(limits.idle - 500); // hsid(1) expires: the inspector no longer has it
  assert.is(await hub.wasExpired(S1, hsid(1)), true);
  assert.is((await hub.status(S1, hsid(2))).state, 'waiting');
  assert.equal(
    inspector
      .list(null)
      .map((v) => v.id)
      .sort(),
    [b, c].sort(),
  );
  await hub.close();
});

test.run();
