/**
 * One NS behind a real nginx (Debian's package) that terminates TLS, with deploy/nginx-tls.conf
 * and a certificate for localhost made here by a throwaway CA (openssl). The NS runs with
 * NEXTAUTH_PUBLIC_URL=https://localhost:<nginx's port> and NEXTAUTH_TRUSTED_PROXIES=127.0.0.1.
 * Every client talks to nginx only: REST and the SDK phone trust the CA; Chromium trusts the
 * server certificate by its public key (--ignore-certificate-errors-spki-list: that certificate,
 * not any) and reaches nginx from 127.0.0.7 through a CONNECT proxy of this file, so the address
 * the NS shows the phone is the browser's, read from X-Forwarded-For, not nginx's 127.0.0.1.
 * The demo site (a relying party served by the NS) logs in and out over https and wss with no
 * mixed content. Skipped (one line) without nginx or openssl; under CI=true that is a failure.
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { parseQrText, type ChallengeInfo } from '../../src/sdk/app.ts';
import { launchBrowser, screenshot, watchErrors } from '../helpers/browser.ts';
import { ROOT } from '../helpers/child.ts';
import { type Nginx, nginxBin, startNginx } from '../helpers/nginx.ts';
import { freePort } from '../helpers/private-services.ts';
import { ROOT_KEY, startTestServer, type TestServer } from '../helpers/ns.ts';
import { getSession, newNonce, newPhone, until } from '../helpers/peers.ts';

/** The first of `names` that runs with `args`, or undefined. */
function program(names: string[], args: string[]): string | undefined {
  for (const bin of names) {
    try {
      execFileSync(bin, args, { stdio: 'ignore' });
      return bin;
    } catch {}
  }
  return undefined;
}
const openssl = program(['openssl', '/usr/bin/openssl'], ['version']);

/** A throwaway CA and a certificate it signed for localhost and 127.0.0.1 (EC P-256), in `dir`. */
function makeCertificates(bin: string, dir: string): { ca: string; cert: string; key: string } {
  const run = (...args: string[]) => execFileSync(bin, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=nextauth test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  );
  run('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '1', '-days', '2', '-extfile', 'server.ext', '-out', 'server.pem');
  return { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key') };
}

/** deploy/nginx-tls.conf with these ports, certificate files and upstream, for test/helpers/nginx.ts. */
function nginxSite(o: { https: number; http: number; upstream: string; cert: string; key: string }): string {
  const site = readFileSync(path.join(ROOT, 'deploy/nginx-tls.conf'), 'utf8')
    .replace(/^ *listen \[::\]:.*\n/gm, '')
    .replace(/^( *)server 127\.0\.0\.1:8080;/m, `$1server ${o.upstream};`)
    .replace(/^( *)listen 80;/m, `$1listen 127.0.0.1:${o.http};`)
    .replace(/^( *)listen 443 ssl;/m, `$1listen 127.0.0.1:${o.https} ssl;`)
    .replace(/^( *)ssl_certificate \S+;/m, `$1ssl_certificate ${o.cert};`)
    .replace(/^( *)ssl_certificate_key \S+;/m, `$1ssl_certificate_key ${o.key};`);
  for (const line of [`server ${o.upstream};`, `listen 127.0.0.1:${o.http};`, `listen 127.0.0.1:${o.https} ssl;`, `ssl_certificate ${o.cert};`, `ssl_certificate_key ${o.key};`]) {
    assert.ok(site.includes(line), `the site file has its @ lines (${line})`);
  }
  return site;
}

/** TestServer['api'] for the NS at `base` (https://…), trusting `ca`. */
function tlsApi(base: string, ca: string): TestServer['api'] {
  return (method, url, opts = {}) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...opts.headers };
      const key = opts.key === undefined ? ROOT_KEY : opts.key;
      if (key !== null) headers['x-apikey'] = key;
      const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
      if (body !== undefined) headers['content-type'] = 'application/json';
      const req = https.request(base + url, { method, headers, ca }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          const text = raw.toString('utf8');
          const json = String(res.headers['content-type'] ?? '').includes('json') && text !== '';
          const pairs = Object.entries(res.headers).flatMap(([k, v]) => [v ?? []].flat().map((x): [string, string] => [k, x]));
          resolve({ status: res.statusCode ?? 0, body: json ? JSON.parse(text) : text, headers: new Headers(pairs), raw: new Uint8Array(raw) });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
}

/** A `ws` WebSocket that trusts `ca` and connects from `localAddress` (another client than nginx). */
function tlsSocket(ca: string, localAddress: string, forwardedFor?: string): typeof WebSocket {
  return class extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols ?? [], { ca, localAddress, family: 4, ...(forwardedFor ? { headers: { 'x-forwarded-for': forwardedFor } } : {}) });
    }
  } as typeof WebSocket;
}

/**
 * An HTTP CONNECT proxy for Chromium, which cannot pick its own address: it tunnels to nginx's
 * port only, from `localAddress`.
 */
