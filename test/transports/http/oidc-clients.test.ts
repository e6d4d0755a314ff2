/**
 * Tag OpenID Connect (our addition): createOidcClient, getOidcClients, deleteOidcClient. A
 * confidential client's secret is answered by create only, never listed nor logged (the store
 * keeps a hash); bad metadata is 400 and changes nothing; `root` on the server is needed, and a
 * server never sees another's clients. The routes sit beside the provider's wildcard routes on
 * /servers/<id>/oidc/*: they get JSON bodies, and the provider's endpoints still answer.
 */
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../../helpers/ns.ts';
import { expectError, expectRootOnServer, keyWith, logOf, newServer, snapshot } from '../../helpers/rest.ts';

let ns: TestServer;
let log = '';
test.before(async () => {
  const out = new PassThrough();
  out.on('data', (d) => (log += d));
  ns = await startTestServer({ NEXTAUTH_LOG_LEVEL: 'info' }, undefined, { logTo: out });
});
test.after(() => ns.stop(true));

const VIEW_FIELDS = ['clientId', 'created', 'name', 'postLogoutRedirectUris', 'public', 'redirectUris', 'scopes'];
const APP = { name: 'Grafana', redirectUris: ['https://grafana.example/login/generic_oauth'] };

const base = (serverid: string) => `/servers/${serverid}/oidc/clients`;

