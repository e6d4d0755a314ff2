/**
 * Several session hubs as several processes (src/core/hub.ts): two hubs on one
 * `MemorySessionStore` (`new MemorySessions(first.store)`) and one `MemoryBroker`
 * (`new MemoryBus(first.broker)`) share sessions, deadlines, the account index and messages.
 * A browser on one hears what happens on the other, an app connection on one hears the answers
 * the other gives it, a deadline fires once whichever hub claims it, and compare-and-set keeps
 * every event of two hubs writing one session at once. One hub alone: hub.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import type { SessionLimits } from '../../machines/session.ts';
import { MemoryBus } from '../../src/adapters/memory/bus.ts';
import { MemorySessions } from '../../src/adapters/memory/sessions.ts';
import { SessionHub, type AppliedEvent, type Shown } from '../../src/core/hub.ts';
import type { Deadline, StoredSession } from '../../src/ports.ts';
import { RecordingPeer } from '../helpers/recording-peer.ts';

const S1 = 'c2VydmVyLW9uZS0xNi1ieXRlcw';
const hsid = (n: number) => `hsid-${String(n).padStart(38, '0')}`;
const H1 = hsid(1);
const H2 = hsid(2);
const KEY = { serverid: S1, hsid: H1 };
const keyOf = (serverid: string, h: string) => `${serverid}:${h}`;

const limits: SessionLimits = { challenge: 60_000, idle: 15 * 60_000, session: 12 * 3600_000, handshakes: 4, handshakesPerSource: 2 };
const IDLE_WAITING = 'xstate.after.idle.session.waiting';
const plain: Shown = { userContext: null };

/** MemorySessions that can run a step right after a claim (before the claimer applies it), and counts lost compare-and-sets. */
class HookedSessions extends MemorySessions {
  afterClaim: ((due: Deadline[]) => Promise<void>) | undefined;
  conflicts = 0;
  override async claimDue(now: number, limit?: number): Promise<Deadline[]> {
    const due = await super.claimDue(now, limit);
    const hook = this.afterClaim;
    if (due.length > 0 && hook) {
      this.afterClaim = undefined;
      await hook(due);
    }
    return due;
  }
  override async put(key: string, value: StoredSession, version: number): Promise<number | undefined> {
    const written = await super.put(key, value, version);
    if (written === undefined) this.conflicts++;
    return written;
  }
}

/** The shared part: one clock, one registry of accounts. */
interface World {
  clock: SimulatedClock;
  accounts: Set<string>;
}

function makeHub(world: World, sessions: HookedSessions, bus: MemoryBus) {
  const applied: AppliedEvent[] = [];
  const hub = new SessionHub({
    limits,
    clock: world.clock,
    sessions,
    bus,
    // Two processes: each also looks for the other's due deadlines.
    pollMs: 1_000,
    inspect: (a) => applied.push(a),
    verifyProof: async ({ proof }) => {
      if (typeof proof.code === 'string') throw Object.assign(new Error(proof.code), { code: proof.code });
      return { account: proof.account as number, ...(typeof proof.pingTime === 'number' ? { pingTime: proof.pingTime } : {}) };
    },
    account: async (serverid, account) => (world.accounts.has(`${serverid}/${account}`) ? { blocked: false } : undefined),
  });
  const peer = (id: string) => {
    const p = new RecordingPeer(id);
    hub.attach(p);
    return p;
  };
  return { hub, sessions, bus, applied, peer };
}

/** Two hubs ("processes") A and B on one store, one broker and one clock. */
function makeCluster() {
  const world: World = { clock: new SimulatedClock(), accounts: new Set() };
  const sessionsA = new HookedSessions();
  const busA = new MemoryBus();
  const a = makeHub(world, sessionsA, busA);
  const b = makeHub(world, new HookedSessions(sessionsA.store), new MemoryBus(busA.broker));
  /** Lets both hubs finish their work and the broker deliver. */
  const settled = async () => {
    for (let i = 0; i < 2; i++) {
      await a.hub.settled();
      await b.hub.settled();
      await busA.broker.settled();
    }
  };
  const advance = async (ms: number) => {
    world.clock.increment(ms);
    await settled();
  };
  return { world, a, b, settled, advance };
}

