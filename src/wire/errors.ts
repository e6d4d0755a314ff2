/**
 * The one table of error codes. Every refusal the NS makes — on REST, on the app channel or on a
 * browser socket — names one of these codes, and so does every failure it logs or counts. Each
 * entry gives:
 *
 * - `status`: the HTTP status of the REST answer `{code, message}` (`null`: the code is never an
 *   answer, only a log line);
 * - `app`: what the app channel (PROTOCOL.md §4) does with it: `'error'` answers
 *   `{t:"error", code, message}` (inside a `sealed` frame once the connection is sealed) and keeps
 *   the connection; a number closes the WebSocket with that close code, the code as its reason;
 *   `null`: the code never reaches the app channel. `sealed`, when set, is the close code used
 *   instead of an answer on a sealed connection (§4.2);
 * - `level`: the pino level it is logged at: `info` for a client's mistake, `warn` for something
 *   an operator should look at, `error` for a fault on the NS's side;
 * - `message`: the message sent when the call site gives none.
 *
 * The browser sockets send any code as they find it (`ERROR <code>`, `{error: code}`).
 * docs/errors.md lists the table for people; test/wire/errors.test.ts checks that the two agree
 * and that the source uses no code missing here.
 */

export type LogLevel = 'info' | 'warn' | 'error';

/** `'error'`: an error frame; a number: the WebSocket close code; `null`: never on the app channel. */
export type AppBehaviour = 'error' | 1008 | 1009 | null;

export interface ErrorSpec {
  readonly status: number | null;
  readonly app: AppBehaviour;
  readonly sealed?: 1008;
  readonly level: LogLevel;
  readonly message: string;
}

