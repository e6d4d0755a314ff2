/**
 * What a failure of PostgreSQL means to the store: the database cannot be reached (the core
 * answers STORAGE_UNAVAILABLE, 503: try again later), another process's change conflicted (run
 * the change again), or something else (a fault, passed on as it is).
 */
import { NsError, STORAGE_RETRY_MS } from '../../wire/errors.ts';

/** The database cannot be reached, or cannot take writes now: nothing of the change is known to be stored. */
export class StorageUnavailableError extends NsError {
  constructor(cause: unknown) {
    super('STORAGE_UNAVAILABLE', undefined, { retryAfterMs: STORAGE_RETRY_MS });
    this.name = 'StorageUnavailableError';
    this.cause = cause;
  }
}

/** Network errors of the socket to the server. */
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN']);

/** node-postgres's own words for a connection it lost or could not make. */
const LOST = /Connection terminated|connection error|timeout exceeded when trying to connect|Connection closed|not queryable/i;

const codeOf = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : undefined;

/**
 * Whether the error says the database is out of reach or out of resources: a network error, a
 * lost connection, SQLSTATE class 08 (connection exception), 53 (insufficient resources: too many
 * connections, disk full), 57P01-57P03 (the server is shutting down or starting).
 */
export function isUnavailable(e: unknown): boolean {
  if (e instanceof StorageUnavailableError) return true;
  const code = codeOf(e);
  if (code !== undefined && (NETWORK.has(code) || code.startsWith('08') || code.startsWith('53') || /^57P0[123]$/.test(code))) return true;
  return e instanceof Error && code === undefined && LOST.test(e.message);
}

/** Whether another transaction got in the way (serialization failure, deadlock): the change may run again. */
export const isConflict = (e: unknown): boolean => {
  const code = codeOf(e);
  return code === '40001' || code === '40P01';
};

/** The error as the store rejects with it: StorageUnavailableError when the database is out of reach. */
export const storageError = (e: unknown): unknown => (e instanceof StorageUnavailableError || !isUnavailable(e) ? e : new StorageUnavailableError(e));