test('a browser watching on hub A hears a login that a phone on hub B made', async () => {
  const { world, a, b, settled } = makeCluster();
  const heard: Array<{ event: string; state: string; account: number | null }> = [];
  a.hub.subscribe(S1, H1, ({ event, state, account }) => heard.push({ event, state, account }));
  await a.hub.open(S1, H1); // the browser's page came from A
  const phone = b.peer('phone');
  world.accounts.add(`${S1}/7`);
  await b.hub.hello(phone, S1, H1, 'login');
  await b.hub.proof(phone, KEY, { account: 7 });
  await settled();
  assert.equal(phone.calls, [
    ['accepted', KEY, plain],
    ['confirmed', KEY, { account: 7 }],
  ]);
  assert.equal(heard, [
    { event: 'confirmscan', state: 'challenged', account: null },
    { event: 'login', state: 'authenticated', account: 7 },
  ]);
  // Both see the same session.
  assert.equal(await a.hub.status(S1, H1), await b.hub.status(S1, H1));
  assert.is((await a.hub.status(S1, H1)).account, 7);
  // Counted where it was applied: A made it, B moved it on.
  assert.equal(a.hub.countByState(), { waiting: 1 });
  assert.is(b.hub.countByState().authenticated, 1);
});

test('the counts of the hubs sum to every session by state', async () => {
  const { world, a, b, settled } = makeCluster();
  await a.hub.open(S1, H1);
  const phone = b.peer('phone');
  world.accounts.add(`${S1}/7`);
  await b.hub.hello(phone, S1, H1, 'login');
  await b.hub.proof(phone, KEY, { account: 7 });
  await settled();
  assert.is(a.hub.size + b.hub.size, 1);
  const sum: Record<string, number> = {};
  for (const counts of [a.hub.countByState(), b.hub.countByState()]) for (const [state, n] of Object.entries(counts)) sum[state] = (sum[state] ?? 0) + n;
  assert.equal(Object.fromEntries(Object.entries(sum).filter(([, n]) => n !== 0)), { authenticated: 1 });
});

test('a phone attached to hub A hears the answers hub B gives it (accepted, refused, confirmed, ping, a transaction) through peer:<id>', async () => {
  const { world, a, b, settled, advance } = makeCluster();
  const phone = a.peer('phone-on-A');
  await a.hub.open(S1, H1);
  await a.hub.open(S1, H2);

  // B applies the hello and the proof for it: the answers go to A over the bus.
  await b.hub.hello(phone, S1, H1, 'login');
  assert.equal(phone.calls, [], 'not called by B itself');
  await settled();
  assert.equal(phone.calls, [['accepted', KEY, plain]]);
  await b.hub.hello(phone, S1, H2, 'login');
  await b.hub.hello(new RecordingPeer('other'), S1, H2, 'login');
  await b.hub.fail(phone, { serverid: S1, hsid: H2 }, 'BAD_BOX');
  world.accounts.add(`${S1}/7`);
  await b.hub.proof(phone, KEY, { account: 7, pingTime: 10_000 });
  await settled();
  assert.equal(phone.calls, [
    ['accepted', KEY, plain],
    ['accepted', { serverid: S1, hsid: H2 }, plain],
    ['refused', 'BAD_BOX'],
    ['confirmed', KEY, { account: 7, pingTime: 10_000 }],
    ['ping', KEY, 1],
  ]);

  // A pong applied on B; the next ping is a deadline B added (whichever hub claims it) and reaches A's phone.
  phone.clear();
  await advance(3_000);
  await b.hub.pong(phone, KEY, 1);
  const before = [a.applied.length, b.applied.length] as const;
  await advance(5_000);
  assert.equal(
    [...a.applied.slice(before[0]), ...b.applied.slice(before[1])].map((e) => e.type),
    ['xstate.after.pingInterval.session.authenticated.ponged'],
    'claimed and applied once',
  );
  assert.equal(phone.calls, [['ping', KEY, 2]]);

  // A transaction for the phone that logged in, asked on B.
  phone.clear();
  assert.is(await b.hub.toLoginPeer(S1, H1, { t: 'transaction', tid: 't1' }), true);
  await settled();
  assert.equal(phone.calls, [['transaction', { t: 'transaction', tid: 't1' }]]);
});

