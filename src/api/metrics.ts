/** Prometheus metrics of the NS (served at GET /metrics). */
import client from 'prom-client';

export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
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
