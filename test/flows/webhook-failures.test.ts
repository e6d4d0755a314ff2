/**
 * Webhooks that do not answer: an endpoint that refuses every delivery has each event given up
 * once the retry time is over (marked failed in its attempts, counted), and the next event goes;
 * an endpoint that never answers delays neither logins nor another webhook's deliveries; a
 * webhook to a private address is refused unless the setting allows them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { newNonce, newPhone, qr, until } from '../helpers/peers.ts';
import { WebhookReceiver } from '../helpers/webhook-receiver.ts';

let ns: TestServer;
let srv: string;

test.before(async () => {
  // Deliveries are given up 2 s after their first try (each try is 1 s, then 2 s, … after the one before).
  ns = await startTestServer({ NEXTAUTH_WEBHOOK_PRIVATE_ADDRESSES: 'true', NEXTAUTH_WEBHOOK_RETRY_SECONDS: '2' });
  srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Failures' } })).body.serverid as string;
});
test.after(() => ns.stop(true));

test('an endpoint that refuses everything: each event is given up after the retry time, marked failed, and the next one goes', async () => {
  const refusing = await WebhookReceiver.start();
  refusing.mode = 'fail';
  const { webhook } = await ns.registry.webhooks.create(srv, { url: refusing.url, types: ['com.nextauth.server.updated'] });
  for (const name of ['one', 'two']) assert.is((await ns.api('PUT', `/servers/${srv}/`, { body: { serverName: name } })).status, 200);
  await until(async () => (await ns.registry.webhooks.get(srv, webhook.id)).failed === 2, 'both given up', 15_000);
  const attempts = await ns.registry.webhooks.attempts(srv, webhook.id);
  const failed = attempts.filter((a) => a.outcome === 'failed');
  assert.is(failed.length, 2);
  assert.is(new Set(failed.map((a) => a.event)).size, 2, 'each event once given up');
  assert.ok(
    attempts.every((a) => a.status === 503),
    'every try answered 503',
  );
  for (const event of new Set(failed.map((a) => a.event))) {
    assert.ok(attempts.filter((a) => a.event === event).length >= 2, 'tried again before it was given up');
  }
  const view = await ns.registry.webhooks.get(srv, webhook.id);
  assert.is(view.delivered, 0);
  assert.is(view.retrying, undefined, 'nothing left to retry');
  await ns.registry.webhooks.delete(srv, webhook.id);
  await refusing.close();
});

test('an endpoint that never answers delays neither logins nor another webhook', async () => {
  const hanging = http.createServer(() => {}); // takes the request, never answers
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  const slow = await ns.registry.webhooks.create(srv, { url: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook` });
  const fine = await WebhookReceiver.start();
  fine.secret = (await ns.registry.webhooks.create(srv, { url: fine.url, types: ['com.nextauth.session.login'] })).secret;
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  const started = Date.now();
  for (let i = 0; i < 5; i++) await phone.login(await qr(ns, srv, newNonce()));
  const loginsMs = Date.now() - started;
  assert.ok(loginsMs < 5000, `5 logins in ${loginsMs} ms`);
  await until(
    () => fine.received.length >= 6,
    () => `the other webhook's logins (${fine.received.length})`,
    5000,
  );
  assert.equal(fine.badSignatures, []);
  assert.ok((await ns.registry.webhooks.get(srv, slow.webhook.id)).delivered === 0, 'the hanging one took nothing');
  // Stopping the server does not wait for the endpoint's 10 s: its delivery is cut.
  const other = await startTestServer({ NEXTAUTH_WEBHOOK_PRIVATE_ADDRESSES: 'true' });
  const s2 = (await other.api('POST', '/servers/', { body: { serverName: 'Hanging' } })).body.serverid as string;
  await other.registry.webhooks.create(s2, { url: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook` });
  assert.is((await other.api('PUT', `/servers/${s2}/`, { body: { serverName: 'y' } })).status, 200);
  await new Promise((r) => setTimeout(r, 1500)); // its delivery is out, unanswered
  const stopAt = Date.now();
  await other.stop(true);
  assert.ok(Date.now() - stopAt < 3000, `stopped in ${Date.now() - stopAt} ms`);
  hanging.closeAllConnections();
  hanging.close();
  await fine.close();
});

test('a webhook to a private address is not delivered unless NEXTAUTH_WEBHOOK_PRIVATE_ADDRESSES allows it', async () => {
  const strict = await startTestServer({ NEXTAUTH_WEBHOOK_RETRY_SECONDS: '1' });
  const receiver = await WebhookReceiver.start();
  try {
    const s = (await strict.api('POST', '/servers/', { body: { serverName: 'Strict' } })).body.serverid as string;
    const { webhook } = await strict.registry.webhooks.create(s, { url: receiver.url });
    assert.is((await strict.api('PUT', `/servers/${s}/`, { body: { serverName: 'x' } })).status, 200);
    await until(async () => (await strict.registry.webhooks.get(s, webhook.id)).failed >= 1, 'given up', 10_000);
    assert.is(receiver.requests, 0, 'no request reached 127.0.0.1');
    const [attempt] = await strict.registry.webhooks.attempts(s, webhook.id);
    assert.match(attempt!.error ?? '', /private address/);
  } finally {
    await strict.stop(true);
    await receiver.close();
  }
});

test.run();
