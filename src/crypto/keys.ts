/**
 * Ed25519 and X25519 with node:crypto (PROTOCOL.md §4). Public keys travel as raw 32 bytes; a
 * `KeyObject` is made once per raw key and cached, so verifying a login costs one verify.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  sign,
  timingSafeEqual,
  verify,
  type KeyObject,
} from 'node:crypto';
import { fromB64url, toB64url } from './encoding.ts';

const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

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
  return edCache.get(raw, () => createPublicKey({ key: Buffer.concat([ED25519_SPKI, raw]), format: 'der', type: 'spki' }));
}

export interface SigningKey {
  /** raw 32-byte public key, base64url */
  publicKey: string;
  /** the 32-byte seed, base64url (JWK `d`); stays in the store */
  secretKey: string;
}

export function generateSigningKey(): SigningKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { publicKey: jwk.x!, secretKey: jwk.d! };
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
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return { publicKey: Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'), privateKey };
}

/** X25519 agreement; undefined for a bad peer key or an all-zero result (small-order point). */
export function agreeX25519(privateKey: KeyObject, peerPublic: Uint8Array): Buffer | undefined {
  if (peerPublic.length !== 32) return undefined;
  try {
    const publicKey = createPublicKey({ key: Buffer.concat([X25519_SPKI, peerPublic]), format: 'der', type: 'spki' });
    const dh = diffieHellman({ privateKey, publicKey });
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

export const rawPublicKey = (b64url: string): Buffer => fromB64url(b64url, 32)!;
export { toB64url };
