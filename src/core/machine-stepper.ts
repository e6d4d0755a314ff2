/**
 * XState's pure transition, made cheap enough to run for every session event.
 *
 * `transition(machine, snapshot, event)` from xstate builds a throwaway actor (and runs the
 * machine's initial state) on every call: measured ~200–450 µs per event on this machine's
 * session machine. The work that matters, `machine.transition(snapshot, event, scope)`, costs
 * ~15–25 µs. A stepper makes that inert scope once and reuses it: nothing runs, the actions of
 * each step are collected and handed back, exactly as `transition()` hands them back.
 *
 * With `inspect`, XState's own inspection events of each step (microsteps) are collected too.
 */
import { type AnyStateMachine, createActor, type EventFromLogic, type InputFrom, type InspectionEvent, type SnapshotFrom } from 'xstate';

/** An action the machine asks for: its type (`accept`, `xstate.raise`, …) and resolved params. */
export interface MachineAction {
  type: string;
  params: unknown;
}

export type Step<M extends AnyStateMachine> = {
  snapshot: SnapshotFrom<M>;
  actions: MachineAction[];
  /** XState's microstep inspection events of the step (only with `inspect`). */
  microsteps: Extract<InspectionEvent, { type: '@xstate.microstep' }>[];
};

export class MachineStepper<M extends AnyStateMachine> {
  private actions: MachineAction[] = [];
  private microsteps: Step<M>['microsteps'] = [];
  private readonly scope: Parameters<M['transition']>[2];

  constructor(
    readonly machine: M,
    /** Any valid input: the scope's own actor is made with it once, and never started. */
    input: InputFrom<M>,
    inspect = false,
  ) {
    const self = createActor(machine, { input });
    // XState hands each microstep to the system's `_sendInspectionEvent`, which copies it for every
    // inspector (`{ ...event, rootId }`: on node 20, a hidden class of its own for each copy, which
    // cost more than the transition). This scope's system takes them itself, uncopied.
    const system = Object.create(self.system) as typeof self.system & { _sendInspectionEvent: (e: InspectionEvent) => void };
    system._sendInspectionEvent = inspect ? (e) => void (e.type === '@xstate.microstep' && this.microsteps.push(e)) : () => {};
    this.scope = {
      self,
      defer: () => {},
      id: '',
      logger: () => {},
      sessionId: '',
      stopChild: () => {},
      system,
      emit: () => {},
      actionExecutor: (action: MachineAction) => void this.actions.push(action),
    } as unknown as Parameters<M['transition']>[2];
  }

  /** The snapshot of a stored state value and context (XState's resolveState). */
  resolve(value: unknown, context: unknown): SnapshotFrom<M> {
    return this.machine.resolveState({ value, context } as never) as SnapshotFrom<M>;
  }

  /** The machine's first snapshot for `input`, and the actions of entering it. */
  initial(input: InputFrom<M>): Step<M> {
    return this.collect(() => this.machine.getInitialSnapshot(this.scope as never, input) as SnapshotFrom<M>);
  }

  /** The next snapshot for `event`, and the actions the machine asks for (none run). */
  next(snapshot: SnapshotFrom<M>, event: EventFromLogic<M>): Step<M> {
    return this.collect(() => this.machine.transition(snapshot, event, this.scope as never) as SnapshotFrom<M>);
  }

  private collect(run: () => SnapshotFrom<M>): Step<M> {
    this.actions = [];
    this.microsteps = [];
    const snapshot = run();
    const step = { snapshot, actions: this.actions, microsteps: this.microsteps };
    this.actions = [];
    this.microsteps = [];
    return step;
  }
}
