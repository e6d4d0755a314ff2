/**
 * The app channel's property-based fuzzer (PROTOCOL.md §4, §7; DESIGN.md "Testing"), shared by
 * `test/fuzz/app-channel.test.ts` (a seeded run of ≥ 10,000 frames in `npm test`) and
 * `npm run fuzz -- --frames N --seed S` (scripts/fuzz.ts, the long form).
 *
 * It runs against a real NS on 127.0.0.1 over real WebSockets (the test: `startTestServer` in its
 * own process; the script: `nextauth start` as a child process, test/helpers/child.ts) after a real setup
 * (`prepare`): a server with an enrolled account, a session that waits for a login (W), one on a
 * second server (W2), one logged in (L), one whose enrol code was used (E). The phone SDK makes
 * the setup and, through a recording socket, the corpus of real frames it sends (hello, proof,
 * decline of each operation; a sealed frame). Then each generated case is one connection, from
 * one of several source addresses (127.0.0.2, 127.0.1.1, …):
 * - a plain case sends its steps as they are: random bytes, text frames (UTF-8 or not), msgpack
 *   written token by token, msgpack values, corpus frames with bytes flipped / inserted / deleted
 *   or with fields changed, fresh hellos for the sessions above (with changes), proofs sealed with
 *   the running handshake's keys (or the wrong ones) holding changed or random bodies, declines,
 *   maps near the 16 KiB limit;
 * - a sealed case first completes a real `listen` handshake (the account's key: it proves an
 *   account and changes no record), so the connection is sealed (§4.2), then sends the same steps
 *   as inner maps, each sealed with the right counter or with a wrong one, a tampered box, the
 *   wrong key, replayed, bare, or in an outer map with changed fields.
 *
 * Each frame has an expected outcome, checked as it comes: a frame the NS can read is answered
 * (an `error` frame, a challenge, …; a `decline` may be silent, which a probe frame settles);
 * a frame over 16 KiB closes with 1009; on a sealed connection anything that is not a sealed frame
 * opening with the next counter closes with 1008, and a frame that opens never closes it. Every
 * error code must be one the error table (src/wire/errors.ts) lets the app channel answer AND one
 * docs/errors.md documents for it; every close code must be one the table gives (`app` or
 * `sealed`), with a reason the table allows; never INTERNAL; no handshake of the fuzzer completes;
 * no sealed frame of the NS fails to open. A case that breaks a rule fails the property, and
 * fast-check shrinks it to a small reproducer (kept in REPRODUCERS once fixed). At the end
 * (`verifyAfter`): the records are what they were (the whole store in the test; servers, users and
 * accounts over REST for a child), W and W2 still wait (a browser watching W never heard LOGIN), L
 * is still logged in, the NS counted no INTERNAL refusal, and a real login of W works.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { agreeX25519, ed25519PrivateKey, generateX25519, sha512, signEd25519, type X25519Pair } from '../../src/core/crypto/keys.ts';
import { fromB64url, toB64url } from '../../src/wire/base64url.ts';
import { errors } from '../../src/wire/errors.ts';
import { check, decodeFrame, MAX_FRAME_BYTES } from '../../src/wire/frames.ts';
import { LABELS } from '../../src/wire/labels.ts';
import { decodeMsgpack } from '../../src/wire/msgpack.ts';
import { counterNonce, FIRST_APP_COUNTER, FIRST_NS_COUNTER, HANDSHAKE_NONCE } from '../../src/wire/nonces.ts';
import { open, seal } from '../../src/wire/secretbox.ts';
import type { StoredAccount } from '../../src/sdk/app.ts';
import type { TestServer } from '../helpers/ns.ts';
import { codeOf, getSession, newNonce, newPhone, qr, tamperingSocket, TextBrowser, until } from '../helpers/peers.ts';
import { encodeValue, FRAME_FIELDS, FRAME_TYPES, frameLikeArb, keyArb, mpBytesArb, scalarArb, valueArb, writeMp, type MpBytes } from './msgpack-arbitraries.ts';

// ───────────────────────────── what may come back ─────────────────────────────

/** Codes the error table lets the app channel answer with an error frame (INTERNAL never may). */
export const TABLE_ANSWER_CODES: ReadonlySet<string> = new Set(
  Object.entries(errors)
    .filter(([code, spec]) => spec.app === 'error' && code !== 'INTERNAL')
    .map(([code]) => code),
);

/** Close codes of the error table (`app` and `sealed`), each with the codes that may be its reason. */
export const TABLE_CLOSES: ReadonlyMap<number, ReadonlySet<string>> = (() => {
  const closes = new Map<number, Set<string>>();
  for (const [code, spec] of Object.entries(errors) as [string, { app: unknown; sealed?: number }][]) {
    for (const n of [spec.app, spec.sealed]) if (typeof n === 'number') closes.set(n, (closes.get(n) ?? new Set()).add(code));
  }
  return closes;
})();

/** What docs/errors.md says the app channel does with each code: `error frame`, `close N`, `sealed: close N`. */
function documentedAppBehaviour(): { answers: Set<string>; closes: Map<number, Set<string>> } {
  const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/errors.md');
  const answers = new Set<string>();
  const closes = new Map<number, Set<string>>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\|\s*`([A-Z_]+)`\s*\|[^|]*\|([^|]*)\|/.exec(line);
    if (!m) continue;
    const [, code, app] = m as unknown as [string, string, string];
    if (app.includes('error frame')) answers.add(code);
    for (const c of app.matchAll(/close (\d+)/g)) closes.set(Number(c[1]), (closes.get(Number(c[1])) ?? new Set()).add(code));
  }
  return { answers, closes };
}
export const DOCUMENTED = documentedAppBehaviour();

/** A close the NS made: its code is the table's and the docs', its reason a code the table gives that close (or `ws`'s own words for a frame over the limit, which `ws` closes itself). */
export function closeProblem(code: number, reason: string): string | undefined {
  const table = TABLE_CLOSES.get(code);
  if (!table || !DOCUMENTED.closes.has(code)) return `close code ${code} (${reason}) is not one the error table and docs/errors.md give the app channel`;
  const ownWords = code === errors.BODY_TOO_LARGE.app;
  if (!table.has(reason) && !ownWords) return `close ${code} with reason "${reason}", not one of ${[...table].join(', ')}`;
  return undefined;
}

