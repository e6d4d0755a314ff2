/**
 * The ports: async interfaces between the core (src/core/) and whatever keeps state. Each has a
 * contract suite in test/ports/ that every adapter passes (src/adapters/<name>/). Nothing
 * outside src/adapters/ knows how records are kept.
 */

// ---- Records ----------------------------------------------------------------------------------

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

/** Scope "*" is global; otherwise a serverid. */
export type Scope = string;
/** A role's permissions: scope → permission names. */
export type PermissionsRecord = Record<Scope, string[]>;

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

/** A transaction (createTransaction) and, once answered, its evidence: durable like any other record. */
export interface TransactionRecord {
  tid: string;
  serverid: string;
  hsid: string;
  account: number;
  /** The exact bytes shown and signed, base64. */
  tx: string;
  state: 'pending' | 'presented' | 'approved' | 'declined' | 'expired';
  created: number;
  /** When it expires unless answered (ms since epoch). */
  expires: number;
  /** An approval's evidence: the account's signature (base64url), second factor, time. */
  signature?: string;
  sf?: string;
  at?: number;
}

/** A session saved so that it survives a restart (`authenticated`, or `loggedOut` with canprovoke). */
export interface SavedSession {
  /** The session's stored snapshot (as the Sessions port holds it). */
  snapshot: unknown;
  /** When the session entered its state (ms since epoch), so its limit goes on after a restart. */
  since: number;
}

/** A webhook of a virtual server (events/): where its events go, which, and the secret that signs them. */
export interface WebhookRecord {
  id: string;
  serverid: string;
  url: string;
  /** The event types it receives (`com.nextauth.…`); empty: every type. */
  types: string[];
  description: string;
  created: number;
  /** Signs its deliveries (Standard Webhooks: `whsec_` + base64 of 32 bytes); shown once. */
  secret: string;
  /** After a rotation, the secret before it, still signing beside the new one until `previousUntil`. */
  previousSecret?: string;
  previousUntil?: number;
}

/** One try at delivering an event to a webhook. */
export interface DeliveryAttempt {
  /** the event's id (its `webhook-id`) and type */
  event: string;
  type: string;
  /** when it was tried (ms since epoch), how long it took (ms) */
  at: number;
  ms: number;
  /** the endpoint's HTTP status (0: no answer) */
  status: number;
  outcome: 'delivered' | 'retrying' | 'failed';
  error?: string;
}

/** Where a webhook's deliveries are: kept apart from the webhook, written as they go. */
export interface DeliveryRecord {
  /** The place in the server's events (Store.eventsAfter) after the last event delivered or given up. */
  cursor: string;
  /** The event being retried: its id, its first try, the tries so far, when the next one is due. */
  pending?: { event: string; first: number; tries: number; next: number };
  /** The process that delivers (one at a time, in a cluster) and until when it may. */
  holder?: string;
  leaseUntil?: number;
  delivered: number;
  failed: number;
  /** The last attempts, oldest first (a bounded number). */
  attempts: DeliveryAttempt[];
}

/**
 * What the OpenID Provider of a server keeps (oidc-provider's models: sessions, interactions,
 * codes, tokens, grants, its own keys…), one record per (model, id), with the fields it is
 * looked up by beside its payload. Gone once `expiresAt` has passed (pruned).
 */
export interface OidcRecord {
  payload: { [key: string]: Json };
  /** ms since epoch */
  expiresAt?: number;
  grantId?: string;
  uid?: string;
  userCode?: string;
  accountId?: string;
}
/** The fields an OIDC record is found by. */
export type OidcField = 'grantId' | 'uid' | 'userCode' | 'accountId';