test('detach() on hub A abandons a handshake whose hello hub B applied', async () => {
  const { a, b, settled } = makeCluster();
  const heard: string[] = [];
  b.hub.subscribe(S1, H1, (u) => heard.push(u.event));
  const phone = a.peer('phone-on-A');
  await b.hub.open(S1, H1);
  await b.hub.hello(phone, S1, H1, 'login');
  await settled();
  assert.is((await a.hub.status(S1, H1)).state, 'challenged');
  await a.hub.detach(phone);
  await settled();
  assert.is((await b.hub.status(S1, H1)).state, 'waiting');
  assert.equal(heard, ['confirmscan', 'cancel']);
  // Detached: B's answers reach nobody.
  phone.clear();
  await b.hub.hello(phone, S1, H1, 'login');
  await settled();
  assert.equal(phone.calls, []);
});

test('a deadline fires exactly once across both hubs', async () => {
  const { a, b, advance } = makeCluster();
  // Twenty sessions, made (and so scheduled) half on A, half on B; and one shown on both.
  const keys: string[] = [];
  for (let i = 0; i < 20; i++) {
    const h = hsid(100 + i);
    keys.push(keyOf(S1, h));
    await (i % 2 ? b : a).hub.open(S1, h);
  }
  await a.hub.show(S1, H1);
  await b.hub.show(S1, H1);
  keys.push(keyOf(S1, H1));
  await advance(limits.idle);
  const ended = [...a.applied, ...b.applied].filter((e) => e.ended);
  assert.equal(ended.map((e) => e.key).sort(), keys.sort(), 'each session ended once');
  assert.ok(
    ended.every((e) => e.type === IDLE_WAITING),
    'by its idle deadline',
  );
  for (const key of keys) {
    const [serverid, h] = [key.slice(0, S1.length), key.slice(S1.length + 1)];
    assert.ok(await a.hub.wasExpired(serverid, h), key);
  }
  assert.is(a.hub.size + b.hub.size, 0);
  assert.is(a.sessions.store.deadlines.size, keys.length, 'only the deadlines that forget them');
});

test('a deadline claimed by hub A just as hub B moved it is not applied', async () => {
  const { world, a, b, settled } = makeCluster();
  await a.hub.show(S1, H1);
  // A claims the idle deadline; before A applies it, B shows the session again.
  let claimed: Deadline[] = [];
  a.sessions.afterClaim = async (due) => {
    claimed = due;
    await b.hub.show(S1, H1);
  };
  world.clock.increment(limits.idle);
  await settled();
  assert.equal(
    claimed.map((d) => d.name),
    [IDLE_WAITING],
    'A claimed it',
  );
  assert.equal((await a.hub.snapshot(S1, H1))!.value, 'waiting', 'and did not apply it');
  assert.not.ok(await a.hub.wasExpired(S1, H1));
  assert.is((await a.hub.status(S1, H1)).expires, 2 * limits.idle, "B's new limit holds");
  assert.equal(
    [...a.applied, ...b.applied].filter((e) => e.type === IDLE_WAITING),
    [],
  );

  world.clock.increment(limits.idle);
  await settled();
  assert.ok(await a.hub.wasExpired(S1, H1), 'the moved deadline fires at its new time');
});

test('compare-and-set: two hubs writing one session at once lose nothing', async () => {
  const { world, a, b, settled } = makeCluster();
  await a.hub.open(S1, H1);
  await Promise.all([a.hub.setContext(S1, H1, { sessioninfo: { ip: '192.0.2.1' } }), b.hub.provoke(S1, H1, [3, 4], '17')]);
  assert.ok(a.sessions.conflicts + b.sessions.conflicts >= 1, 'one of them wrote second, and retried');
  const { context } = (await b.hub.snapshot(S1, H1))!;
  assert.equal(context.userContext, { sessioninfo: { ip: '192.0.2.1' } });
  assert.equal(context.push, { accounts: [3, 4], number: '17' });

  // Two phones say hello at once, one on each hub: both get a challenge, and both handshakes
  // are kept (the write that came second read again and added its own).
  const p = a.peer('P');
  const q = b.peer('Q');
  await Promise.all([a.hub.hello(p, S1, H1, 'login'), b.hub.hello(q, S1, H1, 'login')]);
  await settled();
  assert.equal(
    [...p.calls, ...q.calls].map((c) => c[0]),
    ['accepted', 'accepted'],
  );
  assert.equal((await a.hub.snapshot(S1, H1))!.context.handshakes.map((h) => h.peer).sort(), ['P', 'Q']);
  // Both prove at once: exactly one logs in, the other hears SESSION_BUSY.
  world.accounts.add(`${S1}/7`);
  await Promise.all([a.hub.proof(p, { serverid: S1, hsid: H1 }, { account: 7 }), b.hub.proof(q, { serverid: S1, hsid: H1 }, { account: 7 })]);
  await settled();
  const outcomes = [p.calls.at(-1)![0] === 'confirmed' ? 'confirmed' : p.calls.at(-1)![1], q.calls.at(-1)![0] === 'confirmed' ? 'confirmed' : q.calls.at(-1)![1]];
  assert.equal([...outcomes].sort(), ['SESSION_BUSY', 'confirmed']);
  const status = await b.hub.status(S1, H1);
  assert.is(status.state, 'authenticated');
  assert.is((await a.hub.snapshot(S1, H1))!.context.pinger, outcomes[0] === 'confirmed' ? 'P' : 'Q');
});

