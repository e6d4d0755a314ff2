/**
 * The demo relying party at /demo (on when NEXTAUTH_DEMO is true): a small website that logs
 * people in with nextAuth, beside a phone panel that runs the app SDK in the browser, so a
 * newcomer with no phone sees the whole flow in one window.
 *
 *   /demo          the two panes: the site and the phone
 *   /demo/site     the website: a nonce per visitor (cookie), the login and enrol blocks; once
 *                  logged in, the userid, the account, the user's attributes, log out, and an
 *                  "add another device" enrol block
 *   /demo/phone    the phone panel (src/web/phone-panel.ts, bundled with esbuild)
 *
 * The site is what any relying party's backend would be: it uses the NS only through its REST
 * API (called in-process with fastify's inject), with an api key of its own that holds
 * 'sessions' and 'users' on the demo server and nothing else. The key is made on the first start
 * and kept in the data folder (demo-site.json, mode 0600). The pages need no api key.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../transports/http/context.ts';
import type { Config } from '../config.ts';
import type { Principal } from '../core/admin/access.ts';
import type { Registry } from '../core/admin/registry.ts';
import { replyError } from '../transports/http/reply-error.ts';
import { isErrorCode, type ErrorCode } from '../wire/errors.ts';
import { makeAsset, sendAsset } from './assets.ts';
import { esc } from './blocks.ts';
import { bundle } from './bundle.ts';

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
const here = path.dirname(fileURLToPath(import.meta.url));

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

function cookies(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of String(req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim());
  }
  return out;
}

const newNonce = () => randomBytes(24).toString('base64url');
const isNonce = (v: string | undefined): v is string => !!v && /^[A-Za-z0-9_-]{32}$/.test(v);
const setCookie = (reply: FastifyReply, name: string, value: string, maxAge = 86400) =>
  reply.header('set-cookie', [...([reply.getHeader('set-cookie')].flat().filter(Boolean) as string[]), `${name}=${value}; Path=/demo; HttpOnly; SameSite=Lax; Max-Age=${maxAge}`]);

/** The visitor's user name on the demo: stable for its nonce. */
const visitorId = (nonce: string) => `visitor-${createHash('sha256').update(nonce).digest('hex').slice(0, 6)}`;

// ───────────────────────── pages ─────────────────────────

const page = (title: string, bodyClass: string, body: string, head = '') => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/demo/demo.css?v=${demoCss.version}">
${head}
</head>
<body class="${bodyClass}">
${body}
</body>
</html>
`;

const demoCss = makeAsset(readFileSync(path.join(here, 'demo.css')), 'text/css; charset=utf-8');

/**
 * The site's own script (/demo/site.js, plain ES2017): sends the payment form without leaving
 * the page and follows the transaction's result until the phone answers. The footer script's
 * `nextauth` event with `event: "transaction"` makes it ask at once; otherwise it asks every
 * second. Without scripts the form posts and the page shows the result on reload.
 */
const siteJs = makeAsset(
  `(function () {
  var form = document.getElementById('pay');
  var out = document.getElementById('payment-status');
  if (!form || !out) return;
  var tid = out.getAttribute('data-tid') || '';
  var timer = null;
  var words = { waiting: 'Waiting for your phone to approve…', approved: 'Payment approved on your phone.', declined: 'Payment declined on your phone.', expired: 'The payment expired: nobody answered on the phone.', failed: 'Could not ask the phone: ' };
  function show(outcome, extra) {
    out.setAttribute('data-outcome', outcome);
    out.textContent = words[outcome] + (extra || '');
  }
  function poll() {
    clearTimeout(timer);
    if (!tid) return;
    var asked = tid;
    fetch('/demo/site/pay/' + encodeURIComponent(tid), { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error('HTTP ' + r.status)); })
      .then(function (r) {
        if (asked !== tid) return;
        if (r.outcome === 'waiting') timer = setTimeout(poll, 1000);
        show(r.outcome);
      })
      .catch(function () { if (asked === tid) timer = setTimeout(poll, 2000); });
  }
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var button = form.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    fetch(form.action, { method: 'POST', credentials: 'same-origin', headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(new FormData(form)).toString() })
      .then(function (r) { return r.json(); })
      .then(function (r) {
        if (!r.tid) return show('failed', r.message || 'unknown error');
        tid = r.tid;
        out.setAttribute('data-tid', tid);
        try { history.replaceState(null, '', '/demo/site?tid=' + encodeURIComponent(tid)); } catch (err) {}
        show('waiting');
        poll();
      })
      .catch(function (err) { show('failed', String(err && err.message)); })
      .then(function () { if (button) button.disabled = false; });
  });
  document.addEventListener('nextauth', function (e) {
    if (e.detail && e.detail.event === 'transaction') poll();
  });
  if (tid && out.getAttribute('data-outcome') === 'waiting') poll();
})();
`,
  'text/javascript; charset=utf-8',
);

/** What a getTransactionResult answer means for the visitor. */
const outcomeOf = (r: { tstatus?: string; state?: string }) => (r.tstatus === '1' ? 'approved' : r.tstatus === '2' ? (r.state === 'expired' ? 'expired' : 'declined') : 'waiting');
const OUTCOME_TEXT: Record<string, string> = {
  waiting: 'Waiting for your phone to approve…',
  approved: 'Payment approved on your phone.',
  declined: 'Payment declined on your phone.',
  expired: 'The payment expired: nobody answered on the phone.',
};

const framePage = () =>
  page(
    'nextAuth demo',
    'frame-page',
    `<header class="intro">
