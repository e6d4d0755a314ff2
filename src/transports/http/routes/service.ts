/** Routes that need no key: GET /healthz, GET /readyz, GET /metrics, GET /openapi.json. */
import type { RouteOptions } from 'fastify';
import type { ApiContext, App } from '../context.ts';
import { openApiDocument } from '../openapi.ts';
import { replyError } from '../reply-error.ts';

export function serviceRoutes(app: App, ctx: ApiContext, routes: readonly RouteOptions[]): void {
  const started = Date.now();
  // Liveness: the process answers. It says nothing of the store or Redis (that is /readyz).
  app.get('/healthz', { config: { public: true } }, async () => ({
    status: 'ok',
    uptime: Math.round((Date.now() - started) / 1000),
    servers: (await ctx.registry.servers.list()).length,
    sessions: ctx.hub.size,
  }));

  // Readiness: whether this process can reach what it keeps its state in (the store: the data
  // folder or PostgreSQL; sessions: memory or Redis). 200 {ready: true, checks}, else 503
  // STORAGE_UNAVAILABLE naming the checks that failed, so a load balancer sends no one here.
  let ready = true;
  app.get('/readyz', { config: { public: true } }, async (_req, reply) => {
    const names = Object.keys(ctx.readiness);
    const outcomes = await Promise.all(
      names.map((name) =>
        ctx.readiness[name]!().then(
          () => 'ok',
          (e: unknown) => (e instanceof Error && e.message ? e.message : String(e)),
        ),
      ),
    );
    const checks = Object.fromEntries(names.map((name, i) => [name, outcomes[i]!]));
    const failed = names.filter((name) => checks[name] !== 'ok');
    // Logged when readiness changes, not at every probe.
    if (failed.length > 0 && ready) ctx.log.error({ code: 'STORAGE_UNAVAILABLE', checks }, 'not ready');
    else if (failed.length === 0 && !ready) ctx.log.info({ checks }, 'ready again');
    ready = failed.length === 0;
    if (ready) return { ready: true, checks };
    return replyError(reply, 'STORAGE_UNAVAILABLE', `Not ready: ${failed.map((name) => `${name}: ${checks[name]}`).join('; ')}`, { ready: false, checks });
  });

  app.get('/metrics', { config: { public: true } }, async (_req, reply) => {
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });

  let doc: unknown;
  app.get('/openapi.json', { config: { public: true } }, async () => (doc ??= openApiDocument(routes, ctx.config.publicUrl)));
}
