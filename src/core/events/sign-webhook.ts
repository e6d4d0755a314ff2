/**
 * Standard Webhooks (https://www.standardwebhooks.com): a delivery carries `webhook-id`,
 * `webhook-timestamp` (seconds) and `webhook-signature`, `v1,` and the base64 HMAC-SHA256 of
 * `<id>.<timestamp>.<body>` under the secret's bytes (`whsec_` + base64); several signatures,
 * space-separated, while a rotated secret still signs beside the new one. `verifyWebhook` is
 * what a receiver runs (the tests, and @nextauth/node), with node's headers or Fetch's `Headers`.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { fromB64, toB64 } from '../../wire/base64url.ts';

export const SECRET_PREFIX = 'whsec_';

/** A new signing secret: `whsec_` and 32 random bytes, base64. */
export const newWebhookSecret = (): string => `${SECRET_PREFIX}${toB64(randomBytes(32))}`;

function keyOf(secret: string): Uint8Array {
  return fromB64(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret);
}

function sign(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', keyOf(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** The three headers of one delivery, signed by every secret given (the new one first). */
export function signWebhook(secrets: readonly string[], id: string, timestamp: number, body: string): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => sign(s, id, timestamp, body)).join(' '),
  };
}

export class WebhookVerificationError extends Error {}

/**
 * Checks a delivery as a receiver: one of its signatures is the secret's (compared in constant
 * time), and its timestamp is within `toleranceSeconds` of `now` (replays of old deliveries fail).
 */
export function verifyWebhook(
  secret: string,
  headers: Record<string, string | string[] | undefined> | { get(name: string): string | null },
  body: string,
  { now = Date.now(), toleranceSeconds = 300 }: { now?: number; toleranceSeconds?: number } = {},
): void {
  // node's headers (lower-case keys) or Fetch's Headers (Next.js, Hono, workers)
  const one = (name: string): string | undefined => {
    if (typeof headers.get === 'function') return (headers as { get(name: string): string | null }).get(name) ?? undefined;
    const v = (headers as Record<string, string | string[] | undefined>)[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const id = one('webhook-id');
  const ts = one('webhook-timestamp');
  const signatures = one('webhook-signature');
  if (!id || !ts || !signatures) throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature');
  const timestamp = Number(ts);
  if (!/^\d+$/.test(ts) || Math.abs(now / 1000 - timestamp) > toleranceSeconds) throw new WebhookVerificationError('the timestamp is too old or too new');
  const expected = Buffer.from(sign(secret, id, timestamp, body));
  for (const given of signatures.split(' ')) {
    const b = Buffer.from(given);
    if (b.length === expected.length && timingSafeEqual(b, expected)) return;
  }
  throw new WebhookVerificationError('no signature matches');
}
