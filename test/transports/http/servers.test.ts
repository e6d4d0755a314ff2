/** 2.2 tag Servers: getServers, createServer, getServer, updateServer and the server attributes. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../../helpers/ns.ts';
import { createServer, expectError, keyWith, snapshot } from '../../helpers/rest.ts';
import { assertShape } from '../../helpers/shape.ts';

let ns: TestServer;
test.before(async () => {
  ns = await startTestServer();
});
test.after(() => ns.stop(true));

// --- helpers --------------------------------------------------------------------------------

const UNKNOWN = 'AAAAAAAAAAAAAAAAAAAAAA'; // a well-formed serverid no server has

/** Every Servers route of one server, with a body that would succeed. */
const routesOf = (id: string): Array<[string, string, unknown?]> => [
  ['GET', `/servers/${id}/`],
  ['PUT', `/servers/${id}/`, { serverName: 'taken over' }],
  ['GET', `/servers/${id}/attributes/`],
  ['POST', `/servers/${id}/attributes/`, { evil: 1 }],
  ['PUT', `/servers/${id}/attributes/`, { evil: 1 }],
  ['DELETE', `/servers/${id}/attributes/`],
  ['DELETE', `/servers/${id}/attributes/color`],
];

// --- createServer ---------------------------------------------------------------------------

test('createServer makes a server with defaults, a fresh id and key, and never shows its secrets', async () => {
  const r = await ns.api('POST', '/servers/', {
    body: { serverName: 'Shop', appname: 'Shop app', siteurl: 'https://shop.example', owner: 7, serverid: 'ignored', serverpk: 'ignored', validtime: 5 },
  });
  assert.is(r.status, 200);
  assertShape(r.body, 'Server', { require: ['accountCount'] });
  assert.match(r.body.serverid, /^[A-Za-z0-9_-]{22}$/);
  assert.match(r.body.serverpk, /^[A-Za-z0-9_-]{43}$/);
  assert.is(r.body.serverName, 'Shop');
  assert.is(r.body.appname, 'Shop app');
  assert.is(r.body.siteurl, 'https://shop.example');
  assert.is(r.body.owner, 7);
  assert.equal([r.body.logo, r.body.pinTimeout, r.body.pinTransTimeout, r.body.pingTime, r.body.accountCount], ['', -1, 0, 0, 0]);
  assert.equal(r.body.serverFlags, []);

  const stored = (await ns.registry.servers.get(r.body.serverid))!;
  assert.ok(stored, 'the server is in the store');
  assert.is(stored.publicKey, r.body.serverpk);
  const raw = Buffer.from(r.raw).toString('utf8');
  for (const secret of [stored.secretKey, stored.sessionSecret]) assert.not.ok(raw.includes(secret), 'a secret leaked into the response');
  for (const field of ['secretKey', 'sessionSecret', 'publicKey', 'created', 'nextAccountId', 'attributes', 'privilegedAttributes', 'validtime']) {
    assert.not.ok(field in r.body, `${field} must not be in the response`);
  }
  // getServer and getServers do not show them either
  for (const url of [`/servers/${r.body.serverid}/`, '/servers/']) {
    const text = Buffer.from((await ns.api('GET', url)).raw).toString('utf8');
    assert.not.ok(text.includes(stored.secretKey) || text.includes(stored.sessionSecret) || text.includes('secretKey') || text.includes('sessionSecret'));
  }
});

test('createServer refuses bad input with 400 naming the field, and writes nothing', async () => {
  const before = snapshot(ns);
  const cases: Array<[unknown, string]> = [
    [{}, 'serverName'],
    [{ serverName: '' }, 'serverName'],
    [{ serverName: 'x', nosuchfield: 1 }, 'nosuchfield'],
    [{ serverName: 'x', pinTimeout: 'soon' }, 'pinTimeout'],
    [{ serverName: 'x', pinTimeout: -2 }, 'pinTimeout'],
    [{ serverName: 'x', pingTime: 1.5 }, 'pingTime'],
    [{ serverName: 'x', serverFlags: ['nosuchflag'] }, 'serverFlags'],
    [{ serverName: 'x', serverFlags: 'numbermatch,x' }, 'serverFlags'],
    [{ serverName: 'x', logo: 'not base64!' }, 'logo'],
    [{ serverName: 'x', siteurl: 'not a url' }, 'siteurl'],
    [{ serverName: 'x'.repeat(257) }, 'serverName'],
    [{ serverName: 'x', owner: 'me' }, 'owner'],
    [[], 'body'],
    ['{not json', ''],
  ];
  for (const [body, field] of cases) {
    const r = await ns.api('POST', '/servers/', { body });
    expectError(r, 400, 'BAD_REQUEST', field);
  }
  assert.is(snapshot(ns), before);
});

