/**
 * The connection machine (PROTOCOL.md §4): one actor per app connection (WebSocket `/ns/sigmai`).
 * It decides what each frame means in each state; the transport (src/transports/app-ws: the
 * receiver reads frames into events, the channel maps the actions onto the core and the sender)
 * carries out what it decided.
 *
 * Pure: it imports `xstate` and types from `src/wire/`, nothing else. What it needs from outside
 * comes through `connectionMachine.provide({ actions })` (every action below is a no-op here).
 * The actor lives as long as its socket: unlike a session it is never persisted (a process that
 * dies loses its sockets, and a handshake in flight on them starts again, §8).
 *
 * States. Two phases, each a compound state holding the same four handshake states (one
 * handshake at a time, §4: "one connection may run several handshakes one after the other"):
 * - `unsealed` — frames travel as plain msgpack maps. It lasts until the first handshake
 *   completes (§4.1 step 6: a `result` with `ok: true`).
 * - `sealed` — every frame, both ways, is `{t:"sealed", box}` (§4.2), sealed with the keys of the
 *   FIRST completed handshake; later handshakes run inside it and never change them.
 * Inside each phase:
 * - `idle` — no handshake runs; a `hello` starts one.
 * - `helloed` — the `hello` was handed on (`forwardHello`): to its session (login, enrol) or to
 *   the server check (listen, which has no session, §4.1 step 1); waiting for `accepted` or
 *   `refused`.
 * - `challenged` — the challenge went out (`sendChallenge`); waiting for the app's `proof` or
 *   `decline` (§4.1 step 5), at most the challenge limit (default 60 s, §2) — a deadline (`after`).
 * - `verifying` — the proof was handed on (`forwardProof`); waiting for `confirmed` or `refused`
 *   (§4.1 step 6).
 * - `closing` — transient (never observed): tells the session of an open handshake that it is
 *   abandoned, then `closed`.
 * - `closed` — final: the peer went away, or the machine closed the connection.
 *
 * Rules, and where they come from:
 * - §4.1 (the order hello → challenge → proof/decline → result, one handshake at a time): a
 *   `proof` or `decline` with no challenge out (idle, helloed), a `hello` while a handshake runs
 *   (helloed, challenged, verifying), and a `proof` or `decline` while a proof is being verified
 *   are refused `BAD_MESSAGE`; the handshake goes on, and the session a refused hello names
 *   hears nothing.
 * - §4.2: `logout`, `pong`, `approve` and `reject` travel only on a sealed connection: before
 *   sealing they are refused `BAD_MESSAGE`; once sealed they are handed on, in any sub-state.
 *   NS-initiated frames (`ping`, `push`, `deleted`, `transaction`: `deliver`) go out only on a
 *   sealed connection; before that they are dropped (`drop`, so the sender can go another way).
 * - §4: a frame the transport could not read (text, not a msgpack map, a schema that fails, an
 *   unsupported version) is `malformed`: refused with its code (and the transport's message),
 *   nothing changes. On a sealed connection that holds only for an inner map of a sealed frame
 *   that opened.
 * - §4.2: once sealed, any frame that is not a `sealed` frame opening with the next counter
 *   (`plain`, `unopened`) closes the connection with 1008. Before sealing, a `sealed` frame cannot
 *   open (there are no keys): refused `BAD_MESSAGE`.
 * - §4.1 step 6 / §4.2: the first completed handshake seals the connection: `sendResult` (still a
 *   plain frame), then `seal` with that handshake's keys. A later completed handshake only sends
 *   its result (sealed); `context.keys` never changes once set.
 * - §2: a proof that does not arrive within the challenge limit ends the handshake: the session
 *   hears `abandonHandshake` and the app `SESSION_EXPIRED` at once (§4 names no code for this;
 *   it is the one the session gives a proof that comes after its own limit); a later proof has
 *   no challenge out.
 * - §4.2 `listen`: on success the connection listens for pushes to that account (`listen`).
 * - The peer going away (`gone`), in any state, ends the machine; so does a 1008 close. An open
 *   handshake of a session is abandoned (`abandonHandshake`: §2, a handshake that ends without a
 *   login gives the session back), and the transport forgets the connection (`release`).
 *
 * How the transport reads a frame into an event: before `seal`, every WebSocket message is read
 * as a plain frame (`hello`, `proof`, …; `malformed` when it cannot be; `unopened` for a
 * `{t:"sealed"}` map). After `seal`, every message is read as a sealed frame, opened with the
 * next counter: its inner map becomes the same events (`hello`, `proof`, …, `malformed`);
 * a message that is not a `sealed` map is `plain`, one whose box does not open is `unopened`.
 * Counters and boxes are the transport's (crypto); what a frame that does not open means is the
 * machine's. Answers to forwarded `logout`, `pong`, `approve`, `reject` (an error frame, a
 * transaction `result`) are core's, which the transport sends as they come: they change nothing
 * here. A frame over 16 KiB never reaches the machine: `ws` closes with 1009 and the transport
 * reports `gone`.
 */
