/**
 * The one table of error codes. Every refusal the NS makes — on REST, on the app channel or on a
 * browser socket — names one of these codes. REST answers `{code, message}` with `status`; the
 * app channel answers `{t:"error", code, message}`; the text socket answers `ERROR <code>`.
 */
export const errors = {
  // Input
  BAD_REQUEST: { status: 400, message: 'The request is malformed' },
  BAD_NONCE: { status: 400, message: 'X-nonce must be 16 to 512 printable ASCII characters' },
  BAD_SERVERID: { status: 400, message: 'serverid must be 22 base64url characters' },
  BAD_USERID: { status: 400, message: 'userid must be 1 to 256 characters' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  // Who is calling
  MISSING_API_KEY: { status: 401, message: 'The X-apikey header is required' },
  UNKNOWN_API_KEY: { status: 401, message: 'The api key is not known' },
  FORBIDDEN: { status: 403, message: 'The api key lacks the permission for this operation' },
  BAD_SU: { status: 403, message: 'X-su needs global root or setrid and a known role' },
  INVALID_USERID: { status: 403, message: 'userid must be 1 to 256 characters' },
  NO_ACCOUNT: { status: 403, message: 'No account is logged in to this session' },
  CANNOT_PROVOKE: { status: 403, message: 'This session has no account a login can be pushed to' },
  // What is asked for
  NOT_FOUND: { status: 404, message: 'No such route' },
  UNKNOWN_SERVER: { status: 404, message: 'No such server' },
  UNKNOWN_USER: { status: 404, message: 'No such user' },
  UNKNOWN_ACCOUNT: { status: 404, message: 'No such account on this server' },
  UNKNOWN_ATTRIBUTE: { status: 404, message: 'No such attribute' },
  UNKNOWN_ROLE: { status: 404, message: 'No such role' },
  UNKNOWN_TRANSACTION: { status: 404, message: 'No such transaction on this server' },
  TRANSACTION_CLOSED: { status: 409, message: 'The transaction was answered or has expired' },
  RATE_LIMITED: { status: 429, message: 'Too many attempts; try again later' },
  INTERNAL: { status: 500, message: 'Internal error' },
  // App channel (PROTOCOL.md §4)
  BAD_FRAME: { status: 400, message: 'A frame must be one binary msgpack map' },
  BAD_MESSAGE: { status: 400, message: 'The frame does not fit its schema' },
  UNSUPPORTED_VERSION: { status: 400, message: 'Protocol version not supported' },
  UNKNOWN_SESSION: { status: 404, message: 'No such session' },
  SESSION_BUSY: { status: 409, message: 'The session is busy with another login' },
  SESSION_EXPIRED: { status: 410, message: 'The session has expired' },
  BAD_BOX: { status: 400, message: 'The box does not open' },
  ACCOUNT_BLOCKED: { status: 403, message: 'The account is blocked' },
  BAD_SIGNATURE: { status: 403, message: 'The signature does not verify' },
  SECOND_FACTOR_REQUIRED: { status: 403, message: 'A second factor is required' },
  ENROL_USED: { status: 410, message: 'This enrol code was used or has expired' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errors;

/** A refusal with a code from the table. Throw it anywhere; transports turn it into their frame. */
export class NsError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, message: string = errors[code].message, status: number = errors[code].status) {
    super(message);
    this.name = 'NsError';
    this.code = code;
    this.status = status;
  }
}

export const isErrorCode = (value: unknown): value is ErrorCode => typeof value === 'string' && Object.hasOwn(errors, value);
