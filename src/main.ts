/**
 * The composition root: read config, open the store, build the registry and the session hub,
 * start the transports on one HTTP server.
 *
 * Two ways to keep state (src/ports.ts). Embedded (the default): the lowdb store in the data
 * folder, held by this one process (the run lock), and sessions, the bus and limits in memory.
 * A cluster process (config.cluster: PostgreSQL and Redis URLs): records in PostgreSQL, the rest
 * in Redis, shared with any number of other processes (PROTOCOL.md §8), so no run lock, and the
 * hub looks for due deadlines other processes added.
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { createLogger, type Logger } from './log.ts';
import { stateName } from '../machines/session.ts';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { countSessions, createMetrics, timedStore, type MetricSources } from './transports/http/metrics.ts';
import type { App } from './transports/http/context.ts';
import type { Cluster, Config } from './config.ts';
import { createProofVerifier } from './core/login/verify-proof.ts';
import { provokeSession } from './core/push/provoke.ts';
import { Registry } from './core/admin/registry.ts';
import { SessionHub, type AppliedEvent } from './core/hub.ts';
import type { Bus, Clock, Limits, Sessions } from './ports.ts';
import { LowdbStore } from './adapters/lowdb/lowdb-store.ts';
import type { PostgresStore } from './adapters/postgres/postgres-store.ts';
import { MemoryBus } from './adapters/memory/bus.ts';
import { MemorySessions } from './adapters/memory/sessions.ts';
import { MemoryLimits } from './adapters/memory/limits.ts';
import { SourceLimits } from './core/limits/source-limits.ts';
import { RestLimits } from './core/limits/rest-limits.ts';
import { ConnectionLimits } from './core/limits/connection-limits.ts';
import { acquireRunLock, removeRunLock, writeRunLock } from './adapters/lowdb/run-lock.ts';
import { freshFolder } from './adapters/lowdb/fresh-folder.ts';
import { PushService } from './core/push/push.ts';
import { TransactionService } from './core/transaction/transactions.ts';
import { sendToGateway } from './transports/push-gateway.ts';
import { createAppSocket } from './transports/app-ws/app-socket.ts';
import { createBrowserSocket } from './transports/browser-ws/browser-socket.ts';
import { upgradeRefusal } from './transports/http/reply-error.ts';
import { registerDemo } from './transports/http/routes/demo.ts';
import { createHttpApp } from './transports/http/app.ts';
import { Inspector } from './inspect/inspector.ts';
import { LooseEvents } from './core/events/loose-events.ts';
import { registerInspectPage } from './inspect/page.ts';
import { createInspectSocket } from './inspect/socket.ts';
import { browserOriginAllowed, createSocketIo, SOCKET_IO_PATH } from './transports/socket-io/socket-io.ts';
import { webAssets } from './web/assets.ts';
import { NsError } from './wire/errors.ts';
import { sourceFinder } from './transports/source.ts';
import { Deliveries } from './core/events/deliver-events.ts';
import { DEFAULT_WEBHOOK_SETTINGS } from './core/events/webhooks.ts';
import { pruneEventsEvery } from './core/events/prune-events.ts';
import { RefusalEvents } from './core/events/refusal-events.ts';
import { OidcProviders } from './transports/oidc/providers.ts';

/** A connection refused past its source's limit (§7) may try again after this (`Retry-After`). */
const CONNECTION_RETRY_MS = 10_000;

/** The channel of a WebSocket by its path, for nextauth_sockets_open (socket.io's path is the rest). */
const CHANNELS: Record<string, string> = { '/ns/sigmai': 'app', '/ns/websocket': 'browser' };

/** In a cluster, how often (ms) the hub looks for due deadlines that other processes added. */
const CLUSTER_POLL_MS = 1000;

/** How long (ms) a cluster process waits for Redis at start before it refuses to start. */
const REDIS_START_MS = 10_000;

export interface RunningServer {
  config: Config;
  /** http://host:port actually bound */
  url: string;
  port: number;
  registry: Registry;
  /** The store itself (tests compare its content before and after a refusal): PostgreSQL's in a cluster. */
  store: LowdbStore | PostgresStore;
  hub: SessionHub;
  push: PushService;
  app: App;
  /** The webhooks' deliveries of this process. */
  deliveries: Deliveries;
  /** Stops taking connections, flushes the store, closes sockets (1001). */
  close(): Promise<void>;
}

export interface Bootstrap {
  /** A root api key made on this start (print it once). */
  rootApiKey?: string;
  /** The demo server made on this start. */
  demoServerId?: string;
}

