/**
 * Enrol codes (PROTOCOL.md §3): one per session, single-use, valid 10 minutes from issue and for
 * one challenge limit after it is first scanned.
 */
import { NsError } from '../../wire/errors.ts';
import type { EnrolCodeRecord } from '../../adapters/lowdb/data.ts';
import type { Store } from '../../ports.ts';
import type { Limits } from '../../config.ts';

export const enrolKey = (serverid: string, hsid: string) => `${serverid}:${hsid}`;

/** How often `issue` looks for dead codes to remove. */
const PRUNE_EVERY = 60_000;

export class Enrolment {
  private pruned = 0;

  constructor(
    private readonly store: Store,
    private readonly limits: Pick<Limits, 'enrol' | 'challenge'>,
  ) {}

  /** getQrEnrol: a fresh code for the session (it replaces an unused earlier one); dead codes go at most once a minute. */
  issue(serverid: string, hsid: string, name: string, userid: string | undefined, now: number): Promise<EnrolCodeRecord> {
    const code: EnrolCodeRecord = { serverid, hsid, name, created: now };
    if (userid !== undefined) code.userid = userid;
    const fields: Record<string, EnrolCodeRecord | undefined> = {};
    if (now - this.pruned >= PRUNE_EVERY) {
      this.pruned = now;
      for (const [key, old] of Object.entries(this.store.data.enrolCodes)) if (now - old.created > this.limits.enrol) fields[key] = undefined;
    }
    fields[enrolKey(serverid, hsid)] = code;
    return this.store.patch(['enrolCodes'], fields).then(() => code);
  }

  /** The code of the session if it can still be used at `now`; ENROL_USED otherwise. */
  usable(serverid: string, hsid: string, now: number): EnrolCodeRecord {
    const code = this.store.data.enrolCodes[enrolKey(serverid, hsid)];
    if (!code || !this.isLive(code, now)) throw new NsError('ENROL_USED');
    return code;
  }

  /** Marks the first scan (the code then lives one challenge limit more). */
  markScanned(code: EnrolCodeRecord, now: number): void {
    if (code.scanned !== undefined) return;
    // Not awaited (the hello is not a durable change); a failed write leaves the code unscanned.
    this.store.patch(['enrolCodes', enrolKey(code.serverid, code.hsid)], { scanned: now }).catch(() => undefined);
  }

  /** Uses the code inside the change that creates the account. */
  useInChange(codes: Record<string, EnrolCodeRecord>, code: EnrolCodeRecord, now: number): void {
    const live = codes[enrolKey(code.serverid, code.hsid)];
    if (!live || live !== code || !this.isLive(live, now)) throw new NsError('ENROL_USED');
    live.used = now;
  }

  private isLive(code: EnrolCodeRecord, now: number): boolean {
    if (code.used !== undefined) return false;
    if (now - code.created > this.limits.enrol) return false;
    return code.scanned === undefined || now - code.scanned <= this.limits.challenge;
  }
}
