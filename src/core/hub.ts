/**
 * The actor hub: finds or makes the session actor of (serverid, hsid), stops and forgets it when
 * it ends, routes the machine's answers to app connections (peers), and fans its `notify`
 * events out to the browsers watching that session.
 *
 * Browser subscriptions are kept by session key, not by actor: a browser that watches a session
 * whose actor expires keeps watching, and hears the next actor of that key.
 */
import { createActor, fromPromise, type ActorRefFrom, type InspectionEvent } from 'xstate';
import type { Clock, SavedSession, Store } from '../ports.ts';
import {
  sessionMachine,
  stateName,
  type Notice,
  type Op,
  type ProofPayload,
  type SessionLimits,
  type SessionState,
  type UserContext,
  type VerifyInput,
  type VerifyOutput,
} from '../../machines/session.ts';

export type SessionActor = ActorRefFrom<typeof sessionMachine>;

/** An app connection, as the hub sees it (implemented by the app channel). */
export interface AppPeer {
  readonly id: string;
  /** The hello for `session` was taken: send the challenge. */
  accepted(session: SessionKey): void;
  refused(code: string): void;
  /** The proof verified and the session is logged in. */
  confirmed(session: SessionKey, output: VerifyOutput): void;
  /** Ping the phone of a continuous session (`n` counts the session's pings). */
  ping(session: SessionKey, n: number): void;
  /** Show a transaction to the phone (a connection that can). */
  transaction?(content: Record<string, unknown>): void;
}

export interface SessionKey {
  serverid: string;
  hsid: string;
}

/** What a browser hears about a session. */
export interface SessionUpdate extends SessionKey {
  event: Notice | 'transaction';
  state: SessionState;
  account: number | null;
  /** With `confirmprovoke` on a number-match server: the two digits the phone must match. */
  number?: string;
  /** With `transaction`: which one, and how it ended. */
  transaction?: { tid: string; outcome: string };
}

export interface SessionStatus {
  state: SessionState;
  account: number | null;
  lastAccount: number | null;
  canprovoke: boolean;
  userinput: string | null;
  userContext: UserContext | null;
  /** When the current state ends by itself (ms since epoch), if it does. */
  expires?: number;
}

export type Listener = (update: SessionUpdate) => void;

export interface HubOptions {
  limits: SessionLimits;
  /** Where sessions that must survive a restart are saved (none: nothing survives). */
  saved?: Store;
  /** Checks a proof (see machines/session.ts); the protocol layer provides it. */
  verifyProof: (input: VerifyInput) => Promise<VerifyOutput>;
  /** The account as the store has it now (a session restored for one that is gone or blocked ends at once). */
  account: (serverid: string, account: number) => Promise<{ blocked: boolean } | undefined>;
  /** The user declined a push and reported it. */
  onMute?: (serverid: string, accounts: number[]) => void;
  /** XState's inspection events of every session actor (the live inspector). */
  inspect?: (event: InspectionEvent) => void;
  clock?: Clock;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

interface Entry {
  actor: SessionActor;
  /** When the actor entered its current state. */
  since: number;
  state: SessionState;
  /** The full state value (JSON); `since` restarts when it changes (waiting.locked → waiting.open too). */
  value: string;
  /** The last save (or removal) of this session: true once on disk, false if it failed. */
  saved: Promise<boolean>;
  /** The limit timer of a restored state (XState does not keep timers across a restart). */
  resumeTimer?: unknown;
  /** The app connection in the session's handshake (its context's `peer`), indexed in `byPeer`. */
  peer: string | null;
}

const keyOf = (serverid: string, hsid: string) => `${serverid}:${hsid}`;
/** How long an expired session is remembered, so a late scan hears SESSION_EXPIRED. */
const EXPIRED_MEMORY_MS = 3600_000;
const realClock: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
  now: () => Date.now(),
};

export class SessionHub {
  private readonly actors = new Map<string, Entry>();
  /** The keys of the sessions saved in the store. */
  private readonly savedKeys = new Set<string>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly peers = new Map<string, AppPeer>();
  /** app connection → the sessions in a handshake with it (so a closing connection costs what it holds, not a walk over every session) */
  private readonly byPeer = new Map<string, Set<string>>();
  /** Recently expired sessions (key → when), so a late hello hears SESSION_EXPIRED. */
  private readonly expired = new Map<string, number>();
  /** Answers to app peers, held until the actor's snapshot is current (see flush). */
  private readonly outbox: Array<() => void> = [];
  private readonly machine;
  readonly clock: Clock;