export interface StartOptions {
  /** The clock of session timers (tests pass XState's SimulatedClock). */
  clock?: Clock;
  /** A cluster process: how long (ms) it waits for Redis at start before it refuses to start (default 10 s). */
  redisStartMs?: number;
  /** Where the log goes (default stdout; tests read it). */
  logTo?: NodeJS.WritableStream;
}

/**
 * Starts the NS. On a data folder that holds no store yet, a start that fails before it listens
 * (the port is taken, say) takes back everything it wrote there: the root key it made was never
 * shown, and kept it would be lost for good. A port that is plainly taken is found before
 * anything is written at all.
 */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer & { bootstrap: Bootstrap }> {
  const fresh = config.cluster ? undefined : await freshFolder(config.dataDir);
  if (fresh && config.port !== 0) await checkListen(config.host, config.port);
  try {
    return await start(config, options);
  } catch (e) {
    await fresh?.undo();
    throw e;
  }
}

async function start(config: Config, options: StartOptions): Promise<RunningServer & { bootstrap: Bootstrap }> {
  // The browser files `npm run build` made (dist/web), read once: without them, stop here (WebBuildError).
  webAssets();
  const log = createLogger(config, options.logTo);
  const { store, sessions, bus, limits, readiness, stores, ...state } = config.cluster
    ? await openCluster(config.cluster, log, options)
    : await openEmbedded(config.dataDir, config.publicUrl);
  const metrics = createMetrics({
    stores,
    liveSessions: () => hub.countByState(),
  });
  // Every change of the store is timed until durable (nextauth_store_write_seconds), and takes the events waiting to be written first (LooseEvents).
  const registry = new Registry(LooseEvents.over(timedStore(store, metrics), log).store, config.limits, {
    ...DEFAULT_WEBHOOK_SETTINGS,
    perServer: config.events.webhooksPerServer,
  });
  const bootstrap: Bootstrap = {};
  const root = await registry.access.ensureRootKey(config.rootApiKey);
  if (root.apikey) bootstrap.rootApiKey = root.apikey;
  if (config.demo && (await registry.servers.list()).length === 0) {
    const demo = await registry.servers.create({ serverName: 'Demo server', appname: 'nextAuth demo' });
    bootstrap.demoServerId = demo.serverid;
  }

  const clock = options.clock ?? { now: Date.now };
  const now = () => clock.now();
  const countSession = countSessions(metrics, now);
  registry.accounts.events.on('enrolled', (serverid) => metrics.enrolments.inc({ server: serverid }));
  // The live inspector (/inspect): every session actor's inspection events.
  // Each virtual server's OpenID Provider (made on first use); a logout of a nextAuth session ends the OIDC sessions that came of it.
  const oidc = new OidcProviders({
    store: registry.store,
    registry,
    publicUrl: () => config.publicUrl,
    privateAddresses: config.events.privateAddresses,
    proxy: config.trustedProxies.length > 0,
    log,
  });
  const endOidcLogin = (a: AppliedEvent) => {
    // A logout (phone, REST, browser); a login that reaches its time limit leaves the OIDC session to its own.
    if (a.type !== 'logout' || a.before === undefined || stateName(a.before) !== 'authenticated') return;
    oidc.endLogin(a.serverid, a.key.slice(a.serverid.length + 1)).catch((err: unknown) => log.warn({ err, serverid: a.serverid }, 'OpenID Connect sessions of a logout not ended'));
  };
  const inspector = new Inspector({ now, registry: metrics.registry });
  const hub: SessionHub = new SessionHub({
    limits: config.limits,
    sessions,
    bus,
    verifyProof: createProofVerifier(registry, now),
    account: (serverid, id) => registry.accounts.get(serverid, id),
    saved: registry.store,
    log,
    onMute: (serverid, accounts) => push.mute(serverid, accounts),
    inspect: (applied) => {
      inspector.applied(applied);
      countSession(applied);
      logTransition(log, applied);
      endOidcLogin(applied);
    },
    ...(state.pollMs ? { pollMs: state.pollMs } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const push: PushService = new PushService({
    registry,
    hub,
    limits: config.limits,
    clock: hub.clock,
    log,
    ...(config.pushGateway ? { gateway: config.pushGateway } : {}),
    deliver: (url, message) => sendToGateway(url, message, { log }),
    bus,
    sessions,
    counts: limits,
    processId: hub.id,
    count: (result) => metrics.pushes.inc({ result }),
  });
  await push.ready();
  const transactions = new TransactionService({
    registry,
    hub,
    push,
    clock: hub.clock,
    log,
  });
  registry.accounts.events.on('unwritten', (serverid, id, err) =>
    log.error({ err, code: 'STORAGE_UNAVAILABLE', serverid, acc: id }, "a login's times could not be written (lastlogin): taken back"),
  );
  registry.accounts.events.on('revoked', (serverid, id, reason, userid) => {
    hub.revoke(serverid, id, reason === 'deleted').catch((err: unknown) => log.warn({ err, serverid, acc: id }, 'sessions of a revoked account not logged out'));
    push.revoke(serverid, id);
    // OpenID Connect tokens are the user's: blocking or deleting one of its accounts revokes them.
    if (userid !== undefined)
      oidc.endUser(serverid, userid, true).catch((err: unknown) => log.warn({ err, serverid, acc: id }, 'OpenID Connect grants of a revoked account not revoked'));
  });

  const restLimits = new RestLimits(limits, config.limits, hub.clock);
  const refusals = new RefusalEvents(registry.store, now, log);
  const app = await createHttpApp({ config, registry, hub, push, transactions, metrics, log, restLimits, readiness, refusals, oidc });
  // The demo site keeps its api key in the data folder, which a cluster process does not open otherwise.
  if (config.demo && config.cluster) await fs.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  if (config.demo) await registerDemo(app, { config, registry, log, ...(bootstrap.demoServerId ? { demoServerId: bootstrap.demoServerId } : {}) });
  const restored = await hub.restore();
  if (restored) log.info({ restored }, 'sessions restored');
  const sourceLimits = new SourceLimits(limits, config.limits, hub.clock);
  const sourceOf = sourceFinder(config.trustedProxies);
  const appSocket = createAppSocket({
    hub,
    push,
    transactions,
    registry,
    log,
    metrics,
    clock: hub.clock,
    challengeLimit: config.limits.challenge,
    sourceLimits,
    sourceOf,
    refusals,
  });
  const browserDeps = {
    hub,
    registry,
    metrics,
    log,
    sourceOf,
    provoke: (serverid: string, hsid: string, source?: string) => provokeSession(registry, hub, push, serverid, hsid, source),
  };
  const browserSocket = createBrowserSocket(browserDeps);
  const connections = new ConnectionLimits(limits, config.limits.connectionsPerSource, hub.id);
  /** One more WebSocket (or socket.io session) of the request's source: its release, or undefined past the limit (logged). */
  const admit = async (req: IncomingMessage): Promise<(() => void) | undefined> => {
    const release = await connections.admit(sourceOf(req));
    if (!release) {
      metrics.refusals.inc({ code: 'RATE_LIMITED', channel: 'upgrade' });
      log.warn({ code: 'RATE_LIMITED', source: sourceOf(req) }, 'connection refused: too many connections from this address');
      return undefined;
    }
    const channel = CHANNELS[(req.url ?? '').split('?')[0]!] ?? 'socket.io';
    metrics.sockets.inc({ channel });
    let open = true;
    return () => {
      if (open) metrics.sockets.dec({ channel });
      open = false;
      release();
    };
  };
  const socketIo = createSocketIo(browserDeps, config, admit);
  // socket.io's HTTP requests go to its engine once admitted (the body unread by fastify).
  app.route({
    method: ['GET', 'POST', 'OPTIONS'],
    url: SOCKET_IO_PATH,
    config: { public: true },
    onRequest: async (req, reply) => {
      if (!(await socketIo.admitted(req.raw))) throw new NsError('RATE_LIMITED', 'Too many connections from this address', { retryAfterMs: CONNECTION_RETRY_MS });
      reply.hijack();
      socketIo.serve(req.raw, reply.raw);
    },
    handler: async () => undefined,
  });
  registerInspectPage(app);
  const inspectSocket = createInspectSocket(socketIo.io, { registry, inspector, now, log });

  /** A WebSocket of `req` past its source's limit is refused 429; else it counts until its socket closes. */
  const admitted = async (req: IncomingMessage, socket: Duplex): Promise<boolean> => {
    const release = await admit(req);
    if (!release) {
      socket.end(upgradeRefusal('RATE_LIMITED', CONNECTION_RETRY_MS / 1000));
      return false;
    }
    socket.once('close', release);
    return true;
  };
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, wss: typeof appSocket.wss) => {
    admitted(req, socket).then(
      (ok) => ok && wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)),
      (err: unknown) => {
        log.error({ err, code: 'INTERNAL' }, 'upgrade failed');
        socket.destroy();
      },
    );
  };
  /** socket.io's upgrades: a handshake admitted first (the session it makes holds the count). */
  const upgradeIo = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socketIo.admitted(req).then(
      (ok) => (ok ? socketIo.upgrade(req, socket, head) : socket.end(upgradeRefusal('RATE_LIMITED', CONNECTION_RETRY_MS / 1000))),
      (err: unknown) => {
        log.error({ err, code: 'INTERNAL' }, 'upgrade failed');
        socket.destroy();
      },
    );
  };
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/ns/sigmai') {
      upgrade(req, socket, head, appSocket.wss);
    } else if (path === '/ns/websocket') {
      if (!browserOriginAllowed(config, req.headers.origin)) {
        socket.end(upgradeRefusal('FORBIDDEN'));
        return;
      }
      upgrade(req, socket, head, browserSocket.wss);
    } else if (path === SOCKET_IO_PATH) {
      upgradeIo(req, socket, head);
    } else {
      socket.end(upgradeRefusal('NOT_FOUND'));
    }
  });

  let deliveries: Deliveries | undefined;
  let stopPruning: (() => void) | undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      stopPruning?.();
      // No new connection or request from here; requests already running finish, and are cut
      // only if they take longer than 2 s.
      const http = app.close();
      const cut = setTimeout(() => app.server.closeAllConnections(), 2000);
      inspectSocket.close();
      await Promise.all([appSocket.close(), browserSocket.close(), socketIo.close()]);
      await hub.close();
      // Every connection of this process is closed: none of its counts may outlive it (in a
      // cluster they are shared, and a release of one closing just now may not have gone out).
      await limits.release(hub.id).catch((err: unknown) => log.warn({ err }, 'connection counts not released'));
      await transactions.close();
      await push.close();
      await Promise.all([sessions.close(), bus.close(), limits.close()]);
      await http;
      clearTimeout(cut);
      await deliveries?.close();
      await store.close();
      if (!config.cluster) await removeRunLock(config.dataDir);
    })());

  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (e) {
    await close().catch(() => undefined);
    throw listenError(e, config.host, config.port);
  }
  const port = (app.server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  // With port 0 the default public URL names the port we got.
  if (config.port === 0 && config.publicUrl.endsWith(':0')) config.publicUrl = url;
  if (!config.cluster) await writeRunLock(config.dataDir, url);
  // The outbox: delivered to the webhooks, kept for the retention (from now: nothing is written before the server listens).
  const delivering = new Deliveries({
    store: registry.store,
    base: config.publicUrl.replace(/\/+$/, ''),
    retryFor: config.events.retryFor,
    privateAddresses: config.events.privateAddresses,
    sole: !config.cluster,
    log,
  });
  deliveries = delivering;
  delivering.start();
  // Every minute: the embedded store's events are in memory, and their most (events.max) is what bounds it.
  stopPruning = pruneEventsEvery(registry.store, { retentionMs: config.events.retention, keep: config.events.max, everyMs: 60_000 }, log);

  return { config, url, port, registry, store, hub, push, app, deliveries: delivering, close, bootstrap };
}

