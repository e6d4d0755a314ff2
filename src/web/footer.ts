/*
 * nextAuth in the browser: what brings the login and enrol blocks to life. `startNextAuth()`
 * runs it on a page; the footer script (src/web/nextauth.ts, built into the IIFE the NS serves at
 * /ns/nextauth.js and loads from getHtmlFooter's HTML) calls it with what its `<script>` tag says:
 *
 *   <script src="https://ns.example/ns/nextauth.js?v=…" data-nextauth-footer
 *           data-ns="https://ns.example" data-sessions='[{"srv":…,"hsid":…,"bt":…,"loggedin":false}]'
 *           data-callback="myApp.onLogin" defer></script>
 *
 * A site that bundles its own scripts may import this module instead (the package
 * `@nextauth/browser`) and call `startNextAuth({ ns })`: the blocks on the page say which sessions
 * to watch. No dependency: socket.io's client is loaded from the NS when it is needed.
 *
 * What it does:
 * - watches every session of the footer and of every `.nextauth-block` on the page, over
 *   socket.io (namespace /sessions, PROTOCOL.md §5.2; the client is loaded from the same NS),
 *   falling back to the text socket (/ns/websocket, §5.1) when socket.io cannot load or connect;
 *   reconnects with backoff and, on every (re)connect, learns the current state, so nothing is missed;
 * - shows progress in the blocks: scanned, confirm on your phone (with the number to match),
 *   cancelled, logged in; a push button when the session can be provoked; a countdown, and
 *   before the code goes stale it fetches the page again and swaps in the fresh block;
 * - on a phone's browser, offers the app link first and the QR code on request;
 * - when a watched session logs in or out: calls the callback if given, else reloads the page.
 *   Every event is also a `nextauth` DOM event on `document`, with detail
 *   {srv, hsid, event, loggedin, changed, sync, number?, account?, state?} — `event` is a
 *   §5 word in lower case, `sync` marks what a (re)connect learned of the current state, and
 *   `changed` a login or logout the page was not made with; it is cancelable: preventDefault()
 *   keeps the page from reloading.
 *
 * `window.nextAuth` (also what startNextAuth returns) offers: transport(), connected(),
 * sessions(), watch(srv, hsid, loggedin), provoke(srv?, hsid?), logout(srv?, hsid?), refresh().
 *
 * Its words are in the block's language, its `lang` attribute (the NS chose it: src/web/i18n.ts),
 * or else the footer's; the catalogue is bundled in.
 *
 * No inline styles (works under a strict CSP).
 */
import type { ManagerOptions, Socket, SocketOptions } from 'socket.io-client';
import { messagesFor, type Messages } from './i18n.ts';

/** What the page sees as `window.nextAuth`. */
export interface NextAuthApi {
  footer: true;
  version: number;
  transport(): string | null;
  connected(): boolean;
  sessions(): Array<{ srv: string; hsid: string; loggedin: boolean; canprovoke: boolean; state: UiState }>;
  /** Watch one more session (loggedin: its state as the page knows it; bt: its browser token, from getSession, to provoke or log out). */
  watch(srv: string, hsid: string, loggedin?: boolean, bt?: string): void;
  provoke(srv?: string, hsid?: string): void;
  logout(srv?: string, hsid?: string): void;
  /** Fetch fresh blocks now (the countdown does this by itself before a code goes stale). */
  refresh(): void;
  /** How many blocks were swapped for fresh ones. */
  refreshed(): number;
}

/** How startNextAuth is set up (the footer script reads it from its `<script>` tag's data- attributes). */
export interface NextAuthOptions {
  /** The NS's public URL: socket.io's client and the sockets are there. */
  ns: string;
  /** Sessions to watch besides the page's blocks (getHtmlFooter lists the X-nonce one and its body's). */
  sessions?: ReadonlyArray<NextAuthSession>;
  /** Called on a login or logout instead of reloading the page: a function, or the name of a global one (`myApp.onLogin`). */
  callback?: string | ((detail: NextAuthEventDetail) => void);
  /** `text` keeps to the text socket (§5.1); the default tries socket.io first. */
  transport?: 'text' | 'socket.io';
  /** The language of blocks that name none (the footer's `lang`; default English). */
  lang?: string;
}

