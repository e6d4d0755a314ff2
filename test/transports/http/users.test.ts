/**
 * 2.2 tag Users: getUsers, deleteUser, deleteUserAccounts, getUser, and the user attributes.
 * Accounts are made through the registry (phone enrolment is another area).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../../helpers/ns.ts';
import { expectErrorExplained as expectError, expectOk, makeKey, snapshot } from '../../helpers/rest.ts';
import { assertShape } from '../../helpers/shape.ts';
import type { Permission } from '../../../src/core/admin/access.ts';

let ns: TestServer;
let A: string; // server A
let B: string; // server B
const UNKNOWN_SERVER = 'AAAAAAAAAAAAAAAAAAAAAA';
/** key → its permission, on server A only (plus 'none' with no permission and 'global' users everywhere). */
const keys: Record<string, string> = {};
const PERMS: Permission[] = ['sessions', 'users', 'accounts', 'servers', 'createserver', 'setrid', 'root'];

const enc = encodeURIComponent;
const u = (sid: string, userid: string, rest = '') => `/servers/${sid}/users/${enc(userid)}/${rest}`;
let pkSeq = 0;
const newPk = () => Buffer.alloc(32, ++pkSeq % 256).toString('base64url');

/** Makes an account directly in the registry (enrolment is not this area). */
async function addAccount(sid: string, userid: string | undefined, at = Date.now(), description = 'phone'): Promise<number> {
  const account = await ns.registry.store.transact((tx) =>
    ns.registry.accounts.createInChange(tx, sid, { pk: newPk(), description, secondFactor: 'none', ...(userid === undefined ? {} : { userid }) }, at),
  );
  return account.id;
}

test.before(async () => {
  ns = await startTestServer();
  A = (await ns.api('POST', '/servers/', { body: { serverName: 'A' } })).body.serverid;
  B = (await ns.api('POST', '/servers/', { body: { serverName: 'B' } })).body.serverid;
  for (const p of PERMS) keys[p] = await makeKey(ns, A, [p], `A ${p}`);
  keys.none = await makeKey(ns, A, [], 'nothing');
  keys.global = await makeKey(ns, '*', ['users'], 'global users');
});
test.after(() => ns?.stop(true));

test('setUserAttributes makes the user; getUserAttributes answers a JSON object; getUsers lists it', async () => {
  expectOk(await ns.api('POST', u(A, 'carol', 'attributes/'), { key: keys.users, body: { group: 'staff', level: 3, tags: ['a'] } }));
  const attrs = await ns.api('GET', u(A, 'carol', 'attributes/'), { key: keys.users });
  expectOk(attrs);
  assert.match(attrs.headers.get('content-type') ?? '', 'application/json');
  assert.equal(attrs.body, { group: 'staff', level: 3, tags: ['a'] });
  const users = await ns.api('GET', `/servers/${A}/users/?search=carol`, { key: keys.users });
  expectOk(users);
  assertShape(users.body, 'Users');
  assert.equal(users.body, { users: [{ userid: 'carol', numberaccounts: 0 }], totalnumber: 1 });
  // trailing slash or not
  expectOk(await ns.api('GET', `/servers/${A}/users`, { key: keys.users }));
  expectOk(await ns.api('GET', u(A, 'carol', 'attributes'), { key: keys.users }));
});

test('set replaces, update merges, deleteUserAttribute drops one key, deleteUserAttributes clears all (the user stays)', async () => {
  const at = u(A, 'dave', 'attributes/');
  expectOk(await ns.api('POST', at, { key: keys.users, body: { a: 1, b: 2 } }));
  expectOk(await ns.api('POST', at, { key: keys.users, body: { c: 3 } }));
  assert.equal((await ns.api('GET', at, { key: keys.users })).body, { c: 3 });
  expectOk(await ns.api('PUT', at, { key: keys.users, body: { d: { x: 1 }, c: 'three' } }));
  assert.equal((await ns.api('GET', at, { key: keys.users })).body, { c: 'three', d: { x: 1 } });
  expectOk(await ns.api('DELETE', `${at}c`, { key: keys.users }));
  assert.equal((await ns.api('GET', at, { key: keys.users })).body, { d: { x: 1 } });
  expectOk(await ns.api('DELETE', at, { key: keys.users }));
  assert.equal((await ns.api('GET', at, { key: keys.users })).body, {});
  const listed = await ns.api('GET', `/servers/${A}/users/?search=dave`, { key: keys.users });
  assert.equal(listed.body.users, [{ userid: 'dave', numberaccounts: 0 }]);
  // an empty set is fine too
  expectOk(await ns.api('POST', at, { key: keys.users, body: {} }));
});

