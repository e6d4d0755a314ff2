/**
 * What a login leaves shares its hidden classes (V8's maps) with what the next login leaves.
 *
 * On node 20 (V8 11) an object literal that starts with a spread and then adds a key
 * (`{ ...x, more }`), or a key added to such a copy afterwards, gets a hidden class of its own:
 * about 1.4 µs per key added, and every later read of the object is megamorphic. A plain object
 * given a key that is an id (a session's, a connection's) makes one too. The login path made several
 * per event until bench/README.md "Third round" found them: a session transition cost twice what
 * it does now. Checked with V8's own `%HaveSameMap` on what the last two of a few logins (each
 * its own session and connection) leave, once V8's inline caches have seen the path a few times
 * (the first two copies still share a map); each check fails on the code before that round.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LowdbStore } from '../../src/adapters/lowdb/lowdb-store.ts';
import { MemoryBus } from '../../src/adapters/memory/bus.ts';
import { MemorySessions } from '../../src/adapters/memory/sessions.ts';
import { LooseEvents } from '../../src/core/events/loose-events.ts';
import { SessionHub } from '../../src/core/hub.ts';
import { MachineStepper } from '../../src/core/machine-stepper.ts';
import { sessionMachine, type SessionLimits, type VerifyInput } from '../../machines/session.ts';
import { transactionMachine } from '../../machines/transaction.ts';
import { RecordingPeer } from '../helpers/recording-peer.ts';

v8.setFlagsFromString('--allow-natives-syntax');
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;

/** Calls before the path's inline caches are in the state the pathology needs. */
const WARM = 20;
const limits: SessionLimits = { challenge: 60_000, idle: 15 * 60_000, session: 12 * 3600_000, handshakes: 4, handshakesPerSource: 2 };

test('the check itself: a key added to a spread copy makes a map of its own, a literal does not', () => {
  const base = { a: 1, b: 2 };
  const spread = (n: number) => ({ ...base, c: n });
  const literal = (n: number) => ({ a: 1, b: 2, c: n });
  for (let n = 0; n < WARM; n++) spread(n), literal(n);
  assert.ok(haveSameMap(literal(1), literal(2)));
  assert.not.ok(haveSameMap(spread(1), spread(2)), 'V8 shares maps of spread copies now: this test and its rule may go');
});

test('the machines’ first contexts share a map', () => {
  // (Their `context` factories, as XState calls them for each new session and transaction.)
  type Factory<I> = (args: { input: I }) => object;
  const session = sessionMachine.config.context as unknown as Factory<{ serverid: string; hsid: string; limits: SessionLimits }>;
  const transaction = transactionMachine.config.context as unknown as Factory<{ tid: string; serverid: string; hsid: string; account: number; limit: number }>;
  const sessionContext = (n: number) => session({ input: { serverid: `server-${n}`, hsid: `hsid-${n}`, limits } });
  const transactionContext = (n: number) => transaction({ input: { tid: `t${n}`, serverid: 's', hsid: 'h', account: n, limit: 1000 } });
  for (let n = 0; n < WARM; n++) sessionContext(n), transactionContext(n);
  assert.ok(haveSameMap(sessionContext(1), sessionContext(2)), 'session context');
  assert.ok(haveSameMap(transactionContext(1), transactionContext(2)), 'transaction context');
  // What the hub steps from: the same.
  const sessions = new MachineStepper(sessionMachine, { serverid: '', hsid: '', limits });
  for (let n = 0; n < WARM; n++) sessions.initial({ serverid: `s${n}`, hsid: `h${n}`, limits });
  const first = (n: number) => sessions.initial({ serverid: `server-${n}`, hsid: `hsid-${n}`, limits }).snapshot.context;
  assert.ok(haveSameMap(first(1), first(2)), 'session snapshot context');
});

test('logins: the proof checks’ inputs and the stored events share maps', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-maps-'));
  const store = await LowdbStore.open(dir);
  const inputs: VerifyInput[] = [];
  const hub = new SessionHub({
    limits,
    sessions: new MemorySessions(),
    bus: new MemoryBus(),
    saved: LooseEvents.over(store).store,
    verifyProof: async (input) => {
      inputs.push(input);
      return { account: 7 };
    },
    account: async () => ({ blocked: false, userid: 'user-7' }),
    inspect: () => {},
  });
  try {
    const logins = WARM + 2;
    for (let n = 1; n <= logins; n++) {
      const peer = new RecordingPeer(`phone-${n}`, `127.0.0.${n + 1}`);
      hub.attach(peer);
      await hub.open('server-1', `hsid-${n}`);
      await hub.hello(peer, 'server-1', `hsid-${n}`, 'login');
      await hub.proof(peer, { serverid: 'server-1', hsid: `hsid-${n}` }, { account: 7 });
      await hub.settled();
      assert.is((await hub.status('server-1', `hsid-${n}`)).state, 'authenticated');
    }
    assert.is(inputs.length, logins);
    assert.ok(haveSameMap(inputs[logins - 2]!, inputs[logins - 1]!), 'proof check input');
    // (Newest first.)
    const loginEvents = await store.listEvents('server-1', { types: ['com.nextauth.session.login'], limit: 2 });
    const scanEvents = await store.listEvents('server-1', { types: ['com.nextauth.session.scanned'], limit: 2 });
    assert.is(loginEvents.length, 2);
    assert.is(scanEvents.length, 2);
    assert.ok(haveSameMap(loginEvents[0]!, loginEvents[1]!), 'login event record');
    assert.ok(haveSameMap(scanEvents[0]!, scanEvents[1]!), 'scan event record');
  } finally {
    await hub.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
