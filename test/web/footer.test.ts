/**
 * The footer script on a relying party's page of its own (not the demo, and on another origin
 * than the NS, as on a real site), in a real browser: it
 * watches several sessions (X-nonce's and the footer body's), calls the page's callback instead
 * of reloading, lets a `nextauth` DOM event listener keep the page, logs out from the block.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { launchBrowser, screenshot, watchErrors } from '../helpers/browser.ts';
import { getSession, newNonce, newPhone, qr } from '../helpers/peers.ts';

let ns: TestServer;
let browser: Browser;
let srv: string;
const phone = newPhone();

test.before(async () => {
  [ns, browser] = await Promise.all([startTestServer(), launchBrowser(), new Promise<void>((r) => rp.listen(0, '127.0.0.1', r))]);
  srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Corner Shop', appname: 'Shop Key' } })).body.serverid;
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
});
test.after(async () => {
  await browser?.close();
  await ns?.stop(true);
  rp.close();
});

interface Detail {
  srv: string;
  hsid: string;
  event: string;
  loggedin: boolean;
  changed: boolean;
}
type Win = { rp: { calls: Detail[]; events: Detail[] }; marker?: number; nextAuth: { connected(): boolean; sessions(): Array<{ hsid: string }> } };

/** The relying party's web server: another origin than the NS, serving the page its backend made. */
let rpHtml = '';
const rp = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(rpHtml);
});

async function rpPage(body: string): Promise<Page> {
  rpHtml = body;
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = watchErrors(context);
  await page.goto(`http://127.0.0.1:${(rp.address() as AddressInfo).port}/`);
  await page.evaluate(() => ((window as unknown as Win).marker = 1));
  await page.waitForFunction(() => (window as unknown as Win).nextAuth.connected());
  Object.assign(page, { errors });
  return page;
}

const html = (inner: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Corner Shop</title><link rel="icon" href="data:,"></head><body><main>
<script>window.rp = { calls: [], events: [], onChange: function (d) { window.rp.calls.push(d); } };
document.addEventListener('nextauth', function (e) { window.rp.events.push(e.detail); if (window.rp.keep) e.preventDefault(); });</script>
${inner}</main></body></html>`;

test('a callback instead of a reload; two sessions watched; log out from the block; the push button after', async () => {
  const nonce = newNonce();
  const second = newNonce();
  const block = String((await ns.api('GET', `/servers/${srv}/sessions/html/login`, { headers: { 'x-nonce': nonce } })).body);
  const footer = String(
    (
      await ns.api('POST', `/servers/${srv}/sessions/html/footer?callback=rp.onChange`, {
        headers: { 'x-nonce': nonce },
        body: { sessions: [{ serverid: srv, sessionid: Buffer.from(second).toString('base64') }] },
      })
    ).body,
  );
  const page = await rpPage(html(block + footer));
  const hsid = (await getSession(ns, srv, nonce)).hsid;
  const hsid2 = (await getSession(ns, srv, second)).hsid;
  assert.equal(
    (await page.evaluate(() => (window as unknown as Win).nextAuth.sessions())).map((s) => s.hsid),
    [hsid, hsid2],
  );
  assert.is(await page.evaluate(() => (window as unknown as { nextAuth: { transport(): string } }).nextAuth.transport()), 'socket.io', 'socket.io across origins');

  const link = await page.locator('.nextauth-block').getAttribute('data-link');
  const { connection } = await phone.login(link!);
  await page.waitForFunction(() => (window as unknown as Win).rp.calls.length === 1);
  let calls = await page.evaluate(() => (window as unknown as Win).rp.calls);
  assert.equal(
    calls.map((c) => [c.hsid, c.event, c.loggedin, c.changed]),
    [[hsid, 'login', true, true]],
  );
  assert.is(await page.evaluate(() => (window as unknown as Win).marker), 1, 'no reload');
  // The block shows the login, with a logout button (keyboard reachable).
  await page.locator('.nextauth-block[data-state="loggedin"]').waitFor();
  assert.is(await page.locator('.nextauth-status').textContent(), 'You are logged in.');
  await screenshot(page, 'footer-1-logged-in');
  await page.locator('.nextauth-logout').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => (window as unknown as Win).rp.calls.length === 2);
  assert.is((await getSession(ns, srv, nonce)).state, 'loggedOut');
  await page.locator('.nextauth-block[data-state="waiting"] .nextauth-push:not([hidden])').waitFor();

  // The second session, watched through the footer body.
  const other = await phone.login(await qr(ns, srv, second), { connection });
  await page.waitForFunction(() => (window as unknown as Win).rp.calls.length === 3);
  calls = await page.evaluate(() => (window as unknown as Win).rp.calls);
  assert.equal(
    calls.slice(1).map((c) => [c.hsid, c.event, c.changed]),
    [
      [hsid, 'logout', true],
      [hsid2, 'login', true],
    ],
  );
  // Every notice is also a DOM event, the scan included.
  const events = await page.evaluate(() => (window as unknown as Win).rp.events.map((e) => e.event));
  assert.ok(events.includes('confirmscan'), events.join());
  assert.equal((page as unknown as { errors: string[] }).errors, []);
  other.connection.close();
  await page.context().close();
});

test('without a callback, a `nextauth` listener that calls preventDefault() keeps the page; without one it reloads', async () => {
  const nonce = newNonce();
  const block = String((await ns.api('GET', `/servers/${srv}/sessions/html/login`, { headers: { 'x-nonce': nonce } })).body);
  const footer = String((await ns.api('GET', `/servers/${srv}/sessions/html/footer`, { headers: { 'x-nonce': nonce } })).body);
  const page = await rpPage(html(block + footer));
  await page.evaluate(() => ((window as unknown as Win & { rp: { keep: boolean } }).rp.keep = true));
  const { connection } = await phone.login((await page.locator('.nextauth-block').getAttribute('data-link'))!);
  await page.locator('.nextauth-block[data-state="loggedin"]').waitFor();
  assert.is(await page.evaluate(() => (window as unknown as Win).marker), 1, 'kept');
  // Now let it reload: the logout reloads the page (the marker is gone).
  await page.evaluate(() => ((window as unknown as Win & { rp: { keep: boolean } }).rp.keep = false));
  const reloaded = page.waitForEvent('load');
  await ns.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } });
  await reloaded;
  assert.is(await page.evaluate(() => (window as unknown as Win).marker), undefined);
  connection.close();
  await page.context().close();
});

test.run();