/** An error code the NS answered: the table's and the docs'. */
export function codeProblem(code: unknown): string | undefined {
  if (typeof code !== 'string') return `an error frame without a string code (${String(code)})`;
  if (code === 'INTERNAL') return 'INTERNAL';
  if (!TABLE_ANSWER_CODES.has(code)) return `code ${code} is not one the error table lets the app channel answer`;
  if (!DOCUMENTED.answers.has(code)) return `code ${code} is not documented as an app-channel answer in docs/errors.md`;
  return undefined;
}

// ───────────────────────────── the setup ─────────────────────────────

/**
 * The NS settings a fuzz run needs: §7's source limits lifted so frames reach the parser (a
 * RATE_LIMITED answer would be documented, but it would stop the fuzz at the door), sessions
 * that do not idle out during a long run. (A stranger's failed proofs never lock a session, §2:
 * the owner's real login at the end must work at once.)
 */
export const FUZZ_ENV: Record<string, string> = {
  NEXTAUTH_HELLO_RATE: '100000000/1',
  NEXTAUTH_FAILED_PROOF_RATE: '100000000/1',
  NEXTAUTH_IDLE_SECONDS: '86400',
};

/** Source addresses the cases come from (the NS counts limits per source, §7). */
export const SOURCES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.1.1', '127.0.1.2', '127.0.2.1', '127.0.3.7', '127.0.9.9'] as const;

/** Real frames the SDK sent during the setup, by `<t>:<what>`. */
export const CORPUS = [
  'hello:enrol',
  'proof:enrol',
  'hello:login',
  'proof:login',
  'hello:decline',
  'decline:decline',
  'hello:report',
  'decline:report',
  'hello:listen',
  'proof:listen',
  'sealed:pong',
] as const;
export type CorpusName = (typeof CORPUS)[number];

/** Sessions a hello may name. */
export const TARGETS = ['W', 'W2', 'L', 'E', 'randomSession', 'unknownServer'] as const;
export type Target = (typeof TARGETS)[number];

/**
 * The NS under fuzz: its URL, its REST API (root key), and the records the fuzz must not change
 * (in the test the whole store, `ns.store.dump()`; for an NS in a child process, its servers,
 * users and accounts as REST lists them).
 */
export interface NsHandle {
  url: string;
  api: TestServer['api'];
  records(): Promise<string>;
}

/** An NS of `startTestServer` (in this process) as the fuzzer's NsHandle: the records are the whole store. */
export const inProcess = (ns: TestServer): NsHandle => ({ url: ns.url, api: ns.api, records: async () => ns.store.dump() });

/** The records of an NS as REST lists them: servers, and each server's users and accounts. */
export async function restRecords(api: TestServer['api']): Promise<string> {
  const list = async (url: string) => {
    const r = await api('GET', url);
    if (r.status !== 200) throw new Error(`GET ${url}: ${r.status}`);
    return r.body;
  };
  const servers = await list('/servers/');
  const ids = (Array.isArray(servers) ? servers : (servers.servers ?? [])).map((s: { serverid: string }) => s.serverid) as string[];
  const per = await Promise.all(ids.map(async (id) => ({ id, users: await list(`/servers/${id}/users/`), accounts: await list(`/servers/${id}/accounts/`) })));
  return JSON.stringify({ servers, per });
}

export interface Fixture {
  ns: NsHandle;
  appUrl: string;
  /** The server with the account, and a second one without any. */
  srv: Uint8Array;
  srv2: Uint8Array;
  /** The enrolled account (as the SDK stores it), its id and private key (listen handshakes only). */
  account: StoredAccount;
  acc: number;
  key: KeyObject;
  sessions: Record<'W' | 'W2' | 'L' | 'E', { serverid: string; nonce: string; hsid: Uint8Array }>;
  corpus: Map<CorpusName, Uint8Array>;
  /** The records before the fuzz (`ns.records()`). */
  storeBefore: string;
  /** A browser watching W the whole time. */
  watcher: TextBrowser;
}

/** A session made by getSession (its nonce and hsid). */
async function newSession(ns: NsHandle, serverid: string): Promise<{ serverid: string; nonce: string; hsid: Uint8Array }> {
  const nonce = newNonce();
  const hsid = (await getSession(ns, serverid, nonce)).hsid as string;
  return { serverid, nonce, hsid: fromB64url(hsid) };
}

/** Sets up the servers, the account, the sessions and the corpus (the SDK's own frames), and takes the store's snapshot. */
export async function prepare(ns: NsHandle): Promise<Fixture> {
  const made = async (name: string) => {
    const r = await ns.api('POST', '/servers/', { body: { serverName: name } });
    if (r.status !== 200) throw new Error(`createServer: ${r.status}`);
    return r.body.serverid as string;
  };
  const serverid = await made('Fuzz');
  const serverid2 = await made('Fuzz 2');
  const corpus = new Map<CorpusName, Uint8Array>();
  let what = '';
  const recorder = tamperingSocket((bytes, frame) => {
    if (frame && typeof frame.t === 'string') corpus.set(`${frame.t}:${what}` as CorpusName, Uint8Array.from(bytes));
    return undefined;
  });
  const phone = newPhone({ WebSocket: recorder });
  what = 'enrol';
  const E = await newSession(ns, serverid);
  const { account, acc } = await phone.enrol(await qr(ns, serverid, E.nonce, 'enrol'));
  what = 'login';
  const L = await newSession(ns, serverid);
  const { connection } = await phone.login(await qr(ns, serverid, L.nonce));
  what = 'pong';
  connection.send({ t: 'pong', n: 1 }); // a sealed frame; no ping waits for it: BAD_MESSAGE
  await connection.next();
  connection.close();
  what = 'decline';
  await codeOf(newPhone({ WebSocket: recorder, keystore: phone.keystore, decline: true }).login(await qr(ns, serverid, newNonce())));
  what = 'report';
  await codeOf(newPhone({ WebSocket: recorder, keystore: phone.keystore, consent: () => ({ accept: false, report: true }) }).login(await qr(ns, serverid, newNonce())));
  what = 'listen';
  (await phone.listen(serverid)).connection.close();
  const missing = CORPUS.filter((name) => !corpus.has(name));
  if (missing.length) throw new Error(`the SDK did not send ${missing.join(', ')}`);

  const W = await newSession(ns, serverid);
  const W2 = await newSession(ns, serverid2);
  const watcher = await TextBrowser.open(ns);
  watcher.send(`REGISTER ${toB64url(W.hsid)} ${serverid}`);
  await watcher.waitFor('LOGOUT', toB64url(W.hsid));
  const secret = fromB64url(account.secretKey);
  const key = ed25519PrivateKey({ publicKey: toB64url(secret.subarray(32)), secretKey: toB64url(secret.subarray(0, 32)) });
  return {
    ns,
    appUrl: `${ns.url.replace('http', 'ws')}/ns/sigmai`,
    srv: fromB64url(serverid),
    srv2: fromB64url(serverid2),
    account,
    acc,
    key,
    sessions: { W, W2, L, E },
    corpus,
    storeBefore: await ns.records(),
    watcher,
  };
}

