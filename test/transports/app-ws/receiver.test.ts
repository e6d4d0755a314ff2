/**
 * The app channel's receiver (src/transports/app-ws/receiver.ts) on its own: every message it
 * reads becomes the connection machine's event. Before sealing: frames, schema failures and a
 * `sealed` frame without keys. After sealing: the counters (from 1, one per frame that opened),
 * a replayed, skipped or forged frame (`unopened`, the counter does not move), frames of the
 * wrong kind (`plain`), and inner maps read like plain frames.
 */
import { encode } from '@msgpack/msgpack';
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import nacl from 'tweetnacl';
import { Receiver } from '../../../src/transports/app-ws/receiver.ts';
import { toB64url } from '../../../src/wire/base64url.ts';
import { counterNonce } from '../../../src/wire/nonces.ts';
import type { ChannelKeys } from '../../../machines/connection.ts';

const SRV = randomBytes(16);
const HSID = randomBytes(32);
const KEYS: ChannelKeys = { kS: new Uint8Array(32).fill(1), kC: new Uint8Array(32).fill(2) };
const KC = new Uint8Array(32).fill(9);

function receiver(opts: { zeroAgreement?: boolean } = {}) {
  const calls: Array<{ m1: Uint8Array; ea: Uint8Array }> = [];
  const frames: string[] = [];
  const r = new Receiver({
    keysFor: (m1, ea) => (calls.push({ m1, ea }), opts.zeroAgreement ? undefined : KEYS),
    onFrame: (t) => frames.push(t),
  });
  return { r, calls, frames };
}

/** A hello; a field given as undefined is left out. */
const hello = (fields: Record<string, unknown> = {}) =>
  encode({ t: 'hello', v: 1, op: 'login', srv: SRV, hsid: HSID, ea: randomBytes(32), na: randomBytes(32), ...fields }, { ignoreUndefined: true });
/** A sealed frame as the app sends it: `inner` sealed with kC and `counter`. */
const sealed = (inner: Uint8Array, counter: number, key = KC) => encode({ t: 'sealed', box: nacl.secretbox(inner, counterNonce(counter), key) });
const bin = (r: Receiver, bytes: Uint8Array) => r.read(bytes, true);

// ---- before sealing ------------------------------------------------------------------------------

test('plain: a hello becomes the machine event with ids in base64url and the keys of its exact bytes', () => {
  const { r, calls, frames } = receiver();
  const bytes = hello();
  assert.equal(bin(r, bytes), { type: 'hello', op: 'login', serverid: toB64url(SRV), hsid: toB64url(HSID), keys: KEYS });
  assert.is(calls.length, 1);
  assert.is(calls[0]!.m1, bytes, 'M1 is the exact bytes of the message');
  assert.equal(frames, ['hello']);
  assert.equal(bin(r, hello({ op: 'enrol' })), { type: 'hello', op: 'enrol', serverid: toB64url(SRV), hsid: toB64url(HSID), keys: KEYS });
  assert.equal(bin(r, hello({ op: 'listen', hsid: undefined })), { type: 'hello', op: 'listen', serverid: toB64url(SRV), keys: KEYS });
  assert.is(r.state, 'plain');
});

test('plain: a hello that cannot start a handshake is malformed with its code (version first, then schema, hsid, agreement)', () => {
  const { r, calls } = receiver();
  const code = (bytes: Uint8Array) => (bin(r, bytes) as { code?: string }).code;
  assert.is(code(hello({ v: 2, ea: 'not even bytes' })), 'UNSUPPORTED_VERSION');
  // Found by the fuzzer: a version that is a map with a key `toString` was answered INTERNAL.
  assert.equal(bin(r, hello({ v: { toString: '' } })), { type: 'malformed', code: 'UNSUPPORTED_VERSION', message: 'Version a map is not supported; use 1' });
  assert.is(code(hello({ v: { valueOf: 1, toString: 2 } })), 'UNSUPPORTED_VERSION');
  assert.is(code(hello({ v: [1] })), 'UNSUPPORTED_VERSION');
  assert.is(code(hello({ v: 'x'.repeat(10_000) })), 'UNSUPPORTED_VERSION');
  assert.is(code(hello({ ea: new Uint8Array(31) })), 'BAD_MESSAGE');
  assert.is(code(hello({ extra: 1 })), 'BAD_MESSAGE');
  assert.equal(bin(r, hello({ hsid: undefined })), { type: 'malformed', code: 'BAD_MESSAGE', message: 'hello: hsid is required for op "login"' });
  assert.equal(bin(r, hello({ op: 'listen' })), { type: 'malformed', code: 'BAD_MESSAGE', message: 'hello: hsid is not taken for op "listen"' });
  assert.equal(calls, [], 'no keys are made for a hello that does not fit');
  const zero = receiver({ zeroAgreement: true });
  assert.equal(bin(zero.r, hello()), { type: 'malformed', code: 'BAD_MESSAGE', message: 'hello: ea gives an all-zero key agreement' });
});

