/**
 * The live inspector's memory: XState's inspection events of every session actor (the hub passes
 * `inspect: (e) => inspector.observe(e)` to each actor it makes), kept per live actor as a short
 * log of what happened to it, for the /inspect page (src/inspect/socket.ts).
 *
 * What is kept is safe to show to an operator: the TYPE of each event the actor received and the
 * state values it went through, with the time. Never an event's payload: a `proof` carries
 * signatures and transcripts, `hello` and `pong` carry connection ids, `setContext` the
 * relying party's user context, `xstate.init` the session's input (its hsid).
 *
 * Memory is bounded: at most `cap` entries per actor (the oldest go first), and an actor's log is
 * dropped when the actor ends (its final or stopped snapshot; a sweep also drops actors that
 * failed without one). Entries are kept packed (a time and three string codes, about 16 bytes
 * each, in a buffer that grows with the log), since every session actor has a log.
 *
 * It also counts transitions for /metrics (`nextauth_session_transitions_total{state}`, by the
 * top-level state entered): `sum(rate(...))` is transitions per second.
 */
import type { LogEntry } from '../web/inspect-wire.ts';
import client from 'prom-client';
import type { ActorRefLike, InspectionEvent } from 'xstate';

export type { LogEntry };

export interface ActorView {
  id: string;
  /** The current state as a dotted path (`authenticated.pinging`), '' before the first snapshot. */
  state: string;
  /** When the inspector first saw the actor (ms). */
  started: number;
  log: LogEntry[];
}

export interface Watcher {
  entry(entry: LogEntry, state: string): void;
  /** The actor ended: its log is gone. */
  ended(): void;
}

export interface InspectorOptions {
  /** The clock of log entries (the hub's). */
  now?: () => number;
  /** Where the transition counter is registered (/metrics). */
  registry?: client.Registry;
  /** Entries kept per actor (default 200). */
  cap?: number;
}

interface Tracked {
  id: string;
  actor: ActorRefLike;
  started: number;
  state: string;
  log: Ring;
  watchers: Set<Watcher>;
}

const NONE = 0xffff;
/** How often `track` looks for actors that ended without a last snapshot. */
const SWEEP_EVERY_MS = 10_000;
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

/** A capped log, packed: the time of each entry, and its kind, type, from and to as string codes. */
class Ring {
  private at: Float64Array;
  /** Per entry: kind (0 event, 1 transition), type, from, to. */
  private codes: Uint16Array;
  private start = 0;
  length = 0;
  constructor(private readonly cap: number) {
    this.at = new Float64Array(Math.min(4, cap));
    this.codes = new Uint16Array(this.at.length * 4);
  }

  push(e: LogEntry): void {
    if (this.length === this.at.length && this.length < this.cap) this.grow(Math.min(this.cap, this.at.length * 2));
    const i = (this.start + this.length) % this.at.length;
    this.at[i] = e.at;
    this.codes.set([e.kind === 'transition' ? 1 : 0, code(e.type), code(e.from), code(e.to)], i * 4);
    if (this.length < this.at.length) this.length++;
    else this.start = (this.start + 1) % this.at.length;
  }

  entries(): LogEntry[] {
    const out: LogEntry[] = [];
    for (let n = 0; n < this.length; n++) {
      const i = (this.start + n) % this.at.length;
      const [kind, type, from, to] = this.codes.subarray(i * 4, i * 4 + 4);
      const entry: LogEntry = { at: this.at[i]!, kind: kind === 1 ? 'transition' : 'event', type: texts[type!] ?? '?' };
      if (from !== NONE) entry.from = texts[from!] ?? '?';
      if (to !== NONE) entry.to = texts[to!] ?? '?';
      out.push(entry);
    }
    return out;
  }

