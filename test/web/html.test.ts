/**
 * 2.2 tag HTML over real HTTP: getHtmlLogin, getHtmlEnrol, getHtmlFooter (GET and the POST
 * aliases), the app links in the blocks (read back with the SDK's parseQrText), the files the
 * pages load from the NS, and every refusal. The browser side is in demo.test.ts / refresh.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gunzipSync } from 'node:zlib';
import { parseQrText, toB64url } from '../../src/sdk/app.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { getSession, newNonce, newPhone, qr } from '../helpers/peers.ts';

let ns: TestServer;
let srv: string;
let other: string;
/** A key with 'sessions' on srv only. */
let keyA: string;

test.before(async () => {
  ns = await startTestServer();
  srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Shop <b>&"', appname: 'Acme Auth' } })).body.serverid;
  other = (await ns.api('POST', '/servers/', { body: { serverName: 'Other', appurl: 'https://app.example/open' } })).body.serverid;
  const k = await ns.api('POST', '/apikeys/?description=a');
  keyA = k.body.apikey;
  await ns.api('POST', `/servers/${srv}/permissions/${k.body.role}`, { body: ['sessions'] });
});
test.after(() => ns.stop(true));

const login = (nonce: string, opts: { server?: string; body?: unknown; key?: string | null } = {}) =>
  ns.api(opts.body === undefined ? 'GET' : 'POST', `/servers/${opts.server ?? srv}/sessions/html/login`, {
    headers: { 'x-nonce': nonce },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    ...(opts.key !== undefined ? { key: opts.key } : {}),
  });

/** The value of attribute `name` of the first element with class `cls` in `html` (unescaped). */
function attr(html: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(html);
  return m?.[1]
    ?.replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
const hasHidden = (html: string, cls: string) => new RegExp(`class="[^"]*\\b${cls}\\b[^"]*"[^>]*\\shidden[\\s>]`).test(html);

test('getHtmlLogin: one nextauth-block with the inline SVG QR code, its text alternative, the app link, the countdown and the appname', async () => {
  const nonce = newNonce();
  const r = await login(nonce);
  assert.is(r.status, 200, String(r.body));
  assert.match(r.headers.get('content-type') ?? '', 'text/html');
  assert.is(r.headers.get('cache-control'), 'no-store');
  const html = String(r.body);
  assert.ok(html.startsWith('<div class="nextauth-block nextauth-login"'), html.slice(0, 80));
  assert.ok(html.trimEnd().endsWith('</div>'));
  const status = await getSession(ns, srv, nonce);
  assert.is(attr(html, 'data-hsid'), status.hsid);
  assert.is(attr(html, 'data-srv'), srv);
  assert.is(attr(html, 'data-state'), 'waiting');
  // The QR code: an inline SVG image named by a <title>, no fixed size (CSS sizes it).
  assert.match(
    html,
    /<svg class="nextauth-qrcode" role="img" aria-labelledby="([^"]+)"[^>]*><title id="\1">QR code: scan it with the Acme Auth app to log in to Shop &lt;b&gt;&amp;&quot;<\/title>/,
  );
  assert.not.match(html, /<svg[^>]*\swidth=/);
  // The app link holds the same bytes as getQrLogin, base64url after "nextauth:?qr=".
  const raw = await qr(ns, srv, nonce);
  assert.is(attr(html, 'data-link'), `nextauth:?qr=${toB64url(Buffer.from(raw, 'base64'))}`);
  assert.match(html, `<a class="nextauth-button nextauth-applink" href="nextauth:?qr=`);
  // The server's appname and name (escaped), the styles and the countdown.
  assert.match(html, '<strong>Acme Auth</strong>');
  assert.match(html, 'Log in to Shop &lt;b&gt;&amp;&quot;');
  assert.not.match(html, '<b>&"');
  assert.match(html, `<link rel="stylesheet" href="${ns.url}/ns/nextauth.css?v=`);
  assert.ok(Number(attr(html, 'data-expires')) > Date.now());
  assert.match(html, /Code valid for <span class="nextauth-time">1[45]:\d\d<\/span>/);
  // Nobody logged in here before: the push button is there, hidden; no logout button shows.
  assert.ok(hasHidden(html, 'nextauth-push'));
  assert.ok(hasHidden(html, 'nextauth-logout'));
  assert.match(html, 'role="status" aria-live="polite"');
});

