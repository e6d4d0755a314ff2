/**
 * 2.2 tag Accounts: getAllAccounts, getAccount, updateAccount, deleteAccount, updateAccountUser.
 * Accounts are made through the registry (phone enrolment is another area).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../../helpers/ns.ts';
import { expectErrorExplained as expectError, expectOk, makeKey, newServer, snapshot } from '../../helpers/rest.ts';
import { assertShape } from '../../helpers/shape.ts';
import type { Permission } from '../../../src/core/admin/access.ts';

let ns: TestServer;
let A: string;
let B: string;
const UNKNOWN_SERVER = 'AAAAAAAAAAAAAAAAAAAAAA';
const keys: Record<string, string> = {};
const PERMS: Permission[] = ['sessions', 'users', 'accounts', 'servers', 'createserver', 'setrid', 'root'];

const enc = encodeURIComponent;
let pkSeq = 0;
const newPk = () => Buffer.alloc(32, ++pkSeq % 256).toString('base64url');

async function addAccount(sid: string, userid: string | undefined, at = Date.now(), description = 'phone', clientVersion?: string): Promise<number> {
  const account = await ns.registry.store.transact((tx) =>
    ns.registry.accounts.createInChange(
      tx,
      sid,
      { pk: newPk(), description, secondFactor: 'none', ...(userid === undefined ? {} : { userid }), ...(clientVersion === undefined ? {} : { clientVersion }) },
      at,
    ),
  );
  return account.id;
}

function expectAccount(body: unknown): void {
  assertShape(body, 'Account', { require: ['blocked', 'created'] });
}

/** Collects the registry's account events while `fn` runs. */
async function events<T>(fn: () => Promise<T>): Promise<{ revoked: unknown[]; relinked: unknown[]; result: T }> {
  const revoked: unknown[] = [];
  const relinked: unknown[] = [];
  const onRevoked = (...a: unknown[]) => revoked.push(a);
  const onRelinked = (...a: unknown[]) => relinked.push(a);
  ns.registry.accounts.events.on('revoked', onRevoked);
  ns.registry.accounts.events.on('relinked', onRelinked);
  try {
    return { revoked, relinked, result: await fn() };
  } finally {
    ns.registry.accounts.events.off('revoked', onRevoked);
    ns.registry.accounts.events.off('relinked', onRelinked);
  }
}

test.before(async () => {
  ns = await startTestServer();
  A = await newServer(ns, 'A');
  B = await newServer(ns, 'B');
  for (const p of PERMS) keys[p] = await makeKey(ns, A, [p], `A ${p}`);
  keys.none = await makeKey(ns, A, [], 'nothing');
  keys.global = await makeKey(ns, '*', ['accounts'], 'global accounts');
});
test.after(() => ns?.stop(true));

test('getAccount and getAllAccounts show accounts as 2.2 Account; 404 for an unknown account', async () => {
  const S = await newServer(ns, 'get');
  const linked = await addAccount(S, 'alice', 1000, 'Pixel 8', '2.1.0');
  const loose = await addAccount(S, undefined, 2000, 'iPhone');
  const one = await ns.api('GET', `/servers/${S}/accounts/${linked}`);
  expectOk(one);
  expectAccount(one.body);
  assert.equal(one.body, { id: linked, description: 'Pixel 8', userid: 'alice', blocked: false, clientVersion: '2.1.0', created: 1000, lastlogin: 1000 });
  assert.not.ok('pk' in one.body, 'keys are not part of the Account');
  const trailing = await ns.api('GET', `/servers/${S}/accounts/${loose}/`);
  assert.equal(trailing.body, { id: loose, description: 'iPhone', blocked: false, created: 2000, lastlogin: 2000 });
  const all = await ns.api('GET', `/servers/${S}/accounts/`);
  expectOk(all);
  assertShape(all.body, 'Accounts', { require: ['totalnumber'] });
  all.body.accounts.forEach(expectAccount);
  assert.equal(
    all.body.accounts.map((a: { id: number }) => a.id),
    [linked, loose],
  );
  assert.is(all.body.totalnumber, 2);
  expectOk(await ns.api('GET', `/servers/${S}/accounts`));
  expectError(await ns.api('GET', `/servers/${S}/accounts/999`), 404, 'UNKNOWN_ACCOUNT', '999');
  for (const bad of ['abc', '0', '-1', '1.5', String(2 ** 32)]) {
    expectError(await ns.api('GET', `/servers/${S}/accounts/${bad}`), 400, 'BAD_REQUEST', 'accountid');
  }
  // 'sessions' may read one account, not the list
  const mine = await addAccount(A, 'reader');
  expectOk(await ns.api('GET', `/servers/${A}/accounts/${mine}`, { key: keys.sessions }));
  expectError(await ns.api('GET', `/servers/${A}/accounts/`, { key: keys.sessions }), 403, 'FORBIDDEN');
});