export const errors = {
  // Input
  BAD_REQUEST: { status: 400, app: null, level: 'info', message: 'The request is malformed' },
  BAD_NONCE: { status: 400, app: null, level: 'info', message: 'X-nonce must be 16 to 512 printable ASCII characters' },
  BAD_SERVERID: { status: 400, app: null, level: 'info', message: 'serverid must be 22 base64url characters' },
  BAD_USERID: { status: 400, app: null, level: 'info', message: 'userid must be 1 to 256 characters' },
  BODY_TOO_LARGE: { status: 413, app: 1009, level: 'info', message: 'The request body is too large' },
  // Who is calling
  MISSING_API_KEY: { status: 401, app: null, level: 'info', message: 'The X-apikey header is required' },
  UNKNOWN_API_KEY: { status: 401, app: null, level: 'warn', message: 'The api key is not known' },
  FORBIDDEN: { status: 403, app: null, level: 'warn', message: 'The api key lacks the permission for this operation' },
  BAD_SU: { status: 403, app: null, level: 'warn', message: 'X-su needs global root or setrid and a known role' },
  INVALID_USERID: { status: 403, app: null, level: 'info', message: 'userid must be 1 to 256 characters' },
  NO_ACCOUNT: { status: 403, app: null, level: 'info', message: 'No account is logged in to this session' },
  CANNOT_PROVOKE: { status: 403, app: null, level: 'info', message: 'This session has no account a login can be pushed to' },
  // What is asked for
  NOT_FOUND: { status: 404, app: null, level: 'info', message: 'No such route' },
  UNKNOWN_SERVER: { status: 404, app: 'error', level: 'info', message: 'No such server' },
  UNKNOWN_USER: { status: 404, app: null, level: 'info', message: 'No such user' },
  UNKNOWN_ACCOUNT: { status: 404, app: 'error', level: 'info', message: 'No such account on this server' },
  UNKNOWN_ATTRIBUTE: { status: 404, app: null, level: 'info', message: 'No such attribute' },
  UNKNOWN_ROLE: { status: 404, app: null, level: 'info', message: 'No such role' },
  UNKNOWN_TRANSACTION: { status: 404, app: 'error', level: 'info', message: 'No such transaction on this server' },
  UNKNOWN_WEBHOOK: { status: 404, app: null, level: 'info', message: 'No such webhook on this server' },
  UNKNOWN_OIDC_CLIENT: { status: 404, app: null, level: 'info', message: 'No such OpenID Connect client on this server' },
  TOO_MANY_WEBHOOKS: { status: 409, app: null, level: 'info', message: 'The server has as many webhooks as it may' },
  TRANSACTION_CLOSED: { status: 409, app: 'error', level: 'info', message: 'The transaction was answered or has expired' },
  RATE_LIMITED: { status: 429, app: 'error', level: 'warn', message: 'Too many attempts; try again later' },
  // Our side
  INTERNAL: { status: 500, app: 'error', level: 'error', message: 'Internal error' },
  STORAGE_UNAVAILABLE: { status: 503, app: 'error', level: 'error', message: 'The store cannot write now; try again later' },
  // App channel (PROTOCOL.md §4)
  BAD_FRAME: { status: 400, app: 'error', sealed: 1008, level: 'info', message: 'A frame must be one binary msgpack map' },
  BAD_MESSAGE: { status: 400, app: 'error', level: 'info', message: 'The frame does not fit its schema' },
  UNSUPPORTED_VERSION: { status: 400, app: 'error', level: 'info', message: 'Protocol version not supported' },
  UNKNOWN_SESSION: { status: 404, app: 'error', level: 'info', message: 'No such session' },
  SESSION_BUSY: { status: 409, app: 'error', level: 'info', message: 'The session is busy with another login' },
  SESSION_EXPIRED: { status: 410, app: 'error', level: 'info', message: 'The session has expired' },
  BAD_BOX: { status: 400, app: 'error', sealed: 1008, level: 'warn', message: 'The box does not open' },
  ACCOUNT_BLOCKED: { status: 403, app: 'error', level: 'info', message: 'The account is blocked' },
  BAD_SIGNATURE: { status: 403, app: 'error', level: 'warn', message: 'The signature does not verify' },
  SECOND_FACTOR_REQUIRED: { status: 403, app: 'error', level: 'info', message: 'A second factor is required' },
  ENROL_USED: { status: 410, app: 'error', level: 'info', message: 'This enrol code was used or has expired' },
  // Pushes (PROTOCOL.md §4.2): events that are logged, never answered
  PUSH_REPORTED: { status: null, app: null, level: 'warn', message: 'A push was denied and reported; its accounts are muted' },
  PUSH_UNDELIVERED: { status: null, app: null, level: 'info', message: 'No listening connection and no push gateway for the account' },
  PUSH_FAILED: { status: null, app: null, level: 'warn', message: 'The push gateway did not take the push' },
  // Webhooks (events/): delivery outcomes that are logged, never answered
  WEBHOOK_RETRYING: { status: null, app: null, level: 'warn', message: 'A webhook endpoint did not take an event; it is tried again later' },
  WEBHOOK_FAILED: { status: null, app: null, level: 'error', message: 'A webhook endpoint did not take an event for as long as deliveries are tried; it is given up' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errors;

/** A code's entry, typed as the interface (so optional fields such as `sealed` can be read). */
export const specOf = (code: ErrorCode): ErrorSpec => errors[code];

/** The HTTP status of a code (500 for one that is never an answer). */
export const statusOf = (code: ErrorCode): number => specOf(code).status ?? 500;

/** A refusal with a code from the table. Throw it anywhere; transports turn it into their frame. */
/** What a client refused STORAGE_UNAVAILABLE is told to wait before trying again (`Retry-After`). */
export const STORAGE_RETRY_MS = 5000;

export class NsError extends Error {
  readonly code: ErrorCode;
  /** The table's REST status of the code. */
  readonly status: number;
  /** When trying again may work (ms): a limit's refusal says it (REST: `Retry-After`). */
  readonly retryAfterMs: number | undefined;
  constructor(code: ErrorCode, message: string = errors[code].message, options: { retryAfterMs?: number } = {}) {
    super(message);
    this.name = 'NsError';
    this.code = code;
    this.status = statusOf(code);
    this.retryAfterMs = options.retryAfterMs;
  }

  /** The table's log level of the code. */
  get level(): LogLevel {
    return errors[this.code].level;
  }
}

export const isErrorCode = (value: unknown): value is ErrorCode => typeof value === 'string' && Object.hasOwn(errors, value);