test('attribute operations: unknown user or attribute is 404, bad bodies 400 naming the body, nothing written', async () => {
  expectOk(await ns.api('POST', u(A, 'erin', 'attributes/'), { key: keys.users, body: { keep: true } }));
  const before = snapshot(ns);
  expectError(await ns.api('GET', u(A, 'ghost', 'attributes/'), { key: keys.users }), 404, 'UNKNOWN_USER', 'ghost');
  expectError(await ns.api('PUT', u(A, 'ghost', 'attributes/'), { key: keys.users, body: { a: 1 } }), 404, 'UNKNOWN_USER');
  expectError(await ns.api('DELETE', u(A, 'ghost', 'attributes/'), { key: keys.users }), 404, 'UNKNOWN_USER');
  expectError(await ns.api('DELETE', u(A, 'ghost', 'attributes/a'), { key: keys.users }), 404, 'UNKNOWN_USER');
  expectError(await ns.api('DELETE', u(A, 'erin', 'attributes/nope'), { key: keys.users }), 404, 'UNKNOWN_ATTRIBUTE', 'nope');
  expectError(await ns.api('DELETE', u(A, 'ghost'), { key: keys.users }), 404, 'UNKNOWN_USER');
  for (const method of ['POST', 'PUT']) {
    for (const body of ['[1,2]', '"text"', 'null', '42']) {
      expectError(await ns.api(method, u(A, 'erin', 'attributes/'), { key: keys.users, body }), 400, 'BAD_REQUEST', 'body');
    }
    expectError(await ns.api(method, u(A, 'erin', 'attributes/'), { key: keys.users, body: '{"a":' }), 400, 'BAD_REQUEST');
    expectError(await ns.api(method, u(A, 'erin', 'attributes/'), { key: keys.users }), 400, 'BAD_REQUEST', 'body');
    expectError(await ns.api(method, u(A, 'erin', 'attributes/'), { key: keys.users, body: { ['k'.repeat(257)]: 1 } }), 400, 'BAD_REQUEST', 'body');
    expectError(await ns.api(method, u(A, 'erin', 'attributes/'), { key: keys.users, body: { big: 'x'.repeat(70 * 1024) } }), 400, 'BAD_REQUEST', 'body');
    expectError(await ns.api(method, u(A, 'erin', 'attributes/'), { key: keys.users, body: '{"__proto__":{"polluted":1}}' }), 400, 'BAD_REQUEST');
  }
  // a POST that fails validation never makes the user
  expectError(await ns.api('POST', u(A, 'newbie', 'attributes/'), { key: keys.users, body: '[1]' }), 400, 'BAD_REQUEST', 'body');
  expectError(await ns.api('DELETE', u(A, 'erin', `attributes/${'k'.repeat(257)}`), { key: keys.users }), 400, 'BAD_REQUEST', 'attributekey');
  assert.is(snapshot(ns), before, 'no failed request changed anything');
  assert.equal((await ns.api('GET', u(A, 'erin', 'attributes/'), { key: keys.users })).body, { keep: true });
  assert.is(({} as Record<string, unknown>).polluted, undefined);
});

