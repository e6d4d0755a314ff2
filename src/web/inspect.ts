/**
 * The live inspector's browser script (/inspect/inspect.js, built by `npm run build`), for the
 * page of src/web/inspect-page.ts: asks an api key once (kept in the tab's sessionStorage),
 * follows socket.io `/inspect` (src/inspect/socket.ts) and shows the virtual servers and their
 * live session actors, and the selected actor's machine drawn by Mermaid with its current state
 * marked, and its event log. socket.io's client (`io`) and Mermaid (`mermaid`) are globals of
 * the page: their own script tags, served by the NS.
 */
import type { Mermaid } from 'mermaid';
import type { ManagerOptions, Socket, SocketOptions } from 'socket.io-client';

import type { LogEntry, ServerRow } from './inspect-wire.ts';

declare const mermaid: Mermaid;
declare const io: (uri: string, opts?: Partial<ManagerOptions & SocketOptions>) => Socket;

interface Selected {
  id: string;
  serverid: string;
  serverName: string;
  machine: string;
  mermaid: string;
  names: Record<string, string>;
  invokes: Record<string, string>;
  state: string;
  account: number | null;
  age: number;
  log: LogEntry[];
  // kept by the page
  ended: boolean;
  receivedAt: number;
}

const STORE = 'nextauth-inspect-key';
const LOG_CAP = 200;
const $ = <E extends HTMLElement = HTMLElement>(id: string): E => document.getElementById(id) as E;
let socket: Socket | null = null;
let servers: ServerRow[] = [];
let listedAt = 0;
let current: Selected | null = null;
let renders = 0;
let drawing = false;
let redraw = false;
const AUTH_ERRORS: Record<string, string> = {
  MISSING_API_KEY: 'An api key is needed.',
  UNKNOWN_API_KEY: 'This api key is not known.',
  FORBIDDEN: "This api key has neither root nor 'servers'.",
};

mermaid.initialize({
  startOnLoad: false,
  securityLevel: 'strict',
  theme: 'base',
  themeVariables: {
    fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif',
    fontSize: '14px',
    primaryColor: '#eef2ff',
    primaryBorderColor: '#8da2d8',
    primaryTextColor: '#1d2433',
    lineColor: '#7c8aa5',
    secondaryColor: '#f7f8fb',
    tertiaryColor: '#f7f8fb',
    noteBkgColor: '#fffbea',
    noteBorderColor: '#e5d18a',
  },
  state: { useMaxWidth: true },
});

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: unknown): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function badge(state: string): HTMLElement {
  return el('span', `badge ${String(state).split('.')[0]}`, String(state).split('.')[0]);
}
/** A state as a badge (its top-level state) and the rest of its path ('authenticated.pinging': [authenticated] pinging). */
function stateChip(state: string): HTMLElement {
  const chip = el('span', 'chip');
  chip.appendChild(badge(state));
  const rest = String(state).split('.').slice(1).join('.');
  if (rest) chip.appendChild(el('span', 'sub', rest));
  chip.title = state;
  return chip;
}
function ago(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
function clock(at: number): string {
  const d = new Date(at);
  const p = (n: number, w?: number) => String(n).padStart(w || 2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
/** Event types as a person reads them; the raw type stays in the tooltip. */
function pretty(type: string): string {
  let m: RegExpExecArray | null;
  if (type === 'xstate.init') return 'start';
  if ((m = /^xstate\.after\.([^.]+)\./.exec(type))) return `after ${m[1]}`;
  if ((m = /^xstate\.(done|error)\.actor\.(.+)$/.exec(type))) return `${current?.invokes?.[m[2]!] || m[2]!.split('.').pop()} ${m[1]}`;
  return type;
}

// ---- the key ------------------------------------------------------------------------------
function showKeyForm(message: string): void {
  $('keybox').hidden = false;
  $('app').hidden = true;
  $('forget').hidden = true;
  $('keyerror').textContent = message || '';
  $('key').focus();
}
$('keyform').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = $<HTMLInputElement>('key').value.trim();
  if (!key) return;
  sessionStorage.setItem(STORE, key);
  $<HTMLInputElement>('key').value = '';
  start(key);
});
$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(STORE);
  if (socket) socket.close();
  socket = null;
  current = null;
  setStatus('', 'not connected');
  showKeyForm('');
});
function setStatus(cls: string, text: string): void {
  $('status').className = cls;
  $('status').textContent = text;
}

