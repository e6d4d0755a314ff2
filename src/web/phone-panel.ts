/**
 * The demo's phone: the nextAuth app SDK (src/sdk/app.ts) running in a browser, built by
 * `npm run build` into dist/web/phone.js and served at /demo/phone.js for the page /demo/phone.
 *
 * It takes a code (from the site shown next to it, pasted, or `?qr=` in its own URL), shows what
 * a phone shows before it asks for consent (the server's name, the browser's ip and user agent,
 * the number to match after a push), and enrols, logs in, declines, and listens for pushes.
 * It also shows the transactions a site asks it to approve (the fields it signs), with a PIN.
 * Its accounts live in localStorage, so a reload keeps them.
 */
import {
  answerTransaction,
  fromB64url,
  naclSigner,
  Phone,
  parseQrText,
  pushToQr,
  readTransaction,
  SdkError,
  toB64url,
  type AppConnection,
  type ChallengeInfo,
  type Consent,
  type Frame,
  type QrCode,
} from '../sdk/app.ts';
import { withAccount, type KeyStore, type StoredAccount } from '../sdk/keystore.ts';

// ───────────────────────── storage ─────────────────────────

const STORAGE_KEY = 'nextauth-demo-phone/v1';

/** The phone's accounts in localStorage (a real app keeps them in the platform's key store). */
class LocalKeyStore implements KeyStore {
  #read(): StoredAccount[] {
    try {
      const value = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '[]') as unknown;
      return Array.isArray(value) ? (value as StoredAccount[]) : [];
    } catch {
      return [];
    }
  }

  #write(accounts: StoredAccount[]): void {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(accounts));
  }

  async list(): Promise<StoredAccount[]> {
    return this.#read();
  }

  async find(serverid: string): Promise<StoredAccount[]> {
    return this.#read().filter((a) => a.serverid === serverid);
  }

  async put(account: StoredAccount): Promise<void> {
    this.#write(withAccount(this.#read(), account));
  }

  async remove(serverid: string, acc: number): Promise<void> {
    this.#write(this.#read().filter((a) => !(a.serverid === serverid && a.acc === acc)));
  }
}

// ───────────────────────── DOM helpers ─────────────────────────

type Child = Node | string | null | undefined | false;

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

const byId = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return el as T;
};

const time = () => new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

function log(text: string, tone: 'ok' | 'error' | 'info' = 'info'): void {
  const list = byId<HTMLOListElement>('log');
  list.prepend(h('li', { 'data-tone': tone }, h('time', {}, time()), ' ', text));
  while (list.children.length > 40) list.lastElementChild?.remove();
}

/** Why an SDK call failed, in words. */
function describe(e: unknown): string {
  if (e instanceof SdkError) {
    const words: Record<string, string> = {
      DECLINED: 'You declined.',
      NO_ACCOUNT: 'This phone has no account on that server: enrol first.',
      BAD_QR: 'That is not a nextAuth code.',
      ENROL_USED: 'That enrol code was used already or has expired: get a fresh one.',
      SESSION_BUSY: 'That browser is busy with another login (or is logged in already).',
      SESSION_EXPIRED: 'That code has expired: reload the site for a fresh one.',
      UNKNOWN_SESSION: 'The server does not know that code: reload the site for a fresh one.',
      UNKNOWN_ACCOUNT: 'The server does not know this account any more.',
      ACCOUNT_BLOCKED: 'The server has blocked this account.',
      CLOSED: 'The connection to the server closed.',
      TRANSACTION_CLOSED: 'That payment was answered already or has expired.',
      UNKNOWN_TRANSACTION: 'The server does not know that payment (any more).',
      TIMEOUT: 'The server did not answer in time.',
    };
    return `${words[e.code] ?? e.message} (${e.code})`;
  }
  return e instanceof Error ? e.message : String(e);
}

// ───────────────────────── the phone ─────────────────────────

const keystore = new LocalKeyStore();

interface Ask {
  info: ChallengeInfo;
  op: 'login' | 'enrol';
  /** Set for a login that a push started. */
  push: boolean;
}
let asking: Ask | null = null;
let pushContext = false;

