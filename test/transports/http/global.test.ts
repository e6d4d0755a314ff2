/**
 * 2.2 tag Global: the global attributes and the servers' privileged attributes. All of them need
 * global 'servers'; a permission on one server is not enough, not even on that server.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../../helpers/ns.ts';
import { expectError, keyWith, newServer, snapshot } from '../../helpers/rest.ts';

let ns: TestServer;
test.before(async () => {
  ns = await startTestServer();
});
test.after(() => ns.stop(true));

// --- helpers --------------------------------------------------------------------------------

const UNKNOWN = 'AAAAAAAAAAAAAAAAAAAAAA';

/** The five operations on one bag (base is `/attributes/` or `/servers/<id>/privilegedattributes/`). */
const routesOf = (base: string): Array<[string, string, unknown?]> => [
  ['GET', base],
  ['POST', base, { evil: 1 }],
  ['PUT', base, { evil: 1 }],
  ['DELETE', base],
  ['DELETE', `${base}keep`],
];
const privileged = (serverid: string) => `/servers/${serverid}/privilegedattributes/`;

/** The CRUD cycle every bag goes through, with the given key. */
async function crud(base: string, key?: string): Promise<void> {
  const get = async () => {
    const r = await ns.api('GET', base, { key });
    assert.is(r.status, 200, JSON.stringify(r.body));
    assert.ok((r.headers.get('content-type') ?? '').includes('application/json'));
    return r.body;
  };
  assert.is((await ns.api('DELETE', base, { key })).status, 200);
  assert.equal(await get(), {});
  const value = { color: 'red', n: 1.5, list: [1, 'two', { three: null }], deep: { a: { b: true } }, empty: '' };
  const set = await ns.api('POST', base, { key, body: value });
  assert.is(set.status, 200);
  assert.is(set.body, null);
  assert.equal(await get(), value);
  assert.is((await ns.api('POST', base, { key, body: { only: 1 } })).status, 200);
  assert.equal(await get(), { only: 1 }, 'set replaces');
  assert.is((await ns.api('PUT', base, { key, body: { color: 'blue', only: 2 } })).status, 200);
  assert.equal(await get(), { only: 2, color: 'blue' }, 'update merges');
  assert.is((await ns.api('PUT', base, { key, body: {} })).status, 200);
  assert.equal(await get(), { only: 2, color: 'blue' });
  const del = await ns.api('DELETE', `${base}color`, { key });
  assert.is(del.status, 200);
  assert.is(del.body, null);
  assert.equal(await get(), { only: 2 });
  expectError(await ns.api('DELETE', `${base}color`, { key }), 404, 'UNKNOWN_ATTRIBUTE', 'color');
  assert.is((await ns.api('DELETE', base, { key })).status, 200);
  assert.equal(await get(), {});
  assert.is((await ns.api('DELETE', base, { key })).status, 200, 'clearing an empty bag is fine');
}

// --- global attributes ----------------------------------------------------------------------

test('global attributes: get, set (replace), update (merge), delete one, delete all', async () => {
  await crud('/attributes/');
  // without the trailing slash too
  assert.is((await ns.api('PUT', '/attributes', { body: { x: 1 } })).status, 200);
  assert.equal((await ns.api('GET', '/attributes')).body, { x: 1 });
  // keys with odd characters, percent-encoded in the path
  await ns.api('POST', '/attributes/', { body: { 'a b/c': 1, ü: 2 } });
  assert.is((await ns.api('DELETE', `/attributes/${encodeURIComponent('a b/c')}`)).status, 200);
  assert.equal((await ns.api('GET', '/attributes/')).body, { ü: 2 });
});

test("global attributes work with a key that has global 'servers' (not root)", async () => {
  const k = await keyWith(ns, ['servers']);
  await crud('/attributes/', k.apikey);
});

test('global attributes: 400 for a bad body, 404 for an unknown key, nothing written', async () => {
  await ns.api('POST', '/attributes/', { body: { keep: 1 } });
  const before = snapshot(ns);
  for (const method of ['POST', 'PUT']) {
    expectError(await ns.api(method, '/attributes/', { body: [1, 2] }), 400, 'BAD_REQUEST', 'body');
    expectError(await ns.api(method, '/attributes/', { body: '42' }), 400, 'BAD_REQUEST', 'body');
    expectError(await ns.api(method, '/attributes/', { body: 'null' }), 400, 'BAD_REQUEST', 'body');
    expectError(await ns.api(method, '/attributes/', { body: '{"a":' }), 400, 'BAD_REQUEST');
    expectError(await ns.api(method, '/attributes/'), 400, 'BAD_REQUEST', 'body');
    expectError(await ns.api(method, '/attributes/', { body: { big: 'x'.repeat(70 * 1024) } }), 400, 'BAD_REQUEST', 'body');
    expectError(await ns.api(method, '/attributes/', { body: { '': 1 } }), 400, 'BAD_REQUEST', 'key');
  }
  expectError(await ns.api('DELETE', '/attributes/missing'), 404, 'UNKNOWN_ATTRIBUTE', 'missing');
  expectError(await ns.api('DELETE', '/attributes/constructor'), 404, 'UNKNOWN_ATTRIBUTE');
  expectError(await ns.api('DELETE', `/attributes/${'k'.repeat(257)}`), 400, 'BAD_REQUEST', 'attributekey');
  assert.is(snapshot(ns), before);
  assert.equal((await ns.api('GET', '/attributes/')).body, { keep: 1 });
});

