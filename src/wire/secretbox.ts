/** NaCl secretbox (XSalsa20-Poly1305) with tweetnacl (its nonces: nonces.ts). */
import nacl from 'tweetnacl';

export const seal = (message: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array => nacl.secretbox(message, nonce, key);

/** undefined when the box does not open. */
export const open = (box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | undefined => nacl.secretbox.open(box, nonce, key) ?? undefined;
