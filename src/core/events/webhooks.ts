/**
 * A virtual server's webhooks: made, listed, rotated and deleted by its administrators (REST,
 * CLI). The secret is shown once, when it is made or rotated; a rotated secret keeps signing
 * beside the new one for a while, so receivers can switch without losing a delivery. Where the
 * deliveries are (cursor, retries, the last attempts) is a record of its own (deliver-events.ts).
 */
import { randomBytes } from 'node:crypto';
import type { DeliveryRecord, Store, WebhookRecord } from '../../ports.ts';
import { toB64url } from '../../wire/base64url.ts';
import { NsError } from '../../wire/errors.ts';
import { isEventType } from './event-types.ts';
import { newWebhookSecret } from './sign-webhook.ts';

export interface WebhookInput {
  url: string;
  /** event types; none or empty: every type */
  types?: string[];
  description?: string;
}

/** A webhook as REST shows it: never its secret. */
export interface WebhookView {
  id: string;
  url: string;
  types: string[];
  description: string;
  created: number;
  /** When the secret before the last rotation stops signing, while it does. */
  previousSecretUntil?: number;
  delivered: number;
  failed: number;
  /** The event being retried: its id, tries so far, when the next try is due. */
  retrying?: { event: string; tries: number; next: number; since: number };
}

export interface WebhookSettings {
  /** At most this many webhooks per server. */
  perServer: number;
  /** How long a rotated secret keeps signing beside the new one (ms). */
  rotationOverlapMs: number;
}

export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = { perServer: 16, rotationOverlapMs: 24 * 3600_000 };

const MAX_URL = 2048;
const MAX_DESCRIPTION = 256;

/** A webhook's URL: http or https, no credentials in it, no fragment. */
export function checkWebhookUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new NsError('BAD_REQUEST', 'url must be an absolute http:// or https:// URL');
  }
  if (text.length > MAX_URL) throw new NsError('BAD_REQUEST', `url must be at most ${MAX_URL} characters`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new NsError('BAD_REQUEST', 'url must be an http:// or https:// URL');
  if (url.username || url.password) throw new NsError('BAD_REQUEST', 'url must not carry credentials (the signature authenticates the NS)');
  if (url.hash) throw new NsError('BAD_REQUEST', 'url must not have a fragment');
  return url.href;
}

function checkTypes(types: string[] | undefined): string[] {
  const out = [...new Set(types ?? [])];
  for (const t of out) if (!isEventType(t)) throw new NsError('BAD_REQUEST', `Unknown event type ${JSON.stringify(t)}`);
  return out.sort();
}

export const viewOf = (w: WebhookRecord, d: DeliveryRecord | undefined, now: number): WebhookView => ({
  id: w.id,
  url: w.url,
  types: w.types,
  description: w.description,
  created: w.created,
  ...(w.previousUntil !== undefined && w.previousUntil > now ? { previousSecretUntil: w.previousUntil } : {}),
  delivered: d?.delivered ?? 0,
  failed: d?.failed ?? 0,
  ...(d?.pending ? { retrying: { event: d.pending.event, tries: d.pending.tries, next: d.pending.next, since: d.pending.first } } : {}),
});

