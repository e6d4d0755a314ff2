/**
 * Pushes (PROTOCOL.md §4.2, 2.2 provokeLogin*): which phones listen for which accounts, the
 * limits against push bombing (per account: one per interval, a few an hour, a mute after
 * "deny and report"), number match, and delivery: a sealed `push` frame on every live
 * listening connection of the account, or the server's push gateway when there is none.
 *
 * In a cluster (PROTOCOL.md §8) the phone may listen on another process: each process keeps its
 * own connections, says in a set of the Sessions port which processes hold listeners of an
 * account (`listeners:<serverid>:<acc>`), and a push for one of those goes out on the Bus
 * (`pushes`, msgpack in base64: the content holds bytes) to be delivered there. The limits are
 * the Limits port's, shared by every process: the interval and the hourly count are one sliding
 * log per account (`push:<serverid>:<acc>`; a token bucket would let 2 × 20 through in an hour,
 * which §4.2 does not allow), and the mute is a block of that same key.
 */
import { LooseEvents } from '../events/loose-events.ts';
import { newEvent, sessionSubject } from '../events/new-event.ts';
import type { EventType } from '../events/event-types.ts';
import { randomInt } from 'node:crypto';
import { NsError } from '../../wire/errors.ts';
import { frameFromText, frameToText } from '../../wire/msgpack.ts';
import type { Limits } from '../../config.ts';
import type { Registry } from '../admin/registry.ts';
import type { AccountRecord, Bus, Json, Limits as LimitsPort, Sessions } from '../../ports.ts';
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
  deliver?: (gateway: string, push: GatewayPush) => Promise<boolean>;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Between processes: the Bus, the sets of the Sessions port, the shared counts, this process's id. */
  bus: Bus;
  sessions: Pick<Sessions, 'addMember' | 'removeMember' | 'members' | 'onLost'>;
  counts: LimitsPort;
  processId: string;
  /** Counts each push's result (metrics): sent to a listening phone, handed to a gateway, undelivered, or denied by a limit or mute. */
  count?: (result: 'sent' | 'gateway' | 'undelivered' | 'denied') => void;
}

const key = (serverid: string, acc: number) => `${serverid}:${acc}`;
/** The sliding log of an account's pushes, and its mute (a block of the same key). */
const pushLog = (k: string) => `push:${k}`;
/** The processes holding listening connections of an account. */
const listenersSet = (k: string) => `listeners:${k}`;
/** What goes to every process: a frame for an account's listening connections, or an account revoked. */
type Broadcast = { kind: 'push'; k: string; content: string } | { kind: 'revoke'; serverid: string; acc: number };
const HOUR = 3600_000;

export class PushService {
  /** account → connections that ran a `listen` handshake for it */
  private readonly listening = new Map<string, Set<PushTarget>>();
  /** account → every connection that proved it (login, enrol or listen), for `deleted` */
  private readonly proven = new Map<string, Set<PushTarget>>();
  /** connection → the accounts it is in `listening` / `proven` under (so dropping it touches only those) */
  private readonly accountsOf = new Map<PushTarget, Set<string>>();
  /** background work: gateway deliveries, the listeners' sets (awaited on close) */
  private readonly inflight = new Set<Promise<unknown>>();

  /** The Bus subscription (every process hears every push and revocation; each delivers to its own connections). */
  private readonly subscribed: Promise<(() => Promise<void>) | undefined>;
  private readonly offLost: () => void;

  /** Events with no record to write (events/loose-events.ts). */
  private readonly loose: LooseEvents;

  constructor(private readonly deps: PushDeps) {
    this.loose = LooseEvents.over(deps.registry.store, deps.log);
    // The sets are gone with the rest of the Sessions store (a Redis restarted empty): this
    // process's listeners are still here, so they are said again.
    this.offLost = deps.sessions.onLost(() => {
      for (const k of this.listening.keys()) this.track(deps.sessions.addMember(listenersSet(k), deps.processId));
    });
    this.subscribed = deps.bus
      .subscribe('pushes', (message) => this.heard(message as unknown as Broadcast))
      .catch((err: unknown) => {
        deps.log.warn({ err }, 'pushes from other processes cannot be heard');
        return undefined;
      });
  }

