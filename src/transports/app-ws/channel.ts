/**
 * One app connection (PROTOCOL.md §4): the connection machine (machines/connection.ts) decides,
 * this file carries out what it decided. The receiver turns each WebSocket message into the
 * machine's event; the machine's named actions are mapped here, with `.provide()`, onto the core
 * (the session hub, pushes, transactions, the registry) and onto the sender, the one writer of
 * the socket. Answers of the core come back as events (`accepted`, `refused`, `confirmed`,
 * `deliver`).
 *
 * What the channel keeps is bookkeeping, not decisions: per handshake, what its steps learned (the
 * server record, the enrol code, the transcript h2), keyed by the handshake's keys, which the
 * machine holds; the accounts this connection proved, with the h2 that proved each (a `logout`
 * and a transaction answer are checked against them by the core's rules); the pings out. Whether
 * a frame is acceptable now — a handshake running, a challenge out, the connection sealed — is
 * the machine's state, never a check here.
 */
import { randomUUID } from 'node:crypto';
import { createActor, type ActorRefFrom } from 'xstate';
import { errors, isErrorCode, NsError, type ErrorCode } from '../../wire/errors.ts';
import { check, decodeMap, type Frame } from '../../wire/frames.ts';
import { LABELS } from '../../wire/labels.ts';
import { ed25519PrivateKey } from '../../core/crypto/keys.ts';
import { deriveKeys, makeChallenge, openProof, sealEnrolResult, type HandshakeKeys } from '../../core/login/handshake.ts';
import { checkAccountProof, type ProofEvidence } from '../../core/login/verify-proof.ts';
import type { Registry } from '../../core/admin/registry.ts';
import type { AppPeer, SessionHub, SessionKey, Shown } from '../../core/hub.ts';
import type { PushService, PushTarget } from '../../core/push/push.ts';
import type { TransactionService } from '../../core/transaction/transactions.ts';
import type { Clock, EnrolCodeRecord, ServerRecord } from '../../ports.ts';
import type { VerifyOutput } from '../../../machines/session.ts';
import { connectionMachine, type ChannelKeys, type ConnectionEvent, type DeliveryKind, type Handshake, type TransactionAnswer } from '../../../machines/connection.ts';
import { Receiver } from './receiver.ts';
import { Sender, type Link } from './sender.ts';
import type { SourceLimits } from '../../core/limits/source-limits.ts';

export type { Link } from './sender.ts';

export interface ChannelDeps {
  hub: SessionHub;
  push: PushService;
  transactions: TransactionService;
  registry: Registry;
  /** Refusals are logged at their code's level (src/wire/errors.ts). */
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Counts frames and refusals (metrics). */
  count?: { frame(t: string, dir: 'in' | 'out'): void; refusal(code: string, serverid: string | undefined, source: string): void };
  /** The clock of the challenge limit and of `now` (the hub's; tests pass XState's SimulatedClock). */
  clock: Clock;
  /** ms a proof may take after its challenge (§2, `limits.challenge`). */
  challengeLimit: number;
  /** hellos and failed proofs per source (core/limits). */
  sourceLimits: SourceLimits;
}

/** What one handshake's steps learned, beside the keys the machine holds. */
interface Notes {
  keys: HandshakeKeys;
  /** The server as it was when the hello came. */
  server?: ServerRecord;
  /** The enrol code of an `enrol` hello. */
  enrolCode?: EnrolCodeRecord;
  /** h2, once the challenge is out. */
  h2?: Uint8Array;
}

type ConnectionActor = ActorRefFrom<typeof connectionMachine>;

const sessionOf = (h: Handshake): SessionKey => ({ serverid: h.serverid, hsid: h.hsid ?? '' });
/** At most this many pings wait for their pong (an unanswered one is its session's loss, not a leak). */
const MAX_PINGS = 64;

/** The channel of each connection actor: the machine's actions find their channel through `self`. */
const channels = new WeakMap<object, AppChannel>();

export class AppChannel implements AppPeer, PushTarget {
  static #provided: ReturnType<typeof AppChannel.build> | undefined;
  readonly id = randomUUID();
  /** The server the latest `hello` named (refusals are logged with it). */
  #serverid: string | undefined;
  readonly #deps: ChannelDeps;
  readonly #receiver: Receiver;
  readonly #sender: Sender;
  readonly #actor: ConnectionActor;
  readonly #notes = new WeakMap<ChannelKeys, Notes>();
  /** What the session being accepted shows the phone (only while `accepted` runs). */
  #shown: Shown | undefined;
  /** Accounts this connection has proven, per server, with the transcript h2 that proved each. */
  readonly #proven = new Map<string, Map<number, Uint8Array>>();
  /** Pings out on this connection: the connection's ping number → the session's. */
  readonly #pings = new Map<number, { session: SessionKey; n: number }>();
  #pingCounter = 0;

