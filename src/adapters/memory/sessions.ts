/**
 * The Sessions port in one process: session values in a Map, deadlines in an indexed binary
 * min-heap. Several `MemorySessions` may share one `MemorySessionStore` (as processes share
 * one Redis), so tests can run several "processes" against the same sessions.
 *
 * Values are kept as JSON text, never as the caller's objects: `put` stores
 * `JSON.stringify(value)` and `get` hands out `JSON.parse(text)`, so neither side can change
 * the other by mutating what it gave or got, and values cross this port exactly as they would
 * cross Redis (JSON). Measured on Node 20 for a ~1 KiB session snapshot: structuredClone and a
 * JSON round trip each cost ~9–10 µs, while `JSON.stringify` alone (a put) costs ~4.5 µs and
 * `JSON.parse` alone (a get) ~4.5–6 µs — one copy per call instead of two — and the text takes
 * ~1.3 KiB of heap per session against ~2.4 KiB for a cloned object.
 *
 * Deadlines: the heap is ordered by (at, order of adding) and indexed by key (each session's few
 * timers in a list, found by name), so
 * `addDeadline` (adding or replacing), `cancelDeadline` and each deadline `claimDue` returns
 * cost O(log n), and `nextDue` O(1). JavaScript runs one call at a time, so a deadline taken off
 * the heap by one `claimDue` is never seen by another: each is claimed exactly once.
 */
import type { Deadline, Json, Sessions, StoredSession, Versioned } from '../../ports.ts';

interface Entry {
  /** The value as JSON text. */
  text: string;
  version: number;
}

interface Timer {
  key: string;
  name: string;
  at: number;
  /** The payload as JSON text (undefined: none was given). */
  payload: string | undefined;
  /** Breaks ties between equal `at`: the one added (or replaced) first comes first. */
  seq: number;
  /** Where it is in the heap array. */
  index: number;
  /** The next timer of the same key (a session has one to three). */
  next: Timer | undefined;
}

/**
 * Payload texts are few and repeated (a machine's timer events): each distinct one is kept once,
 * up to this many (a resting session's deadline then costs no text of its own).
 */
const MAX_INTERNED = 10_000;

/** A binary min-heap of deadlines by (at, seq), with each deadline's place kept in it. */
export class DeadlineHeap {
  readonly #heap: Timer[] = [];
  /** key → its timers (a list through `next`): one map slot per session, not a string per timer. */
  readonly #byKey = new Map<string, Timer>();
  readonly #texts = new Map<string, string>();
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  /** Forgets every deadline. */
  clear(): void {
    this.#heap.length = 0;
    this.#byKey.clear();
  }

  /** The earliest deadline's time. */
  peek(): number | undefined {
    return this.#heap[0]?.at;
  }

  /** Adds the deadline, or moves the existing (key, name) to its new time and payload. */
  add(key: string, name: string, at: number, payload: string | undefined): void {
    if (payload !== undefined) payload = this.#intern(payload);
    const existing = this.#find(key, name);
    if (existing) {
      const earlier = at < existing.at;
      existing.at = at;
      existing.payload = payload;
      existing.seq = ++this.#seq;
      if (earlier) this.#up(existing.index);
      else this.#down(existing.index);
      return;
    }
    const timer: Timer = { key, name, at, payload, seq: ++this.#seq, index: this.#heap.length, next: undefined };
    timer.next = this.#byKey.get(key);
    this.#byKey.set(key, timer);
    this.#heap.push(timer);
    this.#up(timer.index);
  }

  /** Removes the deadline (key, name); false when there is none. */
  remove(key: string, name: string): boolean {
    const timer = this.#find(key, name);
    if (!timer) return false;
    this.#unlink(timer);
    const last = this.#heap.pop()!;
    if (last !== timer) {
      this.#place(last, timer.index);
      this.#up(last.index);
      this.#down(last.index);
    }
    return true;
  }

  /** Takes the earliest deadline off the heap when it is due at `now`. */
  popDue(now: number): Timer | undefined {
    const top = this.#heap[0];
    if (!top || top.at > now) return undefined;
    this.#unlink(top);
    const last = this.#heap.pop()!;
    if (last !== top) {
      this.#place(last, 0);
      this.#down(0);
    }
    return top;
  }

  #find(key: string, name: string): Timer | undefined {
    for (let t = this.#byKey.get(key); t; t = t.next) if (t.name === name) return t;
    return undefined;
  }

  /** Takes the timer out of its key's list. */
  #unlink(timer: Timer): void {
    const first = this.#byKey.get(timer.key);
    if (first === timer) {
      if (timer.next) this.#byKey.set(timer.key, timer.next);
      else this.#byKey.delete(timer.key);
    } else {
      for (let t = first; t; t = t.next) {
        if (t.next === timer) {
          t.next = timer.next;
          break;
        }
      }
    }
    timer.next = undefined;
  }

  #intern(text: string): string {
    const known = this.#texts.get(text);
    if (known !== undefined) return known;
    if (this.#texts.size < MAX_INTERNED) this.#texts.set(text, text);
    return text;
  }

