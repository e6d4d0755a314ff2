/**
 * The socket.io browser channel (PROTOCOL.md §5.2), namespace /sessions:
 * `watch({srv, hsid}, ack)` acks `{state, canprovoke}` and then `status` events follow;
 * `unwatch`, `logout` and `provoke` mirror the text socket. Errors ack `{error: code}`.
 *
 * socket.io runs on an engine.io server of our own (`io.bind`), not attached to the HTTP server,
 * so that a session's handshake (an HTTP long-polling request, or a WebSocket upgrade) is
 * admitted first (§7: one connection of its source, from its handshake until it closes; past the
 * limit `429` with `Retry-After`). The HTTP requests come through `request`, the upgrades through
 * `upgrade`: src/main.ts routes `/socket.io/` to them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Server as Engine } from 'engine.io';
import { Server } from 'socket.io';
import { NsError } from '../../wire/errors.ts';
import type { SessionUpdate } from '../../core/hub.ts';
import { checkSessionRef } from '../../core/session-ref.ts';
import { logRefusal, MAX_WATCHES_PER_SOCKET, type BrowserDeps } from '../browser-ws/browser-socket.ts';

type Ack = (answer: unknown) => void;
interface Ref {
  srv?: unknown;
  hsid?: unknown;
  /** The session's browser token (provoke, logout). */
  bt?: unknown;
}

/** Counts a new connection of the request's source: its release, or undefined past the limit (§7). */
export type Admit = (req: IncomingMessage) => Promise<(() => void) | undefined>;

/** socket.io's HTTP path (long polling and the WebSocket upgrade). */
export const SOCKET_IO_PATH = '/socket.io/';

export function createSocketIo(deps: BrowserDeps, config: { allowedOrigins: string[]; publicUrl: string }, admit: Admit) {
  const allowed = (origin: string | undefined) => browserOriginAllowed(config, origin);
  const engine = new Engine({
    maxHttpBufferSize: 4096,
    cors: { origin: (origin, callback) => callback(null, allowed(origin)) },
    allowRequest: (req, callback) => callback(null, allowed(req.headers.origin)),
  });
  const io = new Server({ path: SOCKET_IO_PATH.slice(0, -1), serveClient: false });
  io.bind(engine);
  // A handshake's count goes with the engine.io session it makes, until that closes.
  const held = new WeakMap<IncomingMessage, () => void>();
  engine.on('connection', (socket: { request: IncomingMessage; once(event: 'close', fn: () => void): void }) => {
    const release = held.get(socket.request);
    if (!release) return;
    held.delete(socket.request);
    socket.once('close', release);
  });
  /**
   * Admits a request that starts a session (no `sid`: a handshake) as one more connection of its
   * source; false when that is past its limit (the caller answers 429, nothing is sent here).
   * Call `serve` or `upgrade` next with the same request.
   */
  const admitted = async (req: IncomingMessage): Promise<boolean> => {
    if (new URL(req.url ?? '/', 'http://ns').searchParams.has('sid')) return true; // (counted at its handshake)
    const release = await admit(req);
    if (!release) return false;
    held.set(req, release);
    return true;
  };
  /** When no session came of the request (not a handshake, or refused by engine.io), its count ends with it. */
  const settle = (req: IncomingMessage) => () => {
    const release = held.get(req);
    held.delete(req);
    release?.();
  };
  /** An HTTP request under SOCKET_IO_PATH (long polling), once admitted. */
  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    res.once('close', settle(req));
    engine.handleRequest(req, res);
  };
  /** A WebSocket upgrade under SOCKET_IO_PATH, once admitted. */
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.once('close', settle(req));
    engine.handleUpgrade(req, socket, head);
  };
  const sessions = io.of('/sessions');
  sessions.on('connection', (socket) => {
    const watches = new Map<string, () => void>();
    // Calls are handled one after the other, each once the one before it is done.
    let turn = Promise.resolve();
    const guard = (handler: (ref: Ref, ack: Ack) => void | Promise<void>) => (ref: Ref, ack?: unknown) => {
      const reply: Ack = typeof ack === 'function' ? (ack as Ack) : () => {};
      turn = turn.then(async () => {
        try {
          await handler(typeof ref === 'object' && ref !== null ? ref : {}, reply);
        } catch (e) {
          const code = e instanceof NsError ? e.code : 'INTERNAL';
          deps.metrics.refusals.inc({ code, channel: 'socket.io' });
          logRefusal(deps.log, { channel: 'socket.io', code, source: deps.sourceOf(socket.request) });
          reply({ error: code });
        }
      });
    };
    socket.on(
      'watch',
      guard(async (ref, ack) => {
        const { serverid, hsid } = await checkSessionRef(deps.registry, ref.srv, ref.hsid);
        const key = `${serverid}:${hsid}`;
        if (!watches.has(key)) {
          if (watches.size >= MAX_WATCHES_PER_SOCKET) throw new NsError('RATE_LIMITED', 'Too many sessions on one socket');
          watches.set(
            key,
            deps.hub.subscribe(serverid, hsid, (u: SessionUpdate) =>
              socket.emit('status', {
                srv: serverid,
                hsid,
                state: u.state,
                event: u.event,
                ...(u.account !== null ? { account: u.account } : {}),
                ...(u.number ? { number: u.number } : {}),
                ...(u.transaction ? { transaction: u.transaction } : {}),
              }),
            ),
          );
        }
        // Subscribed first, read second: no update falls between the two.
        await deps.hub.listening(serverid, hsid);
        const status = await deps.hub.status(serverid, hsid);
        ack({ state: status.state, canprovoke: status.canprovoke });
      }),
    );
    socket.on(
      'unwatch',
      guard(async (ref, ack) => {
        const { serverid, hsid } = await checkSessionRef(deps.registry, ref.srv, ref.hsid);
        const key = `${serverid}:${hsid}`;
        watches.get(key)?.();
        watches.delete(key);
        ack({ ok: true });
      }),
    );
    socket.on(
      'logout',
      guard(async (ref, ack) => {
        const { serverid, hsid } = await checkSessionRef(deps.registry, ref.srv, ref.hsid, { browserToken: ref.bt });
        await deps.hub.logout(serverid, hsid, deps.sourceOf(socket.request));
        ack({ ok: true });
      }),
    );
    socket.on(
      'provoke',
      guard(async (ref, ack) => {
        const { serverid, hsid } = await checkSessionRef(deps.registry, ref.srv, ref.hsid, { browserToken: ref.bt });
        if (!deps.provoke) throw new NsError('CANNOT_PROVOKE');
        deps.provoke(serverid, hsid, deps.sourceOf(socket.request)).then(
          () => ack({ ok: true }),
          (e: unknown) => ack({ error: e instanceof NsError ? e.code : 'INTERNAL' }),
        );
      }),
    );
    socket.on('disconnect', () => {
      for (const off of watches.values()) off();
      watches.clear();
    });
  });
  const close = async () => {
    io.disconnectSockets(true);
    engine.close();
  };
  return { io, admitted, serve, upgrade, close };
}

/**
 * May a browser of this origin open a socket? Any, without an allow-list; with one, those on it
 * and the NS's own pages (read at call time: with port 0 the public URL is known only once
 * listening).
 */
export function browserOriginAllowed(config: { allowedOrigins: string[]; publicUrl: string }, origin: string | undefined): boolean {
  if (config.allowedOrigins.length === 0) return true;
  return origin !== undefined && (config.allowedOrigins.includes(origin) || origin === new URL(config.publicUrl).origin);
}