test('createServer: 401 without a key or with a wrong one, 403 without global createserver', async () => {
  const a = await createServer(ns);
  const onA = await keyWith(ns, ['root'], a.serverid); // root on one server is not global createserver
  const globalServers = await keyWith(ns, ['servers']);
  const before = snapshot(ns);
  expectError(await ns.api('POST', '/servers/', { key: null, body: { serverName: 'x' } }), 401, 'MISSING_API_KEY');
  expectError(await ns.api('POST', '/servers/', { key: 'nak_wrong', body: { serverName: 'x' } }), 401, 'UNKNOWN_API_KEY');
  // 401 comes before the body is looked at
  expectError(await ns.api('POST', '/servers/', { key: null, body: '{not json' }), 401, 'MISSING_API_KEY');
  expectError(await ns.api('POST', '/servers/', { key: onA.apikey, body: { serverName: 'x' } }), 403, 'FORBIDDEN', 'createserver');
  expectError(await ns.api('POST', '/servers/', { key: globalServers.apikey, body: { serverName: 'x' } }), 403, 'FORBIDDEN');
  assert.is(snapshot(ns), before);
});

test('a key with global createserver gets root on the server it makes', async () => {
  const maker = await keyWith(ns, ['createserver']);
  const r = await ns.api('POST', '/servers/', { key: maker.apikey, body: { serverName: 'Mine' } });
  assert.is(r.status, 200);
  const perms = await ns.api('GET', `/servers/${r.body.serverid}/permissions/${maker.role}`);
  assert.equal(perms.body.permissions, [{ role: maker.role, server: r.body.serverid, acl: 'root' }]);
  // root on it: it may set its attributes (a 'servers' route)
  assert.is((await ns.api('POST', `/servers/${r.body.serverid}/attributes/`, { key: maker.apikey, body: { a: 1 } })).status, 200);
});

// --- getServers -----------------------------------------------------------------------------

test('getServers lists every server for global root, pages with limit and marker', async () => {
  for (let i = 0; i < 3; i++) await createServer(ns, { serverName: `page ${i}` });
  const all = await ns.api('GET', '/servers/');
  assert.is(all.status, 200);
  assertShape(all.body, 'Servers', { require: ['totalnumber'] });
  const total = (await ns.registry.servers.list()).length;
  assert.is(all.body.totalnumber, total);
  assert.is(all.body.servers.length, total);
  assert.ok(total >= 3);

  const page = await ns.api('GET', '/servers/?limit=2&marker=1');
  assert.is(page.status, 200);
  assert.is(page.body.totalnumber, total);
  assert.equal(
    page.body.servers.map((s: any) => s.serverid),
    all.body.servers.slice(1, 3).map((s: any) => s.serverid),
  );
  assert.is((await ns.api('GET', '/servers/?limit=0')).body.servers.length, 0);
  assert.is((await ns.api('GET', `/servers/?marker=${total}`)).body.servers.length, 0);
  // trailing slash is optional
  assert.is((await ns.api('GET', '/servers')).body.totalnumber, total);
});

test('getServers: 400 for bad limit/marker, 401 without a key, an empty list for a key with no permission', async () => {
  expectError(await ns.api('GET', '/servers/?limit=-1'), 400, 'BAD_REQUEST', 'limit');
  expectError(await ns.api('GET', '/servers/?limit=many'), 400, 'BAD_REQUEST', 'limit');
  expectError(await ns.api('GET', '/servers/?marker=1.5'), 400, 'BAD_REQUEST', 'marker');
  expectError(await ns.api('GET', '/servers/', { key: null }), 401, 'MISSING_API_KEY');
  expectError(await ns.api('GET', '/servers/', { key: 'nak_wrong' }), 401, 'UNKNOWN_API_KEY');
  const nothing = await keyWith(ns, []);
  const r = await ns.api('GET', '/servers/', { key: nothing.apikey });
  assert.is(r.status, 200);
  assert.equal(r.body, { servers: [], totalnumber: 0 });
});

