/**
 * The demo relying party's routes (on when NEXTAUTH_DEMO is true; the pages are written by
 * src/web/demo.ts, their files come from dist/web):
 *
 *   /demo          the two panes: the site and the phone
 *   /demo/site     the website: a nonce per visitor (cookie), the login and enrol blocks; once
 *                  logged in, the userid, the account, the user's attributes, log out, a payment
 *                  to approve, and an "add another device" enrol block
 *   /demo/phone    the phone panel (/demo/phone.js: src/web/phone-panel.ts, built by npm run build)
 *
 * The site is what any relying party's backend would be: it uses the NS only through its REST
 * API (called in-process with fastify's inject), with an api key of its own that holds
 * 'sessions' and 'users' on the demo server and nothing else. The key is made on the first start
 * and kept in the data folder (demo-site.json, mode 0600). The pages need no api key. They are in
 * English, and say so to the NS (`?lang=en`), as a site names its page's language for the blocks.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyReply } from 'fastify';
import type { Config } from '../../../config.ts';
import type { Principal } from '../../../core/admin/access.ts';
import type { Registry } from '../../../core/admin/registry.ts';
import { webAssets, type WebFile } from '../../../web/assets.ts';
import { accountPage, framePage, noServerPage, outcomeOf, phonePage, visitorId, welcomePage, type DemoAccount, type Outcome } from '../../../web/demo.ts';
import type { App } from '../context.ts';
import { sendAsset } from '../send-asset.ts';
import { replyError } from '../reply-error.ts';
import { isErrorCode, type ErrorCode } from '../../../wire/errors.ts';
// The visitor's nonce is made and read as any relying party's (@nextauth/node does it the same way).
import { isNonce, newNonce } from '../../../rp/client.ts';
import { readCookie } from '../../../rp/request.ts';

export interface DemoDeps {
  config: Config;
  registry: Registry;
  /** The demo server made on this start, if any (main.ts's bootstrap). */
  demoServerId?: string;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

const KEY_FILE = 'demo-site.json';
const NONCE_COOKIE = 'nextauth_demo';
const ADD_COOKIE = 'nextauth_demo_add';

/** The demo server: the one the demo used before, the one made on this start, or one named like it. */
async function findDemoServer(registry: Registry, saved: string | undefined, made: string | undefined): Promise<string | undefined> {
  for (const id of [saved, made]) if (id && (await registry.servers.get(id))) return id;
  return (await registry.servers.list()).find((s) => s.serverName === 'Demo server' && s.appname === 'nextAuth demo')?.serverid;
}

/** A role with global root, so the demo's key shows in that role's getApiKeys. */
async function rootPrincipal(registry: Registry): Promise<Principal | undefined> {
  const role = (await registry.store.permissionsOn('*')).find((p) => p.acl.includes('root'))?.role;
  return role ? { role, keyRole: role } : undefined;
}

/** The site's api key: the saved one while it still holds its permissions, else a new one. */
async function siteKey(deps: DemoDeps, serverid: string): Promise<string> {
  const { registry, config } = deps;
  const file = path.join(config.dataDir, KEY_FILE);
  try {
    const saved = JSON.parse(await readFile(file, 'utf8')) as { serverid?: string; apikey?: string };
    if (saved.serverid === serverid && typeof saved.apikey === 'string') {
      const p = await registry.access.authenticate(saved.apikey, undefined);
      if ((await registry.access.has(p, 'sessions', serverid)) && (await registry.access.has(p, 'users', serverid))) return saved.apikey;
    }
  } catch {
    // no key yet, or one that no longer works: make one
  }
  const creator = (await rootPrincipal(registry)) ?? { role: 'nextauth-demo', keyRole: 'nextauth-demo' };
  const { apikey, role } = await registry.access.createApiKey(creator, 'demo site (/demo)');
  await registry.access.grant(serverid, role, ['sessions', 'users']);
  await writeFile(file, `${JSON.stringify({ serverid, apikey, role }, null, 2)}\n`, { mode: 0o600 });
  deps.log?.info({ role }, 'demo site: made its api key');
  return apikey;
}

async function savedServer(config: Config): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(path.join(config.dataDir, KEY_FILE), 'utf8')) as { serverid?: string }).serverid;
  } catch {
    return undefined;
  }
}

// ───────────────────────── cookies and nonces ─────────────────────────

/** Sets a cookie of the demo's; `Secure` when the NS is reached over https (its public URL), so the nonce never travels in clear. */
const setCookie = (reply: FastifyReply, config: Config, name: string, value: string, maxAge = 86400) =>
  reply.header('set-cookie', [
    ...([reply.getHeader('set-cookie')].flat().filter(Boolean) as string[]),
    `${name}=${value}; Path=/demo; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${config.publicUrl.startsWith('https:') ? '; Secure' : ''}`,
  ]);

/** The demo's files: GET /demo/<name>, public. */
const FILES: WebFile[] = ['demo.css', 'site.js', 'phone.js', 'sdk.js'];

