/** NaCl secretbox (XSalsa20-Poly1305) with tweetnacl, and the nonces of PROTOCOL.md §4. */
import nacl from 'tweetnacl';

export const seal = (message: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array => nacl.secretbox(message, nonce, key);

/** undefined when the box does not open. */
export const open = (box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | undefined => nacl.secretbox.open(box, nonce, key) ?? undefined;

/** 16 zero bytes followed by `counter` as 8-byte big endian. */
export function counterNonce(counter: number): Uint8Array {
  const nonce = new Uint8Array(24);
  new DataView(nonce.buffer).setBigUint64(16, BigInt(counter));
  return nonce;
}
