/**
 * Tag Events (our addition): getEvents, a server's audit trail. Events are written straight into
 * the store (as the core writes them: `tx.emit(newEvent(…))` in a change) so that paging and each
 * filter can be checked on known events: newest first, `limit` and `next`, `type` (repeated and
 * comma-separated), `userid`, `account`, `from` (included) and `to` (not), only the server's own;
 * each item a CloudEvent 1.0 whose `source` is the public URL. Bad query: 400 naming the
 * parameter. Permission `root` on the server, as the webhooks. Changes made through REST name the
 * client's address.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EVENT_TYPES, type EventType } from '../../../src/core/events/event-types.ts';
import { newEvent, type EventFields } from '../../../src/core/events/new-event.ts';
import { startTestServer, type TestServer } from '../../helpers/ns.ts';
import { requestFrom } from '../../helpers/peers.ts';
import { expectError, keyWith, newServer } from '../../helpers/rest.ts';

const PUBLIC_URL = 'https://ns.example/auth';

let ns: TestServer;
test.before(async () => {
  ns = await startTestServer({ NEXTAUTH_PUBLIC_URL: `${PUBLIC_URL}/` });
});
test.after(() => ns.stop(true));

const events = (serverid: string, query = '', key?: string | null) => ns.api('GET', `/servers/${serverid}/events${query ? `?${query}` : ''}`, { key });

/** Writes events to the store in one change, as the core does; their times in the order given. */
async function emit(serverid: string, list: Array<[EventType, EventFields & { time: number }]>): Promise<string[]> {
  const made = list.map(([type, { time, ...fields }]) => newEvent(type, serverid, fields, time));
  await ns.registry.store.transact((tx) => {
    for (const e of made) tx.emit(e);
  });
  return made.map((e) => e.id);
}

/** The ids of an answer's items. */
const ids = (r: { body: { items: Array<{ id: string }> } }) => r.body.items.map((e) => e.id);

/** Checks a CloudEvent 1.0 in structured JSON mode, as an audit item. */
function assertCloudEvent(e: Record<string, any>, serverid: string): void {
  assert.is(e.specversion, '1.0');
  assert.match(e.id, /^evt_[A-Za-z0-9_-]{22}$/);
  assert.is(e.source, `${PUBLIC_URL}/servers/${serverid}`);
  assert.ok(Object.hasOwn(EVENT_TYPES, e.type), `${e.type} is an event type`);
  assert.is(e.datacontenttype, 'application/json');
  assert.is(new Date(e.time).toISOString(), e.time, 'time is RFC 3339 (ISO) UTC');
  assert.is(e.data.serverid, serverid);
  const allowed = ['specversion', 'id', 'source', 'type', 'subject', 'time', 'datacontenttype', 'data'];
  assert.equal(
    Object.keys(e).filter((k) => !allowed.includes(k)),
    [],
    'only CloudEvents attributes',
  );
}

/** A new server whose trail holds only what the test writes: the events so far (its own server.created, earlier tests' ones) are pruned. */
async function quietServer(name: string): Promise<string> {
  const srv = await newServer(ns, name);
  await ns.registry.store.pruneEvents(Date.now() + 1000, 1_000_000);
  return srv;
}

const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;

test('a server without events: {items: []}', async () => {
  const srv = await quietServer('quiet');
  const r = await events(srv);
  assert.is(r.status, 200);
  assert.equal(r.body, { items: [] });
});

