/**
 * Tests of the phone SDK (src/sdk/app.ts) that need no nextAuth server: QR codes and app links,
 * the SIGMA-I handshake and the sealed channel against a reference responder written here from
 * PROTOCOL.md §4 (node:crypto for X25519 / Ed25519 / SHA-512, tweetnacl only for secretbox),
 * and the key stores.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import crypto, { type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nacl from 'tweetnacl';
import { decode, encode } from '@msgpack/msgpack';
import { WebSocket, WebSocketServer } from 'ws';
import {
  AppConnection,
  MemoryKeyStore,
  Phone,
  SdkError,
  fromB64,
  fromB64url,
  parseQr,
  parseQrText,
  toB64,
  toB64url,
  type ChallengeInfo,
  type Consent,
  type PhoneOptions,
  type StoredAccount,
} from '../../src/sdk/app.ts';
import { FileKeyStore } from '../../src/sdk/file-keystore.ts';

type Frame = Record<string, unknown>;

// ───────────────────────── reference crypto (node:crypto) ─────────────────────────

const sha512 = (...parts: Uint8Array[]): Buffer => {
  const h = crypto.createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
};
const label = (s: string): Buffer => Buffer.from(s, 'ascii');
const rawPublic = (key: KeyObject): Buffer => Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url');
const okpPublic = (crv: 'X25519' | 'Ed25519', raw: Uint8Array): KeyObject =>
  crypto.createPublicKey({ key: { kty: 'OKP', crv, x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
const ed25519Verify = (pk: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean => crypto.verify(null, message, okpPublic('Ed25519', pk), sig);
/** §4.2 nonce, written independently of the SDK: 16 zero bytes || 8-byte big-endian counter. */
const counterNonce = (n: number): Buffer => {
  const nonce = Buffer.alloc(24);
  nonce.writeBigUInt64BE(BigInt(n), 16);
  return nonce;
};
const ZERO_NONCE = Buffer.alloc(24);
const ENROL_RESULT_NONCE = Buffer.concat([Buffer.alloc(23), Buffer.from([1])]);

/** Copies any bytes into a plain Uint8Array, for deepEqual. */
const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b);

// ───────────────────────── the reference responder (PROTOCOL.md §4) ─────────────────────────

/** One virtual server as the NS holds it, with knobs to misbehave. */
class RefServer {
  readonly serverid = crypto.randomBytes(16);
  readonly keys = crypto.generateKeyPairSync('ed25519');
  readonly serverpk = rawPublic(this.keys.publicKey);
  readonly appUrl = 'ws://ns.test/ns/sigmai';
  /** Ed25519 public keys of the enrolled accounts. */
  readonly accounts = new Map<number, Uint8Array>();
  nextAcc = 41;
  info: Frame = { name: 'Test server', pinTimeout: -1, session: { ip: '192.0.2.7', ua: 'Firefox' }, number: '42' };
  settings = { name: 'Test server', logo: 'data:image/png;base64,AAAA', pinTimeout: -1, pingTime: 30 };
  /** Every connection made to this server. */
  readonly connections: RefConnection[] = [];
  /** Every frame received (inner frames of sealed ones), in order. */
  readonly log: Frame[] = [];
  /** Decoded proofs P. */
  readonly proofs: Frame[] = [];

  // knobs
  signWith: KeyObject = this.keys.privateKey;
  challengeSrv: Uint8Array | undefined;
  answerHello = true;
  failProof: { code: string; message: string } | undefined;
  afterResult: ((conn: RefConnection) => void) | undefined;

  loginQr(hsid: Uint8Array = crypto.randomBytes(32)): Uint8Array {
    return encode([1, 'login', this.serverid, hsid, this.appUrl]);
  }

  enrolQr(hsid: Uint8Array = crypto.randomBytes(32), userid: string | null = 'alice'): Uint8Array {
    return encode([1, 'enrol', this.serverid, hsid, this.appUrl, this.serverpk, 'Test server', userid]);
  }
}

/** What a RefConnection needs of its socket. */
interface Transport {
  send(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
}

/** The NS end of one app-channel connection, following §4.1 and §4.2 step by step. */
class RefConnection {
  /** kS / kC of the first completed handshake, once there is one. */
  sealedKeys: { kS: Uint8Array; kC: Uint8Array } | undefined;
  sendCounter = 2;
  receiveCounter = 1;
  /** Counters of the sealed frames received, in order. */
  readonly receivedCounters: number[] = [];
  /** Sealed frames sent, as sent (for replays). */
  readonly sentSealed: Uint8Array[] = [];
  closedWith: number | undefined;
  handshake: { op: string; h2: Buffer; kS: Uint8Array; kC: Uint8Array } | undefined;

