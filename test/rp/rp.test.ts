/**
 * The relying party's helper (src/rp/, published as @nextauth/node) against a real NS: the REST
 * client (blocks, getSession, logout, refusals), the nonce cookie of the Express middleware
 * (on Express and on bare node:http) and of the fastify plugin (random, HttpOnly, SameSite=Lax,
 * Path=/, `__Host-` and Secure over https, set only when used, kept when valid), and a phone
 * logging in a browser session that the middleware made.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createNextAuth, NextAuthError, type NextAuthClient, type Session } from '../../src/rp/client.ts';
import { nextAuth as expressNextAuth } from '../../src/rp/express.ts';
import { nextAuth as fastifyNextAuth } from '../../src/rp/fastify.ts';
import type { ChallengeInfo } from '../../src/sdk/app.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { newNonce, newPhone, qr } from '../helpers/peers.ts';
import { keyWith, newServer } from '../helpers/rest.ts';

let ns: TestServer;
let srv: string;
let apiKey: string;
let client: NextAuthClient;
const seen: ChallengeInfo[] = [];
const phone = newPhone({ consent: (info: ChallengeInfo) => (seen.push(info), { accept: true, sf: 'none' }) });

test.before(async () => {
  ns = await startTestServer();
  srv = await newServer(ns, 'Corner Shop');
  apiKey = (await keyWith(ns, ['sessions'], srv)).apikey;
  client = createNextAuth({ url: ns.url, apiKey, serverid: srv });
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=alice'));
});
test.after(async () => {
  await ns?.stop(true);
});

const attr = (html: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(html)?.[1];

test('client: a session from its login block to its logout, the phone told who asks', async () => {
  const nonce = newNonce();
  const before = await client.getSession(nonce);
  assert.is(before.loggedin, false);
  assert.is(before.canprovoke, false);
  assert.type(before.hsid, 'string');

  const block = await client.loginBlock(nonce, { ip: '203.0.113.9', useragent: 'Example Browser/1.0' });
  assert.ok(block.includes('class="nextauth-block nextauth-login'), block.slice(0, 200));
  assert.is(attr(block, 'data-hsid'), before.hsid);
  const footer = await client.footer(nonce);
  assert.match(footer, /<script [^>]*data-nextauth-footer/);
  assert.ok(footer.includes(before.hsid));

  const { connection } = await phone.login(attr(block, 'data-link')!.replace(/&amp;/g, '&'));
  assert.equal(seen.at(-1)?.session, { ip: '203.0.113.9', ua: 'Example Browser/1.0' });
  const after: Session = await client.getSession(nonce);
  assert.is(after.loggedin, true);
  assert.is(after.userid, 'alice');
  assert.is(after.state, 'authenticated');
  assert.match(await client.footer(nonce, { callback: 'site.onLogin' }), /data-callback="site\.onLogin"/);

  await client.logout(nonce);
  const out = await client.getSession(nonce);
  assert.is(out.loggedin, false);
  assert.is(out.state, 'loggedOut');
  assert.is(out.canprovoke, true);
  connection.close();
});

test('client: the enrol block, and a footer that watches more sessions', async () => {
  const nonce = newNonce();
  const enrol = await client.enrolBlock(nonce, { name: 'Laptop', userid: 'bob' });
  assert.is(attr(enrol, 'data-nextauth'), 'enrol');
  const other = newNonce();
  const footer = await client.footer(nonce, { watch: [other] });
  const sessions = JSON.parse(attr(footer, 'data-sessions')!.replace(/&quot;/g, '"')) as Array<{ hsid: string }>;
  assert.equal(
    sessions.map((s) => s.hsid),
    [(await client.getSession(nonce)).hsid, (await client.getSession(other)).hsid],
  );
});

test('client: the NS refusals as NextAuthError (status and code); a bad nonce is refused before any call', async () => {
  const stranger = createNextAuth({ url: ns.url, apiKey: 'not-a-key-0123456789', serverid: srv });
  const e = await stranger.getSession(newNonce()).catch((x: unknown) => x);
  assert.instance(e, NextAuthError);
  assert.is((e as NextAuthError).status, 401);
  assert.is((e as NextAuthError).code, 'UNKNOWN_API_KEY');
  const other = await newServer(ns, 'Other');
  const f = await createNextAuth({ url: `${ns.url}/`, apiKey, serverid: other })
    .loginBlock(newNonce())
    .catch((x: unknown) => x);
  assert.is((f as NextAuthError).status, 403);
  let calls = 0;
  const counted = createNextAuth({ url: ns.url, apiKey, serverid: srv, fetch: (...a) => (calls++, fetch(...a)) });
  const short = await counted.getSession('short').catch((x: unknown) => x);
  assert.match(String(short), /16 to 512/);
  assert.is(calls, 0);
  assert.throws(() => createNextAuth({ url: ns.url, apiKey: '', serverid: srv }), /apiKey/);
});

// ───────────────────────── the cookie ─────────────────────────

interface Answer {
  status: number;
  cookie: string[];
  body: string;
}

async function get(base: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(base + path, { headers, redirect: 'manual' });
  return { status: res.status, cookie: res.headers.getSetCookie(), body: await res.text() };
}

/** The routes every framework gets: the nonce, the session, nothing (no cookie then), logout. */
async function checkCookie(base: string, name: (secure: boolean) => string): Promise<void> {
  const none = await get(base, '/plain');
  assert.equal(none.cookie, [], 'a route that does not use nextauth sets no cookie');

  const first = await get(base, '/nonce');
  assert.is(first.cookie.length, 1, first.body);
  const [pair, ...flags] = first.cookie[0]!.split('; ');
  const nonce = first.body;
  assert.match(nonce, /^[A-Za-z0-9_-]{32}$/);
  assert.is(pair, `${name(false)}=${nonce}`);
  assert.equal(flags, ['Path=/', 'Max-Age=2592000', 'HttpOnly', 'SameSite=Lax']);
  assert.is.not((await get(base, '/nonce')).body, nonce, 'each new browser its own nonce');

  const again = await get(base, '/nonce', { cookie: `other=1; ${name(false)}=${nonce}` });
  assert.is(again.body, nonce);
  assert.equal(again.cookie, []);
  const forged = await get(base, '/nonce', { cookie: `${name(false)}=short` });
  assert.is.not(forged.body, 'short');
  assert.is(forged.cookie.length, 1);

  const secure = await get(base, '/nonce', { 'x-forwarded-proto': 'https' });
  assert.ok(secure.cookie[0]!.startsWith(`${name(true)}=${secure.body}; `), secure.cookie[0]);
  assert.ok(secure.cookie[0]!.endsWith('; Secure'), secure.cookie[0]);
  assert.is((await get(base, '/nonce', { 'x-forwarded-proto': 'https', cookie: `${name(true)}=${secure.body}` })).body, secure.body);

  // The session as the page sees it, asked once per request; logout.
  const session = JSON.parse((await get(base, '/session', { cookie: `${name(false)}=${nonce}` })).body) as { loggedin: boolean; hsid: string; calls: number };
  assert.is(session.loggedin, false);
  assert.is(session.calls, 1);
  const block = (await get(base, '/login', { cookie: `${name(false)}=${nonce}`, 'user-agent': 'Cookie Test/2' })).body;
  assert.is(attr(block, 'data-hsid'), session.hsid);
  const { connection } = await phone.login(attr(block, 'data-link')!.replace(/&amp;/g, '&'));
  assert.is(seen.at(-1)?.session.ua, 'Cookie Test/2');
  assert.ok(seen.at(-1)?.session.ip, 'the address the site saw');
  const logged = JSON.parse((await get(base, '/session', { cookie: `${name(false)}=${nonce}` })).body) as Session;
  assert.is(logged.userid, 'alice');
  const out = await get(base, '/logout', { cookie: `${name(false)}=${nonce}` });
  assert.is(out.status, 303);
  assert.is((JSON.parse((await get(base, '/session', { cookie: `${name(false)}=${nonce}` })).body) as Session).loggedin, false);
  connection.close();
}

