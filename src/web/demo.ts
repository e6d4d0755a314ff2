/**
 * The demo relying party's pages (at /demo when NEXTAUTH_DEMO is true): a small website that
 * logs people in with nextAuth, beside a phone panel that runs the app SDK in the browser, so a
 * newcomer with no phone sees the whole flow in one window.
 *
 *   /demo          the two panes: the site and the phone (framePage)
 *   /demo/site     the website (welcomePage, then accountPage once logged in)
 *   /demo/phone    the phone panel (phonePage; its script is src/web/phone-panel.ts)
 *
 * Pure functions: the routes (src/transports/http/routes/demo.ts) ask the NS's REST API what the
 * site knows, these write the pages. Their files (demo.css, site.js from src/web/demo-site.ts,
 * phone.js) come from dist/web.
 */
import { createHash } from 'node:crypto';
import { assetUrl } from './assets.ts';
import { esc } from './blocks.ts';

/** The visitor's user name on the demo: stable for its nonce. */
export const visitorId = (nonce: string) => `visitor-${createHash('sha256').update(nonce).digest('hex').slice(0, 6)}`;

// ───────────────────────── pages ─────────────────────────

const page = (title: string, bodyClass: string, body: string, head = '') => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${assetUrl('/demo', 'demo.css')}">
${head}
</head>
<body class="${bodyClass}">
${body}
</body>
</html>
`;

export type Outcome = 'waiting' | 'approved' | 'declined' | 'expired';

/** What a getTransactionResult answer means for the visitor. */
export const outcomeOf = (r: { tstatus?: string; state?: string }): Outcome =>
  r.tstatus === '1' ? 'approved' : r.tstatus === '2' ? (r.state === 'expired' ? 'expired' : 'declined') : 'waiting';
const OUTCOME_TEXT: Record<string, string> = {
  waiting: 'Waiting for your phone to approve…',
  approved: 'Payment approved on your phone.',
  declined: 'Payment declined on your phone.',
  expired: 'The payment expired: nobody answered on the phone.',
};

export const framePage = () =>
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

export const phonePage = () =>
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
<ol id="log" aria-live="off" tabindex="0" aria-labelledby="log-label"></ol></section>
</main>
<script src="${assetUrl('/demo', 'phone.js')}" defer></script>`,
  );

export const noServerPage = () =>
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

/** The site for a visitor not logged in: the login block, and an enrol block as `newUser`. */
export interface WelcomePageInput {
  canprovoke: boolean;
  newUser: string;
  /** The HTML the NS made (getHtmlLogin, getHtmlEnrol, getHtmlFooter). */
  login: string;
  enrol: string;
  footer: string;
}

export function welcomePage(input: WelcomePageInput): string {
  const { canprovoke, newUser, login, enrol, footer } = input;
  const body = `<header class="site-header"><span class="brand">Example Site</span><span class="who">Not logged in</span></header>
  <main class="site-main">
  <h1>Welcome</h1>
  <p class="lead">This site logs you in with your phone: no password. ${canprovoke ? 'Scan the code, or have a login sent to your phone.' : 'Scan the login code with the nextAuth app, or, if you are new here, the enrol code.'}</p>
  <div class="columns">
  <section aria-labelledby="login-label"><h2 id="login-label">Been here before?</h2><p class="lead center">Log in with your phone.</p>${login}</section>
  <section aria-labelledby="new-label"><h2 id="new-label">New here?</h2><p class="lead center">Add your phone: you will be <strong>${esc(newUser)}</strong>.</p>${enrol}</section>
  </div>
  </main>
  ${footer}`;
  return page('Example Site · log in', 'site-page', body);
}

/** A device of the user, as getAccounts lists it. */
export interface DemoAccount {
  id: number;
  description: string;
  created?: number;
  lastlogin?: number;
  blocked?: boolean;
}

/** The site for a logged-in visitor. */
export interface AccountPageInput {
  userid: string;
  /** The account of this login. */
  accountid: number | undefined;
  canprovoke: boolean;
  /** A notice at the top ("A new device was added…"), or ''. */
  flash: string;
  /** The outcome of the payment in `?tid=`, or ''. */
  payment: Outcome | '';
  tid: string;
  attributes: Record<string, unknown>;
  accounts: DemoAccount[];
  /** The HTML the NS made: the "add another device" enrol block and the footer. */
  enrol: string;
  footer: string;
}

export function accountPage(input: AccountPageInput): string {
  const { userid, accountid, canprovoke, flash, payment, tid, enrol, footer } = input;
  const rows = input.accounts
    .map(
      (a) =>
        `<tr><td>${a.id}${a.id === accountid ? ' <small>(this login)</small>' : ''}</td><td>${esc(a.description)}</td><td>${date(a.created)}</td><td>${date(a.lastlogin)}</td></tr>`,
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
  <dl class="facts"><dt>User id</dt><dd>${esc(userid)}</dd><dt>Account</dt><dd id="account">${accountid ?? '—'}</dd><dt>Push login</dt><dd>${canprovoke ? 'possible' : 'not yet'}</dd></dl>
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
  <p id="payment-status" class="payment" role="status" data-outcome="${payment}"${payment ? ` data-tid="${esc(tid)}"` : ''}>${payment ? esc(OUTCOME_TEXT[payment]!) : ''}</p></section>
  <section class="card" aria-labelledby="attrs-label"><h2 id="attrs-label">Your attributes</h2>${attributesTable(input.attributes)}</section>
  <section class="card" aria-labelledby="devices-label"><h2 id="devices-label">Your devices</h2>
  <table><thead><tr><th scope="col">Account</th><th scope="col">Name</th><th scope="col">Enrolled</th><th scope="col">Last login</th></tr></thead><tbody>${rows}</tbody></table></section>
  </div>
  <section aria-labelledby="add-label"><h2 id="add-label">Add another device</h2>${enrol}</section>
  </div>
  </main>
  ${footer}
  <script src="${assetUrl('/demo', 'site.js')}" defer></script>`;
  return page(`Example Site · ${userid}`, 'site-page', body);
}
