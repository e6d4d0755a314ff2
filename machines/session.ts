/**
 * The session machine (PROTOCOL.md §2): one actor per (serverid, hsid).
 *
 * Pure: it imports nothing that does I/O. What it needs from outside comes through
 * `sessionMachine.provide(...)`:
 * - actor `verifyProof`: checks a proof (account, block, signature, second factor), makes the
 *   account of an enrolment, records the login; resolves `{account, userinput?}` or rejects with
 *   an error that has a `code`;
 * - actions `accept`, `refuse`, `confirm`: answer an app connection (a `peer` id).
 * Browsers hear it through emitted `notify` events.
 */
import { and, assign, emit, fromPromise, setup } from 'xstate';

export type Op = 'login' | 'enrol';

/** Every limit in ms (settings). */
export interface SessionLimits {
  challenge: number;
  idle: number;
  session: number;
  maxFailures: number;
  lock: number;
}

/** What the relying party gave to be shown on the phone (2.2 `SessionInfo`). */
export interface SessionInfo {
  ip?: string;
  useragent?: string;
  info?: unknown;
  logo?: string;
}
export interface UserContext {
  sessioninfo?: SessionInfo;
  announceinfo?: SessionInfo;
}

export interface SessionInput {
  serverid: string;
  hsid: string;
  limits: SessionLimits;
}

export interface SessionContext extends SessionInput {
  /** The app connection running the current handshake. */
  peer: string | null;
  op: Op | null;
  /** The account logged in (while `authenticated`). */
  account: number | null;
  /** The account of the last successful login, while it exists (canprovoke). */
  lastAccount: number | null;
  /** Failed proofs since the last success or lock. */
  failures: number;
  userContext: UserContext | null;
  userinput: string | null;
  /** A push is out for this session: to which accounts, and the number the browser shows. */
  push: { accounts: number[]; number?: string } | null;
  /** Continuous session: the connection that logged in, the ping interval (ms), the ping counter. */
  pinger: string | null;
  pingTime: number;
  pings: number;
}

/** What a proof carries to `verifyProof` (opaque here: the protocol layer fills it). */
export type ProofPayload = Record<string, unknown>;

export type SessionEvent =
  | { type: 'hello'; peer: string; op: Op }
  | { type: 'proof'; peer: string; proof: ProofPayload }
  /** A proof that failed before verification (its box did not open, or it did not fit its schema). */
  | { type: 'fail'; peer: string; code: string }
  /** The user said no; `report` mutes pushes to the accounts pushed to. */
  | { type: 'decline'; peer: string; report?: boolean }
  /** A push went out to these accounts (a number to match, with the number-match flag). */
  | { type: 'provoke'; accounts: number[]; number?: string }
  | { type: 'pong'; peer: string; n: number }
  /** The app connection went away mid-handshake. */
  | { type: 'abandon'; peer: string }
  | { type: 'logout' }
  | { type: 'setContext'; userContext: UserContext }
  /** The account was blocked or deleted. */
  | { type: 'revoke'; account: number; deleted: boolean }
  /** The state's limit passed while no timer ran (a session restored after a restart). */
  | { type: 'expire' };

export interface VerifyInput {
  serverid: string;
  hsid: string;
  op: Op;
  proof: ProofPayload;
  /** The number the proof must carry (number match after a push). */
  number?: string;
}
export interface VerifyOutput {
  account: number;
  userinput?: string;
  /** > 0: a continuous session, pinged every pingTime/2 ms, logged out without a pong in pingTime ms. */
  pingTime?: number;
}

/** Browser-facing events (PROTOCOL.md §5), in lower case. */
export type Notice = 'confirmscan' | 'confirmprovoke' | 'login' | 'logout' | 'cancel' | 'noaccounts';
export type SessionEmitted = { type: 'notify'; event: Notice; number?: string };

/** The code of a failed verification (errors from verifyProof carry one; anything else is INTERNAL). */
export const failureCode = (error: unknown): string =>
  typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'INTERNAL';

/** The observable states of §2 (the top-level state names). */
export const SESSION_STATES = ['waiting', 'challenged', 'verifying', 'authenticated', 'loggedOut', 'expired'] as const;
export type SessionState = (typeof SESSION_STATES)[number];

/** The failure code of the event that entered `failing`. */
const codeOf = (event: SessionEvent | { type: string; error?: unknown }): string =>
  event.type === 'fail' ? (event as { code: string }).code : failureCode((event as { error?: unknown }).error);

