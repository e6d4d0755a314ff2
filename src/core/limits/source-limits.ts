/**
 * The app channel's limits per source address (PROTOCOL.md §2, §7): `hello`s per source, every
 * one counted (refused ones too) and checked before anything else; failed proofs per source,
 * past which the source's `hello`s are refused for a while, on every session. A failed proof
 * never locks a session: a stranger who saw a QR code could lock its owner out that way.
 *
 * Counted through the Limits port, so a cluster shares the counts.
 */
import type { Limits as Settings } from '../../config.ts';
import type { Clock, Limits } from '../../ports.ts';
import { NsError, type ErrorCode } from '../../wire/errors.ts';

/** The refusals of a proof that count as a failed proof (not SESSION_BUSY, not ENROL_USED). */
export const FAILED_PROOF_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'BAD_BOX',
  'BAD_MESSAGE',
  'BAD_SIGNATURE',
  'UNKNOWN_ACCOUNT',
  'ACCOUNT_BLOCKED',
  'SECOND_FACTOR_REQUIRED',
]);

export class SourceLimits {
  constructor(
    private readonly limits: Limits,
    private readonly settings: Pick<Settings, 'helloRate' | 'failedProofRate' | 'failedProofBlock'>,
    private readonly clock: Pick<Clock, 'now'>,
  ) {}

  /** A `hello` from `source`: counted, and refused RATE_LIMITED past the rate or while the source is blocked. */
  async admitHello(source: string): Promise<void> {
    const now = this.clock.now();
    const blocked = await this.limits.blockedUntil(`proofs:${source}`, now);
    const take = await this.limits.take(`hello:${source}`, this.settings.helloRate, now);
    if (blocked !== undefined) throw new NsError('RATE_LIMITED', 'Too many failed proofs from this address; try again later');
    if (!take.allowed) throw new NsError('RATE_LIMITED', 'Too many hellos from this address; try again later');
  }

  /** A proof from `source` was refused with `code`: a failed one is counted; the last one allowed blocks the source. */
  async refusedProof(source: string, code: string): Promise<void> {
    if (!FAILED_PROOF_CODES.has(code)) return;
    const now = this.clock.now();
    const take = await this.limits.take(`proof-failures:${source}`, this.settings.failedProofRate, now);
    if (!take.allowed || take.remaining === 0) await this.limits.block(`proofs:${source}`, now + this.settings.failedProofBlock);
  }
}
