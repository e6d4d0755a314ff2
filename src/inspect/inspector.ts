/**
 * The live inspector's memory: what the session hub applied to each session (the hub passes
 * `inspect: (a) => inspector.applied(a)`), kept per session as a short log of what happened to
 * it, for the /inspect page (src/inspect/socket.ts).
 *
 * What is kept is safe to show to an operator: the TYPE of each event applied and the state
 * values the session went through (XState's microsteps), with the time. Never an event's
 * payload: a `proof` carries signatures and transcripts, `hello` and `pong` carry connection
 * ids, `setContext` the relying party's user context. A session is known by an opaque id, not
 * its hsid.
 *
 * Memory is bounded: at most `cap` entries per session (the oldest go first), at most
 * `maxSessions` sessions (the one that changed least recently goes first: a session at rest
 * costs the hub only its snapshot, and the inspector keeps the lively ones), and a session's log
 * is dropped when it ends. Entries are kept packed (a time, and the kind and three string codes
 * in one number: 16 bytes each, in arrays that grow with the log).
 *
 * It also counts transitions for /metrics (`nextauth_session_transitions_total{state}`, by the
 * top-level state entered): `sum(rate(...))` is transitions per second.
 */
import type { LogEntry } from '../web/inspect-wire.ts';
import client from 'prom-client';
import type { AppliedEvent } from '../core/hub.ts';

export type { LogEntry };

export interface SessionView {
  id: string;
  serverid: string;
  /** The current state as a dotted path (`authenticated.pinging`). */
  state: string;
  /** When the inspector first saw the session (ms). */
  started: number;
  /** When the session entered its state (ms). */
  since: number;
  account: number | null;
  /** The log (empty in a listing). */
  log: LogEntry[];
}

export interface Watcher {
  entry(entry: LogEntry, state: string): void;
  /** The session ended: its log is gone. */
  ended(): void;
}

export interface InspectorOptions {
  /** The clock of log entries (the hub's). */
  now?: () => number;
  /** Where the transition counter is registered (/metrics). */
  registry?: client.Registry;
  /** Entries kept per session (default 200). */
  cap?: number;
  /** Sessions kept (default 10,000). */
  maxSessions?: number;
}

interface Tracked {
  id: string;
  key: string;
  serverid: string;
  started: number;
  state: string;
  account: number | null;
  since: number;
  log: Ring;
  /** Made when the first watcher comes (most sessions have none). */
  watchers: Set<Watcher> | undefined;
}

/** Codes are below this (13 bits): an entry's kind and three codes fit one number exactly. */
const SPAN = 8192;
const NONE = SPAN - 1;
/** The strings of entries (event types, state texts): a machine has few; one code each. */
const codes = new Map<string, number>();
const texts: string[] = [];
/** Past this many distinct strings new ones are stored as '?' (never happens with a fixed machine). */
const MAX_TEXTS = 4000;
const code = (s: string | undefined): number => {
  if (s === undefined) return NONE;
  let c = codes.get(s);
  if (c === undefined) {
    if (texts.length >= MAX_TEXTS) return UNKNOWN;
    c = texts.length;
    texts.push(s);
    codes.set(s, c);
  }
  return c;
};
const UNKNOWN = code('?');
const textOf = (c: number): string => texts[c] ?? '?';

/**
 * A capped log, packed: per entry its time, and its kind, type, from and to as one number
 * (`kind + 2 × (type + SPAN × (from + SPAN × to))`, below 2^53). Plain arrays that grow as the
 * log does: a typed array past 64 bytes is a buffer outside the heap, dearer to make and to free
 * than the few entries most sessions have.
 */
class Ring {
  private readonly at: number[] = [];
  private readonly packed: number[] = [];
  /** The oldest entry, once the log is full and wraps around. */
  private start = 0;
  constructor(private readonly cap: number) {}

