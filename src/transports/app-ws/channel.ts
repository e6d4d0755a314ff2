/**
 * The SIGMA-I responder of one app connection (PROTOCOL.md §4): it turns frames into session
 * events and the machine's answers into frames. It runs one handshake at a time; once a
 * handshake completes, the connection is sealed with that handshake's keys (§4.2) and every
 * later frame, both ways, travels inside `{t:"sealed", box}`.
 */
import { randomUUID } from 'node:crypto';
import { NsError, errors, isErrorCode, specOf, type ErrorCode } from '../../wire/errors.ts';
import { toB64url } from '../../wire/base64url.ts';
import { ed25519PrivateKey } from '../../core/crypto/keys.ts';
import { LABELS } from '../../wire/labels.ts';
import { counterNonce, FIRST_APP_COUNTER, FIRST_NS_COUNTER } from '../../wire/nonces.ts';
import { open, seal } from '../../wire/secretbox.ts';
import type { Registry } from '../../core/admin/registry.ts';
import type { EnrolCodeRecord, ServerRecord } from '../../ports.ts';
import type { AppPeer, SessionHub, SessionKey } from '../../core/hub.ts';
import type { VerifyOutput } from '../../../machines/session.ts';
import { check, decodeFrame, decodeMap, encodeFrame, PROTOCOL_VERSION, type Frame, type HelloFrame } from '../../wire/frames.ts';
import { deriveKeys, makeChallenge, openProof, sealEnrolResult, type HandshakeKeys } from '../../core/login/handshake.ts';
import { checkAccountProof, type ProofEvidence } from '../../core/login/verify-proof.ts';
import type { PushService, PushTarget } from '../../core/push/push.ts';
import type { TransactionService, TransactionTarget } from '../../core/transaction/transactions.ts';

const KNOWN_TYPES = new Set(
  ['hello', 'proof', 'decline', 'sealed', 'challenge', 'result', 'error', 'ping', 'pong', 'push', 'deleted', 'logout', 'transaction', 'approve', 'reject'].flatMap((t) => [
    t,
    `sealed:${t}`,
  ]),
);

export interface Link {
  send(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
}

export interface ResponderDeps {
  hub: SessionHub;
  push: PushService;
  transactions: TransactionService;
  registry: Registry;
  /** Refusals are logged at their code's level (src/wire/errors.ts). */
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Counts frames and refusals (metrics). */
  count?: { frame(t: string, dir: 'in' | 'out'): void; refusal(code: string): void };
  now?: () => number;
}

interface Handshake {
  op: 'login' | 'enrol' | 'listen';
  session: SessionKey;
  /** The server as it was when the hello came. */
  server: ServerRecord;
  keys: HandshakeKeys;
  hello: HelloFrame;
  enrolCode?: EnrolCodeRecord;
  /** set once the challenge is sent */
  h2?: Uint8Array;
  verifying?: boolean;
}

interface Channel {
  kS: Uint8Array;
  kC: Uint8Array;
  /** next nonce counter for what the NS sends (starts at 2) */
  out: number;
  /** next nonce counter expected from the app (starts at 1) */
  in: number;
}

export class AppResponder implements AppPeer, PushTarget, TransactionTarget {
  readonly id = randomUUID();
  /** Pings out on this connection: the connection's ping number → the session's. */
  private readonly pings = new Map<number, { session: SessionKey; n: number }>();
  private pingCounter = 0;
  private handshake?: Handshake;
  private channel?: Channel;
  /** Accounts this connection has proven, per server, with the transcript h2 that proved each. */
  private readonly proven = new Map<string, Map<number, Uint8Array>>();
  private closed = false;

  constructor(
    private readonly link: Link,
    private readonly deps: ResponderDeps,
  ) {
    deps.hub.attach(this);
  }

  /** Frames are handled one after the other, each once the one before it is done. */
  private turn: Promise<void> = Promise.resolve();

  /** One WebSocket message. */
  receive(data: Uint8Array, isBinary: boolean): void {
    this.turn = this.turn.then(() => this.handle(data, isBinary));
  }

  private async handle(data: Uint8Array, isBinary: boolean): Promise<void> {
    if (this.closed) return;
    try {
      if (!isBinary) throw new NsError('BAD_FRAME', 'Frames are binary msgpack, not text');
      const frame = decodeFrame(data);
      this.count('in', frame.t);
      if (this.channel) return await this.receiveSealed(frame);
      await this.dispatch(frame, data);
    } catch (e) {
      this.refuse(e);
    }
  }