test('getHtmlLogin keeps the code fresh: each block restarts the waiting session’s idle limit', async () => {
  const nonce = newNonce();
  const first = Number(attr(String((await login(nonce)).body), 'data-expires'));
  await new Promise((r) => setTimeout(r, 30));
  const second = Number(attr(String((await login(nonce)).body), 'data-expires'));
  assert.ok(second > first, `${second} > ${first}`);
  assert.is((await getSession(ns, srv, nonce)).expires, second);
});

test('POST getHtmlLogin: the UserContext reaches the phone; a phone user agent gets the app link first', async () => {
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  const nonce = newNonce();
  const ua = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148';
  const r = await login(nonce, { body: { sessioninfo: { ip: '192.0.2.4', useragent: ua } } });
  assert.is(r.status, 200);
  const html = String(r.body);
  assert.match(html, 'class="nextauth-block nextauth-login nextauth-mobile"');
  const { info, connection } = await phone.login(attr(html, 'data-link')!);
  assert.equal(info.session, { ip: '192.0.2.4', ua });
  assert.is(info.name, 'Shop <b>&"');
  connection.close();
  // Logged in: the block says so, with its logout button; the QR part is hidden.
  const after = String((await login(nonce)).body);
  assert.is(attr(after, 'data-state'), 'loggedin');
  assert.match(after, 'Logged in to Shop');
  assert.not.ok(hasHidden(after, 'nextauth-logout'));
  assert.match(after, '<div class="nextauth-body" hidden>');
  assert.not.match(after, 'data-expires');
  // Logged out: the session can be provoked, so the push button shows.
  await ns.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } });
  const out = String((await login(nonce)).body);
  assert.is(attr(out, 'data-canprovoke'), 'true');
  assert.not.ok(hasHidden(out, 'nextauth-push'));
  assert.match(out, 'Send a login to my phone');
});

test('app links: appurl-based for login and enrol, read back by the SDK (also from loginqrdata and with &qr=)', async () => {
  const nonce = newNonce();
  const loginHtml = String((await login(nonce, { server: other })).body);
  const link = attr(loginHtml, 'data-link')!;
  assert.ok(link.startsWith('https://app.example/open?qr='), link);
  const code = parseQrText(link);
  assert.is(code.op, 'login');
  assert.is(toB64url(code.srv), other);
  const status = await getSession(ns, other, nonce);
  assert.is(toB64url(code.hsid), status.hsid);
  assert.is(code.appUrl, `${ns.url.replace('http', 'ws')}/ns/sigmai`);
  // The same code from LoginStatus.loginqrdata (base64) and from a link with more parameters.
  assert.equal(parseQrText(status.loginqrdata), code);
  assert.equal(parseQrText(`https://app.example/open?x=1&qr=${link.split('qr=')[1]}#frag`), code);
  assert.throws(() => parseQrText('https://app.example/open?qr=%%%'), /bad/);
  assert.throws(() => parseQrText('nextauth:?qr=AAAA'), /bad QR/);

  const enrolHtml = String((await ns.api('GET', `/servers/${other}/sessions/html/enrol?userid=erin&name=Erin's%20phone`, { headers: { 'x-nonce': nonce } })).body);
  const enrol = parseQrText(attr(enrolHtml, 'data-link')!);
  assert.is(enrol.op, 'enrol');
  if (enrol.op !== 'enrol') return;
  assert.is(enrol.userid, 'erin');
  assert.is(enrol.name, "Erin's phone");
  assert.is(toB64url(enrol.serverpk), (await ns.api('GET', `/servers/${other}/`)).body.serverpk);
});

