/**
 * Ed25519 and X25519 with node:crypto (PROTOCOL.md §4). Public keys travel as raw 32 bytes; a
 * `KeyObject` is made once per raw key and cached, so verifying a login costs one verify.
 *
 * Two things measured in bench/README.md shape this file:
 * - keys are imported as JWK, not DER: on OpenSSL 3 a DER (SPKI) import costs ~76 µs, a JWK one ~6 µs;
 * - new keys are made from 32 random bytes imported as a JWK (`newKey`), never with
 *   generateKeyPairSync: on node 20, a KeyObject it returns that is exported or used while a
 *   garbage collection frees its keygen job deadlocks the process (~KeyGenJob waits on the key's
 *   mutex), and generating a pair to JWK then importing its private key costs two scalar
 *   multiplications where the import alone costs one.
 */
import { createHash, createPrivateKey, createPublicKey, diffieHellman, randomBytes, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';

/**
 * A new private key: any 32 bytes are one (an Ed25519 seed; an X25519 scalar, which the function
 * clamps). Imported as a JWK, node reads `d` alone (it only checks that `x` is a string) and
 * OpenSSL derives the public key, returned as `x`; `d` is the private key, base64url.
 */
function newKey(crv: 'Ed25519' | 'X25519'): { privateKey: KeyObject; d: string; x: string } {
  const d = randomBytes(32).toString('base64url');
  const privateKey = createPrivateKey({ key: { kty: 'OKP', crv, x: d, d }, format: 'jwk' });
  return { privateKey, d, x: createPublicKey(privateKey).export({ format: 'jwk' }).x! };
}
const publicJwk = (crv: 'Ed25519' | 'X25519', raw: Uint8Array): KeyObject =>
  createPublicKey({ key: { kty: 'OKP', crv, x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });

/** A bounded cache: the oldest entry goes when it is full. */
class KeyCache {
  private readonly map = new Map<string, KeyObject>();
  constructor(private readonly max: number) {}
  get(raw: Uint8Array, make: () => KeyObject): KeyObject {
    const id = Buffer.from(raw).toString('latin1');
    let key = this.map.get(id);
    if (!key) {
      key = make();
      if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
      this.map.set(id, key);
    }
    return key;
  }
}
const edCache = new KeyCache(100_000);

/** The public KeyObject of a raw Ed25519 key, cached; throws on a key that is not 32 bytes. */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new Error('An Ed25519 public key is 32 bytes');
  return edCache.get(raw, () => publicJwk('Ed25519', raw));
}

export interface SigningKey {
  /** raw 32-byte public key, base64url */
  publicKey: string;
  /** the 32-byte seed, base64url (JWK `d`); stays in the store */
  secretKey: string;
}

export function generateSigningKey(): SigningKey {
  const { x, d } = newKey('Ed25519');
  return { publicKey: x, secretKey: d };
}

const privateCache = new Map<string, KeyObject>();
/** The private KeyObject of a stored signing key (cached per key; servers are few). */
export function ed25519PrivateKey(key: SigningKey): KeyObject {
  let k = privateCache.get(key.secretKey);
  if (!k) {
    k = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.publicKey, d: key.secretKey }, format: 'jwk' });
    privateCache.set(key.secretKey, k);
  }
  return k;
}

export const signEd25519 = (key: KeyObject, message: Uint8Array): Buffer => sign(null, message, key);

/** false for any malformed key or signature, never a throw. */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, message, ed25519PublicKey(publicKey), signature);
  } catch {
    return false;
  }
}

export interface X25519Pair {
  publicKey: Buffer;
  privateKey: KeyObject;
}

export function generateX25519(): X25519Pair {
  const { privateKey, x } = newKey('X25519');
  return { publicKey: Buffer.from(x, 'base64url'), privateKey };
}

/** X25519 agreement; undefined for a bad peer key or an all-zero result (small-order point). */
export function agreeX25519(privateKey: KeyObject, peerPublic: Uint8Array): Buffer | undefined {
  if (peerPublic.length !== 32) return undefined;
  try {
    const dh = diffieHellman({ privateKey, publicKey: publicJwk('X25519', peerPublic) });
    return dh.every((b) => b === 0) ? undefined : dh;
  } catch {
    return undefined;
  }
}

export const sha512 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
};

export const sha256hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Constant-time equality of two strings (different lengths are unequal, in constant time for the shorter). */
export function safeEqual(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y) && a.length === b.length;
}
