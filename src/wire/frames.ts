/**
 * The app-channel frame codec (PROTOCOL.md §4): one msgpack map per binary WebSocket message,
 * with a string field `t`, and a schema per frame. Binary fields travel as msgpack `bin`.
 */
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { NsError } from './errors.ts';
import { decodeMsgpack, encodeMsgpack, MAX_FRAME_BYTES, MsgpackError } from './msgpack.ts';

export { MAX_FRAME_BYTES };
export const PROTOCOL_VERSION = 1;

const bytes = (n: number) => Type.Uint8Array({ minByteLength: n, maxByteLength: n });
const SecondFactor = Type.Union([Type.Literal('none'), Type.Literal('pin'), Type.Literal('biometric')]);
const strict = { additionalProperties: false };

export const Hello = Type.Object(
  {
    t: Type.Literal('hello'),
    v: Type.Integer(),
    op: Type.Union([Type.Literal('login'), Type.Literal('enrol'), Type.Literal('listen')]),
    srv: bytes(16),
    hsid: Type.Optional(bytes(32)),
    ea: bytes(32),
    na: bytes(32),
  },
  strict,
);
export const Proof = Type.Object({ t: Type.Literal('proof'), box: Type.Uint8Array({ maxByteLength: 8192 }) }, strict);
export const Decline = Type.Object({ t: Type.Literal('decline'), report: Type.Optional(Type.Boolean()) }, strict);
export const Sealed = Type.Object({ t: Type.Literal('sealed'), box: Type.Uint8Array({ maxByteLength: MAX_FRAME_BYTES }) }, strict);
export const Logout = Type.Object({ t: Type.Literal('logout'), hsid: bytes(32) }, strict);
export const Pong = Type.Object({ t: Type.Literal('pong'), n: Type.Integer({ minimum: 0 }) }, strict);
/** The phone's answer to a transaction (sealed). */
export const Approve = Type.Object({ t: Type.Literal('approve'), tid: Type.String({ minLength: 1, maxLength: 64 }), sig: bytes(64), sf: SecondFactor }, strict);
export const Reject = Type.Object({ t: Type.Literal('reject'), tid: Type.String({ minLength: 1, maxLength: 64 }) }, strict);

/** What is inside a login (or listen) proof box. */
export const LoginProof = Type.Object(
  {
    acc: Type.Integer({ minimum: 1, maximum: 2 ** 31 }),
    sig: bytes(64),
    sf: SecondFactor,
    input: Type.Optional(Type.String({ maxLength: 256 })),
    /** The two digits shown by the browser, after a push with number match. */
    number: Type.Optional(Type.String({ maxLength: 8 })),
  },
  strict,
);
/** What is inside an enrol proof box. */
export const EnrolProof = Type.Object(
  {
    pk: bytes(32),
    pkx: Type.Optional(bytes(32)),
    name: Type.String({ minLength: 1, maxLength: 256 }),
    client: Type.String({ maxLength: 128 }),
    sf: SecondFactor,
    sig: bytes(64),
  },
  strict,
);

export type HelloFrame = Static<typeof Hello>;
export type LoginProofBody = Static<typeof LoginProof>;
export type EnrolProofBody = Static<typeof EnrolProof>;

const checkers = {
  hello: TypeCompiler.Compile(Hello),
  proof: TypeCompiler.Compile(Proof),
  decline: TypeCompiler.Compile(Decline),
  sealed: TypeCompiler.Compile(Sealed),
  logout: TypeCompiler.Compile(Logout),
  pong: TypeCompiler.Compile(Pong),
  approve: TypeCompiler.Compile(Approve),
  reject: TypeCompiler.Compile(Reject),
  loginProof: TypeCompiler.Compile(LoginProof),
  enrolProof: TypeCompiler.Compile(EnrolProof),
};
interface Checked {
  hello: HelloFrame;
  proof: Static<typeof Proof>;
  decline: Static<typeof Decline>;
  sealed: Static<typeof Sealed>;
  logout: Static<typeof Logout>;
  pong: Static<typeof Pong>;
  approve: Static<typeof Approve>;
  reject: Static<typeof Reject>;
  loginProof: LoginProofBody;
  enrolProof: EnrolProofBody;
}
export type FrameType = 'hello' | 'proof' | 'decline' | 'sealed' | 'logout' | 'pong';
export const isFrameType = (t: unknown): t is FrameType => typeof t === 'string' && Object.hasOwn(checkers, t) && !t.endsWith('Proof');

export type Frame = Record<string, unknown> & { t: string };

/** Decodes one msgpack map (BAD_FRAME for anything else, a value nested too deep included). */
export function decodeMap(data: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = decodeMsgpack(data);
  } catch (e) {
    throw new NsError('BAD_FRAME', `The frame is ${e instanceof MsgpackError ? e.message : 'not msgpack'}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new NsError('BAD_FRAME', 'A frame must be a msgpack map');
  }
  return value as Record<string, unknown>;
}

/** Decodes one frame: BAD_FRAME unless it is exactly one msgpack map with a string `t`. */
export function decodeFrame(data: Uint8Array): Frame {
  const value = decodeMap(data);
  if (typeof value.t !== 'string') throw new NsError('BAD_FRAME', 'A frame needs a string field t');
  return value as Frame;
}

/** Checks a value against one schema; BAD_MESSAGE naming the first wrong field otherwise. */
export function check<K extends keyof Checked>(kind: K, value: unknown): Checked[K] {
  const checker = checkers[kind];
  if (!checker.Check(value)) {
    const first = checker.Errors(value).First();
    throw new NsError('BAD_MESSAGE', `${kind}${first?.path ?? ''}: ${first?.message ?? 'does not fit its schema'}`);
  }
  return value as Checked[K];
}

export const encodeFrame = (frame: Record<string, unknown>): Uint8Array => encodeMsgpack(frame);