test('updateAccount blocks (announced as revoked) and unblocks; blocked is a required boolean', async () => {
  const S = await newServer(ns, 'block');
  const id = await addAccount(S, 'bo');
  const other = await addAccount(S, 'bo');
  const blocked = await events(() => ns.api('PUT', `/servers/${S}/accounts/${id}?blocked=true`));
  expectOk(blocked.result);
  expectAccount(blocked.result.body);
  assert.is(blocked.result.body.blocked, true);
  assert.is(blocked.result.body.id, id);
  assert.equal(blocked.revoked, [[S, id, 'blocked', 'bo']], 'the session code hears of it, with its user');
  assert.is((await ns.api('GET', `/servers/${S}/accounts/${id}`)).body.blocked, true);
  assert.is((await ns.api('GET', `/servers/${S}/accounts/${other}`)).body.blocked, false, 'only that account');
  assert.is((await ns.registry.accounts.get(S, id))?.blocked, true);

  const unblocked = await events(() => ns.api('PUT', `/servers/${S}/accounts/${id}/?blocked=false`));
  expectOk(unblocked.result);
  assert.is(unblocked.result.body.blocked, false);
  assert.equal(unblocked.revoked, [], 'unblocking revokes nothing');

  const before = snapshot(ns);
  for (const q of ['', '?blocked=', '?blocked=yes', '?blocked=2', '?blocked=true&blocked=false', '?block=true']) {
    const r = await events(() => ns.api('PUT', `/servers/${S}/accounts/${id}${q}`));
    expectError(r.result, 400, 'BAD_REQUEST', 'blocked');
    assert.equal(r.revoked, []);
  }
  const unknown = await events(() => ns.api('PUT', `/servers/${S}/accounts/4242?blocked=true`));
  expectError(unknown.result, 404, 'UNKNOWN_ACCOUNT');
  assert.equal(unknown.revoked, []);
  expectError(await ns.api('PUT', `/servers/${S}/accounts/x?blocked=true`), 400, 'BAD_REQUEST', 'accountid');
  assert.is(snapshot(ns), before, 'no failed request changed anything');
});

test('deleteAccount deletes it (announced as revoked); the user stays with one account fewer', async () => {
  const S = await newServer(ns, 'delete');
  const gone = await addAccount(S, 'cy', 10);
  const kept = await addAccount(S, 'cy', 20);
  const r = await events(() => ns.api('DELETE', `/servers/${S}/accounts/${gone}/`));
  expectOk(r.result);
  assert.equal(r.revoked, [[S, gone, 'deleted', 'cy']]);
  expectError(await ns.api('GET', `/servers/${S}/accounts/${gone}`), 404, 'UNKNOWN_ACCOUNT');
  assert.equal((await ns.api('GET', `/servers/${S}/users/`)).body.users, [{ userid: 'cy', numberaccounts: 1, lastlogin: 20 }]);
  assert.equal(
    (await ns.api('GET', `/servers/${S}/accounts/`)).body.accounts.map((a: { id: number }) => a.id),
    [kept],
  );
  const before = snapshot(ns);
  const again = await events(() => ns.api('DELETE', `/servers/${S}/accounts/${gone}`));
  expectError(again.result, 404, 'UNKNOWN_ACCOUNT');
  assert.equal(again.revoked, []);
  assert.is(snapshot(ns), before);
  // ids are not reused
  const next = await addAccount(S, 'cy');
  assert.ok(next > kept);
});

