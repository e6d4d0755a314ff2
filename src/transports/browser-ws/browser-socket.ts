/**
 * The nextAuth-compatible browser socket (PROTOCOL.md §5.1): text frames `TYPE HSID SERVERID`
 * at /ns/websocket. A connection may watch many sessions (up to a limit).
 */
import type { SourceOf } from '../source.ts';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { errors, isErrorCode, NsError } from '../../wire/errors.ts';
import type { Metrics } from '../http/metrics.ts';
import type { Registry } from '../../core/admin/registry.ts';
import type { SessionHub, SessionKey, SessionUpdate } from '../../core/hub.ts';
import { checkSessionRef } from '../../core/session-ref.ts';
import { closeAll } from '../app-ws/app-socket.ts';
import { heartbeat } from '../heartbeat.ts';

export const MAX_WATCHES_PER_SOCKET = 64;

export interface BrowserDeps {
  hub: SessionHub;
  registry: Registry;
  metrics: Metrics;
  /** Refusals are logged at their code's level (src/wire/errors.ts). */
  log: Record<'info' | 'warn' | 'error', (obj: object, msg: string) => void>;
  /** PROVOKE, as REST provokeLogin (undefined until pushes are offered); `source`: the browser's address. */
  provoke?: (serverid: string, hsid: string, source?: string) => Promise<void>;
  /** A connection's source address (src/transports/source.ts). */
  sourceOf: SourceOf;
}

/** One log line per refusal on a browser channel, at the level the error table gives its code. */
export function logRefusal(log: BrowserDeps['log'], fields: { channel: string; code: string; source: string | undefined }): void {
  log[isErrorCode(fields.code) ? errors[fields.code].level : 'error'](fields, `${fields.channel} refused: ${fields.code}`);
}

export function createBrowserSocket(deps: BrowserDeps) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024, perMessageDeflate: false });
  wss.on('connection', (ws: WebSocket, req?: IncomingMessage) => {
    const source = req ? deps.sourceOf(req) : undefined;
    const watches = new Map<string, () => void>();
    const send = (type: string, hsid: string, serverid: string, ...extra: Array<string | undefined>) =>
      ws.send([type, hsid, serverid, ...extra.filter((x) => x !== undefined)].join(' '));
    const refuse = (code: string, ref?: SessionKey) => {
      deps.metrics.refusals.inc({ code, channel: 'browser' });
      logRefusal(deps.log, { channel: 'browser', code, source });
      ws.send(ref ? `ERROR ${code} ${ref.hsid} ${ref.serverid}` : `ERROR ${code}`);
    };
    // Frames are handled one after the other, each once the one before it is done.
    let turn = Promise.resolve();
    ws.on('message', (data, isBinary) => {
      turn = turn.then(() => handle(data.toString(), isBinary));
    });
    const handle = async (text: string, isBinary: boolean): Promise<void> => {
      if (isBinary) return refuse('BAD_FRAME');
      const parts = text.split(' ');
      const [type, hsidText, serveridText, token] = parts as [string, string, string, string | undefined];
      // PROVOKE and LOGOUT carry the session's browser token as a fourth field (§5.1).
      const acts = type === 'PROVOKE' || type === 'LOGOUT';
      let ref: SessionKey | undefined;
      try {
        if (parts.length !== 3 && !(acts && parts.length === 4)) throw new NsError('BAD_FRAME');
        const { serverid, hsid } = await checkSessionRef(deps.registry, serveridText, hsidText);
        const key = `${serverid}:${hsid}`;
        ref = { serverid, hsid };
        if (acts) await checkSessionRef(deps.registry, serverid, hsid, { browserToken: token });
        switch (type) {
          case 'REGISTER': {
            if (!watches.has(key)) {
              if (watches.size >= MAX_WATCHES_PER_SOCKET) throw new NsError('RATE_LIMITED', 'Too many sessions on one socket');
              watches.set(
                key,
                deps.hub.subscribe(serverid, hsid, (u: SessionUpdate) => send(u.event.toUpperCase(), hsid, serverid, u.number, u.transaction?.tid, u.transaction?.outcome)),
              );
            }
            // Subscribed first, read second: no update falls between the two.
            await deps.hub.listening(serverid, hsid);
            const status = await deps.hub.status(serverid, hsid);
            send(status.state === 'authenticated' ? 'LOGIN' : 'LOGOUT', hsid, serverid);
            if (status.canprovoke) send('CANPROVOKE', hsid, serverid);
            return;
          }
          case 'LOGOUT':
            await deps.hub.logout(serverid, hsid, source);
            return;
          case 'PROVOKE':
            if (!deps.provoke) throw new NsError('CANNOT_PROVOKE');
            deps.provoke(serverid, hsid, source).catch((e: unknown) => refuse(e instanceof NsError ? e.code : 'INTERNAL'));
            return;
          default:
            throw new NsError('BAD_FRAME');
        }
      } catch (e) {
        const code = e instanceof NsError ? e.code : 'INTERNAL';
        // A refused PROVOKE or LOGOUT names its session: ERROR FORBIDDEN HSID SERVERID.
        refuse(code, code === 'FORBIDDEN' ? ref : undefined);
      }
    };
    ws.on('close', () => {
      for (const off of watches.values()) off();
      watches.clear();
    });
    ws.on('error', () => ws.terminate());
  });
  const stopHeartbeat = heartbeat(wss);
  return { wss, close: () => (stopHeartbeat(), closeAll(wss)) };
}
