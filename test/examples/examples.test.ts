/**
 * examples/express and examples/fastify, end to end in Chromium: each site runs as its README
 * says (`node examples/<name>/server.js`, configured by env, importing the built
 * @nextauth/node through the workspace), against a real NS with a server of its own and an api
 * key that holds only `sessions` on it. The page shows the login block; the phone (the SDK) logs
 * in with the app link read from the block; the page says "Hello alice" by itself (the footer
 * script); the logout button brings the login block back, and the NS says the session is out.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { ensurePackagesBuild } from '../../scripts/build.ts';
import { launchBrowser, screenshot, watchErrors } from '../helpers/browser.ts';
import { ROOT } from '../helpers/child.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { getSession, newNonce, newPhone, qr } from '../helpers/peers.ts';
import { freePort } from '../helpers/private-services.ts';
import { keyWith, newServer } from '../helpers/rest.ts';

let ns: TestServer;
let browser: Browser;
let srv: string;
let apiKey: string;
const phone = newPhone();
const sites: ChildProcess[] = [];

test.before(async () => {
  ensurePackagesBuild(); // the examples import @nextauth/node as built (test/run.ts built it already)
  [ns, browser] = await Promise.all([startTestServer(), launchBrowser()]);
  srv = await newServer(ns, 'Example site');
  apiKey = (await keyWith(ns, ['sessions'], srv)).apikey;
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=alice'));
});
test.after(async () => {
  for (const site of sites) site.kill();
  await browser?.close();
  await ns?.stop(true);
});

/** Starts `node examples/<name>/server.js` (on a free port, or `env.PORT`); gives its URL (from its "listening on" line). */
function startSite(name: string, env: Record<string, string> = {}): Promise<string> {
  const site = spawn(process.execPath, [path.join(ROOT, 'examples', name, 'server.js')], {
    cwd: path.join(ROOT, 'examples', name),
    env: { ...process.env, NEXTAUTH_URL: ns.url, NEXTAUTH_API_KEY: apiKey, NEXTAUTH_SERVER_ID: srv, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  sites.push(site);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 15 s: ${output}`)), 15_000);
    const read = (d: Buffer) => {
      output += d;
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    site.stdout!.on('data', read);
    site.stderr!.on('data', read);
    site.on('exit', (code) => reject(new Error(`${name} exited (${code}): ${output}`)));
  });
}

for (const name of ['express', 'fastify']) {
  test(`examples/${name}: log in with the phone from the page's login block, "Hello alice" without a reload by hand, log out`, async () => {
    const url = await startSite(name);
    const context = await browser.newContext();
    const errors = watchErrors(context);
    const page = await context.newPage();
    try {
      await page.goto(url);
      const block = page.locator('.nextauth-block.nextauth-login');
      await block.waitFor();
      await page.waitForFunction(() => (window as unknown as { nextAuth?: { connected(): boolean } }).nextAuth?.connected());
      assert.is(await page.locator('#hello').count(), 0);
      await screenshot(page, `example-${name}-login`);

      // The browser's nonce: random, in an HttpOnly, SameSite=Lax cookie that no script reads.
      const cookies = await context.cookies(url);
      assert.equal(
        cookies.map((c) => [c.name, c.httpOnly, c.sameSite, c.path, c.secure]),
        [['nextauth', true, 'Lax', '/', false]],
      );
      assert.match(cookies[0]!.value, /^[A-Za-z0-9_-]{32}$/);
      assert.is(await page.evaluate(() => document.cookie), '');
      const nonce = cookies[0]!.value;
      const hsid = (await getSession(ns, srv, nonce)).hsid;
      assert.is(await block.getAttribute('data-hsid'), hsid, 'the block is of the cookie’s session');

      // The phone reads the code (here: the app link the block carries) and logs in.
      const { connection } = await phone.login((await block.getAttribute('data-link'))!);
      await page.locator('#hello').waitFor({ timeout: 10_000 });
      assert.is(await page.locator('#hello').textContent(), 'Hello alice');
      assert.is((await getSession(ns, srv, nonce)).loggedin, true);
      await screenshot(page, `example-${name}-hello`);

      await page.getByRole('button', { name: 'Log out' }).click();
      await page.locator('.nextauth-block.nextauth-login').waitFor();
      assert.is(await page.locator('#hello').count(), 0);
      const after = await getSession(ns, srv, nonce);
      assert.is(after.loggedin, false);
      assert.is(after.state, 'loggedOut');
      // The same browser keeps its nonce: the block now offers to push a login to the phone.
      assert.is(await page.locator('.nextauth-block').getAttribute('data-hsid'), hsid);
      await page.locator('.nextauth-push:not([hidden])').waitFor();
      assert.equal(errors, []);
      connection.close();
    } finally {
      await context.close();
    }
  });
}

test('examples/oidc: a site on openid-client logs in through the server’s OpenID Provider: the phone on the provider’s page, consent, "Hello Alice Example"; log out', async () => {
  assert.is((await ns.api('PUT', `/servers/${srv}/users/alice/attributes/`, { body: { name: 'Alice Example' } })).status < 300, true);
  const port = await freePort();
  const site = `http://127.0.0.1:${port}`;
  const { client, secret } = await ns.registry.oidcClients.create(srv, { name: 'OIDC example', redirectUris: [`${site}/cb`], postLogoutRedirectUris: [`${site}/`] });
  const url = await startSite('oidc', { ISSUER: `${ns.url}/servers/${srv}/oidc`, CLIENT_ID: client.clientId, CLIENT_SECRET: secret!, PORT: String(port) });
  assert.is(url, site);
  const context = await browser.newContext();
  const errors = watchErrors(context);
  const page = await context.newPage();
  try {
    await page.goto(url);
    await page.locator('#login').click();
    const block = page.locator('.nextauth-block.nextauth-login');
    await block.waitFor();
    assert.ok(page.url().startsWith(`${ns.url}/servers/${srv}/oidc/interaction/`), page.url());
    await screenshot(page, 'example-oidc-login');
    const { connection } = await phone.login((await block.getAttribute('data-link'))!);
    await page.locator('button[value="allow"]').click({ timeout: 10_000 });
    await page.locator('#hello').waitFor({ timeout: 10_000 });
    assert.is(await page.locator('#hello').textContent(), 'Hello Alice Example');
    assert.ok(page.url().startsWith(site), page.url());
    await screenshot(page, 'example-oidc-hello');
    // Log out: through the provider's end-session page (it asks), back at the site, logged out.
    await page.getByRole('link', { name: 'Log out' }).click();
    await page.locator('button[autofocus], button[type="submit"]').first().click({ timeout: 10_000 });
    await page.locator('#login').waitFor({ timeout: 10_000 });
    assert.equal(errors, []);
    connection.close();
  } finally {
    await context.close();
  }
});

test.run();