// --- getServer / updateServer ---------------------------------------------------------------

test('getServer shows one server; 404 to a caller allowed to know, 403 to others, 400 for a bad id', async () => {
  const s = await createServer(ns, { serverName: 'One', wsurl: 'wss://one.example/ws' });
  const r = await ns.api('GET', `/servers/${s.serverid}/`);
  assert.is(r.status, 200);
  assertShape(r.body, 'Server', { require: ['accountCount'] });
  assert.equal(r.body, s);
  assert.equal((await ns.api('GET', `/servers/${s.serverid}`)).body, s);

  expectError(await ns.api('GET', `/servers/${UNKNOWN}/`), 404, 'UNKNOWN_SERVER');
  const onS = await keyWith(ns, ['servers'], s.serverid);
  assert.is((await ns.api('GET', `/servers/${s.serverid}/`, { key: onS.apikey })).status, 200);
  // no enumeration: without a permission there, an unknown server is 403 like a known one
  expectError(await ns.api('GET', `/servers/${UNKNOWN}/`, { key: onS.apikey }), 403, 'FORBIDDEN');
  const createOnS = await keyWith(ns, ['createserver'], s.serverid);
  assert.is((await ns.api('GET', `/servers/${s.serverid}/`, { key: createOnS.apikey })).status, 200);
  const sessionsOnS = await keyWith(ns, ['sessions'], s.serverid);
  expectError(await ns.api('GET', `/servers/${s.serverid}/`, { key: sessionsOnS.apikey }), 403, 'FORBIDDEN');
  expectError(await ns.api('GET', `/servers/${s.serverid}/`, { key: null }), 401, 'MISSING_API_KEY');
  expectError(await ns.api('GET', `/servers/${s.serverid}/`, { key: 'nak_wrong' }), 401, 'UNKNOWN_API_KEY');
  expectError(await ns.api('GET', '/servers/short/'), 400, 'BAD_REQUEST', 'serverid');
  expectError(await ns.api('GET', `/servers/${'a'.repeat(21)}!/`), 400, 'BAD_REQUEST', 'serverid');
});

test('updateServer replaces the fields given; serverid, serverpk and secrets never change', async () => {
  const s = await createServer(ns, { serverName: 'Before', appname: 'a1' });
  const secret = (await ns.registry.servers.get(s.serverid))!.secretKey;
  const r = await ns.api('PUT', `/servers/${s.serverid}/`, {
    body: { serverName: 'After', pinTimeout: 5, pingTime: 30, serverFlags: ['numbermatch', 'numbermatch'], logo: 'iVBORw0KGgo=', serverid: UNKNOWN, serverpk: 'x' },
  });
  assert.is(r.status, 200, JSON.stringify(r.body));
  assertShape(r.body, 'Server', { require: ['accountCount'] });
  assert.is(r.body.serverid, s.serverid);
  assert.is(r.body.serverpk, s.serverpk);
  assert.is(r.body.serverName, 'After');
  assert.is(r.body.appname, 'a1', 'a field not given is kept');
  assert.is(r.body.pinTimeout, 5);
  assert.is(r.body.pingTime, 30);
  assert.equal(r.body.serverFlags, ['numbermatch']);
  assert.is(r.body.logo, 'iVBORw0KGgo=');
  assert.equal((await ns.api('GET', `/servers/${s.serverid}/`)).body, r.body);
  assert.is((await ns.registry.servers.get(s.serverid))!.secretKey, secret);
  assert.not.ok(await ns.registry.servers.get(UNKNOWN));
});

