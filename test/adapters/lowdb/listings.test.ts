/**
 * The lowdb store's listings and lookups answer from indexes (src/adapters/lowdb/indexes.ts).
 * Here they are compared with the brute-force code they replaced (`reference*` below: every
 * record filtered, sorted, paged) on a few thousand random users, accounts, attributes, api keys
 * and enrol codes, after each batch of random changes (creates, attribute changes, logins,
 * relinks, deletes, changes that throw) and after the store is opened again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Data } from '../../../src/adapters/lowdb/data.ts';
import { LowdbStore } from '../../../src/adapters/lowdb/lowdb-store.ts';
import {
  ACCOUNT_COLUMNS,
  type AccountRecord,
  type Condition,
  type EnrolCodeRecord,
  type ListQuery,
  type Page,
  type SortKey,
  USER_COLUMNS,
  type UserSummary,
} from '../../../src/ports.ts';
import { random } from '../../helpers/random.ts';
import { ROLES, SERVERS, World } from '../../helpers/store-world.ts';

const dirs: string[] = [];
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// ---- The reference: the store's listings as they were, over a copy of the document -------------

const asText = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
const matches = (conditions: readonly Condition[], lookup: (key: string) => unknown): boolean =>
  conditions.every((c) => {
    const v = lookup(c.key);
    return v !== undefined && v !== null && c.values.includes(asText(v));
  });
function sortItems<T>(items: T[], sort: readonly SortKey[] | undefined, tiebreak: keyof T & string): T[] {
  const keys = [...(sort ?? []), { column: tiebreak, desc: false }];
  return [...items].sort((a, b) => {
    for (const { column, desc } of keys) {
      const x = (a as Record<string, unknown>)[column] as number | string | boolean | undefined | null;
      const y = (b as Record<string, unknown>)[column] as number | string | boolean | undefined | null;
      if (x === y) continue;
      if (x === undefined || x === null) return 1;
      if (y === undefined || y === null) return -1;
      return (x < y ? -1 : 1) * (desc ? -1 : 1);
    }
    return 0;
  });
}
function page<T>(items: T[], q: Pick<ListQuery, 'limit' | 'marker'>): Page<T> {
  const start = q.marker ?? 0;
  const end = q.limit === undefined ? undefined : start + q.limit;
  return { items: items.slice(start, end), totalnumber: items.length };
}
const ownValue = <V>(obj: Record<string, V> | undefined, key: string): V | undefined => (obj !== undefined && Object.hasOwn(obj, key) ? obj[key] : undefined);
const values = <V>(container: Record<string, V> | undefined): V[] => (container ? Object.values(container) : []);
const accountsOf = (data: Data, serverid: string): AccountRecord[] => values(ownValue(data.accounts, serverid));

function referenceListAccounts(data: Data, serverid: string, query: ListQuery, userid?: string): Page<AccountRecord> {
  const users = ownValue(data.users, serverid);
  const columns: readonly string[] = ACCOUNT_COLUMNS;
  const found = accountsOf(data, serverid).filter(
    (a) =>
      (userid === undefined || a.userid === userid) &&
      matches(query.filter ?? [], (key) =>
        columns.includes(key) ? (a as unknown as Record<string, unknown>)[key] : a.userid !== undefined ? ownValue(ownValue(users, a.userid)?.attributes, key) : undefined,
      ),
  );
  return page(sortItems(found, query.sort, 'id'), query);
}

function referenceListUsers(data: Data, serverid: string, query: ListQuery): Page<UserSummary> {
  const search = query.search?.toLowerCase();
  const users = values(ownValue(data.users, serverid)).filter(
    (u) => (search === undefined || u.userid.toLowerCase().includes(search)) && matches(query.filter ?? [], (key) => ownValue(u.attributes, key)),
  );
  const byUser = new Map<string, AccountRecord[]>();
  for (const a of accountsOf(data, serverid)) {
    if (a.userid === undefined) continue;
    const list = byUser.get(a.userid);
    if (list) list.push(a);
    else byUser.set(a.userid, [a]);
  }
  const rows = users.map((user) => {
    const accounts = byUser.get(user.userid) ?? [];
    let last = 0;
    for (const a of accounts) if (a.lastlogin !== undefined && a.lastlogin > last) last = a.lastlogin;
    return { userid: user.userid, numberaccounts: accounts.length, ...(last > 0 ? { lastlogin: last } : {}), user };
  });
  const { items, totalnumber } = page(sortItems(rows, query.sort, 'userid'), query);
  return { items: items.map(({ user, numberaccounts, lastlogin }) => ({ user, numberaccounts, ...(lastlogin !== undefined ? { lastlogin } : {}) })), totalnumber };
}

const referenceApiKeysOf = (data: Data, role: string) =>
  Object.entries(data.apiKeys)
    .filter(([, k]) => k.createdBy === role || k.role === role)
    .map(([hash, key]) => ({ hash, key }));
const referenceHasRootKey = (data: Data) => values(data.apiKeys).some((k) => ownValue(ownValue(data.permissions, k.role), '*')?.includes('root') ?? false);
/** The oldest first (ties by key): the indexed store gives the oldest, not the first stored. */
const referenceStaleEnrolCodes = (data: Data, before: number, limit: number): EnrolCodeRecord[] =>
  Object.entries(data.enrolCodes)
    .filter(([, c]) => c.created < before)
    .sort(([ka, a], [kb, b]) => a.created - b.created || (ka < kb ? -1 : 1))
    .slice(0, limit)
    .map(([, c]) => c);

