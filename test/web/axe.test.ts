/**
 * axe-core finds nothing on any page the NS serves, in Chromium, in each state a person meets:
 * the demo (its two panes, the site and the phone through an enrol, a payment, a push, a decline;
 * the page without a demo server), the HTML blocks on a relying party's page of its own (German,
 * with a logo and app store links, every tone of the status line, logged in, on a phone), and the
 * inspector (the key form, a refused key, a session with its diagram and event log, the whole
 * machine). axe runs with its default rules (WCAG 2.x A and AA, and its best practices); each page
 * or frame is checked alone, its violations printed one element a line.
 */
import { createServer } from 'node:http';
import * as oidc from 'openid-client';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Frame, Page } from 'playwright-core';
import { noServerPage } from '../../src/web/demo.ts';
import { launchBrowser, screenshot, watchErrors } from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { newNonce, newPhone, qr } from '../helpers/peers.ts';

const AXE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules', 'axe-core', 'axe.min.js');

let ns: TestServer;
let browser: Browser;

/** The relying party's web server: another origin than the NS, serving the page its backend made. */
let rpHtml = '';
const rp = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(rpHtml);
});

test.before(async () => {
  [ns, browser] = await Promise.all([
    startTestServer({ NEXTAUTH_DEMO: 'true', NEXTAUTH_PUSH_INTERVAL_SECONDS: '1' }),
    launchBrowser(),
    new Promise<void>((r) => rp.listen(0, '127.0.0.1', r)),
  ]);
});
test.after(async () => {
  await browser?.close();
  await ns?.stop(true);
  rp.close();
});

interface AxeResult {
  violations: Array<{ id: string; impact: string | null; help: string; helpUrl: string; nodes: Array<{ target: unknown[]; failureSummary?: string; html: string }> }>;
}

/**
 * What axe finds wrong in `target` (its own document only: frames are checked alone), one line
 * per element. No preload: axe would fetch the blocks' stylesheet again from the relying party's
 * origin, which CORS refuses (and the page logs as an error).
 */
async function axe(target: Page | Frame, what: string): Promise<string[]> {
  if (!(await target.evaluate(() => 'axe' in window))) await target.addScriptTag({ path: AXE });
  const result = (await target.evaluate(() =>
    (window as unknown as { axe: { run(ctx: Document, o: object): Promise<unknown> } }).axe.run(document, { resultTypes: ['violations'], iframes: false, preload: false }),
  )) as AxeResult;
  return result.violations.flatMap((v) =>
    v.nodes.map(
      (n) =>
        `${what}: ${v.id} (${v.impact}) ${v.help}\n    at ${n.target.map(String).join(' ')}: ${n.html.slice(0, 160)}\n    ${(n.failureSummary ?? '').replace(/\n\s*/g, ' · ')}`,
    ),
  );
}

/** Fails with every violation found, readably. */
function assertNone(found: string[]): void {
  if (found.length) console.log(`axe found ${found.length} violations:\n${found.join('\n')}`);
  assert.is(found.length, 0, 'axe found violations (listed above)');
}