/** Every kind of record: its key (as a tuple) and its value. */
export interface Records {
  server: { key: [serverid: string]; value: ServerRecord };
  account: { key: [serverid: string, id: number]; value: AccountRecord };
  user: { key: [serverid: string, userid: string]; value: UserRecord };
  role: { key: [role: string]; value: RoleRecord };
  /** by SHA-256 hex of the api key */
  apiKey: { key: [hash: string]; value: ApiKeyRecord };
  permissions: { key: [role: string]; value: PermissionsRecord };
  enrolCode: { key: [serverid: string, hsid: string]; value: EnrolCodeRecord };
  globalAttributes: { key: []; value: Attributes };
  session: { key: [key: string]; value: SavedSession };
  transaction: { key: [tid: string]; value: TransactionRecord };
  webhook: { key: [serverid: string, id: string]; value: WebhookRecord };
  delivery: { key: [serverid: string, id: string]; value: DeliveryRecord };
  oidc: { key: [serverid: string, model: string, id: string]; value: OidcRecord };
}
export type RecordKind = keyof Records;
export type KeyOf<K extends RecordKind> = Records[K]['key'];
export type ValueOf<K extends RecordKind> = Records[K]['value'];
/** One record with its kind and key (a store's records, one after the other). */
export type StoredRecord = { [K in RecordKind]: { kind: K; key: KeyOf<K>; value: ValueOf<K> } }[RecordKind];

// ---- Listings ---------------------------------------------------------------------------------

/** The columns an account listing filters and sorts on (other filter keys name its user's attributes). */
export const ACCOUNT_COLUMNS = ['id', 'description', 'userid', 'blocked', 'clientVersion', 'created', 'lastlogin', 'lastprovoke'] as const;
/** The columns a user listing sorts on. */
export const USER_COLUMNS = ['userid', 'lastlogin', 'numberaccounts'] as const;

/** One filter condition: the value of `key` is one of `values` (strings as they are, others as JSON). */
export interface Condition {
  key: string;
  values: string[];
}
export interface SortKey {
  column: string;
  desc: boolean;
}
/** A listing as 2.2 pages it: every condition holds, sorted, `marker` items skipped, `limit` kept. */
export interface ListQuery {
  filter?: Condition[];
  /** Case-insensitive substring of the userid (users only). */
  search?: string;
  sort?: SortKey[];
  limit?: number;
  marker?: number;
}
export interface Page<T> {
  items: T[];
  /** How many match, before paging. */
  totalnumber: number;
}
/** A user with what its accounts say of it (2.2 `User`). */
export interface UserSummary {
  user: UserRecord;
  numberaccounts: number;
  lastlogin?: number;
}

// ---- Events (the outbox) ---------------------------------------------------------------------

/**
 * A security-relevant change as the outbox keeps it, written by the change it reports (the same
 * journal line, the same transaction): an acknowledged change always has its event. A CloudEvent
 * is made of it (src/core/events/). Never a nonce, a key, a secret or a token.
 */
export interface EventRecord {
  /** The store's order of events: given when the change commits, increasing. */
  seq: number;
  /** Unique: the CloudEvent's `id`, a delivery's `webhook-id`. */
  id: string;
  /** `com.nextauth.…` */
  type: string;
  serverid: string;
  /** When it happened (ms since epoch). */
  time: number;
  userid?: string;
  account?: number;
  /** The client's address. */
  source?: string;
  /** What it is about inside the server (a session, a transaction, a webhook, an api key). */
  subject?: string;
  data?: { [key: string]: Json };
}
export type NewEvent = Omit<EventRecord, 'seq'>;

/** An audit query: a server's events, newest first, every given condition holding. */
export interface EventQuery {
  types?: string[];
  userid?: string;
  account?: number;
  /** time range (ms since epoch): `from` included, `to` not */
  from?: number;
  to?: number;
  /** Only events older than this `seq` (the last of the page before). */
  before?: number;
  limit: number;
}

// ---- Store ------------------------------------------------------------------------------------

/** Reads. Records handed out are frozen: a change goes through `transact`. */
export interface StoreReads {
  get<K extends RecordKind>(kind: K, ...key: KeyOf<K>): Promise<ValueOf<K> | undefined>;
}

/** A change being made: reads see its own writes; nothing is stored unless it returns. */
export interface StoreTx extends StoreReads {
  /** Puts the whole record (made or replaced). */
  put<K extends RecordKind>(kind: K, key: KeyOf<K>, value: ValueOf<K>): void;
  /** Sets fields of an existing record (a field given as undefined is removed); throws when there is none. */
  patch<K extends RecordKind>(kind: K, key: KeyOf<K>, fields: Partial<ValueOf<K>>): void;
  delete<K extends RecordKind>(kind: K, key: KeyOf<K>): void;
  /**
   * Writes an event with the change (the store gives its `seq`). Ids are unique; an event written
   * again after a write whose answer was lost (a PostgreSQL COMMIT) is left out, not refused.
   */
  emit(event: NewEvent): void;
}