test("getHtmlEnrol: a fresh enrol code (default name: the server's), enrol through its link, userid linked", async () => {
  const nonce = newNonce();
  const r = await ns.api('GET', `/servers/${srv}/sessions/html/enrol?userid=frank`, { headers: { 'x-nonce': nonce } });
  assert.is(r.status, 200, String(r.body));
  assert.match(r.headers.get('content-type') ?? '', 'text/html');
  const html = String(r.body);
  assert.ok(html.startsWith('<div class="nextauth-block nextauth-enrol"'));
  assert.match(html, /<svg class="nextauth-qrcode" role="img"[^>]*><title[^>]*>QR code: scan it with the Acme Auth app to enrol your phone/);
  const expires = Number(attr(html, 'data-expires'));
  assert.ok(expires > Date.now() && expires <= Date.now() + 600_000);
  const link = attr(html, 'data-link')!;
  const code = parseQrText(link);
  assert.ok(code.op === 'enrol' && code.name === 'Shop <b>&"' && code.userid === 'frank');
  const phone = newPhone();
  const { acc } = await phone.enrol(link);
  const status = await getSession(ns, srv, nonce);
  assert.is(status.loggedin, true);
  assert.is(status.accountid, acc);
  assert.is(status.userid, 'frank');
  // The code was single-use.
  const again = await newPhone()
    .enrol(link)
    .then(
      () => 'ok',
      (e: { code: string }) => e.code,
    );
  assert.ok(['ENROL_USED', 'SESSION_BUSY'].includes(again), again);
  // POST alias with a UserContext: the phone sees the browser.
  const n2 = newNonce();
  const p = await ns.api('POST', `/servers/${srv}/sessions/html/enrol?name=Tablet`, {
    headers: { 'x-nonce': n2 },
    body: { sessioninfo: { ip: '198.51.100.9', useragent: 'Firefox' } },
  });
  assert.is(p.status, 200);
  const { info } = await newPhone().enrol(attr(String(p.body), 'data-link')!);
  assert.equal(info.session, { ip: '198.51.100.9', ua: 'Firefox' });
});

test('getHtmlFooter: the script from the NS with the sessions to watch (X-nonce one, plus the body’s) and the callback', async () => {
  const nonce = newNonce();
  const r = await ns.api('GET', `/servers/${srv}/sessions/html/footer`, { headers: { 'x-nonce': nonce } });
  assert.is(r.status, 200, String(r.body));
  assert.match(r.headers.get('content-type') ?? '', 'text/html');
  const html = String(r.body);
  assert.match(html, new RegExp(`^<script src="${ns.url}/ns/nextauth\\.js\\?v=[0-9a-f]{12}" data-nextauth-footer data-ns="${ns.url}"`));
  assert.match(html, / defer><\/script>/);
  const { hsid, browsertoken: bt } = await getSession(ns, srv, nonce);
  assert.equal(JSON.parse(attr(html, 'data-sessions')!), [{ srv, hsid, bt, loggedin: false }]);

  const otherNonce = newNonce();
  const body = {
    sessions: [
      { serverid: other, sessionid: Buffer.from(otherNonce).toString('base64') },
      { serverid: srv, sessionid: Buffer.from(nonce).toString('base64url') },
    ],
  };
  const p = await ns.api('POST', `/servers/${srv}/sessions/html/footer?callback=myApp.onLogin`, { headers: { 'x-nonce': nonce }, body });
  assert.is(p.status, 200, String(p.body));
  const sessions = JSON.parse(attr(String(p.body), 'data-sessions')!);
  const second = await getSession(ns, other, otherNonce);
  assert.equal(sessions, [
    { srv, hsid, bt, loggedin: false },
    { srv: other, hsid: second.hsid, bt: second.browsertoken, loggedin: false },
  ]);
  assert.is(attr(String(p.body), 'data-callback'), 'myApp.onLogin');
});

