/**
 * The live inspector's channel: socket.io namespace `/inspect`, for the page at /inspect.
 *
 * The handshake must carry an api key (`auth: {key}`) with `servers` (or root) globally — then
 * every virtual server is shown — or on some servers — then only those. Without one the
 * connection is refused (`connect_error` with the error code as its message: MISSING_API_KEY,
 * UNKNOWN_API_KEY, FORBIDDEN). The key is checked again on every request, so a key deleted or a
 * permission revoked takes effect at once.
 *
 * Events (client → server, each with an ack):
 * - `servers` → `[{serverid, serverName, sessions: [{id, state, value, age, inState, account}], more}]`
 *   (`id` is the inspector's opaque id of the session, never its hsid; `age` ms since the inspector
 *   started, `inState` ms in its current state; at most 200 sessions a server, newest first,
 *   `more` counts the rest);
 * - `select {id}` → `{id, serverid, serverName, machine, mermaid, names, invokes, state, account, age, log}`
 *   (`mermaid` is the machine's diagram from the same generator as machines/*.md, `names` maps
 *   each state path to its name in that text, `log` the session's log so far), or
 *   `{error: 'UNKNOWN_SESSION'}` for a session that ended or that the key may not see; then `entry`
 *   events `{id, entry, state}` follow for that session, and `ended {id}` when it ends;
 * - `unselect` → `{ok: true}`.
 * Server → client: `sessions` (the `servers` list again) whenever sessions start, change state or
 * end (at most every 250 ms). Nothing sent names a nonce, hsid, key, signature or box.
 */
import type { Server, Socket } from 'socket.io';
import type { AnyStateMachine } from 'xstate';
import type { ServerRow, SessionRow } from '../web/inspect-wire.ts';
import { NsError } from '../wire/errors.ts';
import type { Principal } from '../core/admin/access.ts';
import type { Registry } from '../core/admin/registry.ts';
import { sessionMachine, stateName } from '../../machines/session.ts';
import { describeMachine, toMermaid, type DiagramState } from './diagram.ts';
import type { Inspector, LogEntry } from './inspector.ts';

