/**
 * The audit trail: a server's events, newest first, filtered by type, user, account and time,
 * a page at a time (`next`: give it as `before` for the page after), from the store's indexes.
 */
import type { EventQuery, Store } from '../../ports.ts';
import { NsError } from '../../wire/errors.ts';
import { type CloudEvent, toCloudEvent } from './cloud-event.ts';
import { isEventType } from './event-types.ts';

export interface AuditQuery {
  types?: string[];
  userid?: string;
  account?: number;
  from?: number;
  to?: number;
  /** the `next` of the page before */
  before?: string;
  limit?: number;
}

export const AUDIT_PAGE = { default: 50, max: 500 } as const;

export async function listAuditEvents(store: Store, serverid: string, q: AuditQuery, base: string): Promise<{ items: CloudEvent[]; next?: string }> {
  for (const t of q.types ?? []) if (!isEventType(t)) throw new NsError('BAD_REQUEST', `Unknown event type ${JSON.stringify(t)}`);
  if (q.before !== undefined && !/^[1-9]\d{0,15}$/.test(q.before)) throw new NsError('BAD_REQUEST', 'before must be the next of a page');
  const limit = q.limit ?? AUDIT_PAGE.default;
  if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_PAGE.max) throw new NsError('BAD_REQUEST', `limit must be 1 to ${AUDIT_PAGE.max}`);
  const query: EventQuery = { limit };
  if (q.types?.length) query.types = q.types;
  if (q.userid !== undefined) query.userid = q.userid;
  if (q.account !== undefined) query.account = q.account;
  if (q.from !== undefined) query.from = q.from;
  if (q.to !== undefined) query.to = q.to;
  if (q.before !== undefined) query.before = Number(q.before);
  const events = await store.listEvents(serverid, query);
  const items = events.map((e) => toCloudEvent(e, base));
  return events.length === limit ? { items, next: String(events.at(-1)!.seq) } : { items };
}