function connectProxy(localAddress: string, target: number): Promise<{ port: number; close(): void }> {
  const tunnels = new Set<Duplex>();
  const proxy = http.createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req: http.IncomingMessage, client: Duplex, head: Buffer) => {
    tunnels.add(client);
    client.on('error', () => client.destroy());
    client.on('close', () => tunnels.delete(client));
    if (Number(new URL(`http://${req.url}`).port) !== target) return void client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    const upstream = net.connect({ host: '127.0.0.1', port: target, localAddress }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  return new Promise((resolve) =>
    proxy.listen(0, '127.0.0.1', () =>
      resolve({
        port: (proxy.address() as net.AddressInfo).port,
        close: () => {
          for (const t of tunnels) t.destroy();
          proxy.close();
        },
      }),
    ),
  );
}

/** base64 of the SHA-256 of a certificate's public key: what Chromium's SPKI allow-list takes. */
const spkiHash = (pem: string): string =>
  createHash('sha256')
    .update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');

/** The browser's address as nginx sees it (the CONNECT proxy's), a phone's, and another client's. */
const BROWSER_IP = '127.0.0.7';
const PHONE_IP = '127.0.0.9';
const OTHER_IP = '127.0.0.11';

if (!nginxBin || !openssl) {
  const missing = !nginxBin ? 'nginx' : 'openssl';
  if (process.env.CI === 'true') throw new Error(`CI=true and ${missing} is not installed (.ci/run installs it): its test cannot be skipped in CI`);
  console.log(`skipped: ${missing} is not installed (apt-get install -y nginx openssl; .ci/run does)`);
} else {
  let ns: TestServer;
  let proxy: Nginx | undefined;
  let tunnel: { port: number; close(): void } | undefined;
  let browser: Browser | undefined;
  let prefix: string;
  let ca: string;
  let port: number;
  let httpPort: number;
  let publicUrl: string;
  let api: TestServer['api'];
  let srv: string;

  test.before(async () => {
    prefix = mkdtempSync(path.join(os.tmpdir(), 'nextauth-tls-'));
    const files = makeCertificates(openssl, prefix);
    ca = readFileSync(files.ca, 'utf8');
    [port, httpPort] = [await freePort(), await freePort()];
    publicUrl = `https://localhost:${port}`;
    api = tlsApi(publicUrl, ca);
    ns = await startTestServer({
      NEXTAUTH_PUBLIC_URL: publicUrl,
      NEXTAUTH_TRUSTED_PROXIES: '127.0.0.1',
      NEXTAUTH_DEMO: 'true',
      NEXTAUTH_CONNECTIONS_PER_SOURCE: '4',
    });
    srv = (await ns.registry.servers.list())[0]!.serverid;
    proxy = startNginx(prefix, nginxSite({ https: port, http: httpPort, upstream: ns.url.replace('http://', ''), cert: files.cert, key: files.key }));
    await until(
      async () => (await api('GET', '/healthz').catch(() => ({ status: 0 }))).status === 200,
      () => `nginx answering over https (${proxy!.stderr()})`,
      10_000,
    );
    tunnel = await connectProxy(BROWSER_IP, port);
    browser = await launchBrowser({
      proxy: { server: `http://127.0.0.1:${tunnel.port}` },
      args: [`--ignore-certificate-errors-spki-list=${spkiHash(readFileSync(files.cert, 'utf8'))}`],
    });
  });
  test.after(async () => {
    await browser?.close();
    tunnel?.close();
    proxy?.stop();
    await ns?.stop(true);
    rmSync(prefix, { recursive: true, force: true });
  });

  test('every URL the NS hands out is https:// or wss:// on the public host; plain http is sent to https', async () => {
    const appUrl = `wss://localhost:${port}/ns/sigmai`;
    const nonce = newNonce();
    const status = await getSession({ api }, srv, nonce);
    assert.is(parseQrText(status.loginqrdata).appUrl, appUrl, 'the login QR code');
    const enrol = await api('GET', `/servers/${srv}/sessions/qr/enrol?name=phone`, { headers: { 'x-nonce': nonce } });
    assert.is(parseQrText(Buffer.from(enrol.raw).toString('base64')).appUrl, appUrl, 'the enrol QR code');
    assert.equal((await api('GET', '/openapi.json')).body.servers, [{ url: publicUrl }]);
    // The HTML blocks: styles, the footer script and its sockets' base all name the public URL.
    const blocks = await Promise.all(
      ['login', 'enrol', 'footer'].map(async (kind) => String((await api('GET', `/servers/${srv}/sessions/html/${kind}`, { headers: { 'x-nonce': nonce } })).body)),
    );
    assert.ok(blocks[0]!.includes(`href="${publicUrl}/ns/nextauth.css?v=`), blocks[0]);
    assert.ok(blocks[2]!.includes(`src="${publicUrl}/ns/nextauth.js?v=`) && blocks[2]!.includes(`data-ns="${publicUrl}"`), blocks[2]);
    // (an inline SVG's xmlns is a name, not a place to go)
    for (const block of blocks) assert.equal(block.replaceAll('xmlns="http://www.w3.org/2000/svg"', '').match(/\b(http|ws):\/\/\S*/g), null);
    // nginx's own parts: HSTS on https, /metrics kept inside, a redirect on http.
    assert.match((await api('GET', '/healthz')).headers.get('strict-transport-security') ?? '', /^max-age=\d+$/);
    assert.is((await api('GET', '/metrics')).status, 404);
    const plain = await fetch(`http://127.0.0.1:${httpPort}/demo/site`, { redirect: 'manual' });
    assert.is(plain.status, 301);
    assert.match(plain.headers.get('location') ?? '', /^https:\/\/127\.0\.0\.1\/demo\/site$/);
  });

  test('Chromium on the demo site over https: enrol, log out, a login seen live, a REST logout seen live; the phone shows the browser’s address', async () => {
    const seen: ChallengeInfo[] = [];
    const phone = newPhone({ WebSocket: tlsSocket(ca, PHONE_IP), consent: (info) => (seen.push(info), { accept: true, sf: 'none' }) });
    // The page claims another address: nginx replaces it with the one it saw.
    const context: BrowserContext = await browser!.newContext({ extraHTTPHeaders: { 'x-forwarded-for': '203.0.113.9' } });
    const errors = watchErrors(context);
    const requests: string[] = [];
    const sockets: string[] = [];
    context.on('request', (r) => requests.push(r.url()));
    const page: Page = await context.newPage();
    page.on('websocket', (ws) => sockets.push(ws.url()));
    type Win = { nextAuth?: { connected(): boolean; transport(): string } };
    const connected = async () =>
      (await page.waitForFunction(() => (window as unknown as Win).nextAuth?.connected() && (window as unknown as Win).nextAuth!.transport())).jsonValue();
    const block = (kind: 'login' | 'enrol') => page.locator(`.nextauth-block.nextauth-${kind}`);
    const userid = () => page.locator('#userid').textContent({ timeout: 8000 });

    await page.goto(`${publicUrl}/demo/site`);
    assert.is(await connected(), 'socket.io');
    const enrolLink = (await block('enrol').getAttribute('data-link'))!;
    assert.is(parseQrText(enrolLink).appUrl, `wss://localhost:${port}/ns/sigmai`);
    // Enrol (which logs the page's session in): the page reloads by itself, logged in.
    await phone.enrol(enrolLink);
    assert.match((await userid()) ?? '', /^visitor-/);
    assert.is(seen[0]?.session.ip, BROWSER_IP, "the browser's address, from X-Forwarded-For");
    assert.match(seen[0]?.session.ua ?? '', 'HeadlessChrome');
    // Log out from the page (a form post, answered 303 to /demo/site: still https).
    await page.locator('#logout').click();
    await block('login').waitFor();
    assert.is(await connected(), 'socket.io');
    assert.ok(page.url().startsWith(`${publicUrl}/demo/site`), page.url());

    // A login with the login block's code: the footer hears it over wss and the page reloads.
    const { connection, info } = await phone.login((await block('login').getAttribute('data-link'))!);
    assert.is(info.session.ip, BROWSER_IP);
    assert.match((await userid()) ?? '', /^visitor-/);
    await screenshot(page, 'tls-proxy-logged-in');
    // A logout by the relying party's backend (REST, the site's nonce): heard live too.
    const cookie = (await context.cookies()).find((c) => c.name === 'nextauth_demo');
    assert.ok(cookie?.secure, 'the demo sets its cookies Secure behind https');
    assert.is((await api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': cookie!.value } })).status, 200);
    await block('login').waitFor();
    assert.is((await getSession({ api }, srv, cookie!.value)).loggedin, false);

    // Nothing insecure, nothing mixed: every request and socket went to https:// and wss:// of nginx.
    assert.equal(errors, []);
    assert.ok(sockets.length > 0, 'sockets were opened');
    assert.equal(
      sockets.filter((u) => !u.startsWith(`wss://localhost:${port}/`)),
      [],
    );
    assert.equal(
      requests.filter((u) => !u.startsWith(`${publicUrl}/`) && !u.startsWith('data:')),
      [],
    );
    connection.close();
    await context.close();
  });

  test("a WebSocket's source is the client's address nginx saw, not what the client claims", async () => {
    const open = (localAddress: string, claim: string) =>
      new Promise<{ ws?: WebSocket; status?: number }>((resolve) => {
        const ws = new (tlsSocket(ca, localAddress, claim))(`wss://localhost:${port}/ns/websocket`);
        ws.once('open', () => resolve({ ws }));
        ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
        ws.once('error', () => {});
      });
    // Four from one client, each claiming another address: the fifth is refused all the same.
    const held = [];
    for (let i = 1; i <= 4; i++) held.push(await open(OTHER_IP, `198.51.100.${i}`));
    for (const h of held) assert.ok(h.ws, 'open');
    assert.is((await open(OTHER_IP, '198.51.100.5')).status, 429);
    // Another client of the same nginx is not counted with it.
    const other = await open('127.0.0.12', '198.51.100.1');
    assert.ok(other.ws, 'another client');
    for (const h of [...held, other]) h.ws?.close();
  });
}

test.run();
