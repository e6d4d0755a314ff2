/**
 * PROTOCOL.md §6: bodies are JSON typed exactly as the schema says (`5` where a string is due is
 * 400 BAD_REQUEST, never stored as "5"); query strings, path parameters and headers are text and
 * are converted. One wrong-typed body for every operation that takes a body, found in the app's own
 * /openapi.json, so an operation added with a body fails here until it has a case.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../../helpers/ns.ts';
import { expectError, expectErrorExplained, expectOk, newServer, snapshot } from '../../helpers/rest.ts';
import { getSession, newNonce } from '../../helpers/peers.ts';

let ns: TestServer;
/** The fixtures the bodies name: a server, a user of it, a role, a session with a context. */
let serverid: string;
let role: string;
let webhook: string;
const USER = 'alice';
const nonce = newNonce();
let hsid: string;
/** method and path of each operation with a body, by its operationId in /openapi.json. */
const withBody = new Map<string, { method: string; path: string }>();

test.before(async () => {
  ns = await startTestServer();
  serverid = await newServer(ns, 'strict');
  const setup: Array<[string, string, unknown]> = [
    ['POST', '/attributes/', { motd: 'hi' }],
    ['POST', `/servers/${serverid}/attributes/`, { color: 'red' }],
    ['POST', `/servers/${serverid}/privilegedattributes/`, { tier: 'gold' }],
    ['POST', `/servers/${serverid}/users/${USER}/attributes/`, { plan: 'basic' }],
    ['POST', `/servers/${serverid}/users/bob/attributes/`, { plan: 'basic' }],
    ['POST', `/servers/${serverid}/users/carol/attributes/`, { plan: 'basic' }],
  ];
  for (const [method, url, body] of setup) expectOk(await ns.api(method, url, { body }));
  const key = await ns.api('POST', '/apikeys/?description=strict');
  expectOk(key);
  role = key.body.role;
  expectOk(await ns.api('POST', `/servers/${serverid}/permissions/${role}`, { body: ['sessions'] }));
  // A session that exists, with a context: a refused body must leave it as it is.
  expectOk(await ns.api('POST', `/servers/${serverid}/sessions/qr/login`, { headers: { 'x-nonce': nonce }, body: { sessioninfo: { useragent: 'strict test' } } }));
  hsid = (await getSession(ns, serverid, nonce)).hsid;
  const hook = await ns.api('POST', `/servers/${serverid}/webhooks`, { body: { url: 'https://hooks.example/strict' } });
  assert.is(hook.status, 201);
  webhook = hook.body.id;
  assert.ok(await ns.hub.snapshot(serverid, hsid), 'the fixture session lives');

  const doc = (await ns.api('GET', '/openapi.json', { key: null })).body;
  for (const [path, methods] of Object.entries<Record<string, { operationId: string; requestBody?: unknown }>>(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) if (op.requestBody) withBody.set(op.operationId, { method: method.toUpperCase(), path });
  }
});
test.after(() => ns.stop(true));

/** Everything a refused request must leave alone: the store and the fixture session. */
const state = async () => JSON.stringify({ store: snapshot(ns), session: await ns.hub.snapshot(serverid, hsid) });

const fill = (path: string) => path.replace('{serverid}', serverid).replace('{userid}', USER).replace('{accountid}', '1').replace('{roleid}', role).replace('{webhookid}', webhook);

/** Sends `body` as JSON (a JSON string too, which the client helper would send raw). */
const send = (operationId: string, body: unknown) => {
  const op = withBody.get(operationId);
  if (!op) throw new Error(`${operationId} takes no body in /openapi.json`);
  return ns.api(op.method, fill(op.path), { body: JSON.stringify(body), headers: { 'x-nonce': nonce } });
};

/** A body, or a function that makes it once the fixtures exist. */
type Body = unknown | (() => unknown);
const made = (body: Body): unknown => (typeof body === 'function' ? body() : body);

interface Case {
  /** A body with one wrong JSON type… */
  wrong: Body;
  /** …what the refusal names… */
  names: string;
  /** …and the same body typed right, which is not refused as bad input. */
  right: Body;
}

const watched = () => ({ serverid, sessionid: Buffer.from(nonce).toString('base64') });