test('a userid may hold any characters, 1 to 256 of them', async () => {
  const odd = ['a/b?c#d&e=f', 'with space', '%41%', 'é 日本 😀', '__proto__', 'constructor', 'toString', '...', ' ', 'x'.repeat(256), '日'.repeat(256), '😀'.repeat(128)];
  for (const id of odd) {
    expectOk(await ns.api('POST', u(A, id, 'attributes/'), { key: keys.users, body: { name: id } }));
    const got = await ns.api('GET', u(A, id, 'attributes/'), { key: keys.users });
    expectOk(got);
    assert.equal(got.body, { name: id }, id);
  }
  const listed = await ns.api('GET', `/servers/${A}/users/?limit=1000`, { key: keys.users });
  for (const id of odd)
    assert.ok(
      listed.body.users.some((x: { userid: string }) => x.userid === id),
      `${id} listed`,
    );
  assert.is(Object.getPrototypeOf(JSON.parse(ns.store.dump()).users[A]), Object.prototype, 'a userid "__proto__" is a user, not a prototype');
  // one too many
  const before = snapshot(ns);
  for (const id of ['x'.repeat(257), '😀'.repeat(129)]) {
    expectError(await ns.api('POST', u(A, id, 'attributes/'), { key: keys.users, body: {} }), 400, 'BAD_USERID', 'userid');
    expectError(await ns.api('GET', u(A, id, 'attributes/'), { key: keys.users }), 400, 'BAD_USERID', 'userid');
    expectError(await ns.api('GET', u(A, id, 'accounts'), { key: keys.users }), 400, 'BAD_USERID', 'userid');
    expectError(await ns.api('DELETE', u(A, id), { key: keys.users }), 400, 'BAD_USERID', 'userid');
  }
  expectError(await ns.api('GET', `/servers/${A}/users//attributes/`, { key: keys.users }), 400, 'BAD_REQUEST', 'userid');
  assert.is(snapshot(ns), before);
  // a bad serverid is 400 too
  expectError(await ns.api('GET', '/servers/short/users/', { key: keys.users }), 400, 'BAD_REQUEST', 'serverid');
});

test('getUsers: sort, limit, marker, filter, search and totalnumber', async () => {
  const S = (await ns.api('POST', '/servers/', { body: { serverName: 'list' } })).body.serverid;
  const people: Array<[string, Record<string, unknown>, number[]]> = [
    ['ann', { group: 'red', city: 'Ghent', n: 1 }, [1000]],
    ['bob', { group: 'blue', city: 'Ghent', n: 2 }, [3000, 2000]],
    ['Cara', { group: 'red', city: 'Leuven', n: 2 }, []],
    ['dan', { group: 'green', city: 'Ghent' }, [500, 700, 600]],
    ['eve', { group: 'blue' }, [5000]],
    ['fabian', {}, []],
  ];
  for (const [id, attrs, logins] of people) {
    expectOk(await ns.api('POST', u(S, id, 'attributes/'), { body: attrs }));
    for (const at of logins) await addAccount(S, id, at);
  }
  await addAccount(S, undefined, 9000); // an account with no user counts for nobody
  const list = async (query: string) => {
    const r = await ns.api('GET', `/servers/${S}/users/${query}`, { key: keys.global });
    expectOk(r);
    assertShape(r.body, 'Users', { require: ['totalnumber'] });
    for (const user of r.body.users) assertShape(user, 'User', { require: ['numberaccounts'] });
    return r.body as { users: Array<{ userid: string; lastlogin?: number; numberaccounts: number }>; totalnumber: number };
  };
  const ids = (r: { users: Array<{ userid: string }> }) => r.users.map((x) => x.userid);

  const all = await list('');
  assert.equal(ids(all), ['Cara', 'ann', 'bob', 'dan', 'eve', 'fabian'], 'default order: userid ascending');
  assert.is(all.totalnumber, 6);
  assert.equal(
    all.users.find((x) => x.userid === 'bob'),
    { userid: 'bob', numberaccounts: 2, lastlogin: 3000 },
  );
  assert.equal(
    all.users.find((x) => x.userid === 'dan'),
    { userid: 'dan', numberaccounts: 3, lastlogin: 700 },
  );
  assert.equal(
    all.users.find((x) => x.userid === 'fabian'),
    { userid: 'fabian', numberaccounts: 0 },
  );

  // sort
  assert.equal(ids(await list('?sort=userid:desc')), ['fabian', 'eve', 'dan', 'bob', 'ann', 'Cara']);
  assert.equal(ids(await list('?sort=userid:asc')), ['Cara', 'ann', 'bob', 'dan', 'eve', 'fabian']);
  assert.equal(ids(await list('?sort=numberaccounts:desc,userid:desc')), ['dan', 'bob', 'eve', 'ann', 'fabian', 'Cara']);
  assert.equal(ids(await list('?sort=numberaccounts,userid:desc')), ['fabian', 'Cara', 'eve', 'ann', 'bob', 'dan']);
  assert.equal(ids(await list('?sort=lastlogin')), ['dan', 'ann', 'bob', 'eve', 'Cara', 'fabian'], 'users without a login last');
  assert.equal(ids(await list('?sort=lastlogin:desc')), ['eve', 'bob', 'ann', 'dan', 'Cara', 'fabian'], 'users without a login last');
  for (const bad of ['nope', 'userid:up', 'userid,', 'group', 'userid:asc:desc']) {
    expectError(await ns.api('GET', `/servers/${S}/users/?sort=${enc(bad)}`, { key: keys.global }), 400, 'BAD_REQUEST', 'sort');
  }

  // limit and marker; totalnumber before paging
  const p1 = await list('?sort=userid&limit=2');
  assert.equal(ids(p1), ['Cara', 'ann']);
  assert.is(p1.totalnumber, 6);
  const p2 = await list('?sort=userid&limit=2&marker=2');
  assert.equal(ids(p2), ['bob', 'dan']);
  assert.is(p2.totalnumber, 6);
  assert.equal(ids(await list('?limit=2&marker=4')), ['eve', 'fabian']);
  assert.equal(ids(await list('?marker=5')), ['fabian']);
  const past = await list('?marker=60');
  assert.equal(past, { users: [], totalnumber: 6 });
  const none = await list('?limit=0');
  assert.equal(none, { users: [], totalnumber: 6 });
  for (const [name, value] of [
    ['limit', '-1'],
    ['limit', 'ten'],
    ['marker', '-3'],
    ['marker', '1.5'],
    ['limit', '100001'],
  ]) {
    expectError(await ns.api('GET', `/servers/${S}/users/?${name}=${value}`, { key: keys.global }), 400, 'BAD_REQUEST', name);
  }

  // filter on the users' attributes
  assert.equal(ids(await list('?filter=group=red')), ['Cara', 'ann']);
  assert.equal(ids(await list(`?filter=${enc('group=in:red,green')}`)), ['Cara', 'ann', 'dan']);
  assert.equal(ids(await list(`?filter=${enc('group=in:blue,red;city=Ghent')}`)), ['ann', 'bob']);
  assert.equal(ids(await list('?filter=n=2')), ['Cara', 'bob'], 'numbers match their text');
  assert.equal(ids(await list('?filter=city=Brussels')), []);
  assert.equal(ids(await list('?filter=missing=x')), []);
  assert.equal(ids(await list('?filter=userid=ann')), [], 'filter is on attributes, not on the userid column');
  const filtered = await list(`?filter=${enc('group=in:red,blue')}&sort=userid:desc&limit=2`);
  assert.equal(ids(filtered), ['eve', 'bob']);
  assert.is(filtered.totalnumber, 4, 'totalnumber counts after filtering, before paging');
  for (const bad of ['group', '=red', 'group=red;oops']) {
    expectError(await ns.api('GET', `/servers/${S}/users/?filter=${enc(bad)}`, { key: keys.global }), 400, 'BAD_REQUEST', 'filter');
  }

  // search: substring of the userid, any case
  assert.equal(ids(await list('?search=a')), ['Cara', 'ann', 'dan', 'fabian']);
  assert.equal(ids(await list('?search=CAR')), ['Cara']);
  assert.equal(ids(await list('?search=%25')), [], 'search is literal, not a LIKE pattern');
  const searched = await list(`?search=a&filter=${enc('group=in:red,green')}&limit=1&marker=1`);
  assert.equal(ids(searched), ['ann']);
  assert.is(searched.totalnumber, 3);
});

