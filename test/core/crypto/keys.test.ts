/**
 * New keys (src/core/crypto/keys.ts) are made from 32 random bytes imported as a JWK: checked
 * against tweetnacl, an implementation of its own, that the public key node derives is the one
 * of that private key, for X25519 (the ephemeral key of each handshake) and Ed25519 (a server's
 * signing key).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import nacl from 'tweetnacl';
import { agreeX25519, ed25519PrivateKey, generateSigningKey, generateX25519, signEd25519, verifyEd25519 } from '../../../src/core/crypto/keys.ts';

const bytes = (b64url: string) => new Uint8Array(Buffer.from(b64url, 'base64url'));

test('an X25519 key: its public key is its private key times the base point, and agreement matches', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const pair = generateX25519();
    const d = pair.privateKey.export({ format: 'jwk' }).d!;
    assert.is(pair.publicKey.length, 32);
    assert.equal(new Uint8Array(pair.publicKey), nacl.scalarMult.base(bytes(d)));
    const other = nacl.box.keyPair();
    assert.equal(new Uint8Array(agreeX25519(pair.privateKey, other.publicKey)!), nacl.scalarMult(other.secretKey, new Uint8Array(pair.publicKey)));
    seen.add(d);
  }
  assert.is(seen.size, 20, 'each key is new');
});

test("a signing key: its public key is its seed's, and what it signs verifies elsewhere", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const key = generateSigningKey();
    const seed = bytes(key.secretKey);
    assert.is(seed.length, 32);
    const reference = nacl.sign.keyPair.fromSeed(seed);
    assert.equal(bytes(key.publicKey), reference.publicKey);
    const message = new TextEncoder().encode(`message ${i}`);
    const signature = signEd25519(ed25519PrivateKey(key), message);
    assert.ok(nacl.sign.detached.verify(message, new Uint8Array(signature), reference.publicKey));
    assert.ok(verifyEd25519(reference.publicKey, message, signature));
    seen.add(key.secretKey);
  }
  assert.is(seen.size, 20, 'each key is new');
});

test.run();