test('updateAccountUser links the account to a user, made if new; 403 INVALID_USERID for 0 or >256 characters', async () => {
  const S = await newServer(ns, 'relink');
  const id = await addAccount(S, 'dee');
  const loose = await addAccount(S, undefined);
  const r = await events(() => ns.api('PUT', `/servers/${S}/accounts/${id}/user?userid=fresh`));
  expectOk(r.result);
  expectAccount(r.result.body);
  assert.is(r.result.body.userid, 'fresh');
  assert.equal(r.relinked, [[S, id, 'fresh']]);
  assert.equal(r.revoked, []);
  // the new user exists, with no attributes, and has the account; the old one stays (without it)
  assert.equal((await ns.api('GET', `/servers/${S}/users/fresh/attributes/`)).body, {});
  assert.equal(
    (await ns.api('GET', `/servers/${S}/users/fresh/accounts`)).body.accounts.map((a: { id: number }) => a.id),
    [id],
  );
  assert.equal((await ns.api('GET', `/servers/${S}/users/dee/accounts`)).body, { accounts: [], totalnumber: 0 });
  // an existing user keeps its attributes
  expectOk(await ns.api('POST', `/servers/${S}/users/known/attributes/`, { body: { k: 1 } }));
  const toKnown = await ns.api('PUT', `/servers/${S}/accounts/${loose}/user?userid=known`);
  assert.is(toKnown.body.userid, 'known');
  assert.equal((await ns.api('GET', `/servers/${S}/users/known/attributes/`)).body, { k: 1 });
  // any characters, up to 256
  for (const userid of ['a/b?c#d&e=f', 'é 日本 😀', '__proto__', 'x'.repeat(256), '😀'.repeat(128)]) {
    const res = await ns.api('PUT', `/servers/${S}/accounts/${id}/user?userid=${enc(userid)}`);
    expectOk(res);
    assert.is(res.body.userid, userid);
    expectOk(await ns.api('GET', `/servers/${S}/users/${enc(userid)}/accounts`));
  }
  const before = snapshot(ns);
  for (const bad of ['', 'x'.repeat(257), '😀'.repeat(129)]) {
    const res = await events(() => ns.api('PUT', `/servers/${S}/accounts/${id}/user?userid=${enc(bad)}`));
    expectError(res.result, 403, 'INVALID_USERID', 'userid');
    assert.equal(res.relinked, []);
  }
  expectError(await ns.api('PUT', `/servers/${S}/accounts/${id}/user`), 400, 'BAD_REQUEST', 'userid');
  expectError(await ns.api('PUT', `/servers/${S}/accounts/999/user?userid=never`), 404, 'UNKNOWN_ACCOUNT');
  expectError(await ns.api('PUT', `/servers/${S}/accounts/0/user?userid=never`), 400, 'BAD_REQUEST', 'accountid');
  assert.is(snapshot(ns), before, 'no user was made and nothing changed');
  expectError(await ns.api('GET', `/servers/${S}/users/never/attributes/`), 404, 'UNKNOWN_USER');
});

