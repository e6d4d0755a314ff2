/**
 * REST limits (PROTOCOL.md §7): requests per api key, and — to operations that need a key —
 * requests with a missing or unknown key per source (so guessing keys is slow). Past either, `429
 * RATE_LIMITED` with `Retry-After`, and nothing is done. Counted through the Limits port.
 */
import type { Limits as Settings } from '../../config.ts';
import type { Clock, Limits } from '../../ports.ts';
import { NsError } from '../../wire/errors.ts';

export class RestLimits {
  constructor(
    private readonly limits: Limits,
    private readonly settings: Pick<Settings, 'restRate' | 'restUnknownKeyRate'>,
    private readonly clock: Pick<Clock, 'now'>,
  ) {}

  /** A request made with the api key of `keyRole`. */
  async withKey(keyRole: string): Promise<void> {
    const take = await this.limits.take(`rest-key:${keyRole}`, this.settings.restRate, this.clock.now());
    if (!take.allowed) throw new NsError('RATE_LIMITED', 'Too many requests with this api key; try again later', { retryAfterMs: take.retryAfterMs });
  }

  /** A request without a known key from `source` (it is refused 401 unless this refuses it 429 first). */
  async withoutKey(source: string): Promise<void> {
    const take = await this.limits.take(`rest-nokey:${source}`, this.settings.restUnknownKeyRate, this.clock.now());
    if (!take.allowed) throw new NsError('RATE_LIMITED', 'Too many requests without a known api key from this address; try again later', { retryAfterMs: take.retryAfterMs });
  }
}
