/**
 * The Limits port on Redis: the counts of every limit of PROTOCOL.md §7 shared by all the
 * processes of a cluster (§8), so a limit holds whatever process a client reaches. Keys under
 * the prefix (connect.ts):
 *
 * - `bucket:<key>`: a token bucket as one number, the time it is full again (GCRA), exactly as
 *   MemoryLimits keeps it (src/adapters/memory/limits.ts): a take of cost c moves it
 *   c × windowMs / limit later, and is refused when that would put it more than windowMs past
 *   `now`. One Lua script reads the block, reads and moves the bucket: takes from every process
 *   are applied one at a time, so none over-allows. The arithmetic is the memory adapter's, in
 *   the same IEEE doubles (Lua's numbers), and the time is stored with 17 significant digits, so
 *   both adapters give the same answers to the same calls. A full bucket is the same as none, so
 *   the key expires once the bucket is full again (plus a second, for clocks apart).
 * - `log:<key>`: a sliding log (`admit`) as a sorted set of the times it logged (a random member
 *   each). One Lua script drops the times that left the window, reads the block, the count and
 *   the newest, and logs `now` when it may: the memory adapter's rule, applied one call at a
 *   time. The key expires once the newest time has left the window.
 * - `block:<key>`: when the block ends; a later block replaces it, an earlier one does not. It
 *   expires a second after it ends, counted on this process's clock (`clock`, default the real
 *   one; give the same clock as the rest of the server, so a simulated one works).
 * - `open:<key>`: a hash holder → how many that holder has open; the count is their sum. And
 *   `holder:<holder>`: the keys the holder has something open on, so `release` finds them. No
 *   TTL: connections stay open as long as they like; a process that died leaves its counts until
 *   `release(its holder)` (at start, by whoever knows it is gone).
 *
 * Times are the callers' (`now` of `take` and `blockedUntil`), never Redis's.
 */
import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { checkLog, type Limits, type Rate, type SlidingLog, type Take } from '../../ports.ts';
import { clientOf, DEFAULT_PREFIX, defineScript, ping, type RedisOptions, type Script } from './connect.ts';

/** Keys outlive what they hold by this much (ms): a key gone early would be a full bucket, or no block. */
const SLACK_MS = 1000;

/** The start of TAKE and ADMIT (KEYS[2] the block, ARGV[1] now): a blocked key is refused until the block ends. */
const REFUSE_WHILE_BLOCKED = `
local now = tonumber(ARGV[1])
local blocked = redis.call('GET', KEYS[2])
if blocked then
  blocked = tonumber(blocked)
  if blocked > now then return {0, 0, string.format('%.17g', blocked - now)} end
end
`;

/**
 * KEYS: bucket, block. ARGV: now, limit, windowMs, cost, slack (ms).
 * Returns {allowed 0/1, remaining, retryAfterMs as text (exact)}.
 */
const TAKE = `${REFUSE_WHILE_BLOCKED}local limit, window, cost = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local interval = window / limit
local full = now
local stored = redis.call('GET', KEYS[1])
if stored then full = math.max(tonumber(stored), now) end
local nextFull = full + interval * cost
if nextFull - now > window + 1e-9 then return {0, 0, string.format('%.17g', math.ceil(nextFull - now - window))} end
redis.call('SET', KEYS[1], string.format('%.17g', nextFull), 'PX', string.format('%d', math.ceil(nextFull - now) + tonumber(ARGV[5])))
return {1, math.floor((window - (nextFull - now)) / interval + 1e-9), '0'}`;

/**
 * KEYS: log, block. ARGV: now, limit, windowMs, gapMs, member, slack (ms).
 * Returns {allowed 0/1, remaining, retryAfterMs as text (exact)}.
 */
const ADMIT = `${REFUSE_WHILE_BLOCKED}local limit, window, gap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now - window))
local n = redis.call('ZCARD', KEYS[1])
local retry = 0
if n >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
  retry = math.ceil(tonumber(oldest[2]) + window - now)
end
if n > 0 then
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  retry = math.max(retry, math.ceil(tonumber(newest[2]) + gap - now))
end
if retry > 0 then return {0, 0, string.format('%.17g', retry)} end
redis.call('ZADD', KEYS[1], string.format('%.17g', now), ARGV[5])
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.max(1, math.ceil(tonumber(newest[2]) + window - now)) + tonumber(ARGV[6])))
return {1, limit - n - 1, '0'}`;

/** KEYS: block. ARGV: until (as JavaScript prints it), ttl (ms). */
const BLOCK = `
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

/** KEYS: open:<key>, holder:<holder>. ARGV: key, holder, delta. Returns the count of the key. */
const OPEN = `
local mine = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0') + tonumber(ARGV[3])
if mine > 0 then
  redis.call('HSET', KEYS[1], ARGV[2], mine)
  redis.call('SADD', KEYS[2], ARGV[1])