// ───────────────────────────── cases ─────────────────────────────

/** A change to one field of a map: removed, set to any value, or (bytes, strings, numbers) resized. */
export type FieldChange = { key: string; del: true } | { key: string; value: unknown } | { key: string; resize: number };

/** A change to bytes; `at` is a position as a fraction of 2^16 of the length. */
export type ByteEdit =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; byte: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; n: number }
  | { op: 'truncate'; at: number }
  | { op: 'dup'; at: number; n: number };

/** What a proof box holds. `sig` is never a valid signature: random, or the account's key over the wrong label or the wrong transcript. */
export type ProofBody =
  | { kind: 'login'; acc: 'own' | number; sig: 'random' | 'wrongLabel' | 'otherH2'; label: keyof typeof LABELS; changes: FieldChange[] }
  | { kind: 'enrol'; changes: FieldChange[] }
  | { kind: 'value'; value: unknown }
  | { kind: 'bytes'; bytes: Uint8Array };

/** A proof: its body, sealed with the running handshake's kC (or kS, or a random key) and nonce counter (0 is right), in an outer map with changes. */
export interface ProofSpec {
  body: ProofBody;
  key: 'kC' | 'kS' | 'random';
  nonce: number;
  outer: FieldChange[];
}

/** One message of a case (an inner map when the connection is sealed). */
export type Payload =
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'text'; bytes: Uint8Array }
  | { kind: 'msgpack'; mp: MpBytes }
  | { kind: 'value'; value: unknown }
  | { kind: 'mutant'; base: CorpusName; edits: ByteEdit[] }
  | { kind: 'field'; base: CorpusName; changes: FieldChange[] }
  | { kind: 'hello'; op: 'login' | 'enrol' | 'listen'; to: Target; changes: FieldChange[] }
  | { kind: 'proof'; spec: ProofSpec }
  | { kind: 'decline'; report: boolean | undefined }
  | { kind: 'nearLimit'; t: string; delta: number; bin: boolean };

/** How a sealed case sends a payload: sealed right (`ok`), or any of the ways a sealed frame must not open (§4.2). */
export type Wrap =
  | { kind: 'ok' }
  | { kind: 'counter'; delta: number }
  | { kind: 'tamper'; edits: ByteEdit[] }
  | { kind: 'key'; key: 'kS' | 'random' }
  | { kind: 'bare' }
  | { kind: 'replay'; back: number }
  | { kind: 'outer'; changes: FieldChange[] };

export type FuzzCase = { sealed: false; source: number; steps: Payload[] } | { sealed: true; source: number; steps: { payload: Payload; wrap: Wrap }[] };

const fieldChangeArb: fc.Arbitrary<FieldChange> = fc.oneof(
  fc.record({ key: keyArb, del: fc.constant(true as const) }),
  { weight: 3, arbitrary: fc.record({ key: keyArb, value: fc.oneof({ weight: 3, arbitrary: scalarArb }, { weight: 1, arbitrary: valueArb }) }) },
  fc.record({ key: fc.constantFrom(...FRAME_FIELDS), resize: fc.integer({ min: -40, max: 40 }).filter((n) => n !== 0) }),
);
const changesArb = (max: number) => fc.array(fieldChangeArb, { minLength: 1, maxLength: max });
const fewChangesArb = fc.oneof({ weight: 2, arbitrary: fc.constant([] as FieldChange[]) }, { weight: 1, arbitrary: changesArb(2) });

const at = fc.nat(0xffff);
const byteEditArb: fc.Arbitrary<ByteEdit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at, bit: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('set' as const), at, byte: fc.constantFrom(0x00, 0xc0, 0xc1, 0xff, 0x7f, 0x80, 0x90, 0xa0, 0xdc, 0xdf) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at, n: fc.integer({ min: 1, max: 8 }) }) },
  fc.record({ op: fc.constant('truncate' as const), at }),
  fc.record({ op: fc.constant('dup' as const), at, n: fc.integer({ min: 1, max: 40 }) }),
);
const editsArb = fc.array(byteEditArb, { minLength: 1, maxLength: 4 });

const proofBodyArb: fc.Arbitrary<ProofBody> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('login' as const),
      acc: fc.oneof({ weight: 3, arbitrary: fc.constant('own' as const) }, { weight: 1, arbitrary: fc.integer({ min: -5, max: 2 ** 31 + 5 }) }),
      sig: fc.constantFrom('random' as const, 'wrongLabel' as const, 'otherH2' as const),
      label: fc.constantFrom(...(Object.keys(LABELS) as (keyof typeof LABELS)[])),
      changes: fewChangesArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('enrol' as const), changes: fewChangesArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('value' as const), value: fc.oneof(frameLikeArb, valueArb) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ maxLength: 64 }) }) },
);

const proofArb: fc.Arbitrary<Payload> = fc
  .record({
    body: proofBodyArb,
    key: fc.oneof({ weight: 6, arbitrary: fc.constant('kC' as const) }, { weight: 1, arbitrary: fc.constantFrom('kS' as const, 'random' as const) }),
    nonce: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
    outer: fc.oneof({ weight: 6, arbitrary: fc.constant([] as FieldChange[]) }, { weight: 1, arbitrary: changesArb(2) }),
  })
  .map((spec) => ({ kind: 'proof', spec }));