  /** The connection closed: abandon a handshake in flight. */
  closedByPeer(): void {
    if (this.closed) return;
    this.closed = true;
    this.deps.hub.detach(this);
    this.deps.push.drop(this);
  }

  private async receiveSealed(frame: Frame): Promise<void> {
    const channel = this.channel!;
    const { box } = check('sealed', frame);
    const plain = open(box, counterNonce(channel.in), channel.kC);
    if (!plain) {
      // A replayed, dropped or reordered frame: the channel is no longer trustworthy.
      this.deps.log[errors.BAD_BOX.level]({ conn: this.id, code: 'BAD_BOX' }, 'sealed frame did not open; closing');
      this.deps.count?.refusal('BAD_BOX');
      this.closedByPeer();
      this.link.close(specOf('BAD_BOX').sealed ?? 1008, 'BAD_BOX');
      return;
    }
    channel.in++;
    const inner = decodeFrame(plain);
    this.count('in', `sealed:${inner.t}`);
    await this.dispatch(inner, plain);
  }

  private dispatch(frame: Frame, bytes: Uint8Array): void | Promise<void> {
    switch (frame.t) {
      case 'hello':
        return this.onHello(frame, bytes);
      case 'proof':
        return this.onProof(frame);
      case 'decline':
        return this.onDecline(frame);
      case 'logout':
        return this.onLogout(frame);
      case 'pong':
        return this.onPong(frame);
      case 'approve':
      case 'reject':
        return this.onTransactionAnswer(frame);
      default:
        throw new NsError('BAD_MESSAGE', `Unknown frame type "${String(frame.t).slice(0, 32)}"`);
    }
  }

  private async onHello(frame: Frame, m1: Uint8Array): Promise<void> {
    if (frame.v !== PROTOCOL_VERSION) throw new NsError('UNSUPPORTED_VERSION', `Version ${String(frame.v)} is not supported; use ${PROTOCOL_VERSION}`);
    const hello = check('hello', frame);
    if (this.handshake) throw new NsError('BAD_MESSAGE', 'A handshake is already running on this connection');
    if (hello.op === 'listen' ? hello.hsid !== undefined : hello.hsid === undefined) {
      throw new NsError('BAD_MESSAGE', `hello: hsid is ${hello.op === 'listen' ? 'not taken' : 'required'} for op "${hello.op}"`);
    }
    const serverid = toB64url(hello.srv);
    const server = await this.deps.registry.servers.get(serverid);
    if (!server) throw new NsError('UNKNOWN_SERVER');
    if (hello.op === 'listen') return this.onListenHello(hello, m1, server);
    if (!hello.hsid) return;
    const session = { serverid, hsid: toB64url(hello.hsid) };
    const enrolCode = hello.op === 'enrol' ? await this.deps.registry.enrolment.usable(serverid, session.hsid, this.now()) : undefined;
    const keys = deriveKeys(m1, hello.ea);
    if (!keys) throw new NsError('BAD_MESSAGE', 'hello: ea gives an all-zero key agreement');
    this.handshake = { op: hello.op, session, server, keys, hello, ...(enrolCode ? { enrolCode } : {}) };
    this.deps.hub.hello(this, serverid, session.hsid, hello.op); // answers through accepted / refused
  }

  /** A `listen` hello runs without a session: the challenge goes out at once. */
  private onListenHello(hello: HelloFrame, m1: Uint8Array, server: ServerRecord): void {
    const keys = deriveKeys(m1, hello.ea);
    if (!keys) throw new NsError('BAD_MESSAGE', 'hello: ea gives an all-zero key agreement');
    const hs: Handshake = { op: 'listen', session: { serverid: server.serverid, hsid: '' }, server, keys, hello };
    this.handshake = hs;
    this.sendChallenge(hs);
  }

  /** A listen proof: check the account's signature, then push frames may come on this connection. */
  private async onListenProof(hs: Handshake, box: Uint8Array): Promise<void> {
    this.handshake = undefined;
    const plain = openProof(hs.keys, box);
    if (!plain) throw new NsError('BAD_BOX');
    const body = check('loginProof', decodeMapAsMessage(plain));
    const account = await checkAccountProof(this.deps.registry, hs.session.serverid, body, LABELS.listen, hs.h2!);
    this.prove(hs.session.serverid, account.id, hs.h2!);
    this.deps.push.listen(hs.session.serverid, account.id, this);
    this.deps.log.info({ conn: this.id, serverid: hs.session.serverid, acc: account.id }, 'listening for pushes');
    this.sendBytes(encodeFrame({ t: 'result', ok: true, acc: account.id }), 'result');
    this.channel ??= { kS: hs.keys.kS, kC: hs.keys.kC, out: FIRST_NS_COUNTER, in: FIRST_APP_COUNTER };
  }

