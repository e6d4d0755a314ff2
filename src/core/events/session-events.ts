/**
 * Which session transitions are events (pure: the hub asks, with the transition it applied):
 * - `scanned`: a hello took a waiting (or logged-out) session to `challenged`;
 * - `login`: the session entered `authenticated`;
 * - `logout`: it left `authenticated` by a logout (phone, REST or browser);
 * - `cancel`: a phone declined it;
 * - `expired`: a logged-in (or logged-out, pushable) session ended by a time limit.
 * A session that only waited and expired is not one: every page view makes one.
 */
import type { SessionContext, SessionEvent, SessionState } from '../../../machines/session.ts';
import type { Json } from '../../ports.ts';
import type { EventType } from './event-types.ts';

export interface SessionChange {
  from: SessionState | undefined;
  to: SessionState;
  ended: boolean;
  event: SessionEvent;
  /** the deadline that fired, when the event is one */
  fired: string | undefined;
  before: SessionContext | undefined;
  after: SessionContext;
}

export interface SessionEventOf {
  type: EventType;
  account?: number;
  source?: string;
  data?: { [key: string]: Json };
}

const sourceOf = (c: SessionContext | undefined, peer: string): string | undefined => c?.handshakes.find((h) => h.peer === peer)?.source;

export function sessionEventOf(c: SessionChange): SessionEventOf | undefined {
  const { from, to, event, before, after } = c;
  const moved = from !== to || c.ended;
  if (!moved) return undefined;
  if (event.type === 'hello' && to === 'challenged') return { type: 'com.nextauth.session.scanned', source: event.source, data: { op: event.op } };
  if (to === 'authenticated' && from !== 'authenticated') {
    const source = 'peer' in event ? sourceOf(before, event.peer) : undefined;
    return { type: 'com.nextauth.session.login', ...(after.account !== null ? { account: after.account } : {}), ...(source ? { source } : {}) };
  }
  const account = before?.account ?? before?.lastAccount ?? undefined;
  const withAccount = account !== undefined && account !== null ? { account } : {};
  if (from === 'authenticated' && event.type === 'logout') return { type: 'com.nextauth.session.logout', ...withAccount };
  if (event.type === 'decline') {
    const source = sourceOf(before, event.peer);
    return { type: 'com.nextauth.session.cancel', ...(source ? { source } : {}), data: { report: event.report === true } };
  }
  if (c.fired !== undefined && (from === 'authenticated' || from === 'loggedOut')) return { type: 'com.nextauth.session.expired', ...withAccount, data: { state: from } };
  return undefined;
}
