/**
 * RedisSessions (src/adapters/redis/redis-sessions.ts) on the real Redis: the Sessions contract,
 * each test under a key prefix of its own, the other "process" a second RedisSessions with its
 * own connection on the same prefix; then what is its own: four processes racing `claimDue` over
 * 2,000 due deadlines, what it leaves in Redis, a closed instance refusing calls, bad input.
 * Every key of the run is deleted at the end. Skipped (one line) when Redis is not reachable.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dropKeys, redisClient } from '../../src/adapters/redis/connect.ts';
import { RedisSessions } from '../../src/adapters/redis/redis-sessions.ts';
import type { Deadline } from '../../src/ports.ts';
import { redisRun } from '../helpers/redis.ts';
import { sessionsContract } from './sessions.contract.ts';

const run = await redisRun('sessions');

if (run) {
  const { url } = run;
  const sessionsAt = (prefix: string) => new RedisSessions({ url, prefix });

  sessionsContract(async () => sessionsAt(run.prefix()), {
    name: 'RedisSessions: Sessions contract',
    connect: async (first) => sessionsAt((first as RedisSessions).prefix),
    lose: async (first) => {
      const client = redisClient(url, 'nextauth-test-lose');
      try {
        await dropKeys(client, (first as RedisSessions).prefix);
      } finally {
        await client.quit();
      }
    },
  });

  const T = 1_900_000_000_000;

  test('4 processes race claimDue over 2,000 due deadlines: each is returned exactly once, earliest first within each claim', async () => {
    const prefix = run.prefix();
    const processes = Array.from({ length: 4 }, () => sessionsAt(prefix));
    try {
      const count = 2000;
      const added = Array.from({ length: count }, (_, i) => ({ key: `srv:${i}`, name: i % 2 ? 'limit' : 'ping', at: T + ((i * 7919) % 1000), payload: { i } }));
      await Promise.all(added.map((d, i) => processes[i % 4]!.addDeadline(d)));
      // Many claims of various sizes at once from every process, then each drains what is left.
      const claims = await Promise.all(Array.from({ length: 120 }, (_, i) => processes[i % 4]!.claimDue(T + 1000, 1 + (i % 17))));
      claims.push(...(await Promise.all(processes.map((p) => p.claimDue(T + 1000)))));
      const seen = new Map<string, Deadline>();
      for (const claim of claims) {
        for (let j = 1; j < claim.length; j++) assert.ok(claim[j - 1]!.at <= claim[j]!.at, 'earliest first');
        for (const d of claim) {
          const id = `${d.key}/${d.name}`;
          assert.not.ok(seen.has(id), `${id} claimed twice`);
          seen.set(id, d);
        }
      }
      assert.is(seen.size, count, 'every deadline claimed');
      for (const d of added) assert.equal(seen.get(`${d.key}/${d.name}`), d);
      for (const p of processes) assert.is(await p.nextDue(), undefined);
    } finally {
      for (const p of processes) await p.close();
    }
  });

  test('claimDue without a limit takes more than one script run (2,500 due), earliest first; a deadline at Infinity is never due', async () => {
    const sessions = sessionsAt(run.prefix());
    try {
      for (let i = 0; i < 2500; i += 500) {
        await Promise.all(Array.from({ length: 500 }, (_, j) => sessions.addDeadline({ key: `srv:${i + j}`, name: 'limit', at: T + (((i + j) * 31) % 2500) })));
      }
      await sessions.addDeadline({ key: 'srv:never', name: 'limit', at: Number.POSITIVE_INFINITY });
      const due = await sessions.claimDue(T + 10_000);
      assert.is(due.length, 2500);
      for (let j = 1; j < due.length; j++) assert.ok(due[j - 1]!.at <= due[j]!.at, `order at ${j}`);
      assert.is(await sessions.nextDue(), Number.POSITIVE_INFINITY);
      assert.equal(await sessions.claimDue(Number.POSITIVE_INFINITY), [{ key: 'srv:never', name: 'limit', at: Number.POSITIVE_INFINITY }]);
    } finally {
      await sessions.close();
    }
  });

  test('what stays in Redis: a deleted value, claimed or cancelled deadlines and emptied sets leave no key; a value has no TTL; a closed claimer leaves nothing', async () => {
    const prefix = run.prefix();
    const sessions = sessionsAt(prefix);
    const client = redisClient(url, 'nextauth-test');
    try {
      const keys = async () => (await client.keys(`${prefix}*`)).sort();
      const v = (await sessions.put('srv:a', { snapshot: { n: 1 }, since: T }, 0))!;
      assert.is(await client.pttl(`${prefix}value:srv:a`), -1, 'no expiry');
      await sessions.addDeadline({ key: 'srv:a', name: 'limit', at: T, payload: { type: 'limit' } });
      await sessions.addDeadline({ key: 'srv:a', name: 'ping', at: T + 1, payload: 'ping' });
      await sessions.addMember('account:srv:1', 'srv:a');
      assert.equal(await keys(), [`${prefix}deadline-payloads`, `${prefix}deadlines`, `${prefix}epoch`, `${prefix}set:account:srv:1`, `${prefix}value:srv:a`, `${prefix}version`]);
      assert.ok(await sessions.delete('srv:a', v));
      await sessions.claimDue(T);
      await sessions.cancelDeadline('srv:a', 'ping');
      await sessions.removeMember('account:srv:1', 'srv:a');
      const id = sessions.id;
      assert.equal(
        await keys(),
        [`${prefix}alive:${id}`, `${prefix}claim-data:${id}`, `${prefix}claimers`, `${prefix}claims:${id}`, `${prefix}epoch`, `${prefix}version`],
        'the claim, for a lease',
      );
      // A payload replaced by none is gone too.
      await sessions.addDeadline({ key: 'srv:b', name: 'limit', at: T, payload: 1 });
      await sessions.addDeadline({ key: 'srv:b', name: 'limit', at: T });
      assert.is(await client.hlen(`${prefix}deadline-payloads`), 0);
      assert.equal(await sessions.claimDue(T), [{ key: 'srv:b', name: 'limit', at: T }]);
      await sessions.close();
      assert.equal(await keys(), [`${prefix}epoch`, `${prefix}version`], 'only the version counter and the epoch');
    } finally {
      await client.quit();
      await sessions.close();
    }
  });

  test("a live process's claims are dropped once a lease old (its heartbeat); it stays alive", async () => {
    const prefix = run.prefix();
    const sessions = new RedisSessions({ url, prefix, claimLeaseMs: 60 });
    const client = redisClient(url, 'nextauth-test');
    try {
      await sessions.addDeadline({ key: 'srv:a', name: 'limit', at: T });
      assert.is((await sessions.claimDue(T)).length, 1);
      assert.is(await client.hlen(`${prefix}claim-data:${sessions.id}`), 1);
      const give = Date.now() + 5000;
      while ((await client.hlen(`${prefix}claim-data:${sessions.id}`)) > 0 && Date.now() < give) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.is(await client.hlen(`${prefix}claim-data:${sessions.id}`), 0, 'dropped');
      assert.is(await client.exists(`${prefix}alive:${sessions.id}`), 1, 'alive');
    } finally {
      await client.quit();
      await sessions.close();
    }
  });

  test('a process killed (SIGKILL) after claiming: once its lease ends, another process gets what it had claimed, once', async () => {
    const prefix = run.prefix();
    const lease = 1500;
    const b = new RedisSessions({ url, prefix, claimLeaseMs: lease });
    try {
      for (let i = 0; i < 10; i++) await b.addDeadline({ key: `srv:${i}`, name: i % 2 ? 'limit' : 'ping', at: T + i, payload: { i } });
      const module = pathToFileURL(fileURLToPath(new URL('../../src/adapters/redis/redis-sessions.ts', import.meta.url))).href;
      const code = `
        const { RedisSessions } = await import(${JSON.stringify(module)});
        const a = new RedisSessions({ url: ${JSON.stringify(url)}, prefix: ${JSON.stringify(prefix)}, claimLeaseMs: ${lease} });
        const claimed = await a.claimDue(${T + 100}, 4);
        process.stdout.write(JSON.stringify(claimed) + '\\n', () => process.kill(process.pid, 'SIGKILL'));`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_, signal) => resolve(signal)));
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      while (!out.includes('\n')) {
        await Promise.race([new Promise((resolve) => child.stdout.once('data', resolve)), exited]);
        if (child.exitCode !== null || child.signalCode !== null) break;
      }
      const byA = JSON.parse(out) as Deadline[];
      assert.equal(
        byA.map((d) => d.payload),
        [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }],
      );
      // While its lease runs, the others get only what it did not claim.
      assert.equal(
        (await b.claimDue(T + 100)).map((d) => d.payload),
        [{ i: 4 }, { i: 5 }, { i: 6 }, { i: 7 }, { i: 8 }, { i: 9 }],
      );
      assert.is(await exited, 'SIGKILL');
      const give = Date.now() + lease + 5000;
      let back: Deadline[] = [];
      while (back.length === 0 && Date.now() < give) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        back = await b.claimDue(T + 100);
      }
      assert.equal(back, byA, 'given back as they were claimed');
      assert.equal(await b.claimDue(T + 100), [], 'once');
      const client = redisClient(url, 'nextauth-test');
      await b.close();
      assert.equal(await client.keys(`${prefix}*`), [`${prefix}epoch`], "nothing left of the dead process's claims");
      await client.quit();
    } finally {
      await b.close();
    }
  });

  test('a claim given back does not replace the deadline added again meanwhile', async () => {
    const prefix = run.prefix();
    const client = redisClient(url, 'nextauth-test');
    const a = new RedisSessions({ url, prefix, claimLeaseMs: 50, client, onError: () => {} });
    const b = new RedisSessions({ url, prefix, claimLeaseMs: 50 });
    try {
      await a.addDeadline({ key: 'srv:x', name: 'limit', at: T, payload: 'old' });
      await a.addDeadline({ key: 'srv:y', name: 'limit', at: T + 1, payload: 'old' });
      assert.is((await a.claimDue(T + 1)).length, 2);
      // a goes silent (its heartbeat stops as a dead process's would: its connection is gone).
      client.disconnect();
      await b.addDeadline({ key: 'srv:x', name: 'limit', at: T + 50, payload: 'new' });
      const give = Date.now() + 5000;
      let back: Deadline[] = [];
      while (back.length === 0 && Date.now() < give) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        back = await b.claimDue(T + 10);
      }
      assert.equal(back, [{ key: 'srv:y', name: 'limit', at: T + 1, payload: 'old' }]);
      assert.equal(await b.claimDue(T + 100), [{ key: 'srv:x', name: 'limit', at: T + 50, payload: 'new' }]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('times that are not whole numbers, and keys and names with any characters, come back exactly', async () => {
    const sessions = sessionsAt(run.prefix());
    try {
      const odd: Deadline[] = [
        { key: 'srv:"quoted"', name: 'a\\b', at: T + 0.1 },
        { key: 'srv:é漢字🙂', name: '["x",1]', at: T + 1 / 3 },
        { key: '', name: '', at: -5.5, payload: [] },
      ];
      for (const d of odd) await sessions.addDeadline(d);
      assert.equal(await sessions.claimDue(T + 1), [odd[2], odd[0], odd[1]]);
    } finally {
      await sessions.close();
    }
  });

  test.after(async () => {
    await run.cleanup();
  });
}

test.run();
