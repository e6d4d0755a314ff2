/**
 * Enrol codes (PROTOCOL.md §3): one per session, single-use, valid 10 minutes from issue and for
 * one challenge limit after it is first scanned.
 */
import { NsError } from '../../wire/errors.ts';
import type { EnrolCodeRecord, Store, StoreTx } from '../../ports.ts';
import type { Limits } from '../../config.ts';

/** How often `issue` looks for dead codes to remove, and how many it removes at once. */
const PRUNE_EVERY = 60_000;
const PRUNE_BATCH = 1000;

export class Enrolment {
  private pruned = 0;

  constructor(
    private readonly store: Store,
    private readonly limits: Pick<Limits, 'enrol' | 'challenge'>,
  ) {}

  /** getQrEnrol: a fresh code for the session (it replaces an unused earlier one); dead codes go at most once a minute. */
  async issue(serverid: string, hsid: string, name: string, userid: string | undefined, now: number): Promise<EnrolCodeRecord> {
    const code: EnrolCodeRecord = { serverid, hsid, name, created: now };
    if (userid !== undefined) code.userid = userid;
    let stale: EnrolCodeRecord[] = [];
    if (now - this.pruned >= PRUNE_EVERY) {
      this.pruned = now;
      stale = await this.store.staleEnrolCodes(now - this.limits.enrol, PRUNE_BATCH);
    }
    await this.store.transact((tx) => {
      for (const old of stale) tx.delete('enrolCode', [old.serverid, old.hsid]);
      tx.put('enrolCode', [serverid, hsid], code);
    });
    return code;
  }

  /** The code of the session if it can still be used at `now`; ENROL_USED otherwise. */
  async usable(serverid: string, hsid: string, now: number): Promise<EnrolCodeRecord> {
    const code = await this.store.get('enrolCode', serverid, hsid);
    if (!code || !this.isLive(code, now)) throw new NsError('ENROL_USED');
    return code;
  }

  /** Marks the first scan (the code then lives one challenge limit more). */
  markScanned(code: EnrolCodeRecord, now: number): void {
    if (code.scanned !== undefined) return;
    // Not awaited (the hello is not a durable change); a failed write leaves the code unscanned.
    this.store
      .transact(async (tx) => {
        const live = await tx.get('enrolCode', code.serverid, code.hsid);
        if (live && live.scanned === undefined && live.created === code.created) tx.patch('enrolCode', [code.serverid, code.hsid], { scanned: now });
      })
      .catch(() => undefined);
  }

  /** Uses the code inside the change that creates the account. */
  async useInChange(tx: StoreTx, code: EnrolCodeRecord, now: number): Promise<void> {
    const live = await tx.get('enrolCode', code.serverid, code.hsid);
    if (!live || live.created !== code.created || !this.isLive(live, now)) throw new NsError('ENROL_USED');
    tx.patch('enrolCode', [code.serverid, code.hsid], { used: now });
  }

  private isLive(code: EnrolCodeRecord, now: number): boolean {
    if (code.used !== undefined) return false;
    if (now - code.created > this.limits.enrol) return false;
    return code.scanned === undefined || now - code.scanned <= this.limits.challenge;
  }
}