// ---- the socket ---------------------------------------------------------------------------
function start(key: string): void {
  if (socket) socket.close();
  $('keybox').hidden = true;
  $('app').hidden = false;
  $('forget').hidden = false;
  setStatus('', 'connecting…');
  const s = io('/inspect', { auth: { key: key }, transports: ['websocket'], reconnectionDelayMax: 5000 });
  socket = s;
  s.on('connect', () => {
    setStatus('live', 'live');
    s.emit('servers', showServers);
    if (current && !current.ended) select(current.id);
  });
  s.on('connect_error', (err: Error | null) => {
    const code = err?.message;
    if (code && AUTH_ERRORS[code]) {
      sessionStorage.removeItem(STORE);
      s.close();
      socket = null;
      setStatus('down', 'not connected');
      showKeyForm(AUTH_ERRORS[code]);
    } else {
      setStatus('down', 'reconnecting…');
    }
  });
  s.on('disconnect', () => {
    setStatus('down', 'reconnecting…');
  });
  s.on('sessions', showServers);
  s.on('entry', (m: { id: string; entry: LogEntry; state: string }) => {
    if (!current || m.id !== current.id) return;
    current.log.push(m.entry);
    if (current.log.length > LOG_CAP) current.log.splice(0, current.log.length - LOG_CAP);
    current.state = m.state;
    renderLog(true);
    if (m.entry.kind === 'transition') {
      renderTitle();
      draw();
    }
  });
  s.on('ended', (m: { id: string }) => {
    if (!current || m.id !== current.id) return;
    current.ended = true;
    renderTitle();
    draw();
  });
}

// ---- the list -----------------------------------------------------------------------------
function showServers(list: unknown): void {
  if (!Array.isArray(list)) return;
  servers = list as ServerRow[];
  listedAt = Date.now();
  renderServers();
}
function renderServers(): void {
  const box = $('servers');
  // The list is made anew each second: a row that has the focus keeps it.
  const focused = document.activeElement?.closest<HTMLElement>('#servers li')?.dataset.id;
  box.replaceChildren();
  if (!servers.length) box.appendChild(el('p', 'none', 'No virtual servers.'));
  const since = Date.now() - listedAt;
  servers.forEach((s) => {
    const sec = el('section', 'server');
    const h = el('h3');
    h.appendChild(el('span', 'name', s.serverName || '(no name)'));
    h.appendChild(el('span', 'sid', `${s.serverid.slice(0, 8)}…`));
    const n = s.sessions.length + (s.more || 0);
    h.appendChild(el('span', 'count', `${n} live`));
    h.title = s.serverid;
    sec.appendChild(h);
    if (!s.sessions.length) sec.appendChild(el('p', 'none', 'no live sessions'));
    const ul = el('ul');
    s.sessions.forEach((row) => {
      const li = el('li');
      li.dataset.id = row.id;
      li.dataset.state = row.value;
      // A button, so the keyboard selects a session too.
      const button = el('button', 'row');
      button.type = 'button';
      if (current && current.id === row.id) {
        li.className = 'selected';
        button.setAttribute('aria-current', 'true');
      }
      button.appendChild(badge(row.state));
      const sub = row.value.indexOf('.') > 0 ? row.value.slice(row.value.indexOf('.') + 1) : '';
      if (sub) button.appendChild(el('span', 'sub', sub));
      const meta = el('span', 'meta', `${row.account !== null ? `account ${row.account} · ` : ''}${ago(row.age + since)}`);
      meta.title = `started ${ago(row.age + since)} ago; in this state for ${ago(row.inState + since)}`;
      button.appendChild(meta);
      button.addEventListener('click', () => {
        select(row.id);
      });
      li.appendChild(button);
      ul.appendChild(li);
    });
    sec.appendChild(ul);
    if (s.more) sec.appendChild(el('p', 'none', `… and ${s.more} more`));
    box.appendChild(sec);
  });
  if (focused) box.querySelector<HTMLElement>(`li[data-id="${CSS.escape(focused)}"] button`)?.focus();
}
setInterval(() => {
  if (servers.length) renderServers();
  if (current) renderTitle();
}, 1000);

// ---- the selected actor -------------------------------------------------------------------
function select(id: string): void {
  if (!socket) return;
  socket.emit('select', { id: id }, (answer: (Omit<Selected, 'ended' | 'receivedAt'> & { error?: undefined }) | { error: string } | null) => {
    if (!answer || answer.error) {
      if (current && current.id === id) {
        current.ended = true;
        renderTitle();
        draw();
      }
      return;
    }
    current = { ...(answer as Omit<Selected, 'ended' | 'receivedAt'>), ended: false, receivedAt: Date.now() };
    $('empty').hidden = true;
    $('selection').hidden = false;
    renderServers();
    renderTitle();
    renderLog(false);
    draw();
  });
}

function renderTitle(): void {
  if (!current) return;
  const c = current;
  const t = $('title');
  t.replaceChildren();
  const what = el('span', 'what', 'Session ');
  what.appendChild(el('span', 'id', c.id));
  t.appendChild(what);
  const fact = (label: string, value: string) => {
    const f = el('span', 'fact', `${label} `);
    f.appendChild(el('b', '', value));
    t.appendChild(f);
  };
  fact('server', c.serverName || c.serverid.slice(0, 8));
  fact('machine', c.machine);
  fact('age', ago(c.age + Date.now() - c.receivedAt));
  const now = el('span', 'now', c.ended ? 'ended in' : 'current state');
  now.appendChild(c.ended ? el('span', 'badge ended', c.state || 'ended') : badge(c.state));
  if (c.state.indexOf('.') > 0) now.appendChild(el('code', '', c.state));
  now.id = 'current';
  now.dataset.state = c.state;
  t.appendChild(now);
}

