/**
 * `verifyWebhook` as @nextauth/node gives it to receivers (src/rp/index.ts): a delivery signed
 * by the server's signer verifies with its secret, also while a rotated secret signs beside the
 * new one; a changed body, id or timestamp, another secret, a missing header or an old or
 * future timestamp throws WebhookVerificationError. Checked against a signature made by hand
 * as Standard Webhooks define it, so the two sides cannot agree on a mistake.
 */
import { createHmac } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { newWebhookSecret, signWebhook } from '../../src/core/events/sign-webhook.ts';
import { verifyWebhook, WebhookVerificationError } from '../../src/rp/index.ts';

const now = Date.UTC(2026, 4, 1, 12);
const ts = Math.floor(now / 1000);
const body = JSON.stringify({ specversion: '1.0', id: 'evt_1', type: 'com.nextauth.session.login', data: { serverid: 's' } });

const fails = (fn: () => void, why: RegExp) => {
  try {
    fn();
    assert.unreachable('verified');
  } catch (e) {
    assert.instance(e, WebhookVerificationError);
    assert.match((e as Error).message, why);
  }
};

test('the Standard Webhooks signature, made by hand, verifies', () => {
  const key = Buffer.alloc(32, 9);
  const secret = `whsec_${key.toString('base64')}`;
  const signature = `v1,${createHmac('sha256', key).update(`evt_1.${ts}.${body}`).digest('base64')}`;
  verifyWebhook(secret, { 'webhook-id': 'evt_1', 'webhook-timestamp': String(ts), 'webhook-signature': signature }, body, { now });
  // Node's headers may repeat: the first counts.
  verifyWebhook(secret, { 'webhook-id': ['evt_1'], 'webhook-timestamp': [String(ts)], 'webhook-signature': [signature] }, body, { now });
  assert.equal(signWebhook([secret], 'evt_1', ts, body), { 'webhook-id': 'evt_1', 'webhook-timestamp': String(ts), 'webhook-signature': signature });
});

test('after a rotation both secrets sign: either verifies', () => {
  const [fresh, old] = [newWebhookSecret(), newWebhookSecret()];
  const headers = signWebhook([fresh, old], 'evt_2', ts, body);
  assert.is(headers['webhook-signature']!.split(' ').length, 2);
  verifyWebhook(fresh, headers, body, { now });
  verifyWebhook(old, headers, body, { now });
  fails(() => verifyWebhook(newWebhookSecret(), headers, body, { now }), /no signature matches/);
});

test("Fetch's Headers (Next.js, Hono, workers) verify too, and their names are case-insensitive", () => {
  const secret = newWebhookSecret();
  const signed = signWebhook([secret], 'evt_5', ts, body);
  verifyWebhook(secret, new Headers(signed), body, { now });
  verifyWebhook(secret, new Headers(Object.entries(signed).map(([k, v]): [string, string] => [k.toUpperCase(), v])), body, { now });
  const missing = new Headers(signed);
  missing.delete('webhook-signature');
  fails(() => verifyWebhook(secret, missing, body, { now }), /missing/);
  fails(() => verifyWebhook(newWebhookSecret(), new Headers(signed), body, { now }), /no signature matches/);
});

test('tampered, missing or stale: WebhookVerificationError', () => {
  const secret = newWebhookSecret();
  const headers = signWebhook([secret], 'evt_3', ts, body);
  fails(() => verifyWebhook(secret, headers, `${body} `, { now }), /no signature matches/);
  fails(() => verifyWebhook(secret, { ...headers, 'webhook-id': 'evt_4' }, body, { now }), /no signature matches/);
  fails(() => verifyWebhook(secret, { ...headers, 'webhook-timestamp': String(ts + 1) }, body, { now }), /no signature matches/);
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    fails(() => verifyWebhook(secret, { ...headers, [name]: undefined }, body, { now }), /missing/);
  }
  fails(() => verifyWebhook(secret, headers, body, { now: now + 301_000 }), /too old or too new/);
  fails(() => verifyWebhook(secret, headers, body, { now: now - 301_000 }), /too old or too new/);
  verifyWebhook(secret, headers, body, { now: now + 600_000, toleranceSeconds: 900 });
  fails(() => verifyWebhook(secret, { ...headers, 'webhook-timestamp': '1e9' }, body, { now }), /too old or too new/);
});

test.run();
