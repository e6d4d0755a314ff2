/**
 * Events to webhooks, over real sockets: a receiver on 127.0.0.1 checks every Standard Webhooks
 * signature and sees the events that enrolment, login, logout, decline, account and permission
 * changes and refusals produce, as CloudEvents with no secret in them; down for a while, it
 * gets every event once it is back, in order; a wrong secret is found out; the audit trail has
 * the same events.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { verifyWebhook, WebhookVerificationError } from '../../src/core/events/sign-webhook.ts';
import { ROOT_KEY, startTestServer, type TestServer } from '../helpers/ns.ts';
import { newNonce, newPhone, qr, until } from '../helpers/peers.ts';
import { WebhookReceiver } from '../helpers/webhook-receiver.ts';

let ns: TestServer;
let receiver: WebhookReceiver;
let srv: string;
let secret: string;

test.before(async () => {
  ns = await startTestServer({ NEXTAUTH_WEBHOOK_PRIVATE_ADDRESSES: 'true' });
  receiver = await WebhookReceiver.start();
  srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Events' } })).body.serverid as string;
  const made = await ns.registry.webhooks.create(srv, { url: receiver.url, description: 'every event' });
  secret = made.secret;
  receiver.secret = secret;
  assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
});
test.after(async () => {
  await ns.stop(true);
  await receiver.close();
});

/** Resolves once the receiver has heard nothing new for 600 ms (the deliveries of what came before are done). */
async function quiet(): Promise<void> {
  let n = -1;
  while (n !== receiver.requests) {
    n = receiver.requests;
    await new Promise((r) => setTimeout(r, 600));
  }
}

/** The secrets a test saw: none may be in an event. */
const secrets: string[] = [ROOT_KEY];