import { assign, setup } from 'xstate';
import type { ErrorCode } from '../src/wire/errors.ts';

export type Op = 'login' | 'enrol' | 'listen';

/** WebSocket close code for a policy violation (RFC 6455 §7.4.1): a frame that is not sealed as it must be. */
export const CLOSE_POLICY = 1008;

/** The challenge limit of §2 (ms), when the input gives none. */
export const DEFAULT_CHALLENGE_LIMIT = 60_000;

/**
 * The keys of one handshake (§4.1 step 2): `kS` seals what the NS sends, `kC` what the app sends.
 * Opaque here; the transport may pass its own richer object (it gets the same object back in the
 * actions' params).
 */
export interface ChannelKeys {
  readonly kS: Uint8Array;
  readonly kC: Uint8Array;
}

/** One handshake: what the transport read from its `hello` (after schema checks) and the keys it derived. */
export type Handshake =
  | { op: 'login' | 'enrol'; serverid: string; hsid: string; keys: ChannelKeys }
  /** A `listen` hello has no hsid and no session (§4.1 step 1). */
  | { op: 'listen'; serverid: string; hsid?: undefined; keys: ChannelKeys };

export interface ConnectionInput {
  /** ms a proof may take after its challenge went out (§2); default 60 s. */
  challengeLimit?: number;
}

export interface ConnectionContext {
  challengeLimit: number;
  /** The handshake running now (helloed, challenged, verifying), else null. */
  handshake: Handshake | null;
  /** The keys of the first completed handshake (§4.2): set once, by sealing, never changed. */
  keys: ChannelKeys | null;
  /** A `listen` handshake completed on this connection: it gets pushes. */
  listening: boolean;
}

/**
 * The phone's answer to a transaction (§4.3), as read from its sealed frame. `sf` is what the
 * frame says: that an approval needs `pin` or `biometric` is core's check (SECOND_FACTOR_REQUIRED).
 */
export type TransactionAnswer = { type: 'approve'; tid: string; sig: Uint8Array; sf: 'none' | 'pin' | 'biometric' } | { type: 'reject'; tid: string };

/** Frames the NS sends on its own (not as an answer): only on a sealed connection (§4.2, §4.3). */
export type DeliveryKind = 'ping' | 'push' | 'deleted' | 'transaction';

export type ConnectionEvent =
  // ---- frames from the app, as the transport read them ----
  | ({ type: 'hello' } & Handshake)
  | { type: 'proof'; box: Uint8Array }
  | { type: 'decline'; report?: boolean }
  | { type: 'logout'; hsid: string }
  | { type: 'pong'; n: number }
  | TransactionAnswer
  /**
   * A frame (or, sealed, an inner map) that could not be read: `BAD_FRAME`, `BAD_MESSAGE`,
   * `UNSUPPORTED_VERSION`; `message` says what was wrong (the error frame carries it).
   */
  | { type: 'malformed'; code: ErrorCode; message?: string }
  /** A `{t:"sealed"}` frame that does not open with the next counter (before sealing: there are no keys). */
  | { type: 'unopened' }
  /** After sealing: a message that is not a `sealed` frame (a text frame, bytes that are not msgpack, a plain map). */
  | { type: 'plain' }
  // ---- answers to this connection's forwards (the session, or core for `listen`) ----
  /** The hello was taken: send the challenge. */
  | { type: 'accepted' }
  /** The hello or the proof was refused (or the challenge could not be made); `message`, if any, goes to the app. */
  | { type: 'refused'; code: ErrorCode; message?: string }
  /** The proof verified: the handshake is completed. */
  | { type: 'confirmed'; account: number }
  // ---- the NS has something for the phone ----
  | { type: 'deliver'; kind: DeliveryKind; frame: Record<string, unknown> }
  // ---- the socket ----
  /** The peer went away (the socket closed, for whatever reason). */
  | { type: 'gone' };

/** The observable states: a phase's handshake states by name, `sealed` for any state of the sealed phase. */
export const CONNECTION_STATES = ['idle', 'helloed', 'challenged', 'verifying', 'sealed', 'closed'] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];
export type HandshakeState = 'idle' | 'helloed' | 'challenged' | 'verifying';

