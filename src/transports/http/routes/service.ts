/** Routes that need no key: GET /healthz, GET /metrics, GET /openapi.json. */
import type { RouteOptions } from 'fastify';
import type { ApiContext, App } from '../context.ts';
import { openApiDocument } from '../openapi.ts';

export function serviceRoutes(app: App, ctx: ApiContext, routes: readonly RouteOptions[]): void {
  const started = Date.now();
  app.get('/healthz', { config: { public: true } }, async () => ({
    status: 'ok',
    uptime: Math.round((Date.now() - started) / 1000),
    servers: (await ctx.registry.servers.list()).length,
    sessions: ctx.hub.size,
  }));

  app.get('/metrics', { config: { public: true } }, async (_req, reply) => {
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });

  let doc: unknown;
  app.get('/openapi.json', { config: { public: true } }, async () => (doc ??= openApiDocument(routes, ctx.config.publicUrl)));
}
