/**
 * Pushes (PROTOCOL.md §4.2, 2.2 provokeLogin*): which phones listen for which accounts, the
 * limits against push bombing (per account: one per interval, a few an hour, a mute after
 * "deny and report"), number match, and delivery: a sealed `push` frame on every live
 * listening connection of the account, or the server's push gateway when there is none.
 */
import { randomInt } from 'node:crypto';
import { NsError } from '../../wire/errors.ts';
import type { Limits } from '../../config.ts';
import type { Registry } from '../admin/registry.ts';
import type { AccountRecord } from '../../ports.ts';
import type { Clock } from '../../ports.ts';
import type { SessionHub } from '../hub.ts';

/** A push for a phone that is not connected, as a push gateway gets it. */
export interface GatewayPush {
  serverid: string;
  accountid: number;
  /** X25519 public key of the account (raw 32 bytes) */
  pkx: Uint8Array;
  /** what the phone gets: the `push` frame's content */
  content: Record<string, unknown>;
}

/** A live app connection, as pushes see it. */
export interface PushTarget {
  push(content: Record<string, unknown>): void;
  deleted(serverid: string, acc: number): void;
}

export interface PushDeps {
  registry: Registry;
  hub: SessionHub;
  limits: Pick<Limits, 'pushInterval' | 'pushHourly' | 'mute'>;
  clock: Pick<Clock, 'now'>;
  /** the NS-wide gateway (a server attribute `pushGateway` overrides it) */
  gateway?: string;
  /** Hands a push to a gateway (src/transports/push-gateway.ts); without it, pushes to offline phones are undelivered. */
  deliver?: (gateway: string, push: GatewayPush) => Promise<unknown>;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

const key = (serverid: string, acc: number) => `${serverid}:${acc}`;

export class PushService {
  /** account → connections that ran a `listen` handshake for it */
  private readonly listening = new Map<string, Set<PushTarget>>();
  /** account → every connection that proved it (login, enrol or listen), for `deleted` */
  private readonly proven = new Map<string, Set<PushTarget>>();
  /** account → times of its recent pushes (the last hour) */
  private readonly sent = new Map<string, number[]>();
  /** account → muted until */
  private readonly muted = new Map<string, number>();
  /** connection → the accounts it is in `listening` / `proven` under (so dropping it touches only those) */
  private readonly accountsOf = new Map<PushTarget, Set<string>>();
  /** background gateway deliveries (awaited on close) */
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(private readonly deps: PushDeps) {}

  listen(serverid: string, acc: number, target: PushTarget): void {
    add(this.listening, key(serverid, acc), target);
    this.proved(serverid, acc, target);
  }

  proved(serverid: string, acc: number, target: PushTarget): void {
    add(this.proven, key(serverid, acc), target);
    add(this.accountsOf, target, key(serverid, acc));
  }

  /** The connection closed. */
  drop(target: PushTarget): void {
    for (const k of this.accountsOf.get(target) ?? []) {
      for (const map of [this.listening, this.proven]) {
        const set = map.get(k);
        set?.delete(target);
        if (set?.size === 0) map.delete(k);
      }
    }
    this.accountsOf.delete(target);
  }

  /** How many connections listen for the account. */
  listeners(serverid: string, acc: number): number {
    return this.listening.get(key(serverid, acc))?.size ?? 0;
  }

  /** The account was blocked or deleted: tell its live connections, forget its listeners. */
  revoke(serverid: string, acc: number): void {
    for (const target of this.proven.get(key(serverid, acc)) ?? []) target.deleted(serverid, acc);
    this.listening.delete(key(serverid, acc));
    this.proven.delete(key(serverid, acc));
  }

  mute(serverid: string, accounts: number[]): void {
    const until = this.deps.clock.now() + this.deps.limits.mute;
    for (const acc of accounts) this.muted.set(key(serverid, acc), until);
    this.deps.log.warn({ serverid, accounts, code: 'PUSH_REPORTED' }, 'push denied and reported: account muted');
  }

