/**
 * The NS's log: pino, one JSON object per line on stdout (the startup banner and the root key
 * go to stderr, apart from it: src/cli/cli.ts). Secrets never reach it: request headers that
 * carry them are censored, and nothing logs a nonce, a key or a token (docs/security.md).
 *
 * `NEXTAUTH_LOG_FORMAT=pretty`, for people at a terminal: `12:04:05.123 INFO  message  key=value …`.
 */
import { pino, type Logger } from 'pino';
import type { Config } from './config.ts';

export type { Logger };

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every line has, shown in their own places (or not at all) in the pretty form. */
const SHOWN = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/** One JSON log line as a person reads it. */
export function prettyLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof o.time === 'number' ? new Date(o.time).toISOString().slice(11, 23) : '';
  const level = (LEVELS[o.level as number] ?? String(o.level)).padEnd(5);
  const fields = Object.entries(o)
    .filter(([k]) => !SHOWN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${level} ${String(o.msg ?? '')}${fields ? `  ${fields}` : ''}\n`;
}

export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>, out: NodeJS.WritableStream = process.stdout): Logger {
  const options = {
    level: config.logLevel,
    redact: { paths: ['req.headers["x-apikey"]', 'req.headers["x-nonce"]', 'req.headers["x-su"]', 'req.headers.cookie'], censor: '[hidden]' },
  };
  if (config.logFormat !== 'pretty') return pino(options, out === process.stdout ? undefined : out);
  return pino(options, { write: (line: string) => void out.write(prettyLine(line)) });
}
