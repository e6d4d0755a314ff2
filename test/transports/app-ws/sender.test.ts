/**
 * The app channel's sender (src/transports/app-ws/sender.ts) on its own: plain frames before
 * sealing, `{t:"sealed", box}` after, sealed with kS and the NS counter from 2 (one per frame,
 * so a frame opened with another counter does not open), nothing after close.
 */
import { decode, encode } from '@msgpack/msgpack';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import nacl from 'tweetnacl';
import { Sender } from '../../../src/transports/app-ws/sender.ts';
import { counterNonce } from '../../../src/wire/nonces.ts';

const KS = new Uint8Array(32).fill(5);

function sender() {
  const sent: Uint8Array[] = [];
  const closes: Array<[number, string]> = [];
  const counted: string[] = [];
  const s = new Sender({ send: (b) => sent.push(b), close: (code, reason) => closes.push([code, reason]) }, { onFrame: (t) => counted.push(t) });
  return { s, sent, closes, counted };
}

/** The phone's side: opens a sealed frame with kS and `counter`. */
function openAt(bytes: Uint8Array, counter: number, key = KS): Uint8Array | null {
  const outer = decode(bytes) as { t: string; box: Uint8Array };
  assert.is(outer.t, 'sealed');
  assert.equal(Object.keys(outer), ['t', 'box']);
  return nacl.secretbox.open(outer.box, counterNonce(counter), key);
}

test('plain: a frame goes out as its msgpack bytes; encoded bytes go out exactly', () => {
  const { s, sent, counted } = sender();
  assert.is(s.state, 'plain');
  s.send({ t: 'error', code: 'BAD_FRAME', message: 'x' });
  const m2 = encode({ t: 'challenge', es: new Uint8Array(32), ns: new Uint8Array(32), box: new Uint8Array(40) });
  s.sendEncoded(m2, 'challenge');
  assert.equal(sent[0], encode({ t: 'error', code: 'BAD_FRAME', message: 'x' }));
  assert.is(sent[1], m2);
  assert.equal(counted, ['error', 'challenge']);
  assert.is(s.counter, 2, 'plain frames use no counter');
});

test('sealed: every frame, of every kind, goes out sealed with kS counting from 2; its exact bytes inside', () => {
  const { s, sent, counted } = sender();
  s.seal(KS);
  assert.is(s.state, 'sealed');
  const m2 = encode({ t: 'challenge', es: new Uint8Array(32) });
  s.send({ t: 'result', ok: true, acc: 1 });
  s.sendEncoded(m2, 'challenge');
  s.send({ t: 'error', code: 'BAD_MESSAGE', message: 'no' });
  s.send({ t: 'ping', n: 1 });
  assert.is(sent.length, 4);
  assert.equal(openAt(sent[0]!, 2), encode({ t: 'result', ok: true, acc: 1 }));
  assert.equal(openAt(sent[1]!, 3), m2, 'M2 is the exact inner bytes');
  assert.equal(decode(openAt(sent[2]!, 4)!), { t: 'error', code: 'BAD_MESSAGE', message: 'no' }, 'an error is sealed too');
  assert.equal(decode(openAt(sent[3]!, 5)!), { t: 'ping', n: 1 });
  assert.is(s.counter, 6);
  assert.equal(counted, ['result', 'challenge', 'error', 'ping']);
});

test('sealed: a frame opened with another counter (replayed, reordered) or another key does not open', () => {
  const { s, sent } = sender();
  s.seal(KS);
  s.send({ t: 'ping', n: 1 });
  s.send({ t: 'ping', n: 2 });
  assert.is(openAt(sent[0]!, 3), null, 'the first frame is not the second');
  assert.is(openAt(sent[1]!, 2), null, 'the second frame is not the first');
  assert.is(openAt(sent[0]!, 1), null, 'the NS never uses the handshake nonces (0, 1)');
  assert.is(openAt(sent[0]!, 2, new Uint8Array(32).fill(6)), null);
  assert.ok(openAt(sent[0]!, 2));
});

test('close: the socket closes once with the code and reason; nothing goes out after, and no counter moves', () => {
  const { s, sent, closes } = sender();
  s.seal(KS);
  s.send({ t: 'ping', n: 1 });
  s.close(1008, 'BAD_BOX');
  s.close(1008, 'BAD_FRAME');
  s.send({ t: 'error', code: 'BAD_FRAME', message: 'late' });
  s.sendEncoded(new Uint8Array([0x80]), 'x');
  assert.equal(closes, [[1008, 'BAD_BOX']]);
  assert.is(sent.length, 1);
  assert.is(s.counter, 3);
  assert.is(s.state, 'closed');
  assert.throws(() => s.seal(KS));
});

test('closed by the peer: nothing goes out after, and the socket is not closed again', () => {
  const { s, sent, closes } = sender();
  s.closed();
  s.send({ t: 'error', code: 'BAD_FRAME', message: 'late' });
  s.close(1008, 'BAD_FRAME');
  assert.equal(sent, []);
  assert.equal(closes, []);
});

test('seal happens once', () => {
  const { s } = sender();
  s.seal(KS);
  assert.throws(() => s.seal(KS));
});

test.run();
