/**
 * The audit trail's query as the REST API (getEvents) and the CLI (`nextauth events`) take it,
 * in text: event types repeated or comma-separated, times as ISO 8601 or ms since epoch. Turned
 * into the core's AuditQuery here, once for both; each refusal is BAD_REQUEST naming its field.
 */
import type { AuditQuery } from '../../core/events/audit.ts';
import { NsError } from '../../wire/errors.ts';

export interface AuditQueryText {
  /** event types: repeated, each maybe a comma-separated list */
  type?: string | readonly string[] | undefined;
  userid?: string | undefined;
  account?: number | undefined;
  /** ISO 8601 with its offset (or a date: midnight UTC), or ms since epoch; `from` included, `to` not */
  from?: string | undefined;
  to?: string | undefined;
  /** the `next` of the page before */
  before?: string | undefined;
  limit?: number | undefined;
}

/** A date, or a date and time with seconds optional, fraction optional, and its offset. */
const ISO = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** A time parameter: ms since epoch (digits), or ISO 8601; BAD_REQUEST naming `name` otherwise. */
export function timeParam(text: string, name: string): number {
  const ms = /^\d{1,16}$/.test(text) ? Number(text) : ISO.test(text) ? Date.parse(text) : Number.NaN;
  if (!Number.isSafeInteger(ms)) throw new NsError('BAD_REQUEST', `${name} must be an ISO 8601 time with its offset (2024-05-01T12:00:00Z) or ms since epoch`);
  return ms;
}

export function auditQuery(q: AuditQueryText): AuditQuery {
  const out: AuditQuery = {};
  const typeList = (typeof q.type === 'string' ? [q.type] : (q.type ?? [])).flatMap((t) => t.split(',')).map((t) => t.trim());
  if (typeList.some((t) => t === '')) throw new NsError('BAD_REQUEST', 'type must name event types (several: repeated or comma-separated)');
  if (typeList.length > 0) out.types = [...new Set(typeList)];
  if (q.userid !== undefined) out.userid = q.userid;
  if (q.account !== undefined) out.account = q.account;
  if (q.from !== undefined) out.from = timeParam(q.from, 'from');
  if (q.to !== undefined) out.to = timeParam(q.to, 'to');
  if (out.from !== undefined && out.to !== undefined && out.from >= out.to) throw new NsError('BAD_REQUEST', 'from must be before to (from is included, to is not)');
  if (q.before !== undefined) out.before = q.before;
  if (q.limit !== undefined) out.limit = q.limit;
  return out;
}
