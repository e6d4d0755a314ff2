/**
 * The pure cost of a login's cryptography on this machine, with node:crypto, done the way the NS
 * does it (src/core/crypto/keys.ts): per login the NS makes an X25519 key pair, agrees with the
 * phone's key, signs the transcript (Ed25519), verifies the phone's signature (cached public
 * KeyObject) and hashes three times (SHA-512). Also, for reference: the tweetnacl secretbox the
 * NS seals its frames with, and what a phone pays with tweetnacl alone (the SDK's default).
 *
 * Run alone: `npx tsx bench/crypto-baseline.ts [ms per op]`.
 */
import { createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import nacl from 'tweetnacl';
import { safeKeyPair } from './lib/fast-crypto.ts';
import { round } from './lib/stats.ts';

export interface OpCost {
  /** µs per operation */
  us: number;
  perSecond: number;
}

export interface CryptoBaseline {
  ops: {
    x25519Keygen: OpCost;
    /** importing a private X25519 key from JWK (the public key derived): how src/core/crypto/keys.ts makes a key, from 32 random bytes */
    x25519PrivateImportJwk: OpCost;
    /** the agreement alone, the phone's key already a KeyObject */
    x25519Agree: OpCost;
    /** importing the phone's raw X25519 key as the NS does (SPKI DER), once per login */
    x25519ImportDer: OpCost;
    /** the same import as JWK */
    x25519ImportJwk: OpCost;
    ed25519Sign: OpCost;
    ed25519Verify: OpCost;
    sha512: OpCost;
    /** tweetnacl secretbox seal of a 150-byte frame (the NS's sealing) */
    secretboxSeal: OpCost;
    secretboxOpen: OpCost;
    /** tweetnacl, what the SDK uses by default on a phone */
    naclX25519Keygen: OpCost;
    naclX25519Agree: OpCost;
    naclEd25519Sign: OpCost;
    naclEd25519Verify: OpCost;
  };
  /** keygen + agree + sign + verify + 3 × sha512: the pure cryptography of one login at the NS, µs */
  loginCryptoUs: number;
  /** as src/core/crypto/keys.ts does it: the ephemeral key imported from 32 random bytes instead of generated, and the phone's public key imported (JWK), µs */
  loginCryptoAsImplementedUs: number;
  /** logins per second one core could do if that crypto were all it did */
  loginCryptoPerSecondPerCore: number;
  /** plus the 6 secretbox operations of a login on a kept-open sealed connection, µs */
  loginCryptoWithSecretboxUs: number;
  /** a phone's crypto per login with tweetnacl only (keygen, agree, verify, sign, 3 × sha512), µs */
  phoneLoginCryptoTweetnaclUs: number;
}

/** µs per call of `fn`, run for about `ms` after a short warm-up. */
export function timeOp(fn: () => unknown, ms: number): OpCost {
  const warm = performance.now() + ms / 5;
  for (let i = 0; i < 20 || performance.now() < warm; i++) fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  const batch = 10;
  while (now - start < ms) {
    for (let i = 0; i < batch; i++) fn();
    n += batch;
    now = performance.now();
  }
  const us = ((now - start) * 1000) / n;
  return { us: round(us, 2), perSecond: Math.round(1e6 / us) };
}

const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

export function cryptoBaseline(msPerOp = 500): CryptoBaseline {
  const transcript = randomBytes(200);
  const message = Buffer.concat([Buffer.from('nextauth/login'), randomBytes(64)]);
  // No KeyObject straight from generateKeyPairSync: using one can deadlock node 20 (see safeKeyPair).
  const ed = safeKeyPair('ed25519');
  const edPublic = createPublicKey(ed.privateKey);
  const signature = sign(null, message, ed.privateKey);
  const x = safeKeyPair('x25519');
  const xJwk = { x: Buffer.from(x.publicKey).toString('base64url'), d: Buffer.from(x.secretKey).toString('base64url') };
  const peer = Buffer.from(safeKeyPair('x25519').publicKey);
  const peerB64 = peer.toString('base64url');
  const peerKey = createPublicKey({ key: Buffer.concat([X25519_SPKI, peer]), format: 'der', type: 'spki' });
  const frame = randomBytes(150);
  const key = randomBytes(32);
  const nonce = new Uint8Array(24);
  const box = nacl.secretbox(frame, nonce, key);
  const naclEd = nacl.sign.keyPair();
  const naclSig = nacl.sign.detached(message, naclEd.secretKey);
  const naclX = nacl.box.keyPair();

  const fns: Record<keyof CryptoBaseline['ops'], () => unknown> = {
    // A key pair and its raw keys (exporting the public key of a returned KeyObject instead is the
    // same work, but that pattern deadlocks node 20 in a loop like this).
    x25519Keygen: () => generateKeyPairSync('x25519', { publicKeyEncoding: { format: 'jwk' }, privateKeyEncoding: { format: 'jwk' } }),
    // How the NS makes its ephemeral key (src/core/crypto/keys.ts, newKey): a private key imported from a JWK.
    x25519PrivateImportJwk: () => createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', x: xJwk.x, d: xJwk.d }, format: 'jwk' }),
    x25519Agree: () => diffieHellman({ privateKey: x.privateKey, publicKey: peerKey }),
    // As agreeX25519 in src/core/crypto/keys.ts before its diffieHellman.
    x25519ImportDer: () => createPublicKey({ key: Buffer.concat([X25519_SPKI, peer]), format: 'der', type: 'spki' }),
    x25519ImportJwk: () => createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: peerB64 }, format: 'jwk' }),
    ed25519Sign: () => sign(null, message, ed.privateKey),
    ed25519Verify: () => verify(null, message, edPublic, signature),
    sha512: () => createHash('sha512').update(transcript).digest(),
    secretboxSeal: () => nacl.secretbox(frame, nonce, key),
    secretboxOpen: () => nacl.secretbox.open(box, nonce, key),
    naclX25519Keygen: () => nacl.box.keyPair(),
    naclX25519Agree: () => nacl.scalarMult(naclX.secretKey, peer),
    naclEd25519Sign: () => nacl.sign.detached(message, naclEd.secretKey),
    naclEd25519Verify: () => nacl.sign.detached.verify(message, naclSig, naclEd.publicKey),
  };
  // Three interleaved rounds, the median of each: this machine's neighbours come and go.
  const rounds = Object.keys(fns).map(() => [] as OpCost[]);
  for (let r = 0; r < 3; r++) for (const [i, fn] of Object.values(fns).entries()) rounds[i]!.push(timeOp(fn, msPerOp / 3));
  const ops = Object.fromEntries(Object.keys(fns).map((name, i) => [name, rounds[i]!.sort((a, b) => a.us - b.us)[1]!])) as CryptoBaseline['ops'];
  const loginCryptoUs = ops.x25519Keygen.us + ops.x25519Agree.us + ops.ed25519Sign.us + ops.ed25519Verify.us + 3 * ops.sha512.us;
  const naclSha512 = timeOp(() => nacl.hash(transcript), Math.min(msPerOp, 200)).us;
  return {
    ops,
    loginCryptoUs: round(loginCryptoUs, 2),
    loginCryptoAsImplementedUs: round(loginCryptoUs - ops.x25519Keygen.us + ops.x25519PrivateImportJwk.us + ops.x25519ImportJwk.us, 2),
    loginCryptoPerSecondPerCore: Math.round(1e6 / loginCryptoUs),
    loginCryptoWithSecretboxUs: round(loginCryptoUs + 3 * ops.secretboxSeal.us + 3 * ops.secretboxOpen.us, 2),
    phoneLoginCryptoTweetnaclUs: round(ops.naclX25519Keygen.us + ops.naclX25519Agree.us + ops.naclEd25519Sign.us + ops.naclEd25519Verify.us + 3 * naclSha512, 2),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(cryptoBaseline(Number(process.argv[2] ?? 500)), null, 2));
}