test('items are CloudEvents 1.0, newest first: source is the public URL, data holds server, user, account, address and its own fields', async () => {
  const srv = await quietServer('shape');
  const [scanned, login] = await emit(srv, [
    ['com.nextauth.session.scanned', { time: T0, subject: 'session/abc', source: '203.0.113.7' }],
    ['com.nextauth.session.login', { time: T0 + MIN, userid: 'alice', account: 3, source: '203.0.113.7', subject: 'session/abc', data: { channel: 'qr' } }],
  ]);
  const r = await events(srv);
  assert.is(r.status, 200);
  assert.equal(ids(r), [login, scanned]);
  assert.not.ok('next' in r.body, 'a page that is not full has no next');
  for (const e of r.body.items) assertCloudEvent(e, srv);
  assert.equal(r.body.items[0], {
    specversion: '1.0',
    id: login,
    source: `${PUBLIC_URL}/servers/${srv}`,
    type: 'com.nextauth.session.login',
    subject: 'session/abc',
    time: new Date(T0 + MIN).toISOString(),
    datacontenttype: 'application/json',
    data: { channel: 'qr', serverid: srv, userid: 'alice', account: 3, address: '203.0.113.7' },
  });
  assert.equal(r.body.items[1].data, { serverid: srv, address: '203.0.113.7' });
});

test('paging: limit, then next as before, until a page is not full; no event twice, none left out', async () => {
  const srv = await quietServer('pages');
  const made = await emit(
    srv,
    Array.from({ length: 7 }, (_, i): [EventType, EventFields & { time: number }] => ['com.nextauth.push.sent', { time: T0 + i * MIN, account: 1 }]),
  );
  const seen: string[] = [];
  let before: string | undefined;
  const sizes: number[] = [];
  for (let page = 0; page < 10; page++) {
    const r = await events(srv, `limit=3${before ? `&before=${before}` : ''}`);
    assert.is(r.status, 200, JSON.stringify(r.body));
    seen.push(...ids(r));
    sizes.push(r.body.items.length);
    before = r.body.next;
    if (before === undefined) break;
    assert.type(before, 'string');
  }
  assert.equal(sizes, [3, 3, 1]);
  assert.equal(seen, [...made].reverse());
  // The default page is 50; the largest 500.
  assert.is(ids(await events(srv)).length, 7);
  assert.is(ids(await events(srv, 'limit=500')).length, 7);
  // A full last page has a next, whose page is empty.
  const full = await events(srv, 'limit=7');
  assert.ok(full.body.next);
  assert.equal((await events(srv, `limit=7&before=${full.body.next}`)).body, { items: [] });
});

test('filters: type (repeated, comma-separated), userid, account, from (included) and to (not), together', async () => {
  const srv = await quietServer('filters');
  const [a, b, c, d, e] = await emit(srv, [
    ['com.nextauth.account.enrolled', { time: T0, userid: 'alice', account: 1 }],
    ['com.nextauth.session.login', { time: T0 + MIN, userid: 'alice', account: 1 }],
    ['com.nextauth.session.login', { time: T0 + 2 * MIN, userid: 'bob', account: 2 }],
    ['com.nextauth.account.blocked', { time: T0 + 3 * MIN, userid: 'bob', account: 2 }],
    ['com.nextauth.refusal', { time: T0 + 4 * MIN, data: { code: 'BAD_SIGNATURE' } }],
  ]);
  const q = async (query: string) => {
    const r = await events(srv, query);
    assert.is(r.status, 200, `${query}: ${JSON.stringify(r.body)}`);
    return ids(r);
  };
  assert.equal(await q('type=com.nextauth.session.login'), [c, b]);
  assert.equal(await q('type=com.nextauth.session.login&type=com.nextauth.refusal'), [e, c, b]);
  assert.equal(await q('type=com.nextauth.account.enrolled,com.nextauth.account.blocked'), [d, a]);
  assert.equal(await q('type=com.nextauth.account.enrolled,com.nextauth.account.blocked&type=com.nextauth.refusal'), [e, d, a]);
  assert.equal(await q('userid=alice'), [b, a]);
  assert.equal(await q('account=2'), [d, c]);
  assert.equal(await q('userid=alice&account=2'), []);
  assert.equal(await q(`from=${T0 + MIN}&to=${T0 + 3 * MIN}`), [c, b], 'from included, to not (ms since epoch)');
  assert.equal(await q(`from=${new Date(T0 + MIN).toISOString()}&to=${new Date(T0 + 3 * MIN).toISOString()}`), [c, b], 'the same in ISO 8601');
  assert.equal(await q(`from=${encodeURIComponent('2026-01-01T01:01:00+01:00')}`), [e, d, c, b], 'an offset: 00:01 UTC');
  assert.equal(await q('from=2026-01-01&to=2026-01-02'), [e, d, c, b, a], 'dates: midnight UTC');
  assert.equal(await q(`to=${T0}`), []);
  assert.equal(await q(`type=com.nextauth.session.login&userid=bob&from=${T0}`), [c]);
  assert.equal(await q('type=com.nextauth.server.deleted'), []);
  assert.equal(await q('userid=nobody'), []);
});