test("getAllAccounts: filter on account fields and on the user's attributes, sort, limit, marker, totalnumber", async () => {
  const S = await newServer(ns, 'list');
  for (const [id, attrs] of [
    ['ann', { group: 'red', tier: 1 }],
    ['bob', { group: 'blue', tier: 2 }],
    ['cat', { group: 'red' }],
  ] as const) {
    expectOk(await ns.api('POST', `/servers/${S}/users/${id}/attributes/`, { body: attrs }));
  }
  const a1 = await addAccount(S, 'ann', 500, 'phone', '1.0');
  const a2 = await addAccount(S, 'bob', 300, 'tablet', '2.0');
  const a3 = await addAccount(S, 'ann', 900, 'tablet');
  const a4 = await addAccount(S, undefined, 100, 'phone');
  const a5 = await addAccount(S, 'cat', 700, 'watch', '1.0');
  expectOk(await ns.api('PUT', `/servers/${S}/accounts/${a3}?blocked=true`));
  const list = async (query: string) => {
    const r = await ns.api('GET', `/servers/${S}/accounts/${query}`, { key: keys.global });
    expectOk(r);
    assertShape(r.body, 'Accounts', { require: ['totalnumber'] });
    r.body.accounts.forEach(expectAccount);
    return r.body as { accounts: Array<{ id: number }>; totalnumber: number };
  };
  const ids = (r: { accounts: Array<{ id: number }> }) => r.accounts.map((a) => a.id);

  assert.equal(ids(await list('')), [a1, a2, a3, a4, a5], 'default order: id');
  // sort
  assert.equal(ids(await list('?sort=id:desc')), [a5, a4, a3, a2, a1]);
  assert.equal(ids(await list('?sort=lastlogin')), [a4, a2, a1, a5, a3]);
  assert.equal(ids(await list('?sort=description:asc,lastlogin:desc')), [a1, a4, a3, a2, a5]);
  assert.equal(ids(await list('?sort=userid,id:desc')), [a3, a1, a2, a5, a4], 'accounts without a user last');
  assert.equal(ids(await list('?sort=blocked:desc,created')), [a3, a4, a2, a1, a5]);
  assert.equal(ids(await list('?sort=clientVersion:desc')), [a2, a1, a5, a3, a4]);
  for (const bad of ['pk', 'group', 'id:sideways', ',id']) {
    expectError(await ns.api('GET', `/servers/${S}/accounts/?sort=${enc(bad)}`, { key: keys.global }), 400, 'BAD_REQUEST', 'sort');
  }
  // paging
  const p = await list('?limit=2&marker=1');
  assert.equal(ids(p), [a2, a3]);
  assert.is(p.totalnumber, 5);
  assert.equal(await list('?marker=5'), { accounts: [], totalnumber: 5 });
  assert.equal(await list('?limit=0'), { accounts: [], totalnumber: 5 });
  expectError(await ns.api('GET', `/servers/${S}/accounts/?limit=-1`, { key: keys.global }), 400, 'BAD_REQUEST', 'limit');
  expectError(await ns.api('GET', `/servers/${S}/accounts/?marker=x`, { key: keys.global }), 400, 'BAD_REQUEST', 'marker');
  // filter on account fields
  assert.equal(ids(await list('?filter=blocked=true')), [a3]);
  assert.equal(ids(await list('?filter=blocked=false')), [a1, a2, a4, a5]);
  assert.equal(ids(await list('?filter=description=phone')), [a1, a4]);
  assert.equal(ids(await list(`?filter=${enc('userid=in:bob,cat')}`)), [a2, a5]);
  assert.equal(ids(await list(`?filter=id=${a2}`)), [a2]);
  assert.equal(ids(await list('?filter=clientVersion=1.0')), [a1, a5]);
  // filter on the owning user's attributes
  assert.equal(ids(await list('?filter=group=red')), [a1, a3, a5]);
  assert.equal(ids(await list(`?filter=${enc('tier=in:1,2')}`)), [a1, a2, a3]);
  assert.equal(ids(await list(`?filter=${enc('group=red;description=tablet')}`)), [a3]);
  assert.equal(ids(await list(`?filter=${enc('group=red;blocked=false')}`)), [a1, a5]);
  assert.equal(ids(await list('?filter=group=green')), []);
  assert.equal(ids(await list('?filter=pk=x')), [], 'private fields are not filterable');
  // filter + sort + paging: totalnumber after filtering, before paging
  const combined = await list(`?filter=${enc('group=in:red,blue')}&sort=lastlogin:desc&limit=2&marker=1`);
  assert.equal(ids(combined), [a5, a1]);
  assert.is(combined.totalnumber, 4);
  for (const bad of ['group', '=red', 'a=1;;b=2']) {
    expectError(await ns.api('GET', `/servers/${S}/accounts/?filter=${enc(bad)}`, { key: keys.global }), 400, 'BAD_REQUEST', 'filter');
  }
});

