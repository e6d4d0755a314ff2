/**
 * An app connection for hub tests: records every call the hub makes to it, in order.
 */
import type { AppPeer, SessionKey, Shown } from '../../src/core/hub.ts';
import type { VerifyOutput } from '../../machines/session.ts';

export class RecordingPeer implements AppPeer {
  readonly calls: unknown[][] = [];
  /** Runs inside `accepted` (to call back into the hub, as the app channel may). */
  onAccepted?: (session: SessionKey, shown: Shown) => void;
  /** Each peer its own source address unless one is given. */
  constructor(
    readonly id: string,
    readonly source = `source-${id}`,
  ) {}
  accepted(session: SessionKey, shown: Shown): void {
    this.calls.push(['accepted', session, shown]);
    this.onAccepted?.(session, shown);
  }
  refused(code: string): void {
    this.calls.push(['refused', code]);
  }
  confirmed(session: SessionKey, output: VerifyOutput): void {
    this.calls.push(['confirmed', session, output]);
  }
  ping(session: SessionKey, n: number): void {
    this.calls.push(['ping', session, n]);
  }
  transaction(content: Record<string, unknown>): void {
    this.calls.push(['transaction', content]);
  }
  clear(): void {
    this.calls.length = 0;
  }
}
