/**
 * Events that come with no record to write (a scan, a cancel, a push refused or lost): written
 * together, one change per turn of the event loop, and not waited for (nothing acknowledged
 * depends on them). A change that writes records takes the waiting ones first (`takeInto`), so
 * events stay in the order they happened.
 */
import type { NewEvent, Store, StoreTx } from '../../ports.ts';

export class LooseEvents {
  private waiting: NewEvent[] = [];

  constructor(
    private readonly store: Store,
    /** Keeps the write (the owner's `settled()` waits for it). */
    private readonly track: (work: Promise<unknown>) => void,
    private readonly log?: { warn(obj: object, msg: string): void },
  ) {}

  add(event: NewEvent): void {
    this.waiting.push(event);
    if (this.waiting.length === 1) this.track(new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.write()));
  }

  /** Puts the waiting events in `tx`, ahead of its own. */
  takeInto(tx: StoreTx): void {
    for (const e of this.waiting.splice(0)) tx.emit(e);
  }

  private async write(): Promise<void> {
    const events = this.waiting.splice(0);
    if (events.length === 0) return; // (a change took them)
    await this.store
      .transact((tx) => {
        for (const e of events) tx.emit(e);
      })
      .catch((err: unknown) => this.log?.warn({ err, events: events.length }, 'could not write events'));
  }
}