/** The observable state of a snapshot value (`{unsealed: 'challenged'}` is `challenged`, `{sealed: …}` is `sealed`). */
export const stateName = (value: unknown): ConnectionState => {
  if (typeof value === 'string') return value as ConnectionState;
  const [phase, sub] = Object.entries(value as Record<string, string>)[0]!;
  return (phase === 'sealed' ? 'sealed' : sub) as ConnectionState;
};

/** The handshake state of a snapshot value, in either phase (null once closed). */
export const handshakeState = (value: unknown): HandshakeState | null =>
  typeof value === 'string' ? null : ((Object.values(value as Record<string, string>)[0] ?? null) as HandshakeState | null);

type Args = { context: ConnectionContext; event: ConnectionEvent };
const current = ({ context }: Args): Handshake => context.handshake!;
const refuse = (code: ErrorCode) => ({ type: 'refuse', params: { code } }) as const;
/** Refuses with the event's code (and its message, when it has one). */
const refuseWithCode = {
  type: 'refuse',
  params: ({ event }: Args) => {
    const { code, message } = event as { code: ErrorCode; message?: string };
    return message === undefined ? { code } : { code, message };
  },
} as const;
const badMessage = { actions: refuse('BAD_MESSAGE') } as const;

/**
 * The four handshake states, the same in both phases. `completed` is what `confirmed` does in
 * `verifying`: seal (first phase) or only answer (sealed phase).
 */
function handshakeStates<T>(completed: T) {
  return {
    idle: {
      on: {
        hello: { target: 'helloed', actions: ['startHandshake', { type: 'forwardHello', params: current }] },
        // §4.1: nothing is waiting for a proof or a decline.
        proof: badMessage,
        decline: badMessage,
      },
    },
    helloed: {
      on: {
        hello: badMessage,
        proof: badMessage,
        decline: badMessage,
        accepted: { target: 'challenged', actions: { type: 'sendChallenge', params: current } },
        refused: { target: 'idle', actions: [refuseWithCode, 'endHandshake'] },
      },
    },
    challenged: {
      after: {
        challenge: [
          { guard: 'hasSession', target: 'idle', actions: [{ type: 'abandonHandshake', params: current }, refuse('SESSION_EXPIRED'), 'endHandshake'] },
          { target: 'idle', actions: [refuse('SESSION_EXPIRED'), 'endHandshake'] },
        ],
      },
      on: {
        hello: badMessage,
        proof: { target: 'verifying', actions: { type: 'forwardProof', params: (a: Args) => ({ handshake: current(a), box: (a.event as { box: Uint8Array }).box }) } },
        decline: [
          {
            guard: 'hasSession',
            target: 'idle',
            actions: [{ type: 'forwardDecline', params: (a: Args) => ({ handshake: current(a), report: (a.event as { report?: boolean }).report === true }) }, 'endHandshake'],
          },
          { target: 'idle', actions: 'endHandshake' },
        ],
        // The challenge could not be made (the server went away meanwhile): give the session back.
        refused: [
          { guard: 'hasSession', target: 'idle', actions: [refuseWithCode, { type: 'abandonHandshake', params: current }, 'endHandshake'] },
          { target: 'idle', actions: [refuseWithCode, 'endHandshake'] },
        ],
      },
    },
    verifying: {
      on: {
        hello: badMessage,
        proof: badMessage,
        decline: badMessage,
        confirmed: completed,
        refused: { target: 'idle', actions: [refuseWithCode, 'endHandshake'] },
      },
    },
  } as const;
}

