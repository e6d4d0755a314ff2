/**
 * The blocks in English, German, French and Dutch (src/web/i18n.ts, docs/protocol-notes.md note
 * 33): the catalogue is whole, Accept-Language is read with its q-values, and for each language
 * the login block, the enrol block and the footer fetched with `?lang=` and with Accept-Language
 * carry its words and its `lang`. Then in Chromium, on a relying party's page of its own: the
 * footer script writes the German progress of a real SDK phone's login (scanned, logged in), and
 * each block's words follow its own `lang` (French), or the footer's when it names none (Dutch).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { LANGS, MESSAGES, negotiateLang, type Lang, type Messages } from '../../src/web/i18n.ts';
import { launchBrowser, screenshot, watchErrors } from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { getSession, newNonce, newPhone, qr } from '../helpers/peers.ts';

let ns: TestServer;
let browser: Browser;
let srv: string;
const phone = newPhone();
const NAME = 'Corner Shop';
const APP = 'Shop Key';

/** The relying party's web server: another origin than the NS, serving the page its backend made. */
let rpHtml = '';
const rp = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(rpHtml);
});

test.before(async () => {
  [ns, browser] = await Promise.all([startTestServer(), launchBrowser(), new Promise<void>((r) => rp.listen(0, '127.0.0.1', r))]);
  srv = (await ns.api('POST', '/servers/', { body: { serverName: NAME, appname: APP } })).body.serverid;
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
});
test.after(async () => {
  await browser?.close();
  await ns?.stop(true);
  rp.close();
});

/** Every sentence of a language, its functions called with `A` and `B` (getApp with two stores). */
function sentences(m: Messages): Array<[string, string]> {
  return Object.entries(m).map(([key, value]) => [
    key,
    typeof value === 'function' ? String(key === 'getApp' ? (value as Messages['getApp'])(['A', 'B']) : (value as (a: string, b: string) => string)('A', 'B')) : String(value),
  ]);
}