const helloArb: fc.Arbitrary<Payload> = fc.record({
  kind: fc.constant('hello' as const),
  op: fc.oneof({ weight: 4, arbitrary: fc.constant('login' as const) }, { weight: 1, arbitrary: fc.constantFrom('enrol' as const, 'listen' as const) }),
  to: fc.oneof({ weight: 4, arbitrary: fc.constant('W' as const) }, { weight: 2, arbitrary: fc.constantFrom(...TARGETS) }),
  changes: fc.oneof({ weight: 3, arbitrary: fc.constant([] as FieldChange[]) }, { weight: 1, arbitrary: changesArb(2) }),
});

const declineArb: fc.Arbitrary<Payload> = fc.record({ kind: fc.constant('decline' as const), report: fc.option(fc.boolean(), { nil: undefined }) });

/** One payload: every kind of message of the fuzzer, weighted. */
export const payloadArb: fc.Arbitrary<Payload> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 2048 })) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('text' as const),
      bytes: fc.oneof(
        fc.string({ unit: 'binary', maxLength: 64 }).map((s) => new TextEncoder().encode(s)),
        fc.constantFrom('REGISTER x y', '{"t":"hello"}', 'hello').map((s) => new TextEncoder().encode(s)),
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
      ),
    }),
  },
  { weight: 14, arbitrary: fc.record({ kind: fc.constant('msgpack' as const), mp: mpBytesArb }) },
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('value' as const), value: fc.oneof({ weight: 3, arbitrary: frameLikeArb }, { weight: 1, arbitrary: valueArb }) }) },
  { weight: 14, arbitrary: fc.record({ kind: fc.constant('mutant' as const), base: fc.constantFrom(...CORPUS), edits: editsArb }) },
  { weight: 14, arbitrary: fc.record({ kind: fc.constant('field' as const), base: fc.constantFrom(...CORPUS), changes: changesArb(3) }) },
  { weight: 8, arbitrary: helloArb },
  { weight: 8, arbitrary: proofArb },
  { weight: 2, arbitrary: declineArb },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('nearLimit' as const), t: fc.constantFrom(...FRAME_TYPES), delta: fc.integer({ min: -48, max: 48 }), bin: fc.boolean() }),
  },
);

/** Steps that mostly make sense in order: a hello, what may come between, then a proof or a decline (or nothing). */
const handshakeArb: fc.Arbitrary<Payload[]> = fc
  .tuple(helloArb, fc.array(payloadArb, { maxLength: 2 }), fc.oneof({ weight: 5, arbitrary: proofArb }, { weight: 1, arbitrary: declineArb }), fc.array(proofArb, { maxLength: 1 }))
  .map(([hello, middle, end, again]) => [hello, ...middle, end, ...again]);
const stepsArb: fc.Arbitrary<Payload[]> = fc
  .array(fc.oneof({ weight: 3, arbitrary: payloadArb.map((p) => [p]) }, { weight: 1, arbitrary: handshakeArb }), { minLength: 1, maxLength: 10 })
  .map((groups) => groups.flat());

/** How a payload is sent on a sealed connection: right, mostly. */
export const wrapArb: fc.Arbitrary<Wrap> = fc.oneof(
  { weight: 40, arbitrary: fc.constant<Wrap>({ kind: 'ok' }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('counter' as const),
      delta: fc.oneof(
        fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0),
        fc.constantFrom(2 ** 32, 2 ** 53 - 5),
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tamper' as const), edits: editsArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('key' as const), key: fc.constantFrom('kS' as const, 'random' as const) }) },
  { weight: 1, arbitrary: fc.constant<Wrap>({ kind: 'bare' }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('replay' as const), back: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('outer' as const), changes: changesArb(2) }) },
);

/** One case: one connection, plain or sealed, from one source. */
export const caseArb: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ sealed: fc.constant(false as const), source: fc.nat(SOURCES.length - 1), steps: stepsArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      sealed: fc.constant(true as const),
      source: fc.nat(SOURCES.length - 1),
      steps: stepsArb.chain((steps) => fc.tuple(...steps.map((payload) => wrapArb.map((wrap) => ({ payload, wrap }))))),
    }),
  },
);

/**
 * The cases the fuzzer found failing, shrunk, kept as the first examples of every run (the bugs
 * they found are fixed: see docs/security.md).
 */
export const REPRODUCERS: FuzzCase[] = [
  // A text frame that is not UTF-8: `ws` closed it with 1007 (no such close in §4 or the table) instead of BAD_FRAME.
  { sealed: false, source: 0, steps: [{ kind: 'text', bytes: Uint8Array.from([0x80]) }] },
  // A hello whose version is a map with a key `toString`: String(v) threw in the receiver, answered INTERNAL.
  { sealed: false, source: 0, steps: [{ kind: 'field', base: 'hello:enrol', changes: [{ key: 'v', value: { toString: '' } }] }] },
  // The same two inside a sealed connection (answered there too: the text frame closes it with 1008).
  {
    sealed: true,
    source: 1,
    steps: [
      { payload: { kind: 'field', base: 'hello:login', changes: [{ key: 'v', value: { toString: '' } }] }, wrap: { kind: 'ok' } },
      { payload: { kind: 'text', bytes: Uint8Array.from([0xc0, 0xaf]) }, wrap: { kind: 'ok' } },
    ],
  },
];

// ───────────────────────────── building messages ─────────────────────────────

const concat = (...parts: Uint8Array[]): Uint8Array => Buffer.concat(parts);

export function applyEdits(bytes: Uint8Array, edits: readonly ByteEdit[]): Uint8Array {
  let b = Buffer.from(bytes);
  for (const e of edits) {
    const i = b.length === 0 ? 0 : Math.floor((e.at / 0x10000) * b.length);
    switch (e.op) {
      case 'flip':
        if (b.length) b[i] = b[i]! ^ (1 << e.bit);
        break;
      case 'set':
        if (b.length) b[i] = e.byte;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, i), e.bytes, b.subarray(i)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + e.n)]);
        break;
      case 'truncate':
        b = b.subarray(0, i);
        break;
      case 'dup':
        b = Buffer.concat([b.subarray(0, i + e.n), b.subarray(i)]);
        break;
    }
  }
  return new Uint8Array(b);
}

function resized(value: unknown, by: number): unknown {
  if (value instanceof Uint8Array) return by < 0 ? value.subarray(0, Math.max(0, value.length + by)) : concat(value, new Uint8Array(by).fill(0x41));
  if (typeof value === 'string') return by < 0 ? value.slice(0, Math.max(0, value.length + by)) : value + 'x'.repeat(by);
  if (typeof value === 'number') return value + by;
  if (typeof value === 'boolean') return by > 0 ? 1 : 'true';
  return by;
}

