/**
 * The PostgreSQL store's listings and lookups mean what the lowdb store's do: the same random
 * changes (test/helpers/store-world.ts) are made in both stores, the lowdb store's changes
 * recorded and replayed, and every listing and lookup is compared between them, through
 * changes that throw and a restart; then every sort column and direction paged end to end
 * (long descriptions and client versions among them).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Data } from '../../../src/adapters/lowdb/data.ts';
import { LowdbStore } from '../../../src/adapters/lowdb/lowdb-store.ts';
import { PostgresStore } from '../../../src/adapters/postgres/postgres-store.ts';
import { ACCOUNT_COLUMNS, type Condition, type KeyOf, type NewEvent, type RecordKind, type Store, type StoreTx, USER_COLUMNS, type ValueOf } from '../../../src/ports.ts';
import { databases } from '../../helpers/pg-databases.ts';
import { random } from '../../helpers/random.ts';
import { service } from '../../helpers/services.ts';
import { ROLES, SERVERS, World } from '../../helpers/store-world.ts';

const url = await service('postgres');

/** A tx that passes everything on and keeps the writes, to make them again elsewhere. */
class Recording implements StoreTx {
  readonly writes: Array<(tx: StoreTx) => void> = [];
  constructor(private readonly tx: StoreTx) {}
  get<K extends RecordKind>(kind: K, ...key: KeyOf<K>): Promise<ValueOf<K> | undefined> {
    return this.tx.get(kind, ...key);
  }
  put<K extends RecordKind>(kind: K, key: KeyOf<K>, value: ValueOf<K>): void {
    this.tx.put(kind, key, value);
    const copy = structuredClone(value);
    this.writes.push((tx) => tx.put(kind, key, copy));
  }
  patch<K extends RecordKind>(kind: K, key: KeyOf<K>, fields: Partial<ValueOf<K>>): void {
    this.tx.patch(kind, key, fields);
    const copy = structuredClone(fields);
    this.writes.push((tx) => tx.patch(kind, key, copy));
  }
  delete<K extends RecordKind>(kind: K, key: KeyOf<K>): void {
    this.tx.delete(kind, key);
    this.writes.push((tx) => tx.delete(kind, key));
  }
  emit(event: NewEvent): void {
    this.tx.emit(event);
    const copy = structuredClone(event);
    this.writes.push((tx) => tx.emit(copy));
  }
}