test('getUser lists the accounts of one user; 404 for an unknown user', async () => {
  const S = (await ns.api('POST', '/servers/', { body: { serverName: 'getUser' } })).body.serverid;
  const a1 = await addAccount(S, 'gina', 100, 'phone');
  const a2 = await addAccount(S, 'gina', 300, 'tablet');
  await addAccount(S, 'hank', 200);
  const a3 = await addAccount(S, 'gina', 200, 'watch');
  expectOk(await ns.api('POST', u(S, 'ivy', 'attributes/'), { body: {} }));
  const r = await ns.api('GET', u(S, 'gina', 'accounts'));
  expectOk(r);
  assertShape(r.body, 'Accounts', { require: ['totalnumber'] });
  for (const a of r.body.accounts) assertShape(a, 'Account', { require: ['blocked', 'created', 'userid'] });
  assert.equal(
    r.body.accounts.map((a: { id: number }) => a.id),
    [a1, a2, a3],
  );
  assert.is(r.body.totalnumber, 3);
  assert.ok(r.body.accounts.every((a: { userid: string }) => a.userid === 'gina'));
  assert.equal(r.body.accounts[1], { id: a2, description: 'tablet', userid: 'gina', blocked: false, created: 300, lastlogin: 300 });
  const sorted = await ns.api('GET', u(S, 'gina', 'accounts?sort=lastlogin:desc&limit=2'));
  assert.equal(
    sorted.body.accounts.map((a: { id: number }) => a.id),
    [a2, a3],
  );
  assert.is(sorted.body.totalnumber, 3);
  const paged = await ns.api('GET', u(S, 'gina', 'accounts/?sort=description&marker=2'));
  assert.equal(
    paged.body.accounts.map((a: { description: string }) => a.description),
    ['watch'],
  );
  assert.is(paged.body.totalnumber, 3);
  expectError(await ns.api('GET', u(S, 'gina', 'accounts?sort=group')), 400, 'BAD_REQUEST', 'sort');
  expectError(await ns.api('GET', u(S, 'gina', 'accounts?limit=x')), 400, 'BAD_REQUEST', 'limit');
  assert.equal((await ns.api('GET', u(S, 'ivy', 'accounts'))).body, { accounts: [], totalnumber: 0 });
  expectError(await ns.api('GET', u(S, 'nobody', 'accounts')), 404, 'UNKNOWN_USER', 'nobody');
  // 'sessions' may read it too, but only on its own server
  expectOk(await ns.api('GET', u(A, 'carol', 'accounts'), { key: keys.sessions }));
  expectError(await ns.api('GET', u(S, 'gina', 'accounts'), { key: keys.sessions }), 403, 'FORBIDDEN');
});

