/**
 * `com.nextauth.refusal`: a request or frame about a known virtual server was refused, with its
 * code and the client's address. Refusals are what an attacker can make at will, so they are
 * written at most `perMinute` per (server, source) and minute in this process; the ones left out
 * are one more event when the minute is over (`data.suppressed`: how many; `code`: the last one's),
 * so what is kept per source lasts a minute. Unknown servers have no events (an event
 * belongs to a server's trail).
 */
import type { Logger } from 'pino';
import type { Store } from '../../ports.ts';
import { isServerId } from '../crypto/ids.ts';
import { newEvent } from './new-event.ts';

export class RefusalEvents {
  /** (serverid, source) → refusals written this minute, those left out, and the last code left out */
  private counts = new Map<string, { serverid: string; source: string | undefined; channel: string; written: number; suppressed: number; code: string }>();
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
      // A new minute: what was left out in the last one is one event each, and the counts start again.
      this.minute = Math.floor(at / 60_000);
      for (const c of this.counts.values()) if (c.suppressed > 0) this.write(c.serverid, c.code, c.source, c.channel, at, c.suppressed);
      this.counts.clear();
    }
    const k = `${serverid}\0${source ?? ''}`;
    let c = this.counts.get(k);
    if (!c) this.counts.set(k, (c = { serverid, source, channel, written: 0, suppressed: 0, code }));
    if (c.written >= this.perMinute) {
      c.suppressed++;
      c.code = code;
      c.channel = channel;
      return;
    }
    c.written++;
    this.write(serverid, code, source, channel, at, 0);
  }

  private write(serverid: string, code: string, source: string | undefined, channel: string, at: number, suppressed: number): void {
    void (async () => {
      if (!(await this.store.get('server', serverid))) return;
      await this.store.transact((tx) => tx.emit(newEvent('com.nextauth.refusal', serverid, { source, data: { code, channel, ...(suppressed ? { suppressed } : {}) } }, at)));
    })().catch((err: unknown) => this.log?.warn({ err, serverid }, 'could not write a refusal event'));
  }
}
