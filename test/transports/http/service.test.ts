import { renameSync } from 'node:fs';
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
  assert.is(doc.body.openapi, '3.1.0');
  assert.ok(doc.body.paths['/servers/'].post.operationId === 'createServer');
  assert.ok(doc.body['x-additions'].length > 0);
});

test('readyz: the embedded store and the in-memory sessions are ready, no key needed', async () => {
  const ready = await ns.api('GET', '/readyz', { key: null });
  assert.is(ready.status, 200);
  assert.equal(ready.body, { ready: true, checks: { store: 'ok', sessions: 'ok' } });
});

test('readyz: 503 STORAGE_UNAVAILABLE while the data folder is gone, 200 once it is back; healthz stays 200', async () => {
  const away = `${ns.dataDir}.away`;
  renameSync(ns.dataDir, away);
  try {
    const down = await ns.api('GET', '/readyz', { key: null });
    assert.is(down.status, 503);
    assert.is(down.body.code, 'STORAGE_UNAVAILABLE');
    assert.is(down.body.ready, false);
    assert.match(down.body.checks.store, 'cannot be written');
    assert.is(down.body.checks.sessions, 'ok');
    assert.match(down.body.message, /^Not ready: store: /);
    assert.is((await ns.api('GET', '/healthz', { key: null })).status, 200, 'alive all the same');
  } finally {
    renameSync(away, ns.dataDir);
  }
  assert.is((await ns.api('GET', '/readyz', { key: null })).status, 200);
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