// --- privileged server attributes -----------------------------------------------------------

test('privileged attributes: the same cycle, kept apart from the server attributes and from other servers', async () => {
  const s = await newServer(ns);
  const t = await newServer(ns);
  await ns.api('POST', `/servers/${s}/attributes/`, { body: { public: 1 } });
  await ns.api('POST', privileged(t), { body: { other: 1 } });
  await crud(privileged(s));
  await ns.api('POST', privileged(s), { body: { secret: 'x' } });
  assert.equal((await ns.api('GET', `/servers/${s}/attributes/`)).body, { public: 1 });
  assert.equal((await ns.api('GET', privileged(s))).body, { secret: 'x' });
  assert.equal((await ns.api('GET', privileged(t))).body, { other: 1 });
  await ns.api('DELETE', `/servers/${s}/attributes/`);
  assert.equal((await ns.api('GET', privileged(s))).body, { secret: 'x' });
  assert.equal((await ns.api('GET', '/attributes/')).body.secret, undefined, 'not the global bag');
  // without the trailing slash too
  assert.equal((await ns.api('GET', `/servers/${s}/privilegedattributes`)).body, { secret: 'x' });
});

test("privileged attributes work with global 'servers'", async () => {
  const s = await newServer(ns);
  const k = await keyWith(ns, ['servers']);
  await crud(privileged(s), k.apikey);
});

test('privileged attributes: 404 unknown server or attribute, 400 bad id or body, nothing written', async () => {
  const s = await newServer(ns);
  await ns.api('POST', privileged(s), { body: { keep: 1 } });
  const before = snapshot(ns);
  for (const [method, url, body] of routesOf(privileged(UNKNOWN))) {
    expectError(await ns.api(method, url, { body }), 404, 'UNKNOWN_SERVER');
  }
  for (const [method, url, body] of routesOf(privileged('tooshort'))) {
    expectError(await ns.api(method, url, { body }), 400, 'BAD_REQUEST', 'serverid');
  }
  expectError(await ns.api('DELETE', `${privileged(s)}missing`), 404, 'UNKNOWN_ATTRIBUTE', 'missing');
  for (const method of ['POST', 'PUT']) {
    expectError(await ns.api(method, privileged(s), { body: ['a'] }), 400, 'BAD_REQUEST', 'body');
    expectError(await ns.api(method, privileged(s), { body: 'true' }), 400, 'BAD_REQUEST', 'body');
    expectError(await ns.api(method, privileged(s)), 400, 'BAD_REQUEST', 'body');
  }
  assert.is(snapshot(ns), before);
});

// --- who may ---------------------------------------------------------------------------------

test("a key with a permission on one server (even root) gets 403 on every Global route, that server's included", async () => {
  const a = await newServer(ns, 'A');
  const b = await newServer(ns, 'B');
  await ns.api('POST', '/attributes/', { body: { keep: 'global' } });
  await ns.api('POST', privileged(a), { body: { keep: 'a' } });
  await ns.api('POST', privileged(b), { body: { keep: 'b' } });
  const serversOnA = await keyWith(ns, ['servers'], a);
  const rootOnA = await keyWith(ns, ['root'], a);
  const globalOthers = await keyWith(ns, ['sessions', 'users', 'accounts', 'createserver', 'setrid']);
  const nothing = await keyWith(ns, []);
  const before = snapshot(ns);
  for (const k of [serversOnA, rootOnA, globalOthers, nothing]) {
    for (const [method, url, body] of [...routesOf('/attributes/'), ...routesOf(privileged(a)), ...routesOf(privileged(b)), ...routesOf(privileged(UNKNOWN))]) {
      expectError(await ns.api(method, url, { key: k.apikey, body }), 403, 'FORBIDDEN', 'servers');
    }
  }
  // X-su to a role without global 'servers' is refused the same way
  for (const [method, url, body] of routesOf('/attributes/')) {
    expectError(await ns.api(method, url, { headers: { 'x-su': rootOnA.role }, body }), 403, 'FORBIDDEN');
  }
  assert.is(snapshot(ns), before);
  // the same key still may use A's ordinary attributes
  assert.is((await ns.api('GET', `/servers/${a}/attributes/`, { key: serversOnA.apikey })).status, 200);
});

test('every Global route: 401 without a key or with a wrong key, before the body is read', async () => {
  const s = await newServer(ns);
  const before = snapshot(ns);
  for (const [method, url, body] of [...routesOf('/attributes/'), ...routesOf(privileged(s))]) {
    expectError(await ns.api(method, url, { key: null, body }), 401, 'MISSING_API_KEY');
    expectError(await ns.api(method, url, { key: 'nak_wrong', body }), 401, 'UNKNOWN_API_KEY');
    if (body) expectError(await ns.api(method, url, { key: null, body: '{broken' }), 401, 'MISSING_API_KEY');
  }
  assert.is(snapshot(ns), before);
});

// --- persistence ----------------------------------------------------------------------------

test('global and privileged attributes survive a restart', async () => {
  const s = await newServer(ns);
  await ns.api('POST', '/attributes/', { body: { g: { deep: [1, 2] } } });
  await ns.api('POST', privileged(s), { body: { p: 'private' } });
  ns = await ns.restart();
  assert.equal((await ns.api('GET', '/attributes/')).body, { g: { deep: [1, 2] } });
  assert.equal((await ns.api('GET', privileged(s))).body, { p: 'private' });
});

test.run();