const ACCOUNT = 1; // the account id used on A in the route matrix
const routes: Array<{ name: string; method: string; path: (sid: string) => string; perms: Permission[] }> = [
  { name: 'getAllAccounts', method: 'GET', path: (s) => `/servers/${s}/accounts/`, perms: ['accounts'] },
  { name: 'getAccount', method: 'GET', path: (s) => `/servers/${s}/accounts/${ACCOUNT}`, perms: ['sessions', 'accounts'] },
  { name: 'updateAccount', method: 'PUT', path: (s) => `/servers/${s}/accounts/${ACCOUNT}?blocked=false`, perms: ['accounts'] },
  { name: 'updateAccountUser', method: 'PUT', path: (s) => `/servers/${s}/accounts/${ACCOUNT}/user?userid=matrix`, perms: ['accounts'] },
  { name: 'deleteAccount', method: 'DELETE', path: (s) => `/servers/${s}/accounts/${ACCOUNT}`, perms: ['accounts'] },
];

test('every route: 401 without a key or with an unknown key, 403 without the permission, allowed with it', async () => {
  if (!(await ns.registry.accounts.get(A, ACCOUNT))) assert.is(await addAccount(A, 'matrix'), ACCOUNT);
  for (const r of routes) {
    const before = snapshot(ns);
    expectError(await ns.api(r.method, r.path(A), { key: null }), 401, 'MISSING_API_KEY');
    expectError(await ns.api(r.method, r.path(A), { key: 'nak_not-a-key-at-all-0000000000' }), 401, 'UNKNOWN_API_KEY');
    expectError(await ns.api(r.method, r.path(A), { key: keys.none }), 403, 'FORBIDDEN');
    for (const p of PERMS) {
      if (r.perms.includes(p) || p === 'root') continue;
      expectError(await ns.api(r.method, r.path(A), { key: keys[p] }), 403, 'FORBIDDEN');
    }
    // a bad userid for a key without the permission is still 403 FORBIDDEN, not INVALID_USERID
    if (r.name === 'updateAccountUser') expectError(await ns.api(r.method, `/servers/${A}/accounts/${ACCOUNT}/user?userid=`, { key: keys.users }), 403, 'FORBIDDEN');
    assert.is(snapshot(ns), before, `${r.name}: refused calls change nothing`);
    for (const p of [...r.perms, 'root' as const]) {
      const res = await ns.api(r.method, r.path(A), { key: keys[p] });
      assert.ok(res.status === 200 || (res.status === 404 && res.body.code === 'UNKNOWN_ACCOUNT'), `${r.name} with '${p}': ${res.status} ${JSON.stringify(res.body)}`);
    }
  }
});