/** A session to watch: its server, its hsid, its browser token (to provoke or log out) and whether the page was made logged in. */
export interface NextAuthSession {
  srv: string;
  hsid: string;
  bt?: string;
  loggedin?: boolean;
}

/** The `detail` of every `nextauth` DOM event, and what a callback gets. */
export interface NextAuthEventDetail {
  srv: string;
  hsid: string;
  /** A §5 word in lower case: login, logout, confirmscan, confirmprovoke, cancel, canprovoke, noaccounts. */
  event: string;
  loggedin: boolean;
  /** A login or logout the page was not made with (the page reloads, or the callback runs). */
  changed: boolean;
  /** What a (re)connect learned of the current state, rather than a live event. */
  sync: boolean;
  /** The number to pick on the phone (confirmprovoke with number match). */
  number?: string;
  account?: unknown;
  state?: string;
  transaction?: unknown;
}

declare global {
  interface DocumentEventMap {
    nextauth: CustomEvent<NextAuthEventDetail>;
  }
}

type Io = (uri: string, opts?: Partial<ManagerOptions & SocketOptions>) => Socket;
/** The page's window, as this script uses it (written out each time: `window.nextAuth` stays in the minified script). */
type PageWindow = Window & { nextAuth?: NextAuthApi; io?: unknown };

type UiState = 'waiting' | 'scanned' | 'confirm' | 'sending' | 'cancelled' | 'noaccounts' | 'loggedin' | 'error';
type Timer = ReturnType<typeof setTimeout>;

interface Ui {
  state: UiState;
  /** The number to match (confirm). */
  number?: string;
  /** An error code (error). */
  code?: string;
}

/** A watched session. */
interface Session {
  srv: string;
  hsid: string;
  /** The browser token the page was given (PROTOCOL.md §5.1): needed to provoke or log out. */
  bt: string;
  loggedin: boolean;
  canprovoke: boolean;
  ui: Ui;
  uiTimer?: Timer | null;
  blocks: Block[];
}

/** What the script keeps on a block it wired (`block.nextauth`). */
interface BlockState {
  session: Session;
  kind: string;
  /** The words of the block's language. */
  t: Messages;
  total: number;
  expires: number;
  lead: number;
  refreshing: boolean;
  retryAt: number;
  stale: boolean;
  timer: ReturnType<typeof setInterval> | null;
}

type Block = HTMLElement & { nextauth?: BlockState | null };

interface Transport {
  name: string;
  connected(): boolean;
  watch(s: Session): void;
  provoke(s: Session): void;
  logout(s: Session): void;
  reconnectNow(): void;
}

type Extra = Record<string, unknown>;

/**
 * Brings the page's blocks to life and watches `options.sessions` (see above); once per page:
 * a second call, or one after the footer script ran, gives the `window.nextAuth` already there.
 */