  /** AppPeer: the session took the hello; send the challenge. */
  accepted(session: SessionKey): void {
    const hs = this.handshake;
    if (!hs || hs.session.hsid !== session.hsid || hs.session.serverid !== session.serverid) return;
    try {
      this.sendChallenge(hs);
    } catch (e) {
      // Never throw into the machine: answer the app, and give the session back once the
      // machine has finished the transition that called us.
      this.handshake = undefined;
      this.refuse(e);
      queueMicrotask(() => this.deps.hub.decline(this, session));
    }
  }

  private sendChallenge(hs: Handshake): void {
    const { session } = hs;
    const { registry, hub } = this.deps;
    const { server } = hs;
    const status =
      hs.op === 'listen' ? { userContext: null, number: undefined } : { ...hub.status(session.serverid, session.hsid), number: hub.pushNumber(session.serverid, session.hsid) };
    const sessioninfo = status.userContext?.sessioninfo;
    const info: Record<string, unknown> = {
      name: server.serverName,
      pinTimeout: server.pinTimeout,
      session: {
        ...(sessioninfo?.ip !== undefined ? { ip: sessioninfo.ip } : {}),
        ...(sessioninfo?.useragent !== undefined ? { ua: sessioninfo.useragent } : {}),
        ...(sessioninfo?.info !== undefined ? { info: sessioninfo.info } : {}),
      },
    };
    if (server.logo) info.logo = server.logo;
    if (status.userContext?.announceinfo) info.announce = status.userContext.announceinfo;
    if (status.number !== undefined) info.number = status.number;
    if (hs.op === 'listen') {
      info.session = {};
    }
    const code = hs.enrolCode;
    if (code) {
      info.enrol = { name: code.name, ...(code.userid !== undefined ? { userid: code.userid } : {}) };
      registry.enrolment.markScanned(code, this.now());
    }
    const { m2, h2 } = makeChallenge(hs.keys, hs.hello.srv, ed25519PrivateKey(server), info);
    hs.h2 = h2;
    this.sendBytes(m2, 'challenge');
  }

  private onProof(frame: Frame): void | Promise<void> {
    const { box } = check('proof', frame);
    const hs = this.handshake;
    if (!hs?.h2 || hs.verifying) throw new NsError('BAD_MESSAGE', 'No challenge is waiting for a proof on this connection');
    if (hs.op === 'listen') return this.onListenProof(hs, box);
    const plain = openProof(hs.keys, box);
    if (!plain) return this.deps.hub.fail(this, hs.session, 'BAD_BOX');
    let evidence: ProofEvidence;
    try {
      const body = decodeMap(plain);
      evidence = hs.op === 'login' ? { op: 'login', body: check('loginProof', body), h2: hs.h2 } : { op: 'enrol', body: check('enrolProof', body), h2: hs.h2 };
    } catch (e) {
      this.deps.log.info({ conn: this.id, code: 'BAD_MESSAGE' }, `proof refused: ${(e as Error).message}`);
      return this.deps.hub.fail(this, hs.session, 'BAD_MESSAGE');
    }
    hs.verifying = true;
    this.deps.hub.proof(this, hs.session, evidence as unknown as Record<string, unknown>);
  }

  private onDecline(frame: Frame): void {
    const { report } = check('decline', frame);
    const hs = this.handshake;
    if (!hs?.h2 || hs.verifying) throw new NsError('BAD_MESSAGE', 'No challenge to decline on this connection');
    this.handshake = undefined;
    if (hs.op !== 'listen') this.deps.hub.decline(this, hs.session, report === true);
  }

  /** AppPeer: ping the phone for a continuous session (sealed; the phone answers `pong`). */
  ping(session: SessionKey, n: number): void {
    if (!this.channel) return;
    const m = ++this.pingCounter;
    this.pings.set(m, { session, n });
    // Keep only the recent pings: an unanswered one is the session's loss, not a leak.
    if (this.pings.size > 64) this.pings.delete(this.pings.keys().next().value!);
    this.sendBytes(encodeFrame({ t: 'ping', n: m }), 'ping');
  }

  private onPong(frame: Frame): void {
    const { n } = check('pong', frame);
    const ping = this.pings.get(n);
    if (!ping) throw new NsError('BAD_MESSAGE', `No ping ${n} is waiting for a pong`);
    this.pings.delete(n);
    this.deps.hub.pong(this, ping.session, ping.n);
  }