/** createOidcClient, asserted 201; gives the answer (the view, and a confidential client's secret). */
async function create(serverid: string, body: Record<string, unknown> = APP, key?: string): Promise<any> {
  const r = await ns.api('POST', base(serverid), { body, key });
  assert.is(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

/** The stored metadata (with the secret's hash), straight from the store. */
const stored = async (serverid: string, id: string) => (await ns.registry.store.get('oidc', serverid, 'Client', id))?.payload;

test('createOidcClient: a confidential client, 201, its view and its secret, shown this once (a hash kept)', async () => {
  const srv = await newServer(ns, 'oidc');
  const before = Date.now();
  const made = await create(srv, {
    name: 'Grafana',
    redirectUris: ['https://grafana.example/login/generic_oauth', 'http://localhost:3000/cb'],
    postLogoutRedirectUris: ['https://grafana.example/'],
    backchannelLogoutUri: 'https://grafana.example/logout',
    scopes: ['openid', 'email', 'email'],
  });
  assert.equal(Object.keys(made).sort(), [...VIEW_FIELDS, 'backchannelLogoutUri', 'secret'].sort());
  assert.match(made.clientId, /^oc_[A-Za-z0-9_-]{16}$/);
  assert.equal(
    [made.name, made.public, made.redirectUris, made.postLogoutRedirectUris, made.backchannelLogoutUri, made.scopes],
    [
      'Grafana',
      false,
      ['https://grafana.example/login/generic_oauth', 'http://localhost:3000/cb'],
      ['https://grafana.example/'],
      'https://grafana.example/logout',
      ['openid', 'email'],
    ],
  );
  assert.ok(made.created >= before && made.created <= Date.now());
  assert.match(made.secret, /^ocs_[A-Za-z0-9_-]{43}$/);
  const record = await stored(srv, made.clientId);
  assert.match(String(record?.client_secret), /^scrypt\$/, 'a hash is kept');
  assert.not.ok(JSON.stringify(record).includes(made.secret), 'never the secret');

  // Defaults: confidential, the default scopes, no logout URIs.
  const plain = await create(srv);
  assert.equal([plain.public, plain.scopes, plain.postLogoutRedirectUris, 'backchannelLogoutUri' in plain], [false, ['openid', 'profile', 'email', 'offline_access'], [], false]);
  assert.is.not(plain.secret, made.secret);
});

test('createOidcClient: a public client has no secret', async () => {
  const srv = await newServer(ns, 'spa');
  const made = await create(srv, { name: 'SPA', redirectUris: ['https://spa.example/cb'], public: true, scopes: ['profile'] });
  assert.equal(Object.keys(made).sort(), VIEW_FIELDS);
  assert.equal([made.public, made.scopes], [true, ['openid', 'profile']]);
  assert.is((await stored(srv, made.clientId))?.token_endpoint_auth_method, 'none');
  assert.is((await stored(srv, made.clientId))?.client_secret, undefined);
});

test('getOidcClients: every client, oldest first, never a secret', async () => {
  const srv = await newServer(ns, 'list');
  assert.equal((await ns.api('GET', base(srv))).body, { clients: [] });
  const a = await create(srv);
  const b = await create(srv, { name: 'Native', redirectUris: ['http://127.0.0.1:8400/cb'], public: true });
  const list = await ns.api('GET', base(srv));
  assert.is(list.status, 200);
  const { secret: _, ...view } = a;
  assert.equal(list.body, { clients: [view, b] });
  const text = Buffer.from(list.raw).toString();
  assert.not.ok(text.includes('ocs_') || text.includes('secret') || text.includes('scrypt'), `no secret in ${text}`);
});

test('deleteOidcClient: 204 with no body; then it is unknown (404 UNKNOWN_OIDC_CLIENT)', async () => {
  const srv = await newServer(ns, 'delete');
  const made = await create(srv);
  const keep = await create(srv, { name: 'Keep', redirectUris: ['https://keep.example/cb'] });
  const r = await ns.api('DELETE', `${base(srv)}/${made.clientId}`);
  assert.is(r.status, 204);
  assert.is(r.raw.length, 0);
  assert.is(await stored(srv, made.clientId), undefined);
  expectError(await ns.api('DELETE', `${base(srv)}/${made.clientId}`), 404, 'UNKNOWN_OIDC_CLIENT');
  assert.equal(
    (await ns.api('GET', base(srv))).body.clients.map((c: any) => c.clientId),
    [keep.clientId],
  );
});

test("UNKNOWN_OIDC_CLIENT: an id the server does not have, another server's included", async () => {
  const a = await newServer(ns, 'A');
  const b = await newServer(ns, 'B');
  const client = await create(a);
  const before = snapshot(ns);
  for (const id of ['oc_AAAAAAAAAAAAAAAA', 'nothing', client.clientId]) expectError(await ns.api('DELETE', `${base(b)}/${id}`), 404, 'UNKNOWN_OIDC_CLIENT');
  assert.is(snapshot(ns), before, 'nothing changed');
  assert.equal((await ns.api('GET', base(b))).body, { clients: [] }, "B does not list A's client");
  assert.equal(
    (await ns.api('GET', base(a))).body.clients.map((c: any) => c.clientId),
    [client.clientId],
  );
});

test('bad input: 400 BAD_REQUEST naming what is wrong, and nothing changed', async () => {
  const srv = await newServer(ns, 'bad');
  await create(srv);
  const cases: Array<[string, unknown, string]> = [
    ['http not on localhost', { ...APP, redirectUris: ['http://grafana.example/cb'] }, 'https://'],
    ['not a URL', { ...APP, redirectUris: ['grafana.example/cb'] }, 'absolute'],
    ['fragment', { ...APP, redirectUris: ['https://grafana.example/cb#x'] }, 'fragment'],
    ['javascript', { ...APP, redirectUris: ['javascript:alert(1)'] }, 'https://'],
    ['no redirect URI', { ...APP, redirectUris: [] }, 'redirectUris'],
    ['too many redirect URIs', { ...APP, redirectUris: Array.from({ length: 17 }, (_, i) => `https://a.example/${i}`) }, 'body/redirectUris'],
    ['bad logout URI', { ...APP, postLogoutRedirectUris: ['ftp://grafana.example/'] }, 'postLogoutRedirectUris'],
    ['bad back-channel URI', { ...APP, backchannelLogoutUri: 'http://grafana.example/logout' }, 'backchannelLogoutUri'],
    ['unknown scope', { ...APP, scopes: ['openid', 'admin'] }, '"admin"'],
    ['blank name', { ...APP, name: '   ' }, 'name'],
    ['name too long', { ...APP, name: 'n'.repeat(129) }, 'body/name'],
    ['no name', { redirectUris: APP.redirectUris }, 'body/name'],
    ['redirectUris not a list', { ...APP, redirectUris: 'https://grafana.example/cb' }, 'body/redirectUris'],
    ['public not a boolean', { ...APP, public: 'yes' }, 'body/public'],
    ['extra field', { ...APP, secret: 'ocs_mine' }, 'body/secret'],
    ['a client id given', { ...APP, clientId: 'oc_mine' }, 'body/clientId'],
    ['not an object', ['Grafana'], 'body'],
  ];
  const before = snapshot(ns);
  for (const [what, body, names] of cases) {
    const r = await ns.api('POST', base(srv), { body });
    expectError(r, 400, 'BAD_REQUEST', names);
    assert.ok(r.body.message.length > 5, `${what}: ${r.body.message}`);
  }
  expectError(await ns.api('POST', '/servers/not-a-server/oidc/clients', { body: APP }), 400, 'BAD_REQUEST', 'params/serverid');
  assert.is(snapshot(ns), before, 'nothing changed');
});

test('too many: a server has at most 32 clients (400), per server; one deleted frees a place', async () => {
  const srv = await newServer(ns, 'full');
  const spa = { name: 'SPA', redirectUris: ['https://spa.example/cb'], public: true };
  const first = await create(srv, spa);
  for (let i = 1; i < 32; i++) await create(srv, spa);
  const before = snapshot(ns);
  expectError(await ns.api('POST', base(srv), { body: spa }), 400, 'BAD_REQUEST', '32');
  assert.is(snapshot(ns), before, 'nothing changed');
  await create(await newServer(ns, 'other'), spa);
  assert.is((await ns.api('DELETE', `${base(srv)}/${first.clientId}`)).status, 204);
  await create(srv, spa);
});

test("permissions: 'root' on the server (or global); without it 403, whatever else the key holds; then an unknown server 404", async () => {
  const a = await newServer(ns, 'perm A');
  const b = await newServer(ns, 'perm B');
  const client = await create(a);
  await expectRootOnServer(ns, a, b, (srv) => [
    ['POST', base(srv), APP],
    ['GET', base(srv)],
    ['DELETE', `${base(srv)}/${client.clientId}`],
  ]);

  // root on the server: every operation, on its own server.
  const rootOfA = await keyWith(ns, ['root'], a);
  const own = await create(a, { name: 'Own', redirectUris: ['https://own.example/cb'] }, rootOfA.apikey);
  assert.is((await ns.api('GET', base(a), { key: rootOfA.apikey })).body.clients.length, 2);
  assert.is((await ns.api('DELETE', `${base(a)}/${own.clientId}`, { key: rootOfA.apikey })).status, 204);
});

test("the provider's own endpoints still answer beside these routes, and know the clients they make", async () => {
  const srv = await newServer(ns, 'provider');
  const discovery = await ns.api('GET', `/servers/${srv}/oidc/.well-known/openid-configuration`, { key: null });
  assert.is(discovery.status, 200, JSON.stringify(discovery.body));
  assert.match(String(discovery.body.issuer), new RegExp(`/servers/${srv}/oidc$`));
  const jwks = await ns.api('GET', `/servers/${srv}/oidc/jwks`, { key: null });
  assert.is(jwks.status, 200);
  assert.ok(jwks.body.keys.length >= 1, 'signing keys published');

  // A client made here is one the provider's authorization endpoint takes; deleted, it is not.
  const made = await create(srv, { name: 'Shop', redirectUris: ['https://shop.example/cb'] });
  const authorize = () => {
    const challenge = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
    const q = new URLSearchParams({
      client_id: made.clientId,
      redirect_uri: 'https://shop.example/cb',
      response_type: 'code',
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'st',
    });
    const path = new URL(String(discovery.body.authorization_endpoint)).pathname;
    return fetch(`${ns.url.replace(/\/$/, '')}${path}?${q}`, { redirect: 'manual' });
  };
  const known = await authorize();
  assert.is(known.status, 303, await known.text());
  assert.match(known.headers.get('location') ?? '', /\/interaction\//);
  assert.is((await ns.api('DELETE', `${base(srv)}/${made.clientId}`)).status, 204);
  const gone = await authorize();
  assert.is(gone.status, 400);
  assert.match(await gone.text(), /invalid_client/);

  // The provider's paths are not these routes': no key needed there, none answered here without one.
  expectError(await ns.api('GET', base(srv), { key: null }), 401, 'MISSING_API_KEY');
  // A JSON body reaches these routes parsed (the provider's scope leaves bodies unread).
  const json = await ns.api('POST', base(srv), { body: JSON.stringify(APP), headers: { 'content-type': 'application/json; charset=utf-8' } });
  assert.is(json.status, 201, JSON.stringify(json.body));
});

test('the log: an admin write line for create and delete; never a secret', async () => {
  const srv = await newServer(ns, 'logged');
  const made = await create(srv);
  assert.is((await ns.api('DELETE', `${base(srv)}/${made.clientId}`)).status, 204);
  const { lines, writes } = await logOf(() => log, srv);
  assert.equal(writes, [
    ['createOidcClient', 201],
    ['deleteOidcClient', 204],
  ]);
  assert.ok(lines.some((l) => l.msg === 'oidc client created' && l.oidcClient === made.clientId));
  assert.not.ok(
    lines.some((l) => l.op === 'getOidcClients'),
    'reads are not writes',
  );
  assert.not.ok(log.includes(made.secret) || log.includes(made.secret.slice(4)), 'no secret in the log');
});

test.run();