export class Webhooks {
  constructor(
    private readonly store: Store,
    private readonly settings: WebhookSettings = DEFAULT_WEBHOOK_SETTINGS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Makes a webhook; its deliveries start with the events after now. Resolves its view and its secret (shown this once). */
  async create(serverid: string, input: WebhookInput): Promise<{ webhook: WebhookView; secret: string }> {
    const url = checkWebhookUrl(input.url);
    const types = checkTypes(input.types);
    const description = input.description ?? '';
    if (description.length > MAX_DESCRIPTION) throw new NsError('BAD_REQUEST', `description must be at most ${MAX_DESCRIPTION} characters`);
    const cursor = await this.store.eventsEnd(serverid);
    const at = this.now();
    const record: WebhookRecord = { id: `wh_${toB64url(randomBytes(12))}`, serverid, url, types, description, created: at, secret: newWebhookSecret() };
    const delivery: DeliveryRecord = { cursor, delivered: 0, failed: 0, attempts: [] };
    await this.store.transact(async (tx) => {
      if (!(await tx.get('server', serverid))) throw new NsError('UNKNOWN_SERVER');
      if ((await this.store.webhooksOf(serverid)).length >= this.settings.perServer)
        throw new NsError('TOO_MANY_WEBHOOKS', `A server has at most ${this.settings.perServer} webhooks`);
      tx.put('webhook', [serverid, record.id], record);
      tx.put('delivery', [serverid, record.id], delivery);
    });
    return { webhook: viewOf(record, delivery, at), secret: record.secret };
  }

  async list(serverid: string): Promise<WebhookView[]> {
    const at = this.now();
    const hooks = await this.store.webhooksOf(serverid);
    const out: WebhookView[] = [];
    for (const w of hooks.sort((a, b) => a.created - b.created || (a.id < b.id ? -1 : 1))) out.push(viewOf(w, await this.store.get('delivery', serverid, w.id), at));
    return out;
  }

  /** The webhook, or 404 UNKNOWN_WEBHOOK. */
  async require(serverid: string, id: string): Promise<WebhookRecord> {
    const w = await this.store.get('webhook', serverid, id);
    if (!w) throw new NsError('UNKNOWN_WEBHOOK');
    return w;
  }

  async get(serverid: string, id: string): Promise<WebhookView> {
    const w = await this.require(serverid, id);
    return viewOf(w, await this.store.get('delivery', serverid, id), this.now());
  }

  /** Its deliveries: the last attempts (newest first), and what is being retried. */
  async attempts(serverid: string, id: string): Promise<DeliveryRecord['attempts']> {
    await this.require(serverid, id);
    return [...((await this.store.get('delivery', serverid, id))?.attempts ?? [])].reverse();
  }

  /** Changes its URL, types or description (the secret and the deliveries stay). */
  async update(serverid: string, id: string, input: Partial<WebhookInput>): Promise<WebhookView> {
    const fields: Partial<WebhookRecord> = {};
    if (input.url !== undefined) fields.url = checkWebhookUrl(input.url);
    if (input.types !== undefined) fields.types = checkTypes(input.types);
    if (input.description !== undefined) {
      if (input.description.length > MAX_DESCRIPTION) throw new NsError('BAD_REQUEST', `description must be at most ${MAX_DESCRIPTION} characters`);
      fields.description = input.description;
    }
    await this.store.transact(async (tx) => {
      if (!(await tx.get('webhook', serverid, id))) throw new NsError('UNKNOWN_WEBHOOK');
      tx.patch('webhook', [serverid, id], fields);
    });
    return this.get(serverid, id);
  }

  /** A new secret (shown this once); the one before keeps signing beside it for the overlap. */
  async rotate(serverid: string, id: string): Promise<{ secret: string; previousSecretUntil: number }> {
    const secret = newWebhookSecret();
    const until = this.now() + this.settings.rotationOverlapMs;
    await this.store.transact(async (tx) => {
      const w = await tx.get('webhook', serverid, id);
      if (!w) throw new NsError('UNKNOWN_WEBHOOK');
      tx.patch('webhook', [serverid, id], { secret, previousSecret: w.secret, previousUntil: until });
    });
    return { secret, previousSecretUntil: until };
  }

  async delete(serverid: string, id: string): Promise<void> {
    await this.store.transact(async (tx) => {
      if (!(await tx.get('webhook', serverid, id))) throw new NsError('UNKNOWN_WEBHOOK');
      tx.delete('webhook', [serverid, id]);
      if (await tx.get('delivery', serverid, id)) tx.delete('delivery', [serverid, id]);
    });
  }
}