const sendResult = { type: 'sendResult', params: (a: Args) => ({ handshake: current(a), account: (a.event as { account: number }).account }) } as const;
const listen = { type: 'listen', params: (a: Args) => ({ serverid: current(a).serverid, account: (a.event as { account: number }).account }) } as const;
const seal = { type: 'seal', params: ({ context }: Args) => ({ keys: context.keys! }) } as const;
const closeWith = (reason: string) => ({ target: '#connection.closing', actions: { type: 'close', params: { code: CLOSE_POLICY, reason } } }) as const;

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
  },
  actions: {
    /** Hand a hello on: login / enrol to its session, listen to the server check. Answers come back as `accepted` / `refused`. */
    forwardHello: (_, _params: Handshake) => {},
    /** Make and send the challenge (§4.1 steps 2-3). */
    sendChallenge: (_, _params: Handshake) => {},
    /** Hand the proof on for verification (§4.1 step 5); answers come back as `confirmed` / `refused`. */
    forwardProof: (_, _params: { handshake: Handshake; box: Uint8Array }) => {},
    /** Tell the session the app declined (§4.1 step 5; `report` mutes pushes, §4.2). */
    forwardDecline: (_, _params: { handshake: Handshake; report: boolean }) => {},
    /** Send `{t:"result", ok: true, acc, box?}` (§4.1 step 6). */
    sendResult: (_, _params: { handshake: Handshake; account: number }) => {},
    /** From now on every frame, both ways, is sealed with these keys (§4.2: the NS counts from 2, the app from 1). */
    seal: (_, _params: { keys: ChannelKeys }) => {},
    /** The connection listens for pushes to this account (§4.2). */
    listen: (_, _params: { serverid: string; account: number }) => {},
    /** Send `{t:"error", code, message}` (the code's own message when none is given). */
    refuse: (_, _params: { code: ErrorCode; message?: string }) => {},
    /** Tell the session its handshake with this connection is over (the session's `abandon`). */
    abandonHandshake: (_, _params: Handshake) => {},
    /** Sealed frames handed on to core (§4.2, §4.3); core's answer, if any, is sent by the transport. */
    forwardLogout: (_, _params: { hsid: string }) => {},
    forwardPong: (_, _params: { n: number }) => {},
    forwardAnswer: (_, _params: TransactionAnswer) => {},
    /** Send a frame the NS has for the phone (sealed). */
    send: (_, _params: { kind: DeliveryKind; frame: Record<string, unknown> }) => {},
    /** A frame for the phone could not go out on this connection (not sealed yet). */
    drop: (_, _params: { kind: DeliveryKind }) => {},
    /** Close the WebSocket with this code. */
    close: (_, _params: { code: number; reason: string }) => {},
    /** The connection is over: forget it (its listens, its place among the session's peers). */
    release: () => {},
    startHandshake: assign({
      handshake: ({ event }) => {
        if (event.type !== 'hello') return null;
        const { serverid, keys } = event;
        return event.op === 'listen' ? { op: event.op, serverid, keys } : { op: event.op, serverid, hsid: event.hsid, keys };
      },
    }),
    endHandshake: assign({ handshake: null }),
    /** Keep the keys of the handshake that completes first: only `unsealed.verifying` runs this, so they are set once. */
    keepKeys: assign({ keys: ({ context }) => context.handshake?.keys ?? null }),
    startListening: assign({ listening: true }),
  },
  guards: {
    /** The handshake has a session to tell (login, enrol; not listen). */
    hasSession: ({ context }) => context.handshake?.hsid !== undefined,
    isListen: ({ context }) => context.handshake?.op === 'listen',
  },
  delays: {
    challenge: ({ context }) => context.challengeLimit,
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({ challengeLimit: input.challengeLimit ?? DEFAULT_CHALLENGE_LIMIT, handshake: null, keys: null, listening: false }),
  initial: 'unsealed',
  on: {
    gone: '.closing',
  },
  states: {
    unsealed: {
      initial: 'idle',
      on: {
        // §4.2: these travel only on a sealed connection.
        logout: badMessage,
        pong: badMessage,
        approve: badMessage,
        reject: badMessage,
        unopened: badMessage,
        malformed: { actions: refuseWithCode },
        deliver: { actions: { type: 'drop', params: ({ event }) => ({ kind: event.kind }) } },
      },
      states: handshakeStates([
        { guard: 'isListen', target: '#connection.sealed', actions: [sendResult, listen, 'startListening', 'keepKeys', seal, 'endHandshake'] },
        { target: '#connection.sealed', actions: [sendResult, 'keepKeys', seal, 'endHandshake'] },
      ] as const),
    },
    sealed: {
      initial: 'idle',
      on: {
        // §4.2: anything that is not a sealed frame opening with the next counter closes the connection.
        plain: closeWith('BAD_FRAME'),
        unopened: closeWith('BAD_BOX'),
        malformed: { actions: refuseWithCode },
        logout: { actions: { type: 'forwardLogout', params: ({ event }) => ({ hsid: event.hsid }) } },
        pong: { actions: { type: 'forwardPong', params: ({ event }) => ({ n: event.n }) } },
        approve: { actions: { type: 'forwardAnswer', params: ({ event }) => event } },
        reject: { actions: { type: 'forwardAnswer', params: ({ event }) => event } },
        deliver: { actions: { type: 'send', params: ({ event }) => ({ kind: event.kind, frame: event.frame }) } },
      },
      states: handshakeStates([
        { guard: 'isListen', target: 'idle', actions: [sendResult, listen, 'startListening', 'endHandshake'] },
        { target: 'idle', actions: [sendResult, 'endHandshake'] },
      ] as const),
    },
    /** Transient: an open handshake of a session is abandoned on the way out. */
    closing: {
      always: [{ guard: 'hasSession', target: 'closed', actions: { type: 'abandonHandshake', params: current } }, { target: 'closed' }],
    },
    closed: { type: 'final', entry: 'release' },
  },
});

export type ConnectionMachine = typeof connectionMachine;
