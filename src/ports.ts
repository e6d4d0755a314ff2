/**
 * The persistence interface. Everything outside `src/store/` sees only this, so another
 * implementation (PostgreSQL, Redis) can replace the lowdb one.
 */
import type { Data } from './adapters/lowdb/data.ts';

/** The keys leading from the top of the data to one object in it. */
export type StorePath = readonly string[];

export interface Store<T = Data> {
  /** The current data. Read it freely; change it only inside `update` or with `patch`. */
  readonly data: Readonly<T>;
  /**
   * Applies `change` at once (synchronously, so readers see it in order) and resolves with its
   * result once the change is on disk. Many changes made while a write is running share the next
   * write. A `change` must check everything before it mutates anything: a throw must leave the
   * data as it was (it rejects and nothing is written for it).
   */
  update<R>(change: (data: T) => R): Promise<R>;
  /**
   * Sets `fields` on the object at `path` (a field given as undefined is removed) at once, and
   * resolves once that is on disk. For small, frequent changes (a login's time, a saved
   * session): they cost far less than an `update`. Rejects, changing nothing, when there is no
   * object at `path`.
   */
  patch(path: StorePath, fields: Record<string, unknown>): Promise<void>;
  /** Resolves when everything changed so far is on disk. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** How many changes were asked for, how many file writes carried them, and how many of those were whole-file writes. */
  readonly stats: { changes: number; writes: number; snapshots: number };
}

// ---- Sessions, Bus, Clock -------------------------------------------------------------------
// Session state lives behind these, so that any process can apply any event (DESIGN.md: a
// session event reads its snapshot, computes the next one with XState's pure `transition()`,
// writes it back with compare-and-set, then runs the actions). One process: the memory adapters
// (src/adapters/memory/). A cluster: Redis.

/** A JSON value: what crosses a port that may live in another process. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A session's stored value, as the Sessions port keeps it (opaque to the port). */
export interface StoredSession {
  /** XState's persisted snapshot of the session machine. */
  snapshot: Json;
  /** When the session entered its current state (ms since epoch). */
  since: number;
}

/** A session's value with the version a compare-and-set write must name. */
export interface Versioned<T> {
  value: T;
  /** Increases with every write of this key; never 0 for a stored value. */
  version: number;
}

/** A timer of a session (an XState `after` delay, a challenge limit…), due at `at`. */
export interface Deadline {
  /** The session key (`serverid:hsid`) it belongs to. */
  key: string;
  /** Which timer of that session; adding the same (key, name) again replaces it. */
  name: string;
  /** When it is due (ms since epoch). */
  at: number;
  /** What to do when it fires (an event for the machine); carried as it was given. */
  payload?: Json;
}

export interface Sessions {
  get(key: string): Promise<Versioned<StoredSession> | undefined>;
  /**
   * Writes `value` when the stored version is `version` (0: only when the key is absent).
   * Resolves the new version, or undefined when another write came first (read again, retry).
   */
  put(key: string, value: StoredSession, version: number): Promise<number | undefined>;
  /** Removes the key when its version is `version`; false when another write came first. */
  delete(key: string, version: number): Promise<boolean>;
  /** Adds (or replaces) the deadline (key, name). */
  addDeadline(deadline: Deadline): Promise<void>;
  /** Cancels the deadline (key, name); nothing when there is none. */
  cancelDeadline(key: string, name: string): Promise<void>;
  /**
   * Removes and returns the deadlines due at `now` (at most `limit`, earliest first). Each
   * deadline is returned by exactly one call, whichever process makes it.
   */
  claimDue(now: number, limit?: number): Promise<Deadline[]>;
  /** When the earliest deadline is due, if there is one (to sleep until then). */
  nextDue(): Promise<number | undefined>;
  close(): Promise<void>;
}

/**
 * Messages between processes, by topic: a session's updates go to every process whose browsers
 * watch it (`session:<key>`); a frame for a phone goes to the process holding its connection
 * (`peer:<id>`). Delivery is asynchronous, in publish order per topic, and each subscriber gets
 * its own copy (as JSON would carry it).
 */
export interface Bus {
  publish(topic: string, message: Json): Promise<void>;
  /** Resolves once subscribed (messages published after that reach `handler`); returns the unsubscribe. */
  subscribe(topic: string, handler: (message: Json) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Time and timers: the real ones, or XState's SimulatedClock in tests. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}
