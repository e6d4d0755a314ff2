/**
 * The inspector fits a laptop's screen (1280 px) and a phone's (390 px): with a session selected,
 * so the list, the diagram and the event log all show, the page scrolls only down, and no element
 * reaches past the viewport's edges (what a pane scrolls inside itself, the diagram or the log's
 * rows, is the pane's business). Screenshots: test-artifacts/inspect-layout-*.png.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { launchBrowser, screenshot, watchErrors } from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { newNonce, newPhone, qr } from '../helpers/peers.ts';

let ns: TestServer;
let browser: Browser;
let connection: { close(): void };

test.before(async () => {
  [ns, browser] = await Promise.all([startTestServer(), launchBrowser()]);
  const shop = (await ns.api('POST', '/servers/', { body: { serverName: 'The Coffee Shop on the Corner of Main Street' } })).body.serverid;
  const blog = (await ns.api('POST', '/servers/', { body: { serverName: 'Team blog' } })).body.serverid;
  // Sessions as a server has them: one logged in (the one looked at), others waiting.
  const phone = newPhone();
  await phone.enrol(await qr(ns, shop, newNonce(), 'enrol', '&userid=alice'));
  ({ connection } = await phone.login(await qr(ns, shop, newNonce())));
  await qr(ns, shop, newNonce());
  await qr(ns, blog, newNonce());
});
test.after(async () => {
  connection?.close();
  await browser?.close();
  await ns?.stop(true);
});

/** What reaches past the viewport's sides (`width` px), unless a scrolling or clipping pane holds it. */
const overflowing = (width: number) =>
  Array.from(document.querySelectorAll<HTMLElement>('body *'))
    .filter((el) => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) if (getComputedStyle(p).overflowX !== 'visible') return false;
      const r = el.getBoundingClientRect();
      return r.width > 0 && (r.left < -1 || r.right > width + 1);
    })
    .map((el) => {
      const r = el.getBoundingClientRect();
      return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.trim().replace(/\s+/g, '.')}` : ''} [${Math.round(r.left)}, ${Math.round(r.right)}]`;
    });

for (const [width, height] of [
  [1280, 800],
  [390, 844],
] as const) {
  test(`${width} px wide: no horizontal overflow with a session's diagram and log showing; in both diagram modes`, async () => {
    const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: width < 600 ? 2 : 1, ...(width < 600 ? { isMobile: true, hasTouch: true } : {}) });
    const errors = watchErrors(context);
    const page = await context.newPage();
    await page.goto(`${ns.url}/inspect`);
    await page.waitForSelector('#keybox:not([hidden]) #key');
    // On a phone (isMobile) a page wider than the screen widens the layout viewport (innerWidth)
    // and is shown zoomed out: so the widths are held to the screen's.
    const fits = async (what: string) => {
      const seen = await page.evaluate(() => ({ scroll: document.scrollingElement!.scrollWidth, inner: window.innerWidth }));
      assert.ok(seen.scroll <= width && seen.inner === width, `${what}: the page is wider than the screen (${seen.scroll}, ${seen.inner} > ${width})`);
      assert.equal(await page.evaluate(overflowing, width), [], what);
    };
    await fits('the key form');
    await screenshot(page, `inspect-layout-${width}-0-key`);
    await page.fill('#key', ns.rootKey);
    await page.click('#keyform button');
    await page.waitForSelector('#status.live');
    const row = '#servers li[data-state^="authenticated"]';
    await page.waitForSelector(row);
    await page.click(row);
    await page.waitForSelector('#diagram[data-state^="authenticated"] svg', { timeout: 8000 });
    await page.waitForSelector('#log tr');
    await page.waitForTimeout(300); // the diagram scrolls to the current state
    await fits('a session, following its state');
    await screenshot(page, `inspect-layout-${width}-1-session`);
    await page.click('#whole');
    await page.waitForSelector('#diagram.fit svg');
    await fits('the whole machine');
    await screenshot(page, `inspect-layout-${width}-2-whole`);
    assert.equal(errors, []);
    await context.close();
  });
}

test.run();
