/**
 * Diagrams of an XState v5 machine, read from the machine's own structure (`machine.root` and
 * its StateNodes), never drawn by hand:
 * - `describeMachine(machine)`: the states (nested), and every transition as an edge with a short
 *   label (`event [guard] / notify x`, `after <delay name>`, `<src> done`, `always [guard]`);
 * - `toMermaid(machine)`: a Mermaid `stateDiagram-v2` (compound states as composite states);
 * - `toDot(machine)`: a Graphviz digraph (compound states as clusters).
 *
 * Pure and deterministic: the output depends only on the machine's configuration and its order.
 *
 * What is shown: state names; initial and final states; events on arrows with their guard in
 * brackets (a guardless candidate after guarded ones for the same event is `[else]`); delayed
 * transitions by the delay's NAME (`after idle`; a literal delay as `after 500ms`); eventless
 * transitions as `always`; invoked actors inside their state (`invoke verifyProof`) and their
 * results as `verifyProof done` / `verifyProof error`; emitted events whose value can be read
 * without running the machine (`notify confirmscan`). Transitions without a target (the state
 * handles the event and stays) are listed inside their state with their named actions
 * (`hello / refuse`); those of the machine itself are listed as "in every state". Assignments and
 * computed emits are left out.
 */
import type { AnyStateMachine } from 'xstate';

// --- What is read from XState's StateNodes (a loose view of their public fields) ----------------

interface NodeLike {
  id: string;
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  history?: false | 'shallow' | 'deep';
  states: Record<string, NodeLike>;
  initial?: { target: readonly NodeLike[] };
  transitions: Map<string, TransitionLike[]>;
  after: Array<{ eventType: string; delay: string | number }>;
  always?: TransitionLike[];
  invoke: Array<{ id: string; src: unknown }>;
  entry: unknown[];
  exit: unknown[];
}

interface TransitionLike {
  eventType: string;
  target?: readonly NodeLike[];
  guard?: unknown;
  actions: readonly unknown[];
  reenter?: boolean;
}

// --- The description ------------------------------------------------------------------------------

export interface DiagramState {
  /** The XState id (`session.authenticated.pinging`). */
  id: string;
  /** The state's key, as written in the machine (`open`). */
  name: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** The id of the initial child (compound states). */
  initial: string | null;
  /** Lines shown inside the state: invoked actors, entry/exit actions, events handled in place. */
  lines: string[];
  states: DiagramState[];
}

export type EdgeKind = 'event' | 'after' | 'always' | 'invoke' | 'done';

export interface DiagramEdge {
  source: string;
  target: string;
  /** `trigger / actions`. */
  label: string;
  /** What takes it: `hello [fromPeer]`, `after idle`, `verifyProof done`, `always [else]`. */
  trigger: string;
  /** Emitted events shown on the arrow (`notify cancel`). */
  actions: string[];
  kind: EdgeKind;
}

export interface MachineDiagram {
  /** The machine's id. */
  id: string;
  root: DiagramState;
  edges: DiagramEdge[];
}

/** Looks like an XState machine (what `scripts/machines.ts` picks from a module's exports). */
export const isMachine = (value: unknown): value is AnyStateMachine =>
  typeof value === 'object' && value !== null && typeof (value as { root?: unknown }).root === 'object' && typeof (value as { transition?: unknown }).transition === 'function';

const BUILTIN_ACTION = /^xstate\./;

/** A guard as text: its name, `!name`, `a && b`, `a || b`, `in state`. */
function guardText(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && guard !== null && typeof (guard as { type?: unknown }).type === 'string') {
    return (guard as { type: string }).type;
  }
  if (typeof guard === 'function') {
    const g = guard as { name?: string; guards?: unknown[]; stateValue?: unknown; check?: unknown };
    if (Array.isArray(g.guards) && typeof g.check === 'function') {
      const parts = g.guards.map(guardText);
      if (g.name === 'not') return `!${parts[0]}`;
      return parts.join(g.name === 'or' ? ' || ' : ' && ');
    }
    if (g.stateValue !== undefined && typeof g.check === 'function') {
      return `in ${typeof g.stateValue === 'string' ? g.stateValue : JSON.stringify(g.stateValue)}`;
    }
    return g.name && g.name !== 'guard' ? g.name : 'inline';
  }
  return 'guard';
}

