/**
 * The session hub: applies every event of a session with the session machine's pure transition
 * (DESIGN.md, "the one idea"), and carries out what the machine asked for.
 *
 * An event for the session (serverid, hsid) reads its snapshot from the Sessions port, computes
 * the next snapshot and its actions (`MachineStepper`), writes the snapshot back with
 * compare-and-set (another process came first: read again and redo), and only then runs the
 * actions:
 * - a delayed `raise` (every `after` of the machine) is a deadline of the Sessions port, and
 *   `cancel` cancels it; whichever process claims a due deadline applies its event here, and
 *   only while the session still expects it (its `timers`);
 * - `emit notify` goes to the session's browsers through the Bus (`session:<key>`), on every
 *   process that has one watching;
 * - `accept`, `refuse`, `confirm`, `ping` go to the app connection (`peer`): called directly when
 *   it is on this process, else through the Bus (`peer:<id>`) to the process holding it;
 * - `verify` runs the proof check here; its outcome comes back as the machine's `verified` /
 *   `unverified` event, applied the same way (several proofs of one session may be checked at
 *   once: the first that verifies wins).
 * A session that must survive a restart (logged in, or logged out with an account to push to)
 * is also written through to the Store before its actions run, so a phone hears "logged in"
 * only once that is on disk.
 *
 * So a session at rest costs its snapshot in the Sessions port and its deadline: no actor, timer
 * or closure. Events of one session are applied one at a time in this process (a queue per key),
 * and compare-and-set orders them between processes.
 */
import { randomUUID } from 'node:crypto';
import type { Bus, Clock, Deadline, Json, NewEvent, Sessions, SavedSession, Store, StoredSession } from '../ports.ts';
import { LooseEvents } from './events/loose-events.ts';
import { newEvent, sessionSubject } from './events/new-event.ts';
import { type SessionEventOf, sessionEventOf } from './events/session-events.ts';
import {
  failureCode,
  sessionMachine,
  stateName,
  type Notice,
  type Op,
  type ProofPayload,
  type SessionContext,
  type SessionEvent,
  type SessionLimits,
  type SessionState,
  type UserContext,
  type VerifyInput,
  type VerifyOutput,
} from '../../machines/session.ts';
import { MachineStepper } from './machine-stepper.ts';
import { frameFromText, frameToText } from '../wire/msgpack.ts';

type Snapshot = ReturnType<typeof sessionMachine.resolveState>;

/** An app connection, as the hub sees it (implemented by the app channel). */
export interface AppPeer {
  readonly id: string;
  /** Its source address (PROTOCOL.md §7): a session holds at most 2 open handshakes of one. */
  readonly source: string;
  /** The hello for `session` was taken: send the challenge, which shows the phone `shown`. */
  accepted(session: SessionKey, shown: Shown): void;
  refused(code: string): void;
  /** The proof verified and the session is logged in. */
  confirmed(session: SessionKey, output: VerifyOutput): void;
  /** Ping the phone of a continuous session (`n` counts the session's pings). */
  ping(session: SessionKey, n: number): void;
  /** Show a transaction to the phone (a connection that can). */
  transaction?(content: Record<string, unknown>): void;
}

