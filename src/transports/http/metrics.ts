/** Prometheus metrics of the NS (served at GET /metrics). */
import client from 'prom-client';

export interface MetricSources {
  /** Changes asked of each store, the file writes that carried them (coalescing), and the files written whole (whole writes and folds). */
  stores: Record<string, { changes: number; writes: number; snapshots: number }>;
  /** Live session actors per state. */
  liveSessions: () => Record<string, number>;
}

export function createMetrics(sources?: MetricSources) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  if (sources) {
    const storeGauges = {
      changes: 'Changes asked of the store since start',
      writes: 'File writes of the store since start that carried changes (coalesced): journal appends, and whole-file writes at start and after a failed append',
      snapshots: 'Files written whole since start: at start and stop, and the folds of a journal into its file (beside the appends)',
    } as const;
    for (const [field, help] of Object.entries(storeGauges) as [keyof typeof storeGauges, string][]) {
      new client.Gauge({
        name: `nextauth_store_${field}`,
        help,
        labelNames: ['store'] as const,
        registers: [registry],
        collect() {
          for (const [store, stats] of Object.entries(sources.stores)) this.set({ store }, stats[field]);
        },
      });
    }
    new client.Gauge({
      name: 'nextauth_sessions_live',
      help: 'Live session actors by state',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [state, n] of Object.entries(sources.liveSessions())) this.set({ state }, n);
      },
    });
  }
  return {
    registry,
    httpRequests: new client.Counter({
      name: 'nextauth_http_requests_total',
      help: 'REST requests by operation and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new client.Histogram({
      name: 'nextauth_http_request_duration_seconds',
      help: 'REST request latency by operation',
      labelNames: ['method', 'route'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    appFrames: new client.Counter({
      name: 'nextauth_app_frames_total',
      help: 'App channel frames by type and direction',
      labelNames: ['t', 'dir'] as const,
      registers: [registry],
    }),
    refusals: new client.Counter({
      name: 'nextauth_refusals_total',
      help: 'Refusals by error code and channel',
      labelNames: ['code', 'channel'] as const,
      registers: [registry],
    }),
    logins: new client.Counter({ name: 'nextauth_logins_total', help: 'Successful logins and enrolments', labelNames: ['op'] as const, registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
