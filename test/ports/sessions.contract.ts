/**
 * The Sessions port's contract (src/ports.ts), run against any adapter:
 *
 *   import { sessionsContract } from './sessions.contract.ts';
 *   sessionsContract(async () => new MemorySessions());
 *
 * `make` must give an empty store each call, isolated from those made before (a Redis adapter:
 * a fresh key prefix), that its `close` cleans up. With `connect`, which opens another
 * "process" on the store of a Sessions that `make` gave, the race tests also race claimers in
 * two processes. Every test closes what it opened. No test waits for real time: deadlines are
 * due by the `now` given to `claimDue`.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Deadline, Json, Sessions, StoredSession } from '../../src/ports.ts';

export interface SessionsContractOptions {
  /** The suite's name in uvu's output. */
  name?: string;
  /** Another connection ("process") to the store `first` uses. */
  connect?: (first: Sessions) => Promise<Sessions>;
  /** Empties the store `first` uses behind the adapters' backs, as a Redis restarted without its data. */
  lose?: (first: Sessions) => Promise<void>;
}

/** A time far from both 0 and now, so no adapter's own clock makes a deadline due. */
const T = 1_900_000_000_000;

const snapshotOf = (n: number, extra: Record<string, Json> = {}): StoredSession => ({
  snapshot: { status: 'active', value: { waiting: 'open' }, context: { n, peer: null, accounts: [1, 2, 3], ...extra } },
  since: T + n,
});

const names = (deadlines: Deadline[]) => deadlines.map((d) => `${d.key}/${d.name}`);

