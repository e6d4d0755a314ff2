/**
 * Tag Events (our addition to 2.2): a virtual server's audit trail, its events newest first as
 * CloudEvents 1.0 (docs/events.md), filtered and a page at a time.
 *
 * Permission: `root` on the server (global `root` holds it everywhere), as for its webhooks
 * (routes/webhooks.ts): the trail names the server's users, accounts and client addresses, more
 * than any narrower permission may read. 403 without it (an api key of server A on server B
 * included), then 404 UNKNOWN_SERVER.
 */
import { Type } from '@sinclair/typebox';
import { AUDIT_PAGE, listAuditEvents } from '../../../core/events/audit.ts';
import { auditQuery } from '../audit-query.ts';
import { authorizeServer, type ApiContext, type App } from '../context.ts';
import { ErrorBody, ServerIdParams } from '../schemas.ts';

const tags = ['Events'];

const time = (description: string) =>
  Type.String({ maxLength: 64, description: `${description}: ISO 8601 with its offset (2024-05-01T12:00:00Z, or a date: midnight UTC) or ms since epoch` });
const EventsQuery = Type.Object({
  type: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 64, description: 'Only these event types (docs/events.md): repeated, or comma-separated' })),
  userid: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: "Only the user's events" })),
  account: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 ** 31, description: "Only the account's events" })),
  from: Type.Optional(time('Only events at or after this time')),
  to: Type.Optional(time('Only events before this time')),
  before: Type.Optional(Type.String({ maxLength: 32, description: 'The next of the page before: the page after it' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: AUDIT_PAGE.max, default: AUDIT_PAGE.default, description: 'Events per page' })),
});

/** A CloudEvent 1.0 in structured JSON mode (src/core/events/cloud-event.ts). */
export const CloudEventBody = Type.Object({
  specversion: Type.Literal('1.0'),
  id: Type.String({ description: 'Unique: a delivery of it carries it as webhook-id' }),
  source: Type.String({ description: '<the NS public URL>/servers/<serverid>' }),
  type: Type.String({ description: 'com.nextauth.… (docs/events.md)' }),
  subject: Type.Optional(Type.String({ description: 'What it is about in the server (session/…, a transaction, …)' })),
  time: Type.String({ format: 'date-time' }),
  datacontenttype: Type.Literal('application/json'),
  data: Type.Object(
    {
      serverid: Type.String(),
      userid: Type.Optional(Type.String()),
      account: Type.Optional(Type.Integer()),
      address: Type.Optional(Type.String({ description: "The client's address" })),
    },
    { additionalProperties: true, description: "The server, who and where when known, and the type's own fields" },
  ),
});

const EventsPage = Type.Object({
  items: Type.Array(CloudEventBody, { description: 'Newest first' }),
  next: Type.Optional(Type.String({ description: 'There may be more: give it as before for the next page' })),
});

export function eventRoutes(app: App, ctx: ApiContext): void {
  app.get(
    '/servers/:serverid/events',
    {
      schema: {
        operationId: 'getEvents',
        summary: "A server's audit trail",
        description: `Its events, newest first, as CloudEvents; every condition given holds. Kept NEXTAUTH_EVENT_RETENTION_DAYS days. Permission: 'root' on the server.`,
        tags,
        'x-addition': 'Events: the audit trail of docs/events.md',
        params: ServerIdParams,
        querystring: EventsQuery,
        response: { 200: EventsPage, 404: ErrorBody },
      },
    },
    async (req) => {
      const { serverid } = req.params;
      await authorizeServer(ctx, req, ['root'], serverid);
      return listAuditEvents(ctx.registry.store, serverid, auditQuery(req.query), ctx.config.publicUrl);
    },
  );
}
