/**
 * The app channel transport: WebSocket at /ns/sigmai, binary msgpack frames, 16 KiB at most
 * (a larger frame closes with 1009: `ws` does it, and the channel hears the close), WebSocket
 * ping/pong liveness. Text frames reach the channel whatever their bytes (it refuses them). Each connection gets its own channel (channel.ts), which runs the
 * connection machine over a receiver and a sender.
 */
import type { RefusalEvents } from '../../core/events/refusal-events.ts';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Metrics } from '../http/metrics.ts';
import { MAX_FRAME_BYTES } from '../../wire/frames.ts';
import { AppChannel, type ChannelDeps } from './channel.ts';
import { heartbeat } from '../heartbeat.ts';
import type { SourceOf } from '../source.ts';

/** Frame types counted by name in metrics; any other `t` an app sends counts as `other`. */
const KNOWN_TYPES = new Set(
  ['hello', 'proof', 'decline', 'sealed', 'challenge', 'result', 'error', 'ping', 'pong', 'push', 'deleted', 'logout', 'transaction', 'approve', 'reject'].flatMap((t) => [
    t,
    `sealed:${t}`,
  ]),
);

export function createAppSocket(deps: Omit<ChannelDeps, 'count'> & { metrics: Metrics; sourceOf: SourceOf; refusals?: RefusalEvents }) {
  // No UTF-8 check of text frames: the channel answers any text frame BAD_FRAME (§4; once sealed, it
  // closes 1008) without reading it, and `ws`'s check would close one that is not UTF-8 with 1007,
  // a close code the protocol does not have (found by test/fuzz/app-channel.test.ts).
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, skipUTF8Validation: true });
  const count: ChannelDeps['count'] = {
    frame: (t, dir) => deps.metrics.appFrames.inc({ t: KNOWN_TYPES.has(t) ? t : 'other', dir }),
    refusal: (code, serverid, source) => {
      deps.metrics.refusals.inc({ code, channel: 'app' });
      deps.refusals?.record(serverid, code, source, 'app');
    },
  };
  const channelDeps = { ...deps, count };
  wss.on('connection', (ws: WebSocket, req?: IncomingMessage) => {
    const channel = new AppChannel(
      {
        send: (bytes) => ws.send(bytes, { binary: true }),
        close: (code, reason) => ws.close(code, reason),
      },
      channelDeps,
      req ? deps.sourceOf(req) : 'unknown',
    );
    ws.on('message', (data, isBinary) => channel.receive(toBytes(data), isBinary));
    ws.on('close', () => channel.closedByPeer());
    ws.on('error', () => ws.terminate());
  });
  const stopHeartbeat = heartbeat(wss);
  return { wss, close: () => (stopHeartbeat(), closeAll(wss)) };
}

export const toBytes = (data: Buffer | ArrayBuffer | Buffer[]): Uint8Array =>
  Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;

/**
 * Closes every client with 1001 (going away), and the server. A client that does not answer
 * its close frame within `graceMs` is cut off.
 */
export async function closeAll(wss: WebSocketServer, graceMs = 1000): Promise<void> {
  const clients = [...wss.clients];
  const closed = clients.map((ws) => new Promise<void>((resolve) => (ws.readyState === ws.CLOSED ? resolve() : ws.once('close', () => resolve()))));
  for (const ws of clients) ws.close(1001, 'server stopping');
  const timer = setTimeout(() => {
    for (const ws of clients) ws.terminate();
  }, graceMs);
  await Promise.all(closed);
  clearTimeout(timer);
  await new Promise<void>((resolve) => wss.close(() => resolve()));
}
