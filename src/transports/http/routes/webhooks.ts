/**
 * Tag Webhooks (our addition to 2.2): a virtual server's webhooks, which receive its events
 * (docs/events.md) as signed CloudEvents. The secret is answered twice only: by createWebhook and
 * by rotateWebhookSecret; no other answer and no log line carries it.
 *
 * Permission: `root` on the server (global `root` holds it everywhere). A webhook is sent every
 * event of the server (users, accounts, client addresses, refusals): that is more than any one of
 * `sessions`, `users`, `accounts` or `servers` may read, and its URL decides where that goes, so
 * it needs the permission that holds all of them, the one grantPermissions needs. As every
 * server-scoped operation: 403 without it (an api key of server A on server B included), then
 * 404 UNKNOWN_SERVER for a server that does not exist, then 404 UNKNOWN_WEBHOOK for a webhook the
 * server does not have (another server's included).
 */
import { Type } from '@sinclair/typebox';
import { authorizeServer, type ApiContext, type App } from '../context.ts';
import { ErrorBody, ServerIdParams } from '../schemas.ts';

const tags = ['Webhooks'];
const ROOT = ['root'] as const;
const ADDITION = 'Webhooks: the events of docs/events.md, signed as Standard Webhooks';

const WebhookParams = Type.Object({
  serverid: ServerIdParams.properties.serverid,
  webhookid: Type.String({ minLength: 1, maxLength: 64, description: 'Webhook id (wh_…)' }),
});

const url = Type.String({ minLength: 1, maxLength: 2048, description: 'Where the events are POSTed: an absolute http:// or https:// URL, without credentials or fragment' });
const types = Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
  maxItems: 64,
  description: 'The event types it receives (docs/events.md, e.g. com.nextauth.session.login); none or empty: every type',
});
const description = Type.String({ maxLength: 256, description: 'What it is for' });

const CreateWebhook = Type.Object({ url, types: Type.Optional(types), description: Type.Optional(description) }, { additionalProperties: false });
const UpdateWebhook = Type.Object(
  { url: Type.Optional(url), types: Type.Optional(types), description: Type.Optional(description) },
  { additionalProperties: false, minProperties: 1 },
);

const ms = (what: string) => Type.Integer({ description: `${what} (ms since epoch)` });
const secret = Type.String({ description: 'The signing secret (whsec_ and base64): shown this once, keep it safe' });

const Webhook = Type.Object({
  id: Type.String(),
  url: Type.String(),
  types: Type.Array(Type.String(), { description: 'empty: every type' }),
  description: Type.String(),
  created: ms('When it was made'),
  previousSecretUntil: Type.Optional(ms('While the secret before the last rotation still signs beside the new one: until when')),
  delivered: Type.Integer({ description: 'Events delivered' }),
  failed: Type.Integer({ description: 'Events given up after retrying' }),
  retrying: Type.Optional(
    Type.Object(
      { event: Type.String({ description: 'its id' }), tries: Type.Integer(), next: ms('The next try'), since: ms('The first try') },
      { description: 'The event being retried (later events wait for it)' },
    ),
  ),
});
const NewWebhook = Type.Object({ ...Webhook.properties, secret });
const Webhooks = Type.Object({ webhooks: Type.Array(Webhook) });
const Rotated = Type.Object({ secret, previousSecretUntil: ms('The secret before keeps signing beside the new one until') });
const Attempts = Type.Object({
  attempts: Type.Array(
    Type.Object({
      event: Type.String({ description: "The event's id (its webhook-id)" }),
      type: Type.String(),
      at: ms('When it was tried'),
      ms: Type.Integer({ description: 'How long it took (ms)' }),
      status: Type.Integer({ description: "The endpoint's HTTP status (0: no answer)" }),
      outcome: Type.Union([Type.Literal('delivered'), Type.Literal('retrying'), Type.Literal('failed')]),
      error: Type.Optional(Type.String()),
    }),
    { description: 'Newest first (the last ones only)' },
  ),
});
const notFound = { 404: ErrorBody };