/** A copy of `map` with the changes made (own properties, even `__proto__`). */
export function applyChanges(map: Record<string, unknown>, changes: readonly FieldChange[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(map)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  for (const c of changes) {
    if ('del' in c) delete out[c.key];
    else Object.defineProperty(out, c.key, { value: 'value' in c ? c.value : resized(out[c.key], c.resize), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** A map of a corpus frame (decoded with the wire's own decoder). */
const corpusMap = (fx: Fixture, name: CorpusName): Record<string, unknown> => decodeMsgpack(fx.corpus.get(name)!) as Record<string, unknown>;

/** The running handshake of a connection, as far as the fuzzer made it (its hello, and the keys once its challenge came). */
interface Handshake {
  op: 'login' | 'enrol' | 'listen';
  ea: X25519Pair;
  m1: Uint8Array;
  keys?: { kS: Uint8Array; kC: Uint8Array; h2: Uint8Array };
}

function helloBytes(fx: Fixture, p: Extract<Payload, { kind: 'hello' }>): { bytes: Uint8Array; handshake: Handshake } {
  const ea = generateX25519();
  const session = p.to === 'randomSession' || p.to === 'unknownServer' ? undefined : fx.sessions[p.to];
  const srv = p.to === 'unknownServer' ? randomBytes(16) : p.to === 'W2' ? fx.srv2 : fx.srv;
  const hsid = session ? session.hsid : randomBytes(32);
  const map: Record<string, unknown> = { t: 'hello', v: 1, op: p.op, srv, ...(p.op === 'listen' ? {} : { hsid }), ea: ea.publicKey, na: randomBytes(32) };
  const bytes = encodeValue(p.changes.length ? applyChanges(map, p.changes) : map);
  return { bytes, handshake: { op: p.op, ea, m1: bytes } };
}

/** A signature that never verifies for the running handshake: random, or the account's key over the wrong label or transcript. */
function wrongSignature(fx: Fixture, body: Extract<ProofBody, { kind: 'login' }>, h: Handshake | undefined): Uint8Array {
  if (body.sig === 'random' || !h?.keys) return randomBytes(64);
  const right = h.op === 'listen' ? 'listen' : h.op === 'enrol' ? 'enrol' : 'login';
  let label = body.label;
  let h2: Uint8Array = h.keys.h2;
  if (body.sig === 'otherH2') h2 = randomBytes(64);
  else if (label === right) label = right === 'login' ? 'listen' : 'login';
  return signEd25519(fx.key, concat(LABELS[label], h2));
}

function proofBytes(fx: Fixture, spec: ProofSpec, h: Handshake | undefined): Uint8Array {
  const { body } = spec;
  let plain: Uint8Array;
  switch (body.kind) {
    case 'login': {
      const map = { acc: body.acc === 'own' ? fx.acc : body.acc, sig: wrongSignature(fx, body, h), sf: 'none' };
      plain = encodeValue(body.changes.length ? applyChanges(map, body.changes) : map);
      break;
    }
    case 'enrol': {
      // A key enrolled already would be refused; a fresh one never signs: its sig is random.
      const map = { pk: randomBytes(32), pkx: randomBytes(32), name: 'fuzz', client: 'fuzz/1', sf: 'none', sig: randomBytes(64) };
      plain = encodeValue(body.changes.length ? applyChanges(map, body.changes) : map);
      break;
    }
    case 'value':
      plain = encodeValue(body.value);
      break;
    case 'bytes':
      plain = body.bytes;
      break;
  }
  const key = spec.key === 'random' || !h?.keys ? randomBytes(32) : spec.key === 'kS' ? h.keys.kS : h.keys.kC;
  const box = seal(plain, counterNonce(spec.nonce), key);
  const outer = { t: 'proof', box };
  return encodeValue(spec.outer.length ? applyChanges(outer, spec.outer) : outer);
}

/** A map of exactly `size` bytes (its `s` a string or its `b` bytes). */
export function nearLimit(t: string, size: number, bin: boolean): Uint8Array {
  const make = (n: number) => encodeValue(bin ? { t, b: new Uint8Array(Math.max(0, n)).fill(0x61) } : { t, s: 'a'.repeat(Math.max(0, n)) });
  let n = size - make(0).length;
  let bytes = make(n);
  for (let i = 0; i < 3 && bytes.length !== size; i++) bytes = make((n += size - bytes.length));
  return bytes;
}

/** The bytes of one payload; a `hello` starts the connection's running handshake. */
function payloadBytes(fx: Fixture, p: Payload, link: Link, sealedOverhead: number): { bytes: Uint8Array; text?: boolean } {
  switch (p.kind) {
    case 'bytes':
      return { bytes: p.bytes };
    case 'text':
      return { bytes: p.bytes, text: true };
    case 'msgpack':
      return { bytes: writeMp(p.mp) };
    case 'value':
      return { bytes: encodeValue(p.value) };
    case 'mutant':
      return { bytes: applyEdits(fx.corpus.get(p.base)!, p.edits) };
    case 'field':
      return { bytes: encodeValue(applyChanges(corpusMap(fx, p.base), p.changes)) };
    case 'hello': {
      const { bytes, handshake } = helloBytes(fx, p);
      link.handshake = handshake;
      return { bytes };
    }
    case 'proof':
      return { bytes: proofBytes(fx, p.spec, link.handshake) };
    case 'decline':
      return { bytes: encodeValue(p.report === undefined ? { t: 'decline' } : { t: 'decline', report: p.report }) };
    case 'nearLimit':
      return { bytes: nearLimit(p.t, MAX_FRAME_BYTES + p.delta - sealedOverhead, p.bin) };
  }
}

/** Whether the NS may stay silent: a `decline` that fits its schema ends a handshake without an answer (§4.1 step 5). */
function maySilence(bytes: Uint8Array): boolean {
  try {
    check('decline', decodeFrame(bytes));
    return true;
  } catch {
    return false;
  }
}

// ───────────────────────────── the connection ─────────────────────────────

/** A frame of the NS as the fuzzer read it. */
interface Heard {
  frame: Record<string, unknown>;
  bytes: Uint8Array;
}

const ANSWER_MS = 5000;

/** One fuzzer connection: sends what it is told, reads (and opens) what the NS sends, checks each frame as it comes. */
class Link {
  readonly heard: Heard[] = [];
  readonly problems: string[] = [];
  closed: { code: number; reason: string; byUs: boolean } | undefined;
  handshake: Handshake | undefined;
  /** Keys and counters once sealed (§4.2): the app seals with kC from 1, the NS with kS from 2. */
  channel: { kS: Uint8Array; kC: Uint8Array; send: number; receive: number } | undefined;
  /** The sealed frames sent, for replays. */
  readonly sent: Uint8Array[] = [];
  #expectSeal: { kS: Uint8Array; kC: Uint8Array } | undefined;
  /** False during the fuzzer's own listen handshake: its frames are not the figures'. */
  #counting = true;
  #closing = false;
  #wake: (() => void) | undefined;
  readonly #done: Promise<void>;

  private constructor(
    readonly ws: WebSocket,
    private readonly report: FuzzReport,
  ) {
    ws.on('message', (data: Buffer, isBinary) => this.#onMessage(data, isBinary));
    ws.on('error', (err) => this.problems.push(`client socket error: ${err.message}`));
    this.#done = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString(), byUs: this.#closing };
        if (!this.#closing) report.close(code, this.closed.reason);
        resolve();
        this.#wake?.();
      }),
    );
  }

  static open(url: string, localAddress: string, report: FuzzReport): Promise<Link | 'refused'> {
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Link(ws, report)));
      ws.once('unexpected-response', (_req, res) => {
        report.count(report.upgrades, String(res.statusCode));
        ws.terminate();
        resolve('refused');
      });
      ws.once('error', reject);
    });
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (!isBinary) return void this.problems.push(`the NS sent a text frame: ${data.toString().slice(0, 80)}`);
    let bytes: Uint8Array = data;
    let frame = readFrame(bytes);
    if (!frame) return void this.problems.push(`the NS sent a frame that is not a msgpack map with a string t: ${Buffer.from(bytes).toString('hex').slice(0, 80)}`);
    if (this.channel) {
      if (frame.t !== 'sealed' || !(frame.box instanceof Uint8Array)) return void this.problems.push(`the NS sent an unsealed ${String(frame.t)} on a sealed connection`);
      const inner = open(frame.box, counterNonce(this.channel.receive), this.channel.kS);
      if (!inner) return void this.problems.push(`a sealed frame of the NS does not open with its counter ${this.channel.receive}`);
      this.channel.receive++;
      bytes = inner;
      frame = readFrame(inner);
      if (!frame) return void this.problems.push('a sealed frame of the NS holds no msgpack map with a string t');
    }
    this.heard.push({ frame, bytes });
    const t = String(frame.t);
    if (!this.#counting) {
      // The fuzzer's own handshake: only its challenge and result matter.
    } else if (t === 'error') {
      this.report.count(this.report.codes, String(frame.code));
      if (!this.report.messages.has(String(frame.code))) this.report.messages.set(String(frame.code), String(frame.message));
      const problem = codeProblem(frame.code);
      if (problem) this.problems.push(`${problem}: ${String(frame.message)}`);
    } else {
      this.report.count(this.report.answers, this.channel ? `sealed:${t}` : t);
    }
    if (t === 'challenge') this.#challenged(frame, bytes);
    if (t === 'result' && frame.ok === true) {
      if (this.#expectSeal && !this.channel) this.channel = { ...this.#expectSeal, send: FIRST_APP_COUNTER, receive: FIRST_NS_COUNTER };
      else this.problems.push(`a handshake of the fuzzer completed: ${JSON.stringify(frame)}`);
      this.#expectSeal = undefined;
    }
    this.#wake?.();
  }

  /** §4.1 step 4 for the fuzzer's own hello: the keys and h2 (no check of the server's signature: the setup did that with the SDK). */
  #challenged(frame: Record<string, unknown>, m2: Uint8Array): void {
    const h = this.handshake;
    const { es, ns } = frame;
    if (!h || h.keys || !(es instanceof Uint8Array) || !(ns instanceof Uint8Array)) return;
    const dh = agreeX25519(h.ea.privateKey, es);
    if (!dh) return void this.problems.push('the challenge has a key of low order');
    const h1 = sha512(h.m1, es, ns);
    const k = sha512(LABELS.sigma, dh, h1);
    h.keys = { kS: k.subarray(0, 32), kC: k.subarray(32, 64), h2: sha512(h1, m2) };
  }

  /** Sends bytes as they are (a text frame when `text`). */
  sendRaw(bytes: Uint8Array, text = false): void {
    this.ws.send(bytes, { binary: !text });
  }

  /** The sealed frame of `inner` with the next counter (which moves), as §4.2 says. */
  sealNext(inner: Uint8Array): Uint8Array {
    const c = this.channel!;
    const frame = encodeValue({ t: 'sealed', box: seal(inner, counterNonce(c.send++), c.kC) });
    this.sent.push(frame);
    return frame;
  }

  /** Resolves when `done()` holds, the socket closed, or `ms` passed (false). */
  async wait(done: () => boolean, ms = ANSWER_MS): Promise<boolean> {
    const end = Date.now() + ms;
    while (!done() && !this.closed) {
      const left = end - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => (clearTimeout(timer), resolve());
      });
    }
    return true;
  }

  /** A real listen handshake (§4.1) with the account's key: the connection is sealed after it. */
  async listen(fx: Fixture): Promise<boolean> {
    const { bytes, handshake } = helloBytes(fx, { kind: 'hello', op: 'listen', to: 'W', changes: [] });
    this.handshake = handshake;
    this.#counting = false;
    this.sendRaw(bytes);
    await this.wait(() => handshake.keys !== undefined || this.heard.length > 0);
    const keys = handshake.keys;
    if (!keys) return false;
    const proof = { acc: fx.acc, sig: signEd25519(fx.key, concat(LABELS.listen, keys.h2)), sf: 'none' };
    this.#expectSeal = { kS: keys.kS, kC: keys.kC };
    this.sendRaw(encodeValue({ t: 'proof', box: seal(encodeValue(proof), HANDSHAKE_NONCE, keys.kC) }));
    await this.wait(() => this.channel !== undefined || this.heard.length > 1);
    this.handshake = undefined;
    this.#counting = true;
    const sealed = this.channel !== undefined;
    if (!sealed) this.problems.push(`the listen handshake did not complete: ${JSON.stringify(this.heard.map((h) => h.frame))}`);
    this.heard.length = 0;
    return sealed;
  }

  /** How the socket closed, if it did (a method: what an await changed, narrowing does not see). */
  closedAs(): { code: number; reason: string; byUs: boolean } | undefined {
    return this.closed;
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.#closing = true;
      this.ws.close(1000);
    }
    const timer = setTimeout(() => this.ws.terminate(), 2000);
    await this.#done;
    clearTimeout(timer);
  }
}

