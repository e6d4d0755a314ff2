/**
 * The Store contract (src/ports.ts): what every adapter must do, whatever keeps the records.
 * `storeContract(name, open)` registers the suite; `open()` gives a store over a fresh place,
 * and `reopen()` a second store over the same place (a restart: it must see every change that
 * resolved).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AccountRecord, EventRecord, NewEvent, OidcRecord, ServerRecord, Store, UserRecord, WebhookRecord } from '../../src/ports.ts';

export interface StoreFactory {
  open(): Promise<{ store: Store; reopen(): Promise<Store> }>;
}

/** A server record with plain values (`more` replaces some). */
export const server = (serverid: string, more: Partial<ServerRecord> = {}): ServerRecord => ({
  serverid,
  serverName: `server ${serverid}`,
  logo: '',
  pinTimeout: -1,
  pinTransTimeout: 0,
  pingTime: 0,
  serverFlags: [],
  created: 1,
  publicKey: 'pk',
  secretKey: 'sk',
  sessionSecret: 'ss',
  nextAccountId: 1,
  attributes: {},
  privilegedAttributes: {},
  ...more,
});
const account = (id: number, more: Partial<AccountRecord> = {}): AccountRecord => ({ id, description: `phone ${id}`, blocked: false, created: id, pk: `pk-${id}`, ...more });
const user = (userid: string, attributes: Record<string, unknown> = {}): UserRecord => ({ userid, attributes, created: 1 });

