/**
 * `com.nextauth.refusal`: a request or frame about a known virtual server was refused, with its
 * code and the client's address. Refusals are what an attacker can make at will, so they are
 * written at most `perMinute` per (server, source) and minute in this process; the ones left out
 * are counted in the next one's `data.suppressed`. Unknown servers have no events (an event
 * belongs to a server's trail).
 */
import type { Logger } from 'pino';
import type { Store } from '../../ports.ts';
import { isServerId } from '../crypto/ids.ts';
import { newEvent } from './new-event.ts';

export class RefusalEvents {
  /** (serverid, source) → written this minute, and left out since the last one written */
  private counts = new Map<string, { written: number; suppressed: number }>();
  private minute = 0;

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
    private readonly log?: Logger,
    private readonly perMinute = 10,
  ) {}

  record(serverid: string | undefined, code: string, source: string | undefined, channel: string): void {
    if (serverid === undefined || !isServerId(serverid)) return;
    const at = this.now();
    if (Math.floor(at / 60_000) !== this.minute) {
      this.minute = Math.floor(at / 60_000);
      // A new minute: counts start again (those with some left out keep that number).
      for (const [k, c] of this.counts) if (c.suppressed === 0) this.counts.delete(k);
      for (const c of this.counts.values()) c.written = 0;
    }
    const k = `${serverid}\0${source ?? ''}`;
    let c = this.counts.get(k);
    if (!c) this.counts.set(k, (c = { written: 0, suppressed: 0 }));
    if (c.written >= this.perMinute) {
      c.suppressed++;
      return;
    }
    c.written++;
    const suppressed = c.suppressed;
    c.suppressed = 0;
    void (async () => {
      if (!(await this.store.get('server', serverid))) return;
      await this.store.transact((tx) => tx.emit(newEvent('com.nextauth.refusal', serverid, { source, data: { code, channel, ...(suppressed ? { suppressed } : {}) } }, at)));
    })().catch((err: unknown) => this.log?.warn({ err, serverid }, 'could not write a refusal event'));
  }
}
