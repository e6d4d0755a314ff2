/**
 * The demo at /demo in a real browser (Debian's chromium, headless, via playwright-core): the
 * phone panel (the app SDK bundled for the browser) enrols, logs in, declines and answers pushes;
 * the site next to it follows through the footer script without a reload by hand. Screenshots
 * are saved in test-artifacts/.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, BrowserContext, FrameLocator, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { launchBrowser, screenshot, watchErrors } from '../helpers/browser.ts';
import { newPhone } from '../helpers/peers.ts';

let ns: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let site: FrameLocator;
let phone: FrameLocator;
let errors: string[];
let srv: string;
const outside: string[] = [];

test.before(async () => {
  [ns, browser] = await Promise.all([startTestServer({ NEXTAUTH_DEMO: 'true', NEXTAUTH_PUSH_INTERVAL_SECONDS: '1' }), launchBrowser()]);
  srv = (await ns.registry.servers.list())[0]!.serverid;
  context = await browser.newContext({ viewport: { width: 1360, height: 960 } });
  errors = watchErrors(context);
  // The network is cut: anything not served by the NS itself fails (and is noted).
  await context.route(
    (url) => !url.href.startsWith(ns.url),
    (route) => {
      outside.push(route.request().url());
      return route.abort();
    },
  );
  page = await context.newPage();
  site = page.frameLocator('#site');
  phone = page.frameLocator('#phone');
});
test.after(async () => {
  await browser?.close();
  await ns?.stop(true);
});

const siteFrame = () => page.frame({ name: 'site' })!;
const loggedInAs = () => site.locator('#userid').textContent({ timeout: 8000 });
const loginBlock = () => site.locator('.nextauth-block.nextauth-login');

type Win = { nextAuth?: { connected(): boolean; transport(): string } };
/** The transport once the footer script is connected. */
const connectedTransport = async (frame: { waitForFunction: Page['waitForFunction'] }) =>
  (await frame.waitForFunction(() => (window as unknown as Win).nextAuth?.connected() && (window as unknown as Win).nextAuth!.transport())).jsonValue();

test('the demo loads: the site with its login and enrol blocks, the phone beside it, socket.io connected', async () => {
  await page.goto(`${ns.url}/demo`);
  await loginBlock().waitFor();
  await site.locator('.nextauth-block.nextauth-enrol').waitFor();
  await phone.locator('body[data-ready="true"]').waitFor();
  await phone.locator('button.scan[data-kind="enrol"]').waitFor();
  assert.is(await connectedTransport(siteFrame()), 'socket.io');
  // The site's own api key, kept in the data folder (0600), holds 'sessions' and 'users' on the demo server only.
  const file = path.join(ns.dataDir, 'demo-site.json');
  assert.is(statSync(file).mode & 0o777, 0o600);
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { serverid: string; apikey: string; role: string };
  assert.is(saved.serverid, srv);
  assert.equal((await ns.api('GET', `/servers/${srv}/permissions/${saved.role}`)).body.permissions, [{ role: saved.role, server: srv, acl: 'sessions,users' }]);
  const elsewhere = (await ns.api('POST', '/servers/', { body: { serverName: 'Not the demo' } })).body.serverid;
  assert.is((await ns.api('GET', `/servers/${elsewhere}/users/`, { key: saved.apikey })).status, 403);
  // The QR code is an image with a name; the page's title and landmarks are there.
  const svg = loginBlock().locator('svg.nextauth-qrcode');
  assert.is(await svg.getAttribute('role'), 'img');
  assert.match((await loginBlock().locator('svg.nextauth-qrcode title').textContent()) ?? '', 'QR code: scan it with the nextAuth demo app to log in to Demo server');
  assert.match((await loginBlock().locator('.nextauth-time').textContent()) ?? '', /^1[45]:\d\d$/);
  await screenshot(page, 'demo-1-start');
});