  private grow(size: number): void {
    const entries = this.entries();
    this.at = new Float64Array(size);
    this.codes = new Uint16Array(size * 4);
    this.start = 0;
    this.length = 0;
    for (const e of entries) this.push(e);
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

/** A state value as one dotted string: the leaves (`waiting.open`; parallel regions joined by ', '). */
export function stateText(value: unknown): string {
  const paths = statePaths(value);
  const leaves = paths.filter((p) => !paths.some((q) => q.startsWith(`${p}.`)));
  return leaves.join(', ');
}

export class Inspector {
  private readonly byActor = new Map<ActorRefLike, Tracked>();
  private readonly byId = new Map<string, Tracked>();
  private readonly changeListeners = new Set<() => void>();
  private readonly now: () => number;
  private readonly cap: number;
  private counter = 0;
  private swept = 0;
  readonly transitions: client.Counter<'state'>;

  constructor(opts: InspectorOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.cap = Math.max(1, opts.cap ?? 200);
    this.transitions = new client.Counter({
      name: 'nextauth_session_transitions_total',
      help: 'Session actor transitions, by the top-level state entered (rate() is transitions per second)',
      labelNames: ['state'] as const,
      registers: opts.registry ? [opts.registry] : [],
    });
  }

  /** Live actors with a log. */
  get size(): number {
    return this.byActor.size;
  }

  /** XState's inspection callback (every session actor's). Never throws. */
  observe(e: InspectionEvent): void {
    try {
      // Only the session actors themselves: not the child actors they invoke (verifyProof).
      if (e.actorRef.sessionId !== e.rootId) return;
      switch (e.type) {
        case '@xstate.actor':
          this.track(e.actorRef);
          return;
        case '@xstate.event': {
          const t = this.byActor.get(e.actorRef);
          if (t) this.add(t, { at: this.now(), kind: 'event', type: typeOf(e.event) });
          return;
        }
        case '@xstate.microstep': {
          // Each step of a macrostep: a proof that fails goes challenged → failing → waiting.
          const t = this.byActor.get(e.actorRef);
          if (!t) return;
          const to = stateText((e.snapshot as { value?: unknown }).value);
          const reenters = (e._transitions ?? []).some((tr) => (tr.target?.length ?? 0) > 0 && tr.reenter);
          if (to !== t.state || reenters) this.transition(t, typeOf(e.event), to);
          return;
        }
        case '@xstate.snapshot': {
          const t = this.byActor.get(e.actorRef);
          if (!t) return;
          const snapshot = e.snapshot as { value?: unknown; status?: string };
          const to = stateText(snapshot.value);
          // The first snapshot (start or restore) has no microstep; nor has a restored state.
          if (to !== t.state && snapshot.status !== 'stopped') this.transition(t, typeOf(e.event), to);
          if (snapshot.status !== 'active') this.drop(t);
          return;
        }
        default:
          return;
      }
    } catch {
      // The inspector must never break an actor.
    }
  }

  /** The opaque id of a live actor (not its hsid). */
  idOf(actor: ActorRefLike): string | undefined {
    return this.byActor.get(actor)?.id;
  }

  actorOf(id: string): ActorRefLike | undefined {
    return this.byId.get(id)?.actor;
  }

  /** The actor's state and log so far (a copy). */
  view(id: string): ActorView | undefined {
    const t = this.byId.get(id);
    return t ? { id: t.id, state: t.state, started: t.started, log: t.log.entries() } : undefined;
  }

  /** Hear the actor's new log entries, and its end; returns the unsubscribe. */
  watch(id: string, watcher: Watcher): () => void {
    const t = this.byId.get(id);
    if (!t) {
      watcher.ended();
      return () => {};
    }
    t.watchers.add(watcher);
    return () => void t.watchers.delete(watcher);
  }

  /** Hear that an actor started, changed state or ended; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => void this.changeListeners.delete(listener);
  }

  /** Drops the actors that ended without saying so (an actor that failed has no last snapshot). */
  sweep(): void {
    for (const t of [...this.byActor.values()]) {
      const status = (t.actor.getSnapshot() as { status?: string } | undefined)?.status;
      if (status !== undefined && status !== 'active') this.drop(t);
    }
  }

  private track(actor: ActorRefLike): void {
    if (this.byActor.has(actor)) return;
    // Now and then (not per actor: the walk is over every live actor), look for actors that ended silently.
    const now = this.now();
    if (now - this.swept >= SWEEP_EVERY_MS) {
      this.swept = now;
      this.sweep();
    }
    const t: Tracked = { id: `a${(++this.counter).toString(36)}`, actor, started: this.now(), state: '', log: new Ring(this.cap), watchers: new Set() };
    this.byActor.set(actor, t);
    this.byId.set(t.id, t);
    this.changed();
  }

  private transition(t: Tracked, type: string, to: string): void {
    const from = t.state;
    t.state = to;
    this.add(t, { at: this.now(), kind: 'transition', type, ...(from ? { from } : {}), to });
    const top = to.split('.')[0] || 'unknown';
    this.transitions.inc({ state: top });
    this.changed();
  }

  private add(t: Tracked, entry: LogEntry): void {
    t.log.push(entry);
    for (const w of t.watchers) {
      try {
        w.entry(entry, t.state);
      } catch {
        // a watcher's failure is its own
      }
    }
  }

  private drop(t: Tracked): void {
    if (this.byActor.get(t.actor) !== t) return;
    this.byActor.delete(t.actor);
    this.byId.delete(t.id);
    const watchers = [...t.watchers];
    t.watchers.clear();
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

/** The type of an event, and nothing else of it. */
const typeOf = (event: unknown): string => {
  const type = (event as { type?: unknown } | undefined)?.type;
  return typeof type === 'string' ? type.slice(0, 200) : 'unknown';
};