test("what a hub keeps of a session it wrote is used only while it is still what is stored: B's write is seen by A's next event", async () => {
  const { a, b, settled } = makeCluster();
  await a.hub.open(S1, H1);
  await a.hub.setContext(S1, H1, { sessioninfo: { ip: '192.0.2.1' } }); // A keeps this snapshot
  await b.hub.provoke(S1, H1, [3], '55'); // B writes after it
  const p = a.peer('P');
  await a.hub.hello(p, S1, H1, 'login'); // A must read B's write, not apply to what it kept
  await settled();
  assert.equal(p.calls[0], ['accepted', { serverid: S1, hsid: H1 }, { userContext: { sessioninfo: { ip: '192.0.2.1' } }, number: '55' }]);
  assert.equal((await a.hub.snapshot(S1, H1))!.context.push, { accounts: [3], number: '55' });
  assert.is(a.sessions.conflicts + b.sessions.conflicts, 0, 'no write had to be retried: A read again before it wrote');
});

test('revoke() on hub B logs out the sessions logged in on hub A (the account index is shared)', async () => {
  const { world, a, b, settled } = makeCluster();
  const heard: string[] = [];
  a.hub.subscribe(S1, H1, (u) => heard.push(u.event));
  const phone = a.peer('phone');
  world.accounts.add(`${S1}/7`);
  world.accounts.add(`${S1}/8`);
  for (const [h, account] of [
    [H1, 7],
    [H2, 8],
  ] as const) {
    await a.hub.open(S1, h);
    await a.hub.hello(phone, S1, h, 'login');
    await a.hub.proof(phone, { serverid: S1, hsid: h }, { account });
    await settled();
  }
  await b.hub.revoke(S1, 7, false);
  await settled();
  assert.is((await a.hub.status(S1, H1)).state, 'loggedOut');
  assert.is((await a.hub.status(S1, H2)).state, 'authenticated');
  assert.equal(heard, ['confirmscan', 'login', 'logout']);
  assert.equal(
    b.applied.map((e) => e.key),
    [keyOf(S1, H1)],
  );
});

test('a deadline of a hub that stopped is fired by the other hub', async () => {
  const { a, b, advance } = makeCluster();
  await a.hub.open(S1, H1);
  await a.hub.close(); // A stops; its deadline stays in the shared store
  assert.is(a.sessions.store.deadlines.size, 1);
  await advance(limits.idle);
  assert.ok(await b.hub.wasExpired(S1, H1), 'B expired it');
});

test('a hub that wakes for its own deadline also fires the overdue ones of a hub that stopped', async () => {
  const { a, b, advance } = makeCluster();
  await a.hub.open(S1, H1); // its idle limit ends at `idle`
  await a.hub.close();
  await advance(limits.idle - 1_000);
  await b.hub.open(S1, H2);
  await b.hub.hello(b.peer('phone'), S1, H2, 'login'); // B's own deadline: the challenge, at idle + 59 s
  await advance(limits.challenge);
  assert.ok(await b.hub.wasExpired(S1, H1), "A's deadline, fired by B");
  assert.equal((await b.hub.snapshot(S1, H2))!.value, 'waiting', "and B's own");
  assert.equal(
    b.applied.filter((e) => e.ended).map((e) => e.key),
    [keyOf(S1, H1)],
  );
});

test.run();