  constructor(private readonly opts: HubOptions) {
    this.clock = opts.clock ?? realClock;
    const peer = (id: string) => this.peers.get(id);
    this.machine = sessionMachine.provide({
      actors: { verifyProof: fromPromise<VerifyOutput, VerifyInput>(({ input }) => opts.verifyProof(input)) },
      actions: {
        // The machine runs these mid-transition; the peer hears them once the snapshot is current,
        // so a peer may call back into the hub (AppResponder.accepted → decline).
        accept: ({ context }, { peer: id }) => this.outbox.push(() => peer(id)?.accepted({ serverid: context.serverid, hsid: context.hsid })),
        refuse: (_, { peer: id, code }) => this.outbox.push(() => peer(id)?.refused(code)),
        // The result goes to the phone once the login is on disk (the transition's save).
        confirm: ({ context }, { peer: id, output }) => {
          const key = keyOf(context.serverid, context.hsid);
          void Promise.resolve()
            .then(() => this.actors.get(key)?.saved)
            .then((ok) => (ok === false ? peer(id)?.refused('INTERNAL') : peer(id)?.confirmed({ serverid: context.serverid, hsid: context.hsid }, output)));
        },
        // After the result (same order of microtasks), so the ping travels on the sealed channel.
        ping: ({ context }, { peer: id, n }) => {
          const key = keyOf(context.serverid, context.hsid);
          void Promise.resolve()
            .then(() => this.actors.get(key)?.saved)
            .then(() => peer(id)?.ping({ serverid: context.serverid, hsid: context.hsid }, n));
        },
        mute: ({ context }, { accounts }) => opts.onMute?.(context.serverid, accounts),
      },
    });
  }

  /** Runs the held peer answers (after each snapshot, and after each event the hub sends). */
  private flush(): void {
    for (let fn = this.outbox.shift(); fn; fn = this.outbox.shift()) {
      try {
        fn();
      } catch (err) {
        this.opts.log?.warn({ err }, 'app peer callback failed');
      }
    }
  }

  /** Sends an event from an app peer, then delivers the answers it caused. */
  private sendFromPeer(actor: SessionActor, event: Parameters<SessionActor['send']>[0]): void {
    actor.send(event);
    this.flush();
  }

  private inspection(): { inspect?: (event: InspectionEvent) => void } {
    return this.opts.inspect ? { inspect: this.opts.inspect } : {};
  }

  /** Live actors. */
  get size(): number {
    return this.actors.size;
  }

  /** Every live actor, with its key, state and when it entered it (for the inspector). */
  list(): Array<{ serverid: string; hsid: string; state: SessionState; since: number; actor: SessionActor }> {
    return [...this.actors.values()].map((e) => {
      const { serverid, hsid } = e.actor.getSnapshot().context;
      return { serverid, hsid, state: e.state, since: e.since, actor: e.actor };
    });
  }

