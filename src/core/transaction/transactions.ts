/**
 * Transactions (2.2 createTransaction / getTransactionResult): one actor each. The NS sends the
 * transaction's exact bytes to the phone that is logged in to the session (or to the account's
 * listening connections, or through the push gateway); the phone shows the fields, asks for the
 * second factor, and signs `"nextauth/transaction" || h2 || bytes` with the account key, where
 * h2 is the transcript of the handshake that proved the account on the answering connection.
 */
import { newEvent } from '../events/new-event.ts';
import { encode } from '@msgpack/msgpack';
import { randomBytes } from 'node:crypto';
import { createActor, type ActorRefFrom } from 'xstate';
import { transactionMachine, type TransactionOutcome } from '../../../machines/transaction.ts';
import { NsError } from '../../wire/errors.ts';
import { LABELS } from '../../wire/labels.ts';
import { toB64url } from '../../wire/base64url.ts';
import { verifyEd25519 } from '../crypto/keys.ts';
import type { Registry } from '../admin/registry.ts';
import type { Clock, Json, TransactionRecord } from '../../ports.ts';
import type { SessionHub } from '../hub.ts';
import type { PushService } from '../push/push.ts';

/** How long a finished transaction's result stays readable. */
const RESULT_MEMORY_MS = 3600_000;

export interface TransactionFields {
  amount?: string;
  benificiary?: string;
  description?: string;
}

export interface TransactionResult {
  /** 2.2: "0" new, "1" approved, "2" declined (an expired transaction is declined) */
  tstatus: '0' | '1' | '2';
  /** additions */
  state: 'pending' | 'presented' | TransactionOutcome;
  account: number;
  /** the signed bytes (base64), and the approval's evidence */
  tx: string;
  signature?: string;
  sf?: string;
  at?: number;
}

type TransactionActor = ActorRefFrom<typeof transactionMachine>;
interface Entry {
  actor: TransactionActor;
  bytes: Uint8Array;
  endedAt?: number;
  /** The record's writes, one after the other: resolved once the latest state is durable. */
  saved: Promise<void>;
}

export interface TransactionDeps {
  registry: Registry;
  hub: SessionHub;
  push: PushService;
  clock: Clock;
  /** ms a phone has to answer (default 5 minutes) */
  limit?: number;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export class TransactionService {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly deps: TransactionDeps) {}

  /** createTransaction: 403 NO_ACCOUNT unless an account is logged in to the session. `source`: the asking client's address, for the event. */
  async create(serverid: string, hsid: string, fields: TransactionFields, source?: string): Promise<{ tid: string }> {
    const { hub, clock } = this.deps;
    const server = await this.deps.registry.servers.require(serverid);
    const { account, state } = await hub.status(serverid, hsid);
    if (account === null || state !== 'authenticated') throw new NsError('NO_ACCOUNT');
    this.prune();
    const tid = toB64url(randomBytes(16));
    const bytes = encode({ tid, srv: serverid, hsid, acc: account, ...fields });
    const limit = this.deps.limit ?? 5 * 60_000;
    const created = clock.now();
    const { store } = this.deps.registry;
    // Durable before anyone hears of it: the relying party's tid always names a record.
    await store.transact((tx) => {
      tx.put('transaction', [tid], { tid, serverid, hsid, account, tx: Buffer.from(bytes).toString('base64'), state: 'pending', created, expires: created + limit });
      tx.emit(
        newEvent(
          'com.nextauth.transaction.created',
          serverid,
          { account, source, subject: `transaction/${tid}`, data: { bytes: bytes.length, expires: created + limit } },
          created,
        ),
      );
    });
    const actor = createActor(transactionMachine, { input: { tid, serverid, hsid, account, limit }, clock });
    const entry: Entry = { actor, bytes, saved: Promise.resolve() };
    this.entries.set(tid, entry);
    let current = 'pending';
    actor.subscribe((s) => {
      if (s.status === 'done') entry.endedAt = clock.now();
      if (s.value === current) return;
      current = s.value;
      const fields = { state: s.value, ...(s.context.evidence ?? {}) };
      // Only an open record changes (another process may have taken the phone's answer first,
      // §8); browsers hear an outcome once it is the record's.
      entry.saved = entry.saved
        .then(() => this.closeRecord(tid, fields))
        .then((closed) => (closed && s.status === 'done' ? this.ended(serverid, hsid, tid, s.value as TransactionOutcome, account) : undefined))
        .catch((err: unknown) => this.deps.log.warn({ err, serverid, tid }, 'could not save a transaction'));
    });
    actor.start();

    const content = { t: 'transaction', tid, srv: Buffer.from(serverid, 'base64url'), acc: account, tx: bytes, info: { name: server.serverName, ...fields } };
    const delivered = (await hub.toLoginPeer(serverid, hsid, content)) ? 1 : await this.deps.push.sendToAccount(serverid, account, content);
    if (delivered > 0) actor.send({ type: 'present' });
    this.deps.log.info({ serverid, acc: account, tid, delivered }, 'transaction created');
    return { tid };
  }

