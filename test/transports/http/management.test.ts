/**
 * 2.2 tag Management: getApiKeys, createApiKey, getAllPermissions, getPermissions,
 * grantPermissions, revokePermissions, getUserRole, getOrCreateUserRole; and X-su.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GLOBAL } from '../../../src/core/admin/access.ts';
import { startTestServer, type TestServer } from '../../helpers/ns.ts';
import { expectError, keyWith, newServer, snapshot } from '../../helpers/rest.ts';
import { assertShape } from '../../helpers/shape.ts';

let ns: TestServer;
test.before(async () => {
  ns = await startTestServer();
});
test.after(() => ns.stop(true));

// --- helpers --------------------------------------------------------------------------------

const UNKNOWN = 'AAAAAAAAAAAAAAAAAAAAAA'; // a well-formed id nothing has

async function newKey(description = 'test', key?: string): Promise<{ apikey: string; role: string; description: string }> {
  const r = await ns.api('POST', `/apikeys/?description=${encodeURIComponent(description)}`, { key });
  assert.is(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

async function grant(serverid: string, role: string, perms: string[], key?: string): Promise<void> {
  const r = await ns.api('POST', `/servers/${serverid}/permissions/${role}`, { key, body: perms });
  assert.is(r.status, 200, JSON.stringify(r.body));
}

/** A user on the server (users are made by setUserAttributes, which another area serves). */
async function newUser(serverid: string, userid: string): Promise<void> {
  await ns.registry.users.setAttributes(serverid, userid, {});
}

/** Every server-scoped Management route, with a body that would succeed. */
const routesOf = (id: string, role: string, userid: string): Array<[string, string, unknown?]> => [
  ['GET', `/servers/${id}/permissions/`],
  ['GET', `/servers/${id}/permissions/${role}`],
  ['POST', `/servers/${id}/permissions/${role}`, ['root']],
  ['DELETE', `/servers/${id}/permissions/${role}`],
  ['GET', `/servers/${id}/users/${userid}/role/`],
  ['POST', `/servers/${id}/users/${userid}/role/`],
];

// --- createApiKey / getApiKeys --------------------------------------------------------------

test('createApiKey makes a new role with a working key and no permissions; the key is stored hashed', async () => {
  const r = await ns.api('POST', `/apikeys/?description=${encodeURIComponent('shop backend')}`);
  assert.is(r.status, 200);
  assertShape(r.body, 'ApiKey', { require: ['apikey', 'role', 'description'] });
  assert.is(r.body.description, 'shop backend');
  assert.match(r.body.apikey, /^nak_[A-Za-z0-9_-]{43}$/);
  assert.ok(await ns.registry.access.roleExists(r.body.role));
  // it authenticates, and can do nothing yet
  const list = await ns.api('GET', '/servers/', { key: r.body.apikey });
  assert.equal(list.body, { servers: [], totalnumber: 0 });
  expectError(await ns.api('GET', '/apikeys/', { key: r.body.apikey }), 403, 'FORBIDDEN', 'servers');
  expectError(await ns.api('POST', '/apikeys/?description=x', { key: r.body.apikey }), 403, 'FORBIDDEN');
  // two keys are two roles
  const other = await newKey('other');
  assert.is.not(other.role, r.body.role);
  assert.is.not(other.apikey, r.body.apikey);
  // the key itself is on disk nowhere
  await ns.registry.store.flush();
  const file = readFileSync(path.join(ns.dataDir, 'nextauth.json'), 'utf8');
  assert.not.ok(file.includes(r.body.apikey));
  assert.not.ok(file.includes(ns.rootKey));
});

