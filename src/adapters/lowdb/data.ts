/** The shape of the durable data. The store keeps it; the registry is the only writer. */

export type Attributes = Record<string, unknown>;

export interface ServerRecord {
  serverid: string;
  serverName: string;
  logo: string;
  appname?: string;
  appurl?: string;
  appandroid?: string;
  appios?: string;
  siteurl?: string;
  wsurl?: string;
  owner?: number;
  pinTimeout: number;
  pinTransTimeout: number;
  pingTime: number;
  serverFlags: string[];
  lastLogin?: number;
  created: number;
  /** Ed25519, base64url; the secret never leaves the process. */
  publicKey: string;
  secretKey: string;
  /** 32 bytes, base64url: the HMAC key of hsid = HMAC(sessionSecret, nonce). */
  sessionSecret: string;
  nextAccountId: number;
  attributes: Attributes;
  privilegedAttributes: Attributes;
}

export interface AccountRecord {
  id: number;
  description: string;
  userid?: string;
  blocked: boolean;
  clientVersion?: string;
  created: number;
  lastlogin?: number;
  lastprovoke?: number;
  /** Ed25519 public key, base64url */
  pk: string;
  /** X25519 public key for pushes, base64url */
  pkx?: string;
  /** When the account last used a PIN or biometric (ms since epoch). */
  lastSecondFactor?: number;
}

export interface UserRecord {
  userid: string;
  attributes: Attributes;
  created: number;
  /** The user's own role id (getOrCreateUserRole). */
  role?: string;
}

export interface RoleRecord {
  description: string;
  created: number;
  /** The role that made it (createApiKey) */
  createdBy?: string;
  /** Set for a user's role: the server and user it belongs to. */
  user?: { serverid: string; userid: string };
}

export interface ApiKeyRecord {
  role: string;
  description: string;
  created: number;
  /** The role whose key made this one. */
  createdBy?: string;
  /** The first characters of the key, for people to recognise it; the key itself is not kept. */
  hint: string;
}

export interface EnrolCodeRecord {
  serverid: string;
  hsid: string;
  name: string;
  userid?: string;
  created: number;
  /** When a phone first sent hello for it. */
  scanned?: number;
  used?: number;
}

/** Scope "*" is global; otherwise a serverid. */
export type Scope = string;

export interface Data {
  version: 1;
  globalAttributes: Attributes;
  servers: Record<string, ServerRecord>;
  roles: Record<string, RoleRecord>;
  /** by SHA-256 hex of the api key */
  apiKeys: Record<string, ApiKeyRecord>;
  /** role → scope → permissions */
  permissions: Record<string, Record<Scope, string[]>>;
  /** serverid → userid → user */
  users: Record<string, Record<string, UserRecord>>;
  /** serverid → account id → account */
  accounts: Record<string, Record<string, AccountRecord>>;
  /** `${serverid}:${hsid}` → enrol code */
  enrolCodes: Record<string, EnrolCodeRecord>;
}

/** A session saved so that it survives a restart (`authenticated`, or `loggedOut` with canprovoke). */
export interface SavedSession {
  /** XState's persisted snapshot of the actor. */
  snapshot: unknown;
  /** When the actor entered its state (ms since epoch), so its limit goes on after a restart. */
  since: number;
}

/** The second file of the store, `sessions.json`: written on every login, kept apart from the registry. */
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
});