  /**
   * provokeLogin*: pushes a login of session `hsid` to `accounts` (those that exist and are not
   * blocked). 403 CANNOT_PROVOKE when none is left; 429 RATE_LIMITED when a limit or mute stops
   * every one of them. Resolves once the push is out and `lastprovoke` is on disk.
   */
  async provoke(serverid: string, hsid: string, accounts: number[]): Promise<{ pushed: number[]; number?: string }> {
    const { registry, hub, clock } = this.deps;
    const server = await registry.servers.require(serverid);
    const live = (await Promise.all(accounts.map((id) => registry.accounts.get(serverid, id)))).filter((a): a is AccountRecord => a !== undefined && !a.blocked);
    if (live.length === 0) throw new NsError('CANNOT_PROVOKE', 'No account that may log in is left to push to');
    const state = (await hub.status(serverid, hsid)).state;
    if (state !== 'waiting' && state !== 'loggedOut') throw new NsError('SESSION_BUSY', `The session is ${state}`);
    const now = clock.now();
    const allowed = live.filter((a) => this.allows(serverid, a.id, now));
    if (allowed.length === 0) throw new NsError('RATE_LIMITED', 'Too many pushes to this account; try again later');
    const number = server.serverFlags.includes('numbermatch') ? String(randomInt(0, 100)).padStart(2, '0') : undefined;
    const pushed = allowed.map((a) => a.id);
    await hub.provoke(serverid, hsid, pushed, number);
    const userContext = (await hub.status(serverid, hsid)).userContext;
    const si = userContext?.sessioninfo;
    const content: Record<string, unknown> = {
      t: 'push',
      hsid: Buffer.from(hsid, 'base64url'),
      srv: Buffer.from(serverid, 'base64url'),
      info: {
        name: server.serverName,
        session: {
          ...(si?.ip !== undefined ? { ip: si.ip } : {}),
          ...(si?.useragent !== undefined ? { ua: si.useragent } : {}),
          ...(si?.info !== undefined ? { info: si.info } : {}),
        },
        ...(userContext?.announceinfo ? { announce: userContext.announceinfo } : {}),
      },
    };
    for (const account of allowed) {
      this.count(serverid, account.id, now);
      this.sendToAccount(serverid, account.id, content);
    }
    await registry.store.transact(async (tx) => {
      for (const id of pushed) if (await tx.get('account', serverid, id)) tx.patch('account', [serverid, id], { lastprovoke: now });
    });
    return number === undefined ? { pushed } : { pushed, number };
  }

  /**
   * Sends a frame's content to every live listening connection of the account, or, when there
   * is none, through the push gateway. Returns how many live connections got it.
   */
  sendToAccount(serverid: string, acc: number, content: Record<string, unknown>): number {
    const targets = this.listening.get(key(serverid, acc));
    if (targets?.size) {
      for (const t of targets) t.push(content);
      return targets.size;
    }
    const delivery = this.sendToGateway(serverid, acc, content);
    this.inflight.add(delivery);
    void delivery.finally(() => this.inflight.delete(delivery));
    return 0;
  }

  /** Hands a push to the push gateway (the server's, else the NS-wide one), in the background. */
  private async sendToGateway(serverid: string, acc: number, content: Record<string, unknown>): Promise<void> {
    const [server, account] = await Promise.all([this.deps.registry.servers.get(serverid), this.deps.registry.accounts.get(serverid, acc)]);
    const gateway = typeof server?.attributes.pushGateway === 'string' ? server.attributes.pushGateway : this.deps.gateway;
    if (!gateway || !account?.pkx || !this.deps.deliver) {
      this.deps.log.info({ serverid, acc, code: 'PUSH_UNDELIVERED' }, 'no listening connection and no gateway for a push');
      return;
    }
    await this.deps.deliver(gateway, { serverid, accountid: acc, pkx: Buffer.from(account.pkx, 'base64url'), content });
  }

  /** Waits for background gateway deliveries (on shutdown). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  private allows(serverid: string, acc: number, now: number): boolean {
    const k = key(serverid, acc);
    const mutedUntil = this.muted.get(k);
    if (mutedUntil !== undefined) {
      if (now < mutedUntil) return false;
      this.muted.delete(k);
    }
    const recent = (this.sent.get(k) ?? []).filter((t) => now - t < 3600_000);
    if (recent.length >= this.deps.limits.pushHourly) return false;
    const last = recent.at(-1);
    return last === undefined || now - last >= this.deps.limits.pushInterval;
  }

  private count(serverid: string, acc: number, now: number): void {
    const k = key(serverid, acc);
    const recent = (this.sent.get(k) ?? []).filter((t) => now - t < 3600_000);
    recent.push(now);
    this.sent.set(k, recent);
  }
}

function add<K, T>(map: Map<K, Set<T>>, k: K, value: T): void {
  let set = map.get(k);
  if (!set) map.set(k, (set = new Set()));
  set.add(value);
}