test('createApiKey: 400 without a description or with a too long one, 401, 403 without global servers; nothing written', async () => {
  const s = await newServer(ns);
  const onS = await keyWith(ns, ['root'], s); // root on one server is not global 'servers'
  const before = snapshot(ns);
  expectError(await ns.api('POST', '/apikeys/'), 400, 'BAD_REQUEST', 'description');
  expectError(await ns.api('POST', '/apikeys/?description='), 400, 'BAD_REQUEST', 'description');
  expectError(await ns.api('POST', `/apikeys/?description=${'d'.repeat(257)}`), 400, 'BAD_REQUEST', 'description');
  expectError(await ns.api('POST', '/apikeys/?description=x', { key: null }), 401, 'MISSING_API_KEY');
  expectError(await ns.api('POST', '/apikeys/?description=x', { key: 'nak_wrong' }), 401, 'UNKNOWN_API_KEY');
  expectError(await ns.api('POST', '/apikeys/?description=x', { key: onS.apikey }), 403, 'FORBIDDEN', 'servers');
  expectError(await ns.api('GET', '/apikeys/', { key: null }), 401, 'MISSING_API_KEY');
  expectError(await ns.api('GET', '/apikeys/', { key: 'nak_wrong' }), 401, 'UNKNOWN_API_KEY');
  expectError(await ns.api('GET', '/apikeys/', { key: onS.apikey }), 403, 'FORBIDDEN', 'servers');
  assert.is(snapshot(ns), before);
});

test('getApiKeys lists the keys made by the acting role, with a hint only', async () => {
  const admin = await keyWith(ns, ['servers']); // global 'servers'
  const made1 = await newKey('one', admin.apikey);
  const made2 = await newKey('two', admin.apikey);
  const r = await ns.api('GET', '/apikeys/', { key: admin.apikey });
  assert.is(r.status, 200);
  assertShape(r.body, 'ApiKeys');
  assert.equal(
    r.body.apikeys.map((k: any) => [k.role, k.description]).sort(),
    [
      [made1.role, 'one'],
      [made2.role, 'two'],
    ].sort(),
  );
  for (const k of r.body.apikeys) {
    assertShape(k, 'ApiKey', { require: ['apikey', 'role', 'description'] });
    assert.ok(k.apikey.length < 20, 'a hint, not the key');
    assert.ok([made1.apikey, made2.apikey].some((full) => full.startsWith(k.apikey.replace('…', ''))));
  }
  const raw = Buffer.from(r.raw).toString('utf8');
  assert.not.ok(raw.includes(made1.apikey) || raw.includes(made2.apikey));
  // root lists what root made: admin's key, not the ones admin made
  const mine = (await ns.api('GET', '/apikeys/')).body.apikeys.map((k: any) => k.role);
  assert.ok(mine.includes(admin.role));
  assert.not.ok(mine.includes(made1.role));
  // a key that made nothing lists nothing
  const fresh = await keyWith(ns, ['servers']);
  assert.equal((await ns.api('GET', '/apikeys/', { key: fresh.apikey })).body, { apikeys: [] });
});

// --- grant / revoke / get permissions -------------------------------------------------------

test("grantPermissions replaces a role's permissions on a server; getPermissions and getAllPermissions show them", async () => {
  const s = await newServer(ns);
  const other = await newServer(ns);
  const k = await newKey();
  await grant(s, k.role, ['sessions', 'users', 'sessions']);
  await grant(other, k.role, ['accounts']);
  let r = await ns.api('GET', `/servers/${s}/permissions/${k.role}`);
  assert.is(r.status, 200);
  assertShape(r.body, 'Permissions');
  assert.equal(r.body, { permissions: [{ role: k.role, server: s, acl: 'sessions,users' }] });

  await grant(s, k.role, ['servers']);
  r = await ns.api('GET', `/servers/${s}/permissions/${k.role}`);
  assert.equal(r.body.permissions, [{ role: k.role, server: s, acl: 'servers' }], 'replaced, not added');
  // the key now works on s with exactly that
  assert.is((await ns.api('GET', `/servers/${s}/attributes/`, { key: k.apikey })).status, 200);
  expectError(await ns.api('POST', `/servers/${s}/users/u/role/`, { key: k.apikey }), 403, 'FORBIDDEN');

  const all = await ns.api('GET', `/servers/${s}/permissions/`);
  assert.is(all.status, 200);
  assertShape(all.body, 'Permissions');
  for (const p of all.body.permissions) assertShape(p, 'Permission', { require: ['acl', 'role', 'server'] });
  assert.ok(
    all.body.permissions.every((p: any) => p.server === s),
    'only this server',
  );
  assert.ok(all.body.permissions.some((p: any) => p.role === k.role && p.acl === 'servers'));
  assert.not.ok(
    all.body.permissions.some((p: any) => p.acl === 'accounts'),
    'not the other server',
  );
  // global permissions (root's) are not listed per server
  assert.not.ok(all.body.permissions.some((p: any) => p.server === GLOBAL));

  // a role without any permission there: an empty list
  const none = await newKey();
  assert.equal((await ns.api('GET', `/servers/${s}/permissions/${none.role}`)).body, { permissions: [] });
  // an empty list revokes
  await grant(s, k.role, []);
  assert.equal((await ns.api('GET', `/servers/${s}/permissions/${k.role}`)).body, { permissions: [] });
  expectError(await ns.api('GET', `/servers/${s}/attributes/`, { key: k.apikey }), 403, 'FORBIDDEN');
  assert.equal((await ns.api('GET', `/servers/${other}/permissions/${k.role}`)).body.permissions, [{ role: k.role, server: other, acl: 'accounts' }]);
});

