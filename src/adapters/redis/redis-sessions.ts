/**
 * The Sessions port on Redis, shared by every process of a cluster (PROTOCOL.md §8). Keys under
 * the prefix (connect.ts):
 *
 * - `value:<key>`: a hash {v: version, d: the value as JSON text}. `put` and `delete` are Lua
 *   scripts that compare `v` with the version named and write (or delete) in the same step, so
 *   of writers naming one version exactly one wins, whatever process they run in. Values have no
 *   TTL of their own: the hub deletes a session when it ends (a session's last deadline makes it
 *   do so), so a value outlives its session only while some process is about to delete it.
 * - `version`: one counter for every key (INCR), the version of each write. A key deleted and
 *   created again therefore never repeats a version of its earlier life (no ABA), and deleting
 *   leaves nothing behind (no tombstone).
 * - `deadlines`: a sorted set of `JSON [key, name]` scored by `at`; `deadline-payloads`: a hash
 *   of the same members → payload JSON (only those that have one). Adding (key, name) again
 *   replaces member, score and payload in one script.
 * - `set:<name>`: a Redis set (SADD/SREM/SMEMBERS); Redis drops a set once it is empty.
 *
 * `claimDue` is one Lua script (ZRANGEBYSCORE … LIMIT, ZREM, HMGET, HDEL): Redis runs a script
 * alone, so of processes racing, each deadline is taken by exactly one call. A process can die
 * between taking deadlines and acting on them (the port's caller, the hub, applies each one);
 * so that none is lost, each claim is also noted for one lease (`claimLeaseMs`, Redis's clock)
 * as this process's (`claims:<id>` by when, `claim-data:<id>` with at and payload), and the
 * process keeps `alive:<id>` (listed in `claimers`) for a lease, renewed by a heartbeat. When
 * a process has been silent for a lease, the next `claimDue` of any other puts back the claims
 * it made in its last lease (unless that deadline was added again since), so another process
 * fires them. The hub acts on a deadline only while the session still expects it (its `timers`,
 * src/ports.ts), and a session's writes are compare-and-set, so one that was fired just before
 * its process went silent does nothing the second time: each deadline takes effect once. A
 * process that closes normally drops its claims (the hub has waited for them).
 *
 * Redis here may keep nothing on disk: restarted, it is empty. So that the hub can put back what
 * it keeps elsewhere (`onLost`), `epoch` names the data Redis holds: a random value set when
 * missing. Each connection reads it when it connects (and again at every `claimDue`, which also
 * catches data emptied under a live connection); a value other than the one it read before means
 * the data it knew is gone. Whichever process comes first sets the new epoch; each notices once.
 *
 * `at` is kept as a Redis score, a double, as JavaScript numbers are: exact for every time. Times
 * are the callers' (the `now` given to `claimDue`), never Redis's, so a simulated clock works;
 * only the claim lease counts in Redis's time.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Redis } from 'ioredis';
import type { Deadline, Json, Sessions, StoredSession, Versioned } from '../../ports.ts';
import { clientOf, connected, DEFAULT_PREFIX, defineScript, ping, type RedisOptions, type Script } from './connect.ts';

/** KEYS: value, counter. ARGV: version expected ('0': absent), JSON text. The new version, or nil. */
const PUT = `
local current = redis.call('HGET', KEYS[1], 'v')
if (current or '0') ~= ARGV[1] then return false end
local version = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'v', version, 'd', ARGV[2])
return version`;

/** KEYS: value. ARGV: version. 1 when deleted. */
const DELETE = `
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`;

/** KEYS: epoch. ARGV: a new epoch. The epoch of the data Redis holds (the new one if it had none). */
const EPOCH = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`;

/** KEYS: deadlines, payloads. ARGV: member, at, payload JSON ('' for none). */
const ADD_DEADLINE = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if ARGV[3] == '' then redis.call('HDEL', KEYS[2], ARGV[1]) else redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end`;

/** KEYS: deadlines, payloads. ARGV: member. */
const CANCEL_DEADLINE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])`;

/** Lua: drops the claims of `claims`/`data` made before `before` (ms, Redis's clock): handled by now. */
const PRUNE = `
local function prune(claims, data, before)
  while true do
    local old = redis.call('ZRANGEBYSCORE', claims, '-inf', before, 'LIMIT', 0, 1000)
    if #old == 0 then return end
    redis.call('ZREM', claims, unpack(old))
    redis.call('HDEL', data, unpack(old))
  end