/** One line for each session transition (a new state, or the session made or ended); the hsid is public (it is in the QR code). */
function logTransition(log: Logger, a: AppliedEvent): void {
  if (!log.isLevelEnabled('info')) return;
  const from = a.before === undefined ? undefined : stateName(a.before);
  const to = a.ended ? 'expired' : stateName(a.value);
  if (from === to && !a.created) return;
  const [, hsid] = a.key.split(':');
  log.info({ serverid: a.serverid, hsid, event: a.type, from: from ?? null, to, ...(a.account === null ? {} : { acc: a.account }) }, `session ${from ?? 'new'} → ${to}`);
}

/** A failure to listen (port taken, no right to it, no such address), said plainly; other errors as they are. */
function listenError(e: unknown, host: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') return e;
  const why = code === 'EADDRINUSE' ? 'something else listens there' : code === 'EACCES' ? 'this user may not use that port' : 'this machine has no such address';
  return Object.assign(new Error(`cannot listen on ${host}:${port}: ${why} (${code}); choose another with --port or --host`), { code });
}

/** Resolves when `host:port` can be listened on now (a listener opened and closed at once); else a listenError. */
function checkListen(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (e) => reject(listenError(e, host, port)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** What a process keeps its state in, and how GET /readyz checks it. */
interface Adapters {
  store: LowdbStore | PostgresStore;
  sessions: Sessions;
  bus: Bus;
  limits: Limits;
  /** GET /readyz's checks (src/transports/http/context.ts). */
  readiness: Record<string, () => Promise<void>>;
  /** The store's counts for /metrics (none in a cluster). */
  stores: MetricSources['stores'];
  /** Set in a cluster: other processes add deadlines too (SessionHub's `pollMs`). */
  pollMs?: number;
}

/** The embedded store in the data folder (this process alone: the run lock), the rest in memory. */
async function openEmbedded(dataDir: string, publicUrl: string): Promise<Adapters> {
  // Refuses (RunLockError) while another live process — a server or an admin command — holds the data folder.
  await acquireRunLock(dataDir, publicUrl);
  const store = await LowdbStore.open(dataDir);
  return {
    store,
    sessions: new MemorySessions(),
    bus: new MemoryBus(),
    limits: new MemoryLimits(),
    readiness: {
      store: async () => {
        try {
          await fs.access(dataDir, fsConstants.W_OK);
        } catch (e) {
          throw new Error(`the data folder ${dataDir} cannot be written (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
        }
      },
      sessions: async () => undefined, // in this process's memory
    },
    stores: store.stats,
  };
}

/** A URL as it may be shown: its scheme, host and path, never a user or password. */
const shown = (url: string): string => {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
};

/**
 * A cluster process: records in PostgreSQL, sessions, deadlines, the bus and limits in Redis
 * (the adapters are loaded only here: an embedded server never loads pg or ioredis). Refuses to
 * start, saying which and why, when either cannot be reached.
 */
async function openCluster(cluster: Cluster, log: Logger, { clock, redisStartMs = REDIS_START_MS }: StartOptions): Promise<Adapters> {
  const [{ PostgresStore }, { RedisSessions }, { RedisBus }, { RedisLimits }] = await Promise.all([
    import('./adapters/postgres/postgres-store.ts'),
    import('./adapters/redis/redis-sessions.ts'),
    import('./adapters/redis/redis-bus.ts'),
    import('./adapters/redis/redis-limits.ts'),
  ]);
  // A connection that is down says so once in a while, not at every retry.
  const said = new Map<string, number>();
  const trouble = (what: string) => (err: Error) => {
    const now = Date.now();
    if (now - (said.get(what) ?? Number.NEGATIVE_INFINITY) < 30_000) return;
    said.set(what, now);
    log.error({ err, code: 'STORAGE_UNAVAILABLE' }, `${what}: ${err.message}`);
  };
  let store: PostgresStore;
  try {
    store = await PostgresStore.open(cluster.databaseUrl, { onError: trouble('PostgreSQL') });
  } catch (e) {
    throw new NsError('STORAGE_UNAVAILABLE', `PostgreSQL at ${shown(cluster.databaseUrl)} cannot be opened: ${reason(e)}`);
  }
  const redis = { url: cluster.redisUrl, prefix: cluster.redisPrefix };
  const sessions = new RedisSessions({ ...redis, onError: trouble('Redis (sessions)') });
  const bus = new RedisBus({ ...redis, onConnectionError: trouble('Redis (bus)'), onError: (err, topic) => log.error({ err, topic }, 'a bus handler threw') });
  const limits = new RedisLimits({ ...redis, onError: trouble('Redis (limits)'), ...(clock ? { clock } : {}) });
  try {
    await sessions.connected(redisStartMs);
  } catch (e) {
    await Promise.allSettled([sessions.close(), bus.close(), limits.close(), store.close()]);
    throw new NsError('STORAGE_UNAVAILABLE', `Redis at ${shown(cluster.redisUrl)} cannot be reached: ${reason(e)}`);
  }
  return {
    store,
    sessions,
    bus,
    limits,
    readiness: {
      store: async () => {
        try {
          await store.ping();
        } catch (e) {
          throw new Error(`PostgreSQL cannot be reached: ${reason(e)}`);
        }
      },
      sessions: async () => {
        try {
          await Promise.all([sessions.ping(), bus.ping(), limits.ping()]);
        } catch (e) {
          throw new Error(`Redis cannot be reached: ${reason(e)}`);
        }
      },
    },
    stores: {},
    pollMs: CLUSTER_POLL_MS,
  };
}

/** Why `e` happened, in words (a StorageUnavailableError's own cause). */
function reason(e: unknown): string {
  const cause = e instanceof NsError && e.cause !== undefined ? e.cause : e;
  if (cause instanceof AggregateError && cause.errors.length > 0) return reason(cause.errors[0]);
  return cause instanceof Error ? cause.message || ((cause as NodeJS.ErrnoException).code ?? cause.name) : String(cause);
}