test('deleteUserAccounts deletes every account of the user (announced as revoked) and keeps the user', async () => {
  const S = (await ns.api('POST', '/servers/', { body: { serverName: 'dua' } })).body.serverid;
  const mine = [await addAccount(S, 'jo'), await addAccount(S, 'jo')];
  const other = await addAccount(S, 'kim');
  expectOk(await ns.api('POST', u(S, 'jo', 'attributes/'), { body: { keep: 1 } }));
  const revoked: unknown[] = [];
  const listener = (...args: unknown[]) => revoked.push(args);
  ns.registry.accounts.events.on('revoked', listener);
  try {
    expectOk(await ns.api('DELETE', u(S, 'jo', 'accounts')));
  } finally {
    ns.registry.accounts.events.off('revoked', listener);
  }
  assert.equal(
    revoked,
    mine.map((id) => [S, id, 'deleted', 'jo']),
  );
  assert.equal((await ns.api('GET', u(S, 'jo', 'accounts'))).body, { accounts: [], totalnumber: 0 });
  assert.equal((await ns.api('GET', u(S, 'jo', 'attributes/'))).body, { keep: 1 }, 'the user and its attributes stay');
  assert.equal(
    (await ns.api('GET', `/servers/${S}/accounts/`)).body.accounts.map((a: { id: number }) => a.id),
    [other],
  );
  for (const id of mine) expectError(await ns.api('GET', `/servers/${S}/accounts/${id}`), 404, 'UNKNOWN_ACCOUNT');
  // again: nothing left to delete is fine; an unknown user is 404
  expectOk(await ns.api('DELETE', u(S, 'jo', 'accounts')));
  const before = snapshot(ns);
  expectError(await ns.api('DELETE', u(S, 'nobody', 'accounts')), 404, 'UNKNOWN_USER');
  assert.is(snapshot(ns), before);
  // 'accounts' or 'users' on the server may do it; 'sessions' may not
  const a = await addAccount(A, 'lou');
  expectError(await ns.api('DELETE', u(A, 'lou', 'accounts'), { key: keys.sessions }), 403, 'FORBIDDEN');
  expectOk(await ns.api('DELETE', u(A, 'lou', 'accounts'), { key: keys.accounts }));
  assert.is(await ns.registry.accounts.get(A, a), undefined);
  await addAccount(A, 'lou');
  expectOk(await ns.api('DELETE', u(A, 'lou', 'accounts'), { key: keys.users }));
  assert.equal(await ns.registry.accounts.ofUser(A, 'lou'), []);
});

