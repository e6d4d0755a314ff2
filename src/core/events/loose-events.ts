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
 */
import type { NewEvent, Store, StoreTx, TransactOptions } from '../../ports.ts';
import { withTransact } from '../with-transact.ts';

/** How long an event waits for a change to take it before it is written by itself (ms). */
export const LOOSE_MS = 50;

interface Log {
  warn(obj: object, msg: string): void;
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
      return inner.transact(async (tx) => {
        taken ??= this.take();
        for (const e of taken) tx.emit(e);
        try {
          return await change(tx);
        } catch (e) {
          // A change that is refused writes nothing: its events go back, ahead of any since.
          this.putBack(taken);
          taken = [];
          throw e;
        }
      }, options);
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

  /** Resolves once the events added so far are written (or their write failed, logged). */
  async settled(): Promise<void> {
    while (this.timer || this.writing) {
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

  /** Writes the waiting events by themselves in LOOSE_MS, unless that is already asked (or a change takes them first). */
  private writeSoon(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.write();
    }, LOOSE_MS);
  }

  private write(): void {
    if (this.waiting.length === 0) return;
    const count = this.waiting.length;
    const run: Promise<void> = this.store
      .transact(() => undefined)
      .catch((err: unknown) => this.log?.warn({ err, events: count }, 'could not write events'))
      .finally(() => {
        if (this.writing === run) this.writing = undefined;
      });
    this.writing = run;
  }
}