test('the demo: both panes and the frame page, through an enrol, a payment, a push and a decline; the page without a demo server', async () => {
  const context = await browser.newContext({ viewport: { width: 1360, height: 960 } });
  const errors = watchErrors(context);
  const page = await context.newPage();
  const found: string[] = [];
  await page.goto(`${ns.url}/demo`);
  const site = page.frame({ name: 'site' })!;
  const phone = page.frame({ name: 'phone' })!;
  const siteLoc = page.frameLocator('#site');
  const phoneLoc = page.frameLocator('#phone');
  await siteLoc.locator('.nextauth-block.nextauth-login').waitFor();
  await phoneLoc.locator('button.scan[data-kind="enrol"]').waitFor();
  await site.waitForFunction(() => (window as unknown as { nextAuth?: { connected(): boolean } }).nextAuth?.connected());
  found.push(...(await axe(page, '/demo')), ...(await axe(site, 'site, welcome')), ...(await axe(phone, 'phone, home')));

  // The phone scans the enrol code: its consent screen; the site shows the scan.
  await phoneLoc.locator('button.scan[data-kind="enrol"]').click();
  await phoneLoc.locator('#accept').waitFor();
  await siteLoc.locator('.nextauth-login[data-state="scanned"]').waitFor();
  found.push(...(await axe(phone, 'phone, enrol consent')), ...(await axe(site, 'site, scanned')));
  await phoneLoc.locator('#accept').click();
  await siteLoc.locator('#userid').waitFor({ timeout: 8000 });
  await siteLoc.locator('text=visits').waitFor();
  await phoneLoc.locator('#listen-state[data-on="true"]').waitFor();
  found.push(...(await axe(page.frame({ name: 'site' })!, 'site, logged in')), ...(await axe(phone, 'phone, an account')));

  // A payment: waiting, the phone's approval screen with its PIN, approved.
  await siteLoc.locator('#pay-send').click();
  await siteLoc.locator('#payment-status[data-outcome="waiting"]').waitFor();
  await phoneLoc.locator('#tx-approve').waitFor({ timeout: 8000 });
  found.push(...(await axe(page.frame({ name: 'site' })!, 'site, payment waiting')), ...(await axe(phone, 'phone, payment')));
  await phoneLoc.locator('#tx-approve').click(); // no PIN: an error on the phone
  await phoneLoc.locator('#screen .error').waitFor();
  found.push(...(await axe(phone, 'phone, PIN missing')));
  await phoneLoc.locator('#tx-pin').fill('1234');
  await phoneLoc.locator('#tx-pin').press('Enter');
  await siteLoc.locator('#payment-status[data-outcome="approved"]').waitFor({ timeout: 8000 });
  found.push(...(await axe(page.frame({ name: 'site' })!, 'site, payment approved')), ...(await axe(phone, 'phone, payment approved')));

  // Log out; a push to the phone (the site waits, the phone asks); declined (the site says so).
  await siteLoc.locator('#logout').click();
  const push = siteLoc.locator('.nextauth-login .nextauth-push');
  await push.waitFor({ state: 'visible' });
  found.push(...(await axe(page.frame({ name: 'site' })!, 'site, logged out, push offered')));
  await push.click();
  await phoneLoc.locator('#report').waitFor({ timeout: 8000 });
  await siteLoc.locator('.nextauth-login[data-state="confirm"]').waitFor();
  found.push(...(await axe(page.frame({ name: 'site' })!, 'site, push sent')), ...(await axe(phone, 'phone, push consent')));
  await phoneLoc.locator('#decline').click();
  await siteLoc.locator('.nextauth-login[data-state="cancelled"]').waitFor();
  found.push(...(await axe(page.frame({ name: 'site' })!, 'site, cancelled')), ...(await axe(phone, 'phone, declined')));
  await screenshot(page, 'axe-demo');

  // The demo page of an NS whose data folder had servers already (no demo server): its markup, with the demo's styles.
  await page.route(`${ns.url}/demo/none`, (route) => route.fulfill({ contentType: 'text/html; charset=utf-8', body: noServerPage() }));
  await page.goto(`${ns.url}/demo/none`);
  found.push(...(await axe(page, '/demo without a demo server')));
  assertNone(found);
  assert.equal(errors, []);
  await context.close();
});

/** A 1×1 PNG: a server's logo. */
const LOGO = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