export function storeContract(name: string, factory: StoreFactory): void {
  const test = suite(`Store contract: ${name}`);
  const stores: Store[] = [];
  const open = async () => {
    const made = await factory.open();
    stores.push(made.store);
    return {
      store: made.store,
      reopen: async () => {
        const again = await made.reopen();
        stores.push(again);
        return again;
      },
    };
  };
  test.after.each(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  });

  test('a record that was never put is undefined, for every kind', async () => {
    const { store } = await open();
    assert.is(await store.get('server', 's'), undefined);
    assert.is(await store.get('account', 's', 1), undefined);
    assert.is(await store.get('user', 's', 'u'), undefined);
    assert.is(await store.get('role', 'r'), undefined);
    assert.is(await store.get('apiKey', 'h'), undefined);
    assert.is(await store.get('permissions', 'r'), undefined);
    assert.is(await store.get('enrolCode', 's', 'h'), undefined);
    assert.is(await store.get('session', 'k'), undefined);
    assert.equal((await store.get('globalAttributes')) ?? {}, {});
    assert.is(await store.get('transaction', 't'), undefined);
    assert.is(await store.get('webhook', 's', 'w'), undefined);
    assert.is(await store.get('delivery', 's', 'w'), undefined);
  });

  test('put, patch and delete; a change resolves with its result; a restart sees every change that resolved', async () => {
    const { store, reopen } = await open();
    const result = await store.transact((tx) => {
      tx.put('server', ['s'], server('s'));
      tx.put('account', ['s', 1], account(1, { userid: 'ann' }));
      tx.put('user', ['s', 'ann'], user('ann', { email: 'ann@example.org' }));
      tx.put('role', ['r'], { description: 'role', created: 1 });
      tx.put('apiKey', ['h'], { role: 'r', description: 'key', created: 1, hint: 'nak_…' });
      tx.put('permissions', ['r'], { '*': ['root'] });
      tx.put('enrolCode', ['s', 'h1'], { serverid: 's', hsid: 'h1', name: 'n', created: 1 });
      tx.put('session', ['s:h1'], { snapshot: { value: 'authenticated' }, since: 5 });
      tx.put('globalAttributes', [], { a: 1 });
      tx.put('transaction', ['t1'], { tid: 't1', serverid: 's', hsid: 'h1', account: 1, tx: 'AQ==', state: 'pending', created: 1, expires: 2 });
      return 'done';
    });
    assert.is(result, 'done');
    await store.transact((tx) => {
      tx.patch('account', ['s', 1], { lastlogin: 9, userid: undefined });
      tx.patch('server', ['s'], { nextAccountId: 2 });
      tx.delete('role', ['r']);
      tx.patch('transaction', ['t1'], { state: 'approved', signature: 'sig', sf: 'pin', at: 3 });
    });
    for (const s of [store, await reopen()]) {
      assert.equal(await s.get('account', 's', 1), account(1, { lastlogin: 9 }), 'a field given as undefined is removed');
      assert.is((await s.get('server', 's'))?.nextAccountId, 2);
      assert.is(await s.get('role', 'r'), undefined);
      assert.equal(await s.get('user', 's', 'ann'), user('ann', { email: 'ann@example.org' }));
      assert.equal(await s.get('permissions', 'r'), { '*': ['root'] });
      assert.equal(await s.get('apiKey', 'h'), { role: 'r', description: 'key', created: 1, hint: 'nak_…' });
      assert.equal(await s.get('enrolCode', 's', 'h1'), { serverid: 's', hsid: 'h1', name: 'n', created: 1 });
      assert.equal(await s.get('session', 's:h1'), { snapshot: { value: 'authenticated' }, since: 5 });
      assert.equal(await s.get('globalAttributes'), { a: 1 });
      assert.equal(await s.get('transaction', 't1'), {
        tid: 't1',
        serverid: 's',
        hsid: 'h1',
        account: 1,
        tx: 'AQ==',
        state: 'approved',
        created: 1,
        expires: 2,
        signature: 'sig',
        sf: 'pin',
        at: 3,
      });
    }
  });

  test('a change given `written` resolves with its result, every read sees it, `written` is told (no error), and a restart after it has it', async () => {
    const { store, reopen } = await open();
    await store.transact((tx) => {
      tx.put('server', ['s'], server('s'));
      tx.put('account', ['s', 1], account(1));
    });
    let told: (error?: unknown) => void = () => undefined;
    const written = new Promise<unknown>((resolve) => (told = resolve));
    const result = await store.transact((tx) => (tx.patch('account', ['s', 1], { lastlogin: 42 }), 'made'), { written: (error) => told(error ?? 'ok') });
    assert.is(result, 'made');
    assert.is((await store.get('account', 's', 1))?.lastlogin, 42);
    assert.is(await written, 'ok');
    assert.is((await (await reopen()).get('account', 's', 1))?.lastlogin, 42);
  });

  test('a `written` that throws changes nothing: the change resolves and stands, and no rejection is left unhandled', async () => {
    const { store, reopen } = await open();
    await store.transact((tx) => {
      tx.put('server', ['s'], server('s'));
      tx.put('account', ['s', 1], account(1));
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      let told: () => void = () => undefined;
      const called = new Promise<void>((resolve) => (told = resolve));
      const written = () => {
        told();
        throw new Error('the listener failed');
      };
      const result = await store.transact((tx) => (tx.patch('account', ['s', 1], { lastlogin: 42 }), 'made'), { written });
      assert.is(result, 'made');
      await called;
      // (an unhandled rejection is reported once the microtasks are done)
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(unhandled, []);
      assert.is((await store.get('account', 's', 1))?.lastlogin, 42);
      assert.is((await (await reopen()).get('account', 's', 1))?.lastlogin, 42);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  test('a change that throws stores nothing, not even what it wrote before it threw; it reads its own writes', async () => {
    const { store, reopen } = await open();
    await store.transact((tx) => tx.put('server', ['s'], server('s')));
    const error = await store
      .transact(async (tx) => {
        tx.patch('server', ['s'], { serverName: 'changed' });
        tx.put('account', ['s', 1], account(1));
        assert.is((await tx.get('server', 's'))?.serverName, 'changed');
        assert.equal(await tx.get('account', 's', 1), account(1));
        throw new Error('no');
      })
      .catch((e: Error) => e);
    assert.is((error as Error).message, 'no');
    for (const s of [store, await reopen()]) {
      assert.is((await s.get('server', 's'))?.serverName, 'server s');
      assert.is(await s.get('account', 's', 1), undefined);
    }
  });

  test('patching a record that is not there rejects and changes nothing', async () => {
    const { store } = await open();
    for (const key of [
      ['s', 1],
      ['__proto__', 1],
      ['constructor', 2],
    ] as const) {
      const [serverid, id] = key;
      const e = await store.transact((tx) => tx.patch('account', [serverid, id], { lastlogin: 1 })).catch((err: Error) => err);
      assert.instance(e, Error);
      assert.is(await store.get('account', serverid, id), undefined);
    }
    assert.is(({} as Record<string, unknown>).lastlogin, undefined, 'no prototype touched');
  });

  test('records handed out cannot change the store, nor can the objects given to put', async () => {
    const { store } = await open();
    const given = server('s');
    await store.transact((tx) => tx.put('server', ['s'], given));
    given.serverName = 'changed by its maker';
    const got = (await store.get('server', 's'))!;
    try {
      got.serverName = 'changed by a reader';
      (got.attributes as Record<string, unknown>).x = 1;
    } catch {
      // frozen: fine too
    }
    const again = (await store.get('server', 's'))!;
    assert.is(again.serverName, 'server s');
    assert.equal(again.attributes, {});
  });

  test('changes run one at a time: 50 concurrent read-then-write changes lose nothing', async () => {
    const { store } = await open();
    await store.transact((tx) => tx.put('server', ['s'], server('s')));
    await Promise.all(
      Array.from({ length: 50 }, () =>
        store.transact(async (tx) => {
          const s = (await tx.get('server', 's'))!;
          await new Promise((r) => setImmediate(r));
          tx.patch('server', ['s'], { nextAccountId: s.nextAccountId + 1 });
        }),
      ),
    );
    assert.is((await store.get('server', 's'))?.nextAccountId, 51);
  });

  test('ids and names that are also property names of objects are records like any other', async () => {
    const { store } = await open();
    await store.transact((tx) => {
      tx.put('server', ['s'], server('s'));
      for (const userid of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) tx.put('user', ['s', userid], user(userid));
    });
    for (const userid of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) assert.equal(await store.get('user', 's', userid), user(userid));
    assert.is((await store.listUsers('s', {})).totalnumber, 4);
  });

  test('accounts: count, by public key, of a user, listed with filters (own columns and the user’s attributes), sort and pages', async () => {
    const { store } = await open();
    await store.transact((tx) => {
      tx.put('server', ['s'], server('s'));
      tx.put('server', ['t'], server('t'));
      tx.put('user', ['s', 'ann'], user('ann', { team: 'red' }));
      tx.put('user', ['s', 'bob'], user('bob', { team: 'blue' }));
      for (let i = 1; i <= 12; i++) tx.put('account', ['s', i], account(i, { userid: i % 3 === 0 ? 'bob' : 'ann', lastlogin: 100 - i, blocked: i === 5 }));
      tx.put('account', ['t', 1], account(1, { pk: 'pk-other' }));
    });
    assert.is(await store.countAccounts('s'), 12);
    assert.is(await store.countAccounts('t'), 1);
    assert.is(await store.countAccounts('nobody'), 0);
    assert.is((await store.findAccountByPk('s', 'pk-7'))?.id, 7);
    assert.is(await store.findAccountByPk('s', 'pk-other'), undefined, 'another server’s key');
    assert.equal(
      (await store.accountsOfUser('s', 'bob')).map((a) => a.id).sort((a, b) => a - b),
      [3, 6, 9, 12],
    );

    const all = await store.listAccounts('s', {});
    assert.is(all.totalnumber, 12);
    assert.equal(
      all.items.map((a) => a.id),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
      'by id when not sorted',
    );
    const page = await store.listAccounts('s', { sort: [{ column: 'lastlogin', desc: false }], limit: 3, marker: 2 });
    assert.is(page.totalnumber, 12);
    assert.equal(
      page.items.map((a) => a.id),
      [10, 9, 8],
    );
    const blue = await store.listAccounts('s', { filter: [{ key: 'team', values: ['blue'] }] });
    assert.equal(
      blue.items.map((a) => a.id),
      [3, 6, 9, 12],
      'a filter key that is no account column names a user attribute',
    );
    const blocked = await store.listAccounts('s', { filter: [{ key: 'blocked', values: ['true'] }] });
    assert.equal(
      blocked.items.map((a) => a.id),
      [5],
      'non-string values compare as JSON',
    );
    const mine = await store.listAccounts('s', { filter: [{ key: 'id', values: ['1', '2', '3'] }] }, 'ann');
    assert.equal(
      mine.items.map((a) => a.id),
      [1, 2],
    );
  });

  test('users: listed with their accounts counted and last login, search, filters on attributes, sort and pages', async () => {
    const { store } = await open();
    await store.transact((tx) => {
      tx.put('server', ['s'], server('s'));
      tx.put('user', ['s', 'Ann'], user('Ann', { team: 'red' }));
      tx.put('user', ['s', 'bob'], user('bob', { team: 'blue' }));
      tx.put('user', ['s', 'carl'], user('carl', { team: 'red' }));
      tx.put('account', ['s', 1], account(1, { userid: 'bob', lastlogin: 50 }));
      tx.put('account', ['s', 2], account(2, { userid: 'bob', lastlogin: 70 }));
      tx.put('account', ['s', 3], account(3, { userid: 'carl' }));
    });
    const all = await store.listUsers('s', {});
    assert.equal(all.items, [
      { user: user('Ann', { team: 'red' }), numberaccounts: 0 },
      { user: user('bob', { team: 'blue' }), numberaccounts: 2, lastlogin: 70 },
      { user: user('carl', { team: 'red' }), numberaccounts: 1 },
    ]);
    const red = await store.listUsers('s', { filter: [{ key: 'team', values: ['red'] }], sort: [{ column: 'numberaccounts', desc: true }] });
    assert.equal(
      red.items.map((u) => u.user.userid),
      ['carl', 'Ann'],
    );
    const search = await store.listUsers('s', { search: 'AN' });
    assert.equal(
      search.items.map((u) => u.user.userid),
      ['Ann'],
      'search ignores case',
    );
    const paged = await store.listUsers('s', { limit: 1, marker: 1 });
    assert.is(paged.totalnumber, 3);
    assert.equal(
      paged.items.map((u) => u.user.userid),
      ['bob'],
    );
  });

  test('listings: descending keeps ties in key order, missing values go last either way, pages past the end are empty', async () => {
    const { store } = await open();
    await store.transact((tx) => {
      tx.put('server', ['s'], server('s'));
      for (const userid of ['dan', 'ann', 'cy', 'bob', 'eve']) tx.put('user', ['s', userid], user(userid));
      tx.put('account', ['s', 1], account(1, { userid: 'bob', lastlogin: 10, clientVersion: '2' }));
      tx.put('account', ['s', 2], account(2, { userid: 'ann', lastlogin: 20 }));
      tx.put('account', ['s', 3], account(3, { userid: 'cy', lastlogin: 10, clientVersion: '1' }));
      tx.put('account', ['s', 4], account(4, { userid: 'cy', clientVersion: '2' }));
      tx.put('account', ['s', 5], account(5, { userid: 'dan', lastlogin: 20 }));
    });
    const ids = async (q: Parameters<Store['listAccounts']>[1]) => (await store.listAccounts('s', q)).items.map((a) => a.id);
    assert.equal(await ids({ sort: [{ column: 'lastlogin', desc: true }] }), [2, 5, 1, 3, 4]);
    assert.equal(await ids({ sort: [{ column: 'lastlogin', desc: false }] }), [1, 3, 2, 5, 4]);
    assert.equal(await ids({ sort: [{ column: 'clientVersion', desc: true }] }), [1, 4, 3, 2, 5]);
    assert.equal(
      await ids({
        sort: [
          { column: 'clientVersion', desc: false },
          { column: 'lastlogin', desc: true },
        ],
      }),
      [3, 1, 4, 2, 5],
    );
    assert.equal(await ids({ sort: [{ column: 'id', desc: true }], marker: 1, limit: 2 }), [4, 3]);
    assert.equal(await store.listAccounts('s', { marker: 9, limit: 2 }), { items: [], totalnumber: 5 });
    const users = async (q: Parameters<Store['listUsers']>[1]) => (await store.listUsers('s', q)).items.map((u) => u.user.userid);
    assert.equal(await users({ sort: [{ column: 'lastlogin', desc: true }] }), ['ann', 'dan', 'bob', 'cy', 'eve'], 'eve has no login: last');
    assert.equal(await users({ sort: [{ column: 'lastlogin', desc: false }] }), ['bob', 'cy', 'ann', 'dan', 'eve']);
    assert.equal(await users({ sort: [{ column: 'numberaccounts', desc: true }], limit: 3 }), ['cy', 'ann', 'bob']);
    assert.equal(await users({ sort: [{ column: 'userid', desc: true }], marker: 3 }), ['bob', 'ann']);
  });

  test('listings and lookups follow every change that resolved, and nothing of one that threw', async () => {
    const { store, reopen } = await open();
    await store.transact((tx) => {
      tx.put('server', ['s'], server('s'));
      tx.put('user', ['s', 'ann'], user('ann', { team: 'red' }));
      tx.put('user', ['s', 'bob'], user('bob', { team: 'blue' }));
      tx.put('account', ['s', 1], account(1, { userid: 'ann', lastlogin: 5 }));
      tx.put('account', ['s', 2], account(2, { userid: 'bob', lastlogin: 7 }));
      tx.put('account', ['s', 3], account(3, { userid: 'bob', lastlogin: 9 }));
    });
    // a login, a relink, an attribute change, a deletion
    await store.transact((tx) => tx.patch('account', ['s', 1], { lastlogin: 50 }));
    await store.transact((tx) => tx.patch('account', ['s', 3], { userid: 'ann' }));
    await store.transact((tx) => tx.patch('user', ['s', 'bob'], { attributes: { team: 'red' } }));
    await store.transact((tx) => tx.delete('account', ['s', 2]));
    const failed = await store
      .transact((tx) => {
        tx.patch('account', ['s', 1], { lastlogin: 99, pk: 'pk-new' });
        tx.put('account', ['s', 4], account(4, { userid: 'bob' }));
        tx.delete('user', ['s', 'ann']);
        throw new Error('no');
      })
      .catch((e: Error) => e.message);
    assert.is(failed, 'no');
    for (const s of [store, await reopen()]) {
      assert.is(await s.countAccounts('s'), 2);
      assert.is((await s.findAccountByPk('s', 'pk-1'))?.lastlogin, 50);
      assert.is(await s.findAccountByPk('s', 'pk-new'), undefined);
      assert.is(await s.findAccountByPk('s', 'pk-2'), undefined, 'deleted');
      assert.equal(
        (await s.accountsOfUser('s', 'ann')).map((a) => a.id),
        [1, 3],
      );
      assert.equal(await s.accountsOfUser('s', 'bob'), []);
      assert.equal(
        (await s.listUsers('s', { sort: [{ column: 'lastlogin', desc: true }] })).items.map((u) => [u.user.userid, u.numberaccounts, u.lastlogin]),
        [
          ['ann', 2, 50],
          ['bob', 0, undefined],
        ],
      );
      const red = await s.listAccounts('s', { filter: [{ key: 'team', values: ['red'] }], sort: [{ column: 'lastlogin', desc: true }] });
      assert.equal(
        red.items.map((a) => a.id),
        [1, 3],
      );
      assert.is((await s.listUsers('s', { filter: [{ key: 'team', values: ['red'] }] })).totalnumber, 2);
      assert.is((await s.listAccounts('s', { filter: [{ key: 'lastlogin', values: ['50'] }] })).totalnumber, 1);
    }
  });

  test('keys, permissions, enrol codes and saved sessions have the listings the core needs', async () => {
    const { store } = await open();
    assert.is(await store.hasRootKey(), false);
    await store.transact((tx) => {
      tx.put('role', ['root'], { description: 'root', created: 1 });
      tx.put('permissions', ['root'], { '*': ['root'] });
      tx.put('apiKey', ['h-root'], { role: 'root', description: 'root', created: 1, hint: 'a' });
      tx.put('role', ['made'], { description: 'made', created: 2, createdBy: 'root' });
      tx.put('permissions', ['made'], { s: ['sessions', 'users'], t: [] });
      tx.put('apiKey', ['h-made'], { role: 'made', description: 'made', created: 2, createdBy: 'root', hint: 'b' });
      tx.put('enrolCode', ['s', 'old'], { serverid: 's', hsid: 'old', name: 'n', created: 10 });
      tx.put('enrolCode', ['s', 'new'], { serverid: 's', hsid: 'new', name: 'n', created: 1000 });
      tx.put('session', ['s:a'], { snapshot: 1, since: 1 });
      tx.put('session', ['s:b'], { snapshot: 2, since: 2 });
    });
    assert.is(await store.hasRootKey(), true);
    assert.equal((await store.apiKeysOf('root')).map((k) => k.hash).sort(), ['h-made', 'h-root']);
    assert.equal(
      (await store.apiKeysOf('made')).map((k) => k.hash),
      ['h-made'],
    );
    assert.equal(await store.permissionsOn('s'), [{ role: 'made', acl: ['sessions', 'users'] }]);
    assert.equal(await store.permissionsOn('t'), [], 'an empty list is no permission');
    assert.equal(await store.permissionsOn('*'), [{ role: 'root', acl: ['root'] }]);
    assert.equal(
      (await store.staleEnrolCodes(500, 10)).map((c) => c.hsid),
      ['old'],
    );
    await store.transact((tx) => {
      for (const [hsid, created] of [
        ['c', 30],
        ['a', 20],
        ['b', 5],
      ] as const)
        tx.put('enrolCode', ['s', hsid], { serverid: 's', hsid, name: 'n', created });
    });
    assert.equal(
      (await store.staleEnrolCodes(500, 3)).map((c) => c.hsid),
      ['b', 'old', 'a'],
      'the oldest first',
    );
    assert.equal(
      (await store.savedSessions()).sort(([a], [b]) => a.localeCompare(b)),
      [
        ['s:a', { snapshot: 1, since: 1 }],
        ['s:b', { snapshot: 2, since: 2 }],
      ],
    );
    assert.equal(
      (await store.listServers()).map((s) => s.serverid),
      [],
    );
  });

  // ---- Events (the outbox) and webhooks --------------------------------------------------------

  /**
   * Every event of a server from `cursor` on, polling eventsAfter `step` at a time, until `expect`
   * have come (an event may show a moment after its change resolved: PostgreSQL shows it once no
   * transaction older than its own is running, anyone's, another test's included).
   */
  const drain = async (store: Store, serverid: string, cursor: string, expect: number, step = 3): Promise<{ events: EventRecord[]; cursor: string }> => {
    const events: EventRecord[] = [];
    const end = Date.now() + 10_000;
    for (;;) {
      const page = await store.eventsAfter(serverid, cursor, step);
      assert.ok(page.events.length <= step, 'no more than the limit');
      events.push(...page.events);
      cursor = page.cursor;
      if (page.events.length === 0) {
        if (events.length >= expect || Date.now() > end) return { events, cursor };
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };

  test('an event is written with its change: seq given, read back by both listings, kept across a restart; a change that throws writes none', async () => {
    const { store, reopen } = await open();
    const start = await store.eventsEnd('s');
    await store.transact((tx) => {
      tx.put('server', ['s'], server('s'));
      tx.emit(event('e1', 'com.nextauth.server.created', { time: 10 }));
    });
    await store
      .transact((tx) => {
        tx.emit(event('lost', 'com.nextauth.server.updated', { time: 11 }));
        throw new Error('no');
      })
      .catch(() => undefined);
    await store.transact((tx) => {
      tx.put('user', ['s', 'ann'], user('ann'));
      tx.emit(event('e2', 'com.nextauth.session.login', { time: 12, userid: 'ann', account: 1, source: '127.0.0.2', data: { channel: 'qr' } }));
      tx.emit(event('e3', 'com.nextauth.session.logout', { time: 13, userid: 'ann', account: 1 }));
    });
    const listed = await store.listEvents('s', { limit: 10 });
    assert.equal(
      listed.map((e) => e.id),
      ['e3', 'e2', 'e1'],
      'newest first, the thrown change left nothing',
    );
    assert.ok(listed[0]!.seq > listed[1]!.seq && listed[1]!.seq > listed[2]!.seq, 'seq increases in commit order');
    assert.equal(listed[1], {
      ...event('e2', 'com.nextauth.session.login', { time: 12, userid: 'ann', account: 1, source: '127.0.0.2', data: { channel: 'qr' } }),
      seq: listed[1]!.seq,
    });
    const { events, cursor } = await drain(store, 's', start, 3, 2);
    assert.equal(
      events.map((e) => e.id),
      ['e1', 'e2', 'e3'],
      'eventsAfter: commit order, paged',
    );
    assert.equal((await store.eventsAfter('s', cursor, 10)).events, [], 'nothing after the last');
    const again = await reopen();
    assert.equal(
      (await again.listEvents('s', { limit: 10 })).map((e) => e.id),
      ['e3', 'e2', 'e1'],
    );
    assert.equal(
      (await drain(again, 's', start, 3)).events.map((e) => e.seq),
      events.map((e) => e.seq),
      'the same seq after a restart',
    );
    await again.transact((tx) => tx.emit(event('e4', 'com.nextauth.session.scanned', { time: 14 })));
    assert.equal(
      (await drain(again, 's', cursor, 1)).events.map((e) => e.id),
      ['e4'],
      'a cursor of the store before the restart goes on',
    );
  });

  test('eventsAfter and eventsEnd: per server, from the end; concurrent changes each seen exactly once by a reader polling beside them', async () => {
    const { store } = await open();
    await store.transact((tx) => {
      tx.emit(event('old', 'com.nextauth.server.created', { time: 1 }));
      tx.emit(event('other', 'com.nextauth.server.created', { time: 1, serverid: 't' }));
    });
    const end = await store.eventsEnd('s');
    assert.equal((await store.eventsAfter('s', end, 10)).events, [], 'the end is after every event so far');
    let cursor = end;
    const seen: string[] = [];
    let writing = true;
    const reader = (async () => {
      const end = Date.now() + 20_000;
      while ((writing || seen.length < 60) && Date.now() < end) {
        const page = await store.eventsAfter('s', cursor, 7);
        seen.push(...page.events.map((e) => e.id));
        cursor = page.cursor;
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        store.transact(async (tx) => {
          tx.emit(event(`a${i}`, 'com.nextauth.session.scanned', { time: 100 + i }));
          await new Promise((r) => setTimeout(r, i % 3));
          tx.emit(event(`b${i}`, 'com.nextauth.session.login', { time: 100 + i }));
          tx.emit(event(`t${i}`, 'com.nextauth.session.login', { time: 100 + i, serverid: 't' }));
        }),
      ),
    );
    writing = false;
    await reader;
    assert.is(seen.length, 60, 'every event of s once');
    assert.is(new Set(seen).size, 60);
    for (let i = 0; i < 30; i++) assert.ok(seen.indexOf(`a${i}`) + 1 === seen.indexOf(`b${i}`), `a change's events together, in order (${i})`);
    assert.ok(!seen.includes('old') && !seen.some((id) => id.startsWith('t')), 'nothing before the end, nothing of another server');
  });

  test('the audit query: types, user, account, time range, pages by `before`; from any of them alone or together', async () => {
    const { store } = await open();
    const types = ['com.nextauth.session.login', 'com.nextauth.session.logout', 'com.nextauth.account.blocked'];
    await store.transact((tx) => {
      for (let i = 0; i < 30; i++) {
        tx.emit(event(`e${i}`, types[i % 3]!, { time: 1000 + i * 10, userid: `u${i % 2}`, account: i % 5 }));
        tx.emit(event(`x${i}`, types[i % 3]!, { time: 1000 + i * 10, userid: `u${i % 2}`, account: i % 5, serverid: 'other' }));
      }
    });
    const ids = (list: EventRecord[]) => list.map((e) => e.id);
    const all = Array.from({ length: 30 }, (_, i) => i).reverse();
    const expect = (keep: (i: number) => boolean, limit = 100) =>
      all
        .filter(keep)
        .slice(0, limit)
        .map((i) => `e${i}`);
    assert.equal(
      ids(await store.listEvents('s', { limit: 100 })),
      expect(() => true),
    );
    assert.equal(
      ids(await store.listEvents('s', { limit: 100, types: [types[0]!] })),
      expect((i) => i % 3 === 0),
    );
    assert.equal(
      ids(await store.listEvents('s', { limit: 100, types: [types[0]!, types[2]!] })),
      expect((i) => i % 3 !== 1),
    );
    assert.equal(
      ids(await store.listEvents('s', { limit: 100, userid: 'u1' })),
      expect((i) => i % 2 === 1),
    );
    assert.equal(
      ids(await store.listEvents('s', { limit: 100, account: 3 })),
      expect((i) => i % 5 === 3),
    );
    assert.equal(
      ids(await store.listEvents('s', { limit: 100, from: 1050, to: 1120 })),
      expect((i) => i >= 5 && i < 12),
    );
    assert.equal(
      ids(await store.listEvents('s', { limit: 100, userid: 'u0', account: 4, types: [types[1]!], from: 1000, to: 2000 })),
      expect((i) => i % 2 === 0 && i % 5 === 4 && i % 3 === 1),
    );
    assert.equal(ids(await store.listEvents('s', { limit: 100, userid: 'nobody' })), []);
    // Pages: each from the last seq of the one before.
    const pages: string[][] = [];
    let before: number | undefined;
    for (;;) {
      const page = await store.listEvents('s', { limit: 4, userid: 'u0', ...(before !== undefined ? { before } : {}) });
      if (page.length === 0) break;
      pages.push(ids(page));
      before = page.at(-1)!.seq;
    }
    assert.equal(
      pages.flat(),
      expect((i) => i % 2 === 0),
    );
    assert.is(pages[0]!.length, 4);
  });

  test('pruneEvents: the oldest go first, at most the limit; the listings and the cursors follow', async () => {
    const { store, reopen } = await open();
    const start = await store.eventsEnd('s');
    await store.transact((tx) => {
      for (let i = 0; i < 10; i++) tx.emit(event(`e${i}`, 'com.nextauth.session.login', { time: 100 + i, userid: 'u', account: 1 }));
    });
    assert.is(await store.pruneEvents(105, 3), 3);
    assert.is(await store.pruneEvents(105, 100), 2);
    assert.is(await store.pruneEvents(105, 100), 0);
    const left = ['e9', 'e8', 'e7', 'e6', 'e5'];
    assert.equal(
      (await store.listEvents('s', { limit: 100 })).map((e) => e.id),
      left,
    );
    assert.equal(
      (await store.listEvents('s', { limit: 100, userid: 'u', account: 1 })).map((e) => e.id),
      left,
    );
    assert.equal(
      (await drain(store, 's', start, 5)).events.map((e) => e.id),
      [...left].reverse(),
      'a cursor from before the pruned ones goes on after them',
    );
    assert.equal(
      (await (await reopen()).listEvents('s', { limit: 100 })).map((e) => e.id),
      left,
      'pruned for good',
    );
  });

  test('pruneEvents with keep: past the newest `keep`, the oldest go first (whatever their age), at most the limit', async () => {
    const { store, reopen } = await open();
    await store.transact((tx) => {
      for (let i = 0; i < 10; i++) tx.emit(event(`k${i}`, 'com.nextauth.session.login', { time: 100 + i, account: 1 }));
    });
    assert.is(await store.pruneEvents(0, 2, 5), 2, 'at most the limit');
    assert.is(await store.pruneEvents(0, 100, 5), 3);
    assert.is(await store.pruneEvents(0, 100, 5), 0, 'five are left');
    const left = ['k9', 'k8', 'k7', 'k6', 'k5'];
    assert.equal(
      (await store.listEvents('s', { limit: 100 })).map((e) => e.id),
      left,
    );
    assert.is(await store.pruneEvents(107, 100, 5), 2, 'and the retention still counts');
    assert.equal(
      (await (await reopen()).listEvents('s', { limit: 100 })).map((e) => e.id),
      ['k9', 'k8', 'k7'],
      'pruned for good',
    );
  });

  test('webhooks and their deliveries are records: put, patch, delete, listed per server and all together', async () => {
    const { store, reopen } = await open();
    const hook = (serverid: string, id: string): WebhookRecord => ({ id, serverid, url: `http://127.0.0.1/${id}`, types: [], description: '', created: 1, secret: `whsec_${id}` });
    await store.transact((tx) => {
      tx.put('webhook', ['s', 'w1'], hook('s', 'w1'));
      tx.put('webhook', ['s', 'w2'], { ...hook('s', 'w2'), types: ['com.nextauth.session.login'] });
      tx.put('webhook', ['t', 'w3'], hook('t', 'w3'));
      tx.put('delivery', ['s', 'w1'], { cursor: 'c', delivered: 0, failed: 0, attempts: [] });
    });
    assert.equal((await store.webhooksOf('s')).map((w) => w.id).sort(), ['w1', 'w2']);
    assert.equal((await store.webhooksOf()).map((w) => w.id).sort(), ['w1', 'w2', 'w3']);
    await store.transact((tx) => {
      tx.patch('delivery', ['s', 'w1'], { cursor: 'd', delivered: 1, attempts: [{ event: 'e', type: 't', at: 1, ms: 2, status: 204, outcome: 'delivered' }] });
      tx.delete('webhook', ['s', 'w2']);
    });
    const again = await reopen();
    assert.equal(
      (await again.webhooksOf('s')).map((w) => w.id),
      ['w1'],
    );
    assert.equal(await again.get('webhook', 's', 'w2'), undefined);
    assert.equal((await again.get('delivery', 's', 'w1'))?.cursor, 'd');
    assert.is((await again.get('delivery', 's', 'w1'))?.attempts[0]?.status, 204);
  });

  // ---- The OpenID Providers' records -------------------------------------------------------------

  test('OIDC records: put, patch, delete; found by grant, uid, user code and account from an index, per server; kept across a restart', async () => {
    const { store, reopen } = await open();
    const rec = (more: Partial<OidcRecord> = {}): OidcRecord => ({ payload: { jti: 'x', kind: 'AccessToken' }, expiresAt: 5000, ...more });
    await store.transact((tx) => {
      tx.put('oidc', ['s', 'Session', 'sess1'], rec({ uid: 'uid1', accountId: 'ann' }));
      tx.put('oidc', ['s', 'Grant', 'g1'], rec({ accountId: 'ann' }));
      tx.put('oidc', ['s', 'AccessToken', 'at1'], rec({ grantId: 'g1', accountId: 'ann' }));
      tx.put('oidc', ['s', 'RefreshToken', 'rt1'], rec({ grantId: 'g1', accountId: 'ann' }));
      tx.put('oidc', ['s', 'DeviceCode', 'dc1'], rec({ userCode: 'ABCD-EFGH', grantId: 'g2' }));
      tx.put('oidc', ['t', 'AccessToken', 'at1'], rec({ grantId: 'g1', accountId: 'ann' }));
    });
    const ids = (list: Array<{ model: string; id: string }>) => list.map((r) => `${r.model}/${r.id}`).sort();
    assert.equal(ids(await store.oidcBy('s', 'grantId', 'g1')), ['AccessToken/at1', 'RefreshToken/rt1']);
    assert.equal(ids(await store.oidcBy('s', 'uid', 'uid1')), ['Session/sess1']);
    assert.equal(ids(await store.oidcBy('s', 'userCode', 'ABCD-EFGH')), ['DeviceCode/dc1']);
    assert.equal(ids(await store.oidcBy('s', 'accountId', 'ann')), ['AccessToken/at1', 'Grant/g1', 'RefreshToken/rt1', 'Session/sess1']);
    assert.equal(ids(await store.oidcBy('t', 'accountId', 'ann')), ['AccessToken/at1'], "another server's are its own");
    assert.equal(await store.oidcBy('s', 'grantId', 'nothing'), []);
    assert.equal((await store.oidcBy('s', 'uid', 'uid1'))[0]!.record, rec({ uid: 'uid1', accountId: 'ann' }));
    await store.transact((tx) => {
      tx.patch('oidc', ['s', 'Session', 'sess1'], { uid: 'uid2' });
      tx.delete('oidc', ['s', 'RefreshToken', 'rt1']);
    });
    const again = await reopen();
    assert.equal(await again.oidcBy('s', 'uid', 'uid1'), [], 'the index follows a change');
    assert.equal(ids(await again.oidcBy('s', 'uid', 'uid2')), ['Session/sess1']);
    assert.equal(ids(await again.oidcBy('s', 'grantId', 'g1')), ['AccessToken/at1']);
    assert.is((await again.get('oidc', 's', 'Grant', 'g1'))?.accountId, 'ann');
  });

  test('pruneOidc: what expired goes, the first to expire first, at most the limit; records without an expiry stay', async () => {
    const { store } = await open();
    await store.transact((tx) => {
      for (let i = 0; i < 6; i++) tx.put('oidc', ['s', 'AuthorizationCode', `c${i}`], { payload: { i }, expiresAt: 1000 + i * 100, grantId: 'g' });
      tx.put('oidc', ['s', 'Key', 'forever'], { payload: {} });
    });
    assert.is(await store.pruneOidc(1250, 1), 1);
    assert.is(await store.pruneOidc(1250, 10), 2);
    assert.is(await store.pruneOidc(1250, 10), 0);
    assert.equal((await store.oidcBy('s', 'grantId', 'g')).map((r) => r.id).sort(), ['c3', 'c4', 'c5']);
    assert.is(await store.get('oidc', 's', 'AuthorizationCode', 'c0'), undefined);
    assert.is(await store.pruneOidc(Number.MAX_SAFE_INTEGER, 100), 3);
    assert.ok(await store.get('oidc', 's', 'Key', 'forever'));
  });

  test.run();
}

/** An event of server `s` (or `more.serverid`). */
function event(id: string, type: string, more: Partial<NewEvent> = {}): NewEvent {
  return { id, type, serverid: 's', time: 1, ...more };
}
