/**
 * fast-check arbitraries of msgpack for the app-channel fuzzer (test/fuzz/app-channel.ts): values
 * that `@msgpack/msgpack` encodes (deep nesting, 64-bit integers, maps with odd keys, binaries,
 * huge strings), and msgpack written token by token, which no encoder makes: every integer and
 * length width, strings that are not UTF-8, extension types, non-string map keys, lengths that
 * lie, values nested far past the limit of §7, and bytes left over after the value.
 */
import { encode } from '@msgpack/msgpack';
import fc from 'fast-check';

// ───────────────────────────── values ─────────────────────────────

/** Map keys a parser may trip on: the prototype's names, the frames' own fields, empty, long, odd characters. */
export const ODD_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'toJSON',
  'then',
  'length',
  '',
  ' ',
  '\u0000',
  '💥',
  'é',
  'a'.repeat(300),
] as const;

/** The field names of the app's frames and of what their boxes hold (PROTOCOL.md §4). */
export const FRAME_FIELDS = [
  't',
  'v',
  'op',
  'srv',
  'hsid',
  'ea',
  'na',
  'box',
  'report',
  'n',
  'tid',
  'sig',
  'sf',
  'acc',
  'pk',
  'pkx',
  'name',
  'client',
  'input',
  'number',
  'ok',
  'code',
] as const;

/** The frame types of §4, both ways, and a few that are not. */
export const FRAME_TYPES = [
  'hello',
  'proof',
  'decline',
  'sealed',
  'logout',
  'pong',
  'approve',
  'reject',
  'challenge',
  'result',
  'error',
  'ping',
  'push',
  'deleted',
  'transaction',
  'HELLO',
  '',
] as const;

/** Strings the schemas compare against. */
const WORDS = ['login', 'enrol', 'listen', 'none', 'pin', 'biometric', ...FRAME_TYPES] as const;

export const keyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...FRAME_FIELDS) },
  { weight: 3, arbitrary: fc.constantFrom(...ODD_KEYS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) },
);

/** Byte strings of the lengths the schemas check (16, 32, 64) and their neighbours, or any. */
export const bytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom(0, 1, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
  fc.uint8Array({ maxLength: 200 }),
);

/** Integers at the edges: the protocol's small ones, 2^31, 2^53, and every 64-bit range as bigint. */
export const intArb: fc.Arbitrary<number | bigint> = fc.oneof(
  fc.constantFrom(0, 1, 2, -1, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, -(2 ** 31), -(2 ** 53)),
  fc.integer(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
);

export const scalarArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  intArb,
  fc.double(),
  fc.constantFrom(...WORDS),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  bytesArb,
);

/** Any value msgpack can carry: scalars, arrays, maps with odd keys, nested (deep, sometimes). */
export const valueArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 12, withCrossShrink: true },
    scalarArb,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 5 }),
  ),
})).value;

/** A map with a string `t` (so it passes the first gate) and fields of the frames' names, typed right or wrong. */
export const frameLikeArb: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(fc.oneof(fc.constantFrom(...FRAME_TYPES), fc.string({ maxLength: 12 })), fc.dictionary(keyArb, fc.oneof(scalarArb, valueArb), { maxKeys: 8 }))
  .map(([t, fields]) => ({ ...fields, t }));

/** msgpack of a value as the app's encoder would write it (bigints as 64-bit integers). */
export const encodeValue = (value: unknown): Uint8Array => encode(value, { useBigInt64: true });

// ───────────────────────────── tokens ─────────────────────────────

const INT_FORMATS = {
  pfix: [0n, 127n],
  nfix: [-32n, -1n],
  u8: [0n, 255n],
  u16: [0n, 65535n],
  u32: [0n, 2n ** 32n - 1n],
  u64: [0n, 2n ** 64n - 1n],
  i8: [-128n, 127n],
  i16: [-32768n, 32767n],
  i32: [-(2n ** 31n), 2n ** 31n - 1n],
  i64: [-(2n ** 63n), 2n ** 63n - 1n],
} as const;
type IntFormat = keyof typeof INT_FORMATS;

/**
 * One msgpack value, token by token. `hdr` picks the width of a length (0 the shortest form);
 * `lie` is added to the length the header declares (0: the truth).
 */
