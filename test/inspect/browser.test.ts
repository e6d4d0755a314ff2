/**
 * The inspector in a real browser (Debian's chromium, headless, via playwright-core): /inspect
 * asks for the key, lists the servers' live sessions, and follows a login the SDK phone makes,
 * the highlighted state moving waiting → challenged → authenticated; a session is selected by
 * keyboard too. Screenshots go to test-artifacts/inspect-*.png.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { io, type Socket } from 'socket.io-client';
import { launchBrowser, screenshot, watchErrors } from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { newNonce, newPhone, qr } from '../helpers/peers.ts';

let ns: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let errors: string[];
let shop: string;
let blog: string;

/** The id the inspector gives the newest session of a server in `value` (asked over the socket, as the page does). */
async function newestSession(serverid: string, value: string): Promise<string> {
  const socket: Socket = io(`${ns.url}/inspect`, { transports: ['websocket'], reconnection: false, auth: { key: ns.rootKey } });
  try {
    const list = await socket.timeout(3000).emitWithAck('servers');
    const row = list.find((s: { serverid: string }) => s.serverid === serverid).sessions.find((r: { value: string }) => r.value === value);
    return row.id;
  } finally {
    socket.close();
  }
}

/** The diagram shows `state` highlighted: the node marked `current` is that state. */
async function highlighted(): Promise<string[]> {
  return page.$$eval('#diagram svg .current', (nodes) => nodes.map((n) => (n.querySelector('.nodeLabel')?.textContent ?? '').trim()));
}

async function waitForState(state: string): Promise<void> {
  await page.waitForSelector(`#diagram[data-state="${state}"] svg`, { timeout: 8000 });
  await page.waitForSelector(`#current[data-state="${state}"]`, { timeout: 2000 });
}

test.before(async () => {
  ns = await startTestServer();
  shop = (await ns.api('POST', '/servers/', { body: { serverName: 'Coffee shop' } })).body.serverid;
  blog = (await ns.api('POST', '/servers/', { body: { serverName: 'Team blog' } })).body.serverid;
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 });
  errors = watchErrors(context);
  page = await context.newPage();
});
test.after(async () => {
  await browser?.close();
  await ns?.stop(true);
});

test('the page asks for a key, refuses a bad one, and keeps a good one for the tab', async () => {
  await page.goto(`${ns.url}/inspect`);
  await page.waitForSelector('#keybox:not([hidden]) #key');
  await page.fill('#key', 'not-a-key-0123456789');
  await page.click('#keyform button');
  await page.waitForFunction(() => document.getElementById('keyerror')?.textContent === 'This api key is not known.');
  await screenshot(page, 'inspect-key');
  await page.fill('#key', ns.rootKey);
  await page.click('#keyform button');
  await page.waitForSelector('#status.live');
  assert.is(await page.evaluate(() => sessionStorage.getItem('nextauth-inspect-key')), ns.rootKey);
  // The servers are listed (no sessions yet).
  await page.waitForFunction(() => document.querySelectorAll('#servers .server').length === 2);
  assert.equal(await page.$$eval('#servers .server .name', (n) => n.map((x) => x.textContent)), ['Coffee shop', 'Team blog']);
  // A reload connects with the kept key, without asking.
  await page.reload();
  await page.waitForSelector('#status.live');
  assert.ok(await page.$('#keybox[hidden]'));
});

test('a login seen live: the highlighted state follows, the log grows', async () => {
  const phone = newPhone();
  await phone.enrol(await qr(ns, shop, newNonce(), 'enrol', '&userid=alice'));
  // Other live sessions, so the list looks like a server's: a login on the blog, one waiting.
  const other = newPhone();
  await other.enrol(await qr(ns, blog, newNonce(), 'enrol', '&userid=bob'));
  await qr(ns, blog, newNonce());

  const nonce = newNonce();
  const code = await qr(ns, shop, nonce);
  const id = await newestSession(shop, 'waiting');
  const row = `#servers li[data-id="${id}"]`;
  await page.waitForSelector(row, { timeout: 3000 });
  await page.click(row);
  await waitForState('waiting');
  assert.ok(await page.$(`${row}.selected`));
  assert.equal(await highlighted(), ['waiting']);
  assert.match((await page.textContent('#title')) ?? '', /Coffee shop/);
  await screenshot(page, 'inspect-1-waiting');

  // The phone scans, and holds at its consent screen: the session is challenged.
  let consent: () => void = () => {};
  const held = new Promise<void>((resolve) => (consent = resolve));
  const slow = newPhone({ keystore: phone.keystore, consent: async () => (await held, { accept: true, sf: 'none' }) });
  const login = slow.login(code);
  await waitForState('challenged');
  assert.equal(await highlighted(), ['challenged']);
  assert.equal(await page.$$eval('#log tr.event td.what', (n) => n.map((x) => x.textContent)).then((t) => t.slice(0, 1)), ['hello']);
  await screenshot(page, 'inspect-2-challenged');

  consent();
  const { connection } = await login;
  await waitForState('authenticated.oneShot');
  assert.equal(await highlighted(), ['oneShot']);
  // The composite state around it is marked too.
  assert.ok((await page.$$eval('#diagram svg .inside', (n) => n.length)) >= 1);
  const log = await page.$$eval('#log tr', (rows) => rows.map((r) => r.textContent ?? ''));
  assert.ok(log.length >= 8, log.join('\n'));
  assert.match(log[0]!, /verifying\s*→\s*authenticated\s*oneShot\s*on verified/);
  await page.waitForSelector(`${row} .badge.authenticated`, { timeout: 3000 });
  await screenshot(page, 'inspect-3-authenticated');

  // Logged out by the relying party: the page follows.
  assert.is((await ns.api('POST', `/servers/${shop}/sessions/logout`, { headers: { 'x-nonce': nonce } })).status, 200);
  await waitForState('loggedOut');
  assert.equal(await highlighted(), ['loggedOut']);
  // The whole machine at once.
  await page.click('#whole');
  await page.waitForSelector('#diagram.fit svg');
  const fits = await page.$eval('#diagram', (box) => {
    const svg = box.querySelector('svg')!.getBoundingClientRect();
    const b = box.getBoundingClientRect();
    return svg.height <= b.height + 1 && svg.width <= b.width + 1;
  });
  assert.ok(fits, 'the whole machine fits its pane');
  await screenshot(page, 'inspect-4-whole-machine');
  await page.click('#follow');
  connection.close();
  assert.equal(errors, [], 'no errors in the page');
});

test('the keyboard: a session row is a button that keeps the focus while the list refreshes; Enter selects it', async () => {
  await qr(ns, blog, newNonce());
  const id = await newestSession(blog, 'waiting');
  const button = `#servers li[data-id="${id}"] button`;
  await page.waitForSelector(button);
  await page.focus(button);
  await page.waitForTimeout(1200); // the list is made anew each second
  assert.is(await page.evaluate(() => document.activeElement?.closest('li')?.dataset.id), id);
  await page.keyboard.press('Enter');
  await waitForState('waiting');
  assert.ok(await page.$(`#servers li[data-id="${id}"].selected button[aria-current="true"]`));
  assert.equal(errors, [], 'no errors in the page');
});

test.run();
