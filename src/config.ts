/**
 * Every setting of the NS: from NEXTAUTH_* environment variables, overridden by CLI flags
 * (`--port 0`, `--data /tmp/x`, …), with defaults and a clear error for a bad value.
 */
import path from 'node:path';
import proxyaddr from '@fastify/proxy-addr';

/** Events the embedded store keeps at most by default: it holds them in memory (about 0.27 KiB each with its indexes: bench/event-memory.ts). */
export const DEFAULT_EVENT_MAX = 100_000;

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Limits {
  /** ms an app has between `challenge` and `proof`. */
  challenge: number;
  /** ms a `waiting` or `loggedOut` session lives without an event. */
  idle: number;
  /** ms an `authenticated` session lasts. */
  session: number;
  /** Open handshakes per session, and per session and source (PROTOCOL.md §2, §7). */
  handshakes: number;
  handshakesPerSource: number;
  /** ms an enrol code lives at most. */
  enrol: number;
  /** Pushes per account: at most one per `pushInterval` ms and `pushHourly` an hour. */
  pushInterval: number;
  pushHourly: number;
  /** ms pushes to an account stay muted after a "deny and report". */
  mute: number;
  /** `hello`s per source (PROTOCOL.md §7): at most `limit` per `windowMs`. */
  helloRate: { limit: number; windowMs: number };
  /** Failed proofs per source before its `hello`s are refused for `failedProofBlock` ms. */
  failedProofRate: { limit: number; windowMs: number };
  failedProofBlock: number;
  /** REST requests per api key, and per source without a (known) key (§7). */
  restRate: { limit: number; windowMs: number };
  restUnknownKeyRate: { limit: number; windowMs: number };
  /** ms a client has to send a request's headers (§7), and the whole request. */
  headersTimeout: number;
  requestTimeout: number;
  /** Open WebSocket connections per source (§7). */
  connectionsPerSource: number;
}

export interface Config {
  host: string;
  /** 0 picks a free port. */
  port: number;
  dataDir: string;
  /** Base URL put in QR codes and links (http(s)://host:port); the app channel is its ws(s) form. */
  publicUrl: string;
  rootApiKey?: string;
  logLevel: LogLevel;
  /** `json` (one object per line, for machines) or `pretty` (for people reading a terminal). */
  logFormat: 'json' | 'pretty';
  /** Origins allowed to open browser sockets; empty means any. */
  allowedOrigins: string[];
  /**
   * Proxies (addresses or CIDRs) whose `X-Forwarded-For` is believed: a client's source address
   * is the right-most address there that is not one of them, the one the nearest trusted proxy
   * saw (PROTOCOL.md §7, docs/protocol-notes.md 27; src/transports/source.ts). Empty: the TCP peer.
   */
  trustedProxies: string[];
  /** Create a demo virtual server on an empty data folder. */
  demo: boolean;
  /** Default push gateway for phones that are not connected. */
  pushGateway?: string;
  /**
   * One process of a cluster (PROTOCOL.md §8): records in PostgreSQL, sessions, deadlines, the
   * bus and limit counts in Redis, shared with every other process. None: the embedded store in
   * the data folder, and the rest in this process's memory.
   */
  cluster?: Cluster;
  /** Processes that `nextauth start` runs on one port (node's cluster module); more than 1 only in a cluster. */
  workers: number;
  limits: Limits;
  events: EventSettings;
}

/** The events outbox, its webhooks and its audit trail (src/core/events/). */
export interface EventSettings {
  /** ms events are kept for the audit trail (and for webhooks that are behind). */
  retention: number;
  /** Events kept at most, the oldest removed first (0: no limit). The embedded store holds its events in memory. */
  max: number;
  /** Webhooks per virtual server. */
  webhooksPerServer: number;
  /** ms a delivery is retried (exponential backoff) before it is given up. */
  retryFor: number;
  /** Deliveries may go to loopback, private and link-local addresses (off: only public ones). */
  privateAddresses: boolean;
}