if (url) {
  const dbs = databases(url);
  const dirs: string[] = [];
  test.after(async () => {
    await dbs.dropAll();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const lowdb = async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-pg-listings-'));
    dirs.push(dir);
    return LowdbStore.open(dir);
  };
  const parsed = (store: LowdbStore): Data => JSON.parse(store.dump()) as Data;

  /** A change made in the lowdb store, then (its writes) in the PostgreSQL store; `fail`: both throw after writing. */
  async function both(ref: LowdbStore, store: Store, change: (tx: StoreTx) => Promise<void>, fail = false): Promise<void> {
    let writes: Recording['writes'] = [];
    const done = await ref
      .transact(async (tx) => {
        const r = new Recording(tx);
        await change(r);
        writes = r.writes;
        if (fail) throw new Error('no');
      })
      .then(
        () => 'stored',
        (e: Error) => e.message,
      );
    const again = await store
      .transact((tx) => {
        for (const w of writes) w(tx);
        if (fail) throw new Error('no');
      })
      .then(
        () => 'stored',
        (e: Error) => e.message,
      );
    assert.is(again, done);
  }

  /** Every listing and lookup of `store` against the lowdb store's. */
  async function compare(ref: LowdbStore, store: Store, world: World, label: string, queries: number): Promise<void> {
    const data = parsed(ref);
    for (const serverid of [...SERVERS, 'nobody']) {
      const accounts = Object.values(data.accounts[serverid] ?? {});
      const users = Object.values(data.users[serverid] ?? {});
      assert.is(await store.countAccounts(serverid), await ref.countAccounts(serverid), `${label}: countAccounts ${serverid}`);
      for (let i = 0; i < 10; i++) {
        const pk = accounts.length && world.chance(0.8) ? world.pick(accounts).pk : `pk${world.int(60)}`;
        assert.equal(await store.findAccountByPk(serverid, pk), await ref.findAccountByPk(serverid, pk), `${label}: findAccountByPk ${serverid} ${pk}`);
        const userid = users.length && world.chance(0.8) ? world.pick(users).userid : `ghost${world.int(25)}`;
        assert.equal(await store.accountsOfUser(serverid, userid), await ref.accountsOfUser(serverid, userid), `${label}: accountsOfUser ${serverid} ${userid}`);
        assert.equal(await store.get('user', serverid, userid), await ref.get('user', serverid, userid), `${label}: user ${serverid} ${userid}`);
      }
      for (let i = 0; i < queries; i++) {
        const uq = world.query('users', data, serverid, users.length);
        assert.equal(await store.listUsers(serverid, uq), await ref.listUsers(serverid, uq), `${label}: listUsers ${serverid} ${JSON.stringify(uq)}`);
        const aq = world.query('accounts', data, serverid, accounts.length);
        assert.equal(await store.listAccounts(serverid, aq), await ref.listAccounts(serverid, aq), `${label}: listAccounts ${serverid} ${JSON.stringify(aq)}`);
        if (i % 4 === 0) {
          const userid = users.length && world.chance(0.9) ? world.pick(users).userid : 'nobody';
          const mq = world.query('accounts', data, serverid, 3);
          assert.equal(await store.listAccounts(serverid, mq, userid), await ref.listAccounts(serverid, mq, userid), `${label}: listAccounts of ${userid} ${JSON.stringify(mq)}`);
        }
      }
      assert.equal(await store.permissionsOn(serverid), await ref.permissionsOn(serverid), `${label}: permissionsOn ${serverid}`);
    }
    assert.equal(await store.permissionsOn('*'), await ref.permissionsOn('*'), `${label}: permissionsOn *`);
    // In the order keys came in as the lowdb store's document has it (its index keeps the place of
    // a key deleted and put again within one change, until it is opened again).
    for (const role of [...ROLES, 'nobody'])
      assert.equal(
        await store.apiKeysOf(role),
        Object.entries(data.apiKeys)
          .filter(([, k]) => k.createdBy === role || k.role === role)
          .map(([hash, key]) => ({ hash, key })),
        `${label}: apiKeysOf ${role}`,
      );
    assert.is(await store.hasRootKey(), await ref.hasRootKey(), `${label}: hasRootKey`);
    for (const [before, limit] of [
      [500, 1000],
      [1000, 7],
      [3000, 50],
      [0, 10],
    ] as const)
      assert.equal(await store.staleEnrolCodes(before, limit), await ref.staleEnrolCodes(before, limit), `${label}: staleEnrolCodes ${before} ${limit}`);
    assert.equal(await store.listServers(), await ref.listServers(), `${label}: listServers`);
  }

  test('listings and lookups equal the lowdb store’s through random changes, changes that throw and a restart', async () => {
    const world = new World(random(2025));
    const ref = await lowdb();
    const db = await dbs.fresh();
    let store = await PostgresStore.open(db);
    for (const serverid of SERVERS) {
      const userids = Array.from({ length: 300 }, () => world.userid());
      await both(ref, store, async (tx) => {
        tx.put('server', [serverid], { serverid } as never);
        for (const userid of userids) tx.put('user', [serverid, userid], world.user(userid));
        for (let i = 0; i < 500; i++) {
          const id = world.nextId(serverid);
          tx.put('account', [serverid, id], world.account(id, userids));
        }
        for (let i = 0; i < 60; i++) {
          const code = world.enrolCode(serverid);
          tx.put('enrolCode', [serverid, code.hsid], code);
        }
      });
    }
    await both(ref, store, async (tx) => {
      for (let i = 0; i < 60; i++) tx.put('apiKey', [`k${world.next.key++}`], world.apiKey());
      for (const role of ROLES.slice(0, 3)) tx.put('permissions', [role], { '*': ['root'] });
    });
    await compare(ref, store, world, 'start', 30);
    for (let batch = 1; batch <= 5; batch++) {
      world.startBatch(parsed(ref));
      for (let t = 0; t < 25; t++) {
        const size = world.chance(0.2) ? 20 + world.int(40) : 1 + world.int(4);
        await both(ref, store, (tx) => world.change(tx, size), world.chance(0.1));
      }
      await compare(ref, store, world, `batch ${batch}`, 25);
      if (batch % 2 === 0) {
        await store.close();
        store = await PostgresStore.open(db);
        await compare(ref, store, world, `batch ${batch}, reopened`, 15);
      }
    }
    await store.close();
    await ref.close();
  });

  test('every sort column and direction pages without skipping or repeating, as the lowdb store pages', async () => {
    const world = new World(random(7));
    const ref = await lowdb();
    const store = await PostgresStore.open(await dbs.fresh());
    const userids = Array.from({ length: 600 }, () => world.userid());
    await both(ref, store, async (tx) => {
      for (const userid of userids) tx.put('user', ['s', userid], world.user(userid));
      for (let id = 1; id <= 900; id++) tx.put('account', ['s', id], world.account(id, userids));
    });
    // Descriptions and versions longer than the 200 characters their indexes hold, some alike that far.
    const long = ['x'.repeat(200), `${'x'.repeat(200)}b`, `${'x'.repeat(200)}a`, `${'x'.repeat(199)}y`, `${'x'.repeat(300)}`, `${'x'.repeat(200)}a`];
    await both(ref, store, async (tx) => {
      long.forEach((text, i) => {
        tx.patch('account', ['s', 10 + i], { description: text });
        tx.patch('account', ['s', 20 + i], { clientVersion: text });
      });
    });
    for (const filter of [[], [{ key: 'team', values: ['red', 'blue'] }]] as Condition[][]) {
      for (const [kind, columns] of [
        ['users', USER_COLUMNS],
        ['accounts', ACCOUNT_COLUMNS],
      ] as const) {
        for (const column of columns) {
          for (const desc of [false, true]) {
            const sort = [{ column, desc }, ...(kind === 'accounts' && column !== 'lastlogin' ? [{ column: 'lastlogin', desc: !desc }] : [])];
            const list = (s: Store, marker?: number, limit?: number) =>
              kind === 'users'
                ? s.listUsers('s', { filter, sort, ...(marker !== undefined ? { marker, limit } : {}) })
                : s.listAccounts('s', { filter, sort, ...(marker !== undefined ? { marker, limit } : {}) });
            const whole = await list(ref);
            assert.equal(await list(store), whole, `${kind} ${column} ${desc ? 'desc' : 'asc'}: whole`);
            const pages: unknown[] = [];
            for (let marker = 0; marker < whole.totalnumber; marker += 97) {
              const p = await list(store, marker, 97);
              assert.is(p.totalnumber, whole.totalnumber);
              pages.push(...p.items);
            }
            assert.equal(pages, whole.items, `${kind} ${column} ${desc ? 'desc' : 'asc'} ${JSON.stringify(filter)}`);
          }
        }
      }
    }
    await store.close();
    await ref.close();
  });

  test.run();
}