  push(at: number, kind: LogEntry['kind'], type: string, from: string | undefined, to: string | undefined): void {
    const packed = (kind === 'transition' ? 1 : 0) + 2 * (code(type) + SPAN * (code(from) + SPAN * code(to)));
    if (this.at.length < this.cap) {
      this.at.push(at);
      this.packed.push(packed);
      return;
    }
    this.at[this.start] = at;
    this.packed[this.start] = packed;
    this.start = (this.start + 1) % this.cap;
  }

  entries(): LogEntry[] {
    const out: LogEntry[] = [];
    const n = this.at.length;
    for (let k = 0; k < n; k++) {
      const i = (this.start + k) % n;
      let v = this.packed[i]!;
      const kind = v % 2;
      v = (v - kind) / 2;
      const type = v % SPAN;
      v = (v - type) / SPAN;
      const from = v % SPAN;
      const to = (v - from) / SPAN;
      const entry: LogEntry = { at: this.at[i]!, kind: kind === 1 ? 'transition' : 'event', type: textOf(type) };
      if (from !== NONE) entry.from = textOf(from);
      if (to !== NONE) entry.to = textOf(to);
      out.push(entry);
    }
    return out;
  }
}

/** The active state nodes of a state value, as dotted paths, parents before children. */
export function statePaths(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value];
  if (typeof value !== 'object' || value === null) return [];
  const out: string[] = [];
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    out.push(prefix + key);
    out.push(...statePaths(child, `${prefix}${key}.`));
  }
  return out;
}

/** A state value as one dotted string: the leaves (`authenticated.pinging`; parallel regions joined by ', '). */
export function stateText(value: unknown): string {
  // The common shapes at once (`waiting`, `{authenticated: 'pinging'}`): this runs for every microstep.
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    const keys = Object.keys(value);
    const child: unknown = keys.length === 1 ? (value as Record<string, unknown>)[keys[0]!] : undefined;
    if (typeof child === 'string') return `${keys[0]}.${child}`;
  }
  const paths = statePaths(value);
  const leaves = paths.filter((p) => !paths.some((q) => q.startsWith(`${p}.`)));
  return leaves.join(', ');
}

export class Inspector {
  /** By session key, least recently changed first. */
  private readonly byKey = new Map<string, Tracked>();
  private readonly byId = new Map<string, Tracked>();
  private readonly changeListeners = new Set<() => void>();
  private readonly now: () => number;
  private readonly cap: number;
  private readonly maxSessions: number;
  private counter = 0;
  readonly transitions: client.Counter<'state'>;
  /** Transitions by top-level state since /metrics last read them. */
  private readonly counted = new Map<string, number>();

  constructor(opts: InspectorOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.cap = Math.max(1, opts.cap ?? 200);
    this.maxSessions = Math.max(1, opts.maxSessions ?? 10_000);
    const counted = this.counted;
    this.transitions = new client.Counter({
      name: 'nextauth_session_transitions_total',
      help: 'Session transitions, by the top-level state entered (rate() is transitions per second)',
      labelNames: ['state'] as const,
      registers: opts.registry ? [opts.registry] : [],
      // Counted in a plain map as they happen, handed to prom-client when it is read.
      collect() {
        for (const [state, n] of counted) this.inc({ state }, n);
        counted.clear();
      },
    });
  }

  /** Sessions with a log. */
  get size(): number {
    return this.byKey.size;
  }