end
local clock = redis.call('TIME')
local ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)`;

/**
 * KEYS: deadlines, payloads, claimers, alive:<me>, claims:<me>, claim-data:<me>.
 * ARGV: now, limit, me, lease (ms), prefix.
 *
 * Marks this process alive for a lease; gives back what processes silent for a lease had claimed
 * (unless the deadline was added again since: the newer stays); takes the earliest `limit` due
 * at `now` off the deadlines, notes them as this process's claims, and returns them flat:
 * member, score (as Redis prints it: exact), payload or nil, ….
 */
const CLAIM_DUE = `${PRUNE}
local lease = tonumber(ARGV[4])
redis.call('SET', KEYS[4], '1', 'PX', lease)
redis.call('SADD', KEYS[3], ARGV[3])
prune(KEYS[5], KEYS[6], ms - lease)
for _, other in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if other ~= ARGV[3] and redis.call('EXISTS', ARGV[5] .. 'alive:' .. other) == 0 then
    local data = ARGV[5] .. 'claim-data:' .. other
    local held = redis.call('HGETALL', data)
    for i = 1, #held, 2 do
      local text = held[i + 1]
      local space = string.find(text, ' ', 1, true)
      local at = space and string.sub(text, 1, space - 1) or text
      if redis.call('ZADD', KEYS[1], 'NX', at, held[i]) == 1 and space then
        redis.call('HSET', KEYS[2], held[i], string.sub(text, space + 1))
      end
    end
    redis.call('DEL', data, ARGV[5] .. 'claims:' .. other)
    redis.call('SREM', KEYS[3], other)
  end
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
local n = #due / 2
if n == 0 then return {} end
local members = {}
for i = 1, n do members[i] = due[2 * i - 1] end
redis.call('ZREM', KEYS[1], unpack(members))
local payloads = redis.call('HMGET', KEYS[2], unpack(members))
redis.call('HDEL', KEYS[2], unpack(members))
local out, when, what = {}, {}, {}
for i = 1, n do
  out[3 * i - 2] = members[i]
  out[3 * i - 1] = due[2 * i]
  out[3 * i] = payloads[i]
  when[2 * i - 1] = ms
  when[2 * i] = members[i]
  what[2 * i - 1] = members[i]
  what[2 * i] = payloads[i] and (due[2 * i] .. ' ' .. payloads[i]) or due[2 * i]