const parsed = (store: LowdbStore): Data => JSON.parse(store.dump()) as Data;

/** Every listing and lookup of `store` against the reference over its document. */
function compare(store: LowdbStore, world: World, label: string, queries: number): Promise<void> {
  const data = parsed(store);
  return (async () => {
    for (const serverid of [...SERVERS, 'nobody']) {
      const accounts = accountsOf(data, serverid);
      const users = values(ownValue(data.users, serverid));
      assert.is(await store.countAccounts(serverid), accounts.length, `${label}: countAccounts ${serverid}`);
      for (let i = 0; i < 30; i++) {
        const pk = accounts.length && world.chance(0.8) ? world.pick(accounts).pk : `pk${world.int(60)}`;
        assert.equal(
          await store.findAccountByPk(serverid, pk),
          accounts.find((a) => a.pk === pk),
          `${label}: findAccountByPk ${serverid} ${pk}`,
        );
        const userid = users.length && world.chance(0.8) ? world.pick(users).userid : `ghost${world.int(25)}`;
        assert.equal(
          await store.accountsOfUser(serverid, userid),
          accounts.filter((a) => a.userid === userid),
          `${label}: accountsOfUser ${serverid} ${userid}`,
        );
      }
      for (let i = 0; i < queries; i++) {
        const uq = world.query('users', data, serverid, users.length);
        assert.equal(await store.listUsers(serverid, uq), referenceListUsers(data, serverid, uq), `${label}: listUsers ${serverid} ${JSON.stringify(uq)}`);
        const aq = world.query('accounts', data, serverid, accounts.length);
        assert.equal(await store.listAccounts(serverid, aq), referenceListAccounts(data, serverid, aq), `${label}: listAccounts ${serverid} ${JSON.stringify(aq)}`);
        if (i % 4 === 0) {
          const userid = users.length && world.chance(0.9) ? world.pick(users).userid : 'nobody';
          const mq = world.query('accounts', data, serverid, 3);
          assert.equal(
            await store.listAccounts(serverid, mq, userid),
            referenceListAccounts(data, serverid, mq, userid),
            `${label}: listAccounts ${serverid} of ${userid} ${JSON.stringify(mq)}`,
          );
        }
      }
    }
    for (const role of [...ROLES, 'nobody']) assert.equal(await store.apiKeysOf(role), referenceApiKeysOf(data, role), `${label}: apiKeysOf ${role}`);
    assert.is(await store.hasRootKey(), referenceHasRootKey(data), `${label}: hasRootKey`);
    for (const [before, limit] of [
      [500, 1000],
      [1000, 7],
      [3000, 50],
      [0, 10],
    ] as const) {
      assert.equal(await store.staleEnrolCodes(before, limit), referenceStaleEnrolCodes(data, before, limit), `${label}: staleEnrolCodes ${before} ${limit}`);
    }
  })();
}