test('updateServer: needs createserver (servers is not enough); 404, 400 and nothing written on failure', async () => {
  const s = await createServer(ns, { serverName: 'Keep' });
  const serversOnS = await keyWith(ns, ['servers'], s.serverid);
  const createOnS = await keyWith(ns, ['createserver'], s.serverid);
  const before = snapshot(ns);
  expectError(await ns.api('PUT', `/servers/${s.serverid}/`, { key: null, body: { serverName: 'x' } }), 401, 'MISSING_API_KEY');
  expectError(await ns.api('PUT', `/servers/${s.serverid}/`, { key: 'nak_wrong', body: { serverName: 'x' } }), 401, 'UNKNOWN_API_KEY');
  expectError(await ns.api('PUT', `/servers/${s.serverid}/`, { key: serversOnS.apikey, body: { serverName: 'x' } }), 403, 'FORBIDDEN', 'createserver');
  expectError(await ns.api('PUT', `/servers/${UNKNOWN}/`, { body: { serverName: 'x' } }), 404, 'UNKNOWN_SERVER');
  expectError(await ns.api('PUT', `/servers/${UNKNOWN}/`, { key: createOnS.apikey, body: { serverName: 'x' } }), 403, 'FORBIDDEN');
  for (const [body, field] of [
    [{ serverName: '' }, 'serverName'],
    [{ pinTransTimeout: -5 }, 'pinTransTimeout'],
    [{ serverFlags: ['bogus'] }, 'serverFlags'],
    [{ appurl: 'nope' }, 'appurl'],
    [{ extra: true }, 'extra'],
    [{ serverName: 'ok', pingTime: 'x' }, 'pingTime'],
  ] as Array<[unknown, string]>) {
    expectError(await ns.api('PUT', `/servers/${s.serverid}/`, { body }), 400, 'BAD_REQUEST', field);
  }
  expectError(await ns.api('PUT', '/servers/bad/', { body: { serverName: 'x' } }), 400, 'BAD_REQUEST', 'serverid');
  assert.is(snapshot(ns), before);
  const ok = await ns.api('PUT', `/servers/${s.serverid}/`, { key: createOnS.apikey, body: { serverName: 'By creator' } });
  assert.is(ok.status, 200);
  assert.is(ok.body.serverName, 'By creator');
});

// --- server attributes ----------------------------------------------------------------------

test('server attributes: set replaces, update merges, delete one, delete all', async () => {
  const s = await createServer(ns);
  const url = `/servers/${s.serverid}/attributes/`;
  const get = async () => {
    const r = await ns.api('GET', url);
    assert.is(r.status, 200);
    assert.ok((r.headers.get('content-type') ?? '').includes('application/json'));
    return r.body;
  };
  assert.equal(await get(), {});
  const set = await ns.api('POST', url, { body: { color: 'red', size: 3, nested: { a: [1, 2, { b: null }] } } });
  assert.is(set.status, 200);
  assert.is(set.body, null, 'an empty 200 (JSON null)');
  assert.equal(await get(), { color: 'red', size: 3, nested: { a: [1, 2, { b: null }] } });
  assert.is((await ns.api('POST', url, { body: { only: true } })).status, 200);
  assert.equal(await get(), { only: true }, 'set replaces');
  assert.is((await ns.api('PUT', url, { body: { color: 'blue', size: 4 } })).status, 200);
  assert.equal(await get(), { only: true, color: 'blue', size: 4 }, 'update merges');
  assert.is((await ns.api('DELETE', `${url}color`)).status, 200);
  assert.equal(await get(), { only: true, size: 4 });
  assert.is((await ns.api('DELETE', url)).status, 200);
  assert.equal(await get(), {});
  // the privileged bag is another bag
  assert.equal((await ns.registry.servers.get(s.serverid))!.privilegedAttributes, {});
});

test('server attributes: 404 for an unknown attribute or server, 400 for a bad body, nothing written', async () => {
  const s = await createServer(ns);
  const url = `/servers/${s.serverid}/attributes/`;
  await ns.api('POST', url, { body: { keep: 1 } });
  const before = snapshot(ns);
  expectError(await ns.api('DELETE', `${url}missing`), 404, 'UNKNOWN_ATTRIBUTE', 'missing');
  for (const [method, path, body] of routesOf(UNKNOWN).slice(2)) {
    expectError(await ns.api(method, path, { body }), 404, 'UNKNOWN_SERVER');
  }
  for (const method of ['POST', 'PUT']) {
    expectError(await ns.api(method, url, { body: [1, 2] }), 400, 'BAD_REQUEST', 'body');
    expectError(await ns.api(method, url, { body: '"text"' }), 400, 'BAD_REQUEST', 'body');
    expectError(await ns.api(method, url, { body: '{broken' }), 400, 'BAD_REQUEST');
    expectError(await ns.api(method, url, { body: { big: 'x'.repeat(70 * 1024) } }), 400, 'BAD_REQUEST', 'body');
    expectError(await ns.api(method, url, { body: { ['k'.repeat(257)]: 1 } }), 400, 'BAD_REQUEST', 'key');
    expectError(await ns.api(method, url), 400, 'BAD_REQUEST', 'body');
  }
  expectError(await ns.api('DELETE', `${url}${'k'.repeat(257)}`), 400, 'BAD_REQUEST', 'attributekey');
  assert.is(snapshot(ns), before);
  assert.equal((await ns.api('GET', url)).body, { keep: 1 });
});