/**
 * One case per operation with a body (its operationId as /openapi.json gives it; the POST of a
 * 2.2 GET carries `Post`). Most would have passed with the old conversion ('5' for 5, ['x'] for
 * 'x', 'sessions' for ['sessions']); objects and arrays in place of each other never did.
 */
const CASES: Record<string, Case> = {
  // Servers
  createServer: { wrong: { serverName: 5 }, names: 'body/serverName', right: { serverName: '5' } },
  updateServer: { wrong: { pinTimeout: '5' }, names: 'body/pinTimeout', right: { pinTimeout: 5 } },
  setServerAttributes: { wrong: [{ color: 'blue' }], names: 'body', right: { color: 'blue' } },
  updateServerAttributes: { wrong: 'color=blue', names: 'body', right: { color: 'blue' } },
  // Management
  grantPermissions: { wrong: 'sessions', names: 'body', right: ['sessions'] },
  // Global
  setGlobalAttributes: { wrong: 5, names: 'body', right: { motd: 'hello' } },
  updateGlobalAttributes: { wrong: true, names: 'body', right: { motd: 'hello' } },
  setServerPrivilegedAttributes: { wrong: ['gold'], names: 'body', right: { tier: 'silver' } },
  updateServerPrivilegedAttributes: { wrong: 'gold', names: 'body', right: { tier: 'silver' } },
  // Users
  setUserAttributes: { wrong: [['plan', 'pro']], names: 'body', right: { plan: 'pro' } },
  updateUserAttributes: { wrong: 42, names: 'body', right: { plan: 'pro' } },
  // Sessions (UserContext)
  getQrLoginPost: { wrong: { sessioninfo: { useragent: 5 } }, names: 'body/sessioninfo/useragent', right: { sessioninfo: { useragent: '5' } } },
  provokeLogin: { wrong: { announceinfo: 'phone' }, names: 'body/announceinfo', right: { announceinfo: { useragent: 'phone' } } },
  provokeLoginOnUser: { wrong: { sessioninfo: { ip: 127 } }, names: 'body/sessioninfo/ip', right: { sessioninfo: { ip: '127.0.0.1' } } },
  provokeLoginOnAccount: { wrong: { sessioninfo: [] }, names: 'body/sessioninfo', right: { sessioninfo: {} } },
  // HTML
  getHtmlLoginPost: { wrong: { sessioninfo: { logo: false } }, names: 'body/sessioninfo/logo', right: { sessioninfo: { logo: '' } } },
  getHtmlEnrolPost: { wrong: { announceinfo: { useragent: ['x'] } }, names: 'body/announceinfo/useragent', right: { announceinfo: { useragent: 'x' } } },
  getHtmlFooterPost: { wrong: () => ({ sessions: watched() }), names: 'body/sessions', right: () => ({ sessions: [watched()] }) },
  // Transactions
  createTransaction: { wrong: { amount: 5, description: 'pay' }, names: 'body/amount', right: { amount: '5', description: 'pay' } },
  // Webhooks
  createWebhook: {
    wrong: { url: 'https://hooks.example/', types: 'com.nextauth.refusal' },
    names: 'body/types',
    right: { url: 'https://hooks.example/', types: ['com.nextauth.refusal'] },
  },
  updateWebhook: { wrong: { description: 5 }, names: 'body/description', right: { description: '5' } },
  // OpenID Connect
  createOidcClient: {
    wrong: { name: 'app', redirectUris: ['https://app.example/cb'], public: 'true' },
    names: 'body/public',
    right: { name: 'app', redirectUris: ['https://app.example/cb'], public: true },
  },
};

test('every operation with a body in /openapi.json has a case, and every case names one', () => {
  assert.ok(withBody.size >= 19, `only ${withBody.size} operations with a body in /openapi.json`);
  const missing = [...withBody.keys()].filter((id) => !(id in CASES));
  const stale = Object.keys(CASES).filter((id) => !withBody.has(id));
  assert.equal(missing, [], `operations with a body and no wrong-type case: ${missing.join(', ')}`);
  assert.equal(stale, [], `cases for operations without a body: ${stale.join(', ')}`);
});

