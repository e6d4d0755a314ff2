/**
 * The one way the NS answers an HTTP error: the status comes from the error table
 * (src/wire/errors.ts) and the body is `{code, message}`. test/wire/errors.test.ts fails on a
 * literal 4xx/5xx status anywhere else in src/.
 */
import { STATUS_CODES } from 'node:http';
import { errors, statusOf, type ErrorCode } from '../../wire/errors.ts';

/** What the helper needs of a fastify reply (any type provider's). */
export interface ErrorReply<R> {
  code(statusCode: number): { send(payload: { code: string; message: string }): R };
}

/** Answers `{code, message}` (and the fields of `more`, if any) with the table's status for `code`. */
export function replyError<R>(reply: ErrorReply<R>, code: ErrorCode, message: string = errors[code].message, more: Record<string, unknown> = {}): R {
  return reply.code(statusOf(code)).send({ ...more, code, message });
}

/** A WebSocket upgrade refused before any WebSocket exists: the raw HTTP response (no body) for `socket.end()`. */
export function upgradeRefusal(code: ErrorCode, retryAfterSeconds?: number): string {
  const status = statusOf(code);
  const retry = retryAfterSeconds === undefined ? '' : `Retry-After: ${retryAfterSeconds}\r\n`;
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\n${retry}Content-Length: 0\r\n\r\n`;
}