test('the flows produce their events, each delivered once, signed, as a CloudEvent 1.0 with nothing secret in it', async () => {
  const phone = newPhone();
  const enrolNonce = newNonce();
  secrets.push(enrolNonce);
  const { acc } = await phone.enrol(await qr(ns, srv, enrolNonce, 'enrol', '&userid=ann'));
  const nonce = newNonce();
  secrets.push(nonce);
  await phone.login(await qr(ns, srv, nonce));
  assert.is((await ns.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } })).status, 200);
  const decliner = newPhone({ keystore: phone.keystore, decline: true });
  const declineNonce = newNonce();
  secrets.push(declineNonce);
  await decliner.login(await qr(ns, srv, declineNonce)).catch(() => undefined);
  assert.is((await ns.api('PUT', `/servers/${srv}/accounts/${acc}/?blocked=true`)).status < 300, true, 'blocked');
  assert.is((await ns.api('PUT', `/servers/${srv}/accounts/${acc}/?blocked=false`)).status < 300, true, 'unblocked');
  assert.is((await ns.api('PUT', `/servers/${srv}/accounts/${acc}/user?userid=bob`)).status < 300, true, 'relinked');
  assert.is((await ns.api('PUT', `/servers/${srv}/`, { body: { serverName: 'Events 2' } })).status < 300, true, 'updated');
  const key = (await ns.api('POST', '/apikeys/?description=ops')).body as { apikey: string; role: string };
  secrets.push(key.apikey);
  assert.is((await ns.api('POST', `/servers/${srv}/permissions/${key.role}`, { body: ['sessions'] })).status < 300, true, 'granted');
  assert.is((await ns.api('DELETE', `/servers/${srv}/permissions/${key.role}`)).status < 300, true, 'revoked');
  assert.is((await ns.api('GET', `/servers/${srv}/accounts/999`)).status, 404, 'a refusal');
  assert.is((await ns.api('DELETE', `/servers/${srv}/accounts/${acc}`)).status < 300, true, 'deleted');

  const expected = [
    'com.nextauth.session.scanned',
    'com.nextauth.account.enrolled',
    'com.nextauth.session.login',
    'com.nextauth.session.logout',
    'com.nextauth.session.cancel',
    'com.nextauth.account.blocked',
    'com.nextauth.account.unblocked',
    'com.nextauth.account.relinked',
    'com.nextauth.server.updated',
    'com.nextauth.apikey.created',
    'com.nextauth.apikey.deleted',
    'com.nextauth.refusal',
    'com.nextauth.account.deleted',
  ];
  await until(
    () => expected.every((t) => receiver.types().includes(t)),
    () => `every type (seen: ${receiver.types().join(', ')})`,
    10_000,
  );
  assert.equal(receiver.badSignatures, []);
  const ids = receiver.received.map((d) => d.id);
  assert.is(new Set(ids).size, ids.length, 'each event once');
  for (const d of receiver.received) {
    const e = d.event;
    assert.is(e.specversion, '1.0');
    assert.is(e.id, d.id, 'webhook-id is the CloudEvent id');
    assert.is(e.source, `${ns.config.publicUrl}/servers/${srv}`);
    assert.is(e.data.serverid, srv);
    assert.ok(!Number.isNaN(Date.parse(e.time)), e.time);
    assert.is(d.headers['content-type'], 'application/cloudevents+json');
    for (const s of [...secrets, secret]) assert.not.ok(d.body.includes(s), `${e.type} carries no secret`);
  }
  const of = (type: string) => receiver.received.find((d) => d.event.type === type)!.event;
  assert.is(of('com.nextauth.session.login').data.account, acc);
  assert.is(of('com.nextauth.session.login').data.userid, 'ann');
  assert.is(of('com.nextauth.session.login').data.address, '127.0.0.1', 'the phone’s address');
  assert.is(of('com.nextauth.session.logout').data.address, '127.0.0.1', 'the address of the REST call that logged it out');
  assert.is(of('com.nextauth.account.blocked').data.address, '127.0.0.1', 'the address of the REST call');
  assert.is(of('com.nextauth.account.relinked').data.userid, 'bob');
  assert.is(of('com.nextauth.refusal').data.code, 'UNKNOWN_ACCOUNT');
  // One session's events share a subject, in the order they happened.
  const session = of('com.nextauth.session.logout').subject;
  assert.ok(session?.startsWith('session/'));
  assert.equal(
    receiver.received.filter((d) => d.event.subject === session).map((d) => d.event.type),
    ['com.nextauth.session.scanned', 'com.nextauth.session.login', 'com.nextauth.session.logout'],
  );
  // The audit trail has them too, newest first, filtered by account and type.
  const trail = await ns.registry.store.listEvents(srv, { limit: 100, account: acc, types: ['com.nextauth.session.login', 'com.nextauth.session.logout'] });
  assert.equal(
    trail.map((e) => e.type),
    ['com.nextauth.session.logout', 'com.nextauth.session.login', 'com.nextauth.session.login'],
    'the login, and the enrolment’s',
  );
});

