/**
 * Prometheus metrics of the NS (served at GET /metrics; docs/grafana-dashboard.json graphs
 * them). Counters end in `_total`; latencies are histograms in seconds. Logins and enrolments
 * are counted per virtual server, which an operator may graph (a server id is no secret).
 */
import client from 'prom-client';
import { stateName } from '../../../machines/session.ts';
import type { AppliedEvent } from '../../core/hub.ts';
import type { Store, StoreTx, TransactOptions } from '../../ports.ts';
import { withTransact } from '../../core/with-transact.ts';

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
    const storeCounts = {
      changes: 'Changes asked of the store since start',
      writes: 'File writes of the store since start that carried changes (coalesced): journal appends, and whole-file writes at start and after a failed append',
      snapshots: 'Files written whole since start: at start and stop, and the folds of a journal into its file (beside the appends)',
    } as const;
    for (const [field, help] of Object.entries(storeCounts) as [keyof typeof storeCounts, string][]) {
      new client.Counter({
        name: `nextauth_store_${field}_total`,
        help,
        labelNames: ['store'] as const,
        registers: [registry],
        collect() {
          // The store counts them itself: this counter shows its count.
          this.reset();
          for (const [store, stats] of Object.entries(sources.stores)) this.inc({ store }, stats[field]);
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
    logins: new client.Counter({ name: 'nextauth_logins_total', help: 'Sessions logged in, by virtual server', labelNames: ['server'] as const, registers: [registry] }),
    enrolments: new client.Counter({ name: 'nextauth_enrolments_total', help: 'Accounts enrolled, by virtual server', labelNames: ['server'] as const, registers: [registry] }),
    loginLatency: new client.Histogram({
      name: 'nextauth_proof_to_login_seconds',
      help: "From a phone's proof to its session logged in (the check of the proof and the writes before LOGIN)",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    sockets: new client.Gauge({
      name: 'nextauth_sockets_open',
      help: 'Open WebSocket connections (and socket.io sessions) by channel',
      labelNames: ['channel'] as const,
      registers: [registry],
    }),
    pushes: new client.Counter({
      name: 'nextauth_pushes_total',
      help: 'Pushes by result: sent to a listening phone, handed to a push gateway, undelivered (no phone listening, no gateway), or denied by the push limits or a mute',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    storeWrites: new client.Histogram({
      name: 'nextauth_store_write_seconds',
      help: 'Time until a change of the store is durable (acknowledged)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  };
}

/** At most this many proofs waiting for their outcome are remembered (older ones are not timed). */
const PROOFS_MAX = 10_000;

/**
 * What the hub applies, counted: a session logged in (per server) and the time from its proof to
 * that login. Give the result to the hub's `inspect` hook.
 */
export function countSessions(metrics: Metrics, now: () => number): (a: AppliedEvent) => void {
  const proofAt = new Map<string, number>();
  return (a) => {
    const state = stateName(a.value);
    if (a.type === 'proof') {
      if (proofAt.size >= PROOFS_MAX) proofAt.delete(proofAt.keys().next().value!);
      proofAt.set(a.key, now());
      return;
    }
    if (state === 'authenticated' && (a.before === undefined || stateName(a.before) !== 'authenticated')) {
      metrics.logins.inc({ server: a.serverid });
      const at = proofAt.get(a.key);
      if (at !== undefined) metrics.loginLatency.observe((now() - at) / 1000);
    }
    if (state !== 'verifying') proofAt.delete(a.key);
  };
}

/** The store, its changes timed until durable (`storeWrites`). */
export function timedStore<S extends Store>(store: S, metrics: Metrics): S {
  const transact = async <R>(change: (tx: StoreTx) => R | Promise<R>, options?: TransactOptions): Promise<R> => {
    // A lazy change resolves before it is durable: it would only tell how long making it took.
    if (options?.written) return store.transact(change, options);
    const end = metrics.storeWrites.startTimer();
    try {
      return (await store.transact(change, options)) as R;
    } finally {
      end();
    }
  };
  return withTransact(store, transact);
}

export type Metrics = ReturnType<typeof createMetrics>;
