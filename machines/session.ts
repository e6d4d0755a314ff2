/**
 * The session machine (PROTOCOL.md §2): one actor per (serverid, hsid).
 *
 * Pure: it imports nothing that does I/O. What it needs from outside comes through
 * `sessionMachine.provide(...)`:
 * - action `verify`: checks a proof (account, block, signature, second factor), makes the
 *   account of an enrolment, records the login; its outcome comes back as the event `verified`
 *   (`{account, userinput?}`) or `unverified` (a code). An action, not an invoked actor, so that
 *   several proofs of one session are checked at once and the first that verifies wins (§2);
 * - actions `accept`, `refuse`, `confirm`: answer an app connection (a `peer` id).
 * Browsers hear it through emitted `notify` events.
 *
 * Several handshakes may be open at once (PROTOCOL.md §2): up to `limits.handshakes` per
 * session, `limits.handshakesPerSource` of them from one source address, each with its own
 * challenge limit (a delayed `handshakeTimeout` named `challenge:<peer>`). Nobody can hold a
 * session by scanning it and staying silent, and a failed proof never locks it: failures are
 * counted per source, outside the session (core/limits).
 */
import { and, assign, emit, enqueueActions, setup } from 'xstate';

export type Op = 'login' | 'enrol';

/** Every limit in ms (settings). */
export interface SessionLimits {
  challenge: number;
  idle: number;
  session: number;
  /** Open handshakes per session, and per session and source address. */
  handshakes: number;
  handshakesPerSource: number;
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
  /**
   * This login needs the second factor whatever the server's pinTimeout (the NS's own sessions
   * only: an OpenID Connect login asked with the `acr` of a second factor). Not settable by REST.
   */
  secondFactor?: 'required';
}

export interface SessionInput {
  serverid: string;
  hsid: string;
  limits: SessionLimits;
}

/** A handshake of the session: challenged, and perhaps its proof being checked. */
export interface OpenHandshake {
  /** The app connection running it. */
  peer: string;
  op: Op;
  /** The connection's source address (§7). */
  source: string;
  /** Its proof arrived and is being checked. */
  proving: boolean;
}