export interface Cluster {
  /** postgres://… (or postgresql://…) */
  databaseUrl: string;
  /** redis://… (or rediss://…) */
  redisUrl: string;
  /** Put before every Redis key and channel; the processes of one NS name the same. */
  redisPrefix: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface Setting {
  env: string;
  flag: string;
  help: string;
}

/** The table of settings, for `--help` and for parsing. */
export const settings = {
  host: { env: 'NEXTAUTH_HOST', flag: 'host', help: 'interface to listen on (default 127.0.0.1)' },
  port: { env: 'NEXTAUTH_PORT', flag: 'port', help: 'TCP port (default 8080; 0 picks a free one)' },
  dataDir: { env: 'NEXTAUTH_DATA', flag: 'data', help: 'data folder (default ./data)' },
  publicUrl: { env: 'NEXTAUTH_PUBLIC_URL', flag: 'public-url', help: 'base URL for QR codes and links (default http://host:port)' },
  rootApiKey: { env: 'NEXTAUTH_ROOT_API_KEY', flag: 'root-api-key', help: 'the global root api key (default: made on first start)' },
  logLevel: { env: 'NEXTAUTH_LOG_LEVEL', flag: 'log-level', help: 'fatal|error|warn|info|debug|trace|silent (default info)' },
  logFormat: { env: 'NEXTAUTH_LOG_FORMAT', flag: 'log-format', help: 'json (one object per line on stdout) or pretty, for people (default json)' },
  trustedProxies: { env: 'NEXTAUTH_TRUSTED_PROXIES', flag: 'trusted-proxies', help: 'comma-separated proxy addresses or CIDRs whose X-Forwarded-For is believed (default none)' },
  allowedOrigins: { env: 'NEXTAUTH_ALLOWED_ORIGINS', flag: 'allowed-origins', help: 'comma-separated origins allowed on browser sockets (default any)' },
  demo: { env: 'NEXTAUTH_DEMO', flag: 'demo', help: 'create a demo server on an empty data folder: true|false (default true)' },
  challenge: { env: 'NEXTAUTH_CHALLENGE_SECONDS', flag: 'challenge-seconds', help: 'seconds between challenge and proof (default 60)' },
  idle: { env: 'NEXTAUTH_IDLE_SECONDS', flag: 'idle-seconds', help: 'seconds an idle session lives (default 900)' },
  session: { env: 'NEXTAUTH_SESSION_SECONDS', flag: 'session-seconds', help: 'seconds a login lasts (default 43200)' },
  handshakes: { env: 'NEXTAUTH_HANDSHAKES_PER_SESSION', flag: 'handshakes-per-session', help: 'open handshakes per session (default 4)' },
  handshakesPerSource: {
    env: 'NEXTAUTH_HANDSHAKES_PER_SOURCE',
    flag: 'handshakes-per-source',
    help: 'open handshakes per session from one source address (default 2)',
  },
  enrol: { env: 'NEXTAUTH_ENROL_SECONDS', flag: 'enrol-seconds', help: 'seconds an enrol code lives at most (default 600)' },
  pushInterval: { env: 'NEXTAUTH_PUSH_INTERVAL_SECONDS', flag: 'push-interval-seconds', help: 'seconds between two pushes to one account (default 10)' },
  pushHourly: { env: 'NEXTAUTH_PUSH_HOURLY', flag: 'push-hourly', help: 'pushes to one account per hour (default 20)' },
  mute: { env: 'NEXTAUTH_MUTE_SECONDS', flag: 'mute-seconds', help: 'seconds pushes stay muted after "deny and report" (default 1200)' },
  helloRate: { env: 'NEXTAUTH_HELLO_RATE', flag: 'hello-rate', help: 'hellos per source, N/SECONDS (default 30/10)' },
  failedProofRate: { env: 'NEXTAUTH_FAILED_PROOF_RATE', flag: 'failed-proof-rate', help: 'failed proofs per source before its hellos are refused, N/SECONDS (default 20/300)' },
  failedProofBlock: {
    env: 'NEXTAUTH_FAILED_PROOF_BLOCK_SECONDS',
    flag: 'failed-proof-block-seconds',
    help: 'seconds a source with too many failed proofs is refused (default 300)',
  },
  restRate: { env: 'NEXTAUTH_REST_RATE', flag: 'rest-rate', help: 'REST requests per api key, N/SECONDS (default 1000/10)' },
  restUnknownKeyRate: { env: 'NEXTAUTH_REST_UNKNOWN_KEY_RATE', flag: 'rest-unknown-key-rate', help: 'REST requests without a known api key per source, N/SECONDS (default 20/60)' },
  connectionsPerSource: { env: 'NEXTAUTH_CONNECTIONS_PER_SOURCE', flag: 'connections-per-source', help: 'open WebSocket connections per source address (default 256)' },
  headersTimeout: { env: 'NEXTAUTH_HEADERS_TIMEOUT_SECONDS', flag: 'headers-timeout-seconds', help: 'seconds a client has to send its request headers (default 10)' },
  requestTimeout: { env: 'NEXTAUTH_REQUEST_TIMEOUT_SECONDS', flag: 'request-timeout-seconds', help: 'seconds a client has to send a whole request (default 30)' },
  eventRetention: { env: 'NEXTAUTH_EVENT_RETENTION_DAYS', flag: 'event-retention-days', help: 'days events are kept for the audit trail (default 90)' },
  eventMax: {
    env: 'NEXTAUTH_EVENT_MAX',
    flag: 'event-max',
    help: 'events kept at most, the oldest removed first; 0: no limit (default 100000 with the embedded store, which holds them in memory; 0 with PostgreSQL)',
  },
  webhooksPerServer: { env: 'NEXTAUTH_WEBHOOKS_PER_SERVER', flag: 'webhooks-per-server', help: 'webhooks per virtual server (default 16)' },
  webhookRetry: { env: 'NEXTAUTH_WEBHOOK_RETRY_SECONDS', flag: 'webhook-retry-seconds', help: 'seconds a webhook delivery is retried before it is given up (default 86400)' },
  webhookPrivate: {
    env: 'NEXTAUTH_WEBHOOK_PRIVATE_ADDRESSES',
    flag: 'webhook-private-addresses',
    help: 'deliver webhooks to loopback and private addresses too: true|false (default false)',
  },
  databaseUrl: {
    env: 'NEXTAUTH_DATABASE_URL',
    flag: 'database-url',
    help: 'postgres://… : records in PostgreSQL, shared by the processes of a cluster (with NEXTAUTH_REDIS_URL; default: the data folder)',
  },
  redisUrl: {
    env: 'NEXTAUTH_REDIS_URL',
    flag: 'redis-url',
    help: 'redis://… : sessions, deadlines, messages and limits in Redis, shared by the processes of a cluster (with NEXTAUTH_DATABASE_URL)',
  },
  workers: {
    env: 'NEXTAUTH_WORKERS',
    flag: 'workers',
    help: 'processes on one port, one per core (node cluster; needs NEXTAUTH_DATABASE_URL and NEXTAUTH_REDIS_URL; default 1)',
  },
  redisPrefix: { env: 'NEXTAUTH_REDIS_PREFIX', flag: 'redis-prefix', help: 'put before every Redis key and channel; the same in every process of one NS (default nextauth:)' },
  pushGateway: { env: 'NEXTAUTH_PUSH_GATEWAY', flag: 'push-gateway', help: 'URL the NS POSTs pushes for offline phones to (a server attribute pushGateway overrides it)' },
} as const satisfies Record<string, Setting>;

type Key = keyof typeof settings;

/** Reads `--flag value` and `--flag=value` pairs; anything else is left to the caller. */
export function parseFlags(argv: readonly string[]): { flags: Map<string, string>; rest: string[] } {
  const flags = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq > 0) flags.set(arg.slice(2, eq), arg.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) flags.set(arg.slice(2), argv[++i]!);
    else flags.set(arg.slice(2), 'true');
  }
  return { flags, rest };
}