  #before(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #place(timer: Timer, index: number): void {
    this.#heap[index] = timer;
    timer.index = index;
  }

  #up(index: number): void {
    const heap = this.#heap;
    const timer = heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (!this.#before(timer, parent)) break;
      this.#place(parent, index);
      index = parentIndex;
    }
    this.#place(timer, index);
  }

  #down(index: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const timer = heap[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.#before(heap[right]!, heap[left]!) ? right : left;
      if (!this.#before(heap[child]!, timer)) break;
      this.#place(heap[child]!, index);
      index = child;
    }
    this.#place(timer, index);
  }
}

/** What several `MemorySessions` share when they stand for processes sharing one store. */
export class MemorySessionStore {
  readonly entries = new Map<string, Entry>();
  readonly deadlines = new DeadlineHeap();
  /** Sets of keys by name (an empty set is removed). */
  readonly sets = new Map<string, Set<string>>();
  /**
   * The last version given to any write. One counter for every key, so a key deleted and
   * created again never repeats a version an old reader may still hold.
   */
  version = 0;
  /** The `onLost` handlers of every MemorySessions on this store. */
  readonly lostHandlers = new Set<() => void>();

  /**
   * Forgets every value, deadline and set, as a Redis restarted without its data would, and
   * tells every MemorySessions on this store at once (tests of what the hub does then). Versions
   * go on counting.
   */
  lose(): void {
    this.entries.clear();
    this.deadlines.clear();
    this.sets.clear();
    for (const handler of [...this.lostHandlers]) handler();
  }
}

export class MemorySessions implements Sessions {
  readonly store: MemorySessionStore;
  #closed = false;

  /** A new, empty store; or another "process" on `store` (`new MemorySessions(other.store)`). */
  constructor(store: MemorySessionStore = new MemorySessionStore()) {
    this.store = store;
  }

  async get(key: string): Promise<Versioned<StoredSession> | undefined> {
    this.#open();
    const entry = this.store.entries.get(key);
    return entry && { value: JSON.parse(entry.text) as StoredSession, version: entry.version };
  }

  async version(key: string): Promise<number | undefined> {
    this.#open();
    return this.store.entries.get(key)?.version;
  }

  async put(key: string, value: StoredSession, version: number): Promise<number | undefined> {
    this.#open();
    const entry = this.store.entries.get(key);
    if ((entry?.version ?? 0) !== version) return undefined;
    const text = JSON.stringify(value);
    if (typeof text !== 'string') throw new TypeError(`Sessions.put(${key}): the value is not JSON`);
    const next = ++this.store.version;
    this.store.entries.set(key, { text, version: next });
    return next;
  }

  async delete(key: string, version: number): Promise<boolean> {
    this.#open();
    const entry = this.store.entries.get(key);
    if (!entry || entry.version !== version) return false;
    this.store.entries.delete(key);
    return true;
  }

  async addDeadline(deadline: Deadline): Promise<void> {
    this.#open();
    const { key, name, at, payload } = deadline;
    if (typeof at !== 'number' || Number.isNaN(at)) throw new TypeError(`Sessions.addDeadline(${key}, ${name}): 'at' is not a time`);
    this.store.deadlines.add(key, name, at, payload === undefined ? undefined : JSON.stringify(payload));
  }

  async cancelDeadline(key: string, name: string): Promise<void> {
    this.#open();
    this.store.deadlines.remove(key, name);
  }

  async claimDue(now: number, limit = Number.POSITIVE_INFINITY): Promise<Deadline[]> {
    this.#open();
    const due: Deadline[] = [];
    while (due.length < limit) {
      const timer = this.store.deadlines.popDue(now);
      if (!timer) break;
      const deadline: Deadline = { key: timer.key, name: timer.name, at: timer.at };
      if (timer.payload !== undefined) deadline.payload = JSON.parse(timer.payload) as Json;
      due.push(deadline);
    }
    return due;
  }

  async nextDue(): Promise<number | undefined> {
    this.#open();
    return this.store.deadlines.peek();
  }

  async addMember(set: string, key: string): Promise<void> {
    this.#open();
    const members = this.store.sets.get(set);
    if (members) members.add(key);
    else this.store.sets.set(set, new Set([key]));
  }

  async removeMember(set: string, key: string): Promise<void> {
    this.#open();
    const members = this.store.sets.get(set);
    if (members?.delete(key) && members.size === 0) this.store.sets.delete(set);
  }

  async members(set: string): Promise<string[]> {
    this.#open();
    return [...(this.store.sets.get(set) ?? [])];
  }

  /** The store lives as long as the processes sharing it: it loses its data only when a test says so (`store.lose()`). */
  onLost(handler: () => void): () => void {
    this.#open();
    const call = () => {
      if (!this.#closed) handler();
    };
    this.store.lostHandlers.add(call);
    return () => void this.store.lostHandlers.delete(call);
  }

  /** Ends this "process"'s use of the store; the store itself, and others sharing it, go on. */
  async close(): Promise<void> {
    this.#closed = true;
  }

  #open(): void {
    if (this.#closed) throw new Error('MemorySessions: closed');
  }
}