test('grantPermissions: 400 naming a bad permission or body, 404 unknown role/server; nothing written', async () => {
  const s = await newServer(ns);
  const k = await newKey();
  await grant(s, k.role, ['sessions']);
  const url = `/servers/${s}/permissions/${k.role}`;
  const before = snapshot(ns);
  expectError(await ns.api('POST', url, { body: ['sessions', 'superuser'] }), 400, 'BAD_REQUEST', 'superuser');
  expectError(await ns.api('POST', url, { body: ['ROOT'] }), 400, 'BAD_REQUEST', 'ROOT');
  expectError(await ns.api('POST', url, { body: [1] }), 400, 'BAD_REQUEST', 'body/0');
  expectError(await ns.api('POST', url, { body: { root: true } }), 400, 'BAD_REQUEST', 'body');
  expectError(await ns.api('POST', url, { body: '[broken' }), 400, 'BAD_REQUEST');
  expectError(await ns.api('POST', url), 400, 'BAD_REQUEST', 'body');
  expectError(await ns.api('POST', url, { body: Array(33).fill('users') }), 400, 'BAD_REQUEST', 'body');
  expectError(await ns.api('POST', `/servers/${s}/permissions/${UNKNOWN}`, { body: ['users'] }), 404, 'UNKNOWN_ROLE');
  expectError(await ns.api('POST', `/servers/${s}/permissions/constructor`, { body: ['users'] }), 404, 'UNKNOWN_ROLE');
  expectError(await ns.api('POST', `/servers/${UNKNOWN}/permissions/${k.role}`, { body: ['users'] }), 404, 'UNKNOWN_SERVER');
  expectError(await ns.api('POST', `/servers/${s}/permissions/bad%20role`, { body: ['users'] }), 400, 'BAD_REQUEST', 'roleid');
  expectError(await ns.api('POST', `/servers/nope/permissions/${k.role}`, { body: ['users'] }), 400, 'BAD_REQUEST', 'serverid');
  assert.is(snapshot(ns), before);
});

test("revokePermissions removes a role's permissions on one server only; 404 for an unknown role or server", async () => {
  const s = await newServer(ns);
  const t = await newServer(ns);
  const k = await newKey();
  await grant(s, k.role, ['servers']);
  await grant(t, k.role, ['servers']);
  const r = await ns.api('DELETE', `/servers/${s}/permissions/${k.role}`);
  assert.is(r.status, 200);
  assert.is(r.body, null);
  assert.equal((await ns.api('GET', `/servers/${s}/permissions/${k.role}`)).body, { permissions: [] });
  expectError(await ns.api('GET', `/servers/${s}/`, { key: k.apikey }), 403, 'FORBIDDEN');
  assert.is((await ns.api('GET', `/servers/${t}/`, { key: k.apikey })).status, 200);
  // again: nothing to revoke is fine
  assert.is((await ns.api('DELETE', `/servers/${s}/permissions/${k.role}`)).status, 200);
  const before = snapshot(ns);
  expectError(await ns.api('DELETE', `/servers/${s}/permissions/${UNKNOWN}`), 404, 'UNKNOWN_ROLE');
  expectError(await ns.api('DELETE', `/servers/${UNKNOWN}/permissions/${k.role}`), 404, 'UNKNOWN_SERVER');
  expectError(await ns.api('GET', `/servers/${s}/permissions/${UNKNOWN}`), 404, 'UNKNOWN_ROLE');
  expectError(await ns.api('GET', `/servers/${UNKNOWN}/permissions/${k.role}`), 404, 'UNKNOWN_SERVER');
  expectError(await ns.api('GET', `/servers/${UNKNOWN}/permissions/`), 404, 'UNKNOWN_SERVER');
  assert.is(snapshot(ns), before);
});