end
redis.call('ZADD', KEYS[5], unpack(when))
redis.call('HSET', KEYS[6], unpack(what))
return out`;

/** KEYS: alive:<me>, claims:<me>, claim-data:<me>, claimers. ARGV: lease (ms), me. */
const HEARTBEAT = `${PRUNE}
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('SADD', KEYS[4], ARGV[2])
prune(KEYS[2], KEYS[3], ms - tonumber(ARGV[1]))`;

/** KEYS: alive:<me>, claims:<me>, claim-data:<me>, claimers. ARGV: me. */
const LEAVE = `
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])`;

/**
 * The most one script claims: a `claimDue` without a limit (or a larger one) runs it again until
 * fewer come back, so Redis is never held for long, and Lua's `unpack` stays within its stack.
 */
const CLAIM_CHUNK = 1000;

/** A Redis score for `at`: '+inf' / '-inf' for the infinities (what Redis understands). */
function score(at: number): string {
  return at === Number.POSITIVE_INFINITY ? '+inf' : at === Number.NEGATIVE_INFINITY ? '-inf' : String(at);
}

/** A score as Redis prints it, back to the number (Redis prints the shortest exact form, or 'inf'). */
function time(score: string): number {
  return score === 'inf' ? Number.POSITIVE_INFINITY : score === '-inf' ? Number.NEGATIVE_INFINITY : Number(score);
}

export interface RedisSessionsOptions extends RedisOptions {
  /**
   * How long deadlines this process claimed stay noted as its own, and how long it may stay
   * silent before others give them back (ms; default 15,000). Its heartbeat runs three times a
   * lease; a process that dies delays its claimed deadlines by about a lease.
   */
  claimLeaseMs?: number;
}

export const DEFAULT_CLAIM_LEASE_MS = 15_000;

export class RedisSessions implements Sessions {
  readonly prefix: string;
  /** This process's name among the claimers (host, pid, a random part). */
  readonly id = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  readonly #redis: Redis;
  readonly #owned: boolean;
  readonly #lease: number;
  readonly #onError: (error: Error) => void;
  readonly #keys: { version: string; epoch: string; deadlines: string; payloads: string; claimers: string; alive: string; claims: string; claimData: string };
  readonly #put: Script;
  readonly #delete: Script;
  readonly #addDeadline: Script;
  readonly #cancelDeadline: Script;
  readonly #claimDue: Script;
  readonly #heartbeat: Script;
  readonly #leave: Script;
  readonly #epoch: Script;
  /** The epoch of the data this connection knows (undefined: not read yet). */
  #seen: string | undefined;
  readonly #lostHandlers = new Set<() => void>();
  readonly #connectedAgain = () => void this.#checkData();
  #beating: NodeJS.Timeout | undefined;
  #closed = false;

  /** A connection of this process to the sessions under `prefix` (every process names the same). */
  constructor(options: RedisSessionsOptions) {
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#lease = options.claimLeaseMs ?? DEFAULT_CLAIM_LEASE_MS;
    if (!(this.#lease >= 10)) throw new RangeError('RedisSessions: claimLeaseMs must be at least 10 ms');
    this.#onError = options.onError ?? ((error) => console.error(`RedisSessions: ${error.message}`));
    ({ client: this.#redis, owned: this.#owned } = clientOf(options, 'nextauth-sessions'));
    const p = this.prefix;
    this.#keys = {
      version: `${p}version`,
      epoch: `${p}epoch`,
      deadlines: `${p}deadlines`,
      payloads: `${p}deadline-payloads`,
      claimers: `${p}claimers`,
      alive: `${p}alive:${this.id}`,
      claims: `${p}claims:${this.id}`,
      claimData: `${p}claim-data:${this.id}`,
    };
    this.#put = defineScript(this.#redis, 'nextauthSessionPut', 2, PUT);
    this.#delete = defineScript(this.#redis, 'nextauthSessionDelete', 1, DELETE);
    this.#addDeadline = defineScript(this.#redis, 'nextauthDeadlineAdd', 2, ADD_DEADLINE);
    this.#cancelDeadline = defineScript(this.#redis, 'nextauthDeadlineCancel', 2, CANCEL_DEADLINE);
    this.#claimDue = defineScript(this.#redis, 'nextauthDeadlineClaim', 6, CLAIM_DUE);
    this.#heartbeat = defineScript(this.#redis, 'nextauthClaimerHeartbeat', 4, HEARTBEAT);
    this.#leave = defineScript(this.#redis, 'nextauthClaimerLeave', 4, LEAVE);
    this.#epoch = defineScript(this.#redis, 'nextauthSessionsEpoch', 1, EPOCH);
    // (Read once connected: nothing waits in ioredis's queue for a Redis that cannot be reached.)
    if (this.#redis.status === 'ready') void this.#checkData();
    this.#redis.on('ready', this.#connectedAgain);
  }

  /** Reads the epoch (see the top of this file); when it changed, the data is gone: tells the `onLost` handlers. */
  #checkData(): Promise<void> {
    return (this.#epoch(this.#keys.epoch, randomBytes(8).toString('hex')) as Promise<string>).then(
      (epoch) => {
        const before = this.#seen;
        this.#seen = epoch;
        if (before === undefined || before === epoch || this.#closed) return;
        for (const handler of [...this.#lostHandlers]) {
          try {
            handler();
          } catch (error) {
            this.#onError(error as Error);
          }
        }
      },
      (error: Error) => {
        if (!this.#closed) this.#onError(error);
      },
    );
  }

  onLost(handler: () => void): () => void {
    this.#open();
    const call = () => handler();
    this.#lostHandlers.add(call);
    return () => void this.#lostHandlers.delete(call);
  }

  #value(key: string): string {
    return `${this.prefix}value:${key}`;
  }

  #set(name: string): string {
    return `${this.prefix}set:${name}`;
  }

  async get(key: string): Promise<Versioned<StoredSession> | undefined> {
    this.#open();
    const [version, text] = await this.#redis.hmget(this.#value(key), 'v', 'd');
    if (version == null || text == null) return undefined;
    return { value: JSON.parse(text) as StoredSession, version: Number(version) };
  }

  async version(key: string): Promise<number | undefined> {
    this.#open();
    const version = await this.#redis.hget(this.#value(key), 'v');
    return version == null ? undefined : Number(version);
  }

  async put(key: string, value: StoredSession, version: number): Promise<number | undefined> {
    this.#open();
    const text = JSON.stringify(value);
    if (typeof text !== 'string') throw new TypeError(`Sessions.put(${key}): the value is not JSON`);
    // No stored value has a version that is not a whole number ≥ 0 (and String() of one is what Redis keeps).
    if (!Number.isSafeInteger(version) || version < 0) return undefined;
    const next = await this.#put(this.#value(key), this.#keys.version, String(version), text);
    return next == null ? undefined : Number(next);
  }

  async delete(key: string, version: number): Promise<boolean> {
    this.#open();
    if (!Number.isSafeInteger(version) || version <= 0) return false;
    return (await this.#delete(this.#value(key), String(version))) === 1;
  }

  async addDeadline(deadline: Deadline): Promise<void> {
    this.#open();
    const { key, name, at, payload } = deadline;
    if (typeof at !== 'number' || Number.isNaN(at)) throw new TypeError(`Sessions.addDeadline(${key}, ${name}): 'at' is not a time`);
    const text = payload === undefined ? '' : JSON.stringify(payload);
    if (typeof text !== 'string') throw new TypeError(`Sessions.addDeadline(${key}, ${name}): the payload is not JSON`);
    await this.#addDeadline(this.#keys.deadlines, this.#keys.payloads, JSON.stringify([key, name]), score(at), text);
  }

  async cancelDeadline(key: string, name: string): Promise<void> {
    this.#open();
    await this.#cancelDeadline(this.#keys.deadlines, this.#keys.payloads, JSON.stringify([key, name]));
  }

  async claimDue(now: number, limit = Number.POSITIVE_INFINITY): Promise<Deadline[]> {
    this.#open();
    this.#startHeartbeat();
    // (Sent with the first claim, in one round trip.)
    const checked = this.#checkData();
    limit = Math.ceil(limit);
    const k = this.#keys;
    const due: Deadline[] = [];
    let chunks = 0;
    while (due.length < limit) {
      const want = Math.min(CLAIM_CHUNK, limit - due.length);
      const flat = (await this.#claimDue(k.deadlines, k.payloads, k.claimers, k.alive, k.claims, k.claimData, score(now), want, this.id, this.#lease, this.prefix)) as (
        | string
        | null
      )[];
      chunks++;
      for (let i = 0; i < flat.length; i += 3) {
        const [key, name] = JSON.parse(flat[i]!) as [string, string];
        const deadline: Deadline = { key, name, at: time(flat[i + 1]!) };
        const payload = flat[i + 2];
        if (payload != null) deadline.payload = JSON.parse(payload) as Json;
        due.push(deadline);
      }
      if (flat.length / 3 < want) break;
    }
    // Each chunk is earliest first; one added meanwhile may be earlier than a chunk before it.
    if (chunks > 1) due.sort((a, b) => a.at - b.at);
    await checked;
    return due;
  }

  async nextDue(): Promise<number | undefined> {
    this.#open();
    const [, at] = await this.#redis.zrange(this.#keys.deadlines, '0', '0', 'WITHSCORES');
    return at === undefined ? undefined : time(at);
  }

  async addMember(set: string, key: string): Promise<void> {
    this.#open();
    await this.#redis.sadd(this.#set(set), key);
  }

  async removeMember(set: string, key: string): Promise<void> {
    this.#open();
    await this.#redis.srem(this.#set(set), key);
  }

  async members(set: string): Promise<string[]> {
    this.#open();
    return this.#redis.smembers(this.#set(set));
  }

  /**
   * Ends this process's use of the sessions: its claims are dropped (the caller has acted on
   * them), and its connection ended (one it was given stays open). The sessions stay in Redis.
   */
  /** Resolves when the connection is up and Redis answers (within `ms`); rejects saying why not. */
  async ping(ms?: number): Promise<void> {
    this.#open();
    await ping(this.#redis, ms);
  }

  /** Resolves once connected (a process's start), or rejects after `ms` saying why not. */
  async connected(ms?: number): Promise<void> {
    this.#open();
    await connected(this.#redis, ms);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#redis.off('ready', this.#connectedAgain);
    this.#lostHandlers.clear();
    if (this.#beating) {
      clearInterval(this.#beating);
      this.#beating = undefined;
      const k = this.#keys;
      await this.#leave(k.alive, k.claims, k.claimData, k.claimers, this.id).catch((error: Error) => this.#onError(error));
    }
    if (this.#owned) await this.#redis.quit();
  }

  /** From the first claim on, keeps this process's claims its own (see the top of this file). */
  #startHeartbeat(): void {
    if (this.#beating) return;
    const k = this.#keys;
    this.#beating = setInterval(
      () => void this.#heartbeat(k.alive, k.claims, k.claimData, k.claimers, this.#lease, this.id).catch((error: Error) => this.#onError(error)),
      Math.max(1, Math.floor(this.#lease / 3)),
    );
    this.#beating.unref();
  }

  #open(): void {
    if (this.#closed) throw new Error('RedisSessions: closed');
  }
}