  /** The hub applied an event to a session. Never throws. */
  applied(a: AppliedEvent): void {
    try {
      if (typeof a?.key !== 'string' || typeof a.serverid !== 'string' || !Array.isArray(a.microsteps)) return;
      // Read everything first: what cannot be read records nothing.
      const steps = a.microsteps.map((m) => ({ event: String(m.event).slice(0, 200), to: stateText(m.value), reenters: m.reenters === true }));
      const start = a.created ? '' : stateText(a.before ?? a.value);
      // (One time for the entries of one applied event: they happened together.)
      const at = this.now();
      let t = this.byKey.get(a.key);
      if (t) {
        // Most recently changed last.
        this.byKey.delete(a.key);
        this.byKey.set(a.key, t);
      } else {
        // The end of a session it no longer keeps: nothing to show.
        if (a.ended) return;
        if (this.byKey.size >= this.maxSessions) {
          const oldest = this.byKey.values().next().value;
          if (oldest) this.drop(oldest);
        }
        t = {
          id: `a${(++this.counter).toString(36)}`,
          key: a.key,
          serverid: a.serverid,
          // A session made by this event is as old as its state (`since`: the hub's time of the change).
          started: a.created ? Math.min(at, a.since) : at,
          state: '',
          account: a.account,
          since: a.since,
          log: new Ring(this.cap),
          watchers: undefined,
        };
        this.byKey.set(a.key, t);
        this.byId.set(t.id, t);
        // A session this process had not seen (restored, made by another process, evicted) starts where it was.
        if (start) this.transition(t, at, 'unknown', start, false);
      }
      // Each event once, before the transitions it caused (a created session: xstate.init first).
      let last: string | undefined;
      for (const m of steps) {
        if (m.event !== last) this.add(t, at, 'event', m.event);
        last = m.event;
        if (m.to !== t.state || m.reenters) this.transition(t, at, m.event, m.to);
      }
      if (steps.length === 0) this.add(t, at, 'event', String(a.type));
      t.account = a.account;
      t.since = a.since;
      if (a.ended) this.drop(t);
      else this.changed();
    } catch {
      // The inspector must never break a session.
    }
  }

  /** Every session with a log, of the servers given (all: null). */
  list(servers: Set<string> | null): SessionView[] {
    const out: SessionView[] = [];
    for (const t of this.byKey.values()) if (!servers || servers.has(t.serverid)) out.push(this.viewOf(t, false));
    return out;
  }

  /** The session's state and log so far (a copy). */
  view(id: string): SessionView | undefined {
    const t = this.byId.get(id);
    return t ? this.viewOf(t, true) : undefined;
  }

  private viewOf(t: Tracked, withLog: boolean): SessionView {
    return { id: t.id, serverid: t.serverid, state: t.state, started: t.started, since: t.since, account: t.account, log: withLog ? t.log.entries() : [] };
  }

  /** Hear the session's new log entries, and its end; returns the unsubscribe. */
  watch(id: string, watcher: Watcher): () => void {
    const t = this.byId.get(id);
    if (!t) {
      watcher.ended();
      return () => {};
    }
    (t.watchers ??= new Set()).add(watcher);
    return () => void t.watchers?.delete(watcher);
  }

  /** Hear that a session started, changed state or ended; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => void this.changeListeners.delete(listener);
  }

  private transition(t: Tracked, at: number, type: string, to: string, count = true): void {
    const from = t.state;
    t.state = to;
    this.add(t, at, 'transition', type, from || undefined, to);
    if (count) {
      const dot = to.indexOf('.');
      const state = (dot < 0 ? to : to.slice(0, dot)) || 'unknown';
      this.counted.set(state, (this.counted.get(state) ?? 0) + 1);
    }
  }

  /** Logs an entry (made as an object only for the session's watchers: most sessions have none). */
  private add(t: Tracked, at: number, kind: LogEntry['kind'], type: string, from?: string, to?: string): void {
    t.log.push(at, kind, type, from, to);
    if (!t.watchers) return;
    const entry: LogEntry = { at, kind, type };
    if (from !== undefined) entry.from = from;
    if (to !== undefined) entry.to = to;
    for (const w of t.watchers) {
      try {
        w.entry(entry, t.state);
      } catch {
        // a watcher's failure is its own
      }
    }
  }

  private drop(t: Tracked): void {
    if (this.byKey.get(t.key) !== t) return;
    this.byKey.delete(t.key);
    this.byId.delete(t.id);
    const watchers = [...(t.watchers ?? [])];
    t.watchers = undefined;
    for (const w of watchers) {
      try {
        w.ended();
      } catch {
        // a watcher's failure is its own
      }
    }
    this.changed();
  }

  private changed(): void {
    for (const listener of this.changeListeners) {
      try {
        listener();
      } catch {
        // a listener's failure is its own
      }
    }
  }
}