// ───────────────────────── routes ─────────────────────────

export async function registerDemo(app: App, deps: DemoDeps): Promise<void> {
  const { registry } = deps;
  const serverid = await findDemoServer(registry, await savedServer(deps.config), deps.demoServerId);
  const apikey = serverid ? await siteKey(deps, serverid) : undefined;
  const pub = { config: { public: true } };
  const assets = webAssets();
  /** The transactions the site asked for, per tid: the visitor's nonce (only they see the result). */
  const payments = new Map<string, string>();
  const remember = (tid: string, nonce: string) => {
    payments.set(tid, nonce);
    while (payments.size > 1000) payments.delete(payments.keys().next().value!);
  };

  /** The NS's REST API, as the site's backend calls it. */
  async function rest<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PUT',
    url: string,
    opts: { nonce?: string; body?: unknown } = {},
  ): Promise<{ status: number; body: T; text: string }> {
    const res = await app.inject({
      method,
      url,
      headers: {
        'x-apikey': apikey ?? '',
        ...(opts.nonce ? { 'x-nonce': opts.nonce } : {}),
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(opts.body !== undefined ? { payload: JSON.stringify(opts.body) } : {}),
    });
    const text = res.body;
    let body: unknown = text;
    if (String(res.headers['content-type'] ?? '').includes('json') && text) body = JSON.parse(text);
    if (res.statusCode >= 400) throw Object.assign(new Error(`${method} ${url}: ${res.statusCode} ${text}`), { code: (body as { code?: unknown } | null)?.code });
    return { status: res.statusCode, body: body as T, text };
  }

  // The demo's routes in a context of their own: HTML forms post urlencoded bodies, which the
  // REST API does not take, so only this context reads them (as text, unused).
  await app.register(async (demo) => {
    demo.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    for (const name of FILES) demo.get(`/demo/${name}`, pub, async (req, reply) => sendAsset(req, reply, assets[name]));
    demo.get('/demo', pub, async (_req, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(serverid ? framePage() : noServerPage()),
    );
    demo.get('/demo/phone', pub, async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(phonePage()));

    demo.get('/demo/site', pub, async (req, reply) => {
      reply.header('cache-control', 'no-store');
      if (!serverid) return reply.type('text/html; charset=utf-8').send(noServerPage());
      let nonce = readCookie(req.headers.cookie, NONCE_COOKIE);
      if (!isNonce(nonce)) {
        nonce = newNonce();
        setCookie(reply, deps.config, NONCE_COOKIE, nonce);
      }
      const base = `/servers/${serverid}`;
      const context = { sessioninfo: { ip: req.ip, useragent: String(req.headers['user-agent'] ?? '').slice(0, 1000) } };
      let status = (await rest<{ loggedin: boolean; userid?: string; accountid?: number; canprovoke: boolean }>('GET', `${base}/sessions/`, { nonce })).body;

      if (!status.loggedin) {
        const newUser = visitorId(nonce);
        const [login, enrol, footer] = await Promise.all([
          rest('POST', `${base}/sessions/html/login?lang=en`, { nonce, body: context }),
          rest('POST', `${base}/sessions/html/enrol?lang=en&name=${encodeURIComponent('Demo phone')}&userid=${encodeURIComponent(newUser)}`, { nonce, body: context }),
          rest('GET', `${base}/sessions/html/footer?lang=en`, { nonce }),
        ]);
        return reply.type('text/html; charset=utf-8').send(welcomePage({ canprovoke: status.canprovoke, newUser, login: login.text, enrol: enrol.text, footer: footer.text }));
      }

      // Logged in. An account enrolled without a userid gets the visitor's one.
      let userid = status.userid;
      if (!userid) {
        userid = visitorId(nonce);
        await rest('POST', `${base}/sessions/registeruser?userid=${encodeURIComponent(userid)}`, { nonce });
        status = { ...status, userid };
      }
      const user = encodeURIComponent(userid);
      // "Add another device" runs on a session of its own (a logged-in session takes no enrolment).
      let addNonce: string | undefined = readCookie(req.headers.cookie, ADD_COOKIE);
      let flash = '';
      if (isNonce(addNonce)) {
        const added = (await rest<{ loggedin: boolean; accountid?: number }>('GET', `${base}/sessions/`, { nonce: addNonce })).body;
        if (added.loggedin) {
          flash = `A new device was added: account ${added.accountid}.`;
          await rest('POST', `${base}/sessions/logout`, { nonce: addNonce });
          addNonce = undefined;
        }
      }
      if (!isNonce(addNonce)) {
        addNonce = newNonce();
        setCookie(reply, deps.config, ADD_COOKIE, addNonce);
      }
      // The site keeps a few attributes of its users in the NS; a page view counts as a visit.
      const before = (await rest<Record<string, unknown>>('GET', `${base}/users/${user}/attributes/`).catch(() => ({ body: {} as Record<string, unknown> }))).body;
      if (!req.headers['x-nextauth-refresh']) {
        const now = new Date().toISOString();
        await rest('PUT', `${base}/users/${user}/attributes/`, {
          body: { visits: (typeof before.visits === 'number' ? before.visits : 0) + 1, lastVisit: now, ...(before.firstVisit ? {} : { firstVisit: now }) },
        });
      }
      const [attrs, accounts, enrol, footer] = await Promise.all([
        rest<Record<string, unknown>>('GET', `${base}/users/${user}/attributes/`),
        rest<{ accounts: DemoAccount[] }>('GET', `${base}/users/${user}/accounts`),
        rest('POST', `${base}/sessions/html/enrol?lang=en&name=${encodeURIComponent('Another device')}&userid=${user}`, { nonce: addNonce, body: context }),
        rest('POST', `${base}/sessions/html/footer?lang=en`, { nonce, body: { sessions: [{ serverid, sessionid: Buffer.from(addNonce).toString('base64') }] } }),
      ]);
      // A payment the visitor asked the phone to approve (?tid= after the form was sent).
      const askedTid = typeof (req.query as Record<string, unknown>).tid === 'string' ? String((req.query as Record<string, unknown>).tid) : '';
      let payment: Outcome | '' = '';
      if (askedTid && payments.get(askedTid) === nonce) {
        const r = await rest<{ tstatus: string; state: string }>('GET', `${base}/transactions/${encodeURIComponent(askedTid)}`).catch(() => undefined);
        if (r) payment = outcomeOf(r.body);
      }
      return reply.type('text/html; charset=utf-8').send(
        accountPage({
          userid,
          accountid: status.accountid,
          canprovoke: status.canprovoke,
          flash,
          payment,
          tid: askedTid,
          attributes: attrs.body,
          accounts: accounts.body.accounts,
          enrol: enrol.text,
          footer: footer.text,
        }),
      );
    });

    demo.post('/demo/site/logout', pub, async (req, reply) => {
      const nonce = readCookie(req.headers.cookie, NONCE_COOKIE);
      if (serverid && isNonce(nonce)) await rest('POST', `/servers/${serverid}/sessions/logout`, { nonce });
      return reply.code(303).header('location', '/demo/site').send();
    });

    // The payment form: createTransaction for the visitor's session (the phone that logged it in
    // is asked). A script gets JSON; a plain form post is sent back to the page with ?tid=.
    demo.post('/demo/site/pay', pub, async (req, reply) => {
      const nonce = readCookie(req.headers.cookie, NONCE_COOKIE);
      const json = String(req.headers.accept ?? '').includes('application/json');
      const form = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
      const body: Record<string, string> = {};
      for (const k of ['amount', 'benificiary', 'description']) {
        const v = form.get(k)?.trim();
        if (v) body[k] = v.slice(0, 1024);
      }
      let tid: string | undefined;
      let refusal: ErrorCode = 'NO_ACCOUNT';
      let message = 'You are not logged in.';
      if (serverid && isNonce(nonce)) {
        try {
          tid = (await rest<{ tid: string }>('POST', `/servers/${serverid}/sessions/transactions`, { nonce, body })).body.tid;
          remember(tid, nonce);
        } catch (e) {
          // The NS's refusal, passed on as it came.
          const code = (e as { code?: unknown }).code;
          refusal = isErrorCode(code) ? code : 'INTERNAL';
          message = e instanceof Error ? e.message : String(e);
        }
      }
      if (json) {
        reply.header('cache-control', 'no-store');
        return tid ? reply.send({ tid }) : replyError(reply, refusal, message);
      }
      return reply
        .code(303)
        .header('location', tid ? `/demo/site?tid=${encodeURIComponent(tid)}` : '/demo/site')
        .send();
    });

    demo.get('/demo/site/pay/:tid', pub, async (req, reply) => {
      const { tid } = req.params as { tid: string };
      const nonce = readCookie(req.headers.cookie, NONCE_COOKIE);
      reply.header('cache-control', 'no-store');
      if (!serverid || !isNonce(nonce) || payments.get(tid) !== nonce) return replyError(reply, 'UNKNOWN_TRANSACTION', 'No such payment');
      const r = await rest<{ tstatus: string; state: string }>('GET', `/servers/${serverid}/transactions/${encodeURIComponent(tid)}`).catch(() => undefined);
      if (!r) return replyError(reply, 'UNKNOWN_TRANSACTION', 'No such payment');
      return { outcome: outcomeOf(r.body), tstatus: r.body.tstatus };
    });

    demo.post('/demo/site/reset', pub, async (req, reply) => {
      const nonce = readCookie(req.headers.cookie, NONCE_COOKIE);
      if (serverid && isNonce(nonce)) await rest('POST', `/servers/${serverid}/sessions/logout`, { nonce });
      setCookie(reply, deps.config, NONCE_COOKIE, '', 0);
      setCookie(reply, deps.config, ADD_COOKIE, '', 0);
      return reply.code(303).header('location', '/demo/site').send();
    });
  });
}