/**
 * An emitted event whose value is written in the machine (`notify confirmscan`, `emit ping`);
 * null for a computed one.
 */
function emitText(action: unknown): string | null {
  if (typeof action !== 'function' || (action as { type?: unknown }).type !== 'xstate.emit') return null;
  const event = (action as { event?: unknown }).event;
  if (typeof event !== 'object' || event === null) return null;
  const { type, ...rest } = event as { type?: unknown; [k: string]: unknown };
  if (typeof type !== 'string') return null;
  const values = Object.values(rest).filter((v): v is string | number => typeof v === 'string' || typeof v === 'number');
  return values.length === 1 ? `${type} ${values[0]}` : type;
}

/** The name of an action given by name (`'accept'`, `{type: 'accept', params}`); null for built-ins and inline functions. */
function namedAction(action: unknown): string | null {
  const name =
    typeof action === 'string'
      ? action
      : typeof action === 'object' && action !== null && typeof (action as { type?: unknown }).type === 'string'
        ? (action as { type: string }).type
        : null;
  return name !== null && !BUILTIN_ACTION.test(name) ? name : null;
}

/** The actions shown on an arrow: readable emits, and named actions that notify (`notifyScan`). */
const arrowActions = (actions: readonly unknown[]): string[] =>
  actions.map((a) => emitText(a) ?? (namedAction(a)?.startsWith('notify') ? namedAction(a) : null)).filter((a): a is string => a !== null);

/** The actions shown inside a state: named actions and readable emits, in order. */
const stateActions = (actions: readonly unknown[]): string[] => actions.map((a) => namedAction(a) ?? emitText(a)).filter((a): a is string => a !== null);

const withActions = (head: string, actions: string[]): string => (actions.length ? `${head} / ${actions.join(', ')}` : head);

