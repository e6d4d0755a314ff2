/**
 * The transaction machine: one actor per transaction a relying party asks a logged-in user to
 * approve on the phone (2.2 createTransaction / getTransactionResult).
 *
 * pending (made, not yet on a phone) → presented (sent to a live connection) → approved or
 * declined; a transaction not answered within its limit is expired (2.2 reports it declined).
 * Pure: the signature is checked before `approve` is sent; browsers hear `notify` events.
 */
import { assign, emit, setup } from 'xstate';

export interface TransactionInput {
  tid: string;
  serverid: string;
  hsid: string;
  account: number;
  /** ms the phone has to answer */
  limit: number;
}

export interface TransactionContext extends TransactionInput {
  /** The approval, kept as evidence: the account's signature (base64url), second factor, time. */
  evidence: { signature: string; sf: string; at: number } | null;
}

export type TransactionEvent = { type: 'present' } | { type: 'approve'; signature: string; sf: string; at: number } | { type: 'decline' };

export type TransactionOutcome = 'approved' | 'declined' | 'expired';
export type TransactionEmitted = { type: 'notify'; outcome: TransactionOutcome };

export const transactionMachine = setup({
  types: {
    context: {} as TransactionContext,
    events: {} as TransactionEvent,
    input: {} as TransactionInput,
    emitted: {} as TransactionEmitted,
  },
  delays: { limit: ({ context }) => context.limit },
}).createMachine({
  id: 'transaction',
  context: ({ input }) => ({ tid: input.tid, serverid: input.serverid, hsid: input.hsid, account: input.account, limit: input.limit, evidence: null }),
  initial: 'pending',
  // Whether or not a phone has it yet, an answer may come (the phone may have it from the gateway).
  on: {
    approve: {
      target: '.approved',
      actions: assign({ evidence: ({ event }) => ({ signature: event.signature, sf: event.sf, at: event.at }) }),
    },
    decline: '.declined',
  },
  states: {
    pending: {
      on: { present: 'presented' },
      after: { limit: 'expired' },
    },
    presented: {
      after: { limit: 'expired' },
    },
    approved: { type: 'final', entry: emit({ type: 'notify', outcome: 'approved' }) },
    declined: { type: 'final', entry: emit({ type: 'notify', outcome: 'declined' }) },
    expired: { type: 'final', entry: emit({ type: 'notify', outcome: 'expired' }) },
  },
});

export type TransactionMachine = typeof transactionMachine;