test("isolation: a key of server A gets 403 on every route of server B, and A's accounts never show through B", async () => {
  const onA = [await addAccount(A, 'iso'), await addAccount(A, 'iso'), await addAccount(A, 'iso')];
  const onB = await addAccount(B, 'iso');
  assert.is(onB, 1, 'B numbers its own accounts');
  const before = snapshot(ns);
  for (const r of routes) {
    for (const p of [...PERMS, 'none']) {
      const res = await events(() => ns.api(r.method, r.path(B), { key: keys[p] }));
      expectError(res.result, 403, 'FORBIDDEN');
      assert.equal(res.revoked, []);
    }
    expectError(await ns.api(r.method, r.path(UNKNOWN_SERVER), { key: keys.root }), 403, 'FORBIDDEN');
    expectError(await ns.api(r.method, r.path(UNKNOWN_SERVER), { key: keys.global }), 404, 'UNKNOWN_SERVER');
    expectError(await ns.api(r.method, r.path(UNKNOWN_SERVER)), 404, 'UNKNOWN_SERVER');
  }
  assert.is(snapshot(ns), before, 'nothing was written through B');
  // even a key allowed on B never reaches A's accounts through B's paths
  const listB = await ns.api('GET', `/servers/${B}/accounts/?limit=1000`);
  assert.equal(
    listB.body.accounts.map((a: { id: number }) => a.id),
    [onB],
  );
  for (const id of onA) {
    if (id === onB) continue;
    expectError(await ns.api('GET', `/servers/${B}/accounts/${id}`), 404, 'UNKNOWN_ACCOUNT');
    expectError(await ns.api('PUT', `/servers/${B}/accounts/${id}?blocked=true`), 404, 'UNKNOWN_ACCOUNT');
    expectError(await ns.api('PUT', `/servers/${B}/accounts/${id}/user?userid=thief`), 404, 'UNKNOWN_ACCOUNT');
    expectError(await ns.api('DELETE', `/servers/${B}/accounts/${id}`), 404, 'UNKNOWN_ACCOUNT');
  }
  // the same id on both servers is two accounts: blocking B's leaves A's alone
  const r = await events(() => ns.api('PUT', `/servers/${B}/accounts/${onB}?blocked=true`));
  assert.equal(r.revoked, [[B, onB, 'blocked', 'iso']]);
  assert.is((await ns.registry.accounts.get(A, onB))?.blocked ?? false, false);
  assert.equal(
    (await ns.api('GET', `/servers/${B}/users/iso/accounts`)).body.accounts.map((a: { id: number }) => a.id),
    [onB],
  );
  expectError(await ns.api('GET', `/servers/${B}/users/thief/attributes/`), 404, 'UNKNOWN_USER');
  // a global 'accounts' key works on both
  expectOk(await ns.api('GET', `/servers/${A}/accounts/`, { key: keys.global }));
  expectOk(await ns.api('GET', `/servers/${B}/accounts/`, { key: keys.global }));
});

test('blocks, deletions and new links survive a restart', async () => {
  const S = await newServer(ns, 'restart');
  const blocked = await addAccount(S, 'rae', 111);
  const relinked = await addAccount(S, 'rae', 222);
  const deleted = await addAccount(S, 'rae', 333);
  expectOk(await ns.api('PUT', `/servers/${S}/accounts/${blocked}?blocked=true`));
  expectOk(await ns.api('PUT', `/servers/${S}/accounts/${relinked}/user?userid=${enc('new ü/ser')}`));
  expectOk(await ns.api('DELETE', `/servers/${S}/accounts/${deleted}`));
  const listBefore = (await ns.api('GET', `/servers/${S}/accounts/`)).body;
  ns = await ns.restart();
  assert.equal((await ns.api('GET', `/servers/${S}/accounts/`)).body, listBefore);
  assert.is((await ns.api('GET', `/servers/${S}/accounts/${blocked}`)).body.blocked, true);
  assert.is((await ns.api('GET', `/servers/${S}/accounts/${relinked}`)).body.userid, 'new ü/ser');
  expectError(await ns.api('GET', `/servers/${S}/accounts/${deleted}`), 404, 'UNKNOWN_ACCOUNT');
  expectOk(await ns.api('GET', `/servers/${S}/users/${enc('new ü/ser')}/attributes/`));
  expectOk(await ns.api('GET', `/servers/${A}/accounts/`, { key: keys.accounts }));
});

test.run();
