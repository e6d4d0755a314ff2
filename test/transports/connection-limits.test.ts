/**
 * Open WebSocket connections per source (PROTOCOL.md §7; here 3, a setting, 256 by default), the
 * app channel and the text socket together: past it the upgrade is refused 429 with Retry-After;
 * another source is not counted; a closed connection makes room again.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import { startTestServer } from '../helpers/ns.ts';
import { until } from '../helpers/peers.ts';

/** Opens a WebSocket from `localAddress`: the socket, or the refusal's status and Retry-After. */
function open(url: string, localAddress: string): Promise<{ ws?: WebSocket; status?: number; retryAfter?: string }> {
  const ws = new WebSocket(url, { localAddress });
  return new Promise((resolve) => {
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'] as string | undefined }));
    ws.once('error', () => {});
  });
}

test('past N open WebSockets from one source (all paths together) the upgrade is 429 with Retry-After', async () => {
  const ns = await startTestServer({ NEXTAUTH_CONNECTIONS_PER_SOURCE: '3' });
  const app = `${ns.url.replace('http', 'ws')}/ns/sigmai`;
  const text = `${ns.url.replace('http', 'ws')}/ns/websocket`;
  const held = [await open(app, '127.0.0.2'), await open(text, '127.0.0.2'), await open(app, '127.0.0.2')];
  for (const h of held) assert.ok(h.ws, 'open');
  const refused = await open(text, '127.0.0.2');
  assert.is(refused.status, 429);
  assert.is(refused.retryAfter, '10');
  assert.is((await open(app, '127.0.0.2')).status, 429, 'the app path counts with the others');
  const other = await open(app, '127.0.0.3');
  assert.ok(other.ws, 'another source');
  // One closes: room for one more.
  held[0]!.ws!.close();
  await until(async () => {
    const again = await open(text, '127.0.0.2');
    if (again.ws) held.push(again);
    return again.ws !== undefined;
  }, 'room again');
  for (const h of [...held, other]) h.ws?.close();
  await ns.stop(true);
});

test.run();