test('the blocks on a site of their own (German, a logo, app store links): waiting, every tone of the status line, logged in, on a phone', async () => {
  const srv = (
    await ns.api('POST', '/servers/', {
      body: { serverName: 'Eckladen', appname: 'Laden-Schlüssel', logo: LOGO, appandroid: 'https://play.example/app', appios: 'https://apps.example/app' },
    })
  ).body.serverid;
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  const nonce = newNonce();
  const get = async (op: string, query = '') => String((await ns.api('GET', `/servers/${srv}/sessions/html/${op}?lang=de${query}`, { headers: { 'x-nonce': nonce } })).body);
  const enrolNonce = newNonce();
  const enrol = String((await ns.api('GET', `/servers/${srv}/sessions/html/enrol?lang=de&userid=neu`, { headers: { 'x-nonce': enrolNonce } })).body);
  const rpPage = async (agent?: { userAgent: string }) => {
    rpHtml = `<!doctype html><html lang="de"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Eckladen</title><link rel="icon" href="data:,"></head>
<body><main><h1>Willkommen im Eckladen</h1>${await get('login', '')}${enrol}</main>${await get('footer', '&callback=onLogin')}<script>window.onLogin = function () {};</script></body></html>`;
    const context = await browser.newContext(
      agent ? { ...agent, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true } : { viewport: { width: 1000, height: 900 } },
    );
    const page = await context.newPage();
    Object.assign(page, { errors: watchErrors(context) });
    await page.goto(`http://127.0.0.1:${(rp.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => (window as unknown as { nextAuth: { connected(): boolean } }).nextAuth.connected());
    return page;
  };
  const found: string[] = [];
  const page = await rpPage();
  found.push(...(await axe(page, 'blocks, waiting')));
  await page.locator('.nextauth-more summary').first().click();
  found.push(...(await axe(page, "blocks, can't scan open")));
  // Each tone the status line takes (info: scanned, sending, confirm; ok: logged in; warn: expired; error: cancelled, refusals).
  for (const [state, tone] of [
    ['confirm', 'info'],
    ['stale', 'warn'],
    ['error', 'error'],
  ]) {
    await page.evaluate(
      ([s, t]) => {
        for (const block of Array.from(document.querySelectorAll('.nextauth-block'))) {
          block.setAttribute('data-state', s!);
          const status = block.querySelector('.nextauth-status')!;
          status.setAttribute('data-tone', t!);
          status.textContent = `Status (${t}) `;
          const number = status.appendChild(document.createElement('span'));
          number.className = 'nextauth-number';
          number.textContent = '42';
        }
        for (const refresh of Array.from(document.querySelectorAll<HTMLElement>('.nextauth-refresh'))) refresh.hidden = s !== 'stale';
      },
      [state, tone],
    );
    found.push(...(await axe(page, `blocks, status ${tone}`)));
  }
  const { connection } = await phone.login((await page.locator('.nextauth-login').getAttribute('data-link'))!);
  await page.locator('.nextauth-login[data-state="loggedin"]').waitFor();
  found.push(...(await axe(page, 'blocks, logged in')));
  await screenshot(page, 'axe-blocks-de');
  const mobile = await rpPage({
    userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Mobile Safari/537.36',
  });
  // Logged in already: the login block says so; the enrol block shows its app link first.
  found.push(...(await axe(mobile, 'blocks, on a phone')));
  await mobile.locator('.nextauth-enrol .nextauth-showqr').click();
  found.push(...(await axe(mobile, 'blocks, on a phone, QR code shown')));
  await screenshot(mobile, 'axe-blocks-de-phone');
  assertNone(found);
  for (const p of [page, mobile]) assert.equal((p as unknown as { errors: string[] }).errors, []);
  connection.close();
  await page.context().close();
  await mobile.context().close();
});

test("a server's OpenID Provider: its login page, its consent page (German), its logout page, an error page", async () => {
  const srv = (await ns.api('POST', '/servers/', { body: { serverName: 'OIDC' } })).body.serverid as string;
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=axe'));
  const { client, secret } = await ns.registry.oidcClients.create(srv, { name: 'Wiki', redirectUris: ['http://127.0.0.1:1/cb'], postLogoutRedirectUris: ['http://127.0.0.1:1/'] });
  const config = await oidc.discovery(new URL(`${ns.url}/servers/${srv}/oidc`), client.clientId, secret, undefined, { execute: [oidc.allowInsecureRequests] });
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: 'http://127.0.0.1:1/cb',
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const context = await browser.newContext({ locale: 'de-DE' });
  const page = await context.newPage();
  const found: string[] = [];
  await page.goto(url.href);
  const block = page.locator('.nextauth-block');
  await block.waitFor();
  found.push(...(await axe(page, 'OIDC login')));
  await phone.login((await block.getAttribute('data-link'))!);
  const allow = page.locator('button[value="allow"]');
  await allow.waitFor({ timeout: 10_000 });
  assert.is(await allow.textContent(), 'Erlauben', 'the consent page speaks German');
  found.push(...(await axe(page, 'OIDC consent')));
  await page.goto(`${ns.url}/servers/${srv}/oidc/session/end?client_id=${client.clientId}`);
  await page.locator('button[name="logout"]').waitFor();
  found.push(...(await axe(page, 'OIDC logout')));
  await page.goto(`${ns.url}/servers/${srv}/oidc/auth?client_id=nobody&response_type=code&scope=openid`);
  found.push(...(await axe(page, 'OIDC error')));
  await context.close();
  assertNone(found);
});

test('the inspector: the key form, a refused key, a session with its diagram and event log, the whole machine', async () => {
  // The page's CSP allows its own scripts only: axe is injected by the test, so CSP is bypassed.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  const errors = watchErrors(context);
  const page = await context.newPage();
  const found: string[] = [];
  await page.goto(`${ns.url}/inspect`);
  await page.waitForSelector('#keybox:not([hidden]) #key');
  found.push(...(await axe(page, 'inspector, key form')));
  await page.fill('#key', 'not-a-key-0123456789');
  await page.click('#keyform button');
  await page.waitForFunction(() => document.getElementById('keyerror')?.textContent !== '');
  found.push(...(await axe(page, 'inspector, key refused')));
  await page.fill('#key', ns.rootKey);
  await page.click('#keyform button');
  await page.waitForSelector('#status.live');

  const srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Coffee shop' } })).body.serverid;
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=alice'));
  const { connection } = await phone.login(await qr(ns, srv, newNonce()));
  const row = `#servers li[data-state^="authenticated"]`;
  await page.waitForSelector(row, { timeout: 5000 });
  found.push(...(await axe(page, 'inspector, the servers')));
  await page.click(row);
  await page.waitForSelector('#diagram[data-state^="authenticated"] svg', { timeout: 8000 });
  await page.waitForSelector('#log tr');
  found.push(...(await axe(page, 'inspector, a session')));
  await page.click('#whole');
  await page.waitForSelector('#diagram.fit svg');
  found.push(...(await axe(page, 'inspector, the whole machine')));
  await screenshot(page, 'axe-inspector');
  assertNone(found);
  assert.equal(errors, []);
  connection.close();
  await context.close();
});

test.run();
