/**
 * The REST transport: fastify with TypeBox schemas. It authenticates every non-public request
 * (X-apikey, X-su) before it reads the body, turns every error into `{code, message}` with its
 * status, counts requests for /metrics and records each route for /openapi.json. Bodies are checked
 * strictly against their schemas, the other parts of a request converted (validation.ts).
 */
import { oidcRoutes } from '../oidc/oidc-routes.ts';
import http from 'node:http';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest, type RouteOptions } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { NsError, errors, type ErrorCode } from '../../wire/errors.ts';
import type { ApiContext, App } from './context.ts';
import { replyError, type ErrorReply } from './reply-error.ts';
import { buildValidator } from './validation.ts';
import { accountRoutes } from './routes/accounts.ts';
import { eventRoutes } from './routes/events.ts';
import { globalRoutes } from './routes/global.ts';
import { htmlRoutes } from './routes/html.ts';
import { managementRoutes } from './routes/management.ts';
import { oidcClientRoutes } from './routes/oidc-clients.ts';
import { registrationRoutes } from './routes/registration.ts';
import { serverRoutes } from './routes/servers.ts';
import { serviceRoutes } from './routes/service.ts';
import { sessionRoutes } from './routes/sessions.ts';
import { userRoutes } from './routes/users.ts';
import { transactionRoutes } from './routes/transactions.ts';
import { webhookRoutes } from './routes/webhooks.ts';

const header = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

export async function createHttpApp(ctx: ApiContext): Promise<App> {
  /**
   * Every error answer of the REST API: logged at the table's level (with the error, when it is
   * not a refusal of ours), counted, and sent with the table's status as `{code, message}`.
   */
  const refuse = <R>(req: FastifyRequest, reply: ErrorReply<R>, code: ErrorCode, message: string = errors[code].message, err?: unknown): R => {
    req.log[errors[code].level]({ code, route: req.routeOptions?.url, source: req.ip, ...(err === undefined ? {} : { err }) }, `refused: ${message}`);
    ctx.metrics.refusals.inc({ code, channel: 'rest' });
    ctx.refusals?.record((req.params as { serverid?: string } | undefined)?.serverid, code, req.ip, 'rest');
    return replyError(reply, code, message);
  };

  // Slow clients are cut (§7): headers within `headersTimeout`, the whole request within
  // `requestTimeout`, checked every second (node's default check runs every 30 s).
  const { headersTimeout, requestTimeout } = ctx.config.limits;
  const serverFactory = (handler: http.RequestListener) =>
    http.createServer({ headersTimeout, requestTimeout: Math.max(requestTimeout, headersTimeout), connectionsCheckingInterval: 1000 }, handler);
  const app = Fastify({
    serverFactory,
    loggerInstance: ctx.log,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    forceCloseConnections: 'idle',
    bodyLimit: 1024 * 1024,
    // req.ip: the source address, through the trusted proxies only (src/transports/source.ts).
    trustProxy: ctx.config.trustedProxies.length > 0 ? [...ctx.config.trustedProxies] : false,
    frameworkErrors: (error, req, reply) => void refuse(req, reply as unknown as FastifyReply, 'BAD_REQUEST', error.message),
    // Bodies typed exactly as their schemas say; query strings, path parameters and headers converted.
    schemaController: { compilersFactory: { buildValidator: buildValidator() } },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  const routes: RouteOptions[] = [];
  /** Operations served by GET: their POST aliases read too. */
  const reads = new Set<string>();
  app.addHook('onRoute', (route) => {
    const op = (route.schema as { operationId?: string } | undefined)?.operationId;
    if (op !== undefined && (route.method === 'GET' || (Array.isArray(route.method) && route.method.includes('GET')))) reads.add(op);
    if (route.method !== 'HEAD' && !(Array.isArray(route.method) && route.method.includes('HEAD') && route.method.length === 1)) routes.push(route as RouteOptions);
  });

  // Who is calling: before the body is read, so a caller without a key learns nothing more.
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config.public || req.routeOptions.url === undefined) return;
    try {
      req.principal = await ctx.registry.access.authenticate(header(req.headers['x-apikey']), header(req.headers['x-su']));
    } catch (e) {
      // Guessing keys is slow: past the limit a source without a known key hears 429, not 401.
      if (e instanceof NsError && (e.code === 'MISSING_API_KEY' || e.code === 'UNKNOWN_API_KEY')) await ctx.restLimits.withoutKey(req.ip);
      throw e;
    }
    await ctx.restLimits.withKey(req.principal.keyRole);
  });

  // 2.2 bodies that may be left out (UserContext): an absent body is an empty one.
  app.addHook('preValidation', async (req) => {
    if (req.routeOptions.config.optionalBody && (req.body === undefined || req.body === null)) req.body = {};
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    ctx.metrics.httpRequests.inc({ method: req.method, route, status: reply.statusCode });
    ctx.metrics.httpDuration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
    // A write that was done: one line, with who did it (a POST alias of a 2.2 GET is a read).
    const op = (req.routeOptions.schema as { operationId?: string } | undefined)?.operationId;
    if (reply.statusCode < 400 && op !== undefined && req.method !== 'GET' && req.method !== 'HEAD' && !reads.has(op)) {
      const { serverid } = (req.params ?? {}) as { serverid?: string };
      req.log.info({ op, serverid, role: req.principal?.role, source: req.ip, status: reply.statusCode }, `admin write: ${op}`);
    }
  });

  app.setNotFoundHandler((req, reply) => refuse(req, reply, 'NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`));

  app.setErrorHandler((error: FastifyError | NsError, req, reply) => {
    if (error instanceof NsError) {
      if (error.retryAfterMs !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))));
      return refuse(req, reply, error.code, error.message);
    }
    const fe = error as FastifyError;
    if (fe.validation) {
      const first = fe.validation[0];
      const where = `${fe.validationContext ?? 'request'}${first?.instancePath ?? ''}`;
      const missing = first?.keyword === 'required' ? `/${String((first.params as { missingProperty?: string }).missingProperty)}` : '';
      const extra = first?.keyword === 'additionalProperties' ? `/${String((first.params as { additionalProperty?: string }).additionalProperty)}` : '';
      const message = `${where}${missing}${extra}: ${first?.message ?? 'invalid'}`;
      if (fe.validationContext === 'headers' && message.includes('x-nonce')) return refuse(req, reply, 'BAD_NONCE');
      return refuse(req, reply, 'BAD_REQUEST', message);
    }
    if (fe.statusCode === 413) return refuse(req, reply, 'BODY_TOO_LARGE');
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return refuse(req, reply, 'BAD_REQUEST', fe.message);
    return refuse(req, reply, 'INTERNAL', errors.INTERNAL.message, error);
  });

  for (const register of [
    serviceRoutes,
    serverRoutes,
    managementRoutes,
    globalRoutes,
    userRoutes,
    accountRoutes,
    sessionRoutes,
    registrationRoutes,
    htmlRoutes,
    transactionRoutes,
    webhookRoutes,
    eventRoutes,
    // On the main app (JSON bodies); their static paths win over the provider's wildcard below.
    oidcClientRoutes,
  ]) {
    register(app, ctx, routes);
  }
  if (ctx.oidc) oidcRoutes(app, { ...ctx, oidc: ctx.oidc });
  return app;
}