function renderLog(fresh: boolean): void {
  const body = $('log');
  body.replaceChildren();
  const entries = current ? current.log.slice().reverse() : [];
  entries.forEach((e, i) => {
    const tr = el('tr', e.kind + (fresh && i === 0 ? ' fresh' : ''));
    tr.appendChild(el('td', 'time', clock(e.at)));
    tr.appendChild(el('td', 'kind', e.kind === 'transition' ? '→ transition' : 'event'));
    const what = el('td', 'what');
    if (e.kind === 'transition') {
      if (e.from) {
        what.appendChild(stateChip(e.from));
        what.appendChild(el('span', 'arrow', '→'));
      }
      what.appendChild(stateChip(e.to ?? ''));
      what.appendChild(el('span', 'cause', `on ${pretty(e.type)}`));
    } else {
      what.textContent = pretty(e.type);
    }
    what.title = e.type;
    tr.appendChild(what);
    body.appendChild(tr);
  });
  $('logcount').textContent = entries.length ? `(${entries.length}, newest first)` : '';
}

/** The Mermaid text with the current state (and the states containing it) marked. */
function marked(c: Selected): string {
  let text = `${c.mermaid.replace(/\s+$/, '')}\n`;
  const paths: Array<{ path: string; leaf: boolean }> = [];
  (c.state || '').split(', ').forEach((leaf) => {
    const parts = leaf.split('.');
    for (let i = 1; i <= parts.length; i++) paths.push({ path: parts.slice(0, i).join('.'), leaf: i === parts.length });
  });
  const cur: string[] = [];
  const par: string[] = [];
  paths.forEach((p) => {
    const name = c.names[p.path];
    if (!name) return;
    (p.leaf ? cur : par).push(name);
  });
  const color = c.ended ? 'fill:#e2e8f0,stroke:#334155' : 'fill:#fde047,stroke:#b45309';
  text += `  classDef current ${color},stroke-width:3px,color:#111,font-weight:bold\n`;
  text += '  classDef inside fill:#fffbe6,stroke:#d97706,stroke-width:2px\n';
  if (cur.length) text += `  class ${cur.join(',')} current\n`;
  if (par.length) text += `  class ${par.join(',')} inside\n`;
  return text;
}

/** Draws the diagram again (one drawing at a time; the last state wins). */
function draw(): void {
  if (!current) return;
  if (drawing) {
    redraw = true;
    return;
  }
  drawing = true;
  const state = current.state;
  const ended = current.ended;
  void mermaid
    .render(`machine-${++renders}`, marked(current))
    .then((out) => {
      const box = $('diagram');
      box.innerHTML = out.svg;
      box.dataset.state = state;
      box.dataset.ended = String(ended);
      box.dataset.renders = String(renders);
      follow();
    })
    .catch((err: unknown) => {
      $('diagram').textContent = `The diagram could not be drawn: ${err && (err as Error).message ? (err as Error).message : err}`;
    })
    .then(() => {
      drawing = false;
      if (redraw) {
        redraw = false;
        draw();
      }
    });
}

/** In 'follow' mode the current state is scrolled to the middle of the diagram's pane. */
let mode: 'follow' | 'whole' = 'follow';
function follow(): void {
  const box = $('diagram');
  box.classList.toggle('fit', mode === 'whole');
  const svg = box.querySelector('svg');
  if (svg) svg.style.width = mode === 'whole' ? '' : svg.viewBox?.baseVal ? `${Math.ceil(svg.viewBox.baseVal.width)}px` : '';
  if (mode !== 'follow') return;
  const node = box.querySelector('svg .current') || box.querySelector('svg .inside');
  if (!node) return;
  const r = node.getBoundingClientRect();
  const b = box.getBoundingClientRect();
  box.scrollTo({ top: box.scrollTop + r.top - b.top - (box.clientHeight - r.height) / 2, left: box.scrollLeft + r.left - b.left - (box.clientWidth - r.width) / 2 });
}
function setMode(m: 'follow' | 'whole'): void {
  mode = m;
  $('follow').classList.toggle('on', m === 'follow');
  $('whole').classList.toggle('on', m === 'whole');
  $('follow').setAttribute('aria-pressed', String(m === 'follow'));
  $('whole').setAttribute('aria-pressed', String(m === 'whole'));
  follow();
}
$('follow').addEventListener('click', () => {
  setMode('follow');
});
$('whole').addEventListener('click', () => {
  setMode('whole');
});

const saved = sessionStorage.getItem(STORE);
if (saved) start(saved);
else showKeyForm('');
