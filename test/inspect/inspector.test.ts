/**
 * The inspector's memory, on real session actors (machines/session.ts) fed through XState's
 * inspection API: only types and state values are logged, each log is capped, and it goes away
 * with its actor; transitions are counted for /metrics.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import client from 'prom-client';
import { createActor, fromPromise } from 'xstate';
import { sessionMachine, type VerifyOutput } from '../../machines/session.ts';
import { Inspector, stateText, statePaths, type LogEntry } from '../../src/inspect/inspector.ts';

const limits = { challenge: 1000, idle: 1000, session: 1000, maxFailures: 2, lock: 1000 };

function start(inspector: Inspector, verify: () => Promise<VerifyOutput> = async () => ({ account: 7 }), over: Partial<typeof limits> = {}) {
  const machine = sessionMachine.provide({ actors: { verifyProof: fromPromise(verify) } });
  const actor = createActor(machine, { input: { serverid: 'srv', hsid: 'hsid-secret', limits: { ...limits, ...over } }, inspect: (e) => inspector.observe(e) });
  actor.start();
  return actor;
}
const brief = (log: LogEntry[]) => log.map((e) => (e.kind === 'event' ? e.type : `${e.from ?? ''}>${e.to}`));
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

test('state values as dotted paths', () => {
  assert.is(stateText('expired'), 'expired');
  assert.is(stateText({ waiting: 'open' }), 'waiting.open');
  assert.is(stateText({ p: { a: 'x', b: { c: 'y' } } }), 'p.a.x, p.b.c.y');
  assert.equal(statePaths({ authenticated: 'pinging' }), ['authenticated', 'authenticated.pinging']);
  assert.equal(statePaths(undefined), []);
});

test('a login: event types and transitions, nothing of the payloads', async () => {
  const registry = new client.Registry();
  const inspector = new Inspector({ registry });
  const actor = start(inspector);
  const id = inspector.idOf(actor)!;
  assert.match(id, /^a[0-9a-z]+$/);
  assert.is(inspector.actorOf(id), actor);
  const heard: Array<[LogEntry, string]> = [];
  inspector.watch(id, { entry: (e, s) => heard.push([e, s]), ended: () => heard.push([{ at: 0, kind: 'event', type: 'ENDED' }, '']) });
  actor.send({ type: 'setContext', userContext: { sessioninfo: { ip: '198.51.100.9', useragent: 'UA-secret' } } });
  actor.send({ type: 'hello', peer: 'peer-secret', op: 'login' });
  actor.send({ type: 'proof', peer: 'peer-secret', proof: { sig: 'signature-secret', acc: 7 } });
  await tick(5);
  const view = inspector.view(id)!;
  assert.is(view.state, 'authenticated.oneShot');
  assert.equal(brief(view.log), [
    'xstate.init',
    '>waiting.open',
    'setContext',
    'waiting.open>waiting.open',
    'hello',
    'waiting.open>challenged',
    'proof',
    'challenged>verifying',
    'xstate.done.actor.0.session.verifying',
    'verifying>authenticated.oneShot',
  ]);
  assert.equal(
    heard.map(([e]) => e),
    view.log.slice(2),
  );
  assert.is(heard.at(-1)![1], 'authenticated.oneShot');
  const text = JSON.stringify(view);
  for (const secret of ['198.51.100.9', 'UA-secret', 'peer-secret', 'signature-secret', 'hsid-secret', 'srv"']) assert.not.ok(text.includes(secret), secret);
  const metrics = await registry.metrics();
  assert.match(metrics, /nextauth_session_transitions_total\{state="waiting"\} 2/);
  assert.match(metrics, /nextauth_session_transitions_total\{state="challenged"\} 1/);
  assert.match(metrics, /nextauth_session_transitions_total\{state="authenticated"\} 1/);

  // Stopping the actor drops its log and tells the watchers.
  actor.stop();
  assert.is(inspector.view(id), undefined);
  assert.is(inspector.idOf(actor), undefined);
  assert.is(inspector.size, 0);
  assert.is(heard.at(-1)![0].type, 'ENDED');
});

test('a failed proof shows the transient failing state; too many lock', async () => {
  const inspector = new Inspector();
  const actor = start(inspector, async () => {
    throw Object.assign(new Error('bad'), { code: 'BAD_SIGNATURE' });
  });
  const id = inspector.idOf(actor)!;
  for (let i = 0; i < 2; i++) {
    actor.send({ type: 'hello', peer: 'p', op: 'login' });
    actor.send({ type: 'proof', peer: 'p', proof: {} });
    await tick(5);
  }
  const log = brief(inspector.view(id)!.log);
  assert.equal(log.slice(-4), ['challenged>verifying', 'xstate.error.actor.0.session.verifying', 'verifying>failing', 'failing>waiting.locked']);
  assert.ok(log.includes('failing>waiting.open'));
  actor.stop();
});

test('an actor that expires (a final state) is dropped; others stay', async () => {
  const inspector = new Inspector();
  const short = start(inspector, undefined, { idle: 10 });
  const long = start(inspector);
  const ids = [inspector.idOf(short)!, inspector.idOf(long)!];
  assert.is.not(ids[0], ids[1]);
  let ended = 0;
  inspector.watch(ids[0]!, { entry: () => {}, ended: () => ended++ });
  let changes = 0;
  const off = inspector.onChange(() => changes++);
  await tick(40);
  assert.is(short.getSnapshot().status, 'done');
  assert.is(inspector.view(ids[0]!), undefined);
  assert.is(ended, 1);
  assert.ok(changes >= 2, 'the transition to expired, and the end');
  assert.ok(inspector.view(ids[1]!));
  assert.is(inspector.size, 1);
  // Watching an actor that is gone ends at once.
  let late = 0;
  inspector.watch(ids[0]!, { entry: () => {}, ended: () => late++ });
  assert.is(late, 1);
  off();
  long.stop();
  assert.is(inspector.size, 0);
});

test('each log is capped: the oldest entries go', () => {
  const inspector = new Inspector({ cap: 10 });
  const actor = start(inspector);
  const id = inspector.idOf(actor)!;
  for (let i = 0; i < 50; i++) actor.send({ type: 'setContext', userContext: {} });
  const log = inspector.view(id)!.log;
  assert.is(log.length, 10);
  assert.equal(brief(log).slice(-2), ['setContext', 'waiting.open>waiting.open']);
  assert.not.ok(brief(log).includes('xstate.init'));
  // Oldest first, times in order, after the ring went round several times.
  for (let i = 1; i < log.length; i++) assert.ok(log[i]!.at >= log[i - 1]!.at);
  actor.stop();
  const one = new Inspector({ cap: 1 });
  const a1 = start(one);
  a1.send({ type: 'hello', peer: 'p', op: 'login' });
  assert.equal(brief(one.view(one.idOf(a1)!)!.log), ['waiting.open>challenged']);
  a1.stop();
});

test('child actors are not listed; a broken event never throws', () => {
  const inspector = new Inspector();
  const actor = start(inspector, () => new Promise(() => {}));
  actor.send({ type: 'hello', peer: 'p', op: 'login' });
  actor.send({ type: 'proof', peer: 'p', proof: {} });
  // The invoked verifyProof actor is a child: one actor only.
  assert.is(inspector.size, 1);
  inspector.observe({ type: '@xstate.snapshot' } as never);
  inspector.observe(null as never);
  assert.is(inspector.size, 1);
  actor.stop();
  assert.is(inspector.size, 0);
});

test('sweep drops actors that ended without a last snapshot', () => {
  const inspector = new Inspector();
  const fake = { sessionId: 'x:0', send() {}, getSnapshot: () => ({ status: 'active' }) };
  inspector.observe({ type: '@xstate.actor', rootId: 'x:0', actorRef: fake } as never);
  assert.is(inspector.size, 1);
  inspector.sweep();
  assert.is(inspector.size, 1);
  fake.getSnapshot = () => ({ status: 'error' });
  inspector.sweep();
  assert.is(inspector.size, 0);
});

test.run();