const phone = new Phone({
  keystore,
  timeoutMs: 20_000,
  clientVersion: 'nextauth-demo-phone/1',
  consent: (info, op) => askConsent({ info, op, push: pushContext }),
});

/** Logins this phone made whose connection is still open: "log out from the phone". */
type Login = { hsid: Uint8Array; name: string; acc: number; connection: AppConnection; closeOwn: boolean };
const logins: Login[] = [];

/** Remembers a login; a later login of the same browser session replaces an earlier one. */
function remember(login: Login): void {
  const id = toB64url(login.hsid);
  const i = logins.findIndex((l) => toB64url(l.hsid) === id);
  if (i >= 0) {
    const [old] = logins.splice(i, 1);
    if (old!.closeOwn && old!.connection !== login.connection) old!.connection.close();
  }
  logins.push(login);
}

/** Shows the consent screen and resolves with the user's answer. */
function askConsent(ask: Ask): Promise<Consent> {
  asking = ask;
  const { info, op, push } = ask;
  const screen = byId('screen');
  screen.replaceChildren();
  return new Promise<Consent>((resolve) => {
    const done = (consent: Consent) => {
      asking = null;
      showHome(consent.accept ? (op === 'enrol' ? 'Enrolling…' : 'Logging in…') : 'Declined.');
      resolve(consent);
    };
    const session = info.session ?? {};
    const needPin = info.pinTimeout !== -1;
    const pin = h('input', { id: 'pin', type: 'password', inputmode: 'numeric', autocomplete: 'off', minlength: '4', 'aria-describedby': 'pin-help' });
    const sf = (): Consent['sf'] => (needPin ? 'pin' : 'none');
    const heading = h('h2', { id: 'consent-title', tabindex: '-1' }, op === 'enrol' ? `Add an account for ${info.name}?` : `Log in to ${info.name}?`);
    const details = h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Server'),
      h('dd', { 'data-field': 'server' }, info.name),
      h('dt', {}, 'Browser address'),
      h('dd', { 'data-field': 'ip' }, typeof session.ip === 'string' ? session.ip : 'not given'),
      h('dt', {}, 'Browser'),
      h('dd', { 'data-field': 'ua' }, typeof session.ua === 'string' ? session.ua : 'not given'),
      info.announce !== undefined && h('dt', {}, 'Message'),
      info.announce !== undefined && h('dd', {}, typeof info.announce === 'string' ? info.announce : JSON.stringify(info.announce)),
    );
    const logo = typeof info.logo === 'string' && /^[A-Za-z0-9+/]+=*$/.test(info.logo) ? h('img', { class: 'logo', alt: '', src: `data:image/png;base64,${info.logo}` }) : null;
    const buttons = h('div', { class: 'buttons' });
    const error = h('p', { class: 'error', role: 'alert' });
    const pinOk = () => {
      if (!needPin || pin.value.length >= 4) return true;
      error.textContent = 'Enter your PIN (4 digits or more).';
      pin.focus();
      return false;
    };
    if (typeof info.number === 'string') {
      // Number match: pick the number the browser shows; two wrong ones beside it.
      const right = info.number;
      const choices = new Set([right]);
      while (choices.size < 3) choices.add(String(Math.floor(Math.random() * 100)).padStart(2, '0'));
      const shuffled = [...choices].sort(() => Math.random() - 0.5);
      buttons.append(h('p', { class: 'ask', id: 'number-ask' }, 'Which number does the browser show?'));
      const row = h('div', { class: 'numbers', role: 'group', 'aria-labelledby': 'number-ask' });
      for (const n of shuffled) {
        const b = h('button', { type: 'button', class: 'number', 'data-number': n }, n);
        b.addEventListener('click', () => pinOk() && done({ accept: true, number: n, sf: sf() }));
        row.append(b);
      }
      buttons.append(row);
    } else {
      const accept = h('button', { type: 'button', class: 'primary', id: 'accept' }, op === 'enrol' ? 'Add account' : 'Log in');
      accept.addEventListener('click', () => pinOk() && done({ accept: true, sf: sf() }));
      buttons.append(accept);
    }
    const decline = h('button', { type: 'button', id: 'decline' }, 'Decline');
    decline.addEventListener('click', () => done({ accept: false }));
    buttons.append(decline);
    if (push) {
      const report = h('button', { type: 'button', id: 'report' }, 'Decline and report');
      report.title = 'I did not ask for this login: mute pushes for a while';
      report.addEventListener('click', () => done({ accept: false, report: true }));
      buttons.append(report);
    }
    screen.append(
      h(
        'div',
        { class: 'consent', role: 'group', 'aria-labelledby': 'consent-title' },
        logo,
        heading,
        push ? h('p', { class: 'pushed' }, 'A login request was pushed to this phone.') : null,
        details,
      ),
    );
    if (needPin) screen.append(h('p', { class: 'pin' }, h('label', { for: 'pin' }, 'PIN '), pin, h('span', { id: 'pin-help', class: 'hint' }, ' (simulated: any 4 digits)')));
    screen.append(buttons, error);
    heading.focus();
  });
}

