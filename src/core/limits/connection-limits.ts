/**
 * Open WebSocket connections per source (PROTOCOL.md §7: 256 by default, all paths together):
 * past it an upgrade is refused `429` with `Retry-After`. Counted through the Limits port under
 * this process's name, so a cluster counts every node's connections and a node that died can
 * have its counts dropped.
 */
import type { Limits } from '../../ports.ts';

export class ConnectionLimits {
  constructor(
    private readonly limits: Limits,
    private readonly max: number,
    /** This process (a holder of counts). */
    private readonly holder: string,
  ) {}

  /** One more connection of `source`: its release (call once, when it closes), or undefined when past the limit. */
  async admit(source: string): Promise<(() => void) | undefined> {
    const key = `ws:${source}`;
    const count = await this.limits.open(key, 1, this.holder);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      void this.limits.open(key, -1, this.holder).catch(() => undefined);
    };
    if (count > this.max) {
      release();
      return undefined;
    }
    return release;
  }
}