export function sessionsContract(make: () => Promise<Sessions>, options: SessionsContractOptions = {}): void {
  const s = suite(options.name ?? 'Sessions contract');

  /** Runs `body` with a fresh store, closing it (and any connection `body` opened) after. */
  function each(title: string, body: (sessions: Sessions, also: (x: Sessions) => Sessions) => Promise<void>): void {
    s(title, async () => {
      const opened: Sessions[] = [];
      const sessions = await make();
      opened.push(sessions);
      try {
        await body(sessions, (x) => (opened.push(x), x));
      } finally {
        for (const x of opened.reverse()) await x.close();
      }
    });
  }

  // ---- values: compare-and-set ------------------------------------------------------------------

  each('get: an absent key is undefined', async (sessions) => {
    assert.is(await sessions.get('srv:absent'), undefined);
  });

  each('put with version 0 creates the key; get gives the value and that version (never 0)', async (sessions) => {
    const version = await sessions.put('srv:a', snapshotOf(1), 0);
    assert.type(version, 'number');
    assert.ok(version! > 0, `version ${version}`);
    assert.equal(await sessions.get('srv:a'), { value: snapshotOf(1), version });
  });

  each('put with version 0 fails when the key exists, changing nothing', async (sessions) => {
    const v1 = await sessions.put('srv:a', snapshotOf(1), 0);
    assert.is(await sessions.put('srv:a', snapshotOf(2), 0), undefined);
    assert.equal(await sessions.get('srv:a'), { value: snapshotOf(1), version: v1 });
  });

  each('put with the current version writes, and the version increases', async (sessions) => {
    const v1 = (await sessions.put('srv:a', snapshotOf(1), 0))!;
    const v2 = await sessions.put('srv:a', snapshotOf(2), v1);
    assert.type(v2, 'number');
    assert.ok(v2! > v1, `${v2} > ${v1}`);
    assert.equal(await sessions.get('srv:a'), { value: snapshotOf(2), version: v2 });
  });

  each('version: the version get gives, without the value; undefined when absent, and once deleted', async (sessions) => {
    assert.is(await sessions.version('srv:a'), undefined);
    const v1 = (await sessions.put('srv:a', snapshotOf(1), 0))!;
    assert.is(await sessions.version('srv:a'), v1);
    const v2 = (await sessions.put('srv:a', snapshotOf(2), v1))!;
    assert.is(await sessions.version('srv:a'), v2);
    assert.is((await sessions.get('srv:a'))?.version, v2);
    assert.ok(await sessions.delete('srv:a', v2));
    assert.is(await sessions.version('srv:a'), undefined);
  });

  each('bad input is refused, changing nothing: a value that is not JSON, a deadline without a time; odd versions name nothing', async (sessions) => {
    await sessions.put('k', undefined as never, 0).then(
      () => assert.unreachable('resolved'),
      (error: Error) => assert.instance(error, TypeError),
    );
    assert.is(await sessions.get('k'), undefined);
    await sessions.addDeadline({ key: 'k', name: 'n', at: Number.NaN }).then(
      () => assert.unreachable('resolved'),
      (error: Error) => assert.instance(error, TypeError),
    );
    assert.is(await sessions.nextDue(), undefined);
    const v = (await sessions.put('k', { snapshot: 1, since: 0 }, 0))!;
    for (const odd of [v + 0.5, -v, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.is(await sessions.put('k', { snapshot: 2, since: 0 }, odd), undefined, String(odd));
      assert.is(await sessions.delete('k', odd), false, String(odd));
    }
    assert.equal(await sessions.get('k'), { value: { snapshot: 1, since: 0 }, version: v });
  });

  each('a closed store refuses every call; closing it again does nothing', async (sessions) => {
    await sessions.close();
    const calls: (() => Promise<unknown>)[] = [
      () => sessions.get('k'),
      () => sessions.version('k'),
      () => sessions.put('k', { snapshot: null, since: 0 }, 0),
      () => sessions.delete('k', 1),
      () => sessions.addDeadline({ key: 'k', name: 'n', at: 0 }),
      () => sessions.cancelDeadline('k', 'n'),
      () => sessions.claimDue(0),
      () => sessions.nextDue(),
      () => sessions.addMember('s', 'k'),
      () => sessions.removeMember('s', 'k'),
      () => sessions.members('s'),
      async () => sessions.onLost(() => {}),
    ];
    for (const call of calls) {
      await call().then(
        () => assert.unreachable('resolved'),
        (error: Error) => assert.match(error.message, /closed/),
      );
    }
    await sessions.close();
  });

  each('onLost: a store that keeps its data calls no handler', async (sessions) => {
    let heard = 0;
    const off = sessions.onLost(() => heard++);
    await sessions.put('srv:a', snapshotOf(1), 0);
    await sessions.addDeadline({ key: 'srv:a', name: 'limit', at: T });
    assert.equal(names(await sessions.claimDue(T)), ['srv:a/limit']);
    await sessions.claimDue(T);
    off();
    assert.is(heard, 0);
  });

  const lose = options.lose;
  if (lose) {
    each('a store that lost its data tells each connection once, by its next claimDue at the latest; then it works as an empty one', async (sessions, also) => {
      const other = options.connect ? also(await options.connect(sessions)) : undefined;
      const heard = [0, 0];
      sessions.onLost(() => heard[0]!++);
      other?.onLost(() => heard[1]!++);
      const off = sessions.onLost(() => assert.unreachable('unsubscribed'));
      off();
      await sessions.put('srv:a', snapshotOf(1), 0);
      await sessions.addDeadline({ key: 'srv:a', name: 'limit', at: T });
      await sessions.addMember('account:1', 'srv:a');

      await lose(sessions);
      assert.equal(await sessions.claimDue(T), [], 'its deadline is gone');
      await other?.claimDue(T);
      assert.equal(heard, [1, other ? 1 : 0]);
      assert.is(await sessions.get('srv:a'), undefined);
      assert.equal(await sessions.members('account:1'), []);
      assert.is(await sessions.nextDue(), undefined);
      // Written again: a new life of the key, told once only.
      assert.ok((await sessions.put('srv:a', snapshotOf(2), 0))! > 0);
      assert.equal((await (other ?? sessions).get('srv:a'))?.value, snapshotOf(2));
      await sessions.claimDue(T);
      await other?.claimDue(T);
      assert.equal(heard, [1, other ? 1 : 0]);
    });
  }

  each('put with a stale version fails, changing nothing', async (sessions) => {
    const v1 = (await sessions.put('srv:a', snapshotOf(1), 0))!;
    const v2 = (await sessions.put('srv:a', snapshotOf(2), v1))!;
    assert.is(await sessions.put('srv:a', snapshotOf(3), v1), undefined, 'the version before');
    assert.is(await sessions.put('srv:a', snapshotOf(3), v2 + 1000), undefined, 'a version never given');
    assert.equal(await sessions.get('srv:a'), { value: snapshotOf(2), version: v2 });
  });

  each('put with a version other than 0 fails on an absent key, which stays absent', async (sessions) => {
    assert.is(await sessions.put('srv:a', snapshotOf(1), 1), undefined);
    assert.is(await sessions.get('srv:a'), undefined);
  });

  each('versions increase with every write (50 writes)', async (sessions) => {
    let version = 0;
    for (let i = 0; i < 50; i++) {
      const next = await sessions.put('srv:a', snapshotOf(i), version);
      assert.ok(next !== undefined && next > version, `write ${i}: ${next} after ${version}`);
      version = next!;
      assert.is((await sessions.get('srv:a'))!.version, version);
    }
  });

  each('keys are independent: writing one changes neither the value nor the version of another', async (sessions) => {
    const va = (await sessions.put('srv:a', snapshotOf(1), 0))!;
    const vb = (await sessions.put('srv:b', snapshotOf(2), 0))!;
    await sessions.put('srv:a', snapshotOf(3), va);
    assert.equal(await sessions.get('srv:b'), { value: snapshotOf(2), version: vb });
    assert.ok(await sessions.put('srv:b', snapshotOf(4), vb), "b's version still writes b");
  });

  each('of many concurrent puts naming the same version, exactly one succeeds', async (sessions) => {
    const v1 = (await sessions.put('srv:a', snapshotOf(0), 0))!;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => sessions.put('srv:a', snapshotOf(i + 1), v1)));
    const won = results.flatMap((r, i) => (r === undefined ? [] : [{ i, r }]));
    assert.is(won.length, 1, `winners: ${JSON.stringify(won)}`);
    assert.equal(await sessions.get('srv:a'), { value: snapshotOf(won[0]!.i + 1), version: won[0]!.r });
  });

  each('of many concurrent creates (version 0), exactly one succeeds', async (sessions) => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => sessions.put('srv:a', snapshotOf(i), 0)));
    const won = results.flatMap((r, i) => (r === undefined ? [] : [i]));
    assert.is(won.length, 1);
    assert.equal((await sessions.get('srv:a'))!.value, snapshotOf(won[0]!));
  });

  each('delete with the current version removes the key', async (sessions) => {
    const v1 = (await sessions.put('srv:a', snapshotOf(1), 0))!;
    assert.is(await sessions.delete('srv:a', v1), true);
    assert.is(await sessions.get('srv:a'), undefined);
    assert.is(await sessions.delete('srv:a', v1), false, 'a second delete finds nothing');
  });

  each('delete with a stale version fails and keeps the key; delete of an absent key is false', async (sessions) => {
    const v1 = (await sessions.put('srv:a', snapshotOf(1), 0))!;
    const v2 = (await sessions.put('srv:a', snapshotOf(2), v1))!;
    assert.is(await sessions.delete('srv:a', v1), false);
    assert.is(await sessions.delete('srv:a', 0), false, 'version 0 names no stored value');
    assert.equal(await sessions.get('srv:a'), { value: snapshotOf(2), version: v2 });
    assert.is(await sessions.delete('srv:absent', 0), false);
    assert.is(await sessions.delete('srv:absent', 1), false);
  });

  each('a key deleted and created again never takes back an old version (no ABA)', async (sessions) => {
    const v1 = (await sessions.put('srv:a', snapshotOf(1), 0))!;
    const v2 = (await sessions.put('srv:a', snapshotOf(2), v1))!;
    assert.ok(await sessions.delete('srv:a', v2));
    const again = (await sessions.put('srv:a', snapshotOf(3), 0))!;
    assert.ok(again > v2, `re-created at ${again}, after ${v2}`);
    assert.is(await sessions.put('srv:a', snapshotOf(4), v1), undefined, 'a reader of the first life cannot write the second');
    assert.is(await sessions.delete('srv:a', v1), false);
    assert.equal(await sessions.get('srv:a'), { value: snapshotOf(3), version: again });
  });

  each('values are stored as copies: changing what was given or got changes nothing stored', async (sessions) => {
    const given = snapshotOf(1);
    const version = (await sessions.put('srv:a', given, 0))!;
    (given.snapshot as { context: { n: number } }).context.n = 99;
    given.since = 0;
    const got = (await sessions.get('srv:a'))!;
    assert.equal(got.value, snapshotOf(1), 'the caller changed its object after put');
    (got.value.snapshot as { context: { accounts: number[] } }).context.accounts.push(4);
    got.value.since = 0;
    const again = (await sessions.get('srv:a'))!;
    assert.equal(again, { value: snapshotOf(1), version }, 'the caller changed what get gave');
    assert.is.not(again.value, got.value, 'each get gives its own copy');
  });

  each('any JSON value round-trips', async (sessions) => {
    const snapshot: Json = {
      nothing: null,
      yes: true,
      no: false,
      zero: 0,
      negative: -1.5,
      big: 2 ** 52,
      text: 'é 漢字 🙂 "quoted" \\ \n',
      empty: '',
      list: [1, 'two', null, [3], { four: 4 }],
      nested: { a: { b: { c: { d: [] } } } },
      '': 'an empty key',
    };
    const version = (await sessions.put('srv:a', { snapshot, since: T }, 0))!;
    assert.equal(await sessions.get('srv:a'), { value: { snapshot, since: T }, version });
    const keys = ['srv:with space', 'srv:ünïcödé', 'srv:a:b:c', 'x'.repeat(200)];
    for (const key of keys) assert.ok(await sessions.put(key, snapshotOf(7), 0), key);
    for (const key of keys) assert.equal((await sessions.get(key))?.value, snapshotOf(7), key);
  });

  // ---- deadlines -----------------------------------------------------------------------------------

  each('nextDue: undefined with no deadline', async (sessions) => {
    assert.is(await sessions.nextDue(), undefined);
    assert.equal(await sessions.claimDue(T * 2), []);
  });

  each('claimDue gives the deadlines due at now, earliest first; those not yet due stay', async (sessions) => {
    await sessions.addDeadline({ key: 'srv:c', name: 'limit', at: T + 30 });
    await sessions.addDeadline({ key: 'srv:a', name: 'limit', at: T + 10 });
    await sessions.addDeadline({ key: 'srv:d', name: 'limit', at: T + 40 });
    await sessions.addDeadline({ key: 'srv:b', name: 'limit', at: T + 20 });
    assert.equal(await sessions.claimDue(T + 9), [], 'none due yet');
    const due = await sessions.claimDue(T + 30);
    assert.equal(
      due.map((d) => [d.key, d.at]),
      [
        ['srv:a', T + 10],
        ['srv:b', T + 20],
        ['srv:c', T + 30],
      ],
      'due at now counts as due',
    );
    assert.is(await sessions.nextDue(), T + 40);
    assert.equal(await sessions.claimDue(T + 30), [], 'claimed deadlines are gone');
    assert.equal(names(await sessions.claimDue(T + 40)), ['srv:d/limit']);
    assert.is(await sessions.nextDue(), undefined);
  });

  each('claimDue gives at most limit, earliest first; the rest stay for the next call', async (sessions) => {
    for (let i = 9; i >= 0; i--) await sessions.addDeadline({ key: `srv:${i}`, name: 't', at: T + i });
    const first = await sessions.claimDue(T + 100, 3);
    assert.equal(
      first.map((d) => d.at),
      [T, T + 1, T + 2],
    );
    assert.is(await sessions.nextDue(), T + 3);
    assert.equal(
      (await sessions.claimDue(T + 100, 4)).map((d) => d.at),
      [T + 3, T + 4, T + 5, T + 6],
    );
    assert.equal(
      (await sessions.claimDue(T + 100)).map((d) => d.at),
      [T + 7, T + 8, T + 9],
      'no limit: all that are due',
    );
  });

  each('a deadline keeps its key, name, at and payload (a copy); without a payload it has none', async (sessions) => {
    const payload = { type: 'after', delay: 'waiting.limit', n: [1, { deep: true }] } satisfies Json;
    const given: Deadline = { key: 'srv:a', name: 'xstate.after.waiting', at: T, payload };
    await sessions.addDeadline(given);
    payload.n.push(2);
    given.at = T + 1000;
    await sessions.addDeadline({ key: 'srv:b', name: 'limit', at: T + 1 });
    const [a, b] = await sessions.claimDue(T + 1);
    assert.equal(a, { key: 'srv:a', name: 'xstate.after.waiting', at: T, payload: { type: 'after', delay: 'waiting.limit', n: [1, { deep: true }] } });
    assert.is(b!.payload, undefined);
    assert.equal({ key: b!.key, name: b!.name, at: b!.at }, { key: 'srv:b', name: 'limit', at: T + 1 });
  });

  each('adding (key, name) again replaces it: new time and payload, claimed once', async (sessions) => {
    await sessions.addDeadline({ key: 'srv:a', name: 'limit', at: T + 10, payload: 'first' });
    await sessions.addDeadline({ key: 'srv:a', name: 'limit', at: T + 5, payload: 'second' });
    assert.is(await sessions.nextDue(), T + 5);
    assert.equal(await sessions.claimDue(T + 100), [{ key: 'srv:a', name: 'limit', at: T + 5, payload: 'second' }]);
    // Moved later: no longer due at the old time.
    await sessions.addDeadline({ key: 'srv:b', name: 'limit', at: T + 10 });
    await sessions.addDeadline({ key: 'srv:b', name: 'limit', at: T + 50 });
    assert.equal(await sessions.claimDue(T + 20), []);
    assert.is(await sessions.nextDue(), T + 50);
    assert.equal(names(await sessions.claimDue(T + 50)), ['srv:b/limit']);
  });

  each('a deadline is (key, name): the same name on other keys and other names on the same key are others', async (sessions) => {
    await sessions.addDeadline({ key: 'srv:a', name: 'limit', at: T + 1 });
    await sessions.addDeadline({ key: 'srv:a', name: 'ping', at: T + 2 });
    await sessions.addDeadline({ key: 'srv:b', name: 'limit', at: T + 3 });
    await sessions.addDeadline({ key: 'srv:a:limit', name: '', at: T + 4 });
    await sessions.cancelDeadline('srv:a', 'limit');
    assert.equal(names(await sessions.claimDue(T + 10)), ['srv:a/ping', 'srv:b/limit', 'srv:a:limit/']);
  });

  each('cancelDeadline removes it; cancelling what is not there does nothing', async (sessions) => {
    await sessions.addDeadline({ key: 'srv:a', name: 'limit', at: T + 1 });
    await sessions.addDeadline({ key: 'srv:b', name: 'limit', at: T + 2 });
    await sessions.addDeadline({ key: 'srv:c', name: 'limit', at: T + 3 });
    await sessions.cancelDeadline('srv:a', 'limit');
    assert.is(await sessions.nextDue(), T + 2, 'nextDue follows a cancel');
    await sessions.cancelDeadline('srv:a', 'limit');
    await sessions.cancelDeadline('srv:absent', 'limit');
    await sessions.cancelDeadline('srv:b', 'other');
    assert.equal(names(await sessions.claimDue(T + 10)), ['srv:b/limit', 'srv:c/limit']);
    await sessions.addDeadline({ key: 'srv:a', name: 'limit', at: T + 5 });
    assert.equal(names(await sessions.claimDue(T + 10)), ['srv:a/limit'], 'added again after a cancel');
  });

  each('deadlines live apart from values: put and delete leave them alone', async (sessions) => {
    await sessions.addDeadline({ key: 'srv:a', name: 'limit', at: T + 1 });
    const v = (await sessions.put('srv:a', snapshotOf(1), 0))!;
    await sessions.delete('srv:a', v);
    assert.equal(names(await sessions.claimDue(T + 1)), ['srv:a/limit']);
  });

  each('nextDue is the earliest deadline, through adds, replaces, claims and cancels', async (sessions) => {
    await sessions.addDeadline({ key: 'k1', name: 'n', at: T + 50 });
    assert.is(await sessions.nextDue(), T + 50);
    await sessions.addDeadline({ key: 'k2', name: 'n', at: T + 20 });
    assert.is(await sessions.nextDue(), T + 20);
    await sessions.addDeadline({ key: 'k3', name: 'n', at: T + 80 });
    assert.is(await sessions.nextDue(), T + 20);
    await sessions.addDeadline({ key: 'k2', name: 'n', at: T + 90 });
    assert.is(await sessions.nextDue(), T + 50, 'the earliest moved later');
    await sessions.claimDue(T + 50);
    assert.is(await sessions.nextDue(), T + 80);
    await sessions.cancelDeadline('k3', 'n');
    assert.is(await sessions.nextDue(), T + 90);
  });

  each('many concurrent claimers: every deadline claimed exactly once, none lost, earliest first within each claim', async (sessions, also) => {
    const claimers = [sessions];
    if (options.connect) claimers.push(also(await options.connect(sessions)));
    const count = 1000;
    const added = Array.from({ length: count }, (_, i) => ({ key: `srv:${i}`, name: i % 3 ? 'limit' : 'ping', at: T + ((i * 7919) % 500) }));
    await Promise.all(added.map((d) => sessions.addDeadline(d)));
    if (claimers.length > 1) assert.is(await claimers[1]!.nextDue(), T, 'the other process sees the same deadlines');
    // 200 claims of up to 7 at a time, half of them before everything is due.
    const claims = await Promise.all(Array.from({ length: 200 }, (_, i) => claimers[i % claimers.length]!.claimDue(i % 2 ? T + 250 : T + 1000, 7)));
    const rest = await claimers[claimers.length - 1]!.claimDue(T + 1000);
    const seen = new Map<string, number>();
    for (const claim of [...claims, rest]) {
      for (let j = 1; j < claim.length; j++) assert.ok(claim[j - 1]!.at <= claim[j]!.at, 'earliest first');
      for (const d of claim) seen.set(`${d.key}/${d.name}`, (seen.get(`${d.key}/${d.name}`) ?? 0) + 1);
    }
    const twice = [...seen].filter(([, n]) => n > 1);
    assert.equal(twice, [], 'claimed more than once');
    assert.is(seen.size, count, 'every deadline claimed');
    for (const claim of claims) assert.ok(claim.length <= 7, 'limit');
    assert.is(await sessions.nextDue(), undefined);
    assert.equal(await sessions.claimDue(T + 1000), []);
  });

  each('concurrent claimers at one time: the not-yet-due stay, whoever claims', async (sessions, also) => {
    const claimers = [sessions];
    if (options.connect) claimers.push(also(await options.connect(sessions)));
    for (let i = 0; i < 100; i++) await sessions.addDeadline({ key: `srv:${i}`, name: 'limit', at: T + i });
    const claims = await Promise.all(Array.from({ length: 30 }, (_, i) => claimers[i % claimers.length]!.claimDue(T + 49, 3)));
    const claimed = claims.flat().map((d) => d.at - T);
    assert.equal(
      [...claimed].sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.is(await sessions.nextDue(), T + 50);
  });

  // ---- sets ---------------------------------------------------------------------------------------

  each('sets: add, add again, remove, remove what is not there; members of an unknown set is empty', async (sessions) => {
    assert.equal(await sessions.members('account:srv:1'), []);
    await sessions.addMember('account:srv:1', 'srv:a');
    await sessions.addMember('account:srv:1', 'srv:b');
    await sessions.addMember('account:srv:1', 'srv:a');
    await sessions.addMember('account:srv:2', 'srv:a');
    assert.equal((await sessions.members('account:srv:1')).sort(), ['srv:a', 'srv:b']);
    await sessions.removeMember('account:srv:1', 'srv:a');
    await sessions.removeMember('account:srv:1', 'srv:zz');
    await sessions.removeMember('account:srv:9', 'srv:a');
    assert.equal(await sessions.members('account:srv:1'), ['srv:b']);
    assert.equal(await sessions.members('account:srv:2'), ['srv:a'], 'sets are apart');
    await sessions.removeMember('account:srv:1', 'srv:b');
    assert.equal(await sessions.members('account:srv:1'), []);
  });

  each('sets live apart from values and deadlines; another process sees the same sets', async (sessions, also) => {
    const other = options.connect ? also(await options.connect(sessions)) : sessions;
    await sessions.addMember('account:srv:1', 'srv:a');
    const version = (await sessions.put('srv:a', snapshotOf(1), 0))!;
    assert.ok(await sessions.delete('srv:a', version));
    assert.equal(await other.members('account:srv:1'), ['srv:a']);
    await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? sessions : other).addMember('big', `srv:${i}`)));
    assert.is((await other.members('big')).length, 50);
  });

  s.run();
}