test('deleteUser removes the user, its attributes, its accounts and its role', async () => {
  const S = (await ns.api('POST', '/servers/', { body: { serverName: 'du' } })).body.serverid;
  const gone = [await addAccount(S, 'max'), await addAccount(S, 'max')];
  const kept = await addAccount(S, 'ned');
  expectOk(await ns.api('POST', u(S, 'max', 'attributes/'), { body: { a: 1 } }));
  const role = await ns.registry.users.getOrCreateRole(S, 'max');
  assert.ok(await ns.registry.access.roleExists(role));
  const revoked: unknown[] = [];
  const listener = (...args: unknown[]) => revoked.push(args);
  ns.registry.accounts.events.on('revoked', listener);
  const writesBefore = ns.store.stats.registry.changes;
  try {
    expectOk(await ns.api('DELETE', u(S, 'max'), { key: keys.global }));
  } finally {
    ns.registry.accounts.events.off('revoked', listener);
  }
  assert.is(ns.store.stats.registry.changes, writesBefore + 1, 'one change: all or nothing');
  assert.equal(
    revoked,
    gone.map((id) => [S, id, 'deleted', 'max']),
  );
  for (const id of gone) expectError(await ns.api('GET', `/servers/${S}/accounts/${id}`), 404, 'UNKNOWN_ACCOUNT');
  expectOk(await ns.api('GET', `/servers/${S}/accounts/${kept}`));
  expectError(await ns.api('GET', u(S, 'max', 'attributes/')), 404, 'UNKNOWN_USER');
  expectError(await ns.api('GET', u(S, 'max', 'accounts')), 404, 'UNKNOWN_USER');
  assert.equal(
    (await ns.api('GET', `/servers/${S}/users/`)).body.users.map((x: { userid: string }) => x.userid),
    ['ned'],
  );
  assert.not.ok(await ns.registry.access.roleExists(role), 'the user role went with the user');
  const before = snapshot(ns);
  expectError(await ns.api('DELETE', u(S, 'max')), 404, 'UNKNOWN_USER');
  assert.is(snapshot(ns), before);
  // the same name can be used again, afresh
  expectOk(await ns.api('POST', u(S, 'max', 'attributes/'), { body: {} }));
  assert.equal((await ns.api('GET', u(S, 'max', 'accounts'))).body, { accounts: [], totalnumber: 0 });
});

/** Every route of this file, with the permissions that may call it (on its server). */
const routes: Array<{ name: string; method: string; path: (sid: string) => string; body?: unknown; perms: Permission[] }> = [
  { name: 'getUsers', method: 'GET', path: (s) => `/servers/${s}/users/`, perms: ['users'] },
  { name: 'deleteUser', method: 'DELETE', path: (s) => u(s, 'matrix'), perms: ['users'] },
  { name: 'deleteUserAccounts', method: 'DELETE', path: (s) => u(s, 'matrix', 'accounts'), perms: ['accounts', 'users'] },
  { name: 'getUser', method: 'GET', path: (s) => u(s, 'matrix', 'accounts'), perms: ['sessions', 'users'] },
  { name: 'getUserAttributes', method: 'GET', path: (s) => u(s, 'matrix', 'attributes/'), perms: ['sessions', 'users'] },
  { name: 'setUserAttributes', method: 'POST', path: (s) => u(s, 'matrix', 'attributes/'), body: { m: 1 }, perms: ['users'] },
  { name: 'updateUserAttributes', method: 'PUT', path: (s) => u(s, 'matrix', 'attributes/'), body: { m: 2 }, perms: ['users'] },
  { name: 'deleteUserAttributes', method: 'DELETE', path: (s) => u(s, 'matrix', 'attributes/'), perms: ['users'] },
  { name: 'deleteUserAttribute', method: 'DELETE', path: (s) => u(s, 'matrix', 'attributes/m'), perms: ['users'] },
];

test('every route: 401 without a key or with an unknown key, 403 without the permission, allowed with it', async () => {
  for (const r of routes) {
    const opts = r.body === undefined ? {} : { body: r.body };
    const before = snapshot(ns);
    expectError(await ns.api(r.method, r.path(A), { ...opts, key: null }), 401, 'MISSING_API_KEY');
    expectError(await ns.api(r.method, r.path(A), { ...opts, key: 'nak_not-a-key-at-all-0000000000' }), 401, 'UNKNOWN_API_KEY');
    expectError(await ns.api(r.method, r.path(A), { ...opts, key: keys.none }), 403, 'FORBIDDEN');
    for (const p of PERMS) {
      if (r.perms.includes(p) || p === 'root') continue;
      expectError(await ns.api(r.method, r.path(A), { ...opts, key: keys[p] }), 403, 'FORBIDDEN');
    }
    assert.is(snapshot(ns), before, `${r.name}: refused calls change nothing`);
    for (const p of [...r.perms, 'root' as const]) {
      const res = await ns.api(r.method, r.path(A), { ...opts, key: keys[p] });
      assert.ok(
        res.status === 200 || (res.status === 404 && res.body.code === 'UNKNOWN_USER') || (res.status === 404 && res.body.code === 'UNKNOWN_ATTRIBUTE'),
        `${r.name} with '${p}': ${res.status} ${JSON.stringify(res.body)}`,
      );
    }
  }
});

