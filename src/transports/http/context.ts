/**
 * What every REST route needs: the registry, the session hub, settings, metrics, and the
 * `authorize` step (401 / 403 / 404 in that order).
 */
import type { OidcProviders } from '../oidc/providers.ts';
import type { RefusalEvents } from '../../core/events/refusal-events.ts';
import type { RestLimits } from '../../core/limits/rest-limits.ts';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../../config.ts';
import { NsError } from '../../wire/errors.ts';
import type { Permission, Principal } from '../../core/admin/access.ts';
import { isValidUserid } from '../../core/admin/accounts.ts';
import type { Registry } from '../../core/admin/registry.ts';
import type { ServerRecord } from '../../ports.ts';
import type { Metrics } from './metrics.ts';
import type { SessionHub } from '../../core/hub.ts';
import type { PushService } from '../../core/push/push.ts';
import type { TransactionService } from '../../core/transaction/transactions.ts';

export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface ApiContext {
  config: Config;
  registry: Registry;
  hub: SessionHub;
  push: PushService;
  transactions: TransactionService;
  metrics: Metrics;
  log: FastifyBaseLogger;
  /** Requests per api key and per source without one (§7). */
  restLimits: RestLimits;
  /**
   * What GET /readyz checks, by name (`store`, `sessions`): each resolves when this process can
   * use it, else rejects saying why.
   */
  readiness: Record<string, () => Promise<void>>;
  /** Refusals about a known server, as events (sampled per source). */
  refusals?: RefusalEvents;
  /** Each virtual server's OpenID Provider (src/transports/oidc/). */
  oidc?: OidcProviders;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** No api key needed (healthz, metrics, openapi, pages). */
    public?: boolean;
    /** The body may be left out (it is then `{}`). */
    optionalBody?: boolean;
  }
}

/** The caller, authenticated by the onRequest hook. */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new NsError('MISSING_API_KEY');
  return req.principal;
}

/** 403 unless the caller has one of `perms` on the server (or globally when no serverid). */
export async function authorize(ctx: ApiContext, req: FastifyRequest, perms: readonly Permission[], serverid?: string): Promise<Principal> {
  const principal = principalOf(req);
  await ctx.registry.access.require(principal, perms, serverid);
  return principal;
}

/** authorize, then the server itself (404 only to a caller allowed to know). */
export async function authorizeServer(ctx: ApiContext, req: FastifyRequest, perms: readonly Permission[], serverid: string): Promise<ServerRecord> {
  await authorize(ctx, req, perms, serverid);
  return await ctx.registry.servers.require(serverid);
}

/** 400 BAD_USERID for a userid path parameter the NS would never have made. */
export function userid(params: { userid: string }): string {
  if (!isValidUserid(params.userid)) throw new NsError('BAD_USERID', 'params/userid: must be 1 to 256 characters');
  return params.userid;
}