  constructor(
    readonly server: RefServer,
    readonly transport: Transport,
  ) {
    server.connections.push(this);
  }

  /** One binary message from the app. */
  receive(bytes: Uint8Array): void {
    if (!this.sealedKeys) return this.#handle(bytes);
    const outer = decode(bytes) as Frame;
    const inner = outer.t === 'sealed' && outer.box instanceof Uint8Array ? nacl.secretbox.open(outer.box, counterNonce(this.receiveCounter), this.sealedKeys.kC) : null;
    if (!inner) return this.close(1008, 'sealed frame does not open');
    this.receivedCounters.push(this.receiveCounter++);
    this.#handle(inner);
  }

  /** Sends one map (its exact encoded bytes), sealed with kS once the channel is sealed. Returns the plaintext bytes. */
  sendMap(map: Frame): Uint8Array {
    const bytes = encode(map);
    if (!this.sealedKeys) {
      this.transport.send(bytes);
      return bytes;
    }
    const box = nacl.secretbox(bytes, counterNonce(this.sendCounter++), this.sealedKeys.kS);
    const sealed = encode({ t: 'sealed', box });
    this.sentSealed.push(sealed);
    this.transport.send(sealed);
    return bytes;
  }

  close(code: number, reason: string): void {
    this.closedWith = code;
    this.transport.close(code, reason);
  }

  #handle(bytes: Uint8Array): void {
    const frame = decode(bytes) as Frame;
    this.server.log.push(frame);
    if (frame.t === 'hello') this.#onHello(bytes, frame);
    else if (frame.t === 'proof') this.#onProof(frame);
  }

  /** §4.1 steps 2–3: the challenge. M1 is the exact bytes of the hello (inner bytes when sealed). */
  #onHello(m1: Uint8Array, hello: Frame): void {
    const s = this.server;
    assert.is(hello.v, 1);
    assert.ok(['login', 'enrol', 'listen'].includes(hello.op as string));
    assert.equal(u8(hello.srv as Uint8Array), u8(s.serverid));
    assert.is(hello.hsid === undefined, hello.op === 'listen', 'listen has no hsid, the others do');
    assert.is((hello.ea as Uint8Array).length, 32);
    assert.is((hello.na as Uint8Array).length, 32);
    if (!s.answerHello) return;

    const es = crypto.generateKeyPairSync('x25519');
    const esPublic = rawPublic(es.publicKey);
    const ns = crypto.randomBytes(32);
    const dh = crypto.diffieHellman({ privateKey: es.privateKey, publicKey: okpPublic('X25519', hello.ea as Uint8Array) });
    const h1 = sha512(m1, esPublic, ns);
    const k = sha512(label('nextauth/sigma/1'), dh, h1);
    const kS = k.subarray(0, 32);
    const kC = k.subarray(32, 64);
    const sigS = crypto.sign(null, Buffer.concat([label('nextauth/server'), h1]), s.signWith);
    const box = nacl.secretbox(encode({ srv: s.challengeSrv ?? s.serverid, sig: sigS, info: s.info }), ZERO_NONCE, kS);
    const m2 = this.sendMap({ t: 'challenge', es: esPublic, ns, box });
    this.handshake = { op: hello.op as string, h2: sha512(h1, m2), kS, kC };
  }

  /** §4.1 steps 5–6: checks the proof, answers the result, seals the channel after the first. */
  #onProof(frame: Frame): void {
    const s = this.server;
    const hs = this.handshake;
    assert.ok(hs, 'proof without a challenge');
    this.handshake = undefined;
    const opened = nacl.secretbox.open(frame.box as Uint8Array, ZERO_NONCE, hs.kC);
    if (!opened) return void this.sendMap({ t: 'error', code: 'BAD_BOX', message: 'box does not open' });
    const p = decode(opened) as Frame;
    s.proofs.push(p);
    if (s.failProof) return void this.sendMap({ t: 'error', ...s.failProof });

    let acc: number;
    let box: Uint8Array | undefined;
    if (hs.op === 'enrol') {
      const pk = p.pk as Uint8Array;
      if (!ed25519Verify(pk, Buffer.concat([label('nextauth/enrol'), hs.h2]), p.sig as Uint8Array)) {
        return void this.sendMap({ t: 'error', code: 'BAD_SIGNATURE', message: 'enrol signature' });
      }
      acc = s.nextAcc++;
      s.accounts.set(acc, pk);
      box = nacl.secretbox(encode({ acc, ...s.settings }), ENROL_RESULT_NONCE, hs.kS);
    } else {
      acc = p.acc as number;
      const pk = s.accounts.get(acc);
      if (!pk) return void this.sendMap({ t: 'error', code: 'UNKNOWN_ACCOUNT', message: 'no such account' });
      if (!ed25519Verify(pk, Buffer.concat([label(`nextauth/${hs.op}`), hs.h2]), p.sig as Uint8Array)) {
        return void this.sendMap({ t: 'error', code: 'BAD_SIGNATURE', message: 'signature does not verify' });
      }
    }
    this.sendMap({ t: 'result', ok: true, acc, ...(box ? { box } : {}) });
    this.sealedKeys ??= { kS: hs.kS, kC: hs.kC };
    s.afterResult?.(this);
  }
}