/** What the challenge shows the phone: the relying party's context, the number to match. */
export interface Shown {
  userContext: UserContext | null;
  number?: string;
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

/** One applied event, as the live inspector hears it (types and states only, never a payload). */
export interface AppliedEvent {
  key: string;
  serverid: string;
  /** The event's type. */
  type: string;
  /** The state value before it (undefined: the session was made by it). */
  before: unknown;
  /** XState's microsteps of it (a failed proof: challenged → failing → waiting). */
  microsteps: Array<{ event: string; value: unknown; reenters: boolean }>;
  value: unknown;
  account: number | null;
  /** When the session entered its state. */
  since: number;
  /** The session ended (expired): it is gone. */
  ended: boolean;
  /** The session was made by this event (its first microstep is `xstate.init`). */
  created: boolean;
}

export interface HubOptions {
  limits: SessionLimits;
  sessions: Sessions;
  bus: Bus;
  /** Where sessions that must survive a restart are saved (none: nothing survives). */
  saved?: Store;
  /** Checks a proof (see machines/session.ts); core/login provides it. */
  verifyProof: (input: VerifyInput) => Promise<VerifyOutput>;
  /** The account as the store has it now (a session restored for one that is gone or blocked ends at once). */
  account: (serverid: string, account: number) => Promise<{ blocked: boolean; userid?: string } | undefined>;
  /** The user declined a push and reported it. */
  onMute?: (serverid: string, accounts: number[]) => void;
  /**
   * With other processes on the same Sessions: look for due deadlines at least this often (ms),
   * since a process only wakes by itself for the deadlines it added. None: one process.
   */
  pollMs?: number;
  /** Every event the hub applied (the live inspector). */
  inspect?: (applied: AppliedEvent) => void;
  clock?: Clock;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/** How a hub call went. */
interface Applied {
  /** `missing`: no such session; `expired`: it ended a while ago; `ignored`: the event changed nothing. */
  outcome: 'applied' | 'ignored' | 'missing' | 'expired';
  stored?: StoredSession;
  /** The session's write-through to the Store (false: it failed). */
  saved: boolean;
}

/**
 * What the stored snapshot holds: XState's state value and context (JSON), without what the
 * key and the settings give (serverid, hsid, limits) and without the fields that still have
 * their first value (null, 0): a resting logged-in session's snapshot is ~100 bytes, not 580.
 */
interface StoredState {
  value: Json;
  context: Partial<SessionContext>;
}
type OwnContext = Omit<SessionContext, 'serverid' | 'hsid' | 'limits'>;

const keyOf = (serverid: string, hsid: string) => `${serverid}:${hsid}`;
const splitKey = (key: string): SessionKey => {
  const i = key.lastIndexOf(':');
  return { serverid: key.slice(0, i), hsid: key.slice(i + 1) };
};
const accountSet = (serverid: string, account: number) => `account:${serverid}:${account}`;
/** The set that holds an app connection's presence (the process it is on) while it is open. */
const presenceOf = (peer: string) => `peer:${peer}`;
/** Sessions a connection is known to have said hello to (for `detach`), the oldest forgotten first. */
const MAX_PEER_KEYS = 64;
/** The deadline that forgets an expired session, and the one a restored session expires by. */
const FORGET = 'forget';
const EXPIRE = 'expire';
/** Retries of one event when other processes keep writing the session first. */
const MAX_RETRIES = 50;
/** Sessions whose last write a hub keeps at hand (a bound: those with events now, not those at rest). */
const RECENT_MAX = 1024;
/** A session as stored, its version, and the machine's snapshot of it when at hand. */
interface Recent {
  version: number;
  value: StoredSession;
  snapshot: Snapshot | undefined;
}
/** Deadlines claimed per round. */
const CLAIM_BATCH = 1000;
/**
 * Is `name` a timer of the state's own limit (XState's ids of the machine's `after` delays, and
 * each open handshake's challenge limit), for `expires`?
 */
const isLimitTimer = (state: SessionState, name: string): boolean => {
  switch (state) {
    case 'waiting':
      return name === 'xstate.after.idle.session.waiting';
    case 'challenged':
    case 'verifying':
      return name.startsWith('challenge:');
    case 'authenticated':
      return name === 'xstate.after.session.session.authenticated';
    case 'loggedOut':
      return name === 'xstate.after.idle.session.loggedOut';
    default:
      return false;
  }
};
const realClock: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
  now: () => Date.now(),
};

/** A context field as a new session has it (what `pack` leaves out): the same value, or both empty lists. */
const sameAsInitial = (value: unknown, initial: unknown): boolean =>
  value === initial || (Array.isArray(value) && Array.isArray(initial) && value.length === 0 && initial.length === 0);

/** Must this state survive a restart? */
const kept = (state: SessionState | undefined, context: SessionContext | undefined) =>
  state === 'authenticated' || (state === 'loggedOut' && context?.lastAccount !== null && context?.lastAccount !== undefined);

const accountsOf = (context: SessionContext | undefined): number[] => {
  if (!context) return [];
  const out: number[] = [];
  if (context.account !== null) out.push(context.account);
  if (context.lastAccount !== null && context.lastAccount !== context.account) out.push(context.lastAccount);
  return out;
};

export class SessionHub {
  /** This hub's (process's) id. */
  readonly id = randomUUID();
  readonly clock: Clock;
  private readonly sessions: Sessions;
  private readonly bus: Bus;
  private readonly stepper: MachineStepper<typeof sessionMachine>;
  /** App connections on this process, and the sessions each has said hello to. */
  private readonly peers = new Map<string, { peer: AppPeer; keys: Set<string>; off: Promise<(() => Promise<void>) | undefined> }>();
  /** Browsers on this process watching each session, and the Bus subscription that feeds them. */
  private readonly listeners = new Map<string, { set: Set<Listener>; off: Promise<(() => Promise<void>) | undefined> }>();
  /** The tail of each session's queue of events (this process applies one at a time per key). */
  private readonly queues = new Map<string, Promise<void>>();
  /** Work the hub started by itself (a verification, a deadline): `settled()` waits for it. */
  private readonly pending = new Set<Promise<unknown>>();
  /** Sessions by state, counted from the transitions this process applied (summed over processes: every session). */
  private readonly counts: Partial<Record<SessionState, number>> = {};
  private wake: { at: number; timer: unknown } | undefined;
  private polling: unknown;
  /** What this process last wrote of the sessions it worked on, by key (see `load`). */
  private readonly recent = new Map<string, Recent>();
  /** A new session's own context (what `pack` leaves out when unchanged). */
  private readonly initial: OwnContext;
  /** While the sessions the Sessions port lost are put back: reads and events wait for it (see `lost`). */
  private restoring: Promise<void> | undefined;
  private readonly offLost: () => void;
  /** Events with no record to write: the next change through `loose.store` (the write-through, or any other) takes them first. */
  private readonly loose: LooseEvents | undefined;
  private closed = false;

  constructor(private readonly opts: HubOptions) {
    this.clock = opts.clock ?? realClock;
    this.sessions = opts.sessions;
    this.bus = opts.bus;
    this.stepper = new MachineStepper(sessionMachine, { serverid: '', hsid: '', limits: opts.limits }, opts.inspect !== undefined);
    const { serverid: _s, hsid: _h, limits: _l, ...initial } = this.stepper.initial({ serverid: '', hsid: '', limits: opts.limits }).snapshot.context;
    this.initial = initial;
    this.offLost = this.sessions.onLost(() => this.lost());
    if (opts.saved) this.loose = LooseEvents.over(opts.saved, opts.log);
    if (opts.pollMs) this.poll(opts.pollMs);
  }

  /** Looks for due deadlines every `ms` (other processes add them too). */
  private poll(ms: number): void {
    if (this.closed) return;
    this.polling = this.clock.setTimeout(() => {
      this.track(this.fireDue());
      this.poll(ms);
    }, ms);
  }

  // ---- applying events ------------------------------------------------------------------------