export function webhookRoutes(app: App, ctx: ApiContext): void {
  const { webhooks } = ctx.registry;
  const schema = { tags, 'x-addition': ADDITION };

  app.post(
    '/servers/:serverid/webhooks',
    {
      schema: {
        ...schema,
        operationId: 'createWebhook',
        summary: 'Create a webhook',
        description: `Its deliveries start with the events after now. The answer is the only one with the secret (rotateWebhookSecret makes a new one). At most NEXTAUTH_WEBHOOKS_PER_SERVER per server (409 TOO_MANY_WEBHOOKS). Permission: 'root' on the server.`,
        params: ServerIdParams,
        body: CreateWebhook,
        response: { 201: NewWebhook, ...notFound, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const { serverid } = req.params;
      await authorizeServer(ctx, req, ROOT, serverid);
      const made = await webhooks.create(serverid, req.body);
      req.log.info({ serverid, webhook: made.webhook.id, url: made.webhook.url }, 'webhook created');
      return reply.code(201).send({ ...made.webhook, secret: made.secret });
    },
  );

  app.get(
    '/servers/:serverid/webhooks',
    {
      schema: {
        ...schema,
        operationId: 'getWebhooks',
        summary: "List a server's webhooks",
        description: "Oldest first, never with a secret. Permission: 'root' on the server.",
        params: ServerIdParams,
        response: { 200: Webhooks, ...notFound },
      },
    },
    async (req) => {
      await authorizeServer(ctx, req, ROOT, req.params.serverid);
      return { webhooks: await webhooks.list(req.params.serverid) };
    },
  );

  app.get(
    '/servers/:serverid/webhooks/:webhookid',
    {
      schema: {
        ...schema,
        operationId: 'getWebhook',
        summary: 'Get a webhook',
        description: "Never with its secret. Permission: 'root' on the server.",
        params: WebhookParams,
        response: { 200: Webhook, ...notFound },
      },
    },
    async (req) => {
      await authorizeServer(ctx, req, ROOT, req.params.serverid);
      return webhooks.get(req.params.serverid, req.params.webhookid);
    },
  );

  app.patch(
    '/servers/:serverid/webhooks/:webhookid',
    {
      schema: {
        ...schema,
        operationId: 'updateWebhook',
        summary: 'Change a webhook',
        description: "Its URL, types or description; the secret and the deliveries stay. Permission: 'root' on the server.",
        params: WebhookParams,
        body: UpdateWebhook,
        response: { 200: Webhook, ...notFound },
      },
    },
    async (req) => {
      const { serverid, webhookid } = req.params;
      await authorizeServer(ctx, req, ROOT, serverid);
      const view = await webhooks.update(serverid, webhookid, req.body);
      req.log.info({ serverid, webhook: webhookid, changed: Object.keys(req.body) }, 'webhook changed');
      return view;
    },
  );

  app.delete(
    '/servers/:serverid/webhooks/:webhookid',
    {
      schema: {
        ...schema,
        operationId: 'deleteWebhook',
        summary: 'Delete a webhook',
        description: "No more deliveries, its attempts forgotten. Permission: 'root' on the server.",
        params: WebhookParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...notFound },
      },
    },
    async (req, reply) => {
      const { serverid, webhookid } = req.params;
      await authorizeServer(ctx, req, ROOT, serverid);
      await webhooks.delete(serverid, webhookid);
      req.log.info({ serverid, webhook: webhookid }, 'webhook deleted');
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/servers/:serverid/webhooks/:webhookid/rotate',
    {
      schema: {
        ...schema,
        operationId: 'rotateWebhookSecret',
        summary: "Make a new secret for a webhook's signatures",
        description:
          "The answer is the only one with the new secret. The secret before keeps signing beside it (two signatures in webhook-signature) until previousSecretUntil, 24 hours, so a receiver can switch without losing a delivery. Permission: 'root' on the server.",
        params: WebhookParams,
        response: { 200: Rotated, ...notFound },
      },
    },
    async (req) => {
      const { serverid, webhookid } = req.params;
      await authorizeServer(ctx, req, ROOT, serverid);
      const rotated = await webhooks.rotate(serverid, webhookid);
      req.log.info({ serverid, webhook: webhookid, previousSecretUntil: rotated.previousSecretUntil }, 'webhook secret rotated');
      return rotated;
    },
  );

  app.get(
    '/servers/:serverid/webhooks/:webhookid/attempts',
    {
      schema: {
        ...schema,
        operationId: 'getWebhookAttempts',
        summary: "A webhook's last delivery attempts",
        description: "Newest first: each try's event, HTTP status, time taken and outcome. Permission: 'root' on the server.",
        params: WebhookParams,
        response: { 200: Attempts, ...notFound },
      },
    },
    async (req) => {
      await authorizeServer(ctx, req, ROOT, req.params.serverid);
      return { attempts: await webhooks.attempts(req.params.serverid, req.params.webhookid) };
    },
  );
}
