/**
 * The socket.io browser channel (PROTOCOL.md §5.2), namespace /sessions:
 * `watch({srv, hsid}, ack)` acks `{state, canprovoke}` and then `status` events follow;
 * `unwatch`, `logout` and `provoke` mirror the text socket. Errors ack `{error: code}`.
 */
import type { Server as HttpServer } from 'node:http';
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

export function createSocketIo(http: HttpServer, deps: BrowserDeps, config: { allowedOrigins: string[]; publicUrl: string }) {
  const allowed = (origin: string | undefined) => browserOriginAllowed(config, origin);
  const io = new Server(http, {
    path: '/socket.io',
    serveClient: false,
    maxHttpBufferSize: 4096,
    destroyUpgrade: false,
    cors: { origin: (origin, callback) => callback(null, allowed(origin)) },
    allowRequest: (req, callback) => callback(null, allowed(req.headers.origin)),
  });
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
        await deps.hub.logout(serverid, hsid);
        ack({ ok: true });
      }),
    );
    socket.on(
      'provoke',
      guard(async (ref, ack) => {
        const { serverid, hsid } = await checkSessionRef(deps.registry, ref.srv, ref.hsid, { browserToken: ref.bt });
        if (!deps.provoke) throw new NsError('CANNOT_PROVOKE');
        deps.provoke(serverid, hsid).then(
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
  // Not io.close(): that would close the shared HTTP server, which fastify closes itself.
  const close = async () => {
    io.disconnectSockets(true);
    io.engine.close();
  };
  return { io, close };
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
