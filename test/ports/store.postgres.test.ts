/**
 * The Store contract against the PostgreSQL adapter (each store in a database of its own, made
 * for it and dropped at the end; reopen = a second store on the same database, as another
 * process or a restart), then what is its own: migrations raced by several processes at start,
 * a change that throws leaving no row, batches, conflicts between processes, strings PostgreSQL
 * text cannot hold, events read in commit order past transactions of other processes, the audit
 * listing's time ranges, pruning past `keep` with one walk to the cut per run, a COMMIT whose
 * answer is lost (the loose events tried again: src/core/events/loose-events.ts), and an
 * unreachable database.
 */
import net from 'node:net';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MIGRATIONS, migrate } from '../../src/adapters/postgres/migrations.ts';
import { PostgresStore } from '../../src/adapters/postgres/postgres-store.ts';
import { LooseEvents } from '../../src/core/events/loose-events.ts';
import type { EventRecord, NewEvent, Store } from '../../src/ports.ts';
import { databases } from '../helpers/pg-databases.ts';
import { service } from '../helpers/services.ts';
import { server, storeContract } from './store.contract.ts';

const url = await service('postgres');

if (url) {
  const dbs = databases(url);

  storeContract('postgres', {
    async open() {
      const db = await dbs.fresh();
      const store = await PostgresStore.open(db);
      return { store, reopen: () => PostgresStore.open(db) };
    },
  });

  const test = suite('PostgresStore');
  const stores: Store[] = [];
  const open = async (db: string, options?: Parameters<typeof PostgresStore.open>[1]) => {
    const s = await PostgresStore.open(db, options);
    stores.push(s);
    return s;
  };
  test.after.each(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  });
  test.after(() => dbs.dropAll());

  /**
   * A TCP proxy to the database, on 127.0.0.1: the URL through it, `cutAfterCommit()` (the next
   * COMMIT reaches the database, and its connection is cut when the answer comes back), and
   * `close()`, which takes the proxy and every connection through it away.
   */
  const proxyTo = async (db: URL) => {
    const sockets = new Set<net.Socket>();
    let armed = false;
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(db.port || 5432), db.hostname);
      let cut = false;
      client.on('data', (d: Buffer) => {
        if (armed && d.includes('COMMIT')) [armed, cut] = [false, true];
        upstream.write(d);
      });
      upstream.on('data', (d: Buffer) => (cut ? client.destroy() : client.write(d)));
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        sockets.add(a);
        a.on('error', () => undefined);
        a.on('close', () => (sockets.delete(a), b.destroy()));
      }
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const via = new URL(db);
    via.hostname = '127.0.0.1';
    via.port = String((proxy.address() as net.AddressInfo).port);
    return {
      url: via.toString(),
      cutAfterCommit: () => void (armed = true),
      close: () =>
        new Promise<void>((r) => {
          proxy.close(() => r());
          for (const socket of sockets) socket.destroy();
        }),
    };
  };

  /** Rows of a table of the database. */
  const count = async (db: string, table: string): Promise<number> => {
    const c = new pg.Client({ connectionString: db });
    await c.connect();
    try {
      return Number((await c.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    } finally {
      await c.end();
    }
  };

  test('migrations raced by processes starting together are applied once', async () => {
    const db = await dbs.fresh();
    const clients = Array.from({ length: 4 }, () => new pg.Client({ connectionString: db }));
    await Promise.all(clients.map((c) => c.connect()));
    try {
      const applied = await Promise.all(clients.map((c) => migrate(c)));
      const all = MIGRATIONS.map((m) => m.version);
      assert.equal(
        applied.filter((a) => a.length > 0),
        [all],
        'one process applies them, the others find nothing to do',
      );
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    // And stores opening together on a fresh database all open, on one schema.
    const other = await dbs.fresh();
    const opened = await Promise.all(Array.from({ length: 3 }, () => open(other)));
    await opened[0]!.transact((tx) => tx.put('server', ['s'], server('s')));
    assert.is((await opened[2]!.get('server', 's'))?.serverid, 's');
    assert.is(await count(other, 'nextauth_migrations'), MIGRATIONS.length);
  });

  test('a change that throws leaves no row anywhere; the changes batched with it are stored', async () => {
    const db = await dbs.fresh();
    const store = await open(db);
    const tables = [
      'servers',
      'users',
      'user_attrs',
      'accounts',
      'roles',
      'api_keys',
      'permissions',
      'permission_scopes',
      'enrol_codes',
      'transactions',
      'sessions',
      'webhooks',
      'deliveries',
      'oidc',
      'events',
    ];
    const before = await Promise.all(tables.map((t) => count(db, t)));
    const error = await store
      .transact(async (tx) => {
        tx.put('server', ['s'], server('s'));
        tx.put('user', ['s', 'ann'], { userid: 'ann', attributes: { team: 'red' }, created: 1 });
        tx.put('account', ['s', 1], { id: 1, description: 'phone', blocked: false, created: 1, pk: 'pk1', userid: 'ann' });
        tx.put('role', ['r'], { description: 'r', created: 1 });
        tx.put('apiKey', ['h'], { role: 'r', description: 'k', created: 1, hint: 'x' });
        tx.put('permissions', ['r'], { '*': ['root'] });
        tx.put('enrolCode', ['s', 'h'], { serverid: 's', hsid: 'h', name: 'n', created: 1 });
        tx.put('transaction', ['t'], { tid: 't', serverid: 's', hsid: 'h', account: 1, tx: '', state: 'pending', created: 1, expires: 2 });
        tx.put('session', ['s:h'], { snapshot: {}, since: 1 });
        tx.put('webhook', ['s', 'w'], { id: 'w', serverid: 's', url: 'http://127.0.0.1/', types: [], description: '', created: 1, secret: 'whsec_x' });
        tx.put('delivery', ['s', 'w'], { cursor: '0:0', delivered: 0, failed: 0, attempts: [] });
        tx.put('oidc', ['s', 'Grant', 'g'], { payload: {}, expiresAt: 1, accountId: 'ann' });
        tx.emit({ id: 'e', type: 'com.nextauth.server.created', serverid: 's', time: 1 });
        await tx.get('server', 's');
        throw new Error('no');
      })
      .catch((e: Error) => e.message);
    assert.is(error, 'no');
    assert.equal(await Promise.all(tables.map((t) => count(db, t))), before);

    // A statement PostgreSQL refuses, for the fifth change below (a constraint of this test's own:
    // what the adapter writes is otherwise checked before it is sent).
    const c = new pg.Client({ connectionString: db });
    await c.connect();
    await c.query("ALTER TABLE roles ADD CONSTRAINT test_no_role_e CHECK (role <> 'e')").finally(() => c.end());

    // In one batch: a change, one that throws, one that patches a record that is not there, another change.
    const emit = (tx: Parameters<Parameters<Store['transact']>[0]>[0], id: string) => tx.emit({ id, type: 'com.nextauth.role.created', serverid: 's', time: 1 });
    const outcomes = await Promise.allSettled([
      store.transact((tx) => {
        tx.put('role', ['a'], { description: 'a', created: 1 });
        emit(tx, 'a');
      }),
      store.transact((tx) => {
        tx.put('role', ['b'], { description: 'b', created: 1 });
        emit(tx, 'b');
        throw new Error('b');
      }),
      store.transact((tx) => {
        tx.put('role', ['c'], { description: 'c', created: 1 });
        emit(tx, 'c');
        tx.patch('account', ['s', 9], { lastlogin: 1 });
      }),
      store.transact(async (tx) => {
        assert.ok(await tx.get('role', 'a'));
        assert.is(await tx.get('role', 'b'), undefined);
        assert.is(await tx.get('role', 'c'), undefined);
        tx.put('role', ['d'], { description: 'd', created: 1 });
        emit(tx, 'd');
      }),
      // a statement refused: its change alone fails (the batch is then run a change at a time)
      store.transact((tx) => {
        tx.put('role', ['e'], { description: 'e', created: 1 });
        emit(tx, 'e');
      }),
    ]);
    assert.equal(
      outcomes.map((o) => o.status),
      ['fulfilled', 'rejected', 'rejected', 'fulfilled', 'rejected'],
    );
    assert.equal(
      (await store.listEvents('s', { limit: 10 })).map((e) => e.id),
      ['d', 'a'],
      'the events of the changes stored, only',
    );
    assert.is(await store.get('role', 'e'), undefined);
    const reopened = await open(db);
    for (const [role, there] of [
      ['a', true],
      ['b', false],
      ['c', false],
      ['d', true],
    ] as const)
      assert.is((await reopened.get('role', role)) !== undefined, there, role);
  });

  test('two processes making read-then-write changes at once lose nothing (serializable, run again on conflict)', async () => {
    const db = await dbs.fresh();
    const a = await open(db);
    const b = await open(db);
    await a.transact((tx) => tx.put('server', ['s'], server('s')));
    const bump = (store: Store) =>
      store.transact(async (tx) => {
        const s = (await tx.get('server', 's'))!;
        await new Promise((r) => setTimeout(r, Math.random() * 2));
        tx.patch('server', ['s'], { nextAccountId: s.nextAccountId + 1 });
      });
    await Promise.all(Array.from({ length: 40 }, (_, i) => bump(i % 2 ? a : b)));
    assert.is((await a.get('server', 's'))?.nextAccountId, 41);
    assert.is((await b.get('server', 's'))?.nextAccountId, 41);
  });

  test('a patch of a record the change has not read: applied on what is stored, or the change rejects', async () => {
    const db = await dbs.fresh();
    const store = await open(db);
    await store.transact((tx) => tx.put('server', ['s'], server('s', { serverFlags: ['a'] })));
    const other = await open(db);
    await other.transact((tx) => {
      tx.patch('server', ['s'], { serverName: 'renamed' });
      tx.patch('server', ['s'], { logo: 'logo', appname: undefined });
    });
    assert.equal(await store.get('server', 's'), server('s', { serverFlags: ['a'], serverName: 'renamed', logo: 'logo' }));
    const e = await other.transact((tx) => tx.patch('server', ['nope'], { logo: 'x' })).catch((err: Error) => err);
    assert.instance(e, Error);
    assert.match((e as Error).message, /No server/);
  });

  test('the users and accounts of a server are counted right, however many changes made and deleted them (row_counts folded)', async () => {
    const db = await dbs.fresh();
    const store = await open(db);
    for (let i = 0; i < 150; i++) {
      await store.transact((tx) => {
        tx.put('user', ['s', `u${i}`], { userid: `u${i}`, attributes: {}, created: i });
        tx.put('account', ['s', i], { id: i, description: 'phone', blocked: false, created: i, pk: `pk${i}`, userid: `u${i}` });
        if (i % 3 === 0) tx.delete('user', ['s', `u${i - 1}`]);
        tx.put('user', ['t', `u${i}`], { userid: `u${i}`, attributes: {}, created: i });
      });
    }
    await store.transact((tx) => {
      for (let i = 0; i < 150; i += 2) tx.delete('account', ['s', i]);
    });
    const users = 150 - 49;
    assert.is((await store.listUsers('s', { limit: 1 })).totalnumber, users);
    assert.is(await store.countAccounts('s'), 75);
    assert.is((await store.listUsers('t', {})).totalnumber, 150);
    await store.close();
    assert.ok((await count(db, 'row_counts')) < 150, 'folded into fewer rows than the changes that added them');
    const again = await open(db);
    assert.is((await again.listUsers('s', { limit: 1 })).totalnumber, users);
    assert.is((await again.listAccounts('s', { limit: 1 })).totalnumber, 75);
    assert.is(await again.countAccounts('t'), 0);
  });

  test('strings text cannot hold: refused in keys, kept exactly in records and user attributes', async () => {
    const db = await dbs.fresh();
    const store = await open(db);
    const refused = await store.transact((tx) => tx.put('user', ['s', 'a\0b'], { userid: 'a\0b', attributes: {}, created: 1 })).catch((e: { code?: string }) => e.code);
    assert.is(refused, 'BAD_REQUEST');
    assert.is(await store.get('user', 's', 'a\0b'), undefined);
    const odd = { team: 'r\0d', lone: '\uD800x', obj: { k: '\0' } };
    await store.transact((tx) => {
      tx.put('user', ['s', 'ann'], { userid: 'ann', attributes: odd, created: 1 });
      tx.put('account', ['s', 1], { id: 1, description: 'ph\0ne', blocked: false, created: 1, pk: 'p\0k', userid: 'ann' });
    });
    assert.equal((await store.get('user', 's', 'ann'))?.attributes, odd);
    assert.is((await store.get('account', 's', 1))?.description, 'ph\0ne');
    assert.is((await store.findAccountByPk('s', 'p\0k'))?.id, 1);
    assert.is(await store.findAccountByPk('s', 'p\uFFFDk'), undefined);
    for (const [key, value, n] of [
      ['team', 'r\0d', 1],
      ['team', 'r\uFFFDd', 0],
      ['lone', '\uD800x', 1],
      ['obj', '{"k":"\\u0000"}', 1],
    ] as const)
      assert.is((await store.listUsers('s', { filter: [{ key, values: [value] }] })).totalnumber, n, `${key}=${JSON.stringify(value)}`);
    assert.is((await store.listUsers('s', { search: '\0' })).totalnumber, 0);
  });

  test('OIDC records: a field text cannot hold refused, found by none; an expiry of a fraction of a ms never pruned early', async () => {
    const db = await dbs.fresh();
    const store = await open(db);
    const refused = await store.transact((tx) => tx.put('oidc', ['s', 'Grant', 'g'], { payload: {}, accountId: 'a\0b' })).catch((e: { code?: string }) => e.code);
    assert.is(refused, 'BAD_REQUEST');
    assert.is(await store.get('oidc', 's', 'Grant', 'g'), undefined);
    assert.equal(await store.oidcBy('s', 'accountId', 'a\0b'), []);
    await store.transact((tx) => {
      tx.put('oidc', ['s', 'Session', 'x'], { payload: { odd: 'a\0b' }, expiresAt: 1000.5, uid: 'u' });
      tx.put('oidc', ['s', 'Session', 'later'], { payload: {}, expiresAt: 1e300 });
    });
    assert.equal((await store.oidcBy('s', 'uid', 'u'))[0]?.record.payload, { odd: 'a\0b' });
    assert.is(await store.pruneOidc(1000.5, 10), 0, 'not before it expired');
    assert.is(await store.pruneOidc(1002, 10), 1);
    assert.is(await store.pruneOidc(Number.NaN, 10), 0);
    assert.is(await store.pruneOidc(Number.POSITIVE_INFINITY, 10), 1, 'an expiry beyond bigint is kept, and pruned as any other');
    assert.is(await count(db, 'oidc'), 0);
  });

  const event = (id: string, more: Partial<NewEvent> = {}): NewEvent => ({ id, type: 'com.nextauth.session.login', serverid: 's', time: 1, ...more });

  /**
   * eventsAfter until it gives `expect` events (or 10 s pass): an event shows once no transaction
   * older than its own is running on the database server, anyone's (other test files' included).
   */
  async function visible(store: PostgresStore, cursor: string, limit: number, expect: number) {
    const end = Date.now() + 10_000;
    for (;;) {
      const page = await store.eventsAfter('s', cursor, limit);
      if (page.events.length >= expect || Date.now() > end) return page;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  test('eventsAfter waits for a transaction still running whose events come before those committed after it began, then gives them in its order', async () => {
    const db = await dbs.fresh();
    const store = await open(db);
    const start = await store.eventsEnd('s');
    // Another process's batch: its transaction has its id (and its event), then stays open.
    const other = new pg.Client({ connectionString: db });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`INSERT INTO events (id, type, serverid, time) VALUES ('first', 'com.nextauth.session.login', 's', 1)`);
      await store.transact((tx) => {
        tx.emit(event('second'));
        tx.emit(event('third'));
      });
      assert.equal(
        (await store.listEvents('s', { limit: 10 })).map((e) => e.id),
        ['third', 'second'],
        'committed: listed',
      );
      const waiting = await store.eventsAfter('s', start, 10);
      assert.equal(waiting.events, [], 'not past the transaction still running');
      assert.is(waiting.cursor, start);
      assert.is(await store.eventsEnd('s'), start, 'the end is no further either');
      await other.query('COMMIT');
    } finally {
      await other.end();
    }
    const page = await visible(store, start, 2, 2);
    assert.equal(
      page.events.map((e) => e.id),
      ['first', 'second'],
      'the transaction that began first, first',
    );
    const rest = await visible(store, page.cursor, 10, 1);
    assert.equal(
      rest.events.map((e) => e.id),
      ['third'],
    );
    assert.equal((await store.eventsAfter('s', rest.cursor, 10)).events, []);
    assert.ok((await store.eventsEnd('s')) !== start, 'the end moved on');
  });

  test('two processes emitting at once: a reader beside them gets each event once, each change’s together', async () => {
    const db = await dbs.fresh();
    const [a, b, reader] = [await open(db), await open(db), await open(db)];
    let cursor = await reader.eventsEnd('s');
    const seen: EventRecord[] = [];
    let writing = true;
    const reading = (async () => {
      let end = Number.POSITIVE_INFINITY;
      for (;;) {
        const done = !writing;
        if (done && end === Number.POSITIVE_INFINITY) end = Date.now() + 10_000;
        const page = await reader.eventsAfter('s', cursor, 5);
        seen.push(...page.events);
        cursor = page.cursor;
        if (done && page.events.length === 0 && (seen.length >= 80 || Date.now() > end)) return;
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? a : b).transact(async (tx) => {
          tx.emit(event(`x${i}`));
          await new Promise((r) => setTimeout(r, i % 4));
          tx.emit(event(`y${i}`));
        }),
      ),
    );
    writing = false;
    await reading;
    const ids = seen.map((e) => e.id);
    assert.is(ids.length, 80);
    assert.is(new Set(ids).size, 80);
    for (let i = 0; i < 40; i++) assert.is(ids.indexOf(`y${i}`), ids.indexOf(`x${i}`) + 1, `change ${i}`);
  });

  test('an event a column cannot hold rejects its change, and nothing of it is stored; a cursor not of this store reads from the start', async () => {
    const db = await dbs.fresh();
    const store = await open(db);
    const code = (e: unknown) => (e as { code?: string }).code;
    for (const bad of [event('a\0'), event('b', { userid: '\uD800' }), event('c', { time: 1.5 }), event('d', { account: 2 ** 60 })]) {
      const e = await store
        .transact((tx) => {
          tx.put('role', ['r'], { description: 'r', created: 1 });
          tx.emit(bad);
        })
        .catch((err: unknown) => err);
      assert.is(code(e), 'BAD_REQUEST', bad.id);
    }
    assert.is(await store.get('role', 'r'), undefined);
    assert.is(await count(db, 'events'), 0);
    const data = { text: 'nul \0, lone \uD800', list: [1, null, { deep: true }] };
    await store.transact((tx) => tx.emit(event('ok', { data, subject: 'sub', source: '::1' })));
    for (const foreign of ['', '17', 'lowdb:3', '1:2:3']) {
      const { events, cursor } = await visible(store, foreign, 10, 1);
      assert.equal(
        events.map((e) => [e.id, e.data, e.subject, e.source]),
        [['ok', data, 'sub', '::1']],
        JSON.stringify(foreign),
      );
      assert.match(cursor, /^\d+:\d+$/);
    }
  });

  test('the audit listing by time: times out of seq order, ranges recent and old, pages by `before`, as every event filtered and sorted', async () => {
    const db = await dbs.fresh();
    const store = await open(db);
    // 600 events, their times shuffled (the changes' clocks), two servers.
    const times = Array.from({ length: 600 }, (_, i) => (i * 7919) % 600);
    await store.transact((tx) => {
      for (const [i, time] of times.entries()) tx.emit(event(`e${i}`, { time, serverid: i % 4 ? 's' : 't' }));
    });
    const all = await store.listEvents('s', { limit: 1000 });
    assert.is(all.length, 450);
    for (const [from, to, limit, before] of [
      [590, undefined, 5, undefined],
      [0, 600, 10, undefined],
      [100, 110, 20, undefined],
      [100, 300, 7, undefined],
      [undefined, 50, 3, undefined],
      [200, 400, 10, all[100]!.seq],
      [500, 501, 5, undefined],
      [1000, undefined, 5, undefined],
      [-Infinity, Infinity, 4, undefined],
      [Number.NaN, undefined, 4, undefined],
      [10.5, 20.5, 100, undefined],
    ] as const) {
      const q = { limit, ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}), ...(before !== undefined ? { before } : {}) };
      const expected = all.filter((e) => (from === undefined || e.time >= from) && (to === undefined || e.time < to) && (before === undefined || e.seq < before)).slice(0, limit);
      assert.equal(
        (await store.listEvents('s', q)).map((e) => e.id),
        expected.map((e) => e.id),
        JSON.stringify(q),
      );
    }
  });

  test('pruneEvents with keep finds its cut once per run of whole batches (an index walk of `keep` rows), not per batch', async () => {
    const db = await dbs.fresh();
    const store = await open(db);
    const emit = (from: number) =>
      store.transact((tx) => {
        for (let i = from; i < from + 10; i++) tx.emit(event(`k${i}`, { time: 100 + i }));
      });
    await emit(0);
    assert.is(await store.pruneEvents(0, 2, 5), 2, 'a whole batch: the run goes on, at the cut it found (time 105)');
    await emit(10);
    assert.is(await store.pruneEvents(0, 100, 5), 3, 'the run goes on at its cut: the ten newer events do not move it (a walk per batch would take 13)');
    assert.is(await store.pruneEvents(0, 100, 5), 10, 'the last call took less than a batch: a new run finds the cut again (time 115)');
    assert.is(await store.pruneEvents(0, 100, 5), 0);
    assert.equal(
      (await store.listEvents('s', { limit: 100 })).map((e) => e.id),
      ['k19', 'k18', 'k17', 'k16', 'k15'],
    );
    assert.is(await store.pruneEvents(0, 100, 4), 1, 'another keep is a run of its own');
  });

  test('a COMMIT whose answer is lost: the loose events tried again are stored once, and the change that carries them goes through', async () => {
    const proxy = await proxyTo(new URL(await dbs.fresh()));
    try {
      const inner = await open(proxy.url);
      const loose = LooseEvents.over(inner);
      loose.add(event('scan'));
      proxy.cutAfterCommit();
      const lost = await loose.store.transact((tx) => tx.put('role', ['r'], { description: 'r', created: 1 })).catch((e: { code?: string }) => e.code);
      assert.is(lost, 'STORAGE_UNAVAILABLE', 'the answer was lost');
      assert.is((await inner.get('role', 'r'))?.description, 'r', 'and yet the change, with the event it took, was committed');
      // The event went back to wait (a write that fails wrote nothing, as far as LooseEvents can know): the next change takes it again.
      await loose.store.transact((tx) => tx.put('role', ['q'], { description: 'q', created: 1 }));
      assert.is((await inner.get('role', 'q'))?.description, 'q');
      assert.equal(
        (await inner.listEvents('s', { limit: 10 })).map((e) => e.id),
        ['scan'],
        'stored once',
      );
    } finally {
      await proxy.close();
    }
  });

  test('an unreachable database: transact and reads reject with STORAGE_UNAVAILABLE', async () => {
    // A proxy to the database that can be taken away.
    const proxy = await proxyTo(new URL(await dbs.fresh()));
    const store = await open(proxy.url, { pool: { connectionTimeoutMillis: 2000 } });
    await store.transact((tx) => tx.put('role', ['r'], { description: 'r', created: 1 }));
    await proxy.close();
    const code = (e: unknown) => (e as { code?: string }).code;
    assert.is(code(await store.transact((tx) => tx.put('role', ['q'], { description: 'q', created: 1 })).catch((e) => e)), 'STORAGE_UNAVAILABLE');
    assert.is(code(await store.get('role', 'r').catch((e) => e)), 'STORAGE_UNAVAILABLE');
    assert.is(code(await store.listUsers('s', {}).catch((e) => e)), 'STORAGE_UNAVAILABLE');
    assert.is(code(await store.listEvents('s', { limit: 1 }).catch((e) => e)), 'STORAGE_UNAVAILABLE');
    assert.is(code(await store.eventsAfter('s', '0:0', 1).catch((e) => e)), 'STORAGE_UNAVAILABLE');
    assert.is(code(await store.transact((tx) => tx.emit({ id: 'e', type: 't', serverid: 's', time: 1 })).catch((e) => e)), 'STORAGE_UNAVAILABLE');
    assert.is(code(await PostgresStore.open(proxy.url, { pool: { connectionTimeoutMillis: 2000 } }).catch((e) => e)), 'STORAGE_UNAVAILABLE');
  });

  test.run();
}