export interface InspectDeps {
  registry: Registry;
  inspector: Inspector;
  /** The hub's clock (ages). */
  now?: () => number;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export type { ServerRow, SessionRow };

type Ack = (answer: unknown) => void;

/** Sessions listed per server at most. */
export const MAX_LISTED = 200;
const PUSH_EVERY_MS = 250;

export interface MachineDiagramText {
  machine: string;
  mermaid: string;
  /** State path (`authenticated.pinging`; '' the machine itself when drawn) → its name in the Mermaid text. */
  names: Record<string, string>;
  /** Invoke id (in `xstate.done.actor.<id>` events) → what it runs, as the diagram names it (`verifyProof`). */
  invokes: Record<string, string>;
}

interface NodeLike {
  states: Record<string, NodeLike>;
  invoke: Array<{ id: string; src: unknown }>;
}

/**
 * The Mermaid text of a machine and the name each state has in it. The generator declares the
 * states (`state "title" as name`) in pre-order, the machine itself first when it is drawn as
 * a box, so the declarations are matched to the machine's states in that order.
 */
export function diagramOf(machine: AnyStateMachine): MachineDiagramText {
  const mermaid = toMermaid(machine);
  const d = describeMachine(machine);
  const order: DiagramState[] = [];
  const visit = (s: DiagramState) => {
    order.push(s);
    s.states.forEach(visit);
  };
  visit(d.root);
  const declared = [...mermaid.matchAll(/^\s*state "[^"\n]*" as (\S+)/gm)].map((m) => m[1]!);
  const nodes = declared.length === order.length ? order : declared.length === order.length - 1 ? order.slice(1) : [];
  const names: Record<string, string> = {};
  nodes.forEach((s, i) => {
    names[s.id === d.root.id ? '' : s.id.slice(d.root.id.length + 1)] = declared[i]!;
  });
  const invokes: Record<string, string> = {};
  const walk = (node: NodeLike) => {
    for (const i of node.invoke) {
      const src = typeof i.src === 'string' ? i.src : (i.src as { id?: unknown } | null)?.id;
      invokes[i.id] = typeof src === 'string' ? src : i.id;
    }
    Object.values(node.states).forEach(walk);
  };
  walk(machine.root as unknown as NodeLike);
  return { machine: d.id, mermaid, names, invokes };
}

let sessionDiagram: MachineDiagramText | undefined;

const errorCode = (e: unknown): string => (e instanceof NsError ? e.code : 'INTERNAL');

export function createInspectSocket(io: Server, deps: InspectDeps) {
  const { registry, inspector } = deps;
  const now = deps.now ?? Date.now;
  const nsp = io.of('/inspect');

  /** The principal of a key, and the servers it may inspect (null: all of them); throws NsError. */
  const scopeOf = async (key: unknown): Promise<{ principal: Principal; servers: Set<string> | null }> => {
    const principal = await registry.access.authenticate(typeof key === 'string' && key !== '' ? key : undefined, undefined);
    if (await registry.access.has(principal, 'servers')) return { principal, servers: null };
    const servers = new Set<string>();
    for (const s of await registry.servers.list()) if (await registry.access.has(principal, 'servers', s.serverid)) servers.add(s.serverid);
    if (servers.size === 0) throw new NsError('FORBIDDEN', "The inspector needs an api key with 'servers' or root");
    return { principal, servers };
  };

  nsp.use((socket, next) => {
    scopeOf((socket.handshake.auth as { key?: unknown } | undefined)?.key).then(
      () => next(),
      (e: unknown) => {
        const code = errorCode(e);
        const err = new Error(code) as Error & { data?: unknown };
        err.data = { code };
        next(err);
      },
    );
  });

  const list = async (servers: Set<string> | null): Promise<ServerRow[]> => {
    const t = now();
    const bySever = new Map<string, SessionRow[]>();
    for (const view of inspector.list(servers)) {
      const rows = bySever.get(view.serverid) ?? [];
      rows.push({
        id: view.id,
        state: stateName(view.state.split('.')[0]),
        value: view.state,
        age: Math.max(0, t - view.started),
        inState: Math.max(0, t - view.since),
        account: view.account,
      });
      bySever.set(view.serverid, rows);
    }
    return (await registry.servers.list())
      .filter((s) => !servers || servers.has(s.serverid))
      .map((s) => {
        const rows = (bySever.get(s.serverid) ?? []).sort((a, b) => a.age - b.age);
        return { serverid: s.serverid, serverName: s.serverName, sessions: rows.slice(0, MAX_LISTED), more: Math.max(0, rows.length - MAX_LISTED) };
      })
      .sort((a, b) => a.serverName.localeCompare(b.serverName) || a.serverid.localeCompare(b.serverid));
  };

  /** Each socket's key, checked again on every request. */
  const keys = new WeakMap<Socket, unknown>();
  const scopeOrDrop = async (socket: Socket): Promise<Set<string> | null | undefined> => {
    try {
      return (await scopeOf(keys.get(socket))).servers;
    } catch {
      socket.disconnect(true);
      return undefined;
    }
  };

  nsp.on('connection', (socket) => {
    keys.set(socket, (socket.handshake.auth as { key?: unknown }).key);
    let unwatch: (() => void) | undefined;
    const reply = (ack: unknown): Ack => (typeof ack === 'function' ? (ack as Ack) : () => {});

    socket.on('servers', async (...args: unknown[]) => {
      const ack = reply(args.at(-1));
      const servers = await scopeOrDrop(socket);
      if (servers === undefined) return;
      ack(await list(servers));
    });

    socket.on('select', async (ref: unknown, ack: unknown) => {
      const answer = reply(ack);
      const servers = await scopeOrDrop(socket);
      if (servers === undefined) return;
      const id = typeof ref === 'object' && ref !== null ? (ref as { id?: unknown }).id : undefined;
      const view = typeof id === 'string' ? inspector.view(id) : undefined;
      if (!view || (servers && !servers.has(view.serverid))) {
        answer({ error: 'UNKNOWN_SESSION' });
        return;
      }
      unwatch?.();
      const selected = view.id;
      unwatch = inspector.watch(selected, {
        entry: (entry: LogEntry, state: string) => socket.emit('entry', { id: selected, entry, state }),
        ended: () => {
          socket.emit('ended', { id: selected });
          unwatch = undefined;
        },
      });
      const diagram = (sessionDiagram ??= diagramOf(sessionMachine));
      answer({
        id: selected,
        serverid: view.serverid,
        serverName: (await registry.servers.get(view.serverid))?.serverName ?? '',
        ...diagram,
        state: view.state,
        account: view.account,
        age: Math.max(0, now() - view.started),
        log: view.log,
      });
    });

    socket.on('unselect', (...args: unknown[]) => {
      unwatch?.();
      unwatch = undefined;
      reply(args.at(-1))({ ok: true });
    });

    socket.on('disconnect', () => {
      unwatch?.();
      unwatch = undefined;
    });
  });

  // Push the lists when sessions come, change or go: at most every PUSH_EVERY_MS.
  let timer: NodeJS.Timeout | undefined;
  const push = async () => {
    timer = undefined;
    for (const socket of nsp.sockets.values()) {
      const servers = await scopeOrDrop(socket);
      if (servers !== undefined) socket.emit('sessions', await list(servers));
    }
  };
  const offChange = inspector.onChange(() => {
    if (timer || nsp.sockets.size === 0) return;
    timer = setTimeout(() => push().catch((err: unknown) => deps.log?.warn({ err }, 'inspector push failed')), PUSH_EVERY_MS);
    timer.unref();
  });

  const close = () => {
    offChange();
    if (timer) clearTimeout(timer);
    timer = undefined;
    nsp.disconnectSockets(true);
  };
  return { nsp, close };
}