test("permissions: 'servers' reads them, only 'root' (on the server or global) changes them", async () => {
  const s = await newServer(ns);
  const target = await newKey();
  const reader = await keyWith(ns, ['servers'], s);
  const owner = await keyWith(ns, ['root'], s);
  const globalServers = await keyWith(ns, ['servers']);
  const usersOnly = await keyWith(ns, ['users', 'sessions', 'accounts', 'createserver'], s);
  const before = snapshot(ns);
  for (const k of [reader, globalServers]) {
    assert.is((await ns.api('GET', `/servers/${s}/permissions/`, { key: k.apikey })).status, 200);
    assert.is((await ns.api('GET', `/servers/${s}/permissions/${target.role}`, { key: k.apikey })).status, 200);
  }
  for (const k of [reader, globalServers, usersOnly]) {
    expectError(await ns.api('POST', `/servers/${s}/permissions/${target.role}`, { key: k.apikey, body: ['servers'] }), 403, 'FORBIDDEN', 'root');
    expectError(await ns.api('DELETE', `/servers/${s}/permissions/${target.role}`, { key: k.apikey }), 403, 'FORBIDDEN', 'root');
  }
  // a reader may not make itself root
  expectError(await ns.api('POST', `/servers/${s}/permissions/${reader.role}`, { key: reader.apikey, body: ['root'] }), 403, 'FORBIDDEN');
  expectError(await ns.api('GET', `/servers/${s}/permissions/`, { key: usersOnly.apikey }), 403, 'FORBIDDEN', 'servers');
  expectError(await ns.api('GET', `/servers/${s}/permissions/${target.role}`, { key: usersOnly.apikey }), 403, 'FORBIDDEN');
  // without a permission there, an unknown server or role answers 403, not 404
  expectError(await ns.api('GET', `/servers/${UNKNOWN}/permissions/`, { key: reader.apikey }), 403, 'FORBIDDEN');
  expectError(await ns.api('POST', `/servers/${UNKNOWN}/permissions/${target.role}`, { key: owner.apikey, body: ['users'] }), 403, 'FORBIDDEN');
  assert.is(snapshot(ns), before);
  // root on the server may grant and revoke there (root implies every permission in its scope)
  await grant(s, target.role, ['users'], owner.apikey);
  assert.is((await ns.api('GET', `/servers/${s}/permissions/`, { key: owner.apikey })).status, 200);
  assert.is((await ns.api('DELETE', `/servers/${s}/permissions/${target.role}`, { key: owner.apikey })).status, 200);
});

// --- users' roles ---------------------------------------------------------------------------

test('getOrCreateUserRole makes a role once; getUserRole returns it; the role can be granted permissions', async () => {
  const s = await newServer(ns);
  await newUser(s, 'alice');
  expectError(await ns.api('GET', `/servers/${s}/users/alice/role/`), 404, 'UNKNOWN_ROLE', 'alice');
  const made = await ns.api('POST', `/servers/${s}/users/alice/role/`);
  assert.is(made.status, 200);
  assertShape(made.body, 'Role', { require: ['role'] });
  assert.ok(await ns.registry.access.roleExists(made.body.role));
  const again = await ns.api('POST', `/servers/${s}/users/alice/role/`);
  assert.equal(again.body, made.body, 'the same role the second time');
  const got = await ns.api('GET', `/servers/${s}/users/alice/role/`);
  assert.is(got.status, 200);
  assertShape(got.body, 'Role', { require: ['role'] });
  assert.equal(got.body, made.body);
  // a role like any other: permissions can be granted to it
  await grant(s, made.body.role, ['sessions']);
  assert.equal((await ns.api('GET', `/servers/${s}/permissions/${made.body.role}`)).body.permissions, [{ role: made.body.role, server: s, acl: 'sessions' }]);
  // a userid with spaces and unicode, percent-encoded in the path
  const odd = 'bob the büilder';
  await newUser(s, odd);
  assert.is((await ns.api('POST', `/servers/${s}/users/${encodeURIComponent(odd)}/role/`)).status, 200);
});