test('the catalogue: every language has every key, each its own words, none holding markup', () => {
  const keys = Object.keys(MESSAGES.en).sort();
  for (const lang of LANGS) {
    assert.equal(Object.keys(MESSAGES[lang]).sort(), keys, lang);
    for (const [key, text] of sentences(MESSAGES[lang])) {
      assert.ok(text.trim().length > 0, `${lang}.${key} is empty`);
      // Arguments may be markup (blocks.ts passes <strong> and <a>): the sentences must not be.
      assert.not.match(text, /[<>&"]/, `${lang}.${key}`);
      if (lang !== 'en') assert.is.not(text, sentences(MESSAGES.en).find(([k]) => k === key)![1], `${lang}.${key} is the English one`);
    }
  }
});

test('Accept-Language: the highest q among en, de, fr, nl; regions count for their language; * and q=0; English else', () => {
  const cases: Array<[string | undefined, Lang]> = [
    [undefined, 'en'],
    ['', 'en'],
    ['de', 'de'],
    ['de-CH', 'de'],
    ['DE-at', 'de'],
    ['fr-CA, fr;q=0.9, en;q=0.8', 'fr'],
    ['es-ES, es;q=0.9, nl;q=0.8, en;q=0.7', 'nl'],
    ['en;q=0.5, de;q=0.7', 'de'],
    ['en;q=0.5,de;Q=0.7', 'de'],
    ['nl;q=0.8, fr;q=0.8', 'nl'], // a tie: the earlier
    ['de;q=0, *', 'en'], // de refused, any other: the first of the catalogue
    ['en;q=0, de;q=0, *;q=0.5', 'fr'],
    ['de-CH;q=0.2, de;q=0.9, fr;q=0.5', 'de'], // a language named twice takes its best q
    ['es, it', 'en'],
    ['*', 'en'],
    ['de;q=2, fr;q=abc, nl;q=0.1', 'nl'], // malformed q: that range is ignored
    ['de;q=0', 'en'],
    [' , ;q=1, nl', 'nl'],
  ];
  for (const [header, lang] of cases) assert.is(negotiateLang(header), lang, String(header));
});

/** The value of attribute `name` of the first element that has it, in `html`. */
const attr = (html: string, name: string) => new RegExp(`\\s${name}="([^"]*)"`).exec(html)?.[1];
const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/'/g, '&#39;');

const html = async (op: 'login' | 'enrol' | 'footer', nonce: string, query: string, headers: Record<string, string> = {}) => {
  const r = await ns.api('GET', `/servers/${srv}/sessions/html/${op}${query}`, { headers: { 'x-nonce': nonce, ...headers } });
  assert.is(r.status, 200, String(r.body));
  return { html: String(r.body), vary: r.headers.get('vary') };
};

/** What a waiting login block says in `lang`. */
function assertLoginBlock(block: string, lang: Lang): void {
  const t = MESSAGES[lang];
  assert.is(attr(block, 'lang'), lang);
  assert.ok(block.startsWith(`<div class="nextauth-block nextauth-login" id="nextauth-login-`), block.slice(0, 80));
  assert.match(block, `<h2 class="nextauth-title">${esc(t.loginTitle(NAME))}</h2>`);
  assert.match(block, `<title id="nextauth-login-`);
  assert.match(block, `>${esc(t.loginQrLabel(APP, NAME))}</title>`);
  assert.match(block, esc(t.loginHelp(`<strong>${APP}</strong>`)));
  assert.match(block, esc(t.loginPhoneHelp(`<strong>${APP}</strong>`)));
  assert.match(block, `>${esc(t.loginLink(APP))}</a>`);
  assert.match(block, `>${esc(t.showQr)}</button>`);
  assert.match(block, `<summary>${esc(t.cantScan)}</summary>`);
  assert.match(block, `aria-label="${esc(t.appLink)}"`);
  assert.match(block, `>${esc(t.openLink)}</a>`);
  assert.match(block, new RegExp(esc(t.codeValid('<span class="nextauth-time">\u0000</span>')).replace('\u0000', '1[45]:\\d\\d')));
  assert.match(block, `>${esc(t.push)}</button>`);
  assert.match(block, `>${esc(t.logout)}</button>`);
  assert.match(block, `>${esc(t.newCode)}</button>`);
  // Nothing of another language's words.
  for (const other of LANGS) if (other !== lang) assert.not.match(block, esc(MESSAGES[other].showQr), `${lang} block has ${other} words`);
}

/** A header that asks for `lang` first (with a region) and something else after. */
const acceptFor = (lang: Lang) => `${lang}-${lang === 'en' ? 'GB' : 'CH'}, es;q=0.9, ${lang === 'en' ? 'de' : 'en'};q=0.5`;

for (const lang of LANGS) {
  test(`${lang}: the login block and the footer in ${lang}, asked with ?lang= and with Accept-Language`, async () => {
    const nonce = newNonce();
    const named = await html('login', nonce, `?lang=${lang}`, { 'accept-language': lang === 'fr' ? 'nl' : 'fr' });
    assertLoginBlock(named.html, lang);
    assert.is(named.vary, null, '?lang= decides: the header plays no part');
    const negotiated = await html('login', nonce, '', { 'accept-language': acceptFor(lang) });
    assertLoginBlock(negotiated.html, lang);
    assert.match(negotiated.vary ?? '', /accept-language/i);
    for (const footer of [await html('footer', nonce, `?lang=${lang}`), await html('footer', nonce, '', { 'accept-language': acceptFor(lang) })]) {
      assert.match(footer.html, /^<script src="[^"]+\/ns\/nextauth\.js\?v=[0-9a-f]{12}" data-nextauth-footer /);
      assert.is(attr(footer.html, 'lang'), lang);
    }
    // The enrol block too, with the app stores.
    const enrol = (await html('enrol', newNonce(), `?lang=${lang}&userid=u-${lang}`)).html;
    const t = MESSAGES[lang];
    assert.is(attr(enrol, 'lang'), lang);
    assert.match(enrol, `<h2 class="nextauth-title">${esc(t.enrolTitle(NAME))}</h2>`);
    assert.match(enrol, esc(t.enrolHelp(`<strong>${APP}</strong>`)));
    assert.match(enrol, `>${esc(t.enrolLink(APP))}</a>`);
  });
}

test('lang: a region or another case counts; a language the NS lacks falls back to Accept-Language, then English; a malformed one is 400', async () => {
  const nonce = newNonce();
  assert.is(attr((await html('login', nonce, '?lang=de-AT')).html, 'lang'), 'de');
  assert.is(attr((await html('login', nonce, '?lang=NL')).html, 'lang'), 'nl');
  assert.is(attr((await html('login', nonce, '?lang=es', { 'accept-language': 'es, fr;q=0.5' })).html, 'lang'), 'fr');
  assert.is(attr((await html('footer', nonce, '?lang=es')).html, 'lang'), 'en');
  for (const bad of ['de_CH', 'deutschland', 'de%20', '1', 'x'.repeat(36), 'de--ch']) {
    for (const op of ['login', 'enrol', 'footer']) {
      const r = await ns.api('GET', `/servers/${srv}/sessions/html/${op}?lang=${bad}`, { headers: { 'x-nonce': nonce } });
      assert.is(r.status, 400, `${op} ${bad}`);
      assert.is(r.body.code, 'BAD_REQUEST', `${op} ${bad}`);
    }
  }
});

test('/openapi.json: the three HTML operations take lang', async () => {
  const doc = (await ns.api('GET', '/openapi.json')).body;
  for (const op of ['login', 'enrol', 'footer']) {
    for (const method of ['get', 'post']) {
      const params = doc.paths[`/servers/{serverid}/sessions/html/${op}`][method].parameters as Array<{ name: string; in: string; schema: { pattern?: string } }>;
      const lang = params.find((p) => p.name === 'lang');
      assert.ok(lang, `${method} ${op}`);
      assert.is(lang!.in, 'query');
      assert.ok(lang!.schema.pattern);
    }
  }
});

// ───────────────────────── in Chromium ─────────────────────────

type Win = { nextAuth: { connected(): boolean; provoke(srv: string, hsid: string): void } };

async function rpPage(lang: string, body: string): Promise<Page> {
  rpHtml = `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><title>${NAME}</title><link rel="icon" href="data:,"></head><body><main>${body}</main></body></html>`;
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
  const page = await context.newPage();
  Object.assign(page, { errors: watchErrors(context) });
  await page.goto(`http://127.0.0.1:${(rp.address() as AddressInfo).port}/`);
  await page.waitForFunction(() => (window as unknown as Win).nextAuth.connected());
  return page;
}
const errorsOf = (page: Page) => (page as unknown as { errors: string[] }).errors;

test('Chromium, de: the footer script writes the German progress of a real login (scanned, logged in, the title)', async () => {
  const t = MESSAGES.de;
  const nonce = newNonce();
  // No ?lang=: the site forwards its visitor's Accept-Language.
  const headers = { 'x-nonce': nonce, 'accept-language': 'de-DE,de;q=0.9,en;q=0.8' };
  const block = String((await ns.api('GET', `/servers/${srv}/sessions/html/login`, { headers })).body);
  const footer = String((await ns.api('GET', `/servers/${srv}/sessions/html/footer?callback=onLogin`, { headers })).body);
  const page = await rpPage('de', `<script>window.onLogin = function () {};</script>${block}${footer}`);
  const status = page.locator('.nextauth-status');
  assert.is(await page.locator('.nextauth-block').getAttribute('lang'), 'de');
  assert.is(await page.locator('.nextauth-title').textContent(), t.loginTitle(NAME));

  // The phone scans and holds at its consent screen: the script says so, in German.
  let consent: () => void = () => {};
  const held = new Promise<void>((resolve) => (consent = resolve));
  const slow = newPhone({ keystore: phone.keystore, consent: async () => (await held, { accept: true, sf: 'none' }) });
  const login = slow.login((await page.locator('.nextauth-block').getAttribute('data-link'))!);
  await page.locator('.nextauth-block[data-state="scanned"]').waitFor();
  assert.is(await status.textContent(), t.scanned);
  await screenshot(page, 'i18n-de-1-scanned');
  consent();
  const { connection } = await login;
  await page.locator('.nextauth-block[data-state="loggedin"]').waitFor();
  assert.is(await status.textContent(), t.loggedIn);
  assert.is(await page.locator('.nextauth-title').textContent(), t.loggedInTitle(NAME));
  assert.is(await page.locator('.nextauth-logout').textContent(), t.logout);
  assert.is((await getSession(ns, srv, nonce)).state, 'authenticated');
  await screenshot(page, 'i18n-de-2-logged-in');
  assert.equal(errorsOf(page), []);
  connection.close();
  await page.context().close();
});

test("Chromium, fr and nl: each block's words in its own lang, else the footer's", async () => {
  const [first, second] = [newNonce(), newNonce()];
  const french = String((await ns.api('GET', `/servers/${srv}/sessions/html/login?lang=fr`, { headers: { 'x-nonce': first } })).body);
  // A block that names no language (a site's own markup, say): the footer's Dutch.
  const bare = String((await ns.api('GET', `/servers/${srv}/sessions/html/login`, { headers: { 'x-nonce': second } })).body).replace(/ lang="en"/, '');
  const footer = String((await ns.api('GET', `/servers/${srv}/sessions/html/footer?lang=nl`, { headers: { 'x-nonce': first } })).body);
  const page = await rpPage('fr', `${french}${bare}${footer}`);
  // Neither session can be pushed to: the NS refuses, and each block says why in its language.
  const [h1, h2] = [(await getSession(ns, srv, first)).hsid, (await getSession(ns, srv, second)).hsid];
  await page.evaluate(
    ([s, a, b]) => {
      (window as unknown as Win).nextAuth.provoke(s!, a!);
      (window as unknown as Win).nextAuth.provoke(s!, b!);
    },
    [srv, h1, h2],
  );
  const blocks = page.locator('.nextauth-block');
  await page.waitForFunction(() => document.querySelectorAll('.nextauth-block[data-state="error"]').length === 2);
  assert.is(await blocks.nth(0).locator('.nextauth-status').textContent(), MESSAGES.fr.cannotProvoke);
  assert.is(await blocks.nth(1).locator('.nextauth-status').textContent(), MESSAGES.nl.cannotProvoke);
  assert.equal(errorsOf(page), []);
  await page.context().close();
});

test.run();