test("isolation: a key of server A gets 403 on every route of server B; B never shows A's users or accounts", async () => {
  // the same userid on both servers is two users
  expectOk(await ns.api('POST', u(A, 'shared', 'attributes/'), { key: keys.users, body: { on: 'A' } }));
  const accountOfA = await addAccount(A, 'shared');
  expectOk(await ns.api('POST', u(B, 'shared', 'attributes/'), { body: { on: 'B' } }));
  const before = snapshot(ns);
  for (const r of routes) {
    for (const p of [...PERMS, 'none']) {
      const res = await ns.api(r.method, r.path(B), { key: keys[p], ...(r.body === undefined ? {} : { body: r.body }) });
      expectError(res, 403, 'FORBIDDEN');
    }
    // an unknown server: 403 for A's key (no enumeration), 404 for a key allowed everywhere
    expectError(await ns.api(r.method, r.path(UNKNOWN_SERVER), { key: keys.root, ...(r.body === undefined ? {} : { body: r.body }) }), 403, 'FORBIDDEN');
    expectError(await ns.api(r.method, r.path(UNKNOWN_SERVER), { key: keys.global, ...(r.body === undefined ? {} : { body: r.body }) }), 404, 'UNKNOWN_SERVER');
    expectError(await ns.api(r.method, r.path(UNKNOWN_SERVER), { ...(r.body === undefined ? {} : { body: r.body }) }), 404, 'UNKNOWN_SERVER');
  }
  assert.is(snapshot(ns), before, 'nothing was written for B or for the unknown server');
  assert.equal((await ns.api('GET', u(B, 'shared', 'attributes/'))).body, { on: 'B' });
  assert.equal((await ns.api('GET', u(A, 'shared', 'attributes/'), { key: keys.users })).body, { on: 'A' });
  const ofB = await ns.api('GET', u(B, 'shared', 'accounts'));
  assert.equal(ofB.body, { accounts: [], totalnumber: 0 });
  const listB = await ns.api('GET', `/servers/${B}/users/?limit=1000`);
  assert.equal(listB.body.users, [{ userid: 'shared', numberaccounts: 0 }]);
  const listA = await ns.api('GET', `/servers/${A}/users/?search=shared`, { key: keys.users });
  assert.equal(
    listA.body.users.map((x: { numberaccounts: number }) => x.numberaccounts),
    [1],
  );
  // deleting on B leaves A alone
  expectOk(await ns.api('DELETE', u(B, 'shared')));
  assert.ok(await ns.registry.accounts.get(A, accountOfA));
  assert.equal((await ns.api('GET', u(A, 'shared', 'attributes/'), { key: keys.users })).body, { on: 'A' });
  // a global 'users' key works on both
  expectOk(await ns.api('GET', `/servers/${A}/users/`, { key: keys.global }));
  expectOk(await ns.api('GET', `/servers/${B}/users/`, { key: keys.global }));
});

test('users, attributes and odd userids survive a restart', async () => {
  const S = (await ns.api('POST', '/servers/', { body: { serverName: 'restart' } })).body.serverid;
  const odd = 'ünï/cødé?&#😀 __proto__';
  expectOk(await ns.api('POST', u(S, odd, 'attributes/'), { body: { deep: { list: [1, 'two'] } } }));
  const acc = await addAccount(S, odd, 4242);
  expectOk(await ns.api('POST', u(S, 'plain', 'attributes/'), { body: { x: 1 } }));
  const listBefore = (await ns.api('GET', `/servers/${S}/users/`)).body;
  ns = await ns.restart();
  assert.equal((await ns.api('GET', `/servers/${S}/users/`)).body, listBefore);
  assert.equal((await ns.api('GET', u(S, odd, 'attributes/'))).body, { deep: { list: [1, 'two'] } });
  assert.equal(
    (await ns.api('GET', u(S, odd, 'accounts'))).body.accounts.map((a: { id: number }) => a.id),
    [acc],
  );
  expectOk(await ns.api('GET', u(A, 'carol', 'attributes/'), { key: keys.users }));
});

test.run();
