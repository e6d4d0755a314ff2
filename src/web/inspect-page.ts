/**
 * The live inspector's page, GET /inspect: the virtual servers and their live session actors on
 * the left; on the right, the selected actor's machine drawn with its current state highlighted,
 * and its event log, both following the actor live over socket.io `/inspect`
 * (src/inspect/socket.ts).
 *
 * The page itself holds nothing; its script (src/web/inspect.ts) asks for an api key with root or
 * `servers`. The diagram is the Mermaid text of the same generator as machines/*.md
 * (src/inspect/diagram.ts), drawn in the browser by Mermaid, served by the NS itself (no CDN).
 * The files it loads (dist/web):
 *
 *   /inspect/inspect.css, /inspect/inspect.js   its looks and its script (src/web/inspect.*)
 *   /inspect/mermaid.min.js                     Mermaid, as the mermaid package ships it
 *   /ns/socket.io.min.js                        socket.io's browser client
 *
 * The routes are src/inspect/page.ts.
 */
import { assetUrl } from './assets.ts';

/** The page's Content-Security-Policy. */
export const INSPECT_CSP = [
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

/** The page (its files named with their versions). */
export function inspectPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>nextAuth · live inspector</title>
<link rel="stylesheet" href="${assetUrl('/inspect', 'inspect.css')}">
</head>
<body>
<header>
  <h1>nextAuth <span>· live inspector</span></h1>
  <span class="spacer"></span>
  <span id="status">not connected</span>
  <button id="forget" type="button" hidden>Forget key</button>
</header>
<main>
<div id="keybox" class="panel" hidden>
  <h2>Live inspector</h2>
  <p>The session actors of every virtual server, their state machines and events, live. Give an api key with <b>root</b> or <b>servers</b> (global, or on some servers); it is kept in this tab only.</p>
  <form id="keyform" autocomplete="off">
    <input id="key" type="password" placeholder="api key" aria-label="api key" spellcheck="false">
    <button type="submit">Connect</button>
    <p id="keyerror" class="error" role="alert"></p>
  </form>
</div>
<div id="app" hidden>
  <aside class="panel">
    <h2>Virtual servers · live sessions</h2>
    <div id="servers"></div>
  </aside>
  <section id="detail" class="panel" aria-label="The selected session">
    <div id="empty" class="empty">Select a session on the left to see its machine and its events, live.</div>
    <div id="selection" hidden>
      <div id="title"></div>
      <div id="tools">
        <button id="follow" type="button" class="on" aria-pressed="true">Follow the state</button>
        <button id="whole" type="button" aria-pressed="false">Whole machine</button>
        <span class="hint">the diagram is drawn again on each transition</span>
      </div>
      <div id="diagram" role="region" aria-label="The state machine" tabindex="0"></div>
      <div class="legend">
        <span><span class="swatch cur"></span>current state</span>
        <span><span class="swatch par"></span>the state that contains it</span>
        <span>arrows: <code>event [guard] / notify</code>, <code>after &lt;limit&gt;</code>, <code>always</code></span>
      </div>
      <h2 id="log-label">Event log <span id="logcount"></span></h2>
      <div id="logwrap" role="region" aria-labelledby="log-label" tabindex="0">
        <table>
          <thead><tr><th scope="col">time</th><th scope="col">kind</th><th scope="col">what</th></tr></thead>
          <tbody id="log"></tbody>
        </table>
      </div>
    </div>
  </section>
</div>
</main>
<script src="${assetUrl('/ns', 'socket.io.min.js')}"></script>
<script src="${assetUrl('/inspect', 'mermaid.min.js')}"></script>
<script src="${assetUrl('/inspect', 'inspect.js')}"></script>
</body>
</html>
`;
}
