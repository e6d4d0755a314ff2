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
