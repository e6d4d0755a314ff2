/**
 * Events that come with no record to write (a scan, a cancel, a push refused or lost): they wait
 * up to `LOOSE_MS` and are not waited for (nothing acknowledged depends on them). Every change
 * made through `store` takes the waiting ones first, whoever makes it (the hub's write-through of
 * a login, an enrolment, a REST change), so events stay in the order they happened and a scan's
 * event usually rides in the line of the change that follows it; when no change comes, they are
 * written by themselves. Before, each went in a change of its own: with one login at a time that
 * was a third journal write (and fdatasync) per login, beside the login's two.
 *
 * One per store: `LooseEvents.over(store)` gives the one over a store (made on first use), so the
 * hub, the push service and whoever else share it and its order.
 *
 * A write that fails (a full disk, a lost database) wrote nothing: the events it carried go back,
 * ahead of any since, and are tried again by themselves, after 50 ms, then twice as long after
 * each failure in a row, up to `MAX_RETRY_MS`. At most `MAX_WAITING` wait: past that the oldest
 * are dropped, with an error line (a store that never comes back cannot hold the process's memory).
 */
import type { NewEvent, Store, StoreTx, TransactOptions } from '../../ports.ts';
import { withTransact } from '../with-transact.ts';

/** How long an event waits for a change to take it before it is written by itself (ms). */
export const LOOSE_MS = 50;
/** The longest wait before events whose writes keep failing are tried again (ms). */
export const MAX_RETRY_MS = 10_000;
/** Events kept waiting at most (past it, the oldest are dropped). */
export const MAX_WAITING = 10_000;

interface Log {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The LooseEvents over each store (as `over` was given it), and over each store it hands out. */
const known = new WeakMap<Store, LooseEvents>();

export class LooseEvents {
  /** The store whose every change takes the waiting events first. */
  readonly store: Store;
  private waiting: NewEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The write of events alone under way (for `settled`). */
  private writing: Promise<void> | undefined;
  /** Writes that failed in a row (0: the last one went through); the next try waits LOOSE_MS × 2^(failures − 1), at most MAX_RETRY_MS. */
  private failures = 0;
  /** Events dropped since the last write that went through (past MAX_WAITING). */
  private dropped = 0;

  /** The LooseEvents over `store` (one per store: the one made first, or a new one). */
  static over<S extends Store>(store: S, log?: Log): LooseEvents {
    let loose = known.get(store);
    if (!loose) {
      loose = new LooseEvents(store, log);
      known.set(store, loose);
      known.set(loose.store, loose);
    }
    return loose;
  }

  private constructor(
    inner: Store,
    private readonly log?: Log,
  ) {
    const transact = <R>(change: (tx: StoreTx) => R | Promise<R>, options?: TransactOptions): Promise<R> => {
      // Taken once: a store may run a change again (PostgreSQL, after a conflict), and only its last run counts.
      let taken: NewEvent[] | undefined;
      let refused = false;
      const carried = () => taken !== undefined && taken.length > 0;
      const wentThrough = () => {
        if (carried()) this.failures = this.dropped = 0;
      };
      // Nor does a write that fails: its events go back (or stay, if it failed before taking them), tried again later.
      const failed = () => {
        if (refused || !(carried() || this.waiting.length > 0)) return;
        this.failures++;
        if (carried()) this.putBack(taken!);
        else this.writeSoon();
      };
      // A lazy change resolves before its write: how the write went is told to `written`.
      const written = options?.written;
      const lazy: TransactOptions | undefined = written && {
        ...options,
        written: (error?: unknown) => {
          if (error === undefined) wentThrough();
          else failed();
          written(error);
        },
      };
      return inner
        .transact(async (tx) => {
          taken ??= this.take();
          for (const e of taken) tx.emit(e);
          try {
            return await change(tx);
          } catch (e) {
            // A change that is refused writes nothing: its events go back, ahead of any since.
            refused = true;
            this.putBack(taken);
            taken = [];
            throw e;
          }
        }, lazy ?? options)
        .then(
          (result) => {
            if (!lazy) wentThrough();
            return result;
          },
          (err: unknown) => {
            failed();
            throw err;
          },
        );
    };
    this.store = withTransact(inner, transact);
  }

  /** An event to write with the next change (or by itself within LOOSE_MS). */
  add(event: NewEvent): void {
    this.waiting.push(event);
    this.writeSoon();
  }

  /** Writes the waiting events now (a change of their own). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.write();
    return this.settled();
  }

  /** Resolves once the events added so far are written, or their write failed (logged; they are tried again later). */
  async settled(): Promise<void> {
    while ((this.timer && this.failures === 0) || this.writing) {
      if (this.writing) await this.writing;
      else await new Promise((resolve) => setTimeout(resolve, LOOSE_MS));
    }
  }

  private take(): NewEvent[] {
    const taken = this.waiting;
    this.waiting = [];
    return taken;
  }

  private putBack(events: NewEvent[]): void {
    if (events.length === 0) return;
    this.waiting = [...events, ...this.waiting];
    this.writeSoon();
  }

  /** Writes the waiting events by themselves in LOOSE_MS (or the backoff's time after failures), unless that is already asked (or a change takes them first). */
  private writeSoon(): void {
    const over = this.waiting.length - MAX_WAITING;
    if (over > 0) {
      const dropped = this.waiting.splice(0, over);
      // One line when the dropping starts; the count goes on in each failed write's line.
      if (this.dropped === 0)
        this.log?.error({ code: 'STORAGE_UNAVAILABLE', first: dropped[0]!.id, failures: this.failures }, 'events dropped: too many wait for a store that keeps failing');
      this.dropped += over;
    }
    if (this.timer) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.write();
      },
      this.failures === 0 ? LOOSE_MS : Math.min(MAX_RETRY_MS, LOOSE_MS * 2 ** (this.failures - 1)),
    );
    // A store that keeps failing does not keep the process from ending.
    if (this.failures > 0) this.timer.unref();
  }

  private write(): void {
    if (this.waiting.length === 0) return;
    const count = this.waiting.length;
    const run: Promise<void> = this.store
      .transact(() => undefined)
      .catch((err: unknown) => this.log?.warn({ err, events: count, ...(this.dropped > 0 ? { dropped: this.dropped } : {}) }, 'could not write events'))
      .finally(() => {
        if (this.writing === run) this.writing = undefined;
      });
    this.writing = run;
  }
}