test("users' roles: 404 UNKNOWN_USER, 400 for a bad userid, 'users' needed on the server; nothing written", async () => {
  const s = await newServer(ns);
  await newUser(s, 'carol');
  const usersOnS = await keyWith(ns, ['users'], s);
  const serversOnS = await keyWith(ns, ['servers'], s);
  const before = snapshot(ns);
  for (const method of ['GET', 'POST']) {
    expectError(await ns.api(method, `/servers/${s}/users/nobody/role/`), 404, 'UNKNOWN_USER', 'nobody');
    expectError(await ns.api(method, `/servers/${s}/users/${'u'.repeat(257)}/role/`), 400, 'BAD_USERID', 'userid');
    expectError(await ns.api(method, `/servers/${UNKNOWN}/users/carol/role/`), 404, 'UNKNOWN_SERVER');
    expectError(await ns.api(method, `/servers/${UNKNOWN}/users/carol/role/`, { key: usersOnS.apikey }), 403, 'FORBIDDEN');
    expectError(await ns.api(method, `/servers/${s}/users/carol/role/`, { key: serversOnS.apikey }), 403, 'FORBIDDEN', 'users');
    expectError(await ns.api(method, `/servers/${s}/users/carol/role/`, { key: null }), 401, 'MISSING_API_KEY');
    expectError(await ns.api(method, `/servers/${s}/users/carol/role/`, { key: 'nak_wrong' }), 401, 'UNKNOWN_API_KEY');
  }
  expectError(await ns.api('GET', `/servers/${s}/users/carol/role/`, { key: usersOnS.apikey }), 404, 'UNKNOWN_ROLE');
  assert.is(snapshot(ns), before);
  const made = await ns.api('POST', `/servers/${s}/users/carol/role/`, { key: usersOnS.apikey });
  assert.is(made.status, 200);
  assert.equal((await ns.api('GET', `/servers/${s}/users/carol/role/`, { key: usersOnS.apikey })).body, made.body);
});

// --- keys scoped to one server --------------------------------------------------------------