/**
 * A WebSocket class (browser API) whose far end is a RefConnection in this process. Messages
 * the NS sends in one go arrive in one go, so a sealed frame right behind a result is tested.
 */
function fakeWebSocket(server: RefServer, dataAs: 'arraybuffer' | 'buffer' = 'arraybuffer') {
  return class FakeWebSocket {
    binaryType = 'blob';
    readyState = 0;
    onopen: ((event: unknown) => void) | null = null;
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onclose: ((event: { code: number; reason: string }) => void) | null = null;
    onerror: ((event: unknown) => void) | null = null;
    readonly url: string;
    #outbox: Uint8Array[] = [];
    #ns: RefConnection;

    constructor(url: string) {
      this.url = url;
      this.#ns = new RefConnection(server, {
        send: (bytes) => this.#fromServer(bytes),
        close: (code, reason) => this.#closed(code, reason),
      });
      setImmediate(() => {
        this.readyState = 1;
        this.onopen?.({});
      });
    }

    send(data: Uint8Array | string): void {
      assert.is(this.readyState, 1, 'send on an open socket');
      assert.is(this.binaryType, 'arraybuffer', 'the SDK asks for ArrayBuffers');
      if (typeof data === 'string') return;
      const copy = u8(data);
      setImmediate(() => this.#ns.receive(copy)); // like TCP: what was sent before close() arrives
    }

    close(code = 1005, reason = ''): void {
      this.#closed(code, reason);
    }

    #fromServer(bytes: Uint8Array): void {
      if (this.#outbox.push(u8(bytes)) > 1) return;
      setImmediate(() => {
        for (const b of this.#outbox.splice(0)) {
          if (this.readyState !== 1) return;
          const data = dataAs === 'buffer' ? Buffer.from(b) : b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
          this.onmessage?.({ data });
        }
      });
    }

    #closed(code: number, reason: string): void {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.#ns.closedWith ??= code;
      setImmediate(() => this.onclose?.({ code, reason }));
    }
  };
}

function phoneFor(server: RefServer, opts: Partial<PhoneOptions> = {}): { phone: Phone; keystore: MemoryKeyStore } {
  const keystore = new MemoryKeyStore();
  return { phone: new Phone({ keystore, WebSocket: fakeWebSocket(server), timeoutMs: 2000, ...opts }), keystore };
}

/** A phone with one account enrolled on `server`. */
async function enrolled(server: RefServer, opts: Partial<PhoneOptions> = {}): Promise<{ phone: Phone; keystore: MemoryKeyStore; account: StoredAccount }> {
  const { phone, keystore } = phoneFor(server, opts);
  const { account } = await phone.enrol(server.enrolQr());
  return { phone, keystore, account };
}

async function rejects(promise: Promise<unknown>, code: string): Promise<SdkError> {
  try {
    await promise;
  } catch (e) {
    assert.instance(e, SdkError);
    assert.is((e as SdkError).code, code, (e as Error).message);
    return e as SdkError;
  }
  throw new assert.Assertion({ message: `expected SdkError ${code}`, operator: 'rejects', expects: code, actual: 'resolved' });
}

