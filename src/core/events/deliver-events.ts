/**
 * Delivers the outbox to the webhooks: each webhook has its own loop, so a slow or dead endpoint
 * delays nothing but its own deliveries (never a login: events are written by the changes, read
 * here afterwards). A webhook's events go as CloudEvents signed per Standard Webhooks, each
 * session's (subject's) one after the other in the order their changes committed, several
 * sessions' at once; an event that is not taken (no 2xx in `timeoutMs`) is tried again with
 * exponential backoff, the webhook's later events waiting, until `retryFor` after its first try:
 * then it is marked failed and the next one goes. At least once: where a webhook is (its cursor, its retry, the last attempts) is
 * written at most every `saveMs` and at every retry, so after a crash a few events may come
 * again, with the same `webhook-id` to drop them by.
 *
 * In a cluster one process delivers a webhook at a time: it holds a lease in the webhook's
 * delivery record, renewed as it writes its progress; a process that dies lets it lapse and
 * another takes over. With the embedded store there is one process (`sole`): leases left by a
 * process before a restart are not waited for.
 */
import { randomBytes } from 'node:crypto';
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Logger } from 'pino';
import type { DeliveryAttempt, DeliveryRecord, EventRecord, Store, WebhookRecord } from '../../ports.ts';
import { toCloudEvent } from './cloud-event.ts';
import { signWebhook } from './sign-webhook.ts';

export interface DeliveryOptions {
  store: Store;
  /** The NS's public URL (CloudEvents' `source`). */
  base: string;
  /** ms an event is retried before it is given up. */
  retryFor: number;
  /** Deliver to loopback, private and link-local addresses too. */
  privateAddresses: boolean;
  /** The only process (the embedded store): leases of an earlier process are not waited for. */
  sole: boolean;
  log?: Logger;
  now?: () => number;
  /** Outcomes, for metrics. */
  onAttempt?: (outcome: DeliveryAttempt['outcome']) => void;
  /** ms a delivery waits for its answer (default 10 s). */
  timeoutMs?: number;
  /** ms between looks for new events and webhooks (default 250). */
  pollMs?: number;
  /** the first retry's delay (ms; doubled each time, at most an hour; default 1 s) */
  backoffMs?: number;
  /** ms between two writes of a webhook's progress while all goes well (default 1 s). */
  saveMs?: number;
  /** ms a lease lasts (default 30 s). */
  leaseMs?: number;
}

/** The last attempts kept per webhook. */
const ATTEMPTS_KEPT = 50;
const PAGE = 100;
/** Deliveries of one webhook at once (each of another session). */
const CONCURRENT = 8;
const MAX_BACKOFF_MS = 3600_000;
/** Bytes of an endpoint's answer read (then the socket is let go). */
const MAX_ANSWER = 64 * 1024;

/** Addresses a webhook may not reach unless `privateAddresses`: loopback, private, link-local, unspecified. */
const PRIVATE = new net.BlockList();
for (const [a, n] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const)
  PRIVATE.addSubnet(a, n, 'ipv4');
for (const [a, n] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['::ffff:0:0', 96],
] as const)
  PRIVATE.addSubnet(a, n, 'ipv6');

export const isPrivateAddress = (address: string): boolean => PRIVATE.check(address, net.isIPv6(address) ? 'ipv6' : 'ipv4');

/** A webhook's host is a private address, and they are not allowed (the attempt's error is its message). */
class PrivateAddressError extends Error {}

/** A DNS lookup that refuses private addresses (checked on the address connected to: no rebinding around it). */
const publicLookup: net.LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: false }, (err, address, family) => {
    if (err) return callback(err, '', 0);
    if (isPrivateAddress(address as string)) return callback(new PrivateAddressError(`${hostname} is a private address (${address})`), '', 0);
    callback(null, address as string, family);
  });
};

export class Deliveries {
  /** This process's name in the leases it holds. */
  readonly holder = `${process.pid}-${randomBytes(6).toString('hex')}`;
  /** The loops running here, by `serverid/id`. */
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly wakers = new Set<() => void>();
  private readonly agents = { http: new http.Agent({ keepAlive: true, maxSockets: CONCURRENT }), https: new https.Agent({ keepAlive: true, maxSockets: CONCURRENT }) };
  private readonly now: () => number;
  private readonly o: Required<Pick<DeliveryOptions, 'timeoutMs' | 'pollMs' | 'backoffMs' | 'saveMs' | 'leaseMs'>>;

  constructor(private readonly opts: DeliveryOptions) {
    this.now = opts.now ?? Date.now;
    this.o = { timeoutMs: 10_000, pollMs: 250, backoffMs: 1000, saveMs: 1000, leaseMs: 30_000, ...withoutUndefined(opts) };
  }