for (const [operationId, c] of Object.entries(CASES)) {
  test(`${operationId}: a wrong JSON type in the body is 400 BAD_REQUEST and changes nothing`, async () => {
    const before = await state();
    const r = await send(operationId, made(c.wrong));
    expectErrorExplained(r, 400, 'BAD_REQUEST', c.names);
    assert.is(await state(), before, 'the refused request changed the store or the session');
    const ok = await send(operationId, made(c.right));
    assert.not.ok(ok.status === 400 && ok.body?.code === 'BAD_REQUEST', `the right-typed body was refused: ${JSON.stringify(ok.body)}`);
  });
}

test('createServer and updateServer: each typed field of a server refuses another JSON type', async () => {
  const fields: Array<[string, unknown]> = [
    ['serverName', 5],
    ['logo', 0],
    ['appname', false],
    ['appurl', 1],
    ['appandroid', null],
    ['appios', ['https://apps.example']],
    ['siteurl', {}],
    ['wsurl', 2],
    ['owner', '7'],
    ['pinTimeout', true],
    ['pinTransTimeout', '0'],
    ['pingTime', [0]],
    ['serverFlags', 'numbermatch'],
    ['serverFlags', [5]],
    ['serverid', 5],
    ['serverpk', 5],
  ];
  for (const [operationId, extra] of [
    ['createServer', { serverName: 'typed' }],
    ['updateServer', {}],
  ] as const) {
    for (const [field, value] of fields) {
      const before = await state();
      const r = await send(operationId, { ...extra, [field]: value });
      expectErrorExplained(r, 400, 'BAD_REQUEST', `body/${field}`);
      assert.is(await state(), before, `${operationId} ${field}: ${JSON.stringify(value)} changed the store`);
    }
  }
  const server = (await ns.api('GET', `/servers/${serverid}/`)).body;
  assert.type(server.serverName, 'string');
});

test('a number where a string is due is not stored as a string (the 2.2 example)', async () => {
  const before = (await ns.api('GET', '/servers/')).body.totalnumber;
  expectError(await ns.api('POST', '/servers/', { body: { serverName: 12345 } }), 400, 'BAD_REQUEST', 'body/serverName');
  const after = (await ns.api('GET', '/servers/')).body;
  assert.is(after.totalnumber, before);
  assert.not.ok(
    after.servers.some((s: { serverName: string }) => s.serverName === '12345'),
    'a server named "12345" was made',
  );
});

test('query strings and path parameters are still converted to their types', async () => {
  // getUsers: limit and marker are integers in the schema, text on the wire
  const page = await ns.api('GET', `/servers/${serverid}/users/?limit=2&marker=0`);
  expectOk(page);
  assert.is(page.body.users.length, 2);
  assert.ok(page.body.totalnumber >= 3);
  const ten = await ns.api('GET', `/servers/${serverid}/users/?limit=10`);
  expectOk(ten);
  assert.is(ten.body.users.length, page.body.totalnumber);
  expectError(await ns.api('GET', `/servers/${serverid}/users/?limit=ten`), 400, 'BAD_REQUEST', 'querystring/limit');
  // getServers: the same paging
  const servers = await ns.api('GET', '/servers/?limit=1&marker=0');
  expectOk(servers);
  assert.is(servers.body.servers.length, 1);
  // updateAccount: blocked=true is a boolean (the account does not exist: 404, not 400)
  expectError(await ns.api('PUT', `/servers/${serverid}/accounts/1/?blocked=true`), 404, 'UNKNOWN_ACCOUNT');
  expectError(await ns.api('PUT', `/servers/${serverid}/accounts/1/?blocked=maybe`), 400, 'BAD_REQUEST', 'querystring/blocked');
  // getAccount: the accountid in the path is an integer
  expectError(await ns.api('GET', `/servers/${serverid}/accounts/1/`), 404, 'UNKNOWN_ACCOUNT');
  expectError(await ns.api('GET', `/servers/${serverid}/accounts/one/`), 400, 'BAD_REQUEST', 'params/accountid');
  // getQrLogin: s is an integer
  const qr = await ns.api('GET', `/servers/${serverid}/sessions/qr/login?img=png&s=128`, { headers: { 'x-nonce': nonce } });
  expectOk(qr);
  assert.is(qr.headers.get('content-type'), 'image/png');
});

test.run();