function showHome(text: string, tone: 'ok' | 'error' | 'info' = 'info'): void {
  if (asking || approving) return;
  const screen = byId('screen');
  screen.replaceChildren(h('p', { class: `home ${tone}`, 'data-tone': tone, id: 'screen-text' }, text));
  for (const login of logins) {
    const b = h('button', { type: 'button', class: 'logout' }, `Log out of ${login.name} from the phone`);
    b.addEventListener('click', () => {
      try {
        login.connection.logout(login.hsid);
        log(`Logged out of ${login.name}.`, 'ok');
      } catch (e) {
        log(`Could not log out: ${describe(e)}`, 'error');
      }
      logins.splice(logins.indexOf(login), 1);
      if (login.closeOwn) setTimeout(() => login.connection.close(), 500);
      showHome('Logged out.', 'ok');
    });
    screen.append(b);
  }
}

async function useCode(text: string): Promise<void> {
  let code: QrCode;
  try {
    code = parseQrText(text);
  } catch (e) {
    showHome(describe(e), 'error');
    return;
  }
  if (code.op === 'enrol') {
    log(`Scanned an enrol code${code.userid ? ` for user ${code.userid}` : ''}.`);
    try {
      const { acc, account } = await phone.enrol(code);
      log(`Enrolled: account ${acc} on ${account.name}.`, 'ok');
      showHome(`Account ${acc} added for ${account.name}. The site next door is logged in.`, 'ok');
      await renderAccounts();
      void listen(account);
    } catch (e) {
      log(`Enrol failed: ${describe(e)}`, 'error');
      showHome(describe(e), 'error');
    }
    return;
  }
  log('Scanned a login code.');
  const serverid = toB64url(code.srv);
  const accounts = await keystore.find(serverid);
  if (accounts.length === 0) {
    showHome('This phone has no account on that server yet: scan the enrol code first.', 'error');
    return;
  }
  const acc = accounts.length > 1 ? await chooseAccount(accounts) : accounts[0]!.acc;
  if (acc === undefined) return showHome('Cancelled.');
  try {
    pushContext = false;
    const { info, connection, transcript } = await phone.login(code, { acc });
    proved(connection, serverid, acc, transcript);
    log(`Logged in to ${info.name} with account ${acc}.`, 'ok');
    remember({ hsid: code.hsid, name: info.name, acc, connection, closeOwn: true });
    void connection.closed.then(() => {
      const i = logins.findIndex((l) => l.connection === connection);
      if (i >= 0) logins.splice(i, 1);
    });
    showHome(`Logged in to ${info.name}.`, 'ok');
  } catch (e) {
    log(`Login failed: ${describe(e)}`, 'error');
    showHome(describe(e), 'error');
  }
}