/** Counts the REST calls of a client (getSession once per request). */
function countingClient(): { client: NextAuthClient; calls: () => number } {
  let n = 0;
  return { client: createNextAuth({ url: ns.url, apiKey, serverid: srv, fetch: (...a) => (n++, fetch(...a)) }), calls: () => n };
}

const listen = (server: Server) => new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));

test('express: the nonce cookie, the session once per request, login and logout', async () => {
  const app = express();
  app.set('trust proxy', 'loopback');
  const { client: counted, calls } = countingClient();
  app.use(expressNextAuth({ client: counted }));
  app.get('/plain', (_req, res) => {
    res.send('plain');
  });
  app.get('/nonce', (req, res) => {
    res.send(req.nextauth.nonce);
  });
  app.get('/session', async (req, res) => {
    const before = calls();
    const s = await req.nextauth.session();
    await req.nextauth.session();
    res.json({ ...s, calls: calls() - before });
  });
  app.get('/login', async (req, res) => {
    res.send(await req.nextauth.loginBlock());
  });
  app.get('/logout', async (req, res) => {
    await req.nextauth.logout();
    res.redirect(303, '/');
  });
  const server = createServer(app);
  try {
    await checkCookie(await listen(server), (secure) => (secure ? '__Host-nextauth' : 'nextauth'));
  } finally {
    server.close();
  }
});