  /** Runs `fn` after the session's earlier events on this process. */
  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(key) ?? Promise.resolve()).then(fn);
    const done = () => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    };
    const tail: Promise<void> = run.then(done, done);
    this.queues.set(key, tail);
    return run;
  }

  /**
   * Applies an event to the session: `event` may be a function of its current snapshot (and
   * stored value) that gives the event, or undefined to leave it alone. With `create`, a session
   * that does not exist is made first.
   */
  private apply(
    key: string,
    event: SessionEvent | ((snapshot: Snapshot, stored: StoredSession) => SessionEvent | undefined),
    opts: { create?: boolean; now?: number; fired?: string; source?: string } = {},
  ): Promise<Applied> {
    return this.serial(key, async () => {
      for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
        const result = await this.attempt(key, event, opts);
        if (result) return result;
      }
      throw new Error(`session ${splitKey(key).serverid}: ${MAX_RETRIES} writes came first`);
    });
  }

  /** One try of `apply`: undefined when another write came first. */
  private async attempt(
    key: string,
    event: SessionEvent | ((snapshot: Snapshot, stored: StoredSession) => SessionEvent | undefined),
    opts: { create?: boolean; now?: number; fired?: string; source?: string },
  ): Promise<Applied | undefined> {
    const now = opts.now ?? this.clock.now();
    const got = await this.load(key);
    const live = got !== undefined && got.value.snapshot !== null;
    let base: Snapshot | undefined;
    let step: ReturnType<typeof this.stepper.next>;
    let since = got?.value.since ?? now;
    let initial: unknown;
    let applied: SessionEvent | undefined;
    if (live) {
      base = got.snapshot ?? this.unpack(key, got.value.snapshot);
      const ev = typeof event === 'function' ? event(base, got.value) : event;
      if (!ev) return { outcome: 'ignored', stored: got.value, saved: true };
      applied = ev;
      step = this.stepper.next(base, ev);
      if (step.snapshot === base) {
        // Not taken, or taken with actions only (a refusal): nothing to write.
        if (step.actions.length === 0) return { outcome: 'ignored', stored: got.value, saved: true };
        this.inspected(key, step, base.value, base, got.value, false, undefined);
        this.run(key, step.actions, base, true);
        return { outcome: 'applied', stored: got.value, saved: true };
      }
    } else {
      if (!opts.create) return { outcome: got ? 'expired' : 'missing', saved: true };
      const { serverid, hsid } = splitKey(key);
      const first = this.stepper.initial({ serverid, hsid, limits: this.opts.limits });
      base = undefined;
      since = now;
      initial = first.snapshot.value;
      const ev = typeof event === 'function' ? event(first.snapshot, { snapshot: null, since }) : event;
      applied = ev;
      step = ev ? this.stepper.next(first.snapshot, ev) : first;
      if (ev) step = { ...step, actions: [...first.actions, ...step.actions], microsteps: [...first.microsteps, ...step.microsteps] };
    }
    const next = step.snapshot;
    const from = base ? stateName(base.value) : undefined;
    const to = stateName(next.value);
    const ended = next.status === 'done';

    // The deadlines the session expects from now on, by name. (Without a prototype: a dictionary
    // from the start, so deleting a name costs nothing later, and a name, which may hold a
    // connection's id, makes no hidden class of its own as a plain object's key would.)
    const timers = Object.create(null) as Record<string, number>;
    if (live && got.value.timers) for (const name in got.value.timers) timers[name] = got.value.timers[name]!;
    // A deadline applied is gone from what the session expects (unless the step sets it again),
    // so a second delivery of it (a claim given back after a process died) does nothing.
    if (opts.fired) delete timers[opts.fired];
    const added: Deadline[] = [];
    const cancelled: string[] = [];
    for (const action of step.actions) {
      if (action.type === 'xstate.cancel') {
        const id = (action.params as { sendId: string }).sendId;
        delete timers[id];
        cancelled.push(id);
      } else if (action.type === 'xstate.raise') {
        const { id, delay, event: payload } = action.params as { id?: string; delay?: number; event: Json };
        if (delay === undefined || id === undefined) continue;
        timers[id] = now + delay;
        // Set twice in one step (made, then re-entered): the last one counts.
        const i = added.findIndex((d) => d.name === id);
        if (i >= 0) added.splice(i, 1);
        added.push({ key, name: id, at: now + delay, payload });
      }
    }
    // A restored session's own limit ends with the state it was restored in, or when that state's limit starts again.
    const restarted = added.some((d) => isLimitTimer(to, d.name));
    if ((from !== to || restarted) && EXPIRE in timers) {
      delete timers[EXPIRE];
      cancelled.push(EXPIRE);
    }
    if (from !== to || restarted) since = now;

    let stored: StoredSession;
    if (ended) {
      for (const name in timers) cancelled.push(name);
      // Remembered for the idle limit, so a late scan hears SESSION_EXPIRED; memory then follows the
      // login rate over one limit (a fixed hour held a million at 300 logins/s), as live sessions do.
      const forget = now + this.opts.limits.idle;
      stored = { snapshot: null, since: now, timers: { [FORGET]: forget } };
      added.push({ key, name: FORGET, at: forget });
    } else {
      stored = { snapshot: this.pack(next.value, next.context), since, timers };
    }
    const version = await this.sessions.put(key, stored, got?.version ?? 0);
    if (version === undefined) {
      this.recent.delete(key);
      return undefined;
    }
    this.remember(key, { version, value: stored, snapshot: ended ? undefined : next });

    // Written: now the effects, in order. Deadlines and the account index first (a crash after
    // this point loses at most the answers), then the write-through, then the answers.
    const effects: Promise<unknown>[] = [];
    for (const name of cancelled) if (!added.some((d) => d.name === name)) effects.push(this.sessions.cancelDeadline(key, name));
    for (const deadline of added) effects.push(this.sessions.addDeadline(deadline));
    const before = accountsOf(base?.context);
    const after = ended ? [] : accountsOf(next.context);
    const { serverid } = next.context;
    for (const n of before) if (!after.includes(n)) effects.push(this.sessions.removeMember(accountSet(serverid, n), key));
    for (const n of after) if (!before.includes(n)) effects.push(this.sessions.addMember(accountSet(serverid, n), key));
    if (effects.length > 0) await Promise.all(effects);
    if (added.length > 0) {
      let earliest = added[0]!.at;
      for (const d of added) if (d.at < earliest) earliest = d.at;
      this.schedule(earliest);
    }

    if (from !== to) {
      if (from) this.counts[from] = (this.counts[from] ?? 0) - 1;
      if (!ended) this.counts[to] = (this.counts[to] ?? 0) + 1;
    }
    const change = applied && sessionEventOf({ from, to, ended, event: applied, fired: opts.fired, before: base?.context, after: next.context });
    if (change && change.source === undefined && opts.source !== undefined) change.source = opts.source;
    const saved = await this.writeThrough(key, from, base?.context, ended ? undefined : to, next.context, stored, change && (await this.eventOf(key, change, now)));
    this.inspected(key, step, base?.value, next, stored, ended, initial);
    this.run(key, step.actions, next, saved);
    return { outcome: 'applied', stored, saved };
  }

  /** The event a session change is (events/session-events.ts), with its user. */
  private async eventOf(key: string, change: SessionEventOf, now: number): Promise<NewEvent> {
    const { serverid, hsid } = splitKey(key);
    const userid = change.account !== undefined ? (await this.opts.account(serverid, change.account).catch(() => undefined))?.userid : undefined;
    return newEvent(change.type, serverid, { account: change.account, source: change.source, data: change.data, userid, subject: sessionSubject(hsid) }, now);
  }

  /**
   * Saves a session that must survive a restart, or removes one that need not any more, with
   * the event the change is (the same write). An event with nothing to save is written on its
   * own, not waited for: nothing was acknowledged that it must come with.
   */
  private async writeThrough(
    key: string,
    from: SessionState | undefined,
    before: SessionContext | undefined,
    to: SessionState | undefined,
    after: SessionContext,
    stored: StoredSession,
    event: NewEvent | undefined,
  ): Promise<boolean> {
    const store = this.loose?.store;
    if (!store) return true;
    const keep = kept(to, after);
    const was = kept(from, before);
    // Inside a kept state (a ping, a context) nothing changes on disk; a new state, a new last account does.
    if ((!keep && !was) || (keep && was && from === to && before?.lastAccount === after.lastAccount)) {
      if (event) this.loose?.add(event);
      return true;
    }
    const value: SavedSession = { snapshot: stored.snapshot, since: stored.since };
    try {
      // (The change takes the events waiting to be written first: LooseEvents.)
      await store.transact((tx) => {
        if (keep) tx.put('session', [key], value);
        else tx.delete('session', [key]);
        if (event) tx.emit(event);
      });
      return true;
    } catch (err) {
      this.opts.log?.warn({ err, session: splitKey(key).serverid }, 'could not save a session');
      return false;
    }
  }

  /** Carries out the machine's actions (after the snapshot is written). */
  private run(key: string, actions: ReturnType<typeof this.stepper.next>['actions'], next: Snapshot, saved: boolean): void {
    const session = splitKey(key);
    const where = session as unknown as Json;
    for (const action of actions) {
      const params = action.params as Record<string, unknown>;
      switch (action.type) {
        case 'accept':
          this.toPeer(params.peer as string, 'accepted', [
            where,
            { userContext: next.context.userContext, ...(next.context.push?.number ? { number: next.context.push.number } : {}) } as unknown as Json,
          ]);
          break;
        case 'refuse':
          this.toPeer(params.peer as string, 'refused', [params.code as string]);
          break;
        case 'confirm':
          // The result goes to the phone once the login is on disk.
          if (saved) this.toPeer(params.peer as string, 'confirmed', [where, params.output as Json]);
          else this.toPeer(params.peer as string, 'refused', ['STORAGE_UNAVAILABLE']);
          break;
        case 'ping':
          this.toPeer(params.peer as string, 'ping', [where, params.n as number]);
          break;
        case 'mute':
          this.opts.onMute?.(session.serverid, params.accounts as number[]);
          break;
        case 'xstate.emit': {
          const { event, number } = params.event as { event: Notice; number?: string };
          const message: Json = { event, state: stateName(next.value), account: next.context.account, ...(number ? { number } : {}) };
          this.track(this.bus.publish(`session:${key}`, message));
          break;
        }
        case 'verify':
          {
            const source = next.context.handshakes.find((h) => h.peer === params.peer)?.source;
            const required = next.context.userContext?.secondFactor === 'required';
            // (Named, not spread: on node 20 a key added to a spread copy makes a hidden class per object.)
            const given = params.input as VerifyInput;
            const input: VerifyInput = { serverid: given.serverid, hsid: given.hsid, op: given.op, proof: given.proof };
            if (given.number !== undefined) input.number = given.number;
            if (source !== undefined) input.source = source;
            if (required) input.secondFactor = 'required';
            this.verify(key, params.peer as string, input);
          }
          break;
        default:
          // assign, raise, cancel, stopChild: done above, or nothing to do.
          break;
      }
    }
  }

  /** Checks the proof of `peer`'s handshake and applies the outcome (`verified` / `unverified`). */
  private verify(key: string, peer: string, input: VerifyInput): void {
    const result = this.opts.verifyProof(input).then(
      (output): SessionEvent => ({ type: 'verified', peer, output }),
      (error: unknown): SessionEvent => ({ type: 'unverified', peer, code: failureCode(error) }),
    );
    this.track(result.then((event) => this.apply(key, event)));
  }

  /** Tells the inspector what was applied; `initial`: the session was made, in this state. */
  private inspected(key: string, step: ReturnType<typeof this.stepper.next>, before: unknown, next: Snapshot, stored: StoredSession, ended: boolean, initial: unknown): void {
    const inspect = this.opts.inspect;
    if (!inspect) return;
    try {
      const microsteps = step.microsteps.map((m) => ({
        event: typeOf(m.event),
        value: (m.snapshot as { value?: unknown }).value,
        reenters: (m._transitions ?? []).some((t) => (t.target?.length ?? 0) > 0 && t.reenter),
      }));
      const type = microsteps[0]?.event ?? 'xstate.init';
      if (initial !== undefined) microsteps.unshift({ event: 'xstate.init', value: initial, reenters: false });
      const created = initial !== undefined;
      inspect({ key, serverid: next.context.serverid, type, before, microsteps, value: next.value, account: next.context.account, since: stored.since, ended, created });
    } catch {
      // The inspector must never break a session.
    }
  }

  /** Keeps work the hub started by itself, for `settled()`; its failure is logged. */
  private track(work: Promise<unknown>): void {
    const p: Promise<void> = work.then(
      () => void this.pending.delete(p),
      (err: unknown) => {
        this.pending.delete(p);
        this.opts.log?.warn({ err }, 'session work failed');
      },
    );
    this.pending.add(p);
  }

  /** Resolves when everything the hub started by itself (verifications, deadlines, notices) is done. */
  async settled(): Promise<void> {
    for (;;) {
      while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
      await this.loose?.settled();
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.pending.size === 0) return;
    }
  }

  // ---- deadlines ------------------------------------------------------------------------------

  /** Wakes at `at` (or earlier, if already set to). */
  private schedule(at: number): void {
    if (this.closed || (this.wake && this.wake.at <= at)) return;
    if (this.wake) this.clock.clearTimeout(this.wake.timer);
    const timer = this.clock.setTimeout(
      () => {
        this.wake = undefined;
        this.track(this.fireDue());
      },
      Math.max(0, at - this.clock.now()),
    );
    this.wake = { at, timer };
  }

  /** Claims the due deadlines and applies them, until none is due; then sleeps until the next. */
  private async fireDue(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const due = await this.sessions.claimDue(this.clock.now(), CLAIM_BATCH);
      await Promise.all(due.map((d) => this.fire(d).catch((err: unknown) => this.opts.log?.warn({ err, deadline: d.name }, 'a session deadline failed'))));
      const next = await this.sessions.nextDue();
      if (next === undefined) return;
      if (next > this.clock.now()) return this.schedule(next);
    }
  }

  private async fire(deadline: Deadline): Promise<void> {
    const { key, name, at } = deadline;
    if (name === FORGET) {
      await this.serial(key, async () => {
        const got = await this.sessions.get(key);
        if (got && got.value.snapshot === null && got.value.timers?.[FORGET] === at) await this.sessions.delete(key, got.version);
      });
      return;
    }
    // Applied at its own time: what it starts (the next limit) counts from when it was due, not
    // from when a process got to it.
    await this.apply(key, (_, stored) => (stored.timers?.[name] === at ? (deadline.payload as unknown as SessionEvent) : undefined), { now: at, fired: name });
  }

  // ---- reading --------------------------------------------------------------------------------

  private async read(serverid: string, hsid: string): Promise<StoredSession | undefined> {
    return (await this.load(keyOf(serverid, hsid)))?.value;
  }

  /**
   * The session as stored, with the machine's snapshot of it when this process has it at hand:
   * what it last wrote (or read) of the session, while the port still holds that version, costs a
   * version check instead of a read, a parse and a resolve. Another process's write changes the
   * version, and the session is read again.
   */
  private async load(key: string): Promise<Recent | undefined> {
    if (this.restoring) await this.restoring;
    const hit = this.recent.get(key);
    if (hit) {
      if ((await this.sessions.version(key)) === hit.version) {
        this.recent.delete(key); // (the most recent last)
        this.recent.set(key, hit);
        return hit;
      }
      this.recent.delete(key);
    }
    const got = await this.sessions.get(key);
    return got && { version: got.version, value: got.value, snapshot: undefined };
  }

  /** Keeps what was written of a session (at most RECENT_MAX sessions: those with events now). */
  private remember(key: string, entry: Recent): void {
    this.recent.delete(key);
    this.recent.set(key, entry);
    if (this.recent.size > RECENT_MAX) this.recent.delete(this.recent.keys().next().value!);
  }

  /** Live sessions (counted from the transitions this process applied). */
  get size(): number {
    let n = 0;
    for (const count of Object.values(this.counts)) n += count;
    return n;
  }

  /** Live sessions per observable state. */
  countByState(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [state, n] of Object.entries(this.counts)) if (n !== 0) out[state] = n;
    return out;
  }

  /** The session's state value and context, if it is live (tests, the app channel's listen). */
  async snapshot(serverid: string, hsid: string): Promise<{ value: unknown; context: SessionContext } | undefined> {
    const key = keyOf(serverid, hsid);
    const got = await this.load(key);
    if (!got?.value.snapshot) return undefined;
    const { value, context } = got.snapshot ?? this.unpack(key, got.value.snapshot);
    return { value, context };
  }

  /** The stored form of a snapshot (see StoredState). */
  private pack(value: unknown, context: SessionContext): Json {
    const own: Partial<Record<keyof OwnContext, unknown>> = {};
    for (const k of Object.keys(this.initial) as Array<keyof OwnContext>) if (!sameAsInitial(context[k], this.initial[k])) own[k] = context[k];
    return { value, context: own } as unknown as Json;
  }

  /** The machine's snapshot of a stored one (what `pack` left out put back). */
  private unpack(key: string, snapshot: Json): Snapshot {
    const state = snapshot as unknown as Partial<StoredState> | null;
    // `limits` first so the literal does not start with a spread (a hidden class per object on node 20),
    // and again last so that, as before, nothing stored can stand in for this process's limits.
    const context: SessionContext = { limits: this.opts.limits, ...this.initial, ...state?.context, ...splitKey(key) };
    context.limits = this.opts.limits;
    return this.stepper.resolve(state?.value, context);
  }

  async wasExpired(serverid: string, hsid: string): Promise<boolean> {
    const stored = await this.read(serverid, hsid);
    return stored !== undefined && stored.snapshot === null;
  }

  /** The session's status; a session that does not exist (or expired) is `waiting`. */
  async status(serverid: string, hsid: string): Promise<SessionStatus> {
    return this.statusOf(await this.read(serverid, hsid));
  }

  private statusOf(stored: StoredSession | undefined): SessionStatus {
    if (!stored?.snapshot) return { state: 'waiting', account: null, lastAccount: null, canprovoke: false, userinput: null, userContext: null };
    const { value, context: own } = stored.snapshot as unknown as StoredState;
    const context: OwnContext = { ...this.initial, ...own };
    const state = stateName(value);
    const status: SessionStatus = {
      state,
      account: context.account,
      lastAccount: context.lastAccount,
      canprovoke: context.lastAccount !== null,
      userinput: context.userinput,
      userContext: context.userContext,
    };
    const timers = stored.timers ?? {};
    let expires = timers[EXPIRE];
    // Several handshakes: the session is challenged until the last one's limit.
    for (const [name, at] of Object.entries(timers)) if (isLimitTimer(state, name) && (expires === undefined || at > expires)) expires = at;
    if (expires !== undefined) status.expires = expires;
    return status;
  }

  // ---- browsers and relying parties ------------------------------------------------------------

  /** Hear every notice of the session, on whichever process it happens; returns the unsubscribe. */
  subscribe(serverid: string, hsid: string, listener: Listener): () => void {
    const key = keyOf(serverid, hsid);
    let entry = this.listeners.get(key);
    if (!entry) {
      const set = new Set<Listener>();
      const off = this.bus
        .subscribe(`session:${key}`, (message) => {
          const update = { serverid, hsid, ...(message as object) } as SessionUpdate;
          for (const l of set) {
            try {
              l(update);
            } catch (err) {
              this.opts.log?.warn({ err }, 'a session listener failed');
            }
          }
        })
        .catch((err: unknown) => {
          this.opts.log?.warn({ err }, 'could not watch a session');
          return undefined;
        });
      entry = { set, off };
      this.listeners.set(key, entry);
    }
    const { set } = entry;
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(key)?.set === set) {
        this.listeners.delete(key);
        void entry.off.then((off) => off?.());
      }
    };
  }

  /**
   * Resolves once this process hears the notices of the session it subscribed to (in a cluster,
   * once Redis confirmed the subscription): a status read after this misses no update.
   */
  async listening(serverid: string, hsid: string): Promise<void> {
    await this.listeners.get(keyOf(serverid, hsid))?.off;
  }

  get watchers(): number {
    let n = 0;
    for (const { set } of this.listeners.values()) n += set.size;
    return n;
  }

  /**
   * A code of this session is being shown (QR, HTML block, push): the session is made if need
   * be, takes the relying party's context if one is given, and — while it waits — its idle limit
   * restarts, so a code stays good as long as pages keep showing it.
   */
  async show(serverid: string, hsid: string, userContext?: UserContext): Promise<SessionStatus> {
    const given = userContext && (userContext.sessioninfo !== undefined || userContext.announceinfo !== undefined) ? userContext : undefined;
    const { stored } = await this.apply(keyOf(serverid, hsid), (snapshot) => ({ type: 'setContext', userContext: given ?? snapshot.context.userContext ?? {} }), { create: true });
    return this.statusOf(stored);
  }

  /** The session's status, the session made (`waiting`) if there is none. */
  async open(serverid: string, hsid: string): Promise<SessionStatus> {
    const { stored } = await this.apply(keyOf(serverid, hsid), () => undefined, { create: true });
    return this.statusOf(stored);
  }

  async setContext(serverid: string, hsid: string, userContext: UserContext): Promise<void> {
    await this.apply(keyOf(serverid, hsid), { type: 'setContext', userContext }, { create: true });
  }

  /** Tells the session's browsers how a transaction ended. */
  async announce(serverid: string, hsid: string, transaction: { tid: string; outcome: string }): Promise<void> {
    const status = await this.status(serverid, hsid);
    await this.bus.publish(`session:${keyOf(serverid, hsid)}`, { event: 'transaction', state: status.state, account: status.account, transaction });
  }

  /** A push went out for the session (PushService). */
  async provoke(serverid: string, hsid: string, accounts: number[], number?: string): Promise<void> {
    await this.apply(keyOf(serverid, hsid), { type: 'provoke', accounts, ...(number ? { number } : {}) }, { create: true });
  }

  /** The number a pushed session's phone must match, if any. */
  async pushNumber(serverid: string, hsid: string): Promise<string | undefined> {
    return (await this.snapshot(serverid, hsid))?.context.push?.number;
  }

  /** Logs the session out; resolves once that is on disk (false: the save failed). `source`: the address that asked (its event names it). */
  async logout(serverid: string, hsid: string, source?: string): Promise<boolean> {
    return (await this.apply(keyOf(serverid, hsid), { type: 'logout' }, source !== undefined ? { source } : {})).saved;
  }

  /** An account was blocked or deleted: log out its sessions (found by index, not by a walk). */
  async revoke(serverid: string, account: number, deleted: boolean): Promise<void> {
    const keys = await this.sessions.members(accountSet(serverid, account));
    await Promise.all(keys.map((key) => this.apply(key, { type: 'revoke', account, deleted })));
  }

  /**
   * Shows a transaction to the phone that logged the session in (while it is logged in and
   * connected); false when there is none to show it to.
   */
  async toLoginPeer(serverid: string, hsid: string, content: Record<string, unknown>): Promise<boolean> {
    const context = (await this.snapshot(serverid, hsid))?.context;
    if (!context || context.account === null || !context.pinger) return false;
    const local = this.peers.get(context.pinger);
    if (local) {
      if (!local.peer.transaction) return false;
      local.peer.transaction(content);
      return true;
    }
    // On another process, while it is open there.
    if ((await this.sessions.members(presenceOf(context.pinger))).length === 0) return false;
    // (The content holds bytes, which JSON does not carry.)
    await this.bus.publish(`peer:${context.pinger}`, { call: 'transaction', args: [frameToText(content)] });
    return true;
  }

  // ---- app connections ------------------------------------------------------------------------

  /** An app connection on this process: it hears its answers, from whichever process they come. */
  attach(peer: AppPeer): void {
    const off = this.bus
      .subscribe(`peer:${peer.id}`, (message) => {
        const { call, args } = message as { call: PeerCall; args: Json[] };
        this.callPeer(peer, call, args);
      })
      .catch((err: unknown) => {
        this.opts.log?.warn({ err }, 'could not listen for an app connection');
        return undefined;
      });
    this.peers.set(peer.id, { peer, keys: new Set(), off });
    this.track(this.sessions.addMember(presenceOf(peer.id), this.id));
  }

  /** The connection closed: abandon its handshakes. */
  async detach(peer: AppPeer): Promise<void> {
    const entry = this.peers.get(peer.id);
    if (!entry) return;
    this.peers.delete(peer.id);
    void entry.off.then((off) => off?.());
    this.track(this.sessions.removeMember(presenceOf(peer.id), this.id));
    await Promise.all([...entry.keys].map((key) => this.apply(key, { type: 'abandon', peer: peer.id })));
  }

  private toPeer(id: string, call: PeerCall, args: Json[]): void {
    const local = this.peers.get(id);
    if (local) {
      this.callPeer(local.peer, call, args);
    } else {
      this.track(this.bus.publish(`peer:${id}`, { call, args }));
    }
  }

  private callPeer(peer: AppPeer, call: PeerCall, args: Json[]): void {
    try {
      switch (call) {
        case 'accepted': {
          const session = args[0] as unknown as SessionKey;
          const keys = this.peers.get(peer.id)?.keys;
          keys?.add(keyOf(session.serverid, session.hsid));
          if (keys && keys.size > MAX_PEER_KEYS) keys.delete(keys.values().next().value!);
          return peer.accepted(session, args[1] as unknown as Shown);
        }
        case 'refused':
          return peer.refused(args[0] as string);
        case 'confirmed':
          return peer.confirmed(args[0] as unknown as SessionKey, args[1] as unknown as VerifyOutput);
        case 'ping':
          return peer.ping(args[0] as unknown as SessionKey, args[1] as number);
        case 'transaction':
          return peer.transaction?.(frameFromText(args[0] as string));
      }
    } catch (err) {
      this.opts.log?.warn({ err }, 'app peer callback failed');
    }
  }

  /**
   * An app's hello. The machine answers through the peer (`accepted` or `refused`); a session
   * that does not exist is refused here.
   */
  async hello(peer: AppPeer, serverid: string, hsid: string, op: Op): Promise<void> {
    const { outcome } = await this.apply(keyOf(serverid, hsid), { type: 'hello', peer: peer.id, op, source: peer.source });
    if (outcome === 'missing') peer.refused('UNKNOWN_SESSION');
    else if (outcome === 'expired') peer.refused('SESSION_EXPIRED');
  }

  async proof(peer: AppPeer, session: SessionKey, proof: ProofPayload): Promise<void> {
    await this.inHandshake(peer, session, { type: 'proof', peer: peer.id, proof });
  }

  /** The proof failed before it could be checked (its box did not open, it did not fit its schema). */
  async fail(peer: AppPeer, session: SessionKey, code: string): Promise<void> {
    await this.inHandshake(peer, session, { type: 'unverified', peer: peer.id, code });
  }

  /**
   * The user said no. `reporter`: the accounts the connection has proven on the session's
   * server; a report mutes pushes only to those of them that were pushed to.
   */
  async decline(peer: AppPeer, session: SessionKey, report = false, reporter: number[] = []): Promise<void> {
    await this.inHandshake(peer, session, { type: 'decline', peer: peer.id, report, reporter });
  }

  /** The phone of a continuous session answered ping `n`. */
  async pong(peer: AppPeer, session: SessionKey, n: number): Promise<void> {
    await this.apply(keyOf(session.serverid, session.hsid), { type: 'pong', peer: peer.id, n });
  }

  /**
   * An event of the peer's open handshake (a proof or a decline: one whose proof has not come
   * yet). When the handshake is over the peer hears why instead: SESSION_BUSY when another
   * handshake's login won, else SESSION_EXPIRED (its challenge limit passed, the session ended).
   */
  private async inHandshake(peer: AppPeer, session: SessionKey, event: SessionEvent): Promise<void> {
    let state: SessionState | undefined;
    const { outcome } = await this.apply(keyOf(session.serverid, session.hsid), (snapshot) => {
      const handshake = snapshot.context.handshakes.find((h) => h.peer === peer.id);
      if (handshake && (event.type === 'unverified' || !handshake.proving)) return event;
      state = stateName(snapshot.value);
      return undefined;
    });
    if (outcome !== 'applied') peer.refused(state === 'authenticated' ? 'SESSION_BUSY' : 'SESSION_EXPIRED');
  }

  // ---- start and stop -------------------------------------------------------------------------

  /**
   * Brings back the saved sessions into the Sessions port (no actor is made). Each goes on with
   * the time its state had left; one whose limit passed while the process was down ends at once.
   */
  async restore(): Promise<number> {
    const back = await this.putBack();
    await this.goOn(back);
    return back.length;
  }

  /**
   * The Sessions port lost what it held (a Redis restarted empty): every session, deadline and
   * set is gone, on every process. Each process puts back what it knows: the sessions written
   * through to the Store (as at a start; a session that another process put back first is left
   * as it is), and the presence of its app connections. Until the sessions are back, reads and
   * events wait, so that none finds a logged-in session missing (a logout answered 200, then
   * undone by its session coming back).
   */
  private lost(): void {
    this.recent.clear();
    for (const state of Object.keys(this.counts) as SessionState[]) delete this.counts[state];
    for (const id of this.peers.keys()) this.track(this.sessions.addMember(presenceOf(id), this.id));
    const back = this.putBack();
    const restoring = back.then(
      () => undefined,
      () => undefined,
    );
    this.restoring = restoring;
    this.track(
      back.then(async (sessions) => {
        if (this.restoring === restoring) this.restoring = undefined;
        await this.goOn(sessions);
        this.opts.log?.info({ restored: sessions.length }, 'the Sessions store lost its data: sessions restored');
      }),
    );
  }

  /** `restore`'s first half: the saved sessions put back with their deadline and account index (those put back here). */
  private async putBack(): Promise<Array<{ key: string; snapshot: Snapshot; at: number }>> {
    const store = this.opts.saved;
    if (!store) return [];
    const now = this.clock.now();
    const back: Array<{ key: string; snapshot: Snapshot; at: number }> = [];
    for (const [key, saved] of await store.savedSessions()) {
      let snapshot: Snapshot;
      try {
        snapshot = this.unpack(key, saved.snapshot as Json);
        if (snapshot.status !== 'active' || typeof (saved.snapshot as { context?: unknown } | null)?.context !== 'object') throw new Error('not a live session');
      } catch (err) {
        this.opts.log?.warn({ err, session: splitKey(key).serverid }, 'a saved session could not be restored; dropped');
        await store.transact((tx) => tx.delete('session', [key]));
        continue;
      }
      const name = stateName(snapshot.value);
      const limit = name === 'authenticated' ? this.opts.limits.session : this.opts.limits.idle;
      let at = saved.since + limit;
      // A continuous session's phone connection did not survive the restart: its next pong is due.
      if (name === 'authenticated' && snapshot.context.pingTime > 0) at = Math.min(at, now + snapshot.context.pingTime);
      const stored: StoredSession = { snapshot: this.pack(snapshot.value, snapshot.context), since: saved.since, timers: { [EXPIRE]: at } };
      if ((await this.sessions.put(key, stored, 0)) === undefined) {
        // There already. Kept: another process put it back first (or it went on since), leave it.
        // Not kept: made anew on the emptied store before this process noticed (a page asked
        // for the session): the saved login is the truth.
        const there = await this.sessions.get(key);
        const state = there?.value.snapshot ? this.unpack(key, there.value.snapshot) : undefined;
        if (!there || kept(state && stateName(state.value), state?.context) || (await this.sessions.put(key, stored, there.version)) === undefined) continue;
      }
      back.push({ key, snapshot, at });
      this.counts[name] = (this.counts[name] ?? 0) + 1;
      await Promise.all([
        this.sessions.addDeadline({ key, name: EXPIRE, at, payload: { type: 'expire' } }),
        ...accountsOf(snapshot.context).map((n) => this.sessions.addMember(accountSet(snapshot.context.serverid, n), key)),
      ]);
    }
    return back;
  }

  /** `restore`'s second half: each session put back goes on (events: the first half may hold them back). */
  private async goOn(back: Array<{ key: string; snapshot: Snapshot; at: number }>): Promise<void> {
    const now = this.clock.now();
    for (const { key, snapshot, at } of back) {
      // The registry is the truth about accounts: a session whose account was blocked or deleted
      // (and answered 200) before the session's own save reached the disk ends now.
      const { serverid, account } = snapshot.context;
      const record = account === null ? undefined : await this.opts.account(serverid, account);
      if (account !== null && (record === undefined || record.blocked)) await this.apply(key, { type: 'revoke', account, deleted: record === undefined });
      else if (at <= now) await this.apply(key, { type: 'expire' });
      else this.schedule(at);
    }
  }

  /** Stops the timers and waits for the work in flight (on shutdown); what is saved stays saved. */
  async close(): Promise<void> {
    this.offLost();
    await this.settled();
    this.closed = true;
    if (this.wake) this.clock.clearTimeout(this.wake.timer);
    if (this.polling !== undefined) this.clock.clearTimeout(this.polling);
    this.wake = undefined;
    await Promise.all([...this.queues.values()]);
    const offs = [...this.listeners.values(), ...this.peers.values()].map((e) => e.off.then((off) => off?.()));
    this.listeners.clear();
    this.peers.clear();
    await Promise.allSettled(offs);
  }
}

type PeerCall = 'accepted' | 'refused' | 'confirmed' | 'ping' | 'transaction';

/** The type of an event, and nothing else of it. */
const typeOf = (event: unknown): string => {
  const type = (event as { type?: unknown } | undefined)?.type;
  return typeof type === 'string' ? type.slice(0, 200) : 'unknown';
};
