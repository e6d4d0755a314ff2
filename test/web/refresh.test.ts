/**
 * The login block's countdown in a real browser, with a 4-second idle limit: before the code goes
 * stale the footer script fetches the page again and swaps in fresh blocks (the NS restarts the
 * session's idle limit whenever it makes a block), so a code shown for longer than the limit
 * still logs in; when the fetch fails, the block says the code expired and offers a new one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { launchBrowser, screenshot, watchErrors } from '../helpers/browser.ts';
import { newPhone } from '../helpers/peers.ts';

let ns: TestServer;
let browser: Browser;

test.before(async () => {
  [ns, browser] = await Promise.all([startTestServer({ NEXTAUTH_DEMO: 'true', NEXTAUTH_IDLE_SECONDS: '4' }), launchBrowser()]);
});
test.after(async () => {
  await browser?.close();
  await ns?.stop(true);
});

type Win = { nextAuth: { refreshed(): number; connected(): boolean } };

test('the QR code is refreshed before it goes stale, and still logs in after the first expiry', async () => {
  const context = await browser.newContext();
  const errors = watchErrors(context);
  const page = await context.newPage();
  await page.goto(`${ns.url}/demo/site`);
  const block = page.locator('.nextauth-block.nextauth-login');
  const firstExpiry = Number(await block.getAttribute('data-expires'));
  const hsid = await block.getAttribute('data-hsid');
  assert.match((await block.locator('.nextauth-time').textContent()) ?? '', /^0:0[34]$/);
  await page.waitForFunction(() => (window as unknown as Win).nextAuth.refreshed() >= 2, undefined, { timeout: 6000 });
  // Both blocks were swapped for fresh ones of the same session, with a later expiry.
  const fresh = page.locator('.nextauth-block.nextauth-login');
  assert.is(await fresh.getAttribute('data-hsid'), hsid);
  assert.ok(Number(await fresh.getAttribute('data-expires')) > firstExpiry);
  // Past the first expiry the session is still there, and the enrol code in the page works.
  await page.waitForTimeout(Math.max(0, firstExpiry - Date.now() + 300));
  assert.ok(await ns.hub.snapshot((await ns.registry.servers.list())[0]!.serverid, hsid!), 'the session lives on');
  assert.is(await fresh.getAttribute('data-state'), 'waiting');
  await screenshot(page, 'refresh-1-fresh-code');
  const link = await page.locator('.nextauth-block.nextauth-enrol').getAttribute('data-link');
  await newPhone().enrol(link!);
  await page.locator('#userid').waitFor({ timeout: 8000 });
  assert.equal(errors, []);
  await context.close();
});

test('when the page cannot be fetched again, the code goes stale; "Get a new code" brings a fresh one', async () => {
  const context = await browser.newContext();
  let failRefresh = true;
  await context.route('**/demo/site', (route) => (failRefresh && route.request().headers()['x-nextauth-refresh'] ? route.abort() : route.continue()));
  const page = await context.newPage();
  await page.goto(`${ns.url}/demo/site`);
  const block = page.locator('.nextauth-block.nextauth-login');
  await page.locator('.nextauth-block.nextauth-login[data-state="stale"]').waitFor({ timeout: 8000 });
  assert.is(await block.locator('.nextauth-status').textContent(), 'This code has expired.');
  assert.is(await block.locator('.nextauth-time').textContent(), '0:00');
  const button = block.locator('.nextauth-refresh');
  assert.ok(await button.isVisible());
  await screenshot(page, 'refresh-2-stale');
  failRefresh = false;
  await button.focus();
  await page.keyboard.press('Enter');
  await page.locator('.nextauth-block.nextauth-login[data-state="waiting"]').waitFor();
  // The keyboard user's focus stays in the fresh block.
  assert.is(await page.evaluate(() => document.activeElement?.closest('.nextauth-block')?.getAttribute('data-nextauth')), 'login');
  assert.ok(Number(await page.locator('.nextauth-block.nextauth-login').getAttribute('data-expires')) > Date.now());
  // The session had expired; the fresh block made it again, so the code works.
  const link = await page.locator('.nextauth-block.nextauth-enrol').getAttribute('data-link');
  await newPhone().enrol(link!);
  await page.locator('#userid').waitFor({ timeout: 8000 });
  await context.close();
});

test('the NS restarts: both channels (socket.io, and the text socket) reconnect, fetch fresh blocks, and the login goes through', async () => {
  const io = await browser.newContext();
  const text = await browser.newContext();
  await text.route('**/ns/socket.io.min.js*', (route) => route.abort());
  const pages = [await io.newPage(), await text.newPage()];
  for (const page of pages) {
    await page.goto(`${ns.url}/demo/site`);
    await page.waitForFunction(() => (window as unknown as Win).nextAuth.connected());
  }
  assert.equal(await Promise.all(pages.map((p) => p.evaluate(() => (window as unknown as { nextAuth: { transport(): string } }).nextAuth.transport()))), ['socket.io', 'text']);
  const before = await Promise.all(pages.map((p) => p.evaluate(() => (window as unknown as Win).nextAuth.refreshed())));
  // Same port, same data folder: waiting sessions do not survive the restart.
  await ns.stop();
  ns = await startTestServer({ NEXTAUTH_DEMO: 'true', NEXTAUTH_IDLE_SECONDS: '4', NEXTAUTH_PORT: String(ns.port) }, ns.dataDir);
  for (const [i, page] of pages.entries()) {
    await page.waitForFunction((n) => (window as unknown as Win).nextAuth.connected() && (window as unknown as Win).nextAuth.refreshed() > n, before[i], { timeout: 10_000 });
  }
  for (const page of pages) {
    const link = await page.locator('.nextauth-block.nextauth-enrol').getAttribute('data-link');
    await newPhone().enrol(link!);
    await page.locator('#userid').waitFor({ timeout: 8000 });
  }
  await io.close();
  await text.close();
});

test.run();