test('plain: the other frames of the app become their events', () => {
  const { r } = receiver();
  const box = randomBytes(48);
  const sig = randomBytes(64);
  assert.equal(bin(r, encode({ t: 'proof', box })), { type: 'proof', box: new Uint8Array(box) });
  assert.equal(bin(r, encode({ t: 'decline' })), { type: 'decline' });
  assert.equal(bin(r, encode({ t: 'decline', report: true })), { type: 'decline', report: true });
  assert.equal(bin(r, encode({ t: 'logout', hsid: HSID })), { type: 'logout', hsid: toB64url(HSID) });
  assert.equal(bin(r, encode({ t: 'pong', n: 3 })), { type: 'pong', n: 3 });
  assert.equal(bin(r, encode({ t: 'approve', tid: 'tx', sig, sf: 'none' })), { type: 'approve', tid: 'tx', sig: new Uint8Array(sig), sf: 'none' });
  assert.equal(bin(r, encode({ t: 'reject', tid: 'tx' })), { type: 'reject', tid: 'tx' });
});

test('plain: text, bytes that are not msgpack, non-maps, deep maps are BAD_FRAME; unknown types and schema failures BAD_MESSAGE; a sealed frame is unopened', () => {
  const { r } = receiver();
  const code = (bytes: Uint8Array | string, isBinary = true) => {
    const e = r.read(typeof bytes === 'string' ? Buffer.from(bytes) : bytes, isBinary);
    return e.type === 'malformed' ? e.code : e.type;
  };
  assert.is(code('REGISTER x y', false), 'BAD_FRAME');
  assert.is(code(encode({ t: 'pong', n: 1 }), false), 'BAD_FRAME', 'a text frame, whatever it holds');
  assert.is(code(new Uint8Array([0xc1, 0xff])), 'BAD_FRAME');
  assert.is(code(encode([1, 2, 3])), 'BAD_FRAME');
  assert.is(code(encode({ no: 't' })), 'BAD_FRAME');
  assert.is(code(encode({ t: 'pong', n: [[[[[[[[[1]]]]]]]]] })), 'BAD_FRAME', 'nested deeper than 8');
  assert.is(code(encode({ t: 'nonsense' })), 'BAD_MESSAGE');
  assert.is(code(encode({ t: 'challenge', es: randomBytes(32) })), 'BAD_MESSAGE', 'a frame of the NS');
  assert.is(code(encode({ t: 'pong', n: -1 })), 'BAD_MESSAGE');
  assert.is(code(encode({ t: 'proof', box: 'text' })), 'BAD_MESSAGE');
  assert.is(code(sealed(encode({ t: 'pong', n: 1 }), 1)), 'unopened', 'no keys before sealing');
  assert.is(r.state, 'plain');
  const unknown = r.read(encode({ t: 'x'.repeat(100) }), true);
  assert.equal(unknown, { type: 'malformed', code: 'BAD_MESSAGE', message: `Unknown frame type "${'x'.repeat(32)}"` });
});

// ---- after sealing -------------------------------------------------------------------------------