/** How a change may be written (`Store.transact`). */
export interface TransactOptions {
  /**
   * The change need not be durable when `transact` resolves: it resolves once the change is made
   * (every read sees it), the store writes it with its next write or soon after (the embedded
   * store: within 50 ms), and `written` hears how that went (an error: the change was taken back
   * out, as any change whose write fails). Only for what nothing acknowledged depends on (a
   * login's `lastlogin`). A store that commits each change before it resolves (PostgreSQL) calls
   * `written` then. A `written` that throws changes nothing: the change stands (`tellWritten`).
   */
  written?: (error?: unknown) => void;
}

/**
 * How a store tells a change's `written` how its write went. `written` is a notification: if it
 * throws, that is its own failure, not the change's (the change stands, `transact` has resolved
 * or resolves as it would have, and no rejection is left for the process to die of).
 */
export function tellWritten(written: (error?: unknown) => void, error?: unknown): void {
  try {
    written(error);
  } catch {
    // (the listener's failure is its own)
  }
}

export interface Store extends StoreReads {
  /**
   * Runs `change` alone (no other change interleaves with it), then stores everything it wrote
   * as one atomic write, and resolves with its result once that write is durable (unless
   * `options.written` says it need not wait). When `change` throws, nothing it wrote is stored
   * and the promise rejects with its error. Writes of changes made close together are
   * coalesced, never skipped.
   */
  transact<R>(change: (tx: StoreTx) => R | Promise<R>, options?: TransactOptions): Promise<R>;