  start(): void {
    const tick = () => {
      if (this.closed) return;
      this.look().then(
        () => {
          if (!this.closed) this.timer = setTimeout(tick, this.o.pollMs * 4);
        },
        (err: unknown) => {
          this.opts.log?.warn({ err }, 'could not list the webhooks');
          if (!this.closed) this.timer = setTimeout(tick, this.o.pollMs * 4);
        },
      );
    };
    tick();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    for (const wake of [...this.wakers]) wake();
    // Deliveries under way are cut (a slow endpoint does not hold the stop up): not counted as tries.
    this.agents.http.destroy();
    this.agents.https.destroy();
    await Promise.allSettled([...this.running.values()]);
  }

  /** Starts a loop for every webhook without one here. */
  private async look(): Promise<void> {
    for (const w of await this.opts.store.webhooksOf()) {
      const key = `${w.serverid}/${w.id}`;
      if (this.running.has(key)) continue;
      const run = this.deliver(w.serverid, w.id)
        .catch((err: unknown) => this.opts.log?.warn({ err, serverid: w.serverid, webhook: w.id }, 'webhook deliveries stopped; they start again'))
        .finally(() => this.running.delete(key));
      this.running.set(key, run);
    }
  }

  /** Sleeps `ms`, or less when closed. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  /**
   * Takes (or renews) the lease, writing `progress` with it; `release`: gives it up at once (a
   * process that stops, so another goes on without waiting for it to lapse). Undefined when
   * another process holds it, or the webhook is gone.
   */
  private async lease(serverid: string, id: string, progress?: Partial<DeliveryRecord>, release = false): Promise<DeliveryRecord | undefined> {
    const now = this.now();
    return this.opts.store.transact(async (tx) => {
      const d = await tx.get('delivery', serverid, id);
      if (!d || !(await tx.get('webhook', serverid, id))) return undefined;
      const mine = d.holder === this.holder;
      if (!mine && progress) return undefined; // lost it: someone else goes on from what it wrote
      if (!mine && !this.opts.sole && d.holder !== undefined && (d.leaseUntil ?? 0) > now) return undefined;
      const next: DeliveryRecord = { ...d, ...progress, holder: this.holder, leaseUntil: release ? now : now + this.o.leaseMs };
      if (progress && !('pending' in progress)) delete next.pending;
      tx.put('delivery', [serverid, id], next);
      return next;
    });
  }

  /** One webhook's loop: while this process holds its lease and the webhook is there. */
  private async deliver(serverid: string, id: string): Promise<void> {
    let d = await this.lease(serverid, id);
    if (!d) return;
    let saved = this.now();
    let dirty = false;
    const save = async (release = false): Promise<boolean> => {
      const pending = d!.pending;
      const next = await this.lease(
        serverid,
        id,
        { cursor: d!.cursor, delivered: d!.delivered, failed: d!.failed, attempts: d!.attempts, ...(pending ? { pending } : {}) },
        release,
      );
      if (!next) return false;
      d = next;
      saved = this.now();
      dirty = false;
      return true;
    };
    try {
      while (!this.closed) {
        const webhook = await this.opts.store.get('webhook', serverid, id);
        if (!webhook) return;
        if (d.pending && d.pending.next > this.now()) {
          if (dirty && !(await save())) return;
          await this.sleep(Math.min(d.pending.next - this.now(), this.o.leaseMs / 3));
          if (d.leaseUntil! - this.now() < this.o.leaseMs / 2 && !(await save())) return;
          continue;
        }
        const page = await this.opts.store.eventsAfter(serverid, d.cursor, PAGE);
        if (page.events.length === 0) {
          if ((dirty && this.now() - saved >= this.o.saveMs) || d.leaseUntil! - this.now() < this.o.leaseMs / 2) {
            if (!(await save())) return;
          }
          await this.sleep(this.o.pollMs);
          continue;
        }
        // One session's events (one subject) go one after the other, in order; different
        // sessions' side by side, at most CONCURRENT at once. A session whose event is not taken
        // stops there (the ones after it wait for its retry).
        const wanted = new Set(page.events.filter((e) => webhook.types.length === 0 || webhook.types.includes(e.type)));
        const bySession = new Map<string, EventRecord[]>();
        for (const e of wanted) {
          const k = e.subject ?? e.id;
          const list = bySession.get(k);
          if (list) list.push(e);
          else bySession.set(k, [e]);
        }
        const tried = new Map<string, DeliveryAttempt>();
        const queue = [...bySession.values()];
        const worker = async () => {
          for (let list = queue.shift(); list && !this.closed; list = queue.shift()) {
            for (const e of list) {
              const attempt = await this.post(webhook, e);
              this.opts.onAttempt?.(attempt.outcome);
              tried.set(e.id, attempt);
              if (attempt.outcome !== 'delivered' && !this.retryOf(d!, e, attempt).givenUp) break;
            }
          }
        };
        await Promise.all(Array.from({ length: Math.min(CONCURRENT, queue.length) }, worker));
        // Then in commit order: done up to the first event still to be tried again. (Events after
        // it that were taken come again after its retry: at least once, the same webhook-id.)
        let done = 0;
        for (const event of page.events) {
          const attempt = tried.get(event.id);
          if (!attempt) {
            if (wanted.has(event)) break; // not tried (closing)
            done++;
            continue;
          }
          if (this.closed && attempt.outcome !== 'delivered') break; // cut by the stop
          const { tries, first, givenUp } = this.retryOf(d, event, attempt);
          if (attempt.outcome !== 'delivered' && !givenUp) {
            d = { ...d, pending: { event: event.id, first, tries, next: attempt.at + this.backoff(tries) }, attempts: kept(d.attempts, { ...attempt, outcome: 'retrying' }) };
            this.opts.log?.warn(
              { code: 'WEBHOOK_RETRYING', serverid, webhook: id, event: event.id, type: event.type, status: attempt.status, error: attempt.error, tries },
              'a webhook endpoint did not take an event',
            );
            break;
          }
          if (attempt.outcome !== 'delivered') {
            attempt.outcome = 'failed';
            this.opts.log?.error({ code: 'WEBHOOK_FAILED', serverid, webhook: id, event: event.id, type: event.type, tries }, 'a webhook delivery is given up');
          }
          const { pending: _, ...rest } = d;
          d = {
            ...rest,
            attempts: kept(d.attempts, attempt),
            delivered: d.delivered + (attempt.outcome === 'delivered' ? 1 : 0),
            failed: d.failed + (attempt.outcome === 'failed' ? 1 : 0),
          };
          done++;
        }
        // The cursor after the events done (all of the page, or those before the one retried).
        if (done > 0) d = { ...d, cursor: done === page.events.length ? page.cursor : (await this.opts.store.eventsAfter(serverid, d.cursor, done)).cursor };
        dirty = true;
        if ((d.pending || this.now() - saved >= this.o.saveMs) && !(await save())) return;
      }
    } finally {
      if (this.closed) await save(true).catch(() => undefined);
      else if (dirty) await save().catch(() => undefined);
    }
  }