<h1>nextAuth demo</h1>
<p>A website that logs people in with nextAuth, and beside it a phone running the nextAuth app (the real app SDK, in this browser).
Scan the enrol code with the phone, and the site logs you in; log out, log in again with the login code, or send a login to the phone.</p>
</header>
<main class="panes">
<section class="pane site-pane" aria-labelledby="site-label"><h2 id="site-label">The website</h2>
<iframe id="site" name="site" src="/demo/site" title="The website (a relying party that uses nextAuth)"></iframe></section>
<section class="pane phone-pane" aria-labelledby="phone-label"><h2 id="phone-label">The phone</h2>
<iframe id="phone" name="phone" src="/demo/phone" title="The phone (the nextAuth app, simulated)"></iframe></section>
</main>`,
  );

const phonePage = (scriptVersion: string) =>
  page(
    'Phone · nextAuth demo',
    'phone-page',
    `<main class="phone">
<header class="phone-bar"><h1>nextAuth app</h1><span id="listen-state" role="status">Not listening</span></header>
<section aria-labelledby="screen-label"><h2 id="screen-label" class="visually-hidden">Screen</h2>
<div id="screen" class="phone-screen" aria-live="polite"><p class="home">Starting…</p></div></section>
<section aria-labelledby="scan-label"><h2 id="scan-label">Scan a code</h2>
<div id="codes"></div>
<form id="paste"><label for="code">…or paste a code or an app link</label>
<textarea id="code" spellcheck="false" autocomplete="off"></textarea>
<button type="submit">Use this code</button></form></section>
<section aria-labelledby="accounts-label"><h2 id="accounts-label">Accounts on this phone</h2>
<ul id="accounts"></ul>
<button type="button" id="reset">Forget all accounts</button></section>
<section aria-labelledby="log-label"><h2 id="log-label">What the phone did</h2>
<ol id="log" aria-live="off"></ol></section>
</main>
<script src="/demo/phone.js?v=${scriptVersion}" defer></script>`,
  );

const noServerPage = () =>
  page(
    'nextAuth demo',
    'frame-page',
    `<main class="site-main"><h1>No demo server</h1>
<p class="lead">The demo runs on a virtual server the NS makes on its first start with an empty data folder (with <code>NEXTAUTH_DEMO=true</code>, the default). This data folder had servers already, so there is none: start the NS on an empty data folder to try the demo.</p></main>`,
  );

/** A table of a user's attributes. */
function attributesTable(attrs: Record<string, unknown>): string {
  const rows = Object.entries(attrs).map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${esc(typeof v === 'string' ? v : JSON.stringify(v))}</td></tr>`);
  return rows.length ? `<table><tbody>${rows.join('')}</tbody></table>` : '<p class="lead">No attributes.</p>';
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** "24 Nov 15:56" (UTC), short enough for a narrow table. */
const date = (ms: unknown) => {
  if (typeof ms !== 'number' || ms <= 0) return '—';
  const d = new Date(ms);
  const iso = d.toISOString();
  return `<time datetime="${iso}">${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${iso.slice(11, 16)}</time>`;
};

// ───────────────────────── routes ─────────────────────────