/** A frame of the NS: one msgpack map with a string t (read with room for the relying party's JSON, as the SDK does). */
function readFrame(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value = decodeMsgpack(bytes, 64);
    return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && typeof (value as { t?: unknown }).t === 'string'
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

// ───────────────────────────── the report ─────────────────────────────

/** What a run sent and heard. */
export class FuzzReport {
  /** Frames the fuzz sent (not its listen handshakes and probes, counted in `ownFrames`). */
  frames = 0;
  ownFrames = 0;
  cases = 0;
  sealedCases = 0;
  /** Frames sent by payload kind (`sealed:<kind>/<wrap>` on a sealed connection). */
  readonly sent = new Map<string, number>();
  /** Error codes the NS answered. */
  readonly codes = new Map<string, number>();
  /** The first message heard with each code. */
  readonly messages = new Map<string, string>();
  /** Frames other than errors the NS sent, by type. */
  readonly answers = new Map<string, number>();
  /** Closes the NS made: `<code> <reason>`. */
  readonly closes = new Map<string, number>();
  /** Upgrades refused, by HTTP status. */
  readonly upgrades = new Map<string, number>();
  /** Frames the NS did not answer while it may (a valid decline), settled by a probe. */
  silent = 0;

  count(map: Map<string, number>, key: string, n = 1): void {
    map.set(key, (map.get(key) ?? 0) + n);
  }
  close(code: number, reason: string): void {
    this.count(this.closes, `${code} ${reason}`);
  }
}

// ───────────────────────────── running ─────────────────────────────

type Expect = 'answer' | 'maybeSilent' | 1008 | 1009;

/** Sends one case on a connection of its own; the problems it found (empty: the case passed). */
export async function runCase(fx: Fixture, c: FuzzCase, report: FuzzReport): Promise<string[]> {
  const opened = await Link.open(fx.appUrl, SOURCES[c.source % SOURCES.length]!, report);
  if (opened === 'refused') return [];
  const link = opened;
  const problems: string[] = [];
  report.cases++;
  let answers = 0;
  let probes = 0;
  try {
    if (c.sealed) {
      report.sealedCases++;
      report.ownFrames += 2;
      if (!(await link.listen(fx))) return link.problems;
    }
    const steps = c.sealed ? c.steps : c.steps.map((payload) => ({ payload, wrap: { kind: 'ok' } as Wrap }));
    for (const [i, { payload, wrap }] of steps.entries()) {
      if (link.closed) break;
      const { bytes, text, expect, label } = message(fx, link, payload, wrap);
      report.frames++;
      report.count(report.sent, label);
      link.sendRaw(bytes, text);
      const what = `step ${i} (${label}, ${bytes.length} bytes: ${Buffer.from(bytes).toString('hex').slice(0, 120)})`;
      if (expect === 1008 || expect === 1009) {
        await link.wait(() => false);
        const closed = link.closedAs();
        if (!closed) problems.push(`${what}: expected a close ${expect}, the connection stayed open`);
        else if (closed.code !== expect) problems.push(`${what}: expected a close ${expect}, got ${closed.code} ${closed.reason}`);
        continue;
      }
      if (expect === 'maybeSilent') {
        // A probe settles it: its answer names it, whatever came before.
        const probe = `probe-${++probes}`;
        const bytes = encodeValue({ t: probe });
        report.ownFrames++;
        link.sendRaw(link.channel ? link.sealNext(bytes) : bytes);
        const answered = () => link.heard.some((h) => h.frame.t === 'error' && String(h.frame.message).includes(`"${probe}"`));
        if (!(await link.wait(answered))) problems.push(`${what}: no answer to the probe after it within ${ANSWER_MS} ms`);
        if (link.heard.length === answers + 1) report.silent++;
        answers = link.heard.length;
      } else {
        answers++;
        if (!(await link.wait(() => link.heard.length >= answers))) problems.push(`${what}: no answer within ${ANSWER_MS} ms`);
      }
      const closed = link.closedAs();
      if (closed) problems.push(`${what}: the NS closed the connection (${closed.code} ${closed.reason}) instead of answering`);
    }
  } finally {
    await link.close();
  }
  problems.push(...link.problems);
  if (link.closed && !link.closed.byUs) {
    const problem = closeProblem(link.closed.code, link.closed.reason);
    if (problem) problems.push(problem);
  }
  return problems;
}

/** The bytes of one step, how to send them, what must come back, and its label for the figures. */
function message(fx: Fixture, link: Link, payload: Payload, wrap: Wrap): { bytes: Uint8Array; text?: boolean; expect: Expect; label: string } {
  const overhead = link.channel ? 40 : 0;
  const { bytes: inner, text } = payloadBytes(fx, payload, link, overhead);
  const over = (b: Uint8Array) => b.length > MAX_FRAME_BYTES;
  if (!link.channel) {
    return { bytes: inner, text, expect: over(inner) ? 1009 : text || !maySilence(inner) ? 'answer' : 'maybeSilent', label: payload.kind };
  }
  const label = `sealed:${payload.kind}/${text ? 'bare' : wrap.kind}`;
  if (text || wrap.kind === 'bare') return { bytes: inner, text, expect: over(inner) ? 1009 : 1008, label };
  const c = link.channel;
  const right = () => link.sealNext(inner);
  let bytes: Uint8Array;
  switch (wrap.kind) {
    case 'ok':
      bytes = right();
      return { bytes, expect: over(bytes) ? 1009 : maySilence(inner) ? 'maybeSilent' : 'answer', label };
    case 'counter':
      bytes = encodeValue({ t: 'sealed', box: seal(inner, counterNonce(Math.max(0, c.send + wrap.delta)), c.kC) });
      break;
    case 'key':
      bytes = encodeValue({ t: 'sealed', box: seal(inner, counterNonce(c.send), wrap.key === 'kS' ? c.kS : randomBytes(32)) });
      break;
    case 'tamper': {
      const good = encodeValue({ t: 'sealed', box: seal(inner, counterNonce(c.send), c.kC) });
      bytes = applyEdits(good, wrap.edits);
      if (Buffer.from(bytes).equals(good)) return { bytes: right(), expect: over(good) ? 1009 : maySilence(inner) ? 'maybeSilent' : 'answer', label };
      break;
    }
    case 'replay':
      bytes = link.sent[link.sent.length - wrap.back] ?? encodeValue({ t: 'sealed', box: seal(inner, counterNonce(0), c.kC) });
      break;
    case 'outer': {
      const good = { t: 'sealed', box: seal(inner, counterNonce(c.send), c.kC) };
      bytes = encodeValue(applyChanges(good, wrap.changes));
      if (Buffer.from(bytes).equals(encodeValue(good))) return { bytes: right(), expect: over(bytes) ? 1009 : maySilence(inner) ? 'maybeSilent' : 'answer', label };
      break;
    }
  }
  return { bytes, expect: over(bytes) ? 1009 : 1008, label };
}

export interface RunOptions {
  /** Frames to send (at least; the last cases run to their end). */
  frames: number;
  seed: number;
  /** Cases run at once, each stream of cases with a seed of its own (default 1: one at a time, reproducible). */
  concurrency?: number;
  /** Called after every case. */
  onProgress?: (report: FuzzReport) => void;
}

/**
 * Runs cases until `frames` frames went out: fast-check draws them from `caseArb` with `seed`; a
 * case with a problem fails the property, and fast-check's error (seed, path, the shrunk case)
 * is thrown.
 */
export async function fuzz(fx: Fixture, opts: RunOptions): Promise<FuzzReport> {
  const report = new FuzzReport();
  let failed = false;
  const property = fc.asyncProperty(caseArb, async (c) => {
    if (report.frames >= opts.frames || failed) return;
    const problems = await runCase(fx, c, report);
    opts.onProgress?.(report);
    if (problems.length) throw new Error(`${problems.length} problem(s):\n- ${problems.slice(0, 8).join('\n- ')}`);
  });
  const concurrency = opts.concurrency ?? 1;
  const stream = async (i: number) => {
    for (let round = 0; report.frames < opts.frames && !failed; round++) {
      const left = opts.frames - report.frames;
      // Stream i, round r: seed + r + i·1,000,003 (stream 0 is the seed itself, then seed + 1, …).
      await fc
        .assert(property, {
          seed: opts.seed + round + i * 1_000_003,
          numRuns: Math.ceil(left / 6 / concurrency) + 10,
          endOnFailure: false,
          includeErrorInReport: true,
          ...(round === 0 && i === 0 ? { examples: REPRODUCERS.map((c): [FuzzCase] => [c]) } : {}),
        })
        .catch((e: unknown) => {
          failed = true;
          throw e;
        });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => stream(i)));
  return report;
}

/**
 * What must hold after the fuzz: the records unchanged, W and W2 still waiting (and W never
 * logged in), L still logged in, no INTERNAL counted by the NS; then a real login of W still
 * works. The problems found (empty: all held).
 */
export async function verifyAfter(fx: Fixture): Promise<{ problems: string[] }> {
  const { ns, sessions } = fx;
  const problems: string[] = [];
  const state = async (s: { serverid: string; nonce: string }) => (await getSession(ns, s.serverid, s.nonce)).state as string;
  // The last case's open handshake is given back when its socket closes.
  await until(async () => (await state(sessions.W)) === 'waiting' && (await state(sessions.W2)) === 'waiting', 'W and W2 waiting', 5000).catch(() => {});
  for (const name of ['W', 'W2'] as const) {
    const s = await state(sessions[name]);
    if (s !== 'waiting') problems.push(`session ${name} is ${s}, not waiting`);
  }
  if ((await state(sessions.L)) !== 'authenticated') problems.push(`session L is ${await state(sessions.L)}, not authenticated`);
  const hsidW = toB64url(sessions.W.hsid);
  const heard = fx.watcher.types(hsidW);
  if (heard.includes('LOGIN')) problems.push(`the browser watching W heard LOGIN: ${heard.join(' ')}`);
  if ((await ns.records()) !== fx.storeBefore) problems.push('the records changed (servers, users, accounts, enrol codes…)');
  const metrics = await (await fetch(`${ns.url}/metrics`)).text();
  const internal = metrics.split('\n').filter((l) => l.startsWith('nextauth_refusals_total') && l.includes('code="INTERNAL"') && !l.endsWith(' 0'));
  if (internal.length) problems.push(`the NS counted INTERNAL refusals: ${internal.join('; ')}`);
  // A real login of W, by the account's phone, from another source.
  const phone = newPhone();
  await phone.keystore.put(fx.account);
  const code = await qr(ns, toB64url(fx.srv), sessions.W.nonce);
  const loginW = () =>
    phone.login(code).then(
      (r) => (r.connection.close(), 'ok'),
      (e: { code?: string; message?: string }) => `${e.code ?? 'ERROR'}: ${e.message ?? String(e)}`,
    );
  const login = await loginW();
  if (login !== 'ok') problems.push(`a real login of W after the fuzz: ${login}`);
  else if ((await getSession(ns, toB64url(fx.srv), sessions.W.nonce)).loggedin !== true) problems.push('W is not logged in after a real login');
  else await fx.watcher.waitFor('LOGIN', hsidW);
  fx.watcher.close();
  return { problems };
}

/** The figures of a run, as lines. */
export function describe(report: FuzzReport): string[] {
  const sorted = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || '—';
  return [
    `frames sent: ${report.frames} (plus ${report.ownFrames} of the fuzzer's own listen handshakes and probes)`,
    `cases (connections): ${report.cases}, of them sealed: ${report.sealedCases}`,
    `error codes answered: ${sorted(report.codes)}`,
    `other frames answered: ${sorted(report.answers)}`,
    `closes by the NS: ${sorted(report.closes)}`,
    `upgrades refused: ${sorted(report.upgrades)}`,
    `silent (valid declines): ${report.silent}`,
    `frames sent by kind: ${sorted(report.sent)}`,
  ];
}
