/** The shape of the two JSON documents the lowdb store keeps (records by kind and key). */
import type {
  AccountRecord,
  ApiKeyRecord,
  Attributes,
  EnrolCodeRecord,
  PermissionsRecord,
  RoleRecord,
  SavedSession,
  ServerRecord,
  TransactionRecord,
  UserRecord,
} from '../../ports.ts';

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
}

/** `sessions.json`: logins that must survive a restart, written on every login, apart from the rest. */
export interface SessionsData {
  version: 1;
  /** `${serverid}:${hsid}` → saved session */
  sessions: Record<string, SavedSession>;
}

export const emptySessions = (): SessionsData => ({ version: 1, sessions: {} });

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
});