/** Waits (a few event-loop turns at most) for `cond`. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

// ───────────────────────── bytes ─────────────────────────

test('base64 and base64url helpers agree with Buffer for every length', () => {
  for (let n = 0; n < 70; n++) {
    const bytes = u8(crypto.randomBytes(n));
    const b64 = Buffer.from(bytes).toString('base64');
    const b64url = Buffer.from(bytes).toString('base64url');
    assert.is(toB64(bytes), b64);
    assert.is(toB64url(bytes), b64url);
    assert.equal(fromB64(b64), bytes);
    assert.equal(fromB64(b64.replace(/=+$/, '')), bytes);
    assert.equal(fromB64url(b64url), bytes);
  }
});

test('base64 decoders reject foreign characters and impossible lengths', () => {
  assert.throws(() => fromB64url('ab+c'));
  assert.throws(() => fromB64url('ab c'));
  assert.throws(() => fromB64('ab_c'));
  assert.throws(() => fromB64('abcde'));
  assert.throws(() => fromB64('ab=c'));
  assert.throws(() => fromB64('abc=='));
});

// ───────────────────────── QR codes and app links ─────────────────────────

const srv = u8(crypto.randomBytes(16));
const hsid = u8(crypto.randomBytes(32));
const serverpk = u8(crypto.randomBytes(32));
const loginBytes = encode([1, 'login', srv, hsid, 'wss://auth.example.com/ns/sigmai']);
const enrolBytes = (userid: string | null): Uint8Array => encode([1, 'enrol', srv, hsid, 'ws://127.0.0.1:8080/ns/sigmai', serverpk, 'Example', userid]);

test('parseQr reads a login code', () => {
  assert.equal(parseQr(loginBytes), { v: 1, op: 'login', srv, hsid, appUrl: 'wss://auth.example.com/ns/sigmai' });
  assert.equal(parseQr(Buffer.from(loginBytes)), parseQr(loginBytes), 'a Buffer works too');
});

test('parseQr reads an enrol code, with and without userid', () => {
  const common = { v: 1, op: 'enrol', srv, hsid, appUrl: 'ws://127.0.0.1:8080/ns/sigmai', serverpk, name: 'Example' };
  assert.equal(parseQr(enrolBytes('alice')), { ...common, userid: 'alice' });
  assert.equal(parseQr(enrolBytes(null)), { ...common, userid: null });
});

test('parseQr rejects malformed bytes with BAD_QR', () => {
  const url = 'ws://h/ns/sigmai';
  const bad: [string, Uint8Array][] = [
    ['empty', new Uint8Array()],
    ['not msgpack', new Uint8Array([0xc1])],
    ['truncated', loginBytes.subarray(0, loginBytes.length - 3)],
    ['trailing byte', Uint8Array.from([...loginBytes, 0])],
    ['a map', encode({ v: 1, op: 'login' })],
    ['a string', encode('hello')],
    ['version 2', encode([2, 'login', srv, hsid, url])],
    ['unknown op', encode([1, 'listen', srv, hsid, url])],
    ['short serverid', encode([1, 'login', srv.subarray(1), hsid, url])],
    ['serverid as text', encode([1, 'login', toB64url(srv), hsid, url])],
    ['short hsid', encode([1, 'login', srv, hsid.subarray(0, 31), url])],
    ['appUrl missing', encode([1, 'login', srv, hsid])],
    ['appUrl not a string', encode([1, 'login', srv, hsid, 5])],
    ['appUrl not ws', encode([1, 'login', srv, hsid, 'https://h/'])],
    ['login with extra element', encode([1, 'login', srv, hsid, url, 'x'])],
    ['enrol without userid', encode([1, 'enrol', srv, hsid, url, serverpk, 'n'])],
    ['enrol short serverpk', encode([1, 'enrol', srv, hsid, url, serverpk.subarray(1), 'n', null])],
    ['enrol name not a string', encode([1, 'enrol', srv, hsid, url, serverpk, 7, null])],
    ['enrol userid a number', encode([1, 'enrol', srv, hsid, url, serverpk, 'n', 3])],
  ];
  for (const [what, bytes] of bad) {
    try {
      parseQr(bytes);
      assert.unreachable(what);
    } catch (e) {
      assert.instance(e, SdkError, what);
      assert.is((e as SdkError).code, 'BAD_QR', what);
    }
  }
});

test('parseQrText takes base64, base64url and app links', () => {
  const expected = parseQr(enrolBytes('bob'));
  const bytes = enrolBytes('bob');
  const b64url = Buffer.from(bytes).toString('base64url');
  for (const text of [
    Buffer.from(bytes).toString('base64'),
    Buffer.from(bytes).toString('base64').replace(/=+$/, ''),
    b64url,
    `  ${b64url}\n`,
    `nextauth:?qr=${b64url}`,
    `https://app.example.com/login?x=1&qr=${b64url}#top`,
    `nextauth:?qr=${encodeURIComponent(Buffer.from(bytes).toString('base64'))}`,
  ]) {
    assert.equal(parseQrText(text), expected, text);
  }
});

test('parseQrText rejects garbage and links without a code', () => {
  for (const text of ['', 'not base64!', 'nextauth:?qr=%zz', 'nextauth:?qr=', 'nextauth:?code=abc', toB64url(encode([1]))]) {
    try {
      parseQrText(text);
      assert.unreachable(text);
    } catch (e) {
      assert.is((e as SdkError).code, 'BAD_QR', text);
    }
  }
});

// ───────────────────────── the handshake (§4.1) ─────────────────────────

test('enrol: the reference NS verifies the enrol proof and the phone stores the account', async () => {
  const server = new RefServer();
  const seen: [ChallengeInfo, string][] = [];
  const { phone, keystore } = phoneFor(server, {
    consent: (info, op) => (seen.push([info, op]), { accept: true, sf: 'pin' }),
    clientVersion: 'test-client/9',
  });
  const { acc, account, info } = await phone.enrol(toB64(server.enrolQr()), { description: 'my phone' });

  assert.is(acc, 41);
  assert.is(info.name, 'Test server');
  assert.is(info.number, '42');
  assert.equal(info.session, { ip: '192.0.2.7', ua: 'Firefox' });
  assert.is(seen.length, 1);
  assert.is(seen[0][1], 'enrol');

  const [p] = server.proofs;
  assert.is(p.name, 'my phone');
  assert.is(p.client, 'test-client/9');
  assert.is(p.sf, 'pin');
  const secretKey = fromB64url(account.secretKey);
  assert.equal(u8(p.pk as Uint8Array), nacl.sign.keyPair.fromSecretKey(secretKey).publicKey);
  assert.equal(u8(p.pkx as Uint8Array), nacl.box.keyPair.fromSecretKey(fromB64url(account.boxSecretKey)).publicKey);
  assert.equal(u8(server.accounts.get(41)!), u8(p.pk as Uint8Array));

  assert.equal(account, {
    serverid: toB64url(server.serverid),
    serverpk: toB64url(server.serverpk),
    acc: 41,
    secretKey: account.secretKey,
    boxSecretKey: account.boxSecretKey,
    name: 'Test server',
    appUrl: server.appUrl,
    pinTimeout: -1,
    pingTime: 30,
    logo: 'data:image/png;base64,AAAA',
    userid: 'alice',
  });
  assert.equal(await keystore.list(), [account]);
  await until(() => server.connections[0].closedWith !== undefined, 'the enrol connection to close');
});

test('enrol sends the QR name when there is no description, and rejects a login code', async () => {
  const server = new RefServer();
  const { phone } = phoneFor(server);
  await phone.enrol(parseQr(server.enrolQr(undefined, null)));
  assert.is(server.proofs[0].name, 'Test server');
  assert.is(server.proofs[0].sf, 'none');
  await rejects(phone.enrol(server.loginQr()), 'BAD_QR');
});

test('login: the reference NS verifies "nextauth/login" || h2 and the connection is sealed', async () => {
  const server = new RefServer();
  const seen: string[] = [];
  const { phone } = await enrolled(server, { consent: (info, op) => (seen.push(`${op}:${info.name}`), { accept: true, sf: 'biometric', input: 'hi' }) });
  const { acc, info, connection } = await phone.login(server.loginQr());
  assert.is(acc, 41);
  assert.is(info.name, 'Test server');
  assert.equal(seen, ['enrol:Test server', 'login:Test server']);
  assert.equal(server.proofs[1], { acc: 41, sig: server.proofs[1].sig, sf: 'biometric', input: 'hi' });
  assert.ok(connection.sealed);
  connection.close();
  assert.is((await connection.closed).code, 1000);
});

test('login with a custom (async) signer', async () => {
  const server = new RefServer();
  let signed = 0;
  const { phone } = await enrolled(server, {
    signer: (account) => {
      const key = fromB64url(account.secretKey);
      return { publicKey: key.subarray(32), sign: async (m) => (signed++, nacl.sign.detached(m, key)) };
    },
  });
  const { connection } = await phone.login(server.loginQr());
  assert.is(signed, 1);
  connection.close();
});

test('login picks opts.acc among several accounts of one server', async () => {
  const server = new RefServer();
  const { phone, keystore } = await enrolled(server);
  await phone.enrol(server.enrolQr());
  assert.equal(
    (await keystore.find(toB64url(server.serverid))).map((a) => a.acc),
    [41, 42],
  );
  const first = await phone.login(server.loginQr());
  assert.is(first.acc, 41);
  const second = await phone.login(server.loginQr(), { acc: 42 });
  assert.is(second.acc, 42);
  first.connection.close();
  second.connection.close();
  await rejects(phone.login(server.loginQr(), { acc: 7 }), 'NO_ACCOUNT');
});

test('login without an account for the server is NO_ACCOUNT', async () => {
  const server = new RefServer();
  const { phone } = phoneFor(server);
  await rejects(phone.login(server.loginQr()), 'NO_ACCOUNT');
  await rejects(phone.login(encode([1, 'enrol', server.serverid, hsid, server.appUrl, serverpk, 'x', null])), 'BAD_QR');
});

test('a challenge signed by another key than the pinned one is BAD_SERVER_SIGNATURE', async () => {
  const server = new RefServer();
  const { phone } = await enrolled(server);
  server.signWith = crypto.generateKeyPairSync('ed25519').privateKey;
  await rejects(phone.login(server.loginQr()), 'BAD_SERVER_SIGNATURE');
  assert.is(server.proofs.length, 1, 'no login proof was sent');
  await rejects(phoneFor(server).phone.enrol(server.enrolQr()), 'BAD_SERVER_SIGNATURE');
});

test('a challenge naming another server is BAD_SERVER_SIGNATURE', async () => {
  const server = new RefServer();
  const { phone } = await enrolled(server);
  server.challengeSrv = crypto.randomBytes(16);
  await rejects(phone.login(server.loginQr()), 'BAD_SERVER_SIGNATURE');
});

test('a refused consent sends decline and is DECLINED', async () => {
  const server = new RefServer();
  let answer: Consent = { accept: true };
  const { phone } = await enrolled(server, { consent: () => answer });
  answer = { accept: false };
  await rejects(phone.login(server.loginQr()), 'DECLINED');
  await until(() => server.log.some((f) => f.t === 'decline'), 'the decline');
  assert.equal(
    server.log.map((f) => f.t),
    ['hello', 'proof', 'hello', 'decline'],
  );
});

test('an error answer of the NS rejects with its code and message', async () => {
  const server = new RefServer();
  const { phone } = await enrolled(server);
  server.failProof = { code: 'BAD_SIGNATURE', message: 'nope' };
  const error = await rejects(phone.login(server.loginQr()), 'BAD_SIGNATURE');
  assert.is(error.message, 'nope');
});

test('a silent NS is TIMEOUT', async () => {
  const server = new RefServer();
  const { phone } = await enrolled(server, { timeoutMs: 50 });
  server.answerHello = false;
  await rejects(phone.login(server.loginQr()), 'TIMEOUT');
});

test('frames that are not msgpack maps are BAD_FRAME', async () => {
  const server = new RefServer();
  const connection = await phoneFor(server).phone.connect(server.appUrl);
  const ns = server.connections[0];
  ns.transport.send(encode([1, 2]));
  ns.transport.send(new Uint8Array([0xc1]));
  ns.transport.send(encode({ t: 'challenge' }));
  await rejects(connection.next(), 'BAD_FRAME');
  await rejects(connection.next(), 'BAD_FRAME');
  assert.equal(await connection.next(), { t: 'challenge' });
  await rejects(connection.next(20), 'TIMEOUT');
  connection.close();
  await rejects(connection.next(), 'CLOSED');
});

test('Buffer messages (Node `ws` without binaryType) work as well as ArrayBuffers', async () => {
  const server = new RefServer();
  const keystore = new MemoryKeyStore();
  const phone = new Phone({ keystore, WebSocket: fakeWebSocket(server, 'buffer') });
  await phone.enrol(server.enrolQr());
  const { connection } = await phone.login(server.loginQr());
  connection.close();
});

// ───────────────────────── the sealed channel (§4.2) ─────────────────────────

test('after the first handshake: NS seals with kS from 2, the app with kC from 1', async () => {
  const server = new RefServer();
  const { phone } = await enrolled(server);
  // The NS pings in the same burst as the result: the SDK must already be sealed for it.
  server.afterResult = (ns) => void ns.sendMap({ t: 'ping', n: 7 });
  const pings: Frame[] = [];
  const { connection } = await phone.login(server.loginQr());
  connection.on('ping', (f) => pings.push(f));
  const ns = server.connections[1];
  await until(() => server.log.some((f) => f.t === 'pong'), 'the pong');
  assert.equal(server.log.at(-1), { t: 'pong', n: 7 });
  assert.equal(ns.receivedCounters, [1], 'the pong is sealed with counter 1');
  assert.is(ns.sendCounter, 3, 'the ping was sealed with counter 2');

  server.afterResult = undefined;
  ns.sendMap({ t: 'ping', n: 8 });
  ns.sendMap({ t: 'deleted', acc: 99 });
  assert.equal(await connection.next(), { t: 'deleted', acc: 99 }, 'pings are not queued');
  assert.equal(pings, [{ t: 'ping', n: 8 }]);

  const logoutHsid = u8(crypto.randomBytes(32));
  connection.logout(logoutHsid);
  await until(() => ns.receivedCounters.length === 3, 'the logout');
  assert.equal(ns.receivedCounters, [1, 2, 3]);
  assert.equal(server.log.at(-1), { t: 'logout', hsid: logoutHsid });
  connection.close();
});

test('a second handshake runs inside sealed frames and keeps the first keys', async () => {
  const server = new RefServer();
  const { phone } = await enrolled(server);
  const { connection } = await phone.login(server.loginQr());
  const ns = server.connections[1];
  const firstKeys = ns.sealedKeys;

  const again = await phone.login(server.loginQr(), { connection });
  assert.is(again.connection, connection);
  assert.is(ns.sealedKeys, firstKeys);
  assert.equal(ns.receivedCounters, [1, 2], 'hello and proof were sealed');
  assert.is(ns.sendCounter, 4, 'challenge and result were sealed');
  assert.is(server.connections.length, 2, 'no new connection');

  ns.sendMap({ t: 'push', hsid: u8(hsid), srv: u8(server.serverid), info: {} });
  assert.is((await connection.next()).t, 'push');
  connection.close();
});

test('listen: "nextauth/listen" handshake, then pushes reach on("push")', async () => {
  const server = new RefServer();
  const { phone } = await enrolled(server);
  const { connection, acc } = await phone.listen(toB64url(server.serverid));
  assert.is(acc, 41);
  assert.is(server.log.at(-2)?.op, 'listen');
  const pushed = new Promise<Frame>((resolve) => connection.on('push', resolve));
  server.connections[1].sendMap({ t: 'push', hsid: u8(hsid), srv: u8(server.serverid), info: { ua: 'x' } });
  assert.equal((await pushed).info, { ua: 'x' });
  connection.close();
});

test('a replayed sealed frame closes the connection', async () => {
  const server = new RefServer();
  const { phone } = await enrolled(server);
  const { connection } = await phone.login(server.loginQr());
  const ns = server.connections[1];
  ns.sendMap({ t: 'deleted', acc: 1 });
  assert.equal(await connection.next(), { t: 'deleted', acc: 1 });
  ns.transport.send(ns.sentSealed[0]);
  const waiting = rejects(connection.next(), 'CLOSED');
  assert.is((await connection.closed).code, 1008);
  await waiting;
  assert.throws(
    () => connection.send({ t: 'pong', n: 1 }),
    (e: SdkError) => e.code === 'CLOSED',
  );
});

test('a dropped sealed frame (counter skipped) closes the connection', async () => {
  const server = new RefServer();
  const { phone } = await enrolled(server);
  const { connection } = await phone.login(server.loginQr());
  const ns = server.connections[1];
  ns.sendCounter++;
  ns.sendMap({ t: 'deleted', acc: 1 });
  assert.is((await connection.closed).code, 1008);
});

test('an unsealed frame on a sealed channel closes it; an unsealed error is passed on', async () => {
  const server = new RefServer();
  const { phone } = await enrolled(server);
  const { connection } = await phone.login(server.loginQr());
  const ns = server.connections[1];
  ns.transport.send(encode({ t: 'error', code: 'BAD_FRAME', message: 'x' }));
  assert.equal(await connection.next(), { t: 'error', code: 'BAD_FRAME', message: 'x' });
  ns.transport.send(encode({ t: 'deleted', acc: 1 }));
  assert.is((await connection.closed).code, 1008);
});

test('sendRaw sends exactly the given bytes, unsealed', async () => {
  const server = new RefServer();
  const connection = await phoneFor(server).phone.connect(server.appUrl);
  connection.sendRaw(encode({ t: 'decline' }));
  await until(() => server.log.length === 1, 'the raw frame');
  assert.equal(server.log, [{ t: 'decline' }]);
  connection.close();
});

test('over a real `ws` socket: enrol, login, ping/pong', async () => {
  const server = new RefServer();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws) => {
    const ns = new RefConnection(server, { send: (b) => ws.send(b), close: (c, r) => ws.close(c, r) });
    ws.on('message', (data: Buffer) => ns.receive(u8(data)));
  });
  const { port } = wss.address() as { port: number };
  const appUrl = `ws://127.0.0.1:${port}/ns/sigmai`;
  const phone = new Phone({ keystore: new MemoryKeyStore(), WebSocket });
  await phone.enrol(encode([1, 'enrol', server.serverid, hsid, appUrl, server.serverpk, 'S', null]));
  server.afterResult = (ns) => void ns.sendMap({ t: 'ping', n: 1 });
  const { connection } = await phone.login(encode([1, 'login', server.serverid, hsid, appUrl]));
  await until(() => server.log.some((f) => f.t === 'pong'), 'the pong');
  connection.close();
  await connection.closed;
  await rejects(phone.connect('ws://127.0.0.1:1/'), 'CLOSED');
  await new Promise((r) => wss.close(r));
});

test('connect without any WebSocket class fails clearly', async () => {
  const hadWebSocket = 'WebSocket' in globalThis;
  if (hadWebSocket) return; // Node 22+: the global one would be used
  try {
    await AppConnection.open('ws://127.0.0.1:1/');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, TypeError);
  }
});

// ───────────────────────── key stores ─────────────────────────

const account = (serverid: string, acc: number, name = 'S'): StoredAccount => ({
  serverid,
  serverpk: toB64url(serverpk),
  acc,
  secretKey: toB64url(nacl.sign.keyPair().secretKey),
  boxSecretKey: toB64url(nacl.box.keyPair().secretKey),
  name,
  appUrl: 'ws://h/ns/sigmai',
  pinTimeout: -1,
  pingTime: 0,
});

/** The KeyStore contract, for any implementation. */
async function checkKeyStore(store: MemoryKeyStore | FileKeyStore): Promise<void> {
  assert.equal(await store.list(), []);
  const a1 = account('AAAA', 1);
  const a2 = account('AAAA', 2);
  const b1 = account('BBBB', 1);
  await store.put(a1);
  await store.put(b1);
  await store.put(a2);
  assert.equal(await store.list(), [a1, b1, a2]);
  assert.equal(await store.find('AAAA'), [a1, a2]);
  assert.equal(await store.find('CCCC'), []);

  const renamed = { ...a1, name: 'renamed' };
  await store.put(renamed);
  assert.equal(await store.list(), [renamed, b1, a2], 'put replaces (serverid, acc) in place');

  (await store.list())[0].name = 'mutated';
  assert.is((await store.list())[0].name, 'renamed', 'list hands out copies');

  await store.remove('AAAA', 1);
  await store.remove('AAAA', 99);
  assert.equal(await store.list(), [b1, a2]);
}