test('sealed: frames open with kC counting from 1, one counter per frame that opened', () => {
  const { r, frames } = receiver();
  r.seal(KC);
  assert.is(r.state, 'sealed');
  assert.is(r.counter, 1);
  assert.equal(bin(r, sealed(encode({ t: 'pong', n: 1 }), 1)), { type: 'pong', n: 1 });
  assert.equal(bin(r, sealed(encode({ t: 'pong', n: 2 }), 2)), { type: 'pong', n: 2 });
  assert.equal(bin(r, sealed(encode({ t: 'logout', hsid: HSID }), 3)), { type: 'logout', hsid: toB64url(HSID) });
  assert.is(r.counter, 4);
  assert.equal(frames, ['sealed', 'sealed:pong', 'sealed', 'sealed:pong', 'sealed', 'sealed:logout']);
});

test('sealed: a replayed, skipped, reordered or forged frame is unopened and the counter does not move', () => {
  const { r } = receiver();
  r.seal(KC);
  const first = sealed(encode({ t: 'pong', n: 1 }), 1);
  assert.is(bin(r, first).type, 'pong');
  assert.equal(bin(r, first), { type: 'unopened' }, 'replayed');
  assert.equal(bin(r, sealed(encode({ t: 'pong', n: 3 }), 3)), { type: 'unopened' }, 'counter 2 skipped');
  assert.equal(bin(r, sealed(encode({ t: 'pong', n: 2 }), 2, new Uint8Array(32).fill(8))), { type: 'unopened' }, 'another key');
  const box = nacl.secretbox(encode({ t: 'pong', n: 2 }), counterNonce(2), KC);
  box[box.length - 1]! ^= 1;
  assert.equal(bin(r, encode({ t: 'sealed', box })), { type: 'unopened' }, 'tampered');
  assert.equal(bin(r, encode({ t: 'sealed', box: 'text' })), { type: 'unopened' }, 'a box that is no bytes');
  assert.equal(bin(r, encode({ t: 'sealed', box, extra: 1 })), { type: 'unopened' }, 'a sealed frame that fails its schema');
  assert.is(r.counter, 2);
  assert.is(bin(r, sealed(encode({ t: 'pong', n: 2 }), 2)).type, 'pong', 'the right next frame still opens');
});

test('sealed: a frame of the wrong kind (text, not msgpack, a plain map) is plain; the counter does not move', () => {
  const { r } = receiver();
  r.seal(KC);
  assert.equal(r.read(Buffer.from('REGISTER x y'), false), { type: 'plain' });
  assert.equal(r.read(sealed(encode({ t: 'pong', n: 1 }), 1), false), { type: 'plain' }, 'a text frame holding a sealed frame');
  assert.equal(bin(r, new Uint8Array([0xc1, 0xff])), { type: 'plain' });
  assert.equal(bin(r, encode([1, 2])), { type: 'plain' });
  assert.equal(bin(r, encode({ t: 'pong', n: 1 })), { type: 'plain' });
  assert.equal(bin(r, hello()), { type: 'plain' });
  assert.equal(bin(r, encode({ t: 'error', code: 'BAD_FRAME' })), { type: 'plain' });
  assert.is(r.counter, 1);
});

test('sealed: an inner map is read like a plain frame: its hello M1 is the inner bytes; what does not fit is malformed', () => {
  const { r, calls } = receiver();
  r.seal(KC);
  const inner = hello({ op: 'enrol' });
  assert.equal(bin(r, sealed(inner, 1)), { type: 'hello', op: 'enrol', serverid: toB64url(SRV), hsid: toB64url(HSID), keys: KEYS });
  assert.equal(calls[0]!.m1, inner, 'M1 is the exact bytes of the inner map');
  assert.equal(bin(r, sealed(new Uint8Array([0xc1]), 2)), { type: 'malformed', code: 'BAD_FRAME', message: 'The frame is not msgpack' });
  assert.is((bin(r, sealed(encode({ t: 'pong' }), 3)) as { code: string }).code, 'BAD_MESSAGE');
  assert.is((bin(r, sealed(encode({ t: 'sealed', box: new Uint8Array(20) }), 4)) as { code: string }).code, 'BAD_MESSAGE', 'a sealed frame inside a sealed frame');
  assert.is((bin(r, sealed(hello({ v: 7 }), 5)) as { code: string }).code, 'UNSUPPORTED_VERSION');
  assert.is(r.counter, 6, 'each of them opened, so each counted');
});

test('seal happens once', () => {
  const { r } = receiver();
  r.seal(KC);
  assert.throws(() => r.seal(KC));
});

test.run();