/** With several accounts on one server: which one logs in. */
function chooseAccount(accounts: StoredAccount[]): Promise<number | undefined> {
  const screen = byId('screen');
  screen.replaceChildren();
  return new Promise((resolve) => {
    const heading = h('h2', { tabindex: '-1' }, 'Log in with which account?');
    const list = h('div', { class: 'buttons' });
    for (const a of accounts) {
      const b = h('button', { type: 'button', class: 'primary' }, `Account ${a.acc}${a.userid ? ` (${a.userid})` : ''}`);
      b.addEventListener('click', () => resolve(a.acc));
      list.append(b);
    }
    const cancel = h('button', { type: 'button' }, 'Cancel');
    cancel.addEventListener('click', () => resolve(undefined));
    list.append(cancel);
    screen.append(heading, list);
    heading.focus();
  });
}

// ───────────────────────── pushes ─────────────────────────

/** Open `listen` connections, per "serverid:acc". */
const listening = new Map<string, { connection?: AppConnection; stopped: boolean; attempt: number }>();

async function listen(account: StoredAccount): Promise<void> {
  const key = `${account.serverid}:${account.acc}`;
  let entry = listening.get(key);
  if (entry?.connection && !entry.stopped) return;
  if (!entry) listening.set(key, (entry = { stopped: false, attempt: 0 }));
  const me = entry;
  try {
    const { connection, transcript } = await phone.listen(account.serverid, { acc: account.acc });
    proved(connection, account.serverid, account.acc, transcript);
    me.connection = connection;
    me.attempt = 0;
    renderListenState();
    connection.on('push', (frame: Frame) => void onPush(account, connection, frame));
    connection.on('deleted', () => {
      log(`The server deleted or blocked account ${account.acc}.`, 'error');
      me.stopped = true;
      void keystore.remove(account.serverid, account.acc).then(renderAccounts);
    });
    void connection.closed.then(() => {
      me.connection = undefined;
      renderListenState();
      if (!me.stopped) setTimeout(() => void listen(account), Math.min(30_000, 1000 * 2 ** me.attempt++));
    });
  } catch (e) {
    const code = e instanceof SdkError ? e.code : '';
    if (code === 'UNKNOWN_ACCOUNT' || code === 'UNKNOWN_SERVER') {
      log(`The server does not know account ${account.acc} any more: forgotten.`, 'error');
      me.stopped = true;
      await keystore.remove(account.serverid, account.acc);
      await renderAccounts();
    } else if (code === 'ACCOUNT_BLOCKED') {
      log(`Account ${account.acc} is blocked: not listening for pushes.`, 'error');
      me.stopped = true;
    } else if (!me.stopped) {
      setTimeout(() => void listen(account), Math.min(30_000, 1000 * 2 ** me.attempt++));
    }
    renderListenState();
  }
}

async function onPush(account: StoredAccount, connection: AppConnection, frame: Frame): Promise<void> {
  log(`A login was pushed for account ${account.acc}.`);
  try {
    pushContext = true;
    const { info, transcript } = await phone.login(pushToQr(frame, account.appUrl), { acc: account.acc, connection });
    proved(connection, account.serverid, account.acc, transcript);
    log(`Logged in to ${info.name} after the push.`, 'ok');
    const hsid = frame.hsid as Uint8Array;
    remember({ hsid, name: info.name, acc: account.acc, connection, closeOwn: false });
    showHome(`Logged in to ${info.name}.`, 'ok');
  } catch (e) {
    log(`Push login: ${describe(e)}`, e instanceof SdkError && e.code === 'DECLINED' ? 'info' : 'error');
    showHome(describe(e), 'error');
  } finally {
    pushContext = false;
  }
}

function renderListenState(): void {
  const on = [...listening.values()].filter((l) => l.connection && !l.stopped).length;
  const el = byId('listen-state');
  el.textContent = on ? `Listening for pushes (${on})` : 'Not listening';
  el.dataset.on = String(on > 0);
}

async function renderAccounts(): Promise<void> {
  const accounts = await keystore.list();
  const list = byId<HTMLUListElement>('accounts');
  list.replaceChildren(...accounts.map((a) => h('li', {}, h('strong', {}, a.name), ` · account ${a.acc}`, a.userid ? ` · user ${a.userid}` : '')));
  if (!accounts.length) list.append(h('li', { class: 'none' }, 'No accounts yet.'));
}

