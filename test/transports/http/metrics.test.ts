/**
 * GET /metrics as an operator graphs it: logins and enrolments per server, refusals by code and
 * channel, proof→LOGIN and REST latency histograms, live sessions by state, open sockets by
 * channel, pushes by result, store write latency; counters are counters and end in `_total`.
 * And docs/grafana-dashboard.json graphs only metrics the server has.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Frame } from '../../../src/sdk/app.ts';
import { ROOT } from '../../helpers/child.ts';
import { startTestServer, type TestServer } from '../../helpers/ns.ts';
import { getSession, newNonce, newPhone, qr, TextBrowser, until } from '../../helpers/peers.ts';

/** The samples of /metrics: `name{labels}` → value, and each metric's type. */
async function scrape(ns: TestServer): Promise<{ value: (name: string, labels?: Record<string, string>) => number; types: Map<string, string>; text: string }> {
  const r = await ns.api('GET', '/metrics', { key: null });
  assert.is(r.status, 200);
  const text = String(r.body);
  const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  const value = (name: string, labels: Record<string, string> = {}) => {
    const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    let sum = 0;
    for (const m of text.matchAll(/^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/gm)) {
      if (m[1] !== name) continue;
      const have = (m[2] ?? '').split(',');
      if (want.every((w) => have.includes(w))) sum += Number(m[3]);
    }
    return sum;
  };
  return { value, types, text };
}

let ns: TestServer;
test.before(async () => {
  ns = await startTestServer();
});
test.after(() => ns.stop(true));

test('a login, an enrolment, a push and a refused push, counted as they happened; sockets open by channel; latencies observed', async () => {
  const srv: string = (await ns.api('POST', '/servers/', { body: { serverName: 'Metered' } })).body.serverid;
  const before = await scrape(ns);
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  const nonce = newNonce();
  const { hsid } = await getSession(ns, srv, nonce);
  const browser = await TextBrowser.open(ns);
  browser.send(`REGISTER ${hsid} ${srv}`);
  const { connection } = await phone.login(await qr(ns, srv, nonce));
  await browser.waitFor('LOGIN', hsid);

  let now = await scrape(ns);
  assert.is(now.value('nextauth_enrolments_total', { server: srv }), 1);
  assert.is(now.value('nextauth_logins_total', { server: srv }), 2, 'the enrolment logged its session in, and the QR login');
  assert.ok(now.value('nextauth_proof_to_login_seconds_count') >= before.value('nextauth_proof_to_login_seconds_count') + 2);
  assert.is(now.value('nextauth_sockets_open', { channel: 'browser' }), 1);
  assert.is(now.value('nextauth_sockets_open', { channel: 'app' }), 1, 'the login connection (the enrolment closed its own)');
  assert.is(now.value('nextauth_sessions_live', { state: 'authenticated' }), 2);
  assert.ok(now.value('nextauth_store_write_seconds_count') > before.value('nextauth_store_write_seconds_count'), 'store writes timed');
  assert.ok(now.value('nextauth_http_request_duration_seconds_count') > before.value('nextauth_http_request_duration_seconds_count'));

  // A push to a listening phone, then one too soon after it (one per 10 s): sent, denied.
  connection.close();
  const { connection: listening } = await phone.listen(srv);
  const pushes: Frame[] = [];
  listening.on('push', (f) => pushes.push(f));
  assert.is((await ns.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } })).status, 200);
  assert.is((await ns.api('POST', `/servers/${srv}/sessions/provokelogin`, { headers: { 'x-nonce': nonce } })).status, 200);
  await until(() => pushes.length === 1, 'the push');
  assert.is((await ns.api('POST', `/servers/${srv}/sessions/provokelogin`, { headers: { 'x-nonce': nonce } })).status, 429);
  now = await scrape(ns);
  assert.is(now.value('nextauth_pushes_total', { result: 'sent' }), 1);
  assert.is(now.value('nextauth_pushes_total', { result: 'denied' }), 1);
  assert.is(now.value('nextauth_refusals_total', { code: 'RATE_LIMITED', channel: 'rest' }), 1);
  listening.close();
  browser.close();
  await until(async () => (await scrape(ns)).value('nextauth_sockets_open') === 0, 'every socket closed, none counted');
});

test('counters are counters and end in _total; nothing else does', async () => {
  const { types } = await scrape(ns);
  const ours = [...types].filter(([name]) => name.startsWith('nextauth_'));
  assert.ok(ours.length >= 12, ours.map(([n]) => n).join(', '));
  for (const [name, type] of ours) assert.is(type === 'counter', name.endsWith('_total'), `${name} is a ${type}`);
});

test('docs/grafana-dashboard.json: every metric it graphs is served, every panel has a query', async () => {
  const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'docs', 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
  const { types } = await scrape(ns);
  const served = (name: string) => types.has(name) || types.has(name.replace(/_(bucket|count|sum)$/, ''));
  assert.ok(dashboard.panels.length >= 8);
  for (const panel of dashboard.panels) {
    assert.ok(panel.targets?.length, `${panel.title} has a query`);
    for (const { expr } of panel.targets!) {
      const names = [...expr.matchAll(/\b(nextauth_[a-z_]+)/g)].map((m) => m[1]!);
      assert.ok(names.length > 0, `${panel.title}: ${expr}`);
      for (const name of names) assert.ok(served(name), `${panel.title}: ${name} is not in /metrics`);
    }
  }
});

test.run();