export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
    emitted: {} as SessionEmitted,
  },
  actors: {
    // The hub provides the real one; by default nobody is logged in.
    verifyProof: fromPromise<VerifyOutput, VerifyInput>(async () => {
      throw Object.assign(new Error('no verifier'), { code: 'INTERNAL' });
    }),
  },
  actions: {
    /** The app's hello was taken: send it the challenge. */
    accept: (_, _params: { peer: string }) => {},
    /** Tell an app connection no. */
    refuse: (_, _params: { peer: string; code: string }) => {},
    /** The proof verified: send the app its result. */
    confirm: (_, _params: { peer: string; output: VerifyOutput }) => {},
    /** Send the phone of a continuous session a ping. */
    ping: (_, _params: { peer: string; n: number }) => {},
    /** The user declined a push and reported it: mute pushes to these accounts. */
    mute: (_, _params: { accounts: number[] }) => {},
    startHandshake: assign(({ event }) => (event.type === 'hello' ? { peer: event.peer, op: event.op } : {})),
    endHandshake: assign({ peer: null, op: null, push: null }),
    notifyScan: emit(
      ({ context }) => ({ type: 'notify', event: context.push ? 'confirmprovoke' : 'confirmscan', ...(context.push?.number ? { number: context.push.number } : {}) }) as const,
    ),
    setUserContext: assign({ userContext: ({ event }) => (event.type === 'setContext' ? event.userContext : null) }),
    countPing: assign({ pings: ({ context }) => context.pings + 1 }),
    countFailure: assign({ failures: ({ context }) => context.failures + 1 }),
    takePush: assign({ push: ({ event }) => (event.type === 'provoke' ? { accounts: event.accounts, ...(event.number ? { number: event.number } : {}) } : null) }),
  },
  guards: {
    fromPeer: ({ context, event }) => 'peer' in event && event.peer === context.peer,
    isLastFailure: ({ context }) => context.failures + 1 >= context.limits.maxFailures,
    revokesLoggedIn: ({ context, event }) => event.type === 'revoke' && event.account === context.account,
    deletesLastAccount: ({ context, event }) => event.type === 'revoke' && event.deleted && event.account === context.lastAccount,
    isContinuous: ({ context }) => context.pingTime > 0 && context.pinger !== null,
    answersPing: ({ context, event }) => event.type === 'pong' && event.peer === context.pinger && event.n === context.pings,
    reportsPush: ({ context, event }) => event.type === 'decline' && event.report === true && context.push !== null,
  },
  delays: {
    challenge: ({ context }) => context.limits.challenge,
    idle: ({ context }) => context.limits.idle,
    session: ({ context }) => context.limits.session,
    lock: ({ context }) => context.limits.lock,
    pingTimeout: ({ context }) => context.pingTime,
    pingInterval: ({ context }) => Math.max(1, Math.floor(context.pingTime / 2)),
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({
    ...input,
    peer: null,
    op: null,
    account: null,
    lastAccount: null,
    failures: 0,
    userContext: null,
    userinput: null,
    push: null,
    pinger: null,
    pingTime: 0,
    pings: 0,
  }),
  initial: 'waiting',
  on: {
    setContext: { actions: 'setUserContext' },
    revoke: { guard: 'deletesLastAccount', actions: assign({ lastAccount: null }) },
  },
  states: {
    waiting: {
      initial: 'open',
      states: {
        open: {
          after: { idle: '#session.expired' },
          on: {
            // Any event restarts the idle limit.
            setContext: { target: 'open', reenter: true, actions: 'setUserContext' },
            provoke: { target: 'open', reenter: true, actions: 'takePush' },
            hello: {
              target: '#session.challenged',
              actions: ['startHandshake', { type: 'accept', params: ({ event }) => ({ peer: event.peer }) }, 'notifyScan'],
            },
          },
        },
        /** Too many failed proofs: hello is refused for a while. */
        locked: {
          after: { lock: { target: 'open', actions: assign({ failures: 0 }) } },
          on: { hello: { actions: { type: 'refuse', params: ({ event }) => ({ peer: event.peer, code: 'RATE_LIMITED' }) } } },
        },
      },
    },
    challenged: {
      after: { challenge: { target: 'waiting', actions: ['endHandshake', emit({ type: 'notify', event: 'cancel' })] } },
      on: {
        hello: { actions: { type: 'refuse', params: ({ event }) => ({ peer: event.peer, code: 'SESSION_BUSY' }) } },
        proof: { guard: 'fromPeer', target: 'verifying' },
        fail: { guard: 'fromPeer', target: 'failing' },
        decline: [
          {
            guard: and(['fromPeer', 'reportsPush']),
            target: 'waiting',
            actions: [{ type: 'mute', params: ({ context }) => ({ accounts: context.push?.accounts ?? [] }) }, 'endHandshake', emit({ type: 'notify', event: 'cancel' })],
          },
          { guard: 'fromPeer', target: 'waiting', actions: ['endHandshake', emit({ type: 'notify', event: 'cancel' })] },
        ],
        abandon: { guard: 'fromPeer', target: 'waiting', actions: ['endHandshake', emit({ type: 'notify', event: 'cancel' })] },
      },
    },
    verifying: {
      invoke: {
        src: 'verifyProof',
        input: ({ context, event }) => ({
          serverid: context.serverid,
          hsid: context.hsid,
          op: context.op ?? 'login',
          proof: event.type === 'proof' ? event.proof : {},
          ...(context.push?.number ? { number: context.push.number } : {}),
        }),
        onDone: {
          target: 'authenticated',
          actions: [
            assign({
              account: ({ event }) => event.output.account,
              lastAccount: ({ event }) => event.output.account,
              userinput: ({ event }) => event.output.userinput ?? null,
              failures: 0,
              pinger: ({ context }) => context.peer,
              pingTime: ({ event }) => event.output.pingTime ?? 0,
              pings: 0,
            }),
            { type: 'confirm', params: ({ context, event }) => ({ peer: context.peer!, output: event.output }) },
            'endHandshake',
            emit({ type: 'notify', event: 'login' }),
          ],
        },
        onError: { target: 'failing' },
      },
      on: {
        hello: { actions: { type: 'refuse', params: ({ event }) => ({ peer: event.peer, code: 'SESSION_BUSY' }) } },
      },
    },
    /** A proof failed: tell the app and the browsers, count it, lock after too many. */
    failing: {
      entry: [
        { type: 'refuse', params: ({ context, event }) => ({ peer: context.peer ?? '', code: codeOf(event) }) },
        emit(({ event }) => ({ type: 'notify', event: codeOf(event) === 'UNKNOWN_ACCOUNT' ? 'noaccounts' : 'cancel' }) as const),
      ],
      always: [
        { guard: 'isLastFailure', target: 'waiting.locked', actions: ['endHandshake', 'countFailure'] },
        { target: 'waiting', actions: ['endHandshake', 'countFailure'] },
      ],
    },
    authenticated: {
      initial: 'oneShot',
      states: {
        /** pingTime 0: the login lasts its session limit. */
        oneShot: { always: { guard: 'isContinuous', target: 'pinging' } },
        /** A ping is out: without its pong in pingTime the session ends. */
        pinging: {
          entry: ['countPing', { type: 'ping', params: ({ context }) => ({ peer: context.pinger ?? '', n: context.pings }) }],
          after: { pingTimeout: { target: '#session.loggedOut', actions: emit({ type: 'notify', event: 'logout' }) } },
          on: { pong: { guard: 'answersPing', target: 'ponged' } },
        },
        /** The phone answered; the next ping goes out after pingTime/2. */
        ponged: { after: { pingInterval: 'pinging' } },
      },
      after: { session: { target: 'loggedOut', actions: emit({ type: 'notify', event: 'logout' }) } },
      on: {
        hello: { actions: { type: 'refuse', params: ({ event }) => ({ peer: event.peer, code: 'SESSION_BUSY' }) } },
        logout: { target: 'loggedOut', actions: emit({ type: 'notify', event: 'logout' }) },
        expire: { target: 'loggedOut', actions: emit({ type: 'notify', event: 'logout' }) },
        revoke: [
          {
            guard: 'revokesLoggedIn',
            target: 'loggedOut',
            actions: [assign({ lastAccount: ({ context, event }) => (event.deleted ? null : context.lastAccount) }), emit({ type: 'notify', event: 'logout' })],
          },
          { guard: 'deletesLastAccount', actions: assign({ lastAccount: null }) },
        ],
      },
    },
    loggedOut: {
      entry: assign({ account: null, pinger: null, pingTime: 0 }),
      after: { idle: 'expired' },
      on: {
        expire: 'expired',
        setContext: { target: 'loggedOut', reenter: true, actions: 'setUserContext' },
        provoke: { target: 'loggedOut', reenter: true, actions: 'takePush' },
        hello: {
          target: 'challenged',
          actions: ['startHandshake', { type: 'accept', params: ({ event }) => ({ peer: event.peer }) }, 'notifyScan'],
        },
      },
    },
    expired: { type: 'final' },
  },
});

export type SessionMachine = typeof sessionMachine;

/** The observable state of a snapshot value (`{waiting: 'locked'}` is `waiting`). */
export const stateName = (value: unknown): SessionState => (typeof value === 'string' ? value : Object.keys(value as object)[0]) as SessionState;