// ───────────────────────── transactions ─────────────────────────

/**
 * Per connection, the transcript (h2) of the latest handshake that proved each account on it
 * ("serverid:acc"): an approval on that connection is signed with it.
 */
const transcripts = new WeakMap<AppConnection, Map<string, Uint8Array>>();
let approving = false;
let transactions: Promise<void> = Promise.resolve();

function proved(connection: AppConnection, serverid: string, acc: number, transcript: Uint8Array): void {
  let map = transcripts.get(connection);
  if (!map) {
    transcripts.set(connection, (map = new Map()));
    // One at a time: a second transaction waits for the answer to the first.
    connection.on('transaction', (frame) => {
      transactions = transactions.then(() => onTransaction(connection, frame));
    });
  }
  map.set(`${serverid}:${acc}`, transcript);
}

async function onTransaction(connection: AppConnection, frame: Frame): Promise<void> {
  let view: ReturnType<typeof readTransaction>;
  try {
    view = readTransaction(frame);
  } catch (e) {
    log(`A transaction the phone cannot read: ${describe(e)}`, 'error');
    return;
  }
  const account = (await keystore.find(view.srv)).find((a) => a.acc === view.acc);
  const transcript = transcripts.get(connection)?.get(`${view.srv}:${view.acc}`);
  if (!account || !transcript) {
    log(`A transaction for account ${view.acc}, which this phone did not prove here: ignored.`, 'error');
    return;
  }
  log(`${account.name} asks to approve a payment.`);
  const approve = await askTransaction(account.name, view);
  try {
    const signer = naclSigner(fromB64url(account.secretKey));
    await answerTransaction(connection, frame, { signer, transcript, approve, sf: 'pin' });
    log(approve ? 'Payment approved.' : 'Payment declined.', 'ok');
    showHome(approve ? `Payment to ${account.name} approved.` : 'Payment declined.', approve ? 'ok' : 'info');
  } catch (e) {
    log(`Could not answer the payment: ${describe(e)}`, 'error');
    showHome(describe(e), 'error');
  }
}

/** Shows the fields the phone signs (decoded from the signed bytes) and asks; resolves true to approve. */
function askTransaction(name: string, view: ReturnType<typeof readTransaction>): Promise<boolean> {
  // A consent screen that is open goes first.
  if (asking) return new Promise((resolve) => setTimeout(() => resolve(askTransaction(name, view)), 300));
  approving = true;
  const screen = byId('screen');
  screen.replaceChildren();
  return new Promise<boolean>((resolve) => {
    const done = (approve: boolean) => {
      approving = false;
      showHome(approve ? 'Approving…' : 'Declining…');
      resolve(approve);
    };
    const heading = h('h2', { id: 'tx-title', tabindex: '-1' }, `Approve a payment for ${name}?`);
    const fields: Array<[string, string, string | undefined]> = [
      ['amount', 'Amount', view.amount],
      ['benificiary', 'Beneficiary', view.benificiary],
      ['description', 'Description', view.description],
    ];
    const details = h('dl', { class: 'facts' }, h('dt', {}, 'Account'), h('dd', { 'data-field': 'account' }, String(view.acc)));
    for (const [key, label, value] of fields) if (value !== undefined) details.append(h('dt', {}, label), h('dd', { 'data-field': key }, value));
    const pin = h('input', { id: 'tx-pin', type: 'password', inputmode: 'numeric', autocomplete: 'off', minlength: '4', 'aria-describedby': 'tx-pin-help' });
    const error = h('p', { class: 'error', role: 'alert' });
    const approve = h('button', { type: 'button', class: 'primary', id: 'tx-approve' }, 'Approve');
    approve.addEventListener('click', () => {
      if (!/^\d{4,}$/.test(pin.value)) {
        error.textContent = 'Enter your PIN (4 digits or more).';
        pin.focus();
        return;
      }
      done(true);
    });
    pin.addEventListener('input', () => (error.textContent = ''));
    pin.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') approve.click();
    });
    const decline = h('button', { type: 'button', id: 'tx-decline' }, 'Decline');
    decline.addEventListener('click', () => done(false));
    screen.append(
      h('div', { class: 'consent transaction', role: 'group', 'aria-labelledby': 'tx-title' }, heading, details),
      h('p', { class: 'pin' }, h('label', { for: 'tx-pin' }, 'PIN '), pin, h('span', { id: 'tx-pin-help', class: 'hint' }, ' (simulated: any 4 digits)')),
      h('div', { class: 'buttons' }, approve, decline),
      error,
    );
    heading.focus();
  });
}

