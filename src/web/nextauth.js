/*
 * nextAuth in the browser: the footer script that brings the login and enrol blocks to life.
 * Served by the NS at /ns/nextauth.js and loaded by the HTML of getHtmlFooter:
 *
 *   <script src="https://ns.example/ns/nextauth.js?v=…" data-nextauth-footer
 *           data-ns="https://ns.example" data-sessions='[{"srv":…,"hsid":…,"loggedin":false}]'
 *           data-callback="myApp.onLogin" defer></script>
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
 * - when a watched session logs in or out: calls `data-callback` (a global function) if given,
 *   else reloads the page. Every event is also a `nextauth` DOM event on `document`, with
 *   detail {srv, hsid, event, loggedin, changed, sync, number?, account?, state?} — `event` is a
 *   §5 word in lower case, `sync` marks what a (re)connect learned of the current state, and
 *   `changed` a login or logout the page was not made with; it is cancelable: preventDefault()
 *   keeps the page from reloading.
 *
 * `window.nextAuth` offers: transport(), connected(), sessions(), watch(srv, hsid, loggedin),
 * provoke(srv?, hsid?), logout(srv?, hsid?), refresh().
 *
 * Plain ES2017, no build step, no dependency, no inline styles (works under a strict CSP).
 */
(() => {
  if (window.nextAuth?.footer) return;

  var script = document.currentScript || document.querySelector('script[data-nextauth-footer]');
  var data = script?.dataset || {};
  var NS = String(data.ns || (script?.src ? new URL(script.src, location.href).origin : location.origin)).replace(/\/+$/, '');
  var forcedTransport = data.transport || '';
  var isPhone = /Android|iPhone|iPad|iPod|Mobile|Windows Phone/i.test(navigator.userAgent) || (/Macintosh/.test(navigator.userAgent) && navigator.maxTouchPoints > 1);

  // ───────────────────────── sessions ─────────────────────────

  /** key "srv hsid" → {srv, hsid, loggedin, canprovoke, ui: {state, number?, code?}, blocks: []} */
  var sessions = {};
  var order = [];
  var unloading = false;

  function keyOf(srv, hsid) {
    return `${srv} ${hsid}`;
  }

  function sessionFor(srv, hsid, loggedin) {
    var k = keyOf(srv, hsid);
    var s = sessions[k];
    if (!s) {
      s = sessions[k] = { srv: srv, hsid: hsid, loggedin: !!loggedin, canprovoke: false, ui: { state: loggedin ? 'loggedin' : 'waiting' }, blocks: [] };
      order.push(s);
      if (transport) transport.watch(s);
    }
    return s;
  }

  var listed = [];
  try {
    listed = JSON.parse(data.sessions || '[]');
  } catch {
    listed = [];
  }
  listed.forEach((x) => {
    if (x && typeof x.srv === 'string' && typeof x.hsid === 'string') sessionFor(x.srv, x.hsid, x.loggedin === true);
  });

  // ───────────────────────── blocks ─────────────────────────

  function $(block, selector) {
    return block.querySelector(selector);
  }

  function minutes(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000));
    var r = s % 60;
    return `${Math.floor(s / 60)}:${r < 10 ? '0' : ''}${r}`;
  }

  var TEXT = {
    login: {
      waiting: '',
      scanned: 'Code scanned. Confirm on your phone.',
      confirm: 'Confirm the login on your phone.',
      sending: 'Sending a login to your phone…',
      cancelled: 'Cancelled on the phone.',
      noaccounts: 'There is no phone to send a login to. Scan the code instead.',
      loggedin: 'You are logged in.',
      stale: 'This code has expired.',
    },
    enrol: {
      waiting: '',
      scanned: 'Code scanned. Confirm on your phone.',
      confirm: 'Confirm on your phone.',
      sending: '',
      cancelled: 'Cancelled on the phone.',
      noaccounts: '',
      loggedin: 'Your phone is enrolled and logged in.',
      stale: 'This code has expired.',
    },
  };
  var TONE = { loggedin: 'ok', cancelled: 'error', noaccounts: 'error', error: 'error', stale: 'warn', scanned: 'info', confirm: 'info', sending: 'info' };
  var ERRORS = {
    RATE_LIMITED: 'Too many logins were sent. Wait a moment and try again.',
    CANNOT_PROVOKE: 'No phone can be asked for this browser yet: scan the code.',
    ACCOUNT_BLOCKED: 'That phone is blocked on this site.',
    NOT_CONNECTED: 'Not connected to the login server. Trying again…',
  };

  function render(block) {
    var s = block.nextauth?.session;
    if (!s) return;
    var b = block.nextauth;
    var kind = b.kind === 'enrol' ? 'enrol' : 'login';
    var state = s.loggedin ? 'loggedin' : s.ui.state;
    // A push is about logging in: an enrol block of the same session stays as it is.
    if (kind === 'enrol' && (state === 'confirm' || state === 'sending' || state === 'noaccounts' || state === 'error')) state = 'waiting';
    if (!s.loggedin && b.stale && (state === 'waiting' || state === 'cancelled')) state = 'stale';
    block.setAttribute('data-state', state);
    var status = $(block, '.nextauth-status');
    if (status) {
      var text = state === 'error' ? ERRORS[s.ui.code] || `Something went wrong (${s.ui.code}).` : TEXT[kind][state] || '';
      status.textContent = text;
      if (state === 'confirm' && s.ui.number) {
        status.appendChild(document.createTextNode(' Pick this number on your phone:'));
        var n = document.createElement('span');
        n.className = 'nextauth-number';
        n.textContent = s.ui.number;
        status.appendChild(n);
      }
      if (TONE[state]) status.setAttribute('data-tone', TONE[state]);
      else status.removeAttribute('data-tone');
    }
    var body = $(block, '.nextauth-body');
    if (body) body.hidden = state === 'loggedin';
    var push = $(block, '.nextauth-push');
    if (push) {
      push.hidden = !(s.canprovoke && !s.loggedin && kind === 'login');
      push.disabled = state === 'sending' || state === 'confirm' || state === 'scanned';
    }
    var logout = $(block, '.nextauth-logout');
    if (logout) logout.hidden = state !== 'loggedin';
    var refresh = $(block, '.nextauth-refresh');
    if (refresh) refresh.hidden = state !== 'stale';
    var title = $(block, '.nextauth-title');
    if (title && kind === 'login' && block.dataset.name) {
      title.textContent = (state === 'loggedin' ? 'Logged in to ' : 'Log in to ') + block.dataset.name;
    }
  }

  function renderSession(s) {
    s.blocks.forEach(render);
  }

  function setUi(s, state, extra) {
    s.ui = { state: state };
    if (extra) for (var k in extra) if (Object.hasOwn(extra, k)) s.ui[k] = extra[k];
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

  function wire(block) {
    var srv = block.getAttribute('data-srv');
    var hsid = block.getAttribute('data-hsid');
    if (!srv || !hsid || block.nextauth) return;
    var s = sessionFor(srv, hsid, block.getAttribute('data-state') === 'loggedin');
    if (block.getAttribute('data-canprovoke') === 'true') s.canprovoke = true;
    var now = Number(block.getAttribute('data-now')) || Date.now();
    var expires = Number(block.getAttribute('data-expires')) || 0;
    var total = expires ? Math.max(1000, expires - now) : 0;
    var b = (block.nextauth = {
      session: s,
      kind: block.getAttribute('data-nextauth') || 'login',
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
      var t = e.target;
      if (!(t instanceof Element)) return;
      if (t.closest('.nextauth-push')) provokeSession(s);
      else if (t.closest('.nextauth-logout')) logoutSession(s);
      else if (t.closest('.nextauth-refresh')) refreshBlock(block, true);
      else if (t.closest('.nextauth-showqr')) {
        block.classList.add('nextauth-qr-shown');
        var qr = $(block, '.nextauth-qr');
        if (qr) {
          qr.setAttribute('tabindex', '-1');
          qr.focus();
        }
      }
    });
    var linkText = $(block, '.nextauth-linktext');
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

  function unwire(block) {
    var b = block.nextauth;
    if (!b) return;
    if (b.timer) clearInterval(b.timer);
    var list = b.session.blocks;
    var i = list.indexOf(block);
    if (i >= 0) list.splice(i, 1);
    block.nextauth = null;
  }

  function tick(block) {
    var b = block.nextauth;
    if (!b?.expires) return;
    var s = b.session;
    var left = b.expires - Date.now();
    var time = $(block, '.nextauth-time');
    if (time) time.textContent = minutes(left);
    var bar = $(block, '.nextauth-bar > span');
    if (bar) bar.style.width = `${Math.max(0, Math.min(100, (left / b.total) * 100)).toFixed(1)}%`;
    var idle = !s.loggedin && (s.ui.state === 'waiting' || s.ui.state === 'cancelled' || s.ui.state === 'error' || s.ui.state === 'noaccounts');
    if (!idle) return;
    if (left <= b.lead && !b.refreshing && Date.now() >= b.retryAt) refreshBlock(block, false);
    if (left <= 0 && !b.stale) {
      b.stale = true;
      render(block);
    }
  }

  /** The session went back to waiting (cancel): its idle limit starts again, so do the countdowns. */
  function restartCountdowns(s) {
    s.blocks.forEach((block) => {
      var b = block.nextauth;
      if (b?.expires && b.kind === 'login') b.expires = Date.now() + b.total;
    });
  }

  /**
   * Fetches this page again and swaps in fresh blocks (same kind and session) for the ones shown:
   * the NS restarts a session's idle limit (and issues a new enrol code) whenever it makes a block.
   * When the page no longer has the block that asked (it changed, e.g. the user logged in), it
   * reloads. One fetch at a time serves every block that asks meanwhile.
   */
  var refreshing = null;
  var refreshed = 0;
  function refreshBlock(block, byUser) {
    var b = block.nextauth;
    if (!b || b.refreshing) return;
    b.refreshing = true;
    var asked = [block];
    if (refreshing) {
      refreshing.asked.push(block);
      return;
    }
    var focused = document.activeElement;
    refreshing = { asked: asked };
    fetch(location.href, { credentials: 'same-origin', cache: 'no-store', headers: { 'X-Nextauth-Refresh': '1' } })
      .then((r) => {
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        return r.text();
      })
      .then((html) => {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var fresh = doc.querySelectorAll('.nextauth-block[data-nextauth][data-srv][data-hsid]');
        var shown = document.querySelectorAll('.nextauth-block[data-nextauth][data-srv][data-hsid]');
        var missing = false;
        for (var i = 0; i < shown.length; i++) {
          var old = shown[i];
          if (!old.nextauth || !old.parentNode) continue;
          var match = null;
          for (var j = 0; j < fresh.length && !match; j++) {
            var f = fresh[j];
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
          var node = document.importNode(match, true);
          if (old.classList.contains('nextauth-qr-shown')) node.classList.add('nextauth-qr-shown');
          var details = old.querySelector('details[open]');
          var hadFocus = old.contains(focused);
          unwire(old);
          old.parentNode.replaceChild(node, old);
          if (details) {
            var d = node.querySelector('details');
            if (d) d.open = true;
          }
          wire(node);
          refreshed++;
          if (hadFocus || (byUser && asked.indexOf(old) >= 0)) {
            // Focus stays in the block: on its first visible control.
            var controls = node.querySelectorAll('.nextauth-push, .nextauth-applink, summary, .nextauth-logout');
            for (var c = 0; c < controls.length; c++) {
              if (controls[c].offsetParent !== null) {
                controls[c].focus();
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

  function reloadPage() {
    unloading = true;
    location.reload();
  }

  // ───────────────────────── events ─────────────────────────

  function lookup(path) {
    var target = window;
    var parts = String(path).split('.');
    for (var i = 0; i < parts.length; i++) {
      if (target == null) return undefined;
      target = target[parts[i]];
    }
    return target;
  }

  /**
   * One notice about a session. `sync` marks what a (re)connect learns of the current state; it
   * counts as a change when it differs from what the page was made with (an event was missed).
   */
  function onEvent(srv, hsid, event, extra, sync) {
    var s = sessions[keyOf(srv, hsid)];
    if (!s) return;
    var was = s.loggedin;
    var changed = false;
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
        setUi(s, 'confirm', extra?.number ? { number: extra.number } : null);
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
    var detail = { srv: srv, hsid: hsid, event: event, loggedin: s.loggedin, changed: changed, sync: !!sync };
    if (extra) for (var k in extra) if (Object.hasOwn(extra, k) && !(k in detail)) detail[k] = extra[k];
    var domEvent;
    try {
      domEvent = new CustomEvent('nextauth', { detail: detail, cancelable: true });
    } catch {
      domEvent = document.createEvent('CustomEvent');
      domEvent.initCustomEvent('nextauth', false, true, detail);
    }
    document.dispatchEvent(domEvent);
    if (!changed) return;
    var callback = data.callback ? lookup(data.callback) : undefined;
    if (typeof callback === 'function') {
      try {
        callback(detail);
      } catch {
        if (window.console) console.error('nextAuth callback failed', e);
      }
      return;
    }
    if (!domEvent.defaultPrevented) reloadPage();
  }

  /** A socket.io watch ack `{state, canprovoke}` as the events it stands for. */
  function onState(s, state, canprovoke) {
    if (canprovoke) onEvent(s.srv, s.hsid, 'canprovoke', null, true);
    if (state === 'authenticated') onEvent(s.srv, s.hsid, 'login', null, true);
    else {
      onEvent(s.srv, s.hsid, 'logout', null, true);
      if ((state === 'challenged' || state === 'verifying') && s.ui.state !== 'confirm') setUi(s, 'scanned');
    }
  }

  function provokeFailed(s, code) {
    setUi(s, 'error', { code: code });
  }

  /** Runs `action` once a transport is connected (at once if it is), or `fail` after 8 s. */
  var waiting = [];
  function whenConnected(action, fail) {
    if (transport?.connected()) return action();
    var item = { action: action, timer: null };
    item.timer = setTimeout(() => {
      var i = waiting.indexOf(item);
      if (i >= 0) waiting.splice(i, 1);
      fail();
    }, 8000);
    waiting.push(item);
  }
  function connectedNow() {
    var run = waiting;
    waiting = [];
    run.forEach((item) => {
      clearTimeout(item.timer);
      item.action();
    });
  }

  function provokeSession(s) {
    setUi(s, 'sending');
    whenConnected(
      () => {
        transport.provoke(s);
      },
      () => {
        provokeFailed(s, 'NOT_CONNECTED');
      },
    );
  }

  function logoutSession(s) {
    whenConnected(
      () => {
        transport.logout(s);
      },
      () => {
        provokeFailed(s, 'NOT_CONNECTED');
      },
    );
  }

  // ───────────────────────── transports ─────────────────────────

  var transport = null;

  function backoff(attempt) {
    var base = Math.min(30000, 1000 * 2 ** attempt);
    return base / 2 + Math.random() * (base / 2);
  }

  /** The text socket (§5.1): `TYPE HSID SERVERID`, a 4th field with the number on CONFIRMPROVOKE. */
  function textTransport() {
    var ws = null;
    var attempt = 0;
    var opened = 0;
    var timer = null;
    var pending = null; // the session of the last PROVOKE, for an `ERROR <code>` that names none
    var url = `${NS.replace(/^http/, 'ws')}/ns/websocket`;
    var self = {
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
    function send(type, s) {
      if (self.connected()) ws.send(`${type} ${s.hsid} ${s.srv}`);
    }
    function open() {
      timer = null;
      try {
        ws = new WebSocket(url);
      } catch {
        return schedule();
      }
      ws.onopen = () => {
        attempt = 0;
        order.forEach(self.watch);
        connectedNow();
        if (++opened > 1) reconnected();
      };
      ws.onmessage = (e) => {
        var parts = String(e.data).split(' ');
        if (parts[0] === 'ERROR') {
          if (pending && Date.now() - pending.at < 10000) provokeFailed(pending.s, parts[1] || 'ERROR');
          pending = null;
          return;
        }
        if (parts.length < 3) return;
        var event = parts[0].toLowerCase();
        if (event === 'confirmprovoke' || event === 'noaccounts' || event === 'cancel' || event === 'login') pending = null;
        var more = event === 'confirmprovoke' && parts[3] ? { number: parts[3] } : null;
        if (event === 'transaction' && parts[4]) more = { transaction: { tid: parts[3], outcome: parts[4] } };
        onEvent(parts[2], parts[1], event, more, false);
      };
      ws.onclose = () => {
        ws = null;
        schedule();
      };
      ws.onerror = () => {};
    }
    function schedule() {
      if (unloading || timer) return;
      timer = setTimeout(open, backoff(attempt++));
    }
    open();
    return self;
  }

  /** socket.io (§5.2), namespace /sessions; calls `fallback` when it cannot connect at all. */
  function ioTransport(io, fallback) {
    var u = new URL(NS);
    var everConnected = false;
    var connects = 0;
    var failures = 0;
    var gaveUp = false;
    var socket = io(`${u.origin}/sessions`, {
      path: `${u.pathname.replace(/\/+$/, '')}/socket.io`,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 30000,
      randomizationFactor: 0.5,
      timeout: 10000,
    });
    function giveUp() {
      if (gaveUp) return;
      gaveUp = true;
      socket.close();
      fallback();
    }
    var firstTry = setTimeout(() => {
      if (!everConnected) giveUp();
    }, 10000);
    var self = {
      name: 'socket.io',
      connected: () => socket.connected,
      watch: (s) => {
        if (!socket.connected) return;
        socket.emit('watch', { srv: s.srv, hsid: s.hsid }, (ack) => {
          if (ack && !ack.error) onState(s, ack.state, ack.canprovoke);
        });
      },
      provoke: (s) => {
        socket.timeout(10000).emit('provoke', { srv: s.srv, hsid: s.hsid }, (err, ack) => {
          if (err) provokeFailed(s, 'NOT_CONNECTED');
          else if (ack?.error) provokeFailed(s, ack.error);
        });
      },
      logout: (s) => {
        socket.emit('logout', { srv: s.srv, hsid: s.hsid }, () => {});
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
    socket.on('status', (st) => {
      if (!st || typeof st.srv !== 'string' || typeof st.hsid !== 'string') return;
      var extra = {};
      if (st.number) extra.number = String(st.number);
      if (st.account !== undefined) extra.account = st.account;
      if (st.state) extra.state = st.state;
      if (st.transaction) extra.transaction = st.transaction;
      onEvent(st.srv, st.hsid, String(st.event), extra, false);
    });
    return self;
  }

  /** Loads socket.io's client from the NS without taking over a `window.io` the page has. */
  function loadIo(done) {
    var previous = window.io;
    var finished = false;
    function finish(io) {
      if (finished) return;
      finished = true;
      if (previous !== undefined) window.io = previous;
      done(io);
    }
    var tag = document.createElement('script');
    tag.src = `${NS}/ns/socket.io.min.js`;
    tag.async = true;
    tag.onload = () => {
      finish(typeof window.io === 'function' && window.io !== previous ? window.io : null);
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
  function reconnected() {
    var blocks = document.querySelectorAll('.nextauth-block');
    for (var i = 0; i < blocks.length; i++) {
      var b = blocks[i].nextauth;
      if (b && !b.session.loggedin) {
        refreshBlock(blocks[i], false);
        return; // one fetch refreshes every block
      }
    }
  }

  function startText() {
    transport = textTransport();
  }

  var started = false;
  function start() {
    if (started) return;
    started = true;
    if (forcedTransport === 'text' || typeof URL !== 'function') return startText();
    loadIo((io) => {
      if (!io) return startText();
      transport = ioTransport(io, startText);
    });
  }

  // ───────────────────────── start ─────────────────────────

  function init() {
    var blocks = document.querySelectorAll('.nextauth-block[data-srv][data-hsid]');
    for (var i = 0; i < blocks.length; i++) wire(blocks[i]);
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

  function find(srv, hsid) {
    if (srv && hsid) return sessions[keyOf(srv, hsid)];
    return order[0];
  }

  window.nextAuth = {
    footer: true,
    version: 1,
    transport: () => (transport ? transport.name : null),
    connected: () => !!transport && transport.connected(),
    sessions: () => order.map((s) => ({ srv: s.srv, hsid: s.hsid, loggedin: s.loggedin, canprovoke: s.canprovoke, state: s.ui.state })),
    /** Watch one more session (loggedin: its state as the page knows it). */
    watch: (srv, hsid, loggedin) => {
      sessionFor(srv, hsid, loggedin);
      start();
    },
    provoke: (srv, hsid) => {
      var s = find(srv, hsid);
      if (s) provokeSession(s);
    },
    logout: (srv, hsid) => {
      var s = find(srv, hsid);
      if (s) logoutSession(s);
    },
    /** Fetch fresh blocks now (the countdown does this by itself before a code goes stale). */
    refresh: () => {
      var blocks = document.querySelectorAll('.nextauth-block');
      for (var i = 0; i < blocks.length; i++) if (blocks[i].nextauth) refreshBlock(blocks[i], false);
    },
    /** How many blocks were swapped for fresh ones. */
    refreshed: () => refreshed,
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