test('the phone enrols from the site’s enrol code: it shows the server, the browser; the site shows the userid by itself', async () => {
  await phone.locator('button.scan[data-kind="enrol"]').click();
  await phone.locator('#accept').waitFor();
  assert.is(await phone.locator('[data-field="server"]').textContent(), 'Demo server');
  assert.is(await phone.locator('[data-field="ip"]').textContent(), '127.0.0.1');
  assert.match((await phone.locator('[data-field="ua"]').textContent()) ?? '', 'HeadlessChrome');
  // The site shows progress while the phone asks.
  await site.locator('.nextauth-login[data-state="scanned"]').waitFor();
  assert.is(await loginBlock().locator('.nextauth-status').textContent(), 'Code scanned. Confirm on your phone.');
  await screenshot(page, 'demo-2-enrol-consent');
  await phone.locator('#accept').click();
  const userid = await loggedInAs();
  assert.match(userid ?? '', /^visitor-[0-9a-f]{6}$/);
  assert.is(await site.locator('#account').textContent(), '1');
  await site.locator('text=visits').waitFor();
  assert.match((await phone.locator('#accounts').textContent()) ?? '', `account 1 · user ${userid}`);
  await phone.locator('#listen-state[data-on="true"]').waitFor();
  await screenshot(page, 'demo-3-logged-in');
});

test('log out on the site; the phone logs in with the login code; decline shows as cancelled', async () => {
  await site.locator('#logout').click();
  await loginBlock().waitFor();
  await phone.locator('button.scan[data-kind="login"]').waitFor();
  // Decline first: the site says so, and waits again.
  await phone.locator('button.scan[data-kind="login"]').click();
  await phone.locator('#decline').click();
  await site.locator('.nextauth-login[data-state="cancelled"]').waitFor();
  assert.is(await loginBlock().locator('.nextauth-status').textContent(), 'Cancelled on the phone.');
  await screenshot(page, 'demo-4-cancelled');
  await phone.locator('button.scan[data-kind="login"]').click();
  await phone.locator('#accept').click();
  assert.match((await loggedInAs()) ?? '', /^visitor-/);
  assert.match((await phone.locator('#screen').textContent()) ?? '', 'Logged in to Demo server');
  // …and the phone logs the site out again.
  await phone.locator('button.logout').click();
  await loginBlock().waitFor();
});

test('push login: the button (reached by keyboard) sends a login to the listening phone; number match', async () => {
  const push = loginBlock().locator('.nextauth-push');
  await push.waitFor({ state: 'visible' });
  await push.focus();
  await page.keyboard.press('Enter');
  await site.locator('.nextauth-login[data-state="confirm"]').waitFor();
  await phone.locator('#report').waitFor();
  assert.match((await phone.locator('.consent').textContent()) ?? '', 'A login request was pushed to this phone.');
  await screenshot(page, 'demo-5-push');
  await phone.locator('#accept').click();
  await loggedInAs();

  // Number match: the browser shows two digits, the phone picks them among three.
  const r = await ns.api('PUT', `/servers/${srv}/`, { body: { serverFlags: ['numbermatch'] } });
  assert.is(r.status, 200, JSON.stringify(r.body));
  await site.locator('#logout').click();
  await page.waitForTimeout(1000); // one push per account per second (NEXTAUTH_PUSH_INTERVAL_SECONDS)
  await loginBlock().locator('.nextauth-push').click();
  const number = (await loginBlock().locator('.nextauth-number').textContent({ timeout: 8000 }))!;
  assert.match(number, /^\d\d$/);
  await phone.locator(`button.number[data-number="${number}"]`).waitFor();
  assert.is(await phone.locator('button.number').count(), 3);
  await screenshot(page, 'demo-6-number-match');
  await phone.locator(`button.number[data-number="${number}"]`).click();
  await loggedInAs();
  await ns.api('PUT', `/servers/${srv}/`, { body: { serverFlags: [] } });
});

test('add another device: the enrol block of a second session; the site sees it through the footer', async () => {
  await site.locator('#add-label').waitFor();
  await phone.locator('button.scan[data-kind="enrol"]').click();
  await phone.locator('#accept').click();
  await site.locator('.flash').waitFor({ timeout: 8000 });
  assert.match((await site.locator('.flash').textContent()) ?? '', /A new device was added: account \d+/);
  assert.is(await site.locator('#devices-label + table tbody tr').count(), 2);
  await screenshot(page, 'demo-7-two-devices');
  assert.equal(errors, []);
  assert.equal(outside, [], 'everything came from the NS');
  // The SDK alone, bundled for browsers, is there too.
  const sdk = await fetch(`${ns.url}/demo/sdk.js`);
  assert.is(sdk.status, 200);
  assert.match(await sdk.text(), 'NextAuthSdk');
});