  /** Resolves once pushes from other processes reach this one. */
  ready(): Promise<unknown> {
    return this.subscribed;
  }

  listen(serverid: string, acc: number, target: PushTarget): void {
    const k = key(serverid, acc);
    if (!this.listening.has(k)) this.track(this.deps.sessions.addMember(listenersSet(k), this.deps.processId));
    add(this.listening, k, target);
    this.proved(serverid, acc, target);
  }

  /** A push or a revocation from any process (this one too): delivered to this process's connections. */
  private heard(message: Broadcast): void {
    if (message.kind === 'revoke') return this.revokeHere(message.serverid, message.acc);
    const content = frameFromText(message.content);
    for (const t of this.listening.get(message.k) ?? []) t.push(content);
  }

  private track(work: Promise<unknown>): void {
    const p = work.catch((err: unknown) => this.deps.log.warn({ err }, 'push bookkeeping failed'));
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
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
        if (set?.size === 0) {
          map.delete(k);
          if (map === this.listening) this.track(this.deps.sessions.removeMember(listenersSet(k), this.deps.processId));
        }
      }
    }
    this.accountsOf.delete(target);
  }

  /** How many connections of this process listen for the account. */
  listeners(serverid: string, acc: number): number {
    return this.listening.get(key(serverid, acc))?.size ?? 0;
  }

  /** The account was blocked or deleted: tell its live connections, on every process; forget its listeners. */
  revoke(serverid: string, acc: number): void {
    this.track(this.deps.bus.publish('pushes', { kind: 'revoke', serverid, acc }));
  }

  private revokeHere(serverid: string, acc: number): void {
    const k = key(serverid, acc);
    for (const target of this.proven.get(k) ?? []) target.deleted(serverid, acc);
    if (this.listening.delete(k)) this.track(this.deps.sessions.removeMember(listenersSet(k), this.deps.processId));
    this.proven.delete(k);
  }

  mute(serverid: string, accounts: number[]): void {
    const until = this.deps.clock.now() + this.deps.limits.mute;
    for (const acc of accounts) this.track(this.deps.counts.block(pushLog(key(serverid, acc)), until));
    this.deps.log.warn({ serverid, accounts, code: 'PUSH_REPORTED' }, 'push denied and reported: account muted');
    for (const acc of accounts) this.emitAlone(serverid, acc, 'com.nextauth.push.reported', { mutedUntil: until });
  }

  /** A push event that reports nothing written (a refusal, a report, a lost push): written with the others of the moment, not waited for. */
  private emitAlone(serverid: string, acc: number, type: EventType, data: { [key: string]: Json }, source?: string): void {
    const at = this.deps.clock.now();
    const event = this.deps.registry.store
      .get('account', serverid, acc)
      .then((account) => this.loose.add(newEvent(type, serverid, { account: acc, userid: account?.userid, source, subject: `account/${acc}`, data }, at)));
    this.track(event);
  }

  /**
   * provokeLogin*: pushes a login of session `hsid` to `accounts` (those that exist and are not
   * blocked). 403 CANNOT_PROVOKE when none is left; 429 RATE_LIMITED when a limit or mute stops
   * every one of them. Resolves once the push is out and `lastprovoke` is on disk. `source`: the
   * address of the client that asked, for the push's events.
   */
  async provoke(serverid: string, hsid: string, accounts: number[], source?: string): Promise<{ pushed: number[]; number?: string }> {
    const { registry, hub, clock } = this.deps;
    const server = await registry.servers.require(serverid);
    const live = (await Promise.all(accounts.map((id) => registry.accounts.get(serverid, id)))).filter((a): a is AccountRecord => a !== undefined && !a.blocked);
    if (live.length === 0) throw new NsError('CANNOT_PROVOKE', 'No account that may log in is left to push to');
    const state = (await hub.status(serverid, hsid)).state;
    if (state !== 'waiting' && state !== 'loggedOut') throw new NsError('SESSION_BUSY', `The session is ${state}`);
    const now = clock.now();
    // Each account's push is logged as it is admitted: one refused later (the session became busy) still counts, which errs on the side of fewer pushes.
    const log = { limit: this.deps.limits.pushHourly, windowMs: HOUR, gapMs: this.deps.limits.pushInterval };
    const admitted = await Promise.all(live.map((a) => this.deps.counts.admit(pushLog(key(serverid, a.id)), log, now)));
    const allowed = live.filter((_, i) => admitted[i]!.allowed);
    admitted.forEach((t, i) => {
      if (t.allowed) return;
      this.deps.count?.('denied');
      this.emitAlone(serverid, live[i]!.id, 'com.nextauth.push.denied', { reason: 'RATE_LIMITED', retryAfterMs: t.retryAfterMs }, source);
    });
    if (allowed.length === 0) {
      const retryAfterMs = Math.min(...admitted.map((t) => t.retryAfterMs));
      throw new NsError('RATE_LIMITED', 'Too many pushes to this account; try again later', { retryAfterMs });
    }
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
    for (const account of allowed) if ((await this.sendToAccount(serverid, account.id, content, source)) > 0) this.deps.count?.('sent');
    await registry.store.transact(async (tx) => {
      for (const id of pushed) {
        const account = await tx.get('account', serverid, id);
        if (!account) continue;
        tx.patch('account', [serverid, id], { lastprovoke: now });
        tx.emit(
          newEvent(
            'com.nextauth.push.sent',
            serverid,
            { account: id, userid: account.userid, source, subject: sessionSubject(hsid), data: { numberMatch: number !== undefined } },
            now,
          ),
        );
      }
    });
    return number === undefined ? { pushed } : { pushed, number };
  }

  /**
   * Sends a frame's content to every live listening connection of the account, on whichever
   * process holds it, or, when there is none, through the push gateway. Resolves how many
   * processes hold listening connections of it (0: it went to the gateway). A push that is lost
   * names `source`, the address of the client that asked for it.
   */
  async sendToAccount(serverid: string, acc: number, content: Record<string, unknown>, source?: string): Promise<number> {
    const k = key(serverid, acc);
    const holders = await this.deps.sessions.members(listenersSet(k));
    if (holders.length > 0) {
      const message: Broadcast = { kind: 'push', k, content: frameToText(content) };
      await this.deps.bus.publish('pushes', message as unknown as Json);
      return holders.length;
    }
    const delivery = this.sendToGateway(serverid, acc, content, source);
    this.inflight.add(delivery);
    void delivery.finally(() => this.inflight.delete(delivery));
    return 0;
  }

  /** Hands a push to the push gateway (the server's, else the NS-wide one), in the background. */
  private async sendToGateway(serverid: string, acc: number, content: Record<string, unknown>, source?: string): Promise<void> {
    const [server, account] = await Promise.all([this.deps.registry.servers.get(serverid), this.deps.registry.accounts.get(serverid, acc)]);
    const gateway = typeof server?.attributes.pushGateway === 'string' ? server.attributes.pushGateway : this.deps.gateway;
    if (!gateway || !account?.pkx || !this.deps.deliver) {
      this.deps.log.info({ serverid, acc, code: 'PUSH_UNDELIVERED' }, 'no listening connection and no gateway for a push');
      if (content.t === 'push') {
        this.deps.count?.('undelivered');
        this.emitAlone(serverid, acc, 'com.nextauth.push.undelivered', { reason: 'PUSH_UNDELIVERED' }, source);
      }
      return;
    }
    const delivered = await this.deps.deliver(gateway, { serverid, accountid: acc, pkx: Buffer.from(account.pkx, 'base64url'), content });
    if (content.t === 'push') this.deps.count?.(delivered === false ? 'undelivered' : 'gateway');
    if (content.t === 'push' && delivered === false) this.emitAlone(serverid, acc, 'com.nextauth.push.undelivered', { reason: 'PUSH_FAILED' }, source);
  }

  /** Waits for background work (gateway deliveries, bookkeeping), leaves the Bus (on shutdown). */
  async close(): Promise<void> {
    this.offLost();
    await Promise.allSettled([...this.inflight]);
    await this.loose.flush();
    await (await this.subscribed)?.();
    for (const k of this.listening.keys()) await this.deps.sessions.removeMember(listenersSet(k), this.deps.processId).catch(() => undefined);
  }
}

function add<K, T>(map: Map<K, Set<T>>, k: K, value: T): void {
  let set = map.get(k);
  if (!set) map.set(k, (set = new Set()));
  set.add(value);
}