  /** The server of a transaction (for the app channel to find the connection's accounts there), live here or made by another process. */
  async find(tid: string): Promise<{ serverid: string } | undefined> {
    const context = this.entries.get(tid)?.actor.getSnapshot().context;
    if (context) return { serverid: context.serverid };
    const record = await this.deps.registry.store.get('transaction', tid);
    return record ? { serverid: record.serverid } : undefined;
  }

  /**
   * getTransactionResult (only for the server it belongs to): from the live transaction, or from
   * its record once it is no longer live (after a restart, or an hour after it ended).
   */
  async result(serverid: string, tid: string): Promise<TransactionResult> {
    const entry = this.entries.get(tid);
    const snapshot = entry?.actor.getSnapshot();
    if (!entry || !snapshot) return this.stored(serverid, tid);
    // Answered on another process (§8): its record says so first.
    if (snapshot.status !== 'done') {
      const record = await this.deps.registry.store.get('transaction', tid);
      if (record?.serverid === serverid && record.state !== 'pending' && record.state !== 'presented') return this.stored(serverid, tid);
    }
    if (snapshot.context.serverid !== serverid) throw new NsError('UNKNOWN_TRANSACTION');
    const state = snapshot.value as TransactionResult['state'];
    const evidence = snapshot.context.evidence;
    return {
      tstatus: state === 'approved' ? '1' : state === 'declined' || state === 'expired' ? '2' : '0',
      state,
      account: snapshot.context.account,
      tx: Buffer.from(entry.bytes).toString('base64'),
      ...(evidence ? evidence : {}),
    };
  }

  /** A transaction that is not live: its record (one left pending past its limit is expired). */
  private async stored(serverid: string, tid: string): Promise<TransactionResult> {
    const record = await this.deps.registry.store.get('transaction', tid);
    if (!record || record.serverid !== serverid) throw new NsError('UNKNOWN_TRANSACTION');
    const open = record.state === 'pending' || record.state === 'presented';
    const state = open && this.deps.clock.now() >= record.expires ? 'expired' : record.state;
    return {
      tstatus: state === 'approved' ? '1' : state === 'declined' || state === 'expired' ? '2' : '0',
      state,
      account: record.account,
      tx: record.tx,
      ...(record.signature !== undefined ? { signature: record.signature } : {}),
      ...(record.sf !== undefined ? { sf: record.sf } : {}),
      ...(record.at !== undefined ? { at: record.at } : {}),
    };
  }

  /**
   * The phone's answer, from a connection that proved `account` of `serverid` with transcript
   * `h2`. Each refusal changes nothing.
   */
  async answer(serverid: string, proven: ReadonlyMap<number, Uint8Array>, answer: { tid: string; approve: boolean; sig?: Uint8Array; sf?: string }): Promise<void> {
    const entry = this.entries.get(answer.tid);
    const snapshot = entry?.actor.getSnapshot();
    // Made on another process (§8): answered on its record.
    if (!entry || !snapshot) return this.answerRecord(serverid, proven, answer);
    if (snapshot.context.serverid !== serverid) throw new NsError('UNKNOWN_TRANSACTION');
    const { account } = snapshot.context;
    const h2 = proven.get(account);
    if (!h2) throw new NsError('UNKNOWN_ACCOUNT', 'This connection has not proven the account of this transaction');
    if (snapshot.status === 'done') throw new NsError('TRANSACTION_CLOSED');
    if (!answer.approve) {
      entry.actor.send({ type: 'decline' });
      return entry.saved;
    }
    // A transaction always needs the second factor (pinTransTimeout never skips it).
    if (answer.sf !== 'pin' && answer.sf !== 'biometric') throw new NsError('SECOND_FACTOR_REQUIRED');
    const record = await this.deps.registry.accounts.get(serverid, account);
    if (entry.actor.getSnapshot().status === 'done') throw new NsError('TRANSACTION_CLOSED');
    if (!record) throw new NsError('UNKNOWN_ACCOUNT');
    if (record.blocked) throw new NsError('ACCOUNT_BLOCKED');
    const message = Buffer.concat([LABELS.transaction, h2, entry.bytes]);
    if (!answer.sig || !verifyEd25519(Buffer.from(record.pk, 'base64url'), message, answer.sig)) throw new NsError('BAD_SIGNATURE');
    entry.actor.send({ type: 'approve', signature: toB64url(answer.sig), sf: answer.sf, at: this.deps.clock.now() });
    // The phone hears `result` once the evidence is durable.
    return entry.saved;
  }