test('a key with root on A gets 403 on every Management route of B, and B is unchanged', async () => {
  const a = await newServer(ns, 'A');
  const b = await newServer(ns, 'B');
  await newUser(b, 'dave');
  const victim = await newKey();
  await grant(b, victim.role, ['users']);
  const key = await keyWith(ns, ['root'], a);
  const before = snapshot(ns);
  for (const [method, url, body] of routesOf(b, victim.role, 'dave')) {
    expectError(await ns.api(method, url, { key: key.apikey, body }), 403, 'FORBIDDEN');
  }
  // it cannot reach B by granting on A either: permissions are per server
  assert.is(snapshot(ns), before);
  for (const [method, url, body] of routesOf(a, victim.role, 'nobody')) {
    const r = await ns.api(method, url, { key: key.apikey, body });
    assert.ok(r.status === 200 || r.body.code === 'UNKNOWN_USER', `${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  assert.equal((await ns.api('GET', `/servers/${b}/permissions/${victim.role}`)).body.permissions, [{ role: victim.role, server: b, acl: 'users' }]);
});

test('every Management route: 401 without a key or with a wrong key', async () => {
  const s = await newServer(ns);
  const k = await newKey();
  await newUser(s, 'erin');
  const before = snapshot(ns);
  for (const [method, url, body] of [...routesOf(s, k.role, 'erin'), ['GET', '/apikeys/'], ['POST', '/apikeys/?description=x']] as Array<[string, string, unknown?]>) {
    expectError(await ns.api(method, url, { key: null, body }), 401, 'MISSING_API_KEY');
    expectError(await ns.api(method, url, { key: 'nak_wrong', body }), 401, 'UNKNOWN_API_KEY');
  }
  assert.is(snapshot(ns), before);
});

// --- X-su -----------------------------------------------------------------------------------

test("X-su: the root key acting as a role with only 'sessions' gets 403 on a 'servers' route", async () => {
  const s = await newServer(ns);
  const sessions = await keyWith(ns, ['sessions'], s);
  const su = { 'x-su': sessions.role };
  expectError(await ns.api('GET', `/servers/${s}/`, { headers: su }), 403, 'FORBIDDEN');
  expectError(await ns.api('GET', `/servers/${s}/attributes/`, { headers: su }), 403, 'FORBIDDEN');
  expectError(await ns.api('GET', `/servers/${s}/permissions/`, { headers: su }), 403, 'FORBIDDEN');
  expectError(await ns.api('GET', '/apikeys/', { headers: su }), 403, 'FORBIDDEN');
  expectError(await ns.api('POST', '/servers/', { headers: su, body: { serverName: 'x' } }), 403, 'FORBIDDEN');
  assert.equal((await ns.api('GET', '/servers/', { headers: su })).body, { servers: [], totalnumber: 0 });
  // acting as a role with 'servers' on s: allowed there
  const servers = await keyWith(ns, ['servers'], s);
  assert.is((await ns.api('GET', `/servers/${s}/`, { headers: { 'x-su': servers.role } })).status, 200);
  // keys made while acting as a role belong to that role
  const admin = await keyWith(ns, ['servers']);
  const made = await ns.api('POST', '/apikeys/?description=su', { headers: { 'x-su': admin.role } });
  assert.is(made.status, 200);
  assert.ok((await ns.api('GET', '/apikeys/', { key: admin.apikey })).body.apikeys.some((k: any) => k.role === made.body.role));
  // an empty X-su is no X-su
  assert.is((await ns.api('GET', `/servers/${s}/`, { headers: { 'x-su': '' } })).status, 200);
});

test('X-su needs a key with global root or setrid and a known role, else 403 BAD_SU', async () => {
  const s = await newServer(ns);
  const target = await keyWith(ns, ['servers'], s);
  const rootOnS = await keyWith(ns, ['root'], s);
  const globalServers = await keyWith(ns, ['servers']);
  const setrid = await keyWith(ns, ['setrid']);
  const before = snapshot(ns);
  for (const k of [target, rootOnS, globalServers]) {
    expectError(await ns.api('GET', `/servers/${s}/`, { key: k.apikey, headers: { 'x-su': target.role } }), 403, 'BAD_SU');
    expectError(await ns.api('POST', `/servers/${s}/permissions/${k.role}`, { key: k.apikey, headers: { 'x-su': target.role }, body: ['root'] }), 403, 'BAD_SU');
  }
  for (const role of [UNKNOWN, 'constructor', '__proto__', 'toString']) {
    expectError(await ns.api('GET', `/servers/${s}/`, { headers: { 'x-su': role } }), 403, 'BAD_SU');
  }
  // 401 comes first
  expectError(await ns.api('GET', `/servers/${s}/`, { key: null, headers: { 'x-su': target.role } }), 401, 'MISSING_API_KEY');
  assert.is(snapshot(ns), before);
  // global setrid may act as a role, and then has that role's permissions only
  assert.is((await ns.api('GET', `/servers/${s}/`, { key: setrid.apikey, headers: { 'x-su': target.role } })).status, 200);
  expectError(await ns.api('GET', `/servers/${s}/`, { key: setrid.apikey }), 403, 'FORBIDDEN');
});

// --- persistence ----------------------------------------------------------------------------

test('keys, permissions and user roles survive a restart', async () => {
  const s = await newServer(ns);
  const k = await keyWith(ns, ['servers'], s);
  await newUser(s, 'frank');
  const role = (await ns.api('POST', `/servers/${s}/users/frank/role/`)).body.role;
  ns = await ns.restart();
  assert.is((await ns.api('GET', `/servers/${s}/`, { key: k.apikey })).status, 200);
  assert.equal((await ns.api('GET', `/servers/${s}/permissions/${k.role}`)).body.permissions, [{ role: k.role, server: s, acl: 'servers' }]);
  assert.equal((await ns.api('GET', `/servers/${s}/users/frank/role/`)).body, { role });
  assert.ok((await ns.api('GET', '/apikeys/')).body.apikeys.some((x: any) => x.role === k.role));
});

test.run();