// --- keys scoped to one server --------------------------------------------------------------

test("a key granted 'servers' on A sees only A and gets 403 on every route of B (B unchanged)", async () => {
  const a = await createServer(ns, { serverName: 'A' });
  const b = await createServer(ns, { serverName: 'B' });
  await ns.api('POST', `/servers/${b.serverid}/attributes/`, { body: { color: 'green' } });
  const key = await keyWith(ns, ['servers'], a.serverid);

  const list = await ns.api('GET', '/servers/', { key: key.apikey });
  assert.is(list.status, 200);
  assertShape(list.body, 'Servers');
  assert.equal(
    list.body.servers.map((s: any) => s.serverid),
    [a.serverid],
  );
  assert.is(list.body.totalnumber, 1);

  const before = snapshot(ns);
  for (const [method, path, body] of routesOf(b.serverid)) {
    expectError(await ns.api(method, path, { key: key.apikey, body }), 403, 'FORBIDDEN');
  }
  assert.is(snapshot(ns), before);
  assert.equal((await ns.api('GET', `/servers/${b.serverid}/attributes/`)).body, { color: 'green' });

  // and on A it may do what 'servers' allows
  assert.is((await ns.api('GET', `/servers/${a.serverid}/`, { key: key.apikey })).status, 200);
  assert.is((await ns.api('POST', `/servers/${a.serverid}/attributes/`, { key: key.apikey, body: { mine: 1 } })).status, 200);
  assert.equal((await ns.api('GET', `/servers/${a.serverid}/attributes/`, { key: key.apikey })).body, { mine: 1 });
  expectError(await ns.api('PUT', `/servers/${a.serverid}/`, { key: key.apikey, body: { serverName: 'x' } }), 403, 'FORBIDDEN');
});

test('every Servers route: 401 without a key or with a wrong key', async () => {
  const s = await createServer(ns);
  const before = snapshot(ns);
  for (const [method, path, body] of [...routesOf(s.serverid), ['GET', '/servers/'], ['POST', '/servers/', { serverName: 'x' }]] as Array<[string, string, unknown?]>) {
    expectError(await ns.api(method, path, { key: null, body }), 401, 'MISSING_API_KEY');
    expectError(await ns.api(method, path, { key: 'nak_wrong', body }), 401, 'UNKNOWN_API_KEY');
  }
  assert.is(snapshot(ns), before);
});

// --- persistence ----------------------------------------------------------------------------

test('servers, their settings, attributes and keys survive a restart', async () => {
  const s = await createServer(ns, { serverName: 'Durable', pinTimeout: 10, serverFlags: ['numbermatch'] });
  await ns.api('POST', `/servers/${s.serverid}/attributes/`, { body: { persisted: [1, 'two'] } });
  const key = await keyWith(ns, ['servers'], s.serverid);
  const secret = (await ns.registry.servers.get(s.serverid))!.sessionSecret;
  ns = await ns.restart();
  const r = await ns.api('GET', `/servers/${s.serverid}/`, { key: key.apikey });
  assert.is(r.status, 200);
  assert.equal(r.body, s);
  assert.equal((await ns.api('GET', `/servers/${s.serverid}/attributes/`)).body, { persisted: [1, 'two'] });
  assert.is((await ns.registry.servers.get(s.serverid))!.sessionSecret, secret);
  assert.equal(
    (await ns.api('GET', '/servers/', { key: key.apikey })).body.servers.map((x: any) => x.serverid),
    [s.serverid],
  );
});

test.run();