export type MpNode =
  | { k: 'nil' }
  | { k: 'never' }
  | { k: 'bool'; v: boolean }
  | { k: 'int'; fmt: IntFormat; v: bigint }
  | { k: 'f32'; v: number }
  | { k: 'f64'; v: number }
  | { k: 'str' | 'bin'; hdr: number; data: Uint8Array }
  | { k: 'ext'; hdr: number; type: number; data: Uint8Array }
  | { k: 'arr'; hdr: number; items: MpNode[]; lie: number }
  | { k: 'map'; hdr: number; pairs: [MpNode, MpNode][]; lie: number };

/** msgpack bytes: a value (or a truncated one) and, sometimes, bytes after it. */
export interface MpBytes {
  node: MpNode;
  after: Uint8Array;
  cut: number;
}

const lieArb = fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: -2, max: 2 }) }, { weight: 1, arbitrary: fc.constant(0x7fffffff) });
const utf8 = (s: string) => new TextEncoder().encode(s);
const strDataArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: fc.oneof(fc.constantFrom(...WORDS, ...FRAME_FIELDS, ...ODD_KEYS), fc.string({ maxLength: 20 })).map(utf8) },
  // Not UTF-8: lone continuation bytes, overlong forms, surrogates, truncated sequences.
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.uint8Array({ maxLength: 12 }),
      fc.constantFrom([0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xff, 0xfe], [0xf4, 0x90, 0x80, 0x80]).map((b) => Uint8Array.from(b)),
    ),
  },
);
const intNodeArb: fc.Arbitrary<MpNode> = fc
  .constantFrom(...(Object.keys(INT_FORMATS) as IntFormat[]))
  .chain((fmt) => fc.bigInt({ min: INT_FORMATS[fmt][0], max: INT_FORMATS[fmt][1] }).map((v): MpNode => ({ k: 'int', fmt, v })));

const leafNodeArb: fc.Arbitrary<MpNode> = fc.oneof(
  fc.constant<MpNode>({ k: 'nil' }),
  fc.constant<MpNode>({ k: 'never' }),
  fc.boolean().map((v): MpNode => ({ k: 'bool', v })),
  intNodeArb,
  fc.float().map((v): MpNode => ({ k: 'f32', v })),
  fc.double().map((v): MpNode => ({ k: 'f64', v })),
  fc.record({ k: fc.constant('str' as const), hdr: fc.nat(3), data: strDataArb }),
  fc.record({ k: fc.constant('bin' as const), hdr: fc.nat(2), data: bytesArb }),
  fc.record({ k: fc.constant('ext' as const), hdr: fc.nat(3), type: fc.integer({ min: -128, max: 127 }), data: fc.uint8Array({ maxLength: 16 }) }),
);

const tNode = (t: string): MpNode => ({ k: 'str', hdr: 0, data: utf8(t) });

export const mpNodeArb: fc.Arbitrary<MpNode> = fc.letrec<{ node: MpNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', maxDepth: 10, withCrossShrink: true },
    leafNodeArb,
    fc.record({ k: fc.constant('arr' as const), hdr: fc.nat(2), items: fc.array(tie('node'), { maxLength: 5 }), lie: lieArb }),
    fc.record({ k: fc.constant('map' as const), hdr: fc.nat(2), pairs: fc.array(fc.tuple(tie('node'), tie('node')), { maxLength: 5 }), lie: lieArb }),
  ),
})).node;

/** A map whose first pair is `t` → a frame type (so the parser goes past its first check), then any pairs. */
const frameNodeArb: fc.Arbitrary<MpNode> = fc
  .tuple(fc.constantFrom(...FRAME_TYPES), fc.array(fc.tuple(fc.oneof(keyArb.map(tNode), mpNodeArb), mpNodeArb), { maxLength: 6 }), fc.nat(2), lieArb)
  .map(([t, pairs, hdr, lie]): MpNode => ({ k: 'map', hdr, pairs: [[tNode('t'), tNode(t)], ...pairs], lie }));

/** A value nested `depth` deep in arrays or maps (the limit is 8, §7), inside a frame map or bare. */
const deepNodeArb: fc.Arbitrary<MpNode> = fc.tuple(fc.integer({ min: 1, max: 40 }), fc.boolean(), fc.boolean()).map(([depth, maps, inFrame]) => {
  let node: MpNode = { k: 'nil' };
  for (let i = 0; i < depth; i++) node = maps ? { k: 'map', hdr: 0, pairs: [[tNode('x'), node]], lie: 0 } : { k: 'arr', hdr: 0, items: [node], lie: 0 };
  return inFrame
    ? {
        k: 'map',
        hdr: 0,
        pairs: [
          [tNode('t'), tNode('hello')],
          [tNode('v'), node],
        ],
        lie: 0,
      }
    : node;
});