export function loadConfig(flags: ReadonlyMap<string, string> = new Map(), env: NodeJS.ProcessEnv = process.env): Config {
  const raw = (key: Key): string | undefined => {
    const s = settings[key];
    const v = flags.get(s.flag) ?? env[s.env];
    return v === undefined || v === '' ? undefined : v;
  };
  const bad = (key: Key, value: string, expected: string): never => {
    const s = settings[key];
    throw new ConfigError(`${s.env} / --${s.flag}: "${value}" is not ${expected}`);
  };
  const int = (key: Key, fallback: number, min: number, max: number): number => {
    const v = raw(key);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) bad(key, v, `an integer from ${min} to ${max}`);
    return n;
  };
  const seconds = (key: Key, fallback: number) => int(key, fallback, 1, 30 * 24 * 3600) * 1000;
  const bool = (key: Key, fallback: boolean): boolean => {
    const v = raw(key) ?? String(fallback);
    if (v !== 'true' && v !== 'false') bad(key, v, 'true or false');
    return v === 'true';
  };
  /** `N/SECONDS`: at most N in that many seconds. */
  const rate = (key: Key, fallback: string): { limit: number; windowMs: number } => {
    const v = raw(key) ?? fallback;
    const m = /^(\d{1,9})\/(\d{1,7})$/.exec(v);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) bad(key, v, 'N/SECONDS, e.g. 30/10');
    return { limit: Number(m![1]), windowMs: Number(m![2]) * 1000 };
  };

  const host = raw('host') ?? '127.0.0.1';
  const port = int('port', 8080, 0, 65535);
  const logLevel = (raw('logLevel') ?? 'info') as LogLevel;
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) bad('logLevel', logLevel, 'a log level');
  const logFormat = (raw('logFormat') ?? 'json') as Config['logFormat'];
  if (logFormat !== 'json' && logFormat !== 'pretty') bad('logFormat', logFormat, 'json or pretty');

  let publicUrl = raw('publicUrl') ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  try {
    const url = new URL(publicUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error();
    publicUrl = url.href.replace(/\/$/, '');
  } catch {
    bad('publicUrl', publicUrl, 'an http(s) URL');
  }

  const rootApiKey = raw('rootApiKey');
  if (rootApiKey !== undefined && !/^[\x21-\x7e]{16,256}$/.test(rootApiKey)) {
    bad('rootApiKey', '(hidden)', '16 to 256 printable characters without spaces');
  }

  const demo = bool('demo', true);

  const origins = (raw('allowedOrigins') ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const o of origins) {
    try {
      new URL(o);
    } catch {
      bad('allowedOrigins', o, 'an origin like https://example.com');
    }
  }

  const trustedProxies = (raw('trustedProxies') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  for (const p of trustedProxies) {
    try {
      proxyaddr.compile(p);
    } catch {
      bad('trustedProxies', p, 'an IP address or CIDR, e.g. 10.0.0.0/8');
    }
  }

  const pushGateway = raw('pushGateway');
  if (pushGateway !== undefined) {
    try {
      if (!/^https?:$/.test(new URL(pushGateway).protocol)) throw new Error();
    } catch {
      bad('pushGateway', pushGateway, 'an http(s) URL');
    }
  }

  const cluster = clusterOf(raw('databaseUrl'), raw('redisUrl'), raw('redisPrefix'), bad);
  const workers = int('workers', 1, 1, 256);
  if (workers > 1 && !cluster) {
    throw new ConfigError(
      `${settings.workers.env}=${workers}: the embedded store has one writer, the process that holds the data folder; several processes need ${settings.databaseUrl.env} and ${settings.redisUrl.env} (PostgreSQL and Redis)`,
    );
  }

  return {
    ...(pushGateway !== undefined ? { pushGateway } : {}),
    ...(cluster ? { cluster } : {}),
    host,
    port,
    dataDir: path.resolve(raw('dataDir') ?? 'data'),
    publicUrl,
    rootApiKey,
    logLevel,
    logFormat,
    allowedOrigins: origins,
    trustedProxies,
    demo,
    workers,
    limits: {
      challenge: seconds('challenge', 60),
      idle: seconds('idle', 15 * 60),
      session: seconds('session', 12 * 3600),
      handshakes: int('handshakes', 4, 1, 64),
      handshakesPerSource: int('handshakesPerSource', 2, 1, 64),
      enrol: seconds('enrol', 10 * 60),
      pushInterval: int('pushInterval', 10, 0, 86400) * 1000,
      pushHourly: int('pushHourly', 20, 1, 100000),
      mute: seconds('mute', 20 * 60),
      helloRate: rate('helloRate', '30/10'),
      failedProofRate: rate('failedProofRate', '20/300'),
      failedProofBlock: seconds('failedProofBlock', 5 * 60),
      restRate: rate('restRate', '1000/10'),
      restUnknownKeyRate: rate('restUnknownKeyRate', '20/60'),
      connectionsPerSource: int('connectionsPerSource', 256, 1, 1_000_000),
      headersTimeout: seconds('headersTimeout', 10),
      requestTimeout: seconds('requestTimeout', 30),
    },
    events: {
      retention: int('eventRetention', 90, 1, 36500) * 86400_000,
      max: int('eventMax', cluster ? 0 : DEFAULT_EVENT_MAX, 0, 1_000_000_000),
      webhooksPerServer: int('webhooksPerServer', 16, 0, 1000),
      retryFor: seconds('webhookRetry', 86400),
      privateAddresses: bool('webhookPrivate', false),
    },
  };
}

/**
 * The cluster settings: both URLs (a cluster process), or neither (the embedded store); one
 * without the other is refused, naming both, rather than quietly running alone.
 */
function clusterOf(
  databaseUrl: string | undefined,
  redisUrl: string | undefined,
  redisPrefix: string | undefined,
  bad: (key: 'databaseUrl' | 'redisUrl' | 'redisPrefix', value: string, expected: string) => never,
): Cluster | undefined {
  const db = settings.databaseUrl.env;
  const redis = settings.redisUrl.env;
  if (databaseUrl === undefined && redisUrl === undefined) {
    if (redisPrefix !== undefined) throw new ConfigError(`${settings.redisPrefix.env} is set but ${redis} is not: the prefix is for a cluster (${db} and ${redis})`);
    return undefined;
  }
  if (databaseUrl === undefined || redisUrl === undefined) {
    const [set, missing] = databaseUrl === undefined ? [redis, db] : [db, redis];
    throw new ConfigError(
      `${set} is set but ${missing} is not: a cluster process needs both ${db} (PostgreSQL: records) and ${redis} (Redis: sessions, messages, limits); set neither for the embedded store in the data folder`,
    );
  }
  const scheme = (url: string) => {
    try {
      return new URL(url).protocol;
    } catch {
      return undefined;
    }
  };
  // The URLs are shown as their scheme only: they may hold a password.
  if (!['postgres:', 'postgresql:'].includes(scheme(databaseUrl) ?? '')) bad('databaseUrl', `${scheme(databaseUrl) ?? '?'}…`, 'a postgres:// URL');
  if (!['redis:', 'rediss:'].includes(scheme(redisUrl) ?? '')) bad('redisUrl', `${scheme(redisUrl) ?? '?'}…`, 'a redis:// or rediss:// URL');
  const prefix = redisPrefix ?? 'nextauth:';
  if (!/^[\x21-\x7e]{1,128}$/.test(prefix)) bad('redisPrefix', prefix, '1 to 128 printable characters without spaces');
  return { databaseUrl, redisUrl, redisPrefix: prefix };
}

/** The ws(s):// URL of the app channel, derived from the public URL. */
export const appChannelUrl = (publicUrl: string): string => `${publicUrl.replace(/^http/, 'ws')}/ns/sigmai`;