else
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('SREM', KEYS[2], ARGV[1])
end
local total = 0
for _, n in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(n) end
return total`;

/** KEYS: holder:<holder>. ARGV: holder, the prefix of open keys. */
const RELEASE = `
local keys = redis.call('SMEMBERS', KEYS[1])
for _, key in ipairs(keys) do redis.call('HDEL', ARGV[2] .. key, ARGV[1]) end
redis.call('DEL', KEYS[1])
return #keys`;

/** What TAKE and ADMIT return: allowed 0/1, remaining, the wait in ms as exact text. */
type Reply = [allowed: number, remaining: number, retryAfterMs: string];
const taken = ([allowed, remaining, retry]: Reply): Take => ({ allowed: allowed === 1, remaining, retryAfterMs: Number(retry) });

export interface RedisLimitsOptions extends RedisOptions {
  /** The clock blocks expire by (the `now` a block has no argument for); default the real one. */
  clock?: { now(): number };
}

export class RedisLimits implements Limits {
  readonly prefix: string;
  readonly #redis: Redis;
  readonly #owned: boolean;
  readonly #clock: { now(): number };
  readonly #take: Script;
  readonly #admit: Script;
  readonly #block: Script;
  readonly #openScript: Script;
  readonly #release: Script;
  #closed = false;

  /** A connection of this process to the limits under `prefix` (every process names the same). */
  constructor(options: RedisLimitsOptions) {
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#clock = options.clock ?? Date;
    ({ client: this.#redis, owned: this.#owned } = clientOf(options, 'nextauth-limits'));
    this.#take = defineScript(this.#redis, 'nextauthLimitTake', 2, TAKE);
    this.#admit = defineScript(this.#redis, 'nextauthLimitAdmit', 2, ADMIT);
    this.#block = defineScript(this.#redis, 'nextauthLimitBlock', 1, BLOCK);
    this.#openScript = defineScript(this.#redis, 'nextauthLimitOpen', 2, OPEN);
    this.#release = defineScript(this.#redis, 'nextauthLimitRelease', 1, RELEASE);
  }

  async take(key: string, rate: Rate, now: number, cost = 1): Promise<Take> {
    this.#check();
    if (!(rate.limit > 0) || !(rate.windowMs > 0) || !(cost > 0)) throw new RangeError(`Limits.take(${key}): a rate needs a limit, a window and a cost above 0`);
    if (!Number.isFinite(now)) throw new RangeError(`Limits.take(${key}): 'now' is not a time`);
    const p = this.prefix;
    const reply = (await this.#take(`${p}bucket:${key}`, `${p}block:${key}`, String(now), String(rate.limit), String(rate.windowMs), String(cost), SLACK_MS)) as Reply;
    return taken(reply);
  }

  async admit(key: string, log: SlidingLog, now: number): Promise<Take> {
    this.#check();
    checkLog(key, log);
    if (!Number.isFinite(now)) throw new RangeError(`Limits.admit(${key}): 'now' is not a time`);
    const p = this.prefix;
    const member = randomBytes(6).toString('base64url');
    const reply = (await this.#admit(`${p}log:${key}`, `${p}block:${key}`, String(now), String(log.limit), String(log.windowMs), String(log.gapMs), member, SLACK_MS)) as Reply;
    return taken(reply);
  }

  async block(key: string, until: number): Promise<void> {
    this.#check();
    if (Number.isNaN(until)) return; // no time: blocks nothing (as a time in the past)
    const ttl = Math.min(Math.max(0, Math.ceil(until - this.#clock.now())), 2 ** 40) + SLACK_MS;
    await this.#block(`${this.prefix}block:${key}`, String(until), ttl);
  }

  async blockedUntil(key: string, now: number): Promise<number | undefined> {
    this.#check();
    const until = await this.#redis.get(`${this.prefix}block:${key}`);
    if (until === null) return undefined;
    const at = Number(until);
    return at > now ? at : undefined;
  }

  async open(key: string, delta: 1 | -1, holder: string): Promise<number> {
    this.#check();
    if (delta !== 1 && delta !== -1) throw new RangeError(`Limits.open(${key}): delta is 1 or -1`);
    return (await this.#openScript(`${this.prefix}open:${key}`, `${this.prefix}holder:${holder}`, key, holder, delta)) as number;
  }

  async release(holder: string): Promise<void> {
    this.#check();
    await this.#release(`${this.prefix}holder:${holder}`, holder, `${this.prefix}open:`);
  }

  /** Resolves when the connection is up and Redis answers (within `ms`); rejects saying why not. */
  async ping(ms?: number): Promise<void> {
    this.#check();
    await ping(this.#redis, ms);
  }

  /** Ends this process's connection (one it was given stays open); the counts stay in Redis. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) await this.#redis.quit();
  }

  #check(): void {
    if (this.#closed) throw new Error('RedisLimits: closed');
  }
}