export async function registerDemo(app: App, deps: DemoDeps): Promise<void> {
  const { registry } = deps;
  const serverid = await findDemoServer(registry, await savedServer(deps.config), deps.demoServerId);
  const apikey = serverid ? await siteKey(deps, serverid) : undefined;
  const pub = { config: { public: true } };
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
  // biome-ignore lint/nursery/noMisusedPromises: fastify takes an async plugin
  await app.register(async (demo) => {
    demo.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    demo.get('/demo/demo.css', pub, async (req, reply) => sendAsset(req, reply, demoCss));
    demo.get('/demo', pub, async (_req, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(serverid ? framePage() : noServerPage()),
    );

    demo.get('/demo/phone', pub, async (_req, reply) => {
      const script = await bundle('phone-panel');
      return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(phonePage(script.version));
    });
    demo.get('/demo/phone.js', pub, async (req, reply) => sendAsset(req, reply, await bundle('phone-panel')));
    demo.get('/demo/site.js', pub, async (req, reply) => sendAsset(req, reply, siteJs));
    demo.get('/demo/sdk.js', pub, async (req, reply) => sendAsset(req, reply, await bundle('sdk')));
    // Build the phone's bundle now, so the first visitor does not wait for it.
    void bundle('phone-panel').catch((err: unknown) => deps.log?.warn({ err }, 'demo: could not bundle the phone panel'));

    demo.get('/demo/site', pub, async (req, reply) => {
      reply.header('cache-control', 'no-store');
      if (!serverid) return reply.type('text/html; charset=utf-8').send(noServerPage());
      const jar = cookies(req);
      let nonce = jar[NONCE_COOKIE];
      if (!isNonce(nonce)) {
        nonce = newNonce();
        setCookie(reply, NONCE_COOKIE, nonce);
      }
      const base = `/servers/${serverid}`;
      const context = { sessioninfo: { ip: req.ip, useragent: String(req.headers['user-agent'] ?? '').slice(0, 1000) } };
      let status = (await rest<{ loggedin: boolean; userid?: string; accountid?: number; canprovoke: boolean }>('GET', `${base}/sessions/`, { nonce })).body;

      if (!status.loggedin) {
        const newUser = visitorId(nonce);
        const [login, enrol, footer] = await Promise.all([
          rest('POST', `${base}/sessions/html/login`, { nonce, body: context }),
          rest('POST', `${base}/sessions/html/enrol?name=${encodeURIComponent('Demo phone')}&userid=${encodeURIComponent(newUser)}`, { nonce, body: context }),
          rest('GET', `${base}/sessions/html/footer`, { nonce }),
        ]);
        const body = `<header class="site-header"><span class="brand">Example Site</span><span class="who">Not logged in</span></header>
  <main class="site-main">
  <h1>Welcome</h1>
  <p class="lead">This site logs you in with your phone: no password. ${status.canprovoke ? 'Scan the code, or have a login sent to your phone.' : 'Scan the login code with the nextAuth app, or, if you are new here, the enrol code.'}</p>
  <div class="columns">
  <section aria-labelledby="login-label"><h2 id="login-label">Been here before?</h2><p class="lead center">Log in with your phone.</p>${login.text}</section>
  <section aria-labelledby="new-label"><h2 id="new-label">New here?</h2><p class="lead center">Add your phone: you will be <strong>${esc(newUser)}</strong>.</p>${enrol.text}</section>
  </div>
  </main>
  ${footer.text}`;
        return reply.type('text/html; charset=utf-8').send(page('Example Site · log in', 'site-page', body));
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
      let addNonce: string | undefined = jar[ADD_COOKIE];
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
        setCookie(reply, ADD_COOKIE, addNonce);
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
        rest<{ accounts: Array<{ id: number; description: string; created?: number; lastlogin?: number; blocked?: boolean }> }>('GET', `${base}/users/${user}/accounts`),
        rest('POST', `${base}/sessions/html/enrol?name=${encodeURIComponent('Another device')}&userid=${user}`, { nonce: addNonce, body: context }),
        rest('POST', `${base}/sessions/html/footer`, { nonce, body: { sessions: [{ serverid, sessionid: Buffer.from(addNonce).toString('base64') }] } }),
      ]);
      // A payment the visitor asked the phone to approve (?tid= after the form was sent).
      const askedTid = typeof (req.query as Record<string, unknown>).tid === 'string' ? String((req.query as Record<string, unknown>).tid) : '';
      let payment = '';
      if (askedTid && payments.get(askedTid) === nonce) {
        const r = await rest<{ tstatus: string; state: string }>('GET', `${base}/transactions/${encodeURIComponent(askedTid)}`).catch(() => undefined);
        if (r) payment = outcomeOf(r.body);
      }
      const rows = accounts.body.accounts
        .map(
          (a) =>
            `<tr><td>${a.id}${a.id === status.accountid ? ' <small>(this login)</small>' : ''}</td><td>${esc(a.description)}</td><td>${date(a.created)}</td><td>${date(a.lastlogin)}</td></tr>`,
        )
        .join('');
      const body = `<header class="site-header"><span class="brand">Example Site</span><span class="who">Logged in as <strong id="who">${esc(userid)}</strong></span></header>
  <main class="site-main">
  ${flash ? `<p class="flash" role="status">${esc(flash)}</p>` : ''}
  <h1>Hello, <span id="userid">${esc(userid)}</span></h1>
  <p class="lead">You logged in with your phone. This is what the site knows, all of it from the NS's REST API.</p>
  <div class="columns">
  <div>
  <section class="card" aria-labelledby="session-label"><h2 id="session-label">This login</h2>
  <dl class="facts"><dt>User id</dt><dd>${esc(userid)}</dd><dt>Account</dt><dd id="account">${status.accountid ?? '—'}</dd><dt>Push login</dt><dd>${status.canprovoke ? 'possible' : 'not yet'}</dd></dl>
  <div class="actions">
  <form method="post" action="/demo/site/logout"><button class="btn" type="submit" id="logout">Log out</button></form>
  <form method="post" action="/demo/site/reset"><button class="btn secondary" type="submit">Start over as a new visitor</button></form>
  </div></section>
  <section class="card" aria-labelledby="pay-label"><h2 id="pay-label">Approve a payment</h2>
  <p class="lead">The site asks your phone to approve it: the phone shows what it signs.</p>
  <form id="pay" class="pay" method="post" action="/demo/site/pay">
  <label for="pay-amount">Amount</label><input id="pay-amount" name="amount" maxlength="1024" required value="EUR 25.00">
  <label for="pay-benificiary">Beneficiary</label><input id="pay-benificiary" name="benificiary" maxlength="1024" value="Example Shop">
  <label for="pay-description">Description</label><input id="pay-description" name="description" maxlength="1024" value="Order 1001">
  <button class="btn" type="submit" id="pay-send">Ask my phone</button>
  </form>
  <p id="payment-status" class="payment" role="status" data-outcome="${payment}"${payment ? ` data-tid="${esc(askedTid)}"` : ''}>${payment ? esc(OUTCOME_TEXT[payment]!) : ''}</p></section>
  <section class="card" aria-labelledby="attrs-label"><h2 id="attrs-label">Your attributes</h2>${attributesTable(attrs.body)}</section>
  <section class="card" aria-labelledby="devices-label"><h2 id="devices-label">Your devices</h2>
  <table><thead><tr><th scope="col">Account</th><th scope="col">Name</th><th scope="col">Enrolled</th><th scope="col">Last login</th></tr></thead><tbody>${rows}</tbody></table></section>
  </div>
  <section aria-labelledby="add-label"><h2 id="add-label">Add another device</h2>${enrol.text}</section>
  </div>
  </main>
  ${footer.text}
  <script src="/demo/site.js?v=${siteJs.version}" defer></script>`;
      return reply.type('text/html; charset=utf-8').send(page(`Example Site · ${userid}`, 'site-page', body));
    });

    demo.post('/demo/site/logout', pub, async (req, reply) => {
      const nonce = cookies(req)[NONCE_COOKIE];
      if (serverid && isNonce(nonce)) await rest('POST', `/servers/${serverid}/sessions/logout`, { nonce });
      return reply.code(303).header('location', '/demo/site').send();
    });

    // The payment form: createTransaction for the visitor's session (the phone that logged it in
    // is asked). A script gets JSON; a plain form post is sent back to the page with ?tid=.
    demo.post('/demo/site/pay', pub, async (req, reply) => {
      const nonce = cookies(req)[NONCE_COOKIE];
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
      const nonce = cookies(req)[NONCE_COOKIE];
      reply.header('cache-control', 'no-store');
      if (!serverid || !isNonce(nonce) || payments.get(tid) !== nonce) return replyError(reply, 'UNKNOWN_TRANSACTION', 'No such payment');
      const r = await rest<{ tstatus: string; state: string }>('GET', `/servers/${serverid}/transactions/${encodeURIComponent(tid)}`).catch(() => undefined);
      if (!r) return replyError(reply, 'UNKNOWN_TRANSACTION', 'No such payment');
      return { outcome: outcomeOf(r.body), tstatus: r.body.tstatus };
    });

    demo.post('/demo/site/reset', pub, async (req, reply) => {
      const nonce = cookies(req)[NONCE_COOKIE];
      if (serverid && isNonce(nonce)) await rest('POST', `/servers/${serverid}/sessions/logout`, { nonce });
      setCookie(reply, NONCE_COOKIE, '', 0);
      setCookie(reply, ADD_COOKIE, '', 0);
      return reply.code(303).header('location', '/demo/site').send();
    });
  });
}
