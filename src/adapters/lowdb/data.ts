/** The shape of the two JSON documents the lowdb store keeps (records by kind and key). */
import type {
  AccountRecord,
  ApiKeyRecord,
  Attributes,
  DeliveryRecord,
  EnrolCodeRecord,
  EventRecord,
  OidcRecord,
  PermissionsRecord,
  RoleRecord,
  SavedSession,
  ServerRecord,
  TransactionRecord,
  UserRecord,
  WebhookRecord,
} from '../../ports.ts';

/** A document's events (the outbox): those its changes wrote, by `seq`. */
export type Events = Record<string, EventRecord>;

/** `nextauth.json`: every record but saved sessions. */
export interface Data {
  version: 1;
  globalAttributes: Attributes;
  servers: Record<string, ServerRecord>;
  roles: Record<string, RoleRecord>;
  /** by SHA-256 hex of the api key */
  apiKeys: Record<string, ApiKeyRecord>;
  /** role → scope → permissions */
  permissions: Record<string, PermissionsRecord>;
  /** serverid → userid → user */
  users: Record<string, Record<string, UserRecord>>;
  /** serverid → account id → account */
  accounts: Record<string, Record<string, AccountRecord>>;
  /** `${serverid}:${hsid}` → enrol code */
  enrolCodes: Record<string, EnrolCodeRecord>;
  /** tid → transaction */
  transactions: Record<string, TransactionRecord>;
  /** serverid → webhook id → webhook */
  webhooks: Record<string, Record<string, WebhookRecord>>;
  /** serverid → webhook id → where its deliveries are */
  deliveries: Record<string, Record<string, DeliveryRecord>>;
  /** serverid → `${model}/${id}` → what its OpenID Provider keeps */
  oidc: Record<string, Record<string, OidcRecord>>;
  events: Events;
}

/** `sessions.json`: logins that must survive a restart, written on every login, apart from the rest. */
export interface SessionsData {
  version: 1;
  /** `${serverid}:${hsid}` → saved session */
  sessions: Record<string, SavedSession>;
  /** the events of changes that wrote only this document (logins, logouts) */
  events: Events;
}

export const emptySessions = (): SessionsData => ({ version: 1, sessions: {}, events: {} });

export const emptyData = (): Data => ({
  version: 1,
  globalAttributes: {},
  servers: {},
  roles: {},
  apiKeys: {},
  permissions: {},
  users: {},
  accounts: {},
  enrolCodes: {},
  transactions: {},
  webhooks: {},
  deliveries: {},
  oidc: {},
  events: {},
});