test('getHtmlFooter refusals: bad sessionid 400 BAD_NONCE naming it, a server the key may not watch 403, unknown 404, bad callback 400, too many 400', async () => {
  const nonce = newNonce();
  const post = (body: unknown, key?: string, query = '') =>
    ns.api('POST', `/servers/${srv}/sessions/html/footer${query}`, { headers: { 'x-nonce': nonce }, body, ...(key ? { key } : {}) });
  const good = Buffer.from(newNonce()).toString('base64');
  let r = await post({ sessions: [{ serverid: other, sessionid: Buffer.from('short').toString('base64') }] });
  assert.is(r.status, 400);
  assert.is(r.body.code, 'BAD_NONCE');
  assert.match(r.body.message, 'body/sessions/0/sessionid');
  r = await post({ sessions: [{ serverid: other, sessionid: '***' }] });
  assert.is(r.body.code, 'BAD_NONCE');
  r = await post({ sessions: [{ serverid: other, sessionid: good }] }, keyA);
  assert.is(r.status, 403);
  assert.is(r.body.code, 'FORBIDDEN');
  r = await post({ sessions: [{ serverid: 'AAAAAAAAAAAAAAAAAAAAAA', sessionid: good }] });
  assert.is(r.status, 404);
  assert.is(r.body.code, 'UNKNOWN_SERVER');
  r = await post({ sessions: [{ serverid: 'nope', sessionid: good }] });
  assert.is(r.status, 400);
  assert.match(r.body.message, 'body/sessions/0/serverid');
  r = await post({ sessions: [{ sessionid: good }] });
  assert.is(r.status, 400);
  assert.match(r.body.message, 'serverid');
  r = await post({ sessions: 'x' });
  assert.is(r.status, 400);
  r = await post({ sessions: Array.from({ length: 64 }, () => ({ serverid: srv, sessionid: good })) });
  assert.is(r.status, 400);
  assert.match(r.body.message, 'body/sessions');
  r = await post({}, undefined, '?callback=alert(1)');
  assert.is(r.status, 400);
  assert.match(r.body.message, 'callback');
});

test('every HTML operation, GET and POST: 401 without or with a wrong key, 403 for another server’s key, 404 unknown server, 400 bad nonce or serverid; nothing changes', async () => {
  const codesBefore = Object.keys(JSON.parse(ns.store.dump()).enrolCodes).length;
  const sessionsBefore = ns.hub.size;
  const nonce = newNonce();
  for (const op of ['login', 'enrol?name=x', 'footer']) {
    for (const method of ['GET', 'POST'] as const) {
      const call = (server: string, opts: { key?: string | null; nonce?: string | null } = {}) =>
        ns.api(method, `/servers/${server}/sessions/html/${op}`, {
          ...(opts.key !== undefined ? { key: opts.key } : {}),
          headers: opts.nonce === null ? {} : { 'x-nonce': opts.nonce ?? nonce },
          ...(method === 'POST' ? { body: {} } : {}),
        });
      const what = `${method} ${op}`;
      let r = await call(srv, { key: null });
      assert.is(r.status, 401, what);
      assert.is(r.body.code, 'MISSING_API_KEY');
      r = await call(srv, { key: 'not-a-key-0123456789' });
      assert.is(r.status, 401, what);
      assert.is(r.body.code, 'UNKNOWN_API_KEY');
      r = await call(other, { key: keyA });
      assert.is(r.status, 403, what);
      r = await call('AAAAAAAAAAAAAAAAAAAAAA', { key: keyA });
      assert.is(r.status, 403, `${what}: no enumeration for a key without the permission`);
      r = await call('AAAAAAAAAAAAAAAAAAAAAA');
      assert.is(r.status, 404, what);
      assert.is(r.body.code, 'UNKNOWN_SERVER');
      r = await call('bad');
      assert.is(r.status, 400, what);
      assert.match(r.body.message, 'serverid');
      for (const bad of [null, 'short', 'x'.repeat(513)]) {
        r = await call(srv, { nonce: bad });
        assert.is(r.status, 400, `${what} nonce ${bad}`);
        assert.is(r.body.code, 'BAD_NONCE');
      }
      // The key with 'sessions' on srv may.
      r = await call(srv, { key: keyA });
      assert.is(r.status, 200, `${what}: ${JSON.stringify(r.body)}`);
    }
  }
  // Bad bodies and queries are 400 naming the field, and make no enrol code.
  const before = Object.keys(JSON.parse(ns.store.dump()).enrolCodes).length;
  let r = await ns.api('POST', `/servers/${srv}/sessions/html/login`, { headers: { 'x-nonce': newNonce() }, body: { sessioninfo: { ip: 'x'.repeat(65) } } });
  assert.is(r.status, 400);
  assert.match(r.body.message, 'body/sessioninfo/ip');
  r = await ns.api('GET', `/servers/${srv}/sessions/html/enrol?userid=${'u'.repeat(257)}`, { headers: { 'x-nonce': newNonce() } });
  assert.is(r.status, 400);
  assert.match(r.body.message, 'userid');
  r = await ns.api('GET', `/servers/${srv}/sessions/html/enrol?name=`, { headers: { 'x-nonce': newNonce() } });
  assert.is(r.status, 400);
  assert.match(r.body.message, 'name');
  assert.is(Object.keys(JSON.parse(ns.store.dump()).enrolCodes).length, before);
  // The refused calls above made no session and no enrol code (the three allowed enrol calls made one, for one nonce).
  assert.ok(Object.keys(JSON.parse(ns.store.dump()).enrolCodes).length <= codesBefore + 1);
  assert.ok(ns.hub.size <= sessionsBefore + 1);
});