export const mpBytesArb: fc.Arbitrary<MpBytes> = fc.record({
  node: fc.oneof({ weight: 3, arbitrary: frameNodeArb }, { weight: 3, arbitrary: mpNodeArb }, { weight: 1, arbitrary: deepNodeArb }),
  after: fc.oneof({ weight: 6, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  cut: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 6 }) }),
});

/** Writes a token tree as msgpack bytes (the widths and lies it asks for, even where they make no sense). */
export function writeMp({ node, after, cut }: MpBytes): Uint8Array {
  const out: number[] = [];
  const be = (n: bigint, bytes: number) => {
    for (let i = bytes - 1; i >= 0; i--) out.push(Number((BigInt.asUintN(bytes * 8, n) >> BigInt(i * 8)) & 0xffn));
  };
  const length = (n: number, widths: readonly [number, number][], hdr: number) => {
    const [code, bytes] = widths[Math.min(hdr, widths.length - 1)]!;
    out.push(code);
    be(BigInt(n >>> 0), bytes);
  };
  const write = (n: MpNode): void => {
    switch (n.k) {
      case 'nil':
        return void out.push(0xc0);
      case 'never':
        return void out.push(0xc1);
      case 'bool':
        return void out.push(n.v ? 0xc3 : 0xc2);
      case 'int': {
        const v = n.v;
        if (n.fmt === 'pfix') return void out.push(Number(v) & 0x7f);
        if (n.fmt === 'nfix') return void out.push(0xe0 | (Number(v) & 0x1f));
        const [code, bytes] = { u8: [0xcc, 1], u16: [0xcd, 2], u32: [0xce, 4], u64: [0xcf, 8], i8: [0xd0, 1], i16: [0xd1, 2], i32: [0xd2, 4], i64: [0xd3, 8] }[n.fmt];
        out.push(code);
        return be(v, bytes);
      }
      case 'f32':
      case 'f64': {
        const view = new DataView(new ArrayBuffer(n.k === 'f32' ? 4 : 8));
        if (n.k === 'f32') view.setFloat32(0, n.v);
        else view.setFloat64(0, n.v);
        out.push(n.k === 'f32' ? 0xca : 0xcb, ...new Uint8Array(view.buffer));
        return;
      }
      case 'str':
        if (n.hdr === 0 && n.data.length < 32) out.push(0xa0 | n.data.length);
        else
          length(
            n.data.length,
            [
              [0xd9, 1],
              [0xd9, 1],
              [0xda, 2],
              [0xdb, 4],
            ],
            n.hdr,
          );
        return void out.push(...n.data);
      case 'bin':
        length(
          n.data.length,
          [
            [0xc4, 1],
            [0xc5, 2],
            [0xc6, 4],
          ],
          n.hdr,
        );
        return void out.push(...n.data);
      case 'ext': {
        const fixed = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 }[n.data.length];
        if (n.hdr === 0 && fixed !== undefined) out.push(fixed);
        else
          length(
            n.data.length,
            [
              [0xc7, 1],
              [0xc7, 1],
              [0xc8, 2],
              [0xc9, 4],
            ],
            n.hdr,
          );
        out.push(n.type & 0xff);
        return void out.push(...n.data);
      }
      case 'arr': {
        const declared = n.items.length + n.lie;
        if (n.hdr === 0 && declared >= 0 && declared < 16) out.push(0x90 | declared);
        else
          length(
            declared,
            [
              [0xdc, 2],
              [0xdc, 2],
              [0xdd, 4],
            ],
            n.hdr,
          );
        return n.items.forEach(write);
      }
      case 'map': {
        const declared = n.pairs.length + n.lie;
        if (n.hdr === 0 && declared >= 0 && declared < 16) out.push(0x80 | declared);
        else
          length(
            declared,
            [
              [0xde, 2],
              [0xde, 2],
              [0xdf, 4],
            ],
            n.hdr,
          );
        for (const [key, value] of n.pairs) write(key), write(value);
        return;
      }
    }
  };
  write(node);
  const bytes = Uint8Array.from(out.slice(0, Math.max(1, out.length - cut)));
  if (after.length === 0) return bytes;
  const joined = new Uint8Array(bytes.length + after.length);
  joined.set(bytes);
  joined.set(after, bytes.length);
  return joined;
}
