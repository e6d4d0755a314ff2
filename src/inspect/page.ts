/**
 * The live inspector's page, GET /inspect: the virtual servers and their live session actors on
 * the left; on the right, the selected actor's machine drawn with its current state highlighted,
 * and its event log, both following the actor live over socket.io `/inspect`
 * (src/inspect/socket.ts).
 *
 * The page itself is public (it holds nothing); the socket needs an api key with root or
 * `servers`, asked once and kept in the tab's sessionStorage. The diagram is the Mermaid text of
 * the same generator as machines/*.md (src/inspect/diagram.ts), drawn in the browser by Mermaid,
 * served by the NS itself (no CDN): the current state is marked by a `classDef` and a `class`
 * line appended to that text, and the diagram is drawn again on each transition.
 *
 *   GET /inspect                  the page
 *   GET /inspect/inspect.js       its script
 *   GET /inspect/mermaid.min.js   Mermaid (node_modules/mermaid/dist/mermaid.min.js)
 * socket.io's browser client is /ns/socket.io.min.js (src/web/assets.ts).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { App } from '../transports/http/context.ts';
import { assets, makeAsset, sendAsset, type Asset } from '../web/assets.ts';

const require = createRequire(import.meta.url);

let mermaidAsset: Asset | undefined;
/** Mermaid's browser bundle, read on first use. */
export function mermaidScript(): Asset {
  mermaidAsset ??= makeAsset(readFileSync(path.join(path.dirname(require.resolve('mermaid/package.json')), 'dist', 'mermaid.min.js')), 'text/javascript; charset=utf-8');
  return mermaidAsset;
}

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  // Mermaid styles its SVG inline.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const CSS = `
:root {
  --bg: #f4f6fa; --panel: #fff; --ink: #1d2433; --muted: #667085; --line: #e3e7ee; --accent: #3b5bdb;
  --waiting: #64748b; --challenged: #d97706; --verifying: #7c3aed; --failing: #dc2626;
  --authenticated: #15803d; --loggedOut: #2563eb; --expired: #6b7280;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font-size: 14px; }
header { display: flex; align-items: center; gap: 12px; padding: 10px 20px; background: #1d2433; color: #fff; }
header h1 { font-size: 16px; margin: 0; font-weight: 600; letter-spacing: .2px; }
header h1 span { color: #9fb3ff; font-weight: 400; }
header .spacer { flex: 1; }
#status { display: inline-flex; align-items: center; gap: 6px; font-size: 13px; color: #cbd5e1; }
#status::before { content: ""; width: 9px; height: 9px; border-radius: 50%; background: #94a3b8; }
#status.live::before { background: #22c55e; box-shadow: 0 0 0 3px rgba(34,197,94,.25); }
#status.down::before { background: #ef4444; }
header button { background: transparent; color: #cbd5e1; border: 1px solid #475569; border-radius: 6px; padding: 4px 10px; cursor: pointer; font-size: 12px; }
header button:hover { color: #fff; border-color: #94a3b8; }
main { display: grid; grid-template-columns: 330px 1fr; gap: 16px; padding: 16px 20px; align-items: start; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; box-shadow: 0 1px 2px rgba(16,24,40,.05); }
aside.panel { padding: 6px 0; max-height: calc(100vh - 84px); overflow: auto; position: sticky; top: 16px; }
aside h2, #detail h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .6px; color: var(--muted); margin: 10px 16px 8px; font-weight: 600; }
.server { border-top: 1px solid var(--line); padding: 8px 0 6px; }
.server:first-of-type { border-top: 0; }
.server h3 { margin: 0 16px 4px; font-size: 14px; display: flex; align-items: baseline; gap: 8px; }
.server h3 .sid { font: 11px ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--muted); font-weight: 400; }
.server h3 .count { margin-left: auto; font-size: 12px; color: var(--muted); font-weight: 400; white-space: nowrap; }
.server ul { list-style: none; margin: 0; padding: 0; }
.server li { display: flex; align-items: center; gap: 8px; padding: 6px 16px; cursor: pointer; border-left: 3px solid transparent; }
.server li:hover { background: #f1f4fb; }
.server li.selected { background: #e8eeff; border-left-color: var(--accent); }
.server li .sub { color: var(--muted); font-size: 12px; }
.server li .meta { margin-left: auto; color: var(--muted); font-size: 12px; white-space: nowrap; font-variant-numeric: tabular-nums; }
.server .none { margin: 2px 16px 6px; color: var(--muted); font-size: 12px; font-style: italic; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; color: #fff; font-size: 12px; font-weight: 600; line-height: 18px; background: var(--waiting); white-space: nowrap; }
.badge.waiting { background: var(--waiting); } .badge.challenged { background: var(--challenged); }
.badge.verifying { background: var(--verifying); } .badge.failing { background: var(--failing); }
.badge.authenticated { background: var(--authenticated); } .badge.loggedOut { background: var(--loggedOut); }
.badge.expired { background: var(--expired); } .badge.ended { background: #334155; }
#detail { padding: 4px 0 12px; min-height: 300px; }
#detail .empty { padding: 60px 20px; text-align: center; color: var(--muted); }
#title { display: flex; flex-wrap: wrap; align-items: center; gap: 10px 18px; padding: 12px 20px 10px; border-bottom: 1px solid var(--line); }
#title .what { font-size: 15px; font-weight: 600; }
#title .what .id { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--muted); font-weight: 400; }
#title .fact { color: var(--muted); font-size: 13px; }
#title .fact b { color: var(--ink); font-weight: 600; }
#title .now { margin-left: auto; display: flex; align-items: center; gap: 8px; font-size: 13px; color: var(--muted); }
#title .now code { font: 600 13px ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--ink); background: #fff7cc; border: 1px solid #f2c94c; padding: 2px 8px; border-radius: 6px; }
#tools { display: flex; align-items: center; gap: 6px; padding: 8px 20px 0; }
#tools button { background: #fff; border: 1px solid #cbd2dc; color: var(--ink); border-radius: 6px; padding: 3px 10px; font-size: 12px; cursor: pointer; }
#tools button.on { background: #e8eeff; border-color: var(--accent); color: var(--accent); font-weight: 600; }
#tools .hint { color: var(--muted); font-size: 12px; margin-left: 6px; }
#diagram { height: clamp(380px, calc(100vh - 430px), 1600px); margin: 8px 16px 6px; overflow: auto; text-align: center; border: 1px solid var(--line); border-radius: 8px; background: #fbfcfe; }
#diagram svg { max-width: none !important; height: auto; }
#diagram.fit { overflow: hidden; }
#diagram.fit svg { width: 100% !important; height: 100% !important; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; padding: 4px 20px 12px; color: var(--muted); font-size: 12px; border-bottom: 1px solid var(--line); }
.legend .swatch { display: inline-block; width: 14px; height: 10px; border-radius: 3px; vertical-align: -1px; margin-right: 5px; }
.legend .cur { background: #fde047; border: 2px solid #b45309; }
.legend .par { background: #fffbe6; border: 2px solid #d97706; }
#logwrap { max-height: 300px; overflow: auto; margin: 0 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
thead th { position: sticky; top: 0; background: var(--panel); text-align: left; color: var(--muted); font-weight: 600; font-size: 12px; padding: 8px 12px; border-bottom: 1px solid var(--line); }
td { padding: 5px 12px; border-bottom: 1px solid #f0f2f6; vertical-align: middle; }
td.time { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--muted); white-space: nowrap; width: 1%; }
td.kind { width: 1%; white-space: nowrap; color: var(--muted); font-size: 12px; }
tr.event td.what { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; }
tr.transition td { background: #fafbff; }
tr.transition td.kind { color: var(--accent); font-weight: 600; }
td .arrow { color: var(--muted); margin: 0 8px; }
.chip { display: inline-flex; align-items: center; gap: 5px; }
.chip .sub { color: var(--ink); font-size: 12px; }
td .cause { color: var(--muted); font-size: 12px; margin-left: 8px; }
tr.fresh td { animation: fresh 1.2s ease-out; }
@keyframes fresh { from { background: #fff3b0; } }
#keybox { max-width: 440px; margin: 12vh auto; padding: 26px 28px; }
#keybox h2 { margin: 0 0 6px; font-size: 18px; }
#keybox p { color: var(--muted); margin: 0 0 16px; line-height: 1.45; }
#keybox input { width: 100%; padding: 9px 11px; border: 1px solid #cbd2dc; border-radius: 7px; font: 14px ui-monospace, SFMono-Regular, Menlo, monospace; }
#keybox button { margin-top: 12px; background: var(--accent); color: #fff; border: 0; border-radius: 7px; padding: 9px 18px; font-size: 14px; cursor: pointer; }
#keybox .error { color: #b42318; margin: 10px 0 0; min-height: 1em; }
[hidden] { display: none !important; }
`;

const SCRIPT = String.raw`
(function () {
  'use strict';
  var STORE = 'nextauth-inspect-key';
  var LOG_CAP = 200;
  var $ = function (id) { return document.getElementById(id); };
  var socket = null;
  var servers = [];
  var listedAt = 0;
  var current = null;
  var renders = 0;
  var drawing = false;
  var redraw = false;
  var AUTH_ERRORS = { MISSING_API_KEY: 'An api key is needed.', UNKNOWN_API_KEY: 'This api key is not known.', FORBIDDEN: "This api key has neither root nor 'servers'." };

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
      noteBorderColor: '#e5d18a'
    },
    state: { useMaxWidth: true }
  });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function badge(state) { return el('span', 'badge ' + String(state).split('.')[0], String(state).split('.')[0]); }
  /** A state as a badge (its top-level state) and the rest of its path ('waiting.open': [waiting] open). */
  function stateChip(state) {
    var chip = el('span', 'chip');
    chip.appendChild(badge(state));
    var rest = String(state).split('.').slice(1).join('.');
    if (rest) chip.appendChild(el('span', 'sub', rest));
    chip.title = state;
    return chip;
  }
  function ago(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }
  function clock(at) {
    var d = new Date(at);
    var p = function (n, w) { return String(n).padStart(w || 2, '0'); };
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds()) + '.' + p(d.getMilliseconds(), 3);
  }
  /** Event types as a person reads them; the raw type stays in the tooltip. */
  function pretty(type) {
    var m;
    if (type === 'xstate.init') return 'start';
    if ((m = /^xstate\.after\.([^.]+)\./.exec(type))) return 'after ' + m[1];
    if ((m = /^xstate\.(done|error)\.actor\.(.+)$/.exec(type))) return ((current && current.invokes && current.invokes[m[2]]) || m[2].split('.').pop()) + ' ' + m[1];
    return type;
  }

  // ---- the key ------------------------------------------------------------------------------
  function showKeyForm(message) {
    $('keybox').hidden = false;
    $('app').hidden = true;
    $('forget').hidden = true;
    $('keyerror').textContent = message || '';
    $('key').focus();
  }
  $('keyform').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var key = $('key').value.trim();
    if (!key) return;
    sessionStorage.setItem(STORE, key);
    $('key').value = '';
    start(key);
  });
  $('forget').addEventListener('click', function () {
    sessionStorage.removeItem(STORE);
    if (socket) socket.close();
    socket = null;
    current = null;
    setStatus('', 'not connected');
    showKeyForm('');
  });
  function setStatus(cls, text) { $('status').className = cls; $('status').textContent = text; }

  // ---- the socket ---------------------------------------------------------------------------
  function start(key) {
    if (socket) socket.close();
    $('keybox').hidden = true;
    $('app').hidden = false;
    $('forget').hidden = false;
    setStatus('', 'connecting…');
    socket = io('/inspect', { auth: { key: key }, transports: ['websocket'], reconnectionDelayMax: 5000 });
    socket.on('connect', function () {
      setStatus('live', 'live');
      socket.emit('servers', showServers);
      if (current && !current.ended) select(current.id);
    });
    socket.on('connect_error', function (err) {
      var code = err && err.message;
      if (AUTH_ERRORS[code]) {
        sessionStorage.removeItem(STORE);
        socket.close();
        socket = null;
        setStatus('down', 'not connected');
        showKeyForm(AUTH_ERRORS[code]);
      } else {
        setStatus('down', 'reconnecting…');
      }
    });
    socket.on('disconnect', function () { setStatus('down', 'reconnecting…'); });
    socket.on('sessions', showServers);
    socket.on('entry', function (m) {
      if (!current || m.id !== current.id) return;
      current.log.push(m.entry);
      if (current.log.length > LOG_CAP) current.log.splice(0, current.log.length - LOG_CAP);
      current.state = m.state;
      renderLog(true);
      if (m.entry.kind === 'transition') { renderTitle(); draw(); }
    });
    socket.on('ended', function (m) {
      if (!current || m.id !== current.id) return;
      current.ended = true;
      renderTitle();
      draw();
    });
  }

  // ---- the list -----------------------------------------------------------------------------
  function showServers(list) {
    if (!Array.isArray(list)) return;
    servers = list;
    listedAt = Date.now();
    renderServers();
  }
  function renderServers() {
    var box = $('servers');
    box.replaceChildren();
    if (!servers.length) box.appendChild(el('p', 'none', 'No virtual servers.'));
    var since = Date.now() - listedAt;
    servers.forEach(function (s) {
      var sec = el('section', 'server');
      var h = el('h3');
      h.appendChild(el('span', 'name', s.serverName || '(no name)'));
      h.appendChild(el('span', 'sid', s.serverid.slice(0, 8) + '…'));
      var n = s.sessions.length + (s.more || 0);
      h.appendChild(el('span', 'count', n + ' live'));
      h.title = s.serverid;
      sec.appendChild(h);
      if (!s.sessions.length) sec.appendChild(el('p', 'none', 'no live sessions'));
      var ul = el('ul');
      s.sessions.forEach(function (row) {
        var li = el('li');
        li.dataset.id = row.id;
        li.dataset.state = row.value;
        if (current && current.id === row.id) li.className = 'selected';
        li.appendChild(badge(row.state));
        var sub = row.value.indexOf('.') > 0 ? row.value.slice(row.value.indexOf('.') + 1) : '';
        if (sub) li.appendChild(el('span', 'sub', sub));
        var meta = el('span', 'meta', (row.account !== null ? 'account ' + row.account + ' · ' : '') + ago(row.age + since));
        meta.title = 'started ' + ago(row.age + since) + ' ago; in this state for ' + ago(row.inState + since);
        li.appendChild(meta);
        li.addEventListener('click', function () { select(row.id); });
        ul.appendChild(li);
      });
      sec.appendChild(ul);
      if (s.more) sec.appendChild(el('p', 'none', '… and ' + s.more + ' more'));
      box.appendChild(sec);
    });
  }
  setInterval(function () { if (servers.length) renderServers(); if (current) renderTitle(); }, 1000);

  // ---- the selected actor -------------------------------------------------------------------
  function select(id) {
    if (!socket) return;
    socket.emit('select', { id: id }, function (answer) {
      if (!answer || answer.error) {
        if (current && current.id === id) { current.ended = true; renderTitle(); draw(); }
        return;
      }
      current = answer;
      current.ended = false;
      current.receivedAt = Date.now();
      $('empty').hidden = true;
      $('selection').hidden = false;
      renderServers();
      renderTitle();
      renderLog(false);
      draw();
    });
  }

  function renderTitle() {
    if (!current) return;
    var t = $('title');
    t.replaceChildren();
    var what = el('span', 'what', 'Session ');
    what.appendChild(el('span', 'id', current.id));
    t.appendChild(what);
    var fact = function (label, value) { var f = el('span', 'fact', label + ' '); f.appendChild(el('b', '', value)); t.appendChild(f); };
    fact('server', current.serverName || current.serverid.slice(0, 8));
    fact('machine', current.machine);
    fact('age', ago(current.age + Date.now() - current.receivedAt));
    var now = el('span', 'now', current.ended ? 'ended in' : 'current state');
    now.appendChild(current.ended ? el('span', 'badge ended', current.state || 'ended') : badge(current.state));
    if (current.state.indexOf('.') > 0) now.appendChild(el('code', '', current.state));
    now.id = 'current';
    now.dataset.state = current.state;
    t.appendChild(now);
  }

  function renderLog(fresh) {
    var body = $('log');
    body.replaceChildren();
    var entries = current ? current.log.slice().reverse() : [];
    entries.forEach(function (e, i) {
      var tr = el('tr', e.kind + (fresh && i === 0 ? ' fresh' : ''));
      tr.appendChild(el('td', 'time', clock(e.at)));
      tr.appendChild(el('td', 'kind', e.kind === 'transition' ? '→ transition' : 'event'));
      var what = el('td', 'what');
      if (e.kind === 'transition') {
        if (e.from) { what.appendChild(stateChip(e.from)); what.appendChild(el('span', 'arrow', '→')); }
        what.appendChild(stateChip(e.to));
        what.appendChild(el('span', 'cause', 'on ' + pretty(e.type)));
      } else {
        what.textContent = pretty(e.type);
      }
      what.title = e.type;
      tr.appendChild(what);
      body.appendChild(tr);
    });
    $('logcount').textContent = entries.length ? '(' + entries.length + ', newest first)' : '';
  }

  /** The Mermaid text with the current state (and the states containing it) marked. */
  function marked() {
    var text = current.mermaid.replace(/\s+$/, '') + '\n';
    var paths = [];
    (current.state || '').split(', ').forEach(function (leaf) {
      var parts = leaf.split('.');
      for (var i = 1; i <= parts.length; i++) paths.push({ path: parts.slice(0, i).join('.'), leaf: i === parts.length });
    });
    var cur = [], par = [];
    paths.forEach(function (p) {
      var name = current.names[p.path];
      if (!name) return;
      (p.leaf ? cur : par).push(name);
    });
    var color = current.ended ? 'fill:#e2e8f0,stroke:#334155' : 'fill:#fde047,stroke:#b45309';
    text += '  classDef current ' + color + ',stroke-width:3px,color:#111,font-weight:bold\n';
    text += '  classDef inside fill:#fffbe6,stroke:#d97706,stroke-width:2px\n';
    if (cur.length) text += '  class ' + cur.join(',') + ' current\n';
    if (par.length) text += '  class ' + par.join(',') + ' inside\n';
    return text;
  }

  /** Draws the diagram again (one drawing at a time; the last state wins). */
  function draw() {
    if (!current) return;
    if (drawing) { redraw = true; return; }
    drawing = true;
    var state = current.state;
    var ended = current.ended;
    mermaid.render('machine-' + (++renders), marked()).then(function (out) {
      var box = $('diagram');
      box.innerHTML = out.svg;
      box.dataset.state = state;
      box.dataset.ended = String(ended);
      box.dataset.renders = String(renders);
      follow();
    }).catch(function (err) {
      $('diagram').textContent = 'The diagram could not be drawn: ' + (err && err.message ? err.message : err);
    }).then(function () {
      drawing = false;
      if (redraw) { redraw = false; draw(); }
    });
  }

  /** In 'follow' mode the current state is scrolled to the middle of the diagram's pane. */
  var mode = 'follow';
  function follow() {
    var box = $('diagram');
    box.classList.toggle('fit', mode === 'whole');
    var svg = box.querySelector('svg');
    if (svg) svg.style.width = mode === 'whole' ? '' : (svg.viewBox && svg.viewBox.baseVal ? Math.ceil(svg.viewBox.baseVal.width) + 'px' : '');
    if (mode !== 'follow') return;
    var node = box.querySelector('svg .current') || box.querySelector('svg .inside');
    if (!node) return;
    var r = node.getBoundingClientRect();
    var b = box.getBoundingClientRect();
    box.scrollTo({ top: box.scrollTop + r.top - b.top - (box.clientHeight - r.height) / 2, left: box.scrollLeft + r.left - b.left - (box.clientWidth - r.width) / 2 });
  }
  function setMode(m) {
    mode = m;
    $('follow').classList.toggle('on', m === 'follow');
    $('whole').classList.toggle('on', m === 'whole');
    follow();
  }
  $('follow').addEventListener('click', function () { setMode('follow'); });
  $('whole').addEventListener('click', function () { setMode('whole'); });

  var saved = sessionStorage.getItem(STORE);
  if (saved) start(saved); else showKeyForm('');
})();
`;

function html(mermaidVersion: string, scriptVersion: string, socketIoVersion: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>nextAuth · live inspector</title>
<style>${CSS}</style>
</head>
<body>
<header>
  <h1>nextAuth <span>· live inspector</span></h1>
  <span class="spacer"></span>
  <span id="status">not connected</span>
  <button id="forget" type="button" hidden>Forget key</button>
</header>
<div id="keybox" class="panel" hidden>
  <h2>Live inspector</h2>
  <p>The session actors of every virtual server, their state machines and events, live. Give an api key with <b>root</b> or <b>servers</b> (global, or on some servers); it is kept in this tab only.</p>
  <form id="keyform" autocomplete="off">
    <input id="key" type="password" placeholder="api key" aria-label="api key" spellcheck="false">
    <button type="submit">Connect</button>
    <p id="keyerror" class="error" role="alert"></p>
  </form>
</div>
<main id="app" hidden>
  <aside class="panel">
    <h2>Virtual servers · live sessions</h2>
    <div id="servers"></div>
  </aside>
  <section id="detail" class="panel">
    <div id="empty" class="empty">Select a session on the left to see its machine and its events, live.</div>
    <div id="selection" hidden>
      <div id="title"></div>
      <div id="tools">
        <button id="follow" type="button" class="on">Follow the state</button>
        <button id="whole" type="button">Whole machine</button>
        <span class="hint">the diagram is drawn again on each transition</span>
      </div>
      <div id="diagram"></div>
      <div class="legend">
        <span><span class="swatch cur"></span>current state</span>
        <span><span class="swatch par"></span>the state that contains it</span>
        <span>arrows: <code>event [guard] / notify</code>, <code>after &lt;limit&gt;</code>, <code>always</code></span>
      </div>
      <h2>Event log <span id="logcount"></span></h2>
      <div id="logwrap">
        <table>
          <thead><tr><th>time</th><th>kind</th><th>what</th></tr></thead>
          <tbody id="log"></tbody>
        </table>
      </div>
    </div>
  </section>
</main>
<script src="/ns/socket.io.min.js?v=${socketIoVersion}"></script>
<script src="/inspect/mermaid.min.js?v=${mermaidVersion}"></script>
<script src="/inspect/inspect.js?v=${scriptVersion}"></script>
</body>
</html>
`;
}

/** GET /inspect, /inspect/inspect.js and /inspect/mermaid.min.js: public (the socket needs the key). */
export function registerInspectPage(app: App): void {
  const script = makeAsset(SCRIPT, 'text/javascript; charset=utf-8');
  let page: string | undefined;
  const pub = { config: { public: true } };
  app.get('/inspect', pub, async (_req, reply) => {
    page ??= html(mermaidScript().version, script.version, assets()['socket.io.min.js'].version);
    reply.header('content-type', 'text/html; charset=utf-8');
    reply.header('cache-control', 'no-store');
    reply.header('content-security-policy', CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    return reply.send(page);
  });
  app.get('/inspect/inspect.js', pub, async (req, reply) => sendAsset(req, reply, script));
  app.get('/inspect/mermaid.min.js', pub, async (req, reply) => sendAsset(req, reply, mermaidScript()));
}