test('the files the blocks load come from the NS with no key: versioned, gzip, 304', async () => {
  for (const [name, type] of [
    ['nextauth.js', 'text/javascript'],
    ['nextauth.css', 'text/css'],
    ['socket.io.min.js', 'text/javascript'],
  ] as const) {
    const plain = await fetch(`${ns.url}/ns/${name}`, { headers: { 'accept-encoding': 'identity' } });
    assert.is(plain.status, 200, name);
    assert.match(plain.headers.get('content-type') ?? '', type);
    assert.is(plain.headers.get('cache-control'), 'no-cache');
    const body = Buffer.from(await plain.arrayBuffer());
    assert.ok(body.length > 1000, name);
    const etag = plain.headers.get('etag')!;
    const version = etag.replaceAll('"', '');
    const versioned = await fetch(`${ns.url}/ns/${name}?v=${version}`, { headers: { 'accept-encoding': 'gzip' }, decompress: false } as RequestInit);
    assert.match(versioned.headers.get('cache-control') ?? '', 'immutable');
    const again = await fetch(`${ns.url}/ns/${name}`, { headers: { 'if-none-match': etag } });
    assert.is(again.status, 304);
  }
  // gzip over raw HTTP (fetch would decompress it for us)
  const http = await import('node:http');
  const zipped = await new Promise<{ encoding?: string; body: Buffer }>((resolve, reject) => {
    http
      .get(`${ns.url}/ns/nextauth.js`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
  assert.is(zipped.encoding, 'gzip');
  assert.match(gunzipSync(zipped.body).toString(), 'window.nextAuth');
  // The script the footer names is the one served.
  const footer = String((await ns.api('GET', `/servers/${srv}/sessions/html/footer`, { headers: { 'x-nonce': newNonce() } })).body);
  const src = /src="([^"]+)"/.exec(footer)![1]!;
  assert.is((await fetch(src)).status, 200);
});

test('/openapi.json lists the three HTML operations and their POST aliases; the files are not in it', async () => {
  const doc = (await ns.api('GET', '/openapi.json')).body;
  const paths = doc.paths as Record<string, Record<string, { operationId: string; tags: string[] }>>;
  for (const [op, id] of [
    ['login', 'getHtmlLogin'],
    ['enrol', 'getHtmlEnrol'],
    ['footer', 'getHtmlFooter'],
  ]) {
    const path = paths[`/servers/{serverid}/sessions/html/${op}`]!;
    assert.is(path.get!.operationId, id);
    assert.is(path.post!.operationId, `${id}Post`);
    assert.equal(path.get!.tags, ['HTML']);
  }
  assert.is(paths['/ns/nextauth.js'], undefined);
});

test.run();