  private prove(serverid: string, acc: number, h2: Uint8Array): void {
    let accounts = this.proven.get(serverid);
    if (!accounts) this.proven.set(serverid, (accounts = new Map()));
    accounts.set(acc, h2);
  }

  /** TransactionTarget: show a transaction to the phone. */
  transaction(content: Record<string, unknown>): void {
    if (this.channel) this.sendBytes(encodeFrame(content), 'transaction');
  }

  private async onTransactionAnswer(frame: Frame): Promise<void> {
    if (!this.channel) throw new NsError('BAD_MESSAGE', 'Transactions are answered only on a sealed channel');
    const answer = frame.t === 'approve' ? check('approve', frame) : check('reject', frame);
    const tx = this.deps.transactions.find(answer.tid);
    const proven = tx ? this.proven.get(tx.serverid) : undefined;
    if (!tx || !proven) throw new NsError('UNKNOWN_TRANSACTION');
    await this.deps.transactions.answer(
      tx.serverid,
      proven,
      answer.t === 'approve' ? { tid: answer.tid, approve: true, sig: answer.sig, sf: answer.sf } : { tid: answer.tid, approve: false },
    );
    this.sendBytes(encodeFrame({ t: 'result', ok: true, tid: answer.tid }), 'result');
  }

  /** PushTarget: a push for a session of an account this connection listens for. */
  push(content: Record<string, unknown>): void {
    if (this.channel) this.sendBytes(encodeFrame(content), 'push');
  }

  /** PushTarget: an account this connection proved was blocked or deleted. */
  deleted(_serverid: string, acc: number): void {
    if (this.channel) this.sendBytes(encodeFrame({ t: 'deleted', acc }), 'deleted');
  }

  /** AppPeer: the proof verified; send the result (and seal the connection after the first). */
  confirmed(session: SessionKey, output: VerifyOutput): void {
    const hs = this.handshake;
    if (!hs) return;
    this.handshake = undefined;
    const { server } = hs;
    this.prove(session.serverid, output.account, hs.h2!);
    this.deps.push.proved(session.serverid, output.account, this);
    const result: Record<string, unknown> = { t: 'result', ok: true, acc: output.account };
    if (hs.op === 'enrol') {
      result.box = sealEnrolResult(hs.keys, {
        acc: output.account,
        name: server.serverName,
        ...(server.logo ? { logo: server.logo } : {}),
        pinTimeout: server.pinTimeout,
        pingTime: server.pingTime,
      });
    }
    this.deps.log.info({ conn: this.id, serverid: session.serverid, acc: output.account, op: hs.op }, `${hs.op} ok`);
    this.sendBytes(encodeFrame(result), 'result');
    this.channel ??= { kS: hs.keys.kS, kC: hs.keys.kC, out: FIRST_NS_COUNTER, in: FIRST_APP_COUNTER };
  }

  /** AppPeer: the session said no (hello or proof). */
  refused(code: string): void {
    this.handshake = undefined;
    this.refuse(new NsError(isErrorCode(code) ? code : 'INTERNAL'));
  }

  private async onLogout(frame: Frame): Promise<void> {
    const { hsid } = check('logout', frame);
    if (!this.channel) throw new NsError('BAD_MESSAGE', 'logout travels only on a sealed channel');
    const id = toB64url(hsid);
    for (const [serverid, accounts] of this.proven) {
      const status = this.deps.hub.status(serverid, id);
      if (status.account !== null && accounts.has(status.account)) {
        await this.deps.hub.logout(serverid, id);
        return;
      }
    }
    throw new NsError('UNKNOWN_SESSION', 'No session logged in by this connection has that hsid');
  }

  private refuse(e: unknown): void {
    const error = e instanceof NsError ? e : new NsError('INTERNAL');
    const code: ErrorCode = error.code;
    // At the code's level; a failure that is no refusal of ours comes with its stack.
    this.deps.log[errors[code].level]({ conn: this.id, code, ...(e instanceof NsError ? {} : { err: e }) }, `app refused: ${error.message}`);
    this.deps.count?.refusal(code);
    this.sendBytes(encodeFrame({ t: 'error', code, message: error.message || errors[code].message }), 'error');
  }

  private sendBytes(bytes: Uint8Array, t: string): void {
    if (this.closed) return;
    this.count('out', t);
    if (!this.channel) return this.link.send(bytes);
    const box = seal(bytes, counterNonce(this.channel.out++), this.channel.kS);
    this.link.send(encodeFrame({ t: 'sealed', box }));
  }

  private count(dir: 'in' | 'out', t: string): void {
    this.deps.count?.frame(KNOWN_TYPES.has(t) ? t : 'other', dir);
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
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
