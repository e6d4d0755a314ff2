/**
 * The lowdb store's events (the outbox), in memory beside the documents that keep them: per
 * server, every event in `seq` order, and the same per user, per account and per type, so that
 * an audit query walks only the events of its most selective condition, from the newest (or
 * from `before`, found by binary search) back. Events come in at the end (a change's events once
 * its journal line is on disk) and leave from the front (pruning takes the oldest): each list is
 * a queue over an array, O(1) at both ends.
 *
 * Times follow `seq` here (one process, one clock, changes committed one at a time in the order
 * they were made), so a time range is a range of each list, found by binary search too; a
 * server whose events came with times out of that order (a clock set back, events written with
 * their own times) has its time ranges checked event by event instead.
 */
import type { EventQuery, EventRecord } from '../../ports.ts';

/** A list in `seq` order: appended at the end, removed from the front. */
class Queue {
  private items: EventRecord[] = [];
  private start = 0;

  get length(): number {
    return this.items.length - this.start;
  }
  at(i: number): EventRecord {
    return this.items[this.start + i]!;
  }
  /** In `seq` order (almost always at the end: two documents' writes may finish out of order). */
  add(e: EventRecord): void {
    let i = this.items.length;
    while (i > this.start && this.items[i - 1]!.seq > e.seq) i--;
    this.items.splice(i, 0, e);
  }
  /** Removes the first, which must be `e`. */
  shift(e: EventRecord): void {
    if (this.items[this.start] !== e) throw new Error(`event ${e.seq} is not the oldest of its list`);
    this.items[this.start++] = undefined as unknown as EventRecord;
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
  }
  /** The first position whose event has `key(e) >= value` (the list is ascending in `key`). */
  lowerBound(key: (e: EventRecord) => number, value: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (key(this.at(mid)) < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

const bySeq = (e: EventRecord) => e.seq;
const byTime = (e: EventRecord) => e.time;

class ServerEvents {
  /** Whether times have followed `seq` so far (else a time range is checked event by event). */
  timesInOrder = true;
  lastTime = Number.NEGATIVE_INFINITY;
  readonly all = new Queue();
  readonly byUser = new Map<string, Queue>();
  readonly byAccount = new Map<number, Queue>();
  readonly byType = new Map<string, Queue>();
}

function listOf<K>(map: Map<K, Queue>, key: K): Queue {
  let q = map.get(key);
  if (!q) map.set(key, (q = new Queue()));
  return q;
}

export class EventLog {
  private readonly servers = new Map<string, ServerEvents>();
  /** Every server's events in `seq` order (pruning). */
  private readonly all = new Queue();
  /** The greatest `seq` given so far. */
  lastSeq = 0;

  /** The events the documents hold, at open. */
  static of(events: Iterable<EventRecord>): EventLog {
    const log = new EventLog();
    for (const e of [...events].sort((a, b) => a.seq - b.seq)) log.add(e);
    return log;
  }

  add(e: EventRecord): void {
    if (e.seq > this.lastSeq) this.lastSeq = e.seq;
    let s = this.servers.get(e.serverid);
    if (!s) this.servers.set(e.serverid, (s = new ServerEvents()));
    this.all.add(e);
    if (e.time < s.lastTime) s.timesInOrder = false;
    else s.lastTime = e.time;
    s.all.add(e);
    if (e.userid !== undefined) listOf(s.byUser, e.userid).add(e);
    if (e.account !== undefined) listOf(s.byAccount, e.account).add(e);
    listOf(s.byType, e.type).add(e);
  }

  /** The oldest events (in `seq` order) while older than `before` or more than `keep` are left, at most `limit`; they leave every list. */
  takeOldest(before: number, limit: number, keep = Number.POSITIVE_INFINITY): EventRecord[] {
    const out: EventRecord[] = [];
    while (out.length < limit && this.all.length > 0 && (this.all.at(0).time < before || this.all.length > keep)) {
      const e = this.all.at(0);
      this.all.shift(e);
      const s = this.servers.get(e.serverid)!;
      s.all.shift(e);
      const drop = <K>(map: Map<K, Queue>, key: K) => {
        const q = map.get(key)!;
        q.shift(e);
        if (q.length === 0) map.delete(key);
      };
      if (e.userid !== undefined) drop(s.byUser, e.userid);
      if (e.account !== undefined) drop(s.byAccount, e.account);
      drop(s.byType, e.type);
      if (s.all.length === 0) this.servers.delete(e.serverid);
      out.push(e);
    }
    return out;
  }

  /** The server's events after `seq`, in order, at most `limit`. */
  after(serverid: string, seq: number, limit: number): EventRecord[] {
    const q = this.servers.get(serverid)?.all;
    if (!q) return [];
    const out: EventRecord[] = [];
    for (let i = q.lowerBound(bySeq, seq + 1); i < q.length && out.length < limit; i++) out.push(q.at(i));
    return out;
  }

  /**
   * The audit query: from the smallest list its conditions name (several types: their lists
   * together), each walked from the newest event in range back until the page is full.
   */
  list(serverid: string, query: EventQuery): EventRecord[] {
    const s = this.servers.get(serverid);
    if (!s || query.limit <= 0) return [];
    const types = query.types?.length ? new Set(query.types) : undefined;
    const ordered = s.timesInOrder;
    const keep = (e: EventRecord) =>
      (query.userid === undefined || e.userid === query.userid) &&
      (query.account === undefined || e.account === query.account) &&
      (!types || types.has(e.type)) &&
      (ordered || ((query.from === undefined || e.time >= query.from) && (query.to === undefined || e.time < query.to)));
    const walk = (q: Queue): EventRecord[] => {
      let end = q.length;
      if (query.before !== undefined) end = Math.min(end, q.lowerBound(bySeq, query.before));
      if (ordered && query.to !== undefined) end = Math.min(end, q.lowerBound(byTime, query.to));
      const start = ordered && query.from !== undefined ? q.lowerBound(byTime, query.from) : 0;
      const out: EventRecord[] = [];
      for (let i = end - 1; i >= start && out.length < query.limit; i--) if (keep(q.at(i))) out.push(q.at(i));
      return out;
    };
    let single = s.all;
    if (query.userid !== undefined) single = smaller(single, s.byUser.get(query.userid));
    if (query.account !== undefined) single = smaller(single, s.byAccount.get(query.account));
    const typeLists = types ? [...types].map((t) => s.byType.get(t) ?? EMPTY) : [];
    if (types && typeLists.reduce((n, q) => n + q.length, 0) < single.length) {
      return typeLists
        .flatMap(walk)
        .sort((a, b) => b.seq - a.seq)
        .slice(0, query.limit);
    }
    return walk(single);
  }
}

const EMPTY = new Queue();
const smaller = (a: Queue, b: Queue | undefined): Queue => (b === undefined ? EMPTY : b.length < a.length ? b : a);
