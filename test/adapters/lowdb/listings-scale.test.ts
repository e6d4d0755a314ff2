/**
 * How listings cost as the store grows: the same queries on a store of 1,000 users and a larger one
 * (50,000 by default; each with an account), timed and printed with the ratio. Asserted loosely only (a page
 * of 10 must not cost anything like the growth in records): the numbers are for reading.
 *
 *   node --import tsx test/adapters/lowdb/listings-scale.test.ts     (SCALE_USERS=1000000 for more)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LowdbStore } from '../../../src/adapters/lowdb/lowdb-store.ts';
import type { AccountRecord, UserRecord } from '../../../src/ports.ts';
import { random } from '../../helpers/random.ts';

// 50,000 in the suite (a growth of 50×, seconds to build); the bench (`--only growth`) measures a million.
const LARGE = Number(process.env.SCALE_USERS ?? 50_000);
const dirs: string[] = [];
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const TEAMS = ['red', 'blue', 'green', 'black', 'white'];

/** A store of `n` users, each with one account, written in changes of 10,000 records, then opened again (indexes built from the file). */
async function storeOf(n: number): Promise<{ store: LowdbStore; built: number; opened: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-scale-'));
  dirs.push(dir);
  const rnd = random(n);
  let store = await LowdbStore.open(dir);
  const started = performance.now();
  await store.transact((tx) => tx.put('server', ['s'], { serverid: 's' } as never));
  for (let from = 0; from < n; from += 5000) {
    await store.transact((tx) => {
      for (let i = from; i < Math.min(n, from + 5000); i++) {
        const userid = `user${String(Math.floor(rnd() * 1e9)).padStart(9, '0')}-${i}`;
        const user: UserRecord = { userid, attributes: { team: TEAMS[i % TEAMS.length], email: `u${i}@example.org` }, created: i };
        const account: AccountRecord = {
          id: i + 1,
          description: ['phone', 'tablet', 'laptop'][i % 3]!,
          blocked: false,
          created: i,
          lastlogin: 1_000_000 + Math.floor(rnd() * 1e6),
          pk: `pk-${i}`,
          userid,
        };
        tx.put('user', ['s', userid], user);
        tx.put('account', ['s', i + 1], account);
      }
    });
  }
  const built = performance.now() - started;
  await store.close();
  const opening = performance.now();
  store = await LowdbStore.open(dir);
  return { store, built, opened: performance.now() - opening };
}

/** The median time of `f` (ms), after a warm-up. */
async function time(f: () => Promise<unknown>, runs = 101): Promise<number> {
  for (let i = 0; i < 5; i++) await f();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[runs >> 1]!;
}

test(`a page of 10 costs about the same at 1,000 and at ${LARGE.toLocaleString('en')} users`, async () => {
  const sizes = [1000, LARGE];
  const results: Array<Record<string, number>> = [];
  for (const n of sizes) {
    const { store, built, opened } = await storeOf(n);
    const login = async () => {
      const id = 1 + Math.floor(Math.random() * n);
      await store.transact((tx) => tx.patch('account', ['s', id], { lastlogin: Date.now() }));
    };
    const r: Record<string, number> = {
      'getUsers limit=10': await time(() => store.listUsers('s', { limit: 10 })),
      'getUsers limit=10 marker=n/2': await time(() => store.listUsers('s', { limit: 10, marker: n >> 1 })),
      'getUsers sort=lastlogin:desc limit=10': await time(() => store.listUsers('s', { sort: [{ column: 'lastlogin', desc: true }], limit: 10 })),
      'getUsers filter=team=red limit=10': await time(() => store.listUsers('s', { filter: [{ key: 'team', values: ['red'] }], limit: 10 })),
      'getUsers filter=team=red sort=lastlogin:desc limit=10': await time(() =>
        store.listUsers('s', { filter: [{ key: 'team', values: ['red'] }], sort: [{ column: 'lastlogin', desc: true }], limit: 10 }),
      ),
      'getUsers filter=email=… (one)': await time(() => store.listUsers('s', { filter: [{ key: 'email', values: [`u${n >> 1}@example.org`] }] })),
      'getAllAccounts limit=10': await time(() => store.listAccounts('s', { limit: 10 })),
      'getAllAccounts filter=team=red sort=lastlogin limit=10': await time(() =>
        store.listAccounts('s', { filter: [{ key: 'team', values: ['red'] }], sort: [{ column: 'lastlogin', desc: false }], limit: 10 }),
      ),
      'getUserAccounts (one user)': await time(async () => store.listAccounts('s', {}, (await store.findAccountByPk('s', `pk-${n >> 2}`))!.userid)),
      'getAllAccounts sort=description:desc marker=n/2 limit=10': await time(() =>
        store.listAccounts('s', { sort: [{ column: 'description', desc: true }], marker: n >> 1, limit: 10 }),
      ),
      findAccountByPk: await time(() => store.findAccountByPk('s', `pk-${n >> 1}`)),
      countAccounts: await time(() => store.countAccounts('s')),
      'a login (durable change, fsync included)': await time(login, 31),
      'getUsers search=… (a scan: O(n))': await time(() => store.listUsers('s', { search: '12345', limit: 10 }), 11),
      'write the records (s)': built / 1000,
      'open: read + index (s)': opened / 1000,
    };
    results.push(r);
    await store.close();
  }
  const [small, large] = results as [Record<string, number>, Record<string, number>];
  const rows = Object.keys(small).map((k) => `  ${k.padEnd(56)} ${small[k]!.toFixed(3).padStart(9)} ${large[k]!.toFixed(3).padStart(9)}   ×${(large[k]! / small[k]!).toFixed(1)}`);
  console.log(`\n  ${'median ms (s where said)'.padEnd(56)} ${'1,000'.padStart(9)} ${LARGE.toLocaleString('en').padStart(9)}   ratio\n${rows.join('\n')}\n`);
  for (const k of ['getUsers limit=10', 'getUsers filter=team=red limit=10', 'getAllAccounts limit=10', 'findAccountByPk']) {
    assert.ok(large[k]! < 10, `${k}: ${large[k]!.toFixed(2)} ms at ${LARGE} users`);
  }
});

test.run();