test('a receiver down for a while gets every event once it is back, in order; the attempts are kept', async () => {
  await quiet();
  const before = receiver.received.length;
  await receiver.down();
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  const nonces = [newNonce(), newNonce(), newNonce()];
  for (const n of nonces) await phone.login(await qr(ns, srv, n));
  const [hook] = await ns.registry.webhooks.list(srv);
  await until(async () => (await ns.registry.webhooks.get(srv, hook!.id)).retrying !== undefined, 'a retry is pending', 5000);
  receiver.mode = 'fail';
  const asked = receiver.requests;
  await receiver.up();
  await until(() => receiver.requests > asked, 'a try while it answers 503', 8000);
  receiver.mode = 'ok';
  await until(
    () => new Set(receiver.received.slice(before).map((d) => d.id)).size >= 9,
    () => `every event after the outage (${receiver.received.length - before})`,
    20_000,
  );
  // At least once: a round that ended on a refused event sends again what it had sent after it
  // (other sessions'), with the same webhook-id; a receiver drops those by it, as here.
  const firsts = new Map<string, (typeof receiver.received)[number]['event']>();
  for (const d of receiver.received.slice(before)) if (!firsts.has(d.id)) firsts.set(d.id, d.event);
  const after = [...firsts.values()];
  assert.is(after.length, 9, 'each event, by its webhook-id');
  // Each session's events in the order its changes were made (sessions go side by side).
  const sessions = new Map<string, string[]>();
  for (const e of after) sessions.set(e.subject!, [...(sessions.get(e.subject!) ?? []), e.type]);
  assert.equal(
    [...sessions.values()].map((types) => types.join(' ')).sort(),
    [
      // (an enrolment logs its session in)
      'com.nextauth.session.scanned com.nextauth.account.enrolled com.nextauth.session.login',
      ...nonces.map(() => 'com.nextauth.session.scanned com.nextauth.session.login'),
    ].sort(),
    'in the order the changes were made, per session',
  );
  // (where deliveries are is written at most every second)
  let attempts = await ns.registry.webhooks.attempts(srv, hook!.id);
  await until(async () => (attempts = await ns.registry.webhooks.attempts(srv, hook!.id))[0]?.outcome === 'delivered', 'the deliveries written', 5000);
  assert.ok(
    attempts.some((a) => a.outcome === 'retrying' && a.status === 0),
    'a try that found nobody',
  );
  assert.ok(
    attempts.some((a) => a.outcome === 'retrying' && a.status === 503),
    'a try answered 503',
  );
  assert.is(attempts[0]!.outcome, 'delivered', 'newest first');
  assert.ok((await ns.registry.webhooks.get(srv, hook!.id)).delivered >= 9);
});

test('a wrong secret is found out; so is a changed body or an old timestamp', () => {
  const d = receiver.received[0]!;
  const headers = d.headers as Record<string, string>;
  verifyWebhook(secret, headers, d.body, { now: Number(headers['webhook-timestamp']) * 1000 });
  const wrong = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
  assert.throws(
    () => verifyWebhook(wrong, headers, d.body, { now: Number(headers['webhook-timestamp']) * 1000 }),
    (e: unknown) => e instanceof WebhookVerificationError,
  );
  assert.throws(
    () => verifyWebhook(secret, headers, d.body.replace('"1.0"', '"1.1"'), { now: Number(headers['webhook-timestamp']) * 1000 }),
    (e: unknown) => e instanceof WebhookVerificationError,
  );
  assert.throws(
    () => verifyWebhook(secret, headers, d.body, { now: Number(headers['webhook-timestamp']) * 1000 + 3600_000 }),
    (e: unknown) => e instanceof WebhookVerificationError,
  );
});

test('after a rotation both secrets sign until the old one lapses; a webhook for some types gets only those', async () => {
  const [hook] = await ns.registry.webhooks.list(srv);
  const { secret: next } = await ns.registry.webhooks.rotate(srv, hook!.id);
  const only = await WebhookReceiver.start();
  const filtered = await ns.registry.webhooks.create(srv, { url: only.url, types: ['com.nextauth.session.login'] });
  only.secret = filtered.secret;
  await quiet();
  const seen = receiver.received.length;
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  await phone.login(await qr(ns, srv, newNonce()));
  await until(() => receiver.received.length >= seen + 5 && only.received.length >= 2, 'both receivers', 10_000);
  const d = receiver.received.at(-1)!;
  const headers = d.headers as Record<string, string>;
  assert.is(headers['webhook-signature']!.split(' ').length, 2, 'two signatures');
  verifyWebhook(next, headers, d.body);
  verifyWebhook(secret, headers, d.body);
  assert.equal(only.types(), ['com.nextauth.session.login', 'com.nextauth.session.login'], 'the enrolment’s login and the login');
  await only.close();
});

test.run();
