/**
 * The persistence interface. Everything outside `src/store/` sees only this, so another
 * implementation (PostgreSQL, Redis) can replace the lowdb one.
 */
import type { Data } from './data.ts';

export interface Store<T = Data> {
  /** The current data. Read it freely; change it only inside `update`. */
  readonly data: Readonly<T>;
  /**
   * Applies `change` at once (synchronously, so readers see it in order) and resolves with its
   * result once the change is on disk. Many changes made while a write is running share the next
   * write. A `change` must check everything before it mutates anything: a throw must leave the
   * data as it was (it rejects and nothing is written for it).
   */
  update<R>(change: (data: T) => R): Promise<R>;
  /** Resolves when everything changed so far is on disk. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** How many changes were asked for, and how many file writes carried them. */
  readonly stats: { changes: number; writes: number };
}