test("only the server's own events", async () => {
  const a = await quietServer('own A');
  const b = await quietServer('own B');
  const [mine] = await emit(a, [['com.nextauth.server.updated', { time: T0 }]]);
  await emit(b, [['com.nextauth.server.updated', { time: T0 }]]);
  assert.equal(ids(await events(a)), [mine]);
  assert.equal(ids(await events(a, 'type=com.nextauth.server.updated')), [mine]);
});

test('bad query: 400 BAD_REQUEST naming the parameter', async () => {
  const srv = await quietServer('bad query');
  const cases: Array<[string, string]> = [
    ['type=com.nextauth.nothing', 'com.nextauth.nothing'],
    ['type=com.nextauth.session.login,bogus', 'bogus'],
    ['type=com.nextauth.session.login,', 'type'],
    ['type=', 'type'],
    ['limit=0', 'querystring/limit'],
    ['limit=501', 'querystring/limit'],
    ['limit=ten', 'querystring/limit'],
    ['limit=1.5', 'querystring/limit'],
    ['before=abc', 'before'],
    ['before=0', 'before'],
    ['before=-5', 'before'],
    ['from=yesterday', 'from'],
    ['from=2026-01-01T12:00:00', 'from'],
    ['from=2026-13-45T99:00:00Z', 'from'],
    ['to=soon', 'to'],
    [`from=${T0 + MIN}&to=${T0}`, 'from must be before to'],
    [`from=${T0}&to=${T0}`, 'from must be before to'],
    ['account=one', 'querystring/account'],
    ['account=0', 'querystring/account'],
  ];
  for (const [query, names] of cases) expectError(await events(srv, query), 400, 'BAD_REQUEST', names);
  expectError(await events('not-a-server'), 400, 'BAD_REQUEST', 'params/serverid');
});

test("permissions: 'root' on the server (or global); 403 without it; an unknown server 404", async () => {
  const a = await quietServer('perm A');
  const b = await quietServer('perm B');
  await emit(a, [['com.nextauth.server.updated', { time: T0 }]]);
  const narrow = await keyWith(ns, ['sessions', 'users', 'accounts', 'servers', 'createserver'], a);
  const rootOfB = await keyWith(ns, ['root'], b);
  const rootOfA = await keyWith(ns, ['root'], a);
  expectError(await events(a, '', narrow.apikey), 403, 'FORBIDDEN', "'root'");
  expectError(await events(a, '', rootOfB.apikey), 403, 'FORBIDDEN');
  expectError(await events(a, '', null), 401, 'MISSING_API_KEY');
  // (the grants above and the refusals are events of their own: the one written here is found by type)
  assert.is(ids(await events(a, 'type=com.nextauth.server.updated', rootOfA.apikey)).length, 1);
  const ofB = (await events(b, '', rootOfB.apikey)).body.items as Array<{ type: string; data: { serverid: string } }>;
  assert.ok(ofB.length > 0 && ofB.every((e) => e.data.serverid === b && e.type === 'com.nextauth.apikey.created'), JSON.stringify(ofB));
  expectError(await events('AAAAAAAAAAAAAAAAAAAAAA'), 404, 'UNKNOWN_SERVER');
  expectError(await events('AAAAAAAAAAAAAAAAAAAAAA', '', rootOfA.apikey), 403, 'FORBIDDEN');
});