export function startNextAuth(options: NextAuthOptions): NextAuthApi {
  const running = (window as PageWindow).nextAuth;
  if (running?.footer) return running;
  const NS = String(options.ns || location.origin).replace(/\/+$/, '');
  const forcedTransport = options.transport || '';
  const isPhone = /Android|iPhone|iPad|iPod|Mobile|Windows Phone/i.test(navigator.userAgent) || (/Macintosh/.test(navigator.userAgent) && navigator.maxTouchPoints > 1);

  // ───────────────────────── sessions ─────────────────────────

  /** key "srv hsid" → the session */
  const sessions: Record<string, Session> = {};
  const order: Session[] = [];
  let unloading = false;
  let transport: Transport | null = null;

  function keyOf(srv: string, hsid: string): string {
    return `${srv} ${hsid}`;
  }

  function sessionFor(srv: string, hsid: string, loggedin: boolean | undefined, bt?: string | null): Session {
    const k = keyOf(srv, hsid);
    let s = sessions[k];
    if (!s) {
      s = sessions[k] = { srv: srv, hsid: hsid, bt: '', loggedin: !!loggedin, canprovoke: false, ui: { state: loggedin ? 'loggedin' : 'waiting' }, blocks: [] };
      order.push(s);
      if (transport) transport.watch(s);
    }
    if (bt) s.bt = bt;
    return s;
  }

  const listed: unknown = options.sessions;
  if (Array.isArray(listed)) {
    listed.forEach((x: { srv?: unknown; hsid?: unknown; bt?: unknown; loggedin?: unknown } | null) => {
      if (x && typeof x.srv === 'string' && typeof x.hsid === 'string') sessionFor(x.srv, x.hsid, x.loggedin === true, typeof x.bt === 'string' ? x.bt : null);
    });
  }

  // ───────────────────────── blocks ─────────────────────────

  function $<E extends HTMLElement = HTMLElement>(block: Element, selector: string): E | null {
    return block.querySelector<E>(selector);
  }

  function minutes(ms: number): string {
    const s = Math.max(0, Math.ceil(ms / 1000));
    const r = s % 60;
    return `${Math.floor(s / 60)}:${r < 10 ? '0' : ''}${r}`;
  }

  /** The error codes a push may meet that have words of their own. */
  const ERRORS: Record<string, 'rateLimited' | 'cannotProvoke' | 'accountBlocked' | 'notConnected' | undefined> = {
    RATE_LIMITED: 'rateLimited',
    CANNOT_PROVOKE: 'cannotProvoke',
    ACCOUNT_BLOCKED: 'accountBlocked',
    NOT_CONNECTED: 'notConnected',
  };

  /** What the status line says in each state (an enrol block is never confirm, sending, noaccounts or error). */
  function statusWords(t: Messages, kind: 'login' | 'enrol', state: UiState | 'stale', ui: Ui): string {
    switch (state) {
      case 'scanned':
        return t.scanned;
      case 'confirm':
        return t.confirmLogin;
      case 'sending':
        return t.sending;
      case 'cancelled':
        return t.cancelled;
      case 'noaccounts':
        return t.noAccounts;
      case 'loggedin':
        return kind === 'enrol' ? t.enrolled : t.loggedIn;
      case 'stale':
        return t.expired;
      case 'error': {
        const code = String(ui.code);
        const known = Object.hasOwn(ERRORS, code) ? ERRORS[code] : undefined;
        return known ? t[known] : t.failed(code);
      }
      default:
        return '';
    }
  }

  const TONE: Record<string, string> = {
    loggedin: 'ok',
    cancelled: 'error',
    noaccounts: 'error',
    error: 'error',
    stale: 'warn',
    scanned: 'info',
    confirm: 'info',
    sending: 'info',
  };

  function render(block: Block): void {
    const b = block.nextauth;
    const s = b?.session;
    if (!b || !s) return;
    const kind = b.kind === 'enrol' ? 'enrol' : 'login';
    let state: UiState | 'stale' = s.loggedin ? 'loggedin' : s.ui.state;
    // A push is about logging in: an enrol block of the same session stays as it is.
    if (kind === 'enrol' && (state === 'confirm' || state === 'sending' || state === 'noaccounts' || state === 'error')) state = 'waiting';
    if (!s.loggedin && b.stale && (state === 'waiting' || state === 'cancelled')) state = 'stale';
    block.setAttribute('data-state', state);
    const status = $(block, '.nextauth-status');
    if (status) {
      status.textContent = statusWords(b.t, kind, state, s.ui);
      if (state === 'confirm' && s.ui.number) {
        status.appendChild(document.createTextNode(` ${b.t.pickNumber}`));
        const n = document.createElement('span');
        n.className = 'nextauth-number';
        n.textContent = s.ui.number;
        status.appendChild(n);
      }
      const tone = TONE[state];
      if (tone) status.setAttribute('data-tone', tone);
      else status.removeAttribute('data-tone');
    }
    const body = $(block, '.nextauth-body');
    if (body) body.hidden = state === 'loggedin';
    const push = $<HTMLButtonElement>(block, '.nextauth-push');
    if (push) {
      push.hidden = !(s.canprovoke && !s.loggedin && kind === 'login');
      push.disabled = state === 'sending' || state === 'confirm' || state === 'scanned';
    }
    const logout = $(block, '.nextauth-logout');
    if (logout) logout.hidden = state !== 'loggedin';
    const refresh = $(block, '.nextauth-refresh');
    if (refresh) refresh.hidden = state !== 'stale';
    const title = $(block, '.nextauth-title');
    if (title && kind === 'login' && block.dataset.name) {
      title.textContent = state === 'loggedin' ? b.t.loggedInTitle(block.dataset.name) : b.t.loginTitle(block.dataset.name);
    }
  }

  function renderSession(s: Session): void {
    s.blocks.forEach(render);
  }

  function setUi(s: Session, state: UiState, extra?: Partial<Ui> | null): void {
    s.ui = { state: state };
    if (extra) Object.assign(s.ui, extra);
    if (s.uiTimer) clearTimeout(s.uiTimer);
    s.uiTimer = null;
    // Passing notices go back to "waiting" after a while.
    if (state === 'cancelled' || state === 'noaccounts' || state === 'error') {
      s.uiTimer = setTimeout(() => {
        if (s.ui.state === state) setUi(s, 'waiting');
      }, 6000);
    }
    renderSession(s);
  }

  function wire(block: Block): void {
    const srv = block.getAttribute('data-srv');
    const hsid = block.getAttribute('data-hsid');
    if (!srv || !hsid || block.nextauth) return;
    const s = sessionFor(srv, hsid, block.getAttribute('data-state') === 'loggedin', block.getAttribute('data-bt'));
    if (block.getAttribute('data-canprovoke') === 'true') s.canprovoke = true;
    const now = Number(block.getAttribute('data-now')) || Date.now();
    const expires = Number(block.getAttribute('data-expires')) || 0;
    const total = expires ? Math.max(1000, expires - now) : 0;
    const b: BlockState = (block.nextauth = {
      session: s,
      kind: block.getAttribute('data-nextauth') || 'login',
      t: messagesFor(block.getAttribute('lang') || options.lang),
      total: total,
      // Local clock: the server's expiry shifted by the page's age, whatever the clocks say.
      expires: expires ? Date.now() + total : 0,
      lead: Math.min(60000, Math.max(2000, total / 4)),
      refreshing: false,
      retryAt: 0,
      stale: false,
      timer: null,
    });
    if (s.blocks.indexOf(block) < 0) s.blocks.push(block);
    if (isPhone) block.classList.add('nextauth-mobile');

    block.addEventListener('click', (e) => {
      const t = e.target;
      if (!(t instanceof Element)) return;
      if (t.closest('.nextauth-push')) provokeSession(s);
      else if (t.closest('.nextauth-logout')) logoutSession(s);
      else if (t.closest('.nextauth-refresh')) refreshBlock(block, true);
      else if (t.closest('.nextauth-showqr')) {
        block.classList.add('nextauth-qr-shown');
        const qr = $(block, '.nextauth-qr');
        if (qr) {
          qr.setAttribute('tabindex', '-1');
          qr.focus();
        }
      }
    });
    const linkText = $<HTMLInputElement>(block, '.nextauth-linktext');
    if (linkText) {
      linkText.addEventListener('focus', () => {
        linkText.select();
      });
    }
    if (b.expires) {
      b.timer = setInterval(() => {
        tick(block);
      }, 1000);
      tick(block);
    }
    render(block);
  }

  function unwire(block: Block): void {
    const b = block.nextauth;
    if (!b) return;
    if (b.timer) clearInterval(b.timer);
    const list = b.session.blocks;
    const i = list.indexOf(block);
    if (i >= 0) list.splice(i, 1);
    block.nextauth = null;
  }

  function tick(block: Block): void {
    const b = block.nextauth;
    if (!b?.expires) return;
    const s = b.session;
    const left = b.expires - Date.now();
    const time = $(block, '.nextauth-time');
    if (time) time.textContent = minutes(left);
    const bar = $(block, '.nextauth-bar > span');
    if (bar) bar.style.width = `${Math.max(0, Math.min(100, (left / b.total) * 100)).toFixed(1)}%`;
    const idle = !s.loggedin && (s.ui.state === 'waiting' || s.ui.state === 'cancelled' || s.ui.state === 'error' || s.ui.state === 'noaccounts');
    if (!idle) return;
    if (left <= b.lead && !b.refreshing && Date.now() >= b.retryAt) refreshBlock(block, false);
    if (left <= 0 && !b.stale) {
      b.stale = true;
      render(block);
    }
  }

  /** The session went back to waiting (cancel): its idle limit starts again, so do the countdowns. */
  function restartCountdowns(s: Session): void {
    s.blocks.forEach((block) => {
      const b = block.nextauth;
      if (b?.expires && b.kind === 'login') b.expires = Date.now() + b.total;
    });
  }

  /**
   * Fetches this page again and swaps in fresh blocks (same kind and session) for the ones shown:
   * the NS restarts a session's idle limit (and issues a new enrol code) whenever it makes a block.
   * When the page no longer has the block that asked (it changed, e.g. the user logged in), it
   * reloads. One fetch at a time serves every block that asks meanwhile.
   */
  let refreshing: { asked: Block[] } | null = null;
  let refreshed = 0;
  function refreshBlock(block: Block, byUser: boolean): void {
    const b = block.nextauth;
    if (!b || b.refreshing) return;
    b.refreshing = true;
    const asked = [block];
    if (refreshing) {
      refreshing.asked.push(block);
      return;
    }
    const focused = document.activeElement;
    refreshing = { asked: asked };
    fetch(location.href, { credentials: 'same-origin', cache: 'no-store', headers: { 'X-Nextauth-Refresh': '1' } })
      .then((r) => {
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        return r.text();
      })
      .then((html) => {
        const doc = new DOMParser().parseFromString(html, 'text/html');
        const fresh = doc.querySelectorAll<HTMLElement>('.nextauth-block[data-nextauth][data-srv][data-hsid]');
        const shown = document.querySelectorAll<Block>('.nextauth-block[data-nextauth][data-srv][data-hsid]');
        let missing = false;
        for (let i = 0; i < shown.length; i++) {
          const old = shown[i]!;
          const parent = old.parentNode;
          if (!old.nextauth || !parent) continue;
          let match: HTMLElement | null = null;
          for (let j = 0; j < fresh.length && !match; j++) {
            const f = fresh[j]!;
            if (
              f.getAttribute('data-nextauth') === old.getAttribute('data-nextauth') &&
              f.getAttribute('data-srv') === old.getAttribute('data-srv') &&
              f.getAttribute('data-hsid') === old.getAttribute('data-hsid')
            )
              match = f;
          }
          if (!match) {
            if (asked.indexOf(old) >= 0) missing = true;
            continue;
          }
          const node = document.importNode(match, true) as Block;
          if (old.classList.contains('nextauth-qr-shown')) node.classList.add('nextauth-qr-shown');
          const details = old.querySelector('details[open]');
          const hadFocus = old.contains(focused);
          unwire(old);
          parent.replaceChild(node, old);
          if (details) {
            const d = node.querySelector('details');
            if (d) d.open = true;
          }
          wire(node);
          refreshed++;
          if (hadFocus || (byUser && asked.indexOf(old) >= 0)) {
            // Focus stays in the block: on its first visible control.
            const controls = node.querySelectorAll<HTMLElement>('.nextauth-push, .nextauth-applink, summary, .nextauth-logout');
            for (let c = 0; c < controls.length; c++) {
              if (controls[c]!.offsetParent !== null) {
                controls[c]!.focus();
                break;
              }
            }
          }
        }
        refreshing = null;
        if (missing) reloadPage();
      })
      .catch(() => {
        refreshing = null;
        asked.forEach((a) => {
          if (!a.nextauth) return;
          a.nextauth.refreshing = false;
          a.nextauth.retryAt = Date.now() + 5000;
          render(a);
        });
      });
  }

  function reloadPage(): void {
    unloading = true;
    location.reload();
  }

  // ───────────────────────── events ─────────────────────────

  function lookup(path: string): unknown {
    let target: unknown = window;
    const parts = String(path).split('.');
    for (let i = 0; i < parts.length; i++) {
      if (target == null) return undefined;
      target = (target as Record<string, unknown>)[parts[i]!];
    }
    return target;
  }

  /**
   * One notice about a session. `sync` marks what a (re)connect learns of the current state; it
   * counts as a change when it differs from what the page was made with (an event was missed).
   */
  function onEvent(srv: string, hsid: string, event: string, extra: Extra | null, sync: boolean): void {
    const s = sessions[keyOf(srv, hsid)];
    if (!s) return;
    const was = s.loggedin;
    let changed = false;
    switch (event) {
      case 'login':
        s.loggedin = true;
        changed = !was;
        setUi(s, 'loggedin');
        break;
      case 'logout':
        s.loggedin = false;
        changed = was;
        // A session that was logged in can be provoked afterwards (while its account lives).
        if (was && !sync) s.canprovoke = true;
        if (was || s.ui.state === 'loggedin' || s.ui.state === 'scanned' || s.ui.state === 'confirm' || s.ui.state === 'sending') setUi(s, 'waiting');
        else renderSession(s);
        break;
      case 'confirmscan':
        setUi(s, 'scanned');
        break;
      case 'confirmprovoke':
        setUi(s, 'confirm', extra?.number ? { number: String(extra.number) } : null);
        break;
      case 'cancel':
        restartCountdowns(s);
        setUi(s, 'cancelled');
        break;
      case 'canprovoke':
        s.canprovoke = true;
        renderSession(s);
        break;
      case 'noaccounts':
        setUi(s, 'noaccounts');
        break;
      default:
        break;
    }
    const detail: Extra = { srv: srv, hsid: hsid, event: event, loggedin: s.loggedin, changed: changed, sync: !!sync };
    if (extra) for (const k in extra) if (Object.hasOwn(extra, k) && !(k in detail)) detail[k] = extra[k];
    let domEvent: CustomEvent;
    try {
      domEvent = new CustomEvent('nextauth', { detail: detail, cancelable: true });
    } catch {
      domEvent = document.createEvent('CustomEvent');
      domEvent.initCustomEvent('nextauth', false, true, detail);
    }
    document.dispatchEvent(domEvent);
    if (!changed) return;
    const callback = typeof options.callback === 'string' ? lookup(options.callback) : options.callback;
    if (typeof callback === 'function') {
      try {
        callback(detail);
      } catch (e) {
        if (window.console) console.error('nextAuth callback failed', e);
      }
      return;
    }
    if (!domEvent.defaultPrevented) reloadPage();
  }

  /** A socket.io watch ack `{state, canprovoke}` as the events it stands for. */
  function onState(s: Session, state: unknown, canprovoke: unknown): void {
    if (canprovoke) onEvent(s.srv, s.hsid, 'canprovoke', null, true);
    if (state === 'authenticated') onEvent(s.srv, s.hsid, 'login', null, true);
    else {
      onEvent(s.srv, s.hsid, 'logout', null, true);
      if ((state === 'challenged' || state === 'verifying') && s.ui.state !== 'confirm') setUi(s, 'scanned');
    }
  }

  function provokeFailed(s: Session, code: string): void {
    setUi(s, 'error', { code: code });
  }

  /** Runs `action` once a transport is connected (at once if it is), or `fail` after 8 s. */
  let waiting: Array<{ action: () => void; timer: Timer | null }> = [];
  function whenConnected(action: () => void, fail: () => void): void {
    if (transport?.connected()) return action();
    const item: { action: () => void; timer: Timer | null } = { action: action, timer: null };
    item.timer = setTimeout(() => {
      const i = waiting.indexOf(item);
      if (i >= 0) waiting.splice(i, 1);
      fail();
    }, 8000);
    waiting.push(item);
  }
  function connectedNow(): void {
    const run = waiting;
    waiting = [];
    run.forEach((item) => {
      if (item.timer) clearTimeout(item.timer);
      item.action();
    });
  }

  function provokeSession(s: Session): void {
    setUi(s, 'sending');
    whenConnected(
      () => {
        transport!.provoke(s);
      },
      () => {
        provokeFailed(s, 'NOT_CONNECTED');
      },
    );
  }

  function logoutSession(s: Session): void {
    whenConnected(
      () => {
        transport!.logout(s);
      },
      () => {
        provokeFailed(s, 'NOT_CONNECTED');
      },
    );
  }

  // ───────────────────────── transports ─────────────────────────

  function backoff(attempt: number): number {
    const base = Math.min(30000, 1000 * 2 ** attempt);
    return base / 2 + Math.random() * (base / 2);
  }

  /** The text socket (§5.1): `TYPE HSID SERVERID`, a 4th field with the number on CONFIRMPROVOKE. */
  function textTransport(): Transport {
    let ws: WebSocket | null = null;
    let attempt = 0;
    let opened = 0;
    let timer: Timer | null = null;
    let pending: { s: Session; at: number } | null = null; // the session of the last PROVOKE, for an `ERROR <code>` that names none
    const url = `${NS.replace(/^http/, 'ws')}/ns/websocket`;
    const self: Transport = {
      name: 'text',
      connected: () => !!ws && ws.readyState === 1,
      watch: (s) => {
        send('REGISTER', s);
      },
      provoke: (s) => {
        pending = { s: s, at: Date.now() };
        send('PROVOKE', s);
      },
      logout: (s) => {
        send('LOGOUT', s);
      },
      reconnectNow: () => {
        if (self.connected() || unloading) return;
        if (timer) clearTimeout(timer);
        attempt = 0;
        open();
      },
    };
    /** `TYPE HSID SERVERID`, and the browser token for PROVOKE and LOGOUT. */
    function send(type: string, s: Session): void {
      const bt = type === 'PROVOKE' || type === 'LOGOUT' ? ` ${s.bt}` : '';
      if (self.connected()) ws!.send(`${type} ${s.hsid} ${s.srv}${bt}`);
    }
    function open(): void {
      timer = null;
      let socket: WebSocket;
      try {
        socket = ws = new WebSocket(url);
      } catch {
        return schedule();
      }
      socket.onopen = () => {
        attempt = 0;
        order.forEach(self.watch);
        connectedNow();
        if (++opened > 1) reconnected();
      };
      socket.onmessage = (e) => {
        const parts = String(e.data).split(' ');
        if (parts[0] === 'ERROR') {
          if (pending && Date.now() - pending.at < 10000) provokeFailed(pending.s, parts[1] || 'ERROR');
          pending = null;
          return;
        }
        if (parts.length < 3) return;
        const event = parts[0]!.toLowerCase();
        if (event === 'confirmprovoke' || event === 'noaccounts' || event === 'cancel' || event === 'login') pending = null;
        let more: Extra | null = event === 'confirmprovoke' && parts[3] ? { number: parts[3] } : null;
        if (event === 'transaction' && parts[4]) more = { transaction: { tid: parts[3], outcome: parts[4] } };
        onEvent(parts[2]!, parts[1]!, event, more, false);
      };
      socket.onclose = () => {
        ws = null;
        schedule();
      };
      socket.onerror = () => {};
    }
    function schedule(): void {
      if (unloading || timer) return;
      timer = setTimeout(open, backoff(attempt++));
    }
    open();
    return self;
  }

  /** socket.io (§5.2), namespace /sessions; calls `fallback` when it cannot connect at all. */
  function ioTransport(io: Io, fallback: () => void): Transport {
    const u = new URL(NS);
    let everConnected = false;
    let connects = 0;
    let failures = 0;
    let gaveUp = false;
    const socket = io(`${u.origin}/sessions`, {
      path: `${u.pathname.replace(/\/+$/, '')}/socket.io`,
      // WebSocket first: one connection to one process, which a cluster behind a load balancer
      // without sticky sessions serves (docs/cluster.md); long polling only where it cannot open.
      transports: ['websocket', 'polling'],
      tryAllTransports: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 30000,
      randomizationFactor: 0.5,
      timeout: 10000,
    });
    function giveUp(): void {
      if (gaveUp) return;
      gaveUp = true;
      socket.close();
      fallback();
    }
    const firstTry = setTimeout(() => {
      if (!everConnected) giveUp();
    }, 10000);
    const self: Transport = {
      name: 'socket.io',
      connected: () => socket.connected,
      watch: (s) => {
        if (!socket.connected) return;
        socket.emit('watch', { srv: s.srv, hsid: s.hsid }, (ack: { error?: string; state?: string; canprovoke?: boolean } | null) => {
          if (ack && !ack.error) onState(s, ack.state, ack.canprovoke);
        });
      },
      provoke: (s) => {
        socket.timeout(10000).emit('provoke', { srv: s.srv, hsid: s.hsid, bt: s.bt }, (err: unknown, ack: { error?: string } | null) => {
          if (err) provokeFailed(s, 'NOT_CONNECTED');
          else if (ack?.error) provokeFailed(s, ack.error);
        });
      },
      logout: (s) => {
        socket.emit('logout', { srv: s.srv, hsid: s.hsid, bt: s.bt }, () => {});
      },
      reconnectNow: () => {
        if (!socket.connected && !unloading) socket.connect();
      },
    };
    socket.on('connect', () => {
      everConnected = true;
      clearTimeout(firstTry);
      // Watch again after every (re)connect: the acks tell the current state, so no event is lost.
      order.forEach(self.watch);
      connectedNow();
      if (++connects > 1) reconnected();
    });
    socket.on('connect_error', () => {
      if (!everConnected && ++failures >= 2) giveUp();
    });
    socket.on('status', (st: { srv?: unknown; hsid?: unknown; event?: unknown; number?: unknown; account?: unknown; state?: unknown; transaction?: unknown } | null) => {
      if (!st || typeof st.srv !== 'string' || typeof st.hsid !== 'string') return;
      const extra: Extra = {};
      if (st.number) extra.number = String(st.number);
      if (st.account !== undefined) extra.account = st.account;
      if (st.state) extra.state = st.state;
      if (st.transaction) extra.transaction = st.transaction;
      onEvent(st.srv, st.hsid, String(st.event), extra, false);
    });
    return self;
  }

  /** Loads socket.io's client from the NS without taking over a `window.io` the page has. */
  function loadIo(done: (io: Io | null) => void): void {
    const page = window as PageWindow;
    const previous = page.io;
    let finished = false;
    function finish(io: Io | null): void {
      if (finished) return;
      finished = true;
      if (previous !== undefined) page.io = previous;
      done(io);
    }
    const tag = document.createElement('script');
    tag.src = `${NS}/ns/socket.io.min.js`;
    tag.async = true;
    tag.onload = () => {
      finish(typeof page.io === 'function' && page.io !== previous ? (page.io as Io) : null);
    };
    tag.onerror = () => {
      finish(null);
    };
    setTimeout(() => {
      finish(null);
    }, 10000);
    (document.head || document.documentElement).appendChild(tag);
  }

  /**
   * Back after a lost connection: the NS may have restarted, and a session that was only waiting
   * is not kept across a restart. Fetching the blocks again makes their sessions anew.
   */
  function reconnected(): void {
    const blocks = document.querySelectorAll<Block>('.nextauth-block');
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i]!.nextauth;
      if (b && !b.session.loggedin) {
        refreshBlock(blocks[i]!, false);
        return; // one fetch refreshes every block
      }
    }
  }

  function startText(): void {
    transport = textTransport();
  }

  let started = false;
  function start(): void {
    if (started) return;
    started = true;
    if (forcedTransport === 'text' || typeof URL !== 'function') return startText();
    loadIo((io) => {
      if (!io) return startText();
      transport = ioTransport(io, startText);
    });
  }

  // ───────────────────────── start ─────────────────────────

  function init(): void {
    const blocks = document.querySelectorAll<Block>('.nextauth-block[data-srv][data-hsid]');
    for (let i = 0; i < blocks.length; i++) wire(blocks[i]!);
    if (order.length) start();
  }

  window.addEventListener('pagehide', () => {
    unloading = true;
  });
  window.addEventListener('pageshow', (e) => {
    if (e.persisted) unloading = false;
  });
  window.addEventListener('online', () => {
    if (transport) transport.reconnectNow();
  });

  function find(srv?: string, hsid?: string): Session | undefined {
    if (srv && hsid) return sessions[keyOf(srv, hsid)];
    return order[0];
  }

  const api: NextAuthApi = {
    footer: true,
    version: 1,
    transport: () => (transport ? transport.name : null),
    connected: () => !!transport && transport.connected(),
    sessions: () => order.map((s) => ({ srv: s.srv, hsid: s.hsid, loggedin: s.loggedin, canprovoke: s.canprovoke, state: s.ui.state })),
    watch: (srv, hsid, loggedin, bt) => {
      sessionFor(srv, hsid, loggedin, bt);
      start();
    },
    provoke: (srv, hsid) => {
      const s = find(srv, hsid);
      if (s) provokeSession(s);
    },
    logout: (srv, hsid) => {
      const s = find(srv, hsid);
      if (s) logoutSession(s);
    },
    refresh: () => {
      const blocks = document.querySelectorAll<Block>('.nextauth-block');
      for (let i = 0; i < blocks.length; i++) if (blocks[i]!.nextauth) refreshBlock(blocks[i]!, false);
    },
    refreshed: () => refreshed,
  };
  (window as PageWindow).nextAuth = api;

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
  return api;
}