test('listings and lookups equal the brute-force reference through random changes and a restart', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-listings-'));
  dirs.push(dir);
  const world = new World(random(2024));
  let store = await LowdbStore.open(dir);
  // A few thousand records to start with, in large changes.
  for (const serverid of SERVERS) {
    const userids = Array.from({ length: 1500 }, () => world.userid());
    await store.transact((tx) => {
      tx.put('server', [serverid], { serverid } as never);
      for (const userid of userids) tx.put('user', [serverid, userid], world.user(userid));
    });
    await store.transact((tx) => {
      for (let i = 0; i < 2500; i++) {
        const id = world.nextId(serverid);
        tx.put('account', [serverid, id], world.account(id, userids));
      }
      for (let i = 0; i < 150; i++) {
        const code = world.enrolCode(serverid);
        tx.put('enrolCode', [serverid, code.hsid], code);
      }
    });
  }
  await store.transact((tx) => {
    for (let i = 0; i < 150; i++) tx.put('apiKey', [`k${world.next.key++}`], world.apiKey());
    for (const role of ROLES.slice(0, 3)) tx.put('permissions', [role], { '*': ['root'] });
  });
  await compare(store, world, 'start', 60);

  for (let batch = 1; batch <= 8; batch++) {
    world.startBatch(parsed(store));
    for (let t = 0; t < 40; t++) {
      const size = world.chance(0.2) ? 30 + world.int(60) : 1 + world.int(4);
      if (world.chance(0.1)) {
        // A change that throws stores nothing, and leaves the indexes as they were.
        const e = await store.transact(async (tx) => (await world.change(tx, size), Promise.reject(new Error('no')))).catch((err: Error) => err);
        assert.is((e as Error).message, 'no');
      } else await store.transact((tx) => world.change(tx, size));
    }
    await compare(store, world, `batch ${batch}`, 40);
    if (batch % 3 === 0) {
      await store.close();
      store = await LowdbStore.open(dir);
      await compare(store, world, `batch ${batch}, reopened`, 40);
    }
  }
  const last = store.dump();
  await store.close();
  // Opened again, the store lists what it held.
  store = await LowdbStore.open(dir);
  assert.ok(store.dump() === last, 'the same document');
  await compare(store, world, 'reopened at the end', 60);
  await store.close();
});

test('users: every sort column and direction pages without skipping or repeating, and totalnumber holds', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-listings-'));
  dirs.push(dir);
  const world = new World(random(99));
  const store = await LowdbStore.open(dir);
  const userids = Array.from({ length: 3000 }, () => world.userid());
  await store.transact((tx) => {
    for (const userid of userids) tx.put('user', ['s', userid], world.user(userid));
    for (let id = 1; id <= 4000; id++) tx.put('account', ['s', id], world.account(id, userids));
  });
  const data = parsed(store);
  for (const filter of [[], [{ key: 'team', values: ['red', 'blue'] }]] as Condition[][]) {
    for (const column of USER_COLUMNS) {
      for (const desc of [false, true]) {
        const sort = [{ column, desc }];
        const whole = referenceListUsers(data, 's', { filter, sort });
        const pages: UserSummary[] = [];
        for (let marker = 0; marker < whole.totalnumber; marker += 97) {
          const p = await store.listUsers('s', { filter, sort, marker, limit: 97 });
          assert.is(p.totalnumber, whole.totalnumber);
          pages.push(...p.items);
        }
        assert.equal(pages, whole.items, `${column} ${desc ? 'desc' : 'asc'} ${JSON.stringify(filter)}`);
      }
    }
  }
  await store.close();
});

test.run();
