/**
 * The Limits port in one process.
 *
 * Rates are token buckets kept as one number per key, the time the bucket will be full again
 * (GCRA: each take of cost c moves it c × windowMs / limit later; a take that would move it
 * more than windowMs past now is refused). A full bucket is the same as no entry, so entries
 * whose time has passed are dropped by a sweep that runs when the map has doubled since the
 * last one: memory follows the keys active within a window, and each take costs O(1) amortised.
 * Sliding logs (`admit`) are the times within the window, at most `limit` of them, swept the
 * same way once the newest has left its window.
 */
import { checkLog, type Limits, type Rate, type SlidingLog, type Take } from '../../ports.ts';

/** Sweep no more often than this many entries (a small map is never swept). */
const SWEEP_FLOOR = 1024;

export class MemoryLimits implements Limits {
  /** key → when its bucket is full again (ms). */
  readonly #buckets = new Map<string, number>();
  /** key → the times it logged (ascending), and when the newest leaves its window (ms). */
  readonly #logs = new Map<string, { times: number[]; until: number }>();
  /** key → when its block ends (ms). */
  readonly #blocks = new Map<string, number>();
  /** key → holder → how many it holds open. */
  readonly #open = new Map<string, Map<string, number>>();
  #sweepAt = SWEEP_FLOOR;
  #closed = false;

  async take(key: string, rate: Rate, now: number, cost = 1): Promise<Take> {
    this.#check();
    if (!(rate.limit > 0) || !(rate.windowMs > 0) || !(cost > 0)) throw new RangeError(`Limits.take(${key}): a rate needs a limit, a window and a cost above 0`);
    const blocked = this.#blocks.get(key);
    if (blocked !== undefined && blocked > now) return { allowed: false, remaining: 0, retryAfterMs: blocked - now };
    const interval = rate.windowMs / rate.limit;
    const full = Math.max(this.#buckets.get(key) ?? now, now);
    const next = full + interval * cost;
    if (next - now > rate.windowMs + 1e-9) return { allowed: false, remaining: 0, retryAfterMs: Math.ceil(next - now - rate.windowMs) };
    this.#buckets.set(key, next);
    this.#sweep(now);
    return { allowed: true, remaining: Math.floor((rate.windowMs - (next - now)) / interval + 1e-9), retryAfterMs: 0 };
  }

  async admit(key: string, log: SlidingLog, now: number): Promise<Take> {
    this.#check();
    checkLog(key, log);
    const blocked = this.#blocks.get(key);
    if (blocked !== undefined && blocked > now) return { allowed: false, remaining: 0, retryAfterMs: blocked - now };
    const times = (this.#logs.get(key)?.times ?? []).filter((t) => now - t < log.windowMs);
    const retry = logRetry(times, log, now);
    if (retry > 0) return { allowed: false, remaining: 0, retryAfterMs: retry };
    const at = times.findIndex((t) => t > now);
    times.splice(at === -1 ? times.length : at, 0, now);
    this.#logs.set(key, { times, until: times.at(-1)! + log.windowMs });
    this.#sweep(now);
    return { allowed: true, remaining: log.limit - times.length, retryAfterMs: 0 };
  }

  async block(key: string, until: number): Promise<void> {
    this.#check();
    if ((this.#blocks.get(key) ?? Number.NEGATIVE_INFINITY) < until) this.#blocks.set(key, until);
  }

  async blockedUntil(key: string, now: number): Promise<number | undefined> {
    this.#check();
    const until = this.#blocks.get(key);
    if (until === undefined) return undefined;
    if (until > now) return until;
    this.#blocks.delete(key);
    return undefined;
  }

  async open(key: string, delta: 1 | -1, holder: string): Promise<number> {
    this.#check();
    let holders = this.#open.get(key);
    if (!holders) this.#open.set(key, (holders = new Map()));
    const mine = Math.max(0, (holders.get(holder) ?? 0) + delta);
    if (mine === 0) holders.delete(holder);
    else holders.set(holder, mine);
    let total = 0;
    for (const n of holders.values()) total += n;
    if (total === 0) this.#open.delete(key);
    return total;
  }

  async release(holder: string): Promise<void> {
    this.#check();
    for (const [key, holders] of this.#open) {
      holders.delete(holder);
      if (holders.size === 0) this.#open.delete(key);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** Drops full buckets and ended blocks once the maps have doubled since the last sweep. */
  #sweep(now: number): void {
    if (this.#buckets.size + this.#blocks.size + this.#logs.size < this.#sweepAt) return;
    for (const [key, full] of this.#buckets) if (full <= now) this.#buckets.delete(key);
    for (const [key, { until }] of this.#logs) if (until <= now) this.#logs.delete(key);
    for (const [key, until] of this.#blocks) if (until <= now) this.#blocks.delete(key);
    this.#sweepAt = Math.max(SWEEP_FLOOR, 2 * (this.#buckets.size + this.#blocks.size + this.#logs.size));
  }

  #check(): void {
    if (this.#closed) throw new Error('MemoryLimits: closed');
  }

  /** Entries held (tests: memory follows the active keys). */
  get size(): number {
    return this.#buckets.size + this.#blocks.size + this.#logs.size + this.#open.size;
  }
}

/** ms until a log holding `times` (ascending, all within the window) admits one more: 0 now. */
function logRetry(times: number[], log: SlidingLog, now: number): number {
  const full = times.length >= log.limit ? times[times.length - log.limit]! + log.windowMs - now : 0;
  const last = times.at(-1);
  const soon = last === undefined ? 0 : last + log.gapMs - now;
  return Math.max(0, Math.ceil(full), Math.ceil(soon));
}