  /**
   * The answer to a transaction another process made and presents: the same checks, against its
   * record (the signed bytes are there), and the record changed only while it is open.
   */
  private async answerRecord(serverid: string, proven: ReadonlyMap<number, Uint8Array>, answer: { tid: string; approve: boolean; sig?: Uint8Array; sf?: string }): Promise<void> {
    const record = await this.deps.registry.store.get('transaction', answer.tid);
    if (!record || record.serverid !== serverid) throw new NsError('UNKNOWN_TRANSACTION');
    const h2 = proven.get(record.account);
    if (!h2) throw new NsError('UNKNOWN_ACCOUNT', 'This connection has not proven the account of this transaction');
    const now = this.deps.clock.now();
    if ((record.state !== 'pending' && record.state !== 'presented') || now >= record.expires) throw new NsError('TRANSACTION_CLOSED');
    let fields: Partial<TransactionRecord>;
    if (!answer.approve) fields = { state: 'declined' };
    else {
      if (answer.sf !== 'pin' && answer.sf !== 'biometric') throw new NsError('SECOND_FACTOR_REQUIRED');
      const account = await this.deps.registry.accounts.get(serverid, record.account);
      if (!account) throw new NsError('UNKNOWN_ACCOUNT');
      if (account.blocked) throw new NsError('ACCOUNT_BLOCKED');
      const message = Buffer.concat([LABELS.transaction, h2, Buffer.from(record.tx, 'base64')]);
      if (!answer.sig || !verifyEd25519(Buffer.from(account.pk, 'base64url'), message, answer.sig)) throw new NsError('BAD_SIGNATURE');
      fields = { state: 'approved', signature: toB64url(answer.sig), sf: answer.sf, at: now };
    }
    if (!(await this.closeRecord(answer.tid, fields))) throw new NsError('TRANSACTION_CLOSED');
    await this.ended(serverid, record.hsid, answer.tid, fields.state as TransactionOutcome, record.account);
  }

  /** A transaction's outcome, now its record's: logged, and told to the session's browsers. */
  private ended(serverid: string, hsid: string, tid: string, outcome: TransactionOutcome, account: number): Promise<void> {
    this.deps.log.info({ serverid, acc: account, tid, outcome }, `transaction ${outcome}`);
    return this.deps.hub.announce(serverid, hsid, { tid, outcome });
  }

  /** Writes a transaction's new state while its record is open; false when it was closed already. */
  private closeRecord(tid: string, fields: Partial<TransactionRecord>): Promise<boolean> {
    return this.deps.registry.store.transact(async (tx) => {
      const record = await tx.get('transaction', tid);
      if (!record || (record.state !== 'pending' && record.state !== 'presented')) return false;
      tx.patch('transaction', [tid], fields);
      const type = ({ approved: 'com.nextauth.transaction.approved', declined: 'com.nextauth.transaction.declined', expired: 'com.nextauth.transaction.expired' } as const)[
        fields.state as string
      ];
      if (type) {
        const account = await tx.get('account', record.serverid, record.account);
        const data: { [key: string]: Json } = fields.sf !== undefined ? { secondFactor: fields.sf } : {};
        tx.emit(newEvent(type, record.serverid, { account: record.account, userid: account?.userid, subject: `transaction/${tid}`, data }, this.deps.clock.now()));
      }
      return true;
    });
  }

  /** Stops the live transactions once their records are written. */
  async close(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.saved));
    for (const { actor } of this.entries.values()) actor.stop();
    this.entries.clear();
  }

  /** Forgets live results an hour after their transaction ended (the record stays). */
  private prune(): void {
    const now = this.deps.clock.now();
    for (const [tid, e] of this.entries) if (e.endedAt !== undefined && now - e.endedAt > RESULT_MEMORY_MS) this.entries.delete(tid);
  }
}