  listServers(): Promise<ServerRecord[]>;
  countAccounts(serverid: string): Promise<number>;
  /** The account of a server with this public key (base64url), if any. */
  findAccountByPk(serverid: string, pk: string): Promise<AccountRecord | undefined>;
  /** Every account of the user (a user has few). */
  accountsOfUser(serverid: string, userid: string): Promise<AccountRecord[]>;
  /**
   * getAllAccounts / a user's accounts: conditions on the account's columns, else on its user's
   * attributes; sort by account columns (ties by id).
   */
  listAccounts(serverid: string, query: ListQuery, userid?: string): Promise<Page<AccountRecord>>;
  /** getUsers: conditions on the user's attributes, search in the userid; sort by userid, lastlogin, numberaccounts (ties by userid). */
  listUsers(serverid: string, query: ListQuery): Promise<Page<UserSummary>>;
  /** The api keys a role made and the api keys of the role itself, with their hashes. */
  apiKeysOf(role: string): Promise<Array<{ hash: string; key: ApiKeyRecord }>>;
  /** Whether some api key's role has global root. */
  hasRootKey(): Promise<boolean>;
  /** Every role's permissions on one scope (roles without any there left out). */
  permissionsOn(scope: Scope): Promise<Array<{ role: string; acl: string[] }>>;
  /** Enrol codes made before `before`, the oldest first (at most `limit`), for pruning. */
  staleEnrolCodes(before: number, limit: number): Promise<EnrolCodeRecord[]>;
  /** Every saved session (at start). */
  savedSessions(): Promise<Array<[key: string, session: SavedSession]>>;
  /** A server's webhooks (none given: every server's), for the deliveries. */
  webhooksOf(serverid?: string): Promise<WebhookRecord[]>;
  /** The audit trail: a server's events matching `query`, newest first, from an index. */
  listEvents(serverid: string, query: EventQuery): Promise<EventRecord[]>;
  /**
   * A server's events after `cursor` in the order their changes committed (at most `limit`), and
   * the cursor after them. Only events no change still running can come before: a later call
   * never finds one before the cursor it was given. Cursors are the adapter's own text.
   */
  eventsAfter(serverid: string, cursor: string, limit: number): Promise<{ events: EventRecord[]; cursor: string }>;
  /** The cursor at the end of a server's events now (a new webhook starts there). */
  eventsEnd(serverid: string): Promise<string>;
  /**
   * Removes events older than `before` (ms since epoch), and with `keep`, those beyond the newest
   * `keep` (by time; at equal times a few more may go): the oldest first, at most `limit`; resolves how many went.
   * A pruner calls again while a whole batch went; until a call takes less, an adapter may keep
   * cutting where that run started (the newest `keep` then were older: fewer go, never more).
   */
  pruneEvents(before: number, limit: number, keep?: number): Promise<number>;
  /** A server's OIDC records whose `field` is `value` (from an index), with their model and id. */
  oidcBy(serverid: string, field: OidcField, value: string): Promise<Array<{ model: string; id: string; record: OidcRecord }>>;
  /** Removes OIDC records that expired before `before` (ms since epoch), the first to expire first, at most `limit`; resolves how many went. */
  pruneOidc(before: number, limit: number): Promise<number>;
  /** Resolves when every change so far is durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

// ---- Sessions, Bus, Clock -------------------------------------------------------------------
// Session state lives behind these, so that any process can apply any event (DESIGN.md: a
// session event reads its snapshot, computes the next one with XState's pure `transition()`,
// writes it back with compare-and-set, then runs the actions). One process: the memory adapters
// (src/adapters/memory/). A cluster: Redis.

/** A JSON value: what crosses a port that may live in another process. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A session's stored value, as the Sessions port keeps it (opaque to the port). */
export interface StoredSession {
  /** XState's persisted snapshot of the session machine. */
  snapshot: Json;
  /** When the session entered its current state (ms since epoch). */
  since: number;
  /**
   * The session's deadlines as it expects them (name → at). A deadline is acted on only when it
   * is still here with the same `at`, so one claimed just before it was cancelled or moved
   * (another process, a retry) does nothing.
   */
  timers?: Record<string, number>;
}

/** A session's value with the version a compare-and-set write must name. */
export interface Versioned<T> {
  value: T;
  /**
   * Increases with every write of this key; never 0 for a stored value. A key deleted and
   * created again never takes back a version of its earlier life, so a reader of that life
   * cannot write (or delete) the new one.
   */
  version: number;
}

/** A timer of a session (an XState `after` delay, a challenge limit…), due at `at`. */
export interface Deadline {
  /** The session key (`serverid:hsid`) it belongs to. */
  key: string;
  /** Which timer of that session; adding the same (key, name) again replaces it. */
  name: string;
  /** When it is due (ms since epoch). */
  at: number;
  /** What to do when it fires (an event for the machine); carried as it was given. */
  payload?: Json;
}

export interface Sessions {
  get(key: string): Promise<Versioned<StoredSession> | undefined>;
  /**
   * The stored version of `key` (undefined: absent), without its value: a process that keeps
   * what it last read or wrote of a session checks with this that it is still what is stored.
   */
  version(key: string): Promise<number | undefined>;
  /**
   * Writes `value` when the stored version is `version` (0: only when the key is absent).
   * Resolves the new version, or undefined when another write came first (read again, retry).
   * The value is stored as JSON would carry it: a copy, which later changes to the caller's
   * object do not reach; each `get` gives a copy of its own too.
   */
  put(key: string, value: StoredSession, version: number): Promise<number | undefined>;
  /** Removes the key when its version is `version`; false when another write came first. */
  delete(key: string, version: number): Promise<boolean>;
  /** Adds (or replaces) the deadline (key, name). */
  addDeadline(deadline: Deadline): Promise<void>;
  /** Cancels the deadline (key, name); nothing when there is none. */
  cancelDeadline(key: string, name: string): Promise<void>;
  /**
   * Removes and returns the deadlines due at `now` (`at <= now`; at most `limit`, default all;
   * earliest first, equal times in no set order). Each deadline is returned by exactly one call,
   * whichever process makes it. Deadlines live apart from values: `put` and `delete` leave them.
   */
  claimDue(now: number, limit?: number): Promise<Deadline[]>;
  /** When the earliest deadline is due, if there is one (to sleep until then). */
  nextDue(): Promise<number | undefined>;
  /**
   * Sets of session keys by name (an index: the sessions of an account, so blocking it finds
   * them without a walk). Adding what is there, or removing what is not, changes nothing.
   */
  addMember(set: string, key: string): Promise<void>;
  removeMember(set: string, key: string): Promise<void>;
  /** The keys in the set (none: an empty array), in no set order. */
  members(set: string): Promise<string[]>;
  /**
   * Calls `handler` once each time the adapter finds that the store lost what it held (a Redis
   * restarted without its data): every value, deadline and set is gone. It finds out when it
   * connects again, and at the latest at its next `claimDue` (which a hub makes every poll).
   * The caller puts back what it keeps elsewhere (the hub: the sessions written through to the
   * Store). Returns the unsubscribe.
   */
  onLost(handler: () => void): () => void;
  close(): Promise<void>;
}

/**
 * Messages between processes, by topic: a session's updates go to every process whose browsers
 * watch it (`session:<key>`); a frame for a phone goes to the process holding its connection
 * (`peer:<id>`). Delivery is asynchronous, in publish order per topic, and each subscriber gets
 * its own copy (as JSON would carry it).
 */
export interface Bus {
  publish(topic: string, message: Json): Promise<void>;
  /**
   * Resolves once subscribed (messages published after that reach `handler`, those published
   * by this process too); returns the unsubscribe. Once the unsubscribe is called, `handler` is
   * not called again, not even for messages already on their way. A handler that throws is
   * reported by the adapter; it stays subscribed, and the others still get the message.
   */
  subscribe(topic: string, handler: (message: Json) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

// ---- Limits -----------------------------------------------------------------------------------
// PROTOCOL.md §7: every limit counted through this port, so that in a cluster (§8) every node
// shares the counts (Redis) and a limit holds whatever node a client reaches.

/** At most `limit` in a burst, refilled evenly over `windowMs` (a token bucket). */
export interface Rate {
  limit: number;
  windowMs: number;
}

/** A sliding log's limits: at most `limit` entries within any `windowMs`, and `gapMs` at least between two. */
export interface SlidingLog {
  limit: number;
  windowMs: number;
  gapMs: number;
}

/** The port's rule for `admit`'s argument (every adapter): a sliding log needs a limit and a window above 0, and a gap of 0 or more. */
export function checkLog(key: string, log: SlidingLog): void {
  if (!(log.limit > 0) || !(log.windowMs > 0) || !(log.gapMs >= 0)) throw new RangeError(`Limits.admit(${key}): a log needs a limit and a window above 0, and a gap of 0 or more`);
}

/** What a `take` (or an `admit`) got. */
export interface Take {
  allowed: boolean;
  /** Takes left at once after this one (0 when refused). */
  remaining: number;
  /** When refused (or blocked): ms until a take of the same cost would be allowed. 0 when allowed. */
  retryAfterMs: number;
}

export interface Limits {
  /**
   * Takes `cost` (default 1) from the bucket of `key` under `rate` at time `now`: allowed while
   * the bucket holds it (a burst of at most `limit`, then `limit` per `windowMs`), refused
   * otherwise, taking nothing. A key that is blocked (`block`) is refused until its block ends.
   */
  take(key: string, rate: Rate, now: number, cost?: number): Promise<Take>;
  /**
   * Logs `now` under `key` when the sliding log allows it (fewer than `log.limit` entries within
   * the last `log.windowMs`, the latest at least `log.gapMs` before `now`); refuses otherwise,
   * logging nothing. Unlike a bucket, no window of `windowMs` ever holds more than `limit`
   * (pushes: 20 an hour means 20 in any hour). A blocked key is refused until its block ends.
   */
  admit(key: string, log: SlidingLog, now: number): Promise<Take>;
  /** Refuses every take of `key` until `until` (a penalty: 5 minutes of RATE_LIMITED). A later block wins. */
  block(key: string, until: number): Promise<void>;
  /** When the block of `key` ends, if it is blocked at `now`. */
  blockedUntil(key: string, now: number): Promise<number | undefined>;
  /**
   * Something open (a connection) of `key`: `delta` +1 when one opens, -1 when it closes; resolves
   * the count now (never below 0). `holder` names who holds it (this process), so that what a
   * process that died held can be dropped (`release`).
   */
  open(key: string, delta: 1 | -1, holder: string): Promise<number>;
  /** Drops every count `holder` held (at start, for a holder that is gone). */
  release(holder: string): Promise<void>;
  close(): Promise<void>;
}

/** Time and timers: the real ones, or XState's SimulatedClock in tests. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}