export interface SessionContext extends SessionInput {
  /** The open handshakes, in the order their hellos came. */
  handshakes: OpenHandshake[];
  /** The account logged in (while `authenticated`). */
  account: number | null;
  /** The account of the last successful login, while it exists (canprovoke). */
  lastAccount: number | null;
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
  | { type: 'hello'; peer: string; op: Op; source: string }
  | { type: 'proof'; peer: string; proof: ProofPayload }
  /** The proof of `peer` verified (the outcome of `verify`). */
  | { type: 'verified'; peer: string; output: VerifyOutput }
  /** The proof of `peer` failed: in `verify`, or before (its box did not open, it did not fit its schema). */
  | { type: 'unverified'; peer: string; code: string }
  /**
   * The user said no. With `report`, pushes are muted to the pushed accounts among `reporter`
   * (the accounts the declining connection has proven: a stranger cannot mute anyone's pushes).
   */
  | { type: 'decline'; peer: string; report?: boolean; reporter?: number[] }
  /** A handshake's challenge limit passed (its proof did not come, or its check did not end). */
  | { type: 'handshakeTimeout'; peer: string }
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
  /** The source address of the connection that sent it (events name it; the hub adds it). */
  source?: string;
  /** The session needs the second factor at this login (its userContext says so; the hub adds it). */
  secondFactor?: 'required';
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

type Args = { context: SessionContext; event: SessionEvent };
const peerOf = (event: SessionEvent): string => ('peer' in event ? event.peer : '');
const handshakeOf = (context: SessionContext, event: SessionEvent): OpenHandshake | undefined => {
  const peer = peerOf(event);
  return context.handshakes.find((h) => h.peer === peer);
};
/** The deadline name of a handshake's challenge limit. */
const timerOf = (peer: string) => `challenge:${peer}`;
/** What `verify` checks: the proof, for its handshake's op (and the number a push showed). */
const verifyParams = (context: SessionContext, event: Extract<SessionEvent, { type: 'proof' }>): { peer: string; input: VerifyInput } => ({
  peer: event.peer,
  input: {
    serverid: context.serverid,
    hsid: context.hsid,
    op: handshakeOf(context, event)?.op ?? 'login',
    proof: event.proof,
    ...(context.push?.number ? { number: context.push.number } : {}),
  },
});
/** A decline that reports a push mutes the pushed accounts the declining connection has proven (none: a stranger mutes nothing). */
const reportedAccounts = (context: SessionContext, event: Extract<SessionEvent, { type: 'decline' }>): number[] =>
  event.report === true && context.push ? context.push.accounts.filter((n) => event.reporter?.includes(n)) : [];

export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
    emitted: {} as SessionEmitted,
  },
  actions: {
    /** The app's hello was taken: send it the challenge. */
    accept: (_, _params: { peer: string }) => {},
    /** Tell an app connection no. */
    refuse: (_, _params: { peer: string; code: string }) => {},
    /** Check a proof; its outcome comes back as `verified` or `unverified` for `peer`. */
    verify: (_, _params: { peer: string; input: VerifyInput }) => {},
    /** The proof verified: send the app its result. */
    confirm: (_, _params: { peer: string; output: VerifyOutput }) => {},
    /** Send the phone of a continuous session a ping. */
    ping: (_, _params: { peer: string; n: number }) => {},
    /** The user declined a push and reported it: mute pushes to these accounts. */
    mute: (_, _params: { accounts: number[] }) => {},
    /** A new handshake, with its challenge limit (the app gets its challenge: `accept`). */
    addHandshake: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'hello') return;
      enqueue.assign({ handshakes: [...context.handshakes, { peer: event.peer, op: event.op, source: event.source, proving: false }] });
      enqueue.raise({ type: 'handshakeTimeout', peer: event.peer }, { id: timerOf(event.peer), delay: context.limits.challenge });
    }),
    /** The proof of an open handshake arrived (it is checked: `verify`); its limit starts again, for the check. */
    startProof: enqueueActions(({ context, event, enqueue }) => {
      const peer = peerOf(event);
      enqueue.assign({ handshakes: context.handshakes.map((h) => (h.peer === peer ? { ...h, proving: true } : h)) });
      enqueue.raise({ type: 'handshakeTimeout', peer }, { id: timerOf(peer), delay: context.limits.challenge });
    }),
    /** The event's handshake ends (its timer with it). */
    closeHandshake: enqueueActions(({ context, event, enqueue }) => {
      const peer = peerOf(event);
      enqueue.cancel(timerOf(peer));
      enqueue.assign({ handshakes: context.handshakes.filter((h) => h.peer !== peer) });
    }),
    /** Every handshake ends (a login won, or the session is over); a push out is answered. */
    closeAll: enqueueActions(({ context, enqueue }) => {
      for (const h of context.handshakes) enqueue.cancel(timerOf(h.peer));
      enqueue.assign({ handshakes: [], push: null });
    }),
    dropPush: assign({ push: null }),
    notifyScan: emit(
      ({ context }) => ({ type: 'notify', event: context.push ? 'confirmprovoke' : 'confirmscan', ...(context.push?.number ? { number: context.push.number } : {}) }) as const,
    ),
    /** The last handshake ended without a login: browsers hear CANCEL (NOACCOUNTS when its account was unknown). */
    notifyEnd: emit(({ event }) => ({ type: 'notify', event: event.type === 'unverified' && event.code === 'UNKNOWN_ACCOUNT' ? 'noaccounts' : 'cancel' }) as const),
    setUserContext: assign({ userContext: ({ event }) => (event.type === 'setContext' ? event.userContext : null) }),
    countPing: assign({ pings: ({ context }) => context.pings + 1 }),
    takePush: assign({ push: ({ event }) => (event.type === 'provoke' ? { accounts: event.accounts, ...(event.number ? { number: event.number } : {}) } : null) }),
  },
  guards: {
    /** A hello may open a handshake: under both limits, and not a second one of the same connection. */
    canOpen: ({ context, event }: Args) => {
      if (event.type !== 'hello') return false;
      const { handshakes, limits } = context;
      let fromSource = 0;
      for (const h of handshakes) {
        if (h.peer === event.peer) return false;
        if (h.source === event.source) fromSource++;
      }
      return handshakes.length < limits.handshakes && fromSource < limits.handshakesPerSource;
    },
    /** The event comes from an open handshake whose proof has not come yet. */
    fromOpen: ({ context, event }: Args) => handshakeOf(context, event)?.proving === false,
    /** … from a handshake whose proof is being checked. */
    fromProving: ({ context, event }: Args) => handshakeOf(context, event)?.proving === true,
    /** … from any open handshake. */
    fromHandshake: ({ context, event }: Args) => handshakeOf(context, event) !== undefined,
    noHandshakes: ({ context }) => context.handshakes.length === 0,
    /** No handshake's proof is being checked. */
    noneProving: ({ context }) => !context.handshakes.some((h) => h.proving),
    revokesLoggedIn: ({ context, event }) => event.type === 'revoke' && event.account === context.account,
    deletesLastAccount: ({ context, event }) => event.type === 'revoke' && event.deleted && event.account === context.lastAccount,
    isContinuous: ({ context }) => context.pingTime > 0 && context.pinger !== null,
    answersPing: ({ context, event }) => event.type === 'pong' && event.peer === context.pinger && event.n === context.pings,
    reportsPush: ({ context, event }) => event.type === 'decline' && reportedAccounts(context, event).length > 0,
  },
  delays: {
    idle: ({ context }) => context.limits.idle,
    session: ({ context }) => context.limits.session,
    pingTimeout: ({ context }) => context.pingTime,
    pingInterval: ({ context }) => Math.max(1, Math.floor(context.pingTime / 2)),
  },
}).createMachine({
  id: 'session',
  // (The input named, not spread first: on node 20, `{ ...input, more }` makes a hidden class of its own for every object.)
  context: ({ input }) => ({
    serverid: input.serverid,
    hsid: input.hsid,
    limits: input.limits,
    handshakes: [],
    account: null,
    lastAccount: null,
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
    hello: { actions: { type: 'refuse', params: ({ event }) => ({ peer: event.peer, code: 'SESSION_BUSY' }) } },
    // How a handshake ends without a login, whatever the state (`challenged` and `verifying`
    // leave by themselves once none is open). An outcome for a handshake that is gone (its limit
    // passed meanwhile) still reaches its app.
    verified: { actions: { type: 'refuse', params: ({ event }) => ({ peer: event.peer, code: 'SESSION_EXPIRED' }) } },
    unverified: [
      { guard: 'fromHandshake', actions: [{ type: 'refuse', params: ({ event }) => ({ peer: event.peer, code: event.code }) }, 'closeHandshake'] },
      { actions: { type: 'refuse', params: ({ event }) => ({ peer: event.peer, code: event.code }) } },
    ],
    decline: [
      { guard: and(['fromOpen', 'reportsPush']), actions: [{ type: 'mute', params: ({ context, event }) => ({ accounts: reportedAccounts(context, event) }) }, 'closeHandshake'] },
      { guard: 'fromOpen', actions: 'closeHandshake' },
    ],
    abandon: { guard: 'fromHandshake', actions: 'closeHandshake' },
    handshakeTimeout: { guard: 'fromHandshake', actions: 'closeHandshake' },
  },
  states: {
    waiting: {
      after: { idle: 'expired' },
      on: {
        // Any event restarts the idle limit.
        setContext: { target: 'waiting', reenter: true, actions: 'setUserContext' },
        provoke: { target: 'waiting', reenter: true, actions: 'takePush' },
        hello: { target: 'challenged', actions: ['addHandshake', { type: 'accept', params: ({ event }) => ({ peer: event.peer }) }, 'notifyScan'] },
      },
    },
    challenged: {
      // The last handshake ended without a login.
      always: { guard: 'noHandshakes', target: 'waiting', actions: ['notifyEnd', 'dropPush'] },
      on: {
        hello: [
          { guard: 'canOpen', actions: ['addHandshake', { type: 'accept', params: ({ event }) => ({ peer: event.peer }) }] },
          { actions: { type: 'refuse', params: ({ event }) => ({ peer: event.peer, code: 'SESSION_BUSY' }) } },
        ],
        proof: { guard: 'fromOpen', target: 'verifying', actions: ['startProof', { type: 'verify', params: ({ context, event }) => verifyParams(context, event) }] },
      },
    },
    /** At least one proof is being checked; other handshakes may still send theirs. */
    verifying: {
      always: [
        { guard: 'noHandshakes', target: 'waiting', actions: ['notifyEnd', 'dropPush'] },
        { guard: 'noneProving', target: 'challenged' },
      ],
      on: {
        proof: { guard: 'fromOpen', actions: ['startProof', { type: 'verify', params: ({ context, event }) => verifyParams(context, event) }] },
        verified: {
          guard: 'fromProving',
          target: 'authenticated',
          actions: [
            assign({
              account: ({ event }) => event.output.account,
              lastAccount: ({ event }) => event.output.account,
              userinput: ({ event }) => event.output.userinput ?? null,
              pinger: ({ event }) => event.peer,
              pingTime: ({ event }) => event.output.pingTime ?? 0,
              pings: 0,
            }),
            { type: 'confirm', params: ({ event }) => ({ peer: event.peer, output: event.output }) },
            'closeAll',
            emit({ type: 'notify', event: 'login' }),
          ],
        },
      },
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
        // Another handshake's proof verified too late: the first one won.
        verified: { actions: { type: 'refuse', params: ({ event }) => ({ peer: event.peer, code: 'SESSION_BUSY' }) } },
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
        hello: { target: 'challenged', actions: ['addHandshake', { type: 'accept', params: ({ event }) => ({ peer: event.peer }) }, 'notifyScan'] },
      },
    },
    expired: { type: 'final' },
  },
});

export type SessionMachine = typeof sessionMachine;

/** The observable state of a snapshot value (`{waiting: 'locked'}` is `waiting`). */
export const stateName = (value: unknown): SessionState => (typeof value === 'string' ? value : Object.keys(value as object)[0]) as SessionState;