/** The actor an invoke runs, by the name it was given in `setup({actors})`. */
function invokeName(invoke: { id: string; src: unknown }): string {
  if (typeof invoke.src === 'string') return invoke.src;
  const id = (invoke.src as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id : invoke.id;
}

/** What triggers a transition, as text. */
function triggerText(node: NodeLike, eventType: string): { text: string; kind: EdgeKind } {
  if (eventType === '') return { text: 'always', kind: 'always' };
  const after = node.after.find((a) => a.eventType === eventType);
  if (after) return { text: typeof after.delay === 'number' ? `after ${after.delay}ms` : `after ${after.delay}`, kind: 'after' };
  for (const [prefix, word] of [
    ['xstate.done.actor.', 'done'],
    ['xstate.error.actor.', 'error'],
    ['xstate.snapshot.', 'snapshot'],
  ] as const) {
    if (eventType.startsWith(prefix)) {
      const id = eventType.slice(prefix.length);
      const invoke = node.invoke.find((i) => i.id === id);
      return { text: `${invoke ? invokeName(invoke) : id} ${word}`, kind: 'invoke' };
    }
  }
  if (eventType === `xstate.done.state.${node.id}`) return { text: 'done', kind: 'done' };
  return { text: eventType, kind: 'event' };
}

/** Reads a machine into states and labelled edges. */
export function describeMachine(machine: AnyStateMachine): MachineDiagram {
  const edges: DiagramEdge[] = [];

  const visit = (node: NodeLike): DiagramState => {
    const lines: string[] = [];
    for (const invoke of node.invoke) lines.push(`invoke ${invokeName(invoke)}`);
    const entry = stateActions(node.entry);
    if (entry.length) lines.push(`entry / ${entry.join(', ')}`);
    const exit = stateActions(node.exit);
    if (exit.length) lines.push(`exit / ${exit.join(', ')}`);

    const groups: Array<[string, TransitionLike[]]> = [...node.transitions.entries()];
    if (node.always?.length) groups.push(['', node.always]);
    for (const [eventType, candidates] of groups) {
      const { text, kind } = triggerText(node, eventType);
      candidates.forEach((t, i) => {
        const guarded = t.guard !== undefined;
        const guard = guarded ? ` [${guardText(t.guard)}]` : i > 0 && candidates.slice(0, i).some((c) => c.guard !== undefined) ? ' [else]' : '';
        const head = text + guard;
        if (!t.target || t.target.length === 0) {
          lines.push(withActions(head, stateActions(t.actions)));
          return;
        }
        const trigger = head + (t.reenter ? ' (reenter)' : '');
        const actions = arrowActions(t.actions);
        const label = withActions(trigger, actions);
        for (const target of t.target) edges.push({ source: node.id, target: target.id, label, trigger, actions, kind });
      });
    }

    const states = Object.values(node.states).map(visit);
    const initial = node.initial?.target[0]?.id ?? null;
    const type = node.type === 'history' ? 'history' : node.type;
    return { id: node.id, name: node.key, type, initial: states.length ? initial : null, lines, states };
  };

  const root = visit(machine.root as unknown as NodeLike);
  return { id: machine.id, root, edges };
}

// --- Shared helpers for the renderers -------------------------------------------------------------

const flatten = (s: DiagramState): DiagramState[] => [s, ...s.states.flatMap(flatten)];

/** The chain of ids from the root down to `id` (`a`, `a.b`, `a.b.c`). */
const ancestry = (id: string): string[] => id.split('.').map((_, i, parts) => parts.slice(0, i + 1).join('.'));

/**
 * The deepest state that strictly contains both (where the arrow between them is declared), or
 * '' when one of them is the machine itself.
 */
function commonParent(a: string, b: string): string {
  const pb = new Set(ancestry(b).slice(0, -1));
  let scope = '';
  for (const id of ancestry(a).slice(0, -1)) if (pb.has(id)) scope = id;
  return scope;
}

const MERMAID_RESERVED = new Set(['state', 'note', 'end', 'direction', 'classDef', 'class', 'style', 'as', 'default', 'click', 'hide']);

/** Names that identify each state in a diagram: its key where that is unique, else its path. */
function shortNames(all: DiagramState[], rootId: string): Map<string, string> {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');
  const count = new Map<string, number>();
  for (const s of all) count.set(clean(s.name), (count.get(clean(s.name)) ?? 0) + 1);
  const names = new Map<string, string>();
  for (const s of all) {
    let name = clean(s.name);
    if ((count.get(name) ?? 0) > 1 && s.id !== rootId)
      name = clean(
        s.id
          .slice(rootId.length + 1)
          .split('.')
          .join('__'),
      );
    if (MERMAID_RESERVED.has(name) || /^[0-9]/.test(name)) name = `s_${name}`;
    names.set(s.id, name);
  }
  return names;
}

/**
 * The machine's own transitions (handled in every state, or leaving from anywhere) need a box to
 * hang on: the machine is drawn as an outer state only then.
 */
const drawsRoot = (d: MachineDiagram): boolean => d.root.lines.length > 0 || d.edges.some((e) => e.source === d.root.id);

const mermaidText = (s: string): string => s.replace(/[;#\n]/g, ' ').replace(/"/g, "'");

// --- Mermaid --------------------------------------------------------------------------------------

/** A Mermaid `stateDiagram-v2` of the machine (no fences). */
export function toMermaid(machine: AnyStateMachine | MachineDiagram): string {
  const d = isMachine(machine) ? describeMachine(machine) : machine;
  const all = flatten(d.root);
  const names = shortNames(all, d.root.id);
  const out: string[] = ['stateDiagram-v2'];
  const wrap = drawsRoot(d);
  // Mermaid cannot draw an arrow between states of different composite states: such an arrow
  // is drawn between their outermost composites, and says which inner state it leaves or enters.
  const edgesIn = new Map<string, Array<{ source: string; target: string; label: string }>>();
  for (const e of d.edges) {
    const scope = commonParent(e.source, e.target);
    const depth = scope === '' ? 0 : ancestry(scope).length;
    const lift = (id: string) => ancestry(id)[depth] ?? id;
    const inner = (id: string, lifted: string) => id.slice(lifted.length + 1);
    const source = lift(e.source);
    const target = lift(e.target);
    let trigger = e.trigger;
    if (source !== e.source) trigger += ` (from ${inner(e.source, source)})`;
    if (target !== e.target) trigger += ` (to ${inner(e.target, target)})`;
    const label = mermaidText(withActions(trigger, e.actions));
    // Arrows between the same two states are drawn as one, a line per transition.
    const list = edgesIn.get(scope) ?? [];
    const same = list.find((x) => x.source === source && x.target === target);
    if (same) same.label += `<br>${label}`;
    else list.push({ source, target, label });
    edgesIn.set(scope, list);
  }

  const body = (s: DiagramState, pad: string): void => {
    if (s.initial) out.push(`${pad}[*] --> ${names.get(s.initial)}`);
    const groups = s.type === 'parallel' ? s.states.map((c) => [c]) : [s.states];
    groups.forEach((group, i) => {
      if (i > 0) out.push(`${pad}--`);
      for (const c of group) declare(c, pad);
    });
    for (const e of edgesIn.get(s.id) ?? []) {
      out.push(`${pad}${names.get(e.source)} --> ${names.get(e.target)} : ${e.label}`);
    }
    for (const c of s.states) if (c.type === 'final') out.push(`${pad}${names.get(c.id)} --> [*]`);
  };

  const declare = (s: DiagramState, pad: string): void => {
    const name = names.get(s.id)!;
    const title = s.type === 'history' ? `${s.name} (history)` : s.name;
    if (s.states.length) {
      out.push(`${pad}state "${mermaidText(title)}" as ${name} {`);
      body(s, `${pad}  `);
      out.push(`${pad}}`);
      if (s.lines.length) {
        out.push(`${pad}note right of ${name}`);
        for (const line of s.lines) out.push(`${pad}  ${mermaidText(line)}`);
        out.push(`${pad}end note`);
      }
    } else {
      out.push(`${pad}state "${mermaidText(title)}" as ${name}`);
      for (const line of s.lines) out.push(`${pad}${name} : ${mermaidText(line)}`);
    }
  };

  if (wrap) {
    const name = names.get(d.root.id)!;
    out.push(`  [*] --> ${name}`);
    out.push(`  state "${mermaidText(d.root.name)}" as ${name} {`);
    body(d.root, '    ');
    out.push('  }');
    for (const e of edgesIn.get('') ?? []) out.push(`  ${names.get(e.source)} --> ${names.get(e.target)} : ${e.label}`);
    if (d.root.lines.length) {
      out.push(`  note right of ${name}`);
      out.push('    in every state:');
      for (const line of d.root.lines) out.push(`    ${mermaidText(line)}`);
      out.push('  end note');
    }
  } else {
    body(d.root, '  ');
  }
  return `${out.join('\n')}\n`;
}

// --- Graphviz DOT ---------------------------------------------------------------------------------

/** A quoted DOT string; its escapes (`\\n`, `\\l`) are kept: text from the machine goes through `dotText` first. */
const dotString = (s: string): string => `"${s.replace(/"/g, '\\"')}"`;
const dotText = (s: string): string => s.replace(/\\/g, '\\\\');
/** Text inside a record label (`{title|lines}`). */
const dotId = (s: string): string => dotString(dotText(s));
const recordText = (s: string): string => dotText(s).replace(/([{}|<>])/g, '\\$1');

/** A Graphviz digraph of the machine: compound states are clusters. */
export function toDot(machine: AnyStateMachine | MachineDiagram): string {
  const d = isMachine(machine) ? describeMachine(machine) : machine;
  const byId = new Map(flatten(d.root).map((s) => [s.id, s]));
  const compound = (id: string) => byId.get(id)!.states.length > 0;
  const cluster = (id: string) => dotId(`cluster_${id}`);
  const initialNode = (id: string) => dotId(`${id}.[*]`);
  /** A compound state is drawn as its cluster; edges touch its initial point and clip at the border. */
  const anchor = (id: string) => (compound(id) ? initialNode(id) : dotId(id));
  /** A cluster cannot be the tail of an arrow into itself: such transitions are lines of its label. */
  const intoItself = (e: DiagramEdge) => compound(e.source) && ancestry(e.target).includes(e.source);

  const out: string[] = [
    `digraph ${dotId(d.id)} {`,
    '  compound=true;',
    '  fontname="Helvetica"; fontsize=12;',
    '  node [shape=Mrecord, fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=10];',
  ];

  const node = (s: DiagramState, pad: string): void => {
    if (s.states.length) {
      const own = d.edges.filter((e) => e.source === s.id && intoItself(e)).map((e) => `${e.label} → ${e.target.slice(s.id.length + 1) || s.name}`);
      const lines = [...s.lines, ...own];
      const title = [s.name, ...(s.id === d.root.id && lines.length ? ['in every state:'] : []), ...lines].map(dotText).join('\\n');
      out.push(`${pad}subgraph ${cluster(s.id)} {`);
      out.push(`${pad}  label=${dotString(title)}; style=${s.type === 'parallel' ? '"rounded,dashed"' : 'rounded'};`);
      inner(s, `${pad}  `);
      out.push(`${pad}}`);
      return;
    }
    const title = recordText(s.type === 'history' ? `${s.name} (history)` : s.name);
    if (s.type === 'final' && s.lines.length === 0) {
      out.push(`${pad}${dotId(s.id)} [label=${dotString(title)}, shape=box, style=rounded, peripheries=2];`);
      return;
    }
    const label = s.lines.length ? `{${title}|${s.lines.map((l) => `${recordText(l)}\\l`).join('')}}` : title;
    out.push(`${pad}${dotId(s.id)} [label=${dotString(label)}];`);
  };

  const inner = (s: DiagramState, pad: string): void => {
    // A parallel state has no initial child: its point only anchors arrows, unseen.
    out.push(`${pad}${initialNode(s.id)} [shape=point, width=0.15, label=""${s.initial ? '' : ', style=invis'}];`);
    for (const c of s.states) node(c, pad);
    if (s.initial) {
      const lhead = compound(s.initial) ? ` [lhead=${cluster(s.initial)}]` : '';
      out.push(`${pad}${initialNode(s.id)} -> ${anchor(s.initial)}${lhead};`);
    }
  };

  if (drawsRoot(d)) {
    out.push(`  ${dotString('[*]')} [shape=point, width=0.15, label=""];`);
    out.push(`  ${dotString('[*]')} -> ${initialNode(d.root.id)} [lhead=${cluster(d.root.id)}];`);
    node(d.root, '  ');
  } else {
    inner(d.root, '  ');
  }
  for (const e of d.edges) {
    if (intoItself(e)) continue;
    const attrs = [`label=${dotString(dotText(e.label))}`];
    if (compound(e.source)) attrs.push(`ltail=${cluster(e.source)}`);
    if (compound(e.target) && !ancestry(e.source).includes(e.target)) attrs.push(`lhead=${cluster(e.target)}`);
    if (e.kind === 'after') attrs.push('style=dashed');
    if (e.kind === 'always') attrs.push('style=dotted');
    out.push(`  ${anchor(e.source)} -> ${anchor(e.target)} [${attrs.join(', ')}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
