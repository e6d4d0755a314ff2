/**
 * @nextauth/browser's ES module, as built, in Chromium: a relying party's page that loads no
 * footer HTML but imports `startNextAuth` itself (`<script type="module">`) brings the NS's
 * login block to life — it watches the block's session, the phone's login reaches the page's
 * callback (no reload), a second call gives the same `window.nextAuth`.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { ensurePackagesBuild } from '../../scripts/build.ts';
import { launchBrowser, watchErrors } from '../helpers/browser.ts';
import { ROOT } from '../helpers/child.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { newNonce, newPhone, qr } from '../helpers/peers.ts';

let ns: TestServer;
let browser: Browser;
let srv: string;
const phone = newPhone();
let html = '';

/** The relying party: its page, and the package's module as a bundler would ship it. */
const rp = createServer((req, res) => {
  if (req.url === '/nextauth-browser.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(readFileSync(path.join(ROOT, 'packages/browser/dist/index.js')));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
});

test.before(async () => {
  ensurePackagesBuild();
  [ns, browser] = await Promise.all([startTestServer(), launchBrowser(), new Promise<void>((r) => rp.listen(0, '127.0.0.1', r))]);
  srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Module Shop' } })).body.serverid;
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=carol'));
});
test.after(async () => {
  await browser?.close();
  await ns?.stop(true);
  rp.close();
});

type Win = { logins: Array<{ event: string; loggedin: boolean; hsid: string }>; same: boolean; nextAuth: { connected(): boolean; transport(): string } };

test('startNextAuth from the ES module: the block watched, the login to the callback, once per page', async () => {
  const nonce = newNonce();
  const block = String((await ns.api('GET', `/servers/${srv}/sessions/html/login`, { headers: { 'x-nonce': nonce } })).body);
  html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Module Shop</title><link rel="icon" href="data:,"></head><body><main>${block}</main>
<script type="module">
import { startNextAuth } from '/nextauth-browser.js';
window.logins = [];
const api = startNextAuth({ ns: ${JSON.stringify(ns.url)}, callback: (d) => window.logins.push(d) });
window.same = startNextAuth({ ns: 'http://elsewhere.invalid' }) === api && window.nextAuth === api;
</script></body></html>`;
  const context = await browser.newContext();
  const errors = watchErrors(context);
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${(rp.address() as AddressInfo).port}/`);
  await page.waitForFunction(() => (window as unknown as Win).nextAuth?.connected());
  assert.is(await page.evaluate(() => (window as unknown as Win).same), true);
  assert.is(await page.evaluate(() => (window as unknown as Win).nextAuth.transport()), 'socket.io');

  const { connection } = await phone.login((await page.locator('.nextauth-block').getAttribute('data-link'))!);
  await page.waitForFunction(() => (window as unknown as Win).logins.length === 1);
  const [login] = await page.evaluate(() => (window as unknown as Win).logins);
  assert.equal([login!.event, login!.loggedin, login!.hsid], ['login', true, await page.locator('.nextauth-block').getAttribute('data-hsid')]);
  await page.locator('.nextauth-block[data-state="loggedin"]').waitFor();
  assert.equal(errors, []);
  connection.close();
  await context.close();
});

test.run();