test('express middleware on bare node:http; a cookie name of its own; no nonce once the answer is sent', async () => {
  const middleware = expressNextAuth({ url: ns.url, apiKey, serverid: srv, cookie: { name: 'sid', secure: false, maxAge: 60 } });
  let late = '';
  const server = createServer((req, res) => {
    middleware(req, res, () => {
      const r = req as typeof req & { nextauth: { nonce: string } };
      res.setHeader('set-cookie', 'theme=dark');
      res.end(r.nextauth.nonce);
      try {
        void r.nextauth.nonce;
      } catch (e) {
        late = (e as Error).message;
      }
    });
  });
  try {
    const a = await get(await listen(server), '/');
    assert.equal(a.cookie, ['theme=dark', `sid=${a.body}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax`]);
    const b = await get(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, '/', { cookie: 'sid=x' });
    assert.is(b.cookie.length, 2);
    assert.is(late, '', 'the nonce, once made, is there after the answer');
  } finally {
    server.close();
  }
  // Used for the first time after the answer went out: said plainly.
  const sent = createServer((req, res) => {
    middleware(req, res, () => {
      res.end('sent');
      try {
        void (req as typeof req & { nextauth: { nonce: string } }).nextauth.nonce;
      } catch (e) {
        late = (e as Error).message;
      }
    });
  });
  try {
    await get(await listen(sent), '/');
    assert.match(late, /before the nonce was made/);
  } finally {
    sent.close();
  }
});

test('fastify: the plugin decorates every request of the app (not encapsulated), the same cookie', async () => {
  const app = Fastify({ trustProxy: '127.0.0.1' });
  const { client: counted, calls } = countingClient();
  await app.register(fastifyNextAuth, { client: counted });
  // Routes in a plugin of their own still see req.nextauth.
  await app.register(async (child) => {
    child.get('/plain', async () => 'plain');
    child.get('/nonce', async (req) => req.nextauth.nonce);
    child.get('/session', async (req) => {
      const before = calls();
      const s = await req.nextauth.session();
      await req.nextauth.session();
      return { ...s, calls: calls() - before };
    });
    child.get('/login', async (req, reply) => reply.type('text/html').send(await req.nextauth.loginBlock()));
    child.get('/logout', async (req, reply) => {
      await req.nextauth.logout();
      return reply.code(303).header('location', '/').send();
    });
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    await checkCookie(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, (secure) => (secure ? '__Host-nextauth' : 'nextauth'));
  } finally {
    await app.close();
  }
});

test.run();