  /** Live actors per observable state. */
  countByState(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const e of this.actors.values()) counts[e.state] = (counts[e.state] ?? 0) + 1;
    return counts;
  }

  find(serverid: string, hsid: string): SessionActor | undefined {
    return this.actors.get(keyOf(serverid, hsid))?.actor;
  }

  /** The actor of the session, made (`waiting`) if there is none. */
  ensure(serverid: string, hsid: string): SessionActor {
    const key = keyOf(serverid, hsid);
    const entry = this.actors.get(key);
    if (entry) return entry.actor;
    this.expired.delete(key);
    const actor = createActor(this.machine, { input: { serverid, hsid, limits: this.opts.limits }, clock: this.clock, ...this.inspection() });
    this.track(key, actor, this.clock.now());
    actor.start();
    return actor;
  }

  private track(key: string, actor: SessionActor, since: number): Entry {
    const first = actor.getSnapshot().value;
    const entry: Entry = { actor, since, state: stateName(first), value: JSON.stringify(first), saved: Promise.resolve(true), peer: null };
    this.actors.set(key, entry);
    this.indexPeer(key, entry, actor.getSnapshot().context.peer);
    actor.subscribe({
      next: (snapshot) => {
        this.indexPeer(key, entry, snapshot.context.peer);
        const state = stateName(snapshot.value);
        const value = JSON.stringify(snapshot.value);
        if (value !== entry.value) {
          entry.value = value;
          if (state === entry.state && state === 'waiting') entry.since = this.clock.now();
        }
        if (state !== entry.state) {
          entry.state = state;
          entry.since = this.clock.now();
          if (entry.resumeTimer !== undefined) this.clock.clearTimeout(entry.resumeTimer);
          entry.resumeTimer = undefined;
          entry.saved = this.save(key, entry);
        } else if (snapshot.context.lastAccount === null && state === 'loggedOut') {
          entry.saved = this.save(key, entry);
        }
        if (snapshot.status === 'done') this.forget(key, entry);
        this.flush();
      },
      error: (err) => {
        this.opts.log?.warn({ err, session: key.split(':')[0] }, 'session actor failed');
        this.forget(key, entry);
        this.flush();
      },
    });
    actor.on('notify', ({ event, number }) => {
      const { serverid, hsid, account } = actor.getSnapshot().context;
      const update: SessionUpdate = { serverid, hsid, event, state: stateName(actor.getSnapshot().value), account, ...(number ? { number } : {}) };
      for (const listener of this.listeners.get(key) ?? []) listener(update);
    });
    return entry;
  }

  /** Saves a session that must survive a restart, or removes one that need not. */
  private save(key: string, entry: Entry): Promise<boolean> {
    const store = this.opts.saved;
    if (!store) return Promise.resolve(true);
    const snapshot = entry.actor.getSnapshot();
    const keep = entry.state === 'authenticated' || (entry.state === 'loggedOut' && snapshot.context.lastAccount !== null);
    if (!keep && !this.savedKeys.has(key)) return Promise.resolve(true);
    const saved: SavedSession = { snapshot: entry.actor.getPersistedSnapshot(), since: entry.since };
    if (keep) this.savedKeys.add(key);
    else this.savedKeys.delete(key);
    const write = store.transact((tx) => (keep ? tx.put('session', [key], saved) : tx.delete('session', [key])));
    return write.then(
      () => true,
      (err: unknown) => {
        this.opts.log?.warn({ err, session: key.split(':')[0] }, 'could not save a session');
        return false;
      },
    );
  }

  /**
   * Brings back the saved sessions as running actors. Each goes on with the time its state had
   * left; one whose limit passed while the process was down ends at once.
   */
  async restore(): Promise<number> {
    const store = this.opts.saved;
    if (!store) return 0;
    const now = this.clock.now();
    let restored = 0;
    for (const [key, saved] of await store.savedSessions()) {
      this.savedKeys.add(key);
      let actor: SessionActor;
      try {
        const [serverid = '', hsid = ''] = key.split(':');
        actor = createActor(this.machine, { snapshot: saved.snapshot as never, input: { serverid, hsid, limits: this.opts.limits }, clock: this.clock, ...this.inspection() });
      } catch (err) {
        this.opts.log?.warn({ err, session: key.split(':')[0] }, 'a saved session could not be restored; dropped');
        this.savedKeys.delete(key);
        await store.transact((tx) => tx.delete('session', [key]));
        continue;
      }
      const entry = this.track(key, actor, saved.since);
      actor.start();
      restored++;
      // The registry is the truth about accounts: a session whose account was blocked or deleted
      // (and answered 200) before the session's own save reached the disk ends now.
      const { serverid, account } = actor.getSnapshot().context;
      const record = account === null ? undefined : await this.opts.account(serverid, account);
      if (account !== null && (record === undefined || record.blocked)) {
        actor.send({ type: 'revoke', account, deleted: record === undefined });
        continue;
      }
      const limit = entry.state === 'authenticated' ? this.opts.limits.session : this.opts.limits.idle;
      let left = saved.since + limit - now;
      // A continuous session's phone connection did not survive the restart: its next pong is due.
      const { pingTime } = actor.getSnapshot().context;
      if (entry.state === 'authenticated' && pingTime > 0) left = Math.min(left, pingTime);
      if (left <= 0) actor.send({ type: 'expire' });
      else entry.resumeTimer = this.clock.setTimeout(() => actor.send({ type: 'expire' }), left);
    }
    return restored;
  }

  /** Keeps `byPeer` in step with the session's `peer`. */
  private indexPeer(key: string, entry: Entry, peer: string | null): void {
    if (peer === entry.peer) return;
    if (entry.peer !== null) {
      const keys = this.byPeer.get(entry.peer);
      keys?.delete(key);
      if (keys?.size === 0) this.byPeer.delete(entry.peer);
    }
    entry.peer = peer;
    if (peer !== null) {
      let keys = this.byPeer.get(peer);
      if (!keys) this.byPeer.set(peer, (keys = new Set()));
      keys.add(key);
    }
  }

  private forget(key: string, entry: Entry): void {
    if (this.actors.get(key) !== entry) return;
    this.actors.delete(key);
    this.indexPeer(key, entry, null);
    entry.actor.stop();
    const now = this.clock.now();
    this.expired.set(key, now);
    // Tombstones live an hour (at most 100,000 of them); prune the oldest as they age out.
    for (const [k, at] of this.expired) {
      if (now - at <= EXPIRED_MEMORY_MS && this.expired.size < 100_000) break;
      this.expired.delete(k);
    }
  }

  wasExpired(serverid: string, hsid: string): boolean {
    return this.expired.has(keyOf(serverid, hsid));
  }

  /** The session's status; a session without an actor is `waiting`. */
  status(serverid: string, hsid: string): SessionStatus {
    const entry = this.actors.get(keyOf(serverid, hsid));
    if (!entry) return { state: 'waiting', account: null, lastAccount: null, canprovoke: false, userinput: null, userContext: null };
    const snapshot = entry.actor.getSnapshot();
    const { context } = snapshot;
    // The machine forgets lastAccount when that account is deleted (revoke), here or at restore.
    const lastAccount = context.lastAccount;
    const limits = this.opts.limits;
    const inLock = typeof snapshot.value === 'object' && (snapshot.value as { waiting?: string }).waiting === 'locked';
    const length: Partial<Record<SessionState, number>> = {
      waiting: inLock ? limits.lock + limits.idle : limits.idle,
      loggedOut: limits.idle,
      challenged: limits.challenge,
      authenticated: limits.session,
    };
    const status: SessionStatus = {
      state: entry.state,
      account: context.account,
      lastAccount,
      canprovoke: lastAccount !== null,
      userinput: context.userinput,
      userContext: context.userContext,
    };
    const ms = length[entry.state];
    if (ms !== undefined) status.expires = entry.since + ms;
    return status;
  }

  // ---- browsers -------------------------------------------------------------------------------

  /** Hear every notice of the session (whatever actor carries it); returns the unsubscribe. */
  subscribe(serverid: string, hsid: string, listener: Listener): () => void {
    const key = keyOf(serverid, hsid);
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(key) === set) this.listeners.delete(key);
    };
  }

  get watchers(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  /**
   * A code of this session is being shown (QR, HTML block, push): the session is made if need
   * be, takes the relying party's context if one is given, and — while it waits — its idle limit
   * restarts, so a code stays good as long as pages keep showing it.
   */
  show(serverid: string, hsid: string, userContext?: UserContext): SessionStatus {
    const given = userContext && (userContext.sessioninfo !== undefined || userContext.announceinfo !== undefined) ? userContext : undefined;
    const current = this.ensure(serverid, hsid).getSnapshot().context.userContext;
    this.setContext(serverid, hsid, given ?? current ?? {});
    return this.status(serverid, hsid);
  }

  setContext(serverid: string, hsid: string, userContext: UserContext): void {
    this.ensure(serverid, hsid).send({ type: 'setContext', userContext });
    this.restartIdle(serverid, hsid);
  }

  /** The machine restarts its idle limit on an event in waiting / loggedOut: so does `expires`. */
  private restartIdle(serverid: string, hsid: string): void {
    const entry = this.actors.get(keyOf(serverid, hsid));
    if (entry && (entry.value === '"loggedOut"' || entry.value === '{"waiting":"open"}')) entry.since = this.clock.now();
  }

  /** Tells the session's browsers how a transaction ended. */
  announce(serverid: string, hsid: string, transaction: { tid: string; outcome: string }): void {
    const key = keyOf(serverid, hsid);
    const status = this.status(serverid, hsid);
    const update: SessionUpdate = { serverid, hsid, event: 'transaction', state: status.state, account: status.account, transaction };
    for (const listener of this.listeners.get(key) ?? []) listener(update);
  }

  /** The app connection that logged the session in (while the session is logged in). */
  loginPeer(serverid: string, hsid: string): AppPeer | undefined {
    const context = this.find(serverid, hsid)?.getSnapshot().context;
    return context?.account !== null && context?.pinger ? this.peers.get(context.pinger) : undefined;
  }

  /** A push went out for the session (PushService). */
  provoke(serverid: string, hsid: string, accounts: number[], number?: string): void {
    this.ensure(serverid, hsid).send({ type: 'provoke', accounts, ...(number ? { number } : {}) });
    this.restartIdle(serverid, hsid);
  }

  /** The number a pushed session's phone must match, if any. */
  pushNumber(serverid: string, hsid: string): string | undefined {
    return this.find(serverid, hsid)?.getSnapshot().context.push?.number;
  }

  /** The phone of a continuous session answered ping `n`. */
  pong(peer: AppPeer, session: SessionKey, n: number): void {
    this.find(session.serverid, session.hsid)?.send({ type: 'pong', peer: peer.id, n });
  }

  /** Logs the session out; resolves once that is on disk (false: the save failed). */
  logout(serverid: string, hsid: string): Promise<boolean> {
    const entry = this.actors.get(keyOf(serverid, hsid));
    if (!entry) return Promise.resolve(true);
    entry.actor.send({ type: 'logout' });
    return entry.saved;
  }

  /** An account was blocked or deleted: log out its sessions. */
  revoke(serverid: string, account: number, deleted: boolean): void {
    for (const { actor } of this.actors.values()) {
      const { context } = actor.getSnapshot();
      if (context.serverid === serverid && (context.account === account || context.lastAccount === account)) {
        actor.send({ type: 'revoke', account, deleted });
      }
    }
  }

  // ---- app connections ------------------------------------------------------------------------

  attach(peer: AppPeer): void {
    this.peers.set(peer.id, peer);
  }

  /** The connection closed: abandon its handshakes. */
  detach(peer: AppPeer): void {
    this.peers.delete(peer.id);
    for (const key of [...(this.byPeer.get(peer.id) ?? [])]) {
      const actor = this.actors.get(key)?.actor;
      if (actor?.getSnapshot().context.peer === peer.id) actor.send({ type: 'abandon', peer: peer.id });
    }
  }

  /**
   * An app's hello for an existing session. The machine answers through the peer (`accepted`
   * or `refused`); a session that does not exist is refused here.
   */
  hello(peer: AppPeer, serverid: string, hsid: string, op: Op): void {
    const actor = this.find(serverid, hsid);
    if (!actor) return peer.refused(this.wasExpired(serverid, hsid) ? 'SESSION_EXPIRED' : 'UNKNOWN_SESSION');
    this.sendFromPeer(actor, { type: 'hello', peer: peer.id, op });
  }

  proof(peer: AppPeer, session: SessionKey, proof: ProofPayload): void {
    const actor = this.handshakeOf(peer, session);
    if (actor) this.sendFromPeer(actor, { type: 'proof', peer: peer.id, proof });
  }

  fail(peer: AppPeer, session: SessionKey, code: string): void {
    const actor = this.handshakeOf(peer, session);
    if (actor) this.sendFromPeer(actor, { type: 'fail', peer: peer.id, code });
  }

  decline(peer: AppPeer, session: SessionKey, report = false): void {
    const actor = this.handshakeOf(peer, session);
    if (actor) this.sendFromPeer(actor, { type: 'decline', peer: peer.id, report });
  }

  /**
   * The actor whose handshake this peer runs; when the handshake is over (its challenge limit
   * passed, the session expired) the peer hears SESSION_EXPIRED and gets undefined.
   */
  private handshakeOf(peer: AppPeer, session: SessionKey): SessionActor | undefined {
    const actor = this.find(session.serverid, session.hsid);
    const snapshot = actor?.getSnapshot();
    if (!actor || snapshot?.context.peer !== peer.id || stateName(snapshot.value) !== 'challenged') {
      peer.refused('SESSION_EXPIRED');
      return undefined;
    }
    return actor;
  }

  /** Stops every actor (on shutdown); what is saved stays saved. */
  async close(): Promise<void> {
    await Promise.all([...this.actors.values()].map((e) => e.saved));
    for (const e of this.actors.values()) {
      if (e.resumeTimer !== undefined) this.clock.clearTimeout(e.resumeTimer);
      e.actor.stop();
    }
    this.actors.clear();
    this.listeners.clear();
  }
}
