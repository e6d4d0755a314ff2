/**
 * Open WebSocket connections per source (PROTOCOL.md §7; here 3, a setting, 256 by default), the
 * app channel, the text socket and socket.io together (a socket.io long-polling session counts as
 * one): past it the upgrade, or the socket.io handshake, is refused 429 with Retry-After; another
 * source is not counted; a closed connection makes room again.
 */
import http from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import { io, type Socket } from 'socket.io-client';
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

test('socket.io sessions count with the WebSockets: a polling session is one; past the limit its handshake is 429 with Retry-After', async () => {
  const ns = await startTestServer({ NEXTAUTH_CONNECTIONS_PER_SOURCE: '3' });
  const text = `${ns.url.replace('http', 'ws')}/ns/websocket`;
  const handshake = '/socket.io/?EIO=4&transport=polling';
  // A long-polling session (engine.io's handshake over HTTP, as a browser without WebSockets makes it).
  const polling = await rawRequest(ns.url, 'GET', handshake, '127.0.0.4');
  assert.is(polling.status, 200, polling.body);
  const sid = (JSON.parse(polling.body.slice(1)) as { sid: string }).sid;
  const ws = await openIo(ns.url, '127.0.0.4');
  assert.ok(ws.socket, `websocket: ${ws.error?.message}`);
  const plain = await open(text, '127.0.0.4');
  assert.ok(plain.ws);
  // The fourth, of any kind, is refused.
  assert.is((await open(text, '127.0.0.4')).status, 429);
  const refusedWs = await openIo(ns.url, '127.0.0.4');
  assert.ok(refusedWs.error, 'a socket.io WebSocket past the limit');
  const refused = await rawRequest(ns.url, 'GET', handshake, '127.0.0.4');
  assert.is(refused.status, 429);
  assert.is(refused.headers['retry-after'], '10');
  assert.is((JSON.parse(refused.body) as { code: string }).code, 'RATE_LIMITED');
  assert.is((await rawRequest(ns.url, 'GET', handshake, '127.0.0.5')).status, 200, 'another source is not counted');
  // The polling session's own requests (its sid) are not new connections.
  assert.is((await rawRequest(ns.url, 'POST', `${handshake}&sid=${sid}`, '127.0.0.4', '40/sessions,')).status, 200);
  // It ends (engine.io's close packet): room for one more.
  assert.is((await rawRequest(ns.url, 'POST', `${handshake}&sid=${sid}`, '127.0.0.4', '1')).status, 200);
  await until(async () => {
    const again = await open(text, '127.0.0.4');
    again.ws?.close();
    return again.ws !== undefined;
  }, 'room again after the polling session closed');
  ws.socket!.close();
  plain.ws!.close();
  await ns.stop(true);
});

/** A socket.io session over a WebSocket from `localAddress`: the socket once connected, or the error it got. */
function openIo(base: string, localAddress: string): Promise<{ socket?: Socket; error?: Error }> {
  const socket = io(`${base}/sessions`, { transports: ['websocket'], reconnection: false, timeout: 3000, localAddress } as Parameters<typeof io>[1]);
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ socket }));
    socket.once('connect_error', (error) => {
      socket.close();
      resolve({ error });
    });
  });
}

/** An HTTP request from `localAddress` (fetch cannot choose its local address). */
function rawRequest(
  base: string,
  method: string,
  pathname: string,
  localAddress: string,
  body?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${pathname}`, { method, localAddress, headers: body ? { 'content-type': 'text/plain;charset=UTF-8' } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test.run();