// ───────────────────────── codes on the site next door ─────────────────────────

interface SiteCode {
  kind: string;
  link: string;
  name: string;
  state: string;
}

/** The codes in the blocks of the site frame beside this one (same origin), if there is one. */
function siteCodes(): SiteCode[] {
  try {
    if (window.parent === window) return [];
    const frame = window.parent.document.getElementById('site') as HTMLIFrameElement | null;
    const doc = frame?.contentDocument;
    if (!doc) return [];
    return Array.from(doc.querySelectorAll<HTMLElement>('.nextauth-block[data-link]')).map((b) => ({
      kind: b.dataset.nextauth ?? 'login',
      link: b.dataset.link ?? '',
      name: b.dataset.name ?? 'the site',
      state: b.dataset.state ?? 'waiting',
    }));
  } catch {
    return [];
  }
}

let shownCodes = '';
function renderCodes(): void {
  const codes = siteCodes().filter((c) => c.state !== 'loggedin');
  const signature = JSON.stringify(codes.map((c) => [c.kind, c.link]));
  if (signature === shownCodes) return;
  shownCodes = signature;
  const box = byId('codes');
  const hadFocus = box.contains(document.activeElement);
  box.replaceChildren();
  if (window.parent === window) {
    box.append(h('p', { class: 'hint' }, 'Open /demo to see this phone beside the site, or paste a code below.'));
    return;
  }
  if (!codes.length) {
    box.append(h('p', { class: 'hint' }, 'No code on the site right now.'));
    return;
  }
  for (const c of codes) {
    const label = c.kind === 'enrol' ? `Scan the enrol code of ${c.name}` : `Scan the login code of ${c.name}`;
    const b = h('button', { type: 'button', class: 'primary scan', 'data-kind': c.kind }, label);
    // The code as the site shows it now (the site may have changed since the button was made).
    b.addEventListener('click', () => void useCode(siteCodes().find((x) => x.kind === c.kind && x.state !== 'loggedin')?.link ?? c.link));
    box.append(b);
  }
  if (hadFocus) (box.querySelector('button') as HTMLButtonElement | null)?.focus();
}

// ───────────────────────── start ─────────────────────────

async function main(): Promise<void> {
  byId<HTMLFormElement>('paste').addEventListener('submit', (e) => {
    e.preventDefault();
    const field = byId<HTMLTextAreaElement>('code');
    const text = field.value.trim();
    if (text) void useCode(text);
    field.value = '';
  });
  byId('reset').addEventListener('click', async () => {
    for (const l of listening.values()) {
      l.stopped = true;
      l.connection?.close();
    }
    listening.clear();
    localStorage.removeItem(STORAGE_KEY);
    log('Forgot every account.');
    await renderAccounts();
    renderListenState();
    showHome('This phone has no accounts. Scan an enrol code to add one.');
  });
  await renderAccounts();
  renderListenState();
  const accounts = await keystore.list();
  showHome(accounts.length ? 'Ready. Scan a code on the site, or wait for a push.' : 'This phone has no accounts. Scan an enrol code to add one.');
  for (const a of accounts) void listen(a);
  renderCodes();
  setInterval(renderCodes, 700);
  // An app link that opened this page (…/demo/phone?qr=…) is a scanned code.
  if (/[?&#]qr=/.test(location.href)) void useCode(location.href.replace('#', '?'));
  document.body.dataset.ready = 'true';
}

void main();
