/**
 * Retention: events older than the retention, and with `keep` those past the newest `keep`, leave
 * the outbox (and the audit trail), the oldest first, a bounded number per write, at start and
 * then every `everyMs`. Each process of a
 * cluster does it; the deletes of one make the others' find less.
 */
import type { Logger } from 'pino';
import type { Store } from '../../ports.ts';

const BATCH = 1000;

export interface Pruning {
  /** ms events are kept */
  retentionMs: number;
  /** events kept at most (0: no limit) */
  keep: number;
  /** ms between two prunes */
  everyMs: number;
}

export function pruneEventsEvery(store: Store, { retentionMs, keep, everyMs }: Pruning, log?: Logger, now: () => number = Date.now): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const run = async () => {
    let gone = 0;
    for (let n = BATCH; n === BATCH && !stopped; ) {
      n = await store.pruneEvents(now() - retentionMs, BATCH, keep > 0 ? keep : undefined);
      gone += n;
    }
    if (gone > 0) log?.info({ events: gone }, keep > 0 ? 'events older than the retention, or past the most kept, removed' : 'events older than the retention removed');
  };
  const tick = () => {
    run()
      .catch((err: unknown) => log?.warn({ err }, 'could not remove old events'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, everyMs).unref();
      });
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