test('a payment: the site asks, the phone shows exactly the signed fields, a PIN, approve → the site says approved', async () => {
  await site.locator('#pay').waitFor();
  await site.locator('#pay-amount').fill('EUR 1,250.00');
  await site.locator('#pay-benificiary').fill('ACME Ltd');
  await site.locator('#pay-description').fill('Invoice 42');
  await site.locator('#pay-send').click();
  await site.locator('#payment-status[data-outcome="waiting"]').waitFor();
  await phone.locator('#tx-approve').waitFor({ timeout: 8000 });
  assert.is(await phone.locator('.transaction [data-field="amount"]').textContent(), 'EUR 1,250.00');
  assert.is(await phone.locator('.transaction [data-field="benificiary"]').textContent(), 'ACME Ltd');
  assert.is(await phone.locator('.transaction [data-field="description"]').textContent(), 'Invoice 42');
  // Approve without a PIN is refused on the phone; then by keyboard: the PIN and Enter.
  await phone.locator('#tx-approve').click();
  assert.match((await phone.locator('#screen .error').textContent()) ?? '', 'PIN');
  await phone.locator('#tx-pin').focus();
  await page.keyboard.type('1234');
  await screenshot(page, 'demo-8-transaction');
  await page.keyboard.press('Enter');
  await site.locator('#payment-status[data-outcome="approved"]').waitFor({ timeout: 8000 });
  assert.match((await site.locator('#payment-status').textContent()) ?? '', 'approved');
  assert.match((await phone.locator('#screen').textContent()) ?? '', 'approved');
  // The NS kept the evidence, with the PIN as second factor.
  const tid = new URL(siteFrame().url()).searchParams.get('tid')!;
  const r = (await ns.api('GET', `/servers/${srv}/transactions/${tid}`)).body;
  assert.is(r.tstatus, '1');
  assert.is(r.sf, 'pin');
  await site.locator('#payment-status').scrollIntoViewIfNeeded();
  await screenshot(page, 'demo-9-approved');
  // Another visitor cannot read this payment through the site.
  assert.is((await fetch(`${ns.url}/demo/site/pay/${tid}`)).status, 404);
  assert.equal(errors, []);
});

test('on a phone-sized screen with a phone’s browser: the app link first, the QR code on request, all readable', async () => {
  const mobile = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Mobile Safari/537.36',
  });
  const p = await mobile.newPage();
  await p.goto(`${ns.url}/demo/site`);
  const block = p.locator('.nextauth-block.nextauth-login');
  await block.locator('.nextauth-applink').waitFor({ state: 'visible' });
  assert.is(await block.locator('.nextauth-qr').isVisible(), false);
  assert.match((await block.locator('.nextauth-applink').getAttribute('href')) ?? '', /^nextauth:\?qr=[A-Za-z0-9_-]+$/);
  // Nothing is wider than the screen.
  assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
  await screenshot(p, 'mobile-1-app-link');
  await block.locator('.nextauth-showqr').click();
  await block.locator('.nextauth-qr').waitFor({ state: 'visible' });
  await screenshot(p, 'mobile-2-qr-shown');
  await mobile.close();
});

test('no socket.io client (blocked): the footer falls back to the text socket and still follows the login', async () => {
  const ctx = await browser.newContext();
  await ctx.route('**/ns/socket.io.min.js*', (route) => route.abort());
  const p = await ctx.newPage();
  await p.goto(`${ns.url}/demo/site`);
  assert.is(await connectedTransport(p), 'text');
  // A phone in Node enrols with the app link of the page's enrol block.
  const link = await p.locator('.nextauth-block.nextauth-enrol').getAttribute('data-link');
  const nodePhone = newPhone();
  await nodePhone.enrol(link!);
  await p.locator('#userid').waitFor({ timeout: 8000 });
  await ctx.close();
});

test('after a restart the demo keeps its server and its key (no new role), and serves its pages', async () => {
  const file = path.join(ns.dataDir, 'demo-site.json');
  const before = readFileSync(file, 'utf8');
  const roles = Object.keys(JSON.parse(ns.store.dump()).roles).length;
  ns = await ns.restart();
  assert.is(readFileSync(file, 'utf8'), before);
  assert.is(Object.keys(JSON.parse(ns.store.dump()).roles).length, roles);
  const r = await fetch(`${ns.url}/demo/site`);
  assert.is(r.status, 200);
  assert.match(await r.text(), `data-srv="${srv}"`);
  for (const url of ['/demo', '/demo/phone', '/demo/phone.js', '/demo/demo.css']) assert.is((await fetch(ns.url + url)).status, 200, url);
});

test.run();
