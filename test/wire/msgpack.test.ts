/** The app channel's msgpack limits (PROTOCOL.md §7): depth 8 with the frame's own map as 1, 16 KiB, no extensions. */
import { encode } from '@msgpack/msgpack';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFrame } from '../../src/wire/frames.ts';
import { decodeMsgpack, MAX_DEPTH, MsgpackError } from '../../src/wire/msgpack.ts';
import { NsError } from '../../src/wire/errors.ts';

/** A frame `{t:"x", a: {a: {…}}}` whose own map is depth 1 and which is `depth` deep in all. */
function nested(depth: number): Record<string, unknown> {
  let inner: Record<string, unknown> = { v: 1 };
  for (let d = 2; d < depth; d++) inner = { a: inner };
  return depth === 1 ? { t: 'x' } : { t: 'x', a: inner };
}

test('a frame nested 8 deep is taken; 9 deep is BAD_FRAME', () => {
  assert.is(MAX_DEPTH, 8);
  assert.is(decodeFrame(encode(nested(8))).t, 'x');
  for (const depth of [9, 10, 64]) {
    try {
      decodeFrame(encode(nested(depth)));
      assert.unreachable(`depth ${depth} was taken`);
    } catch (e) {
      assert.instance(e, NsError);
      assert.is((e as NsError).code, 'BAD_FRAME', `depth ${depth}`);
      assert.match((e as NsError).message, 'nested deeper than 8');
    }
  }
});

test('5,000 nested arrays (built as bytes, as an attacker would) are BAD_FRAME, not an internal error', () => {
  // fixarray of one element (0x91), 5,000 times, then nil.
  const bytes = new Uint8Array(5001).fill(0x91);
  bytes[5000] = 0xc0;
  try {
    decodeFrame(bytes);
    assert.unreachable('taken');
  } catch (e) {
    assert.instance(e, NsError);
    assert.is((e as NsError).code, 'BAD_FRAME');
  }
  assert.throws(
    () => decodeMsgpack(bytes),
    (e: unknown) => e instanceof MsgpackError,
  );
});

test('arrays count as maps do; bytes and strings are leaves', () => {
  assert.equal(decodeMsgpack(encode([[[[[[[[1]]]]]]]])), [[[[[[[[1]]]]]]]]);
  assert.throws(
    () => decodeMsgpack(encode([[[[[[[[[1]]]]]]]]])),
    (e: unknown) => e instanceof MsgpackError,
  );
  assert.equal(decodeMsgpack(encode({ b: new Uint8Array(3), s: 'x' })), { b: new Uint8Array(3), s: 'x' });
});

test('extension types and oversized strings are not msgpack here', () => {
  assert.throws(
    () => decodeMsgpack(new Uint8Array([0xd4, 0x01, 0x00])),
    (e: unknown) => e instanceof MsgpackError,
    'fixext 1',
  );
  assert.throws(
    () => decodeMsgpack(encode('x'.repeat(16 * 1024 + 1))),
    (e: unknown) => e instanceof MsgpackError,
  );
});

test.run();
