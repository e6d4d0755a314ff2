/**
 * Tag Webhooks (our addition): createWebhook, getWebhooks, getWebhook, updateWebhook,
 * deleteWebhook, rotateWebhookSecret, getWebhookAttempts. The secret is answered by create and
 * rotate only, never listed nor logged; bad input is 400 and changes nothing; `root` on the server
 * is needed, and a server never sees another's webhooks. Run with NEXTAUTH_WEBHOOKS_PER_SERVER=2.
 */
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
  ns = await startTestServer({ NEXTAUTH_WEBHOOKS_PER_SERVER: '2', NEXTAUTH_LOG_LEVEL: 'info' }, undefined, { logTo: out });
});
test.after(() => ns.stop(true));

const HOUR = 3600_000;
const VIEW_FIELDS = ['created', 'delivered', 'description', 'failed', 'id', 'types', 'url'];

const base = (serverid: string) => `/servers/${serverid}/webhooks`;

/** createWebhook, asserted 201; gives the answer (the view and its secret). */
async function create(serverid: string, body: Record<string, unknown> = { url: 'https://hooks.example/nextauth' }, key?: string): Promise<any> {
  const r = await ns.api('POST', base(serverid), { body, key });
  assert.is(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

/** The stored record (with its secret), straight from the store. */
const stored = (serverid: string, id: string) => ns.registry.store.get('webhook', serverid, id);

test('createWebhook: 201, the view and its secret, shown this once', async () => {
  const srv = await newServer(ns, 'hooks');
  const before = Date.now();
  const made = await create(srv, {
    url: 'https://hooks.example/in?x=1',
    types: ['com.nextauth.session.login', 'com.nextauth.account.enrolled', 'com.nextauth.session.login'],
    description: 'the shop',
  });
  assert.equal(Object.keys(made).sort(), [...VIEW_FIELDS, 'secret'].sort());
  assert.match(made.id, /^wh_[A-Za-z0-9_-]{16}$/);
  assert.is(made.url, 'https://hooks.example/in?x=1');
  assert.equal(made.types, ['com.nextauth.account.enrolled', 'com.nextauth.session.login'], 'deduplicated, sorted');
  assert.is(made.description, 'the shop');
  assert.ok(made.created >= before && made.created <= Date.now());
  assert.equal([made.delivered, made.failed], [0, 0]);
  assert.match(made.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.is((await stored(srv, made.id))?.secret, made.secret);

  // Defaults: every type, no description.
  const plain = await create(srv, { url: 'http://hooks.example:8080/' });
  assert.equal([plain.types, plain.description], [[], '']);
  assert.is.not(plain.secret, made.secret);
});

test('getWebhooks and getWebhook: every field but the secret, oldest first', async () => {
  const srv = await newServer(ns, 'list');
  assert.equal((await ns.api('GET', base(srv))).body, { webhooks: [] });
  const a = await create(srv, { url: 'https://a.example/' });
  const b = await create(srv, { url: 'https://b.example/', types: ['com.nextauth.refusal'] });
  const list = await ns.api('GET', base(srv));
  assert.is(list.status, 200);
  assert.equal(
    list.body.webhooks.map((w: any) => w.id),
    [a.id, b.id],
  );
  const one = await ns.api('GET', `${base(srv)}/${b.id}`);
  assert.is(one.status, 200);
  const { secret: _, ...view } = b;
  assert.equal(one.body, view);
  assert.equal(list.body.webhooks[1], view);
  for (const r of [list, one]) {
    const text = Buffer.from(r.raw).toString();
    assert.not.ok(text.includes('whsec_') || text.includes('secret'), `no secret in ${text}`);
  }
});

test('updateWebhook: url, types, description; the secret and the deliveries stay', async () => {
  const srv = await newServer(ns, 'update');
  const made = await create(srv);
  const r = await ns.api('PATCH', `${base(srv)}/${made.id}`, { body: { url: 'https://new.example/hook', types: ['com.nextauth.push.sent'], description: 'new' } });
  assert.is(r.status, 200, JSON.stringify(r.body));
  assert.equal([r.body.id, r.body.url, r.body.types, r.body.description, r.body.created], [made.id, 'https://new.example/hook', ['com.nextauth.push.sent'], 'new', made.created]);
  assert.not.ok('secret' in r.body);
  // One field at a time; an empty types list is every type again.
  const types = await ns.api('PATCH', `${base(srv)}/${made.id}`, { body: { types: [] } });
  assert.equal([types.body.types, types.body.url, types.body.description], [[], 'https://new.example/hook', 'new']);
  assert.is((await stored(srv, made.id))?.secret, made.secret, 'the secret stays');
});

test('rotateWebhookSecret: a new secret, the old one signing beside it for 24 h', async () => {
  const srv = await newServer(ns, 'rotate');
  const made = await create(srv);
  const before = Date.now();
  const r = await ns.api('POST', `${base(srv)}/${made.id}/rotate`);
  assert.is(r.status, 200, JSON.stringify(r.body));
  assert.equal(Object.keys(r.body).sort(), ['previousSecretUntil', 'secret']);
  assert.match(r.body.secret, /^whsec_/);
  assert.is.not(r.body.secret, made.secret);
  assert.ok(r.body.previousSecretUntil >= before + 24 * HOUR && r.body.previousSecretUntil <= Date.now() + 24 * HOUR);
  const record = await stored(srv, made.id);
  assert.equal([record?.secret, record?.previousSecret, record?.previousUntil], [r.body.secret, made.secret, r.body.previousSecretUntil]);
  // The view says until when, never the secret.
  const view = (await ns.api('GET', `${base(srv)}/${made.id}`)).body;
  assert.is(view.previousSecretUntil, r.body.previousSecretUntil);
  assert.not.ok('secret' in view);
});

test('getWebhookAttempts: none yet', async () => {
  const srv = await newServer(ns, 'attempts');
  const made = await create(srv);
  const r = await ns.api('GET', `${base(srv)}/${made.id}/attempts`);
  assert.is(r.status, 200);
  assert.equal(r.body, { attempts: [] });
});

test('deleteWebhook: 204 with no body; then it is unknown', async () => {
  const srv = await newServer(ns, 'delete');
  const made = await create(srv);
  const keep = await create(srv);
  const r = await ns.api('DELETE', `${base(srv)}/${made.id}`);
  assert.is(r.status, 204);
  assert.is(r.raw.length, 0);
  assert.is(await stored(srv, made.id), undefined);
  assert.is(await ns.registry.store.get('delivery', srv, made.id), undefined, 'its deliveries go with it');
  expectError(await ns.api('GET', `${base(srv)}/${made.id}`), 404, 'UNKNOWN_WEBHOOK');
  expectError(await ns.api('DELETE', `${base(srv)}/${made.id}`), 404, 'UNKNOWN_WEBHOOK');
  assert.equal(
    (await ns.api('GET', base(srv))).body.webhooks.map((w: any) => w.id),
    [keep.id],
  );
});

/** Every operation on one webhook: method, path, body. */
const onWebhook = (srv: string, id: string): Array<[string, string, unknown?]> => [
  ['GET', `${base(srv)}/${id}`],
  ['PATCH', `${base(srv)}/${id}`, { description: 'x' }],
  ['POST', `${base(srv)}/${id}/rotate`],
  ['GET', `${base(srv)}/${id}/attempts`],
  ['DELETE', `${base(srv)}/${id}`],
];

test("UNKNOWN_WEBHOOK: an id the server does not have, another server's included", async () => {
  const a = await newServer(ns, 'A');
  const b = await newServer(ns, 'B');
  const hook = await create(a);
  const before = snapshot(ns);
  for (const id of ['wh_AAAAAAAAAAAAAAAA', 'nothing', hook.id]) {
    for (const [method, url, body] of onWebhook(b, id)) expectError(await ns.api(method, url, { body }), 404, 'UNKNOWN_WEBHOOK');
  }
  assert.is(snapshot(ns), before, 'nothing changed');
  assert.equal((await ns.api('GET', base(b))).body, { webhooks: [] }, "B does not list A's webhook");
  assert.is((await ns.api('GET', `${base(a)}/${hook.id}`)).status, 200);
});

test('TOO_MANY_WEBHOOKS past NEXTAUTH_WEBHOOKS_PER_SERVER (2), per server; one deleted frees a place', async () => {
  const srv = await newServer(ns, 'full');
  const first = await create(srv);
  await create(srv);
  const before = snapshot(ns);
  expectError(await ns.api('POST', base(srv), { body: { url: 'https://third.example/' } }), 409, 'TOO_MANY_WEBHOOKS', '2');
  assert.is(snapshot(ns), before, 'nothing changed');
  await create(await newServer(ns, 'other'), { url: 'https://other.example/' });
  assert.is((await ns.api('DELETE', `${base(srv)}/${first.id}`)).status, 204);
  await create(srv, { url: 'https://third.example/' });
});

test('bad input: 400 BAD_REQUEST naming what is wrong, and nothing changed', async () => {
  const srv = await newServer(ns, 'bad');
  const made = await create(srv);
  const cases: Array<[string, unknown, string]> = [
    ['ftp', { url: 'ftp://files.example/in' }, 'http:// or https://'],
    ['credentials', { url: 'https://user:pass@hooks.example/' }, 'credentials'],
    ['user only', { url: 'https://user@hooks.example/' }, 'credentials'],
    ['not a URL', { url: 'hooks.example/in' }, 'absolute'],
    ['fragment', { url: 'https://hooks.example/#x' }, 'fragment'],
    ['javascript', { url: 'javascript:alert(1)' }, 'http:// or https://'],
    ['too long', { url: `https://hooks.example/${'a'.repeat(2048)}` }, 'body/url'],
    ['unknown type', { url: 'https://hooks.example/', types: ['com.nextauth.session.login', 'com.nextauth.nothing'] }, 'com.nextauth.nothing'],
    ['types not a list', { url: 'https://hooks.example/', types: 'com.nextauth.session.login' }, 'body/types'],
    ['a type not a string', { url: 'https://hooks.example/', types: [5] }, 'body/types/0'],
    ['extra field', { url: 'https://hooks.example/', secret: 'whsec_mine' }, 'body/secret'],
    ['no url', { types: [] }, 'body/url'],
    ['description too long', { url: 'https://hooks.example/', description: 'd'.repeat(257) }, 'body/description'],
    ['description not text', { url: 'https://hooks.example/', description: 5 }, 'body/description'],
    ['not an object', ['https://hooks.example/'], 'body'],
  ];
  const before = snapshot(ns);
  for (const [what, body, names] of cases) {
    const r = await ns.api('POST', base(srv), { body });
    expectError(r, 400, 'BAD_REQUEST', names);
    assert.ok(r.body.message.length > 10, `${what}: ${r.body.message}`);
  }
  const updates: Array<[unknown, string]> = [
    [{ url: 'ftp://files.example/' }, 'http:// or https://'],
    [{ url: 'https://a:b@hooks.example/' }, 'credentials'],
    [{ types: ['nope'] }, 'nope'],
    [{ description: 'ok', created: 1 }, 'body/created'],
    [{}, 'body'],
  ];
  for (const [body, names] of updates) expectError(await ns.api('PATCH', `${base(srv)}/${made.id}`, { body }), 400, 'BAD_REQUEST', names);
  expectError(await ns.api('POST', `/servers/not-a-server/webhooks`, { body: { url: 'https://hooks.example/' } }), 400, 'BAD_REQUEST', 'params/serverid');
  assert.is(snapshot(ns), before, 'nothing changed');
});

test("permissions: 'root' on the server (or global); without it 403, whatever else the key holds; an unknown server 404", async () => {
  const a = await newServer(ns, 'perm A');
  const b = await newServer(ns, 'perm B');
  const hook = await create(a);
  await expectRootOnServer(ns, a, b, (srv) => [['POST', base(srv), { url: 'https://hooks.example/' }], ['GET', base(srv)], ...onWebhook(srv, hook.id)]);

  // root on the server: every operation, on its own server.
  const rootOfA = await keyWith(ns, ['root'], a);
  const own = await create(a, { url: 'https://own.example/' }, rootOfA.apikey);
  assert.is((await ns.api('GET', base(a), { key: rootOfA.apikey })).status, 200);
  assert.is((await ns.api('PATCH', `${base(a)}/${own.id}`, { key: rootOfA.apikey, body: { description: 'mine' } })).status, 200);
  assert.is((await ns.api('POST', `${base(a)}/${own.id}/rotate`, { key: rootOfA.apikey })).status, 200);
  assert.is((await ns.api('GET', `${base(a)}/${own.id}/attempts`, { key: rootOfA.apikey })).status, 200);
  assert.is((await ns.api('DELETE', `${base(a)}/${own.id}`, { key: rootOfA.apikey })).status, 204);
});

test('the log: an admin write line for create, update, rotate and delete; never a secret', async () => {
  const srv = await newServer(ns, 'logged');
  const made = await create(srv);
  const rotated = (await ns.api('POST', `${base(srv)}/${made.id}/rotate`)).body;
  assert.is((await ns.api('PATCH', `${base(srv)}/${made.id}`, { body: { description: 'logged' } })).status, 200);
  assert.is((await ns.api('DELETE', `${base(srv)}/${made.id}`)).status, 204);
  const { lines, writes } = await logOf(() => log, srv);
  assert.equal(writes, [
    ['createWebhook', 201],
    ['rotateWebhookSecret', 200],
    ['updateWebhook', 200],
    ['deleteWebhook', 204],
  ]);
  assert.ok(lines.some((l) => l.msg === 'webhook created' && l.webhook === made.id));
  assert.not.ok(
    lines.some((l) => l.op === 'getWebhooks' || l.op === 'getWebhook'),
    'reads are not writes',
  );
  for (const secret of [made.secret, rotated.secret, made.secret.slice(6), rotated.secret.slice(6)]) assert.not.ok(log.includes(secret), 'no secret in the log');
});

test.run();