  /** AppPeer: the connection's source address (PROTOCOL.md §7). */
  readonly source: string;

  constructor(link: Link, deps: ChannelDeps, source: string) {
    this.#deps = deps;
    this.source = source;
    this.#receiver = new Receiver({
      keysFor: (m1, ea) => {
        const keys = deriveKeys(m1, ea);
        if (keys) this.#notes.set(keys, { keys });
        return keys;
      },
      onFrame: (t) => deps.count?.frame(t, 'in'),
    });
    this.#sender = new Sender(link, { onFrame: (t) => deps.count?.frame(t, 'out') });
    this.#actor = createActor((AppChannel.#provided ??= AppChannel.build()), { input: { challengeLimit: deps.challengeLimit }, clock: deps.clock });
    channels.set(this.#actor, this);
    deps.hub.attach(this);
    this.#actor.start();
  }

  // ---- the socket --------------------------------------------------------------------------------

  /** One WebSocket message. */
  receive(data: Uint8Array, isBinary: boolean): void {
    if (this.#sender.state === 'closed') return;
    let event: ConnectionEvent;
    try {
      event = this.#receiver.read(data, isBinary);
    } catch (err) {
      this.#deps.log.error({ conn: this.id, code: 'INTERNAL', err }, 'app frame could not be read');
      event = { type: 'malformed', code: 'INTERNAL' };
    }
    this.#actor.send(event);
  }

  /** The socket closed (whoever closed it). */
  closedByPeer(): void {
    this.#sender.closed();
    this.#actor.send({ type: 'gone' });
  }

  // ---- answers of the core (AppPeer, PushTarget) ------------------------------

  /** AppPeer: the session took the hello; the challenge (sent at once) shows the phone `shown`. */
  accepted(_session: SessionKey, shown: Shown): void {
    this.#shown = shown;
    try {
      this.#actor.send({ type: 'accepted' });
    } finally {
      this.#shown = undefined;
    }
  }

  /** AppPeer: the session said no (to the hello or the proof). */
  refused(code: string): void {
    this.#countRefusedProof(code);
    this.#actor.send({ type: 'refused', code: isErrorCode(code) ? code : 'INTERNAL' });
  }

  /** A failed proof counts against this connection's source (§2). */
  #countRefusedProof(code: string): void {
    this.#deps.sourceLimits
      .refusedProof(this.source, code)
      .catch((err: unknown) => this.#deps.log.error({ conn: this.id, code: 'INTERNAL', err }, 'a failed proof was not counted'));
  }

  /** AppPeer: the proof verified (and the login is on disk). */
  confirmed(_session: SessionKey, output: VerifyOutput): void {
    this.#actor.send({ type: 'confirmed', account: output.account });
  }

  /** AppPeer: ping the phone of a continuous session (it answers `pong` with the connection's number). */
  ping(session: SessionKey, n: number): void {
    const m = ++this.#pingCounter;
    this.#pings.set(m, { session, n });
    if (this.#pings.size > MAX_PINGS) this.#pings.delete(this.#pings.keys().next().value!);
    this.#deliver('ping', { t: 'ping', n: m });
  }

  /** AppPeer: show a transaction to the phone. */
  transaction(content: Record<string, unknown>): void {
    this.#deliver('transaction', content);
  }

  /** PushTarget: a push for a session of an account this connection listens for. */
  push(content: Record<string, unknown>): void {
    this.#deliver('push', content);
  }

  /** PushTarget: an account this connection proved was blocked or deleted. */
  deleted(_serverid: string, acc: number): void {
    this.#deliver('deleted', { t: 'deleted', acc });
  }

  #deliver(kind: DeliveryKind, frame: Record<string, unknown>): void {
    this.#actor.send({ type: 'deliver', kind, frame });
  }

  // ---- the machine's actions ---------------------------------------------------------------------

  /**
   * The connection machine with every action mapped onto the channel of the actor that runs it;
   * none throws into the machine. Provided once for all connections (a `provide()` per connection
   * would build the machine again each time).
   */
  static build() {
    const safe =
      <P>(name: string, fn: (ch: AppChannel, params: P) => void) =>
      ({ self }: { self: object }, params: P): void => {
        const ch = channels.get(self);
        if (!ch) return;
        try {
          fn(ch, params);
        } catch (err) {
          ch.#deps.log.error({ conn: ch.id, code: 'INTERNAL', err }, `app channel action ${name} failed`);
        }
      };
    return connectionMachine.provide({
      actions: {
        forwardHello: safe('forwardHello', (ch, h: Handshake) => void ch.#forwardHello(h)),
        sendChallenge: safe('sendChallenge', (ch, h: Handshake) => {
          try {
            ch.#sendChallenge(h);
          } catch (e) {
            // The machine hears it after this transition: it refuses and gives the session back.
            ch.#actor.send(ch.#refusal(e));
          }
        }),
        forwardProof: safe('forwardProof', (ch, { handshake, box }: { handshake: Handshake; box: Uint8Array }) => ch.#forwardProof(handshake, box)),
        forwardDecline: safe('forwardDecline', (ch, { handshake, report }: { handshake: Handshake; report: boolean }) =>
          ch.#hub(ch.#deps.hub.decline(ch, sessionOf(handshake), report, [...(ch.#proven.get(handshake.serverid)?.keys() ?? [])])),
        ),
        // The hub has no call for one handshake's end but the decline (the session goes back to
        // waiting, browsers hear CANCEL); if the session ended it already, its refusal to us
        // arrives when nothing waits for one.
        abandonHandshake: safe('abandonHandshake', (ch, h: Handshake) => ch.#hub(ch.#deps.hub.decline(ch, sessionOf(h)))),
        sendResult: safe('sendResult', (ch, { handshake, account }: { handshake: Handshake; account: number }) => ch.#sendResult(handshake, account)),
        seal: safe('seal', (ch, { keys }: { keys: ChannelKeys }) => {
          ch.#receiver.seal(keys.kC);
          ch.#sender.seal(keys.kS);
        }),
        listen: safe('listen', (ch, { serverid, account }: { serverid: string; account: number }) => {
          ch.#deps.push.listen(serverid, account, ch);
          ch.#deps.log.info({ conn: ch.id, serverid, acc: account }, 'listening for pushes');
        }),
        refuse: safe('refuse', (ch, { code, message }: { code: ErrorCode; message?: string }) => ch.#refuse(code, message)),
        forwardLogout: safe('forwardLogout', (ch, { hsid }: { hsid: string }) => void ch.#answering(ch.#logout(hsid))),
        forwardPong: safe('forwardPong', (ch, { n }: { n: number }) => ch.#pong(n)),
        forwardAnswer: safe('forwardAnswer', (ch, answer: TransactionAnswer) => void ch.#answering(ch.#transactionAnswer(answer))),
        send: safe('send', (ch, { frame }: { kind: DeliveryKind; frame: Record<string, unknown> }) => ch.#sender.send(frame as Frame)),
        // Not sealed yet: the frame does not go out (a ping's number just waits unanswered).
        drop: () => {},
        close: safe('close', (ch, { code, reason }: { code: number; reason: string }) => {
          const level = isErrorCode(reason) ? errors[reason].level : 'warn';
          ch.#deps.log[level](
            { conn: ch.id, serverid: ch.#serverid, code: reason, source: ch.source },
            `app connection closed ${code}: the frame is not a sealed frame opening with the next counter`,
          );
          ch.#deps.count?.refusal(reason, ch.#serverid, ch.source);
          ch.#sender.close(code, reason);
        }),
        release: safe('release', (ch) => {
          ch.#hub(ch.#deps.hub.detach(ch));
          ch.#deps.push.drop(ch);
        }),
      },
    });
  }

  /** §4.1 step 1, the NS side: the server (and enrol code) the hello names, then its session. */
  async #forwardHello(h: Handshake): Promise<void> {
    const { registry, hub, clock } = this.#deps;
    const notes = this.#notesOf(h);
    this.#serverid = h.serverid;
    try {
      // Counted and checked before anything else (§7).
      await this.#deps.sourceLimits.admitHello(this.source);
      const server = await registry.servers.get(h.serverid);
      if (!server) throw new NsError('UNKNOWN_SERVER');
      notes.server = server;
      // A listen hello has no session: the server is all there is to check.
      if (h.op === 'listen') return this.#actor.send({ type: 'accepted' });
      if (h.op === 'enrol') notes.enrolCode = await registry.enrolment.usable(h.serverid, h.hsid, clock.now());
      // The socket went away meanwhile: no session hears of this hello.
      if (this.#actor.getSnapshot().status !== 'active') return;
      await hub.hello(this, h.serverid, h.hsid, h.op); // answers through accepted / refused
    } catch (e) {
      this.#actor.send(this.#refusal(e));
    }
  }

  /** §4.1 steps 2–3: the challenge, its box sealed with this handshake's kS. */
  #sendChallenge(h: Handshake): void {
    const { registry, clock } = this.#deps;
    const notes = this.#notesOf(h);
    const server = notes.server;
    if (!server) throw new NsError('UNKNOWN_SERVER');
    const { userContext, number } = this.#shown ?? {};
    const sessioninfo = userContext?.sessioninfo;
    const info: Record<string, unknown> = {
      name: server.serverName,
      // (0: ask for it now; a session may require the second factor whatever the server's policy)
      pinTimeout: userContext?.secondFactor === 'required' ? 0 : server.pinTimeout,
      session: {
        ...(sessioninfo?.ip !== undefined ? { ip: sessioninfo.ip } : {}),
        ...(sessioninfo?.useragent !== undefined ? { ua: sessioninfo.useragent } : {}),
        ...(sessioninfo?.info !== undefined ? { info: sessioninfo.info } : {}),
      },
    };
    if (server.logo) info.logo = server.logo;
    if (userContext?.announceinfo) info.announce = userContext.announceinfo;
    if (number !== undefined) info.number = number;
    const code = notes.enrolCode;
    if (code) {
      info.enrol = { name: code.name, ...(code.userid !== undefined ? { userid: code.userid } : {}) };
      registry.enrolment.markScanned(code, clock.now());
    }
    const { m2, h2 } = makeChallenge(notes.keys, Buffer.from(h.serverid, 'base64url'), ed25519PrivateKey(server), info);
    notes.h2 = h2;
    this.#sender.sendEncoded(m2, 'challenge');
  }

  /** §4.1 step 5, the NS side: a login or enrol proof goes to its session; a listen proof is checked here. */
  #forwardProof(h: Handshake, box: Uint8Array): void {
    const notes = this.#notesOf(h);
    const plain = openProof(notes.keys, box);
    if (h.op === 'listen') return void this.#listenProof(h.serverid, notes, plain);
    const { hub, log } = this.#deps;
    const session = sessionOf(h);
    if (!plain) return this.#hub(hub.fail(this, session, 'BAD_BOX'));
    let evidence: ProofEvidence;
    try {
      const body = decodeMap(plain);
      evidence = h.op === 'login' ? { op: 'login', body: check('loginProof', body), h2: notes.h2! } : { op: 'enrol', body: check('enrolProof', body), h2: notes.h2! };
    } catch (e) {
      log.info({ conn: this.id, code: 'BAD_MESSAGE' }, `proof refused: ${(e as Error).message}`);
      return this.#hub(hub.fail(this, session, 'BAD_MESSAGE'));
    }
    this.#hub(hub.proof(this, session, evidence as unknown as Record<string, unknown>)); // answers through confirmed / refused
  }

  /** A listen proof: the account's signature over "nextauth/listen" || h2 (§4.2). */
  async #listenProof(serverid: string, notes: Notes, plain: Uint8Array | undefined): Promise<void> {
    try {
      if (!plain) throw new NsError('BAD_BOX');
      const body = check('loginProof', decodeMapAsMessage(plain));
      const account = await checkAccountProof(this.#deps.registry, serverid, body, LABELS.listen, notes.h2!);
      this.#actor.send({ type: 'confirmed', account: account.id });
    } catch (e) {
      const refusal = this.#refusal(e);
      if (refusal.type === 'refused') this.#countRefusedProof(refusal.code);
      this.#actor.send(refusal);
    }
  }

  /** §4.1 step 6: `{t:"result", ok:true, acc, box?}`; the connection has now proven the account. */
  #sendResult(h: Handshake, account: number): void {
    const notes = this.#notesOf(h);
    let accounts = this.#proven.get(h.serverid);
    if (!accounts) this.#proven.set(h.serverid, (accounts = new Map()));
    accounts.set(account, notes.h2!);
    this.#deps.push.proved(h.serverid, account, this);
    const result: Frame = { t: 'result', ok: true, acc: account };
    const server = notes.server;
    if (h.op === 'enrol' && server) {
      result.box = sealEnrolResult(notes.keys, {
        acc: account,
        name: server.serverName,
        ...(server.logo ? { logo: server.logo } : {}),
        pinTimeout: server.pinTimeout,
        pingTime: server.pingTime,
      });
    }
    this.#deps.log.info({ conn: this.id, serverid: h.serverid, acc: account, op: h.op }, `${h.op} ok`);
    this.#sender.send(result);
  }

  /** `{t:"logout", hsid}`: a session logged in by an account this connection proved. */
  async #logout(hsid: string): Promise<void> {
    const { hub } = this.#deps;
    for (const [serverid, accounts] of this.#proven) {
      const status = await hub.status(serverid, hsid);
      if (status.account !== null && accounts.has(status.account)) {
        await hub.logout(serverid, hsid, this.source);
        return;
      }
    }
    throw new NsError('UNKNOWN_SESSION', 'No session logged in by this connection has that hsid');
  }

  /** `{t:"pong", n}`: the answer to the connection's ping n, handed to its session. */
  #pong(n: number): void {
    const ping = this.#pings.get(n);
    if (!ping) return this.#refuse('BAD_MESSAGE', `No ping ${n} is waiting for a pong`);
    this.#pings.delete(n);
    this.#hub(this.#deps.hub.pong(this, ping.session, ping.n));
  }

  /** `approve` / `reject` (§4.3), answered `{t:"result", ok:true, tid}` or an error. */
  async #transactionAnswer(answer: TransactionAnswer): Promise<void> {
    const { transactions } = this.#deps;
    const tx = await transactions.find(answer.tid);
    const proven = tx ? this.#proven.get(tx.serverid) : undefined;
    if (!tx || !proven) throw new NsError('UNKNOWN_TRANSACTION');
    await transactions.answer(
      tx.serverid,
      proven,
      answer.type === 'approve' ? { tid: answer.tid, approve: true, sig: answer.sig, sf: answer.sf } : { tid: answer.tid, approve: false },
    );
    this.#sender.send({ t: 'result', ok: true, tid: answer.tid });
  }

  /** A call into the hub, whose answers come back through the AppPeer methods; its failure is the handshake's refusal. */
  #hub(work: Promise<void>): void {
    work.catch((e: unknown) => {
      const refusal = this.#refusal(e);
      if (this.#actor.getSnapshot().status === 'active') this.#actor.send(refusal);
    });
  }

  /** Runs a forwarded frame's core call; a refusal of the core is answered as an error frame. */
  async #answering(work: Promise<void>): Promise<void> {
    try {
      await work;
    } catch (e) {
      const error = e instanceof NsError ? e : undefined;
      if (!error) this.#deps.log.error({ conn: this.id, code: 'INTERNAL', err: e }, 'app frame failed');
      this.#refuse(error?.code ?? 'INTERNAL', error?.message);
    }
  }

  /** `{t:"error", code, message}` (sealed once the connection is), logged at the code's level and counted. */
  #refuse(code: ErrorCode, message: string = errors[code].message): void {
    this.#deps.log[errors[code].level]({ conn: this.id, serverid: this.#serverid, code, source: this.source }, `app refused: ${message}`);
    this.#deps.count?.refusal(code, this.#serverid, this.source);
    this.#sender.send({ t: 'error', code, message });
  }

  /** A failed step as the machine's `refused` (an error that is no refusal of ours is logged with its stack). */
  #refusal(e: unknown): ConnectionEvent {
    if (e instanceof NsError) return { type: 'refused', code: e.code, message: e.message };
    this.#deps.log.error({ conn: this.id, code: 'INTERNAL', err: e }, 'app handshake step failed');
    return { type: 'refused', code: 'INTERNAL' };
  }

  #notesOf(h: Handshake): Notes {
    const notes = this.#notes.get(h.keys);
    if (!notes) throw new NsError('INTERNAL', 'A handshake without keys of this connection');
    return notes;
  }
}

/** A proof box's content: a msgpack map, else BAD_MESSAGE. */
function decodeMapAsMessage(plain: Uint8Array): Record<string, unknown> {
  try {
    return decodeMap(plain);
  } catch {
    throw new NsError('BAD_MESSAGE', 'The proof is not a msgpack map');
  }
}
