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
import { createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import nacl from 'tweetnacl';
import { fromB64url, type Signer, type StoredAccount } from '../../src/sdk/app.ts';

const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The Ed25519 private KeyObject of a 32-byte seed (PKCS8 DER; done once per phone). */
export const ed25519FromSeed = (seed: Uint8Array): KeyObject => createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8' });

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

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const fromJwk = (value: string | undefined) => new Uint8Array(Buffer.from(value!, 'base64url'));

/**
 * A key pair made so that no KeyObject of node's keygen job is ever used: the job returns JWK
 * objects and the private key is imported from them. On node 20.20 (OpenSSL 3.0) using a
 * KeyObject that `generateKeyPairSync()` returned (export, diffieHellman, sign) deadlocks the
 * process when a garbage collection frees the keygen job meanwhile (~KeyGenJob waits on the
 * key's mutex held by the running operation): a loop of generate + export + agree hangs within
 * seconds. See bench/README.md.
 */
export function safeKeyPair(type: 'x25519' | 'ed25519'): { publicKey: Uint8Array; secretKey: Uint8Array; privateKey: KeyObject } {
  // (@types/node has no overload for OKP keys encoded as JWK.)
  const generate = generateKeyPairSync as unknown as (type: string, options: object) => { publicKey: JsonWebKey; privateKey: JsonWebKey };
  const { publicKey, privateKey } = generate(type, { publicKeyEncoding: { format: 'jwk' }, privateKeyEncoding: { format: 'jwk' } });
  const crv = type === 'x25519' ? 'X25519' : 'Ed25519';
  return {
    publicKey: fromJwk(publicKey.x),
    secretKey: fromJwk(privateKey.d),
    privateKey: createPrivateKey({ key: { kty: 'OKP', crv, x: publicKey.x!, d: privateKey.d! }, format: 'jwk' }),
  };
}

/**
 * A bounded map from raw key bytes to KeyObjects. Keys are imported as JWK: on OpenSSL 3 a DER
 * import costs 80–350 µs, a JWK import of a public key 5 µs (see bench/README.md).
 */
class KeyCache {
  readonly #map = new Map<string, KeyObject>();
  constructor(private readonly max = 10_000) {}
  get(raw: Uint8Array, make: () => KeyObject): KeyObject {
    const id = Buffer.from(raw).toString('latin1');
    let key = this.#map.get(id);
    if (!key) this.set(raw, (key = make()));
    return key;
  }
  peek(raw: Uint8Array): KeyObject | undefined {
    return this.#map.get(Buffer.from(raw).toString('latin1'));
  }
  set(raw: Uint8Array, key: KeyObject): void {
    if (this.#map.size >= this.max) this.#map.delete(this.#map.keys().next().value!);
    this.#map.set(Buffer.from(raw).toString('latin1'), key);
  }
}

/** Ed25519 public keys seen (the server's key is the same every login). */
const edPublic = new KeyCache();
/** Ed25519 private keys by their 64-byte NaCl secret key, filled when they are made. */
const edPrivate = new KeyCache();
/** X25519 private keys by their raw 32 bytes, filled when they are made (the next agreement uses it). */
const xPrivate = new KeyCache(1_000);

let patched = false;

/** Replaces tweetnacl's X25519, Ed25519 and SHA-512 with node:crypto in this process. Idempotent. */
export function useNodeCryptoForTweetnacl(): void {
  if (patched) return;
  patched = true;
  const n = nacl as unknown as Record<string, any>;

  n.hash = (message: Uint8Array) => new Uint8Array(createHash('sha512').update(message).digest());

  const naclScalarMult = nacl.scalarMult;
  const scalarMult = (scalar: Uint8Array, point: Uint8Array): Uint8Array => {
    const privateKey = xPrivate.peek(scalar);
    if (!privateKey) return naclScalarMult(scalar, point); // a key this process did not make
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(point) }, format: 'jwk' });
    try {
      return new Uint8Array(diffieHellman({ privateKey, publicKey }));
    } catch {
      return new Uint8Array(32); // OpenSSL refuses an all-zero result; tweetnacl returns it (the SDK checks)
    }
  };
  n.scalarMult = Object.assign(scalarMult, { base: nacl.scalarMult.base, scalarLength: 32, groupElementLength: 32 });

  const boxKeyPair = () => {
    const { publicKey, secretKey, privateKey } = safeKeyPair('x25519');
    xPrivate.set(secretKey, privateKey);
    return { publicKey, secretKey };
  };
  n.box.keyPair = Object.assign(boxKeyPair, { fromSecretKey: nacl.box.keyPair.fromSecretKey });

  const signKeyPair = () => {
    const pair = safeKeyPair('ed25519');
    const secretKey = new Uint8Array(64);
    secretKey.set(pair.secretKey);
    secretKey.set(pair.publicKey, 32);
    edPrivate.set(secretKey, pair.privateKey);
    return { publicKey: pair.publicKey, secretKey };
  };
  n.sign.keyPair = Object.assign(signKeyPair, { fromSecretKey: nacl.sign.keyPair.fromSecretKey, fromSeed: nacl.sign.keyPair.fromSeed });

  const detached = (message: Uint8Array, secretKey: Uint8Array) =>
    new Uint8Array(
      sign(
        null,
        message,
        edPrivate.get(secretKey, () => ed25519FromSeed(secretKey.subarray(0, 32))),
      ),
    );
  const detachedVerify = (message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean => {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    try {
      const key = edPublic.get(publicKey, () => createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(publicKey) }, format: 'jwk' }));
      return verify(null, message, key, signature);
    } catch {
      return false;
    }
  };
  n.sign.detached = Object.assign(detached, { verify: detachedVerify });
}
