/**
 * node:crypto for the load generator's phones, so that the generator is not the bottleneck.
 *
 * - `nodeSigner(account)`: the SDK's pluggable Signer, an Ed25519 KeyObject made once from the
 *   stored NaCl secret key (its first 32 bytes are the seed).
 * - `useNodeCryptoForTweetnacl()`: the SDK's other cryptography (X25519 keygen and agreement,
 *   the check of the server's Ed25519 signature, SHA-512, and the enrolment key) goes through
 *   tweetnacl, which is pure JavaScript and costs milliseconds per login. The SDK has no hook
 *   for it, so in the generator process (never in the server) tweetnacl's functions are replaced
 *   by node:crypto ones with the same inputs and outputs. secretbox stays tweetnacl's.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import nacl from 'tweetnacl';
import { fromB64url, type Signer, type StoredAccount } from '../../src/sdk/app.ts';

const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

/** The Ed25519 private KeyObject of a 32-byte seed. */
export const ed25519FromSeed = (seed: Uint8Array): KeyObject =>
  createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8' });

/** A Signer over the account's key with node:crypto; `onSign` runs just before each signature. */
export function nodeSigner(account: StoredAccount, onSign?: () => void): Signer {
  const secretKey = fromB64url(account.secretKey);
  const key = ed25519FromSeed(secretKey.subarray(0, 32));
  return {
    publicKey: secretKey.slice(32, 64),
    sign: (message) => {
      onSign?.();
      return new Uint8Array(sign(null, message, key));
    },
  };
}

/** A bounded map of KeyObjects made from raw keys (the server's key is the same every login). */
function cache(make: (raw: Uint8Array) => KeyObject, max = 10_000): (raw: Uint8Array) => KeyObject {
  const map = new Map<string, KeyObject>();
  return (raw) => {
    const id = Buffer.from(raw).toString('latin1');
    let key = map.get(id);
    if (!key) {
      key = make(raw);
      if (map.size >= max) map.delete(map.keys().next().value!);
      map.set(id, key);
    }
    return key;
  };
}

const edPublic = cache((raw) => createPublicKey({ key: Buffer.concat([ED25519_SPKI, raw]), format: 'der', type: 'spki' }));
const edPrivate = cache((secretKey) => ed25519FromSeed(secretKey.subarray(0, 32)));

const rawOf = (key: KeyObject, kind: 'spki' | 'pkcs8'): Uint8Array => {
  const der = key.export({ format: 'der', type: kind });
  return new Uint8Array(der.subarray(der.length - 32));
};

let patched = false;

/** Replaces tweetnacl's X25519, Ed25519 and SHA-512 with node:crypto in this process. Idempotent. */
export function useNodeCryptoForTweetnacl(): void {
  if (patched) return;
  patched = true;
  const n = nacl as unknown as Record<string, any>;

  n.hash = (message: Uint8Array) => new Uint8Array(createHash('sha512').update(message).digest());

  const scalarMult = (scalar: Uint8Array, point: Uint8Array): Uint8Array => {
    const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8, scalar]), format: 'der', type: 'pkcs8' });
    const publicKey = createPublicKey({ key: Buffer.concat([X25519_SPKI, point]), format: 'der', type: 'spki' });
    try {
      return new Uint8Array(diffieHellman({ privateKey, publicKey }));
    } catch {
      return new Uint8Array(32); // OpenSSL refuses an all-zero result; tweetnacl returns it (the SDK checks)
    }
  };
  n.scalarMult = Object.assign(scalarMult, { base: nacl.scalarMult.base, scalarLength: 32, groupElementLength: 32 });

  const boxKeyPair = () => {
    const { publicKey, privateKey } = generateKeyPairSync('x25519');
    return { publicKey: rawOf(publicKey, 'spki'), secretKey: rawOf(privateKey, 'pkcs8') };
  };
  n.box.keyPair = Object.assign(boxKeyPair, { fromSecretKey: nacl.box.keyPair.fromSecretKey });

  const signKeyPair = () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const pk = rawOf(publicKey, 'spki');
    const secretKey = new Uint8Array(64);
    secretKey.set(rawOf(privateKey, 'pkcs8'));
    secretKey.set(pk, 32);
    return { publicKey: pk, secretKey };
  };
  n.sign.keyPair = Object.assign(signKeyPair, { fromSecretKey: nacl.sign.keyPair.fromSecretKey, fromSeed: nacl.sign.keyPair.fromSeed });

  const detached = (message: Uint8Array, secretKey: Uint8Array) => new Uint8Array(sign(null, message, edPrivate(secretKey)));
  const detachedVerify = (message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean => {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    try {
      return verify(null, message, edPublic(publicKey), signature);
    } catch {
      return false;
    }
  };
  n.sign.detached = Object.assign(detached, { verify: detachedVerify });
}
