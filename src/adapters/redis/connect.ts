/**
 * The one place that makes ioredis clients for the Redis adapters (sessions, bus, limits), and
 * the key prefix they share.
 *
 * Every key an adapter writes, and every pub/sub channel, starts with the prefix (default
 * `nextauth:`), so several deployments, or test runs, can share one Redis and `dropKeys` can
 * remove one of them whole. Under the prefix:
 *
 *   value:<session key>       hash {v: version, d: JSON}        RedisSessions (no TTL: the hub deletes)
 *   version                   counter: the last version given   RedisSessions
 *   epoch                     names the data Redis holds        RedisSessions (set again when gone: the data was lost)
 *   deadlines                 sorted set [key,name] by `at`     RedisSessions
 *   deadline-payloads         hash [key,name] → payload JSON    RedisSessions
 *   set:<name>                set of session keys               RedisSessions
 *   claimers                  set of ids of claiming processes  RedisSessions
 *   alive:<id>                a claiming process is alive       RedisSessions (expires after a lease)
 *   claims:<id>               sorted set: its claims by when    RedisSessions (kept for a lease)
 *   claim-data:<id>           hash: its claims' at and payload  RedisSessions (kept for a lease)
 *   bucket:<limit key>        when the bucket is full again     RedisLimits (expires once full)
 *   block:<limit key>         when the block ends               RedisLimits (expires once ended)
 *   open:<limit key>          hash holder → count               RedisLimits
 *   holder:<holder>           set of limit keys it holds open   RedisLimits
 *   channel bus:<topic>       pub/sub                           RedisBus
 *
 * The adapters target one Redis server (or a primary with replicas), not Redis Cluster: a
 * compare-and-set touches a value and the shared version counter, and `claimDue` (the claims
 * of silent processes) and `release` (a holder's counts) reach keys named inside their scripts.
 */
import { Redis } from 'ioredis';

/** Where the adapters keep their state: a Redis URL (`redis://host:port/db`) or a client, and the prefix. */
export interface RedisOptions {
  /** A `redis://` or `rediss://` URL; the adapter makes (and at `close`, ends) its own connection. */
  url?: string;
  /** A client to use instead (the adapter leaves it open at `close`). Not for RedisBus, which needs two connections of its own. */
  client?: Redis;
  /** Put before every key and channel (default `nextauth:`). */
  prefix?: string;
  /** Called with errors of the connection (default: a line on stderr). ioredis reconnects by itself. */
  onError?: (error: Error) => void;
}

export const DEFAULT_PREFIX = 'nextauth:';

/**
 * A new ioredis client for `url`. Commands made in the same tick go out as one pipeline
 * (`enableAutoPipelining`); while the connection is down they wait and are sent again on
 * reconnect, failing after ioredis's default retries.
 */
export function redisClient(url: string, name: string, onError?: (error: Error) => void): Redis {
  const client = new Redis(url, { connectionName: name, enableAutoPipelining: true });
  client.on('error', onError ?? ((error: Error) => console.error(`Redis (${name}): ${error.message}`)));
  return client;
}

/** A client of the adapter's own (from `url`) or the one given, and whether the adapter ends it. */
export function clientOf(options: RedisOptions, name: string): { client: Redis; owned: boolean } {
  if (options.client) return { client: options.client, owned: false };
  if (!options.url) throw new TypeError(`${name}: a Redis url or client is needed`);
  return { client: redisClient(options.url, name, options.onError), owned: true };
}

/**
 * Resolves when `client` is connected and answers PING within `ms`; rejects at once, saying so,
 * while it is not connected (ioredis would hold the command until it reconnects), and when the
 * answer is late. For readiness checks (GET /readyz).
 */
export async function ping(client: Redis, ms = 2000): Promise<void> {
  if (client.status !== 'ready') throw new Error(`Redis is not connected (${client.status})`);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer PING within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([client.ping(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves once `client` is connected (at once when it is); rejects after `ms` without a
 * connection, with the last connection error, if any. For a process's start: refuse to start
 * rather than queue every command while Redis cannot be reached.
 */
export function connected(client: Redis, ms = 10_000): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let last: Error | undefined;
    const onError = (error: Error) => (last = error);
    const done = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
    };
    const onReady = () => {
      done();
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no connection within ${ms} ms${last ? `: ${last.message}` : ''}`));
    }, ms);
    client.on('ready', onReady);
    client.on('error', onError);
  });
}

/** A Lua script, sent by SHA (EVALSHA, falling back to EVAL once per connection, as ioredis does). */
export type Script = (...keysThenArgs: (string | number)[]) => Promise<unknown>;

/** Defines `lua` (taking `keys` keys, then arguments) on `client` as the command `name`. */
export function defineScript(client: Redis, name: string, keys: number, lua: string): Script {
  client.defineCommand(name, { lua, numberOfKeys: keys });
  const command = (client as unknown as Record<string, Script>)[name]!;
  return (...args) => command.apply(client, args);
}

/** `text` with the glob characters of SCAN's MATCH escaped. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * Deletes every key starting with `prefix` (SCAN, then UNLINK in batches); resolves how many.
 * For tests and for removing a deployment; never called by the adapters themselves.
 */
export async function dropKeys(client: Redis, prefix: string): Promise<number> {
  if (!prefix) throw new RangeError('dropKeys: an empty prefix would delete every key');
  let cursor = '0';
  let dropped = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) dropped += await client.unlink(...keys);
  } while (cursor !== '0');
  return dropped;
}
