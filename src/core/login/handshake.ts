/**
 * The responder's cryptography of the SIGMA-I handshake (PROTOCOL.md §4.1), step by step.
 * Nothing here knows about sockets or sessions.
 */
import { randomBytes } from 'node:crypto';
import { agreeX25519, generateX25519, sha512, signEd25519 } from '../crypto/keys.ts';
import { open, seal } from '../../wire/secretbox.ts';
import { encodeFrame } from '../../wire/frames.ts';
import { LABELS } from '../../wire/labels.ts';
import { ENROL_RESULT_NONCE, HANDSHAKE_NONCE } from '../../wire/nonces.ts';
import type { KeyObject } from 'node:crypto';

/** Step 2 up to the keys: what the responder knows once it has read `hello` (bytes M1). */
export interface HandshakeKeys {
  esPublic: Buffer;
  ns: Buffer;
  h1: Buffer;
  /** seals what the NS sends */
  kS: Buffer;
  /** opens what the app sends */
  kC: Buffer;
}

/** undefined when the agreement is all zero or `ea` is not a key (BAD_MESSAGE). */
export function deriveKeys(m1: Uint8Array, ea: Uint8Array): HandshakeKeys | undefined {
  const es = generateX25519();
  const dh = agreeX25519(es.privateKey, ea);
  if (!dh) return undefined;
  const ns = randomBytes(32);
  const h1 = sha512(m1, es.publicKey, ns);
  const k = sha512(LABELS.sigma, dh, h1);
  return { esPublic: es.publicKey, ns, h1, kS: k.subarray(0, 32), kC: k.subarray(32, 64) };
}

/** Step 3: the challenge frame (bytes M2) and h2 = SHA-512(h1 || M2). */
export function makeChallenge(keys: HandshakeKeys, srv: Uint8Array, serverKey: KeyObject, info: Record<string, unknown>): { m2: Uint8Array; h2: Buffer } {
  const sig = signEd25519(serverKey, Buffer.concat([LABELS.server, keys.h1]));
  const box = seal(encodeFrame({ srv, sig, info }), HANDSHAKE_NONCE, keys.kS);
  const m2 = encodeFrame({ t: 'challenge', es: keys.esPublic, ns: keys.ns, box });
  return { m2, h2: sha512(keys.h1, m2) };
}

/** Step 5, the NS side: the proof box opened with kC, or undefined. */
export const openProof = (keys: HandshakeKeys, box: Uint8Array): Uint8Array | undefined => open(box, HANDSHAKE_NONCE, keys.kC);

/** Step 6 for an enrolment: the result box sealed with kS. */
export const sealEnrolResult = (keys: HandshakeKeys, body: Record<string, unknown>): Uint8Array => seal(encodeFrame(body), ENROL_RESULT_NONCE, keys.kS);