test('MemoryKeyStore keeps accounts by (serverid, acc)', async () => {
  await checkKeyStore(new MemoryKeyStore());
  const initial = account('X', 1);
  assert.equal(await new MemoryKeyStore([initial]).list(), [initial]);
});

test('FileKeyStore: same contract, persists, mode 0600, atomic writes', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nextauth-keys-'));
  try {
    const file = path.join(dir, 'sub', 'keys.json');
    const store = new FileKeyStore(file);
    await checkKeyStore(store);
    assert.is((await fs.stat(file)).mode & 0o777, 0o600);
    assert.equal(await new FileKeyStore(file).list(), await store.list(), 'a second store reads the same file');

    await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(account('CCCC', i))));
    assert.is((await store.find('CCCC')).length, 20, 'concurrent puts are all kept');
    assert.equal(await fs.readdir(path.dirname(file)), ['keys.json'], 'no temp file is left');
    assert.is((await fs.stat(file)).mode & 0o777, 0o600);

    await fs.chmod(file, 0o644);
    await store.put(account('DDDD', 1));
    assert.is((await fs.stat(file)).mode & 0o777, 0o600, 'a rewrite restores 0600');

    await fs.writeFile(file, '{"not":"keys"}');
    try {
      await store.list();
      assert.unreachable('a damaged file is an error');
    } catch (e) {
      assert.match((e as Error).message, 'not a nextAuth key file');
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a Phone stores its enrolled account in a FileKeyStore and logs in from it', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nextauth-keys-'));
  try {
    const server = new RefServer();
    const file = path.join(dir, 'keys.json');
    await new Phone({ keystore: new FileKeyStore(file), WebSocket: fakeWebSocket(server) }).enrol(server.enrolQr());
    const phone = new Phone({ keystore: new FileKeyStore(file), WebSocket: fakeWebSocket(server) });
    const { connection } = await phone.login(server.loginQr());
    assert.ok(connection.sealed);
    connection.close();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test.run();
