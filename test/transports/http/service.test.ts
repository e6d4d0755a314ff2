import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../../helpers/ns.ts';

let ns: TestServer;
test.before(async () => {
  ns = await startTestServer();
});
test.after(() => ns.stop(true));

test('healthz, metrics and openapi need no key', async () => {
  const health = await ns.api('GET', '/healthz', { key: null });
  assert.is(health.status, 200);
  assert.is(health.body.status, 'ok');
  const metrics = await ns.api('GET', '/metrics', { key: null });
  assert.is(metrics.status, 200);
  assert.match(String(metrics.body), 'nextauth_http_requests_total');
  const doc = await ns.api('GET', '/openapi.json', { key: null });
  assert.is(doc.status, 200);
  assert.is(doc.body.openapi, '3.0.3');
  assert.ok(doc.body.paths['/servers/'].post.operationId === 'createServer');
  assert.ok(doc.body['x-additions'].length > 0);
});

test('a missing or unknown key is 401, an unknown route 404, both as {code, message}', async () => {
  const none = await ns.api('GET', '/servers/', { key: null });
  assert.is(none.status, 401);
  assert.is(none.body.code, 'MISSING_API_KEY');
  const wrong = await ns.api('GET', '/servers/', { key: 'nope-nope-nope-nope' });
  assert.is(wrong.status, 401);
  assert.is(wrong.body.code, 'UNKNOWN_API_KEY');
  const lost = await ns.api('GET', '/no/such/route');
  assert.is(lost.status, 404);
  assert.is(lost.body.code, 'NOT_FOUND');
});

test.run();
