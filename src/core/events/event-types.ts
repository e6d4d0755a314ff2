/**
 * Every event the NS publishes (CloudEvents `type`), in one table: what reports it. Webhooks
 * filter on these; the audit trail is searched by them; docs/events.md lists them (a test checks).
 */
export const EVENT_TYPES = {
  'com.nextauth.session.scanned': 'a phone said hello to a session waiting for a login (QR code, push or app link)',
  'com.nextauth.session.login': 'a session was logged in by an account',
  'com.nextauth.session.logout': 'a logged-in session was logged out (phone, REST or browser)',
  'com.nextauth.session.cancel': 'a phone declined a session',
  'com.nextauth.session.expired': 'a session ended by a time limit',
  'com.nextauth.account.enrolled': 'a phone enrolled a new account',
  'com.nextauth.account.blocked': 'an account was blocked',
  'com.nextauth.account.unblocked': 'an account was unblocked',
  'com.nextauth.account.deleted': 'an account was deleted',
  'com.nextauth.account.relinked': 'an account was linked to another user',
  'com.nextauth.push.sent': 'a push was sent to an account',
  'com.nextauth.push.denied': 'a push was refused by a limit or by a muted account',
  'com.nextauth.push.reported': 'a user declined a push and reported it (the account is muted)',
  'com.nextauth.push.undelivered': 'a push could not be delivered',
  'com.nextauth.transaction.created': 'a transaction was created',
  'com.nextauth.transaction.approved': 'a transaction was approved',
  'com.nextauth.transaction.declined': 'a transaction was declined',
  'com.nextauth.transaction.expired': 'a transaction expired unanswered',
  'com.nextauth.apikey.created': 'an api key for the server was made',
  'com.nextauth.apikey.deleted': 'an api key for the server was deleted',
  'com.nextauth.server.created': 'the virtual server was created',
  'com.nextauth.server.updated': 'the virtual server was changed',
  'com.nextauth.server.deleted': 'the virtual server was deleted',
  'com.nextauth.refusal': 'a request or frame about the server was refused (with its error code)',
} as const;

export type EventType = keyof typeof EVENT_TYPES;

export const isEventType = (t: string): t is EventType => Object.hasOwn(EVENT_TYPES, t);
