/**
 * The live inspector's page and its files (src/web/inspect-page.ts writes the page; dist/web
 * holds the files), all public: the page holds nothing, the socket (src/inspect/socket.ts) needs
 * an api key with root or `servers`.
 *
 *   GET /inspect                  the page
 *   GET /inspect/inspect.js       its script (src/web/inspect.ts)
 *   GET /inspect/inspect.css      its looks (src/web/inspect.css)
 *   GET /inspect/mermaid.min.js   Mermaid, as the mermaid package ships it
 * socket.io's browser client is /ns/socket.io.min.js (src/transports/http/routes/html.ts).
 */
import type { App } from '../transports/http/context.ts';
import { sendAsset } from '../transports/http/send-asset.ts';
import { webAssets, type WebFile } from '../web/assets.ts';
import { INSPECT_CSP, inspectPage } from '../web/inspect-page.ts';

const FILES: WebFile[] = ['inspect.js', 'inspect.css', 'mermaid.min.js'];

/** GET /inspect and its files. */
export function registerInspectPage(app: App): void {
  const assets = webAssets();
  const page = inspectPage();
  const pub = { config: { public: true } };
  app.get('/inspect', pub, async (_req, reply) => {
    reply.header('content-type', 'text/html; charset=utf-8');
    reply.header('cache-control', 'no-store');
    reply.header('content-security-policy', INSPECT_CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    return reply.send(page);
  });
  for (const name of FILES) app.get(`/inspect/${name}`, pub, async (req, reply) => sendAsset(req, reply, assets[name]));
}