  /** An attempt that was not taken: its try number, its first try, and whether it is given up now. */
  private retryOf(d: DeliveryRecord, event: EventRecord, attempt: DeliveryAttempt): { tries: number; first: number; givenUp: boolean } {
    const again = d.pending?.event === event.id;
    const tries = (again ? d.pending!.tries : 0) + 1;
    const first = again ? d.pending!.first : attempt.at;
    return { tries, first, givenUp: attempt.at + this.backoff(tries) - first >= this.opts.retryFor };
  }

  private backoff(tries: number): number {
    return Math.min(MAX_BACKOFF_MS, this.o.backoffMs * 2 ** (tries - 1));
  }

  /** One POST of one event: its outcome (delivered: a 2xx). */
  private post(webhook: WebhookRecord, event: EventRecord): Promise<DeliveryAttempt> {
    const body = JSON.stringify(toCloudEvent(event, this.opts.base));
    const at = this.now();
    const secrets = [webhook.secret, ...(webhook.previousSecret && (webhook.previousUntil ?? 0) > at ? [webhook.previousSecret] : [])];
    const headers = { 'content-type': 'application/cloudevents+json', 'user-agent': 'nextauth-webhooks', ...signWebhook(secrets, event.id, Math.floor(at / 1000), body) };
    const url = new URL(webhook.url);
    const lib = url.protocol === 'https:' ? https : http;
    const agent = url.protocol === 'https:' ? this.agents.https : this.agents.http;
    const base = { event: event.id, type: event.type, at };
    // An address in the URL is not looked up: checked here.
    const literal = url.hostname.replace(/^\[|\]$/g, '');
    if (!this.opts.privateAddresses && net.isIP(literal) && isPrivateAddress(literal)) {
      return Promise.resolve({ ...base, ms: 0, status: 0, outcome: 'retrying', error: `${literal} is a private address` });
    }
    return new Promise((resolve) => {
      let settled = false;
      const end = (status: number, error?: string) => {
        if (settled) return;
        settled = true;
        resolve({ ...base, ms: this.now() - at, status, outcome: status >= 200 && status < 300 ? 'delivered' : 'retrying', ...(error ? { error } : {}) });
      };
      const req = lib.request(
        url,
        {
          method: 'POST',
          headers: { ...headers, 'content-length': Buffer.byteLength(body) },
          agent,
          timeout: this.o.timeoutMs,
          ...(this.opts.privateAddresses ? {} : { lookup: publicLookup }),
        },
        (res) => {
          let read = 0;
          res.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > MAX_ANSWER) res.destroy();
          });
          res.on('end', () => end(res.statusCode ?? 0));
          res.on('close', () => end(res.statusCode ?? 0));
          res.on('error', () => end(res.statusCode ?? 0));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer in ${this.o.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => end(0, err instanceof PrivateAddressError ? err.message : (err.code ?? err.message)));
      req.end(body);
    });
  }
}

const kept = (attempts: readonly DeliveryAttempt[], a: DeliveryAttempt): DeliveryAttempt[] => [...attempts.slice(-(ATTEMPTS_KEPT - 1)), a];

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