test('what the REST operations report: every item a CloudEvent of a known type, newest first, no secret', async () => {
  // Changes made through the API; the events the core writes for them (if any yet) are audited.
  const srv = await quietServer('through REST');
  assert.is((await ns.api('PUT', `/servers/${srv}/`, { body: { serverName: 'renamed' } })).status, 200);
  const key = await keyWith(ns, ['sessions'], srv);
  const hook = await ns.api('POST', `/servers/${srv}/webhooks`, { body: { url: 'https://hooks.example/' } });
  assert.is(hook.status, 201);
  const rotated = await ns.api('POST', `/servers/${srv}/webhooks/${hook.body.id}/rotate`);
  const r = await events(srv);
  assert.is(r.status, 200);
  for (const e of r.body.items) assertCloudEvent(e, srv);
  const times = r.body.items.map((e: { time: string }) => Date.parse(e.time));
  assert.equal(
    times,
    [...times].sort((x: number, y: number) => y - x),
    'newest first',
  );
  const text = Buffer.from(r.raw).toString();
  for (const secret of [hook.body.secret, rotated.body.secret, key.apikey, ns.rootKey]) assert.not.ok(text.includes(secret), 'no secret in the trail');
  assert.not.ok(text.includes('whsec_'));
});

test("changes made through REST carry the client's address (data.address), for each operation that writes an event", async () => {
  // From 127.0.0.2: not the default 127.0.0.1 of the other requests, so the address is this client's.
  const from = (method: string, url: string, body?: unknown) => requestFrom(method, `${ns.url}${url}`, ns.rootKey, '127.0.0.2', body);
  const made = await from('POST', '/servers/', { serverName: 'addressed' });
  assert.is(made.status, 200, JSON.stringify(made.body));
  const srv = (made.body as { serverid: string }).serverid;
  const { id } = await ns.registry.store.transact((tx) =>
    ns.registry.accounts.createInChange(tx, srv, { pk: 'A'.repeat(43), description: 'phone', secondFactor: 'none', userid: 'ann' }, Date.now()),
  );
  const role = (await ns.api('POST', '/apikeys/?description=addressed')).body.role as string;
  const writes: Array<[string, string, unknown?]> = [
    ['PUT', `/servers/${srv}/`, { serverName: 'renamed' }],
    ['POST', `/servers/${srv}/permissions/${role}`, ['sessions']],
    ['DELETE', `/servers/${srv}/permissions/${role}`],
    ['PUT', `/servers/${srv}/accounts/${id}/?blocked=true`],
    ['PUT', `/servers/${srv}/accounts/${id}/?blocked=false`],
    ['PUT', `/servers/${srv}/accounts/${id}/user?userid=bob`],
    ['DELETE', `/servers/${srv}/accounts/${id}/`],
  ];
  for (const [method, url, body] of writes) assert.is((await from(method, url, body)).status, 200, `${method} ${url}`);
  const items = (await events(srv, 'limit=100')).body.items as Array<{ type: string; data: { address?: string } }>;
  const addressOf = Object.fromEntries(items.map((e) => [e.type, e.data.address]));
  assert.equal(addressOf, {
    'com.nextauth.server.created': '127.0.0.2',
    'com.nextauth.server.updated': '127.0.0.2',
    'com.nextauth.apikey.created': '127.0.0.2',
    'com.nextauth.apikey.deleted': '127.0.0.2',
    'com.nextauth.account.blocked': '127.0.0.2',
    'com.nextauth.account.unblocked': '127.0.0.2',
    'com.nextauth.account.relinked': '127.0.0.2',
    'com.nextauth.account.deleted': '127.0.0.2',
  });
});

test.run();
