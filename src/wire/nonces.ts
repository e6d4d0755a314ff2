/** The secretbox nonces and counters of PROTOCOL.md §4. */

/** 16 zero bytes followed by `counter` as 8-byte big endian (§4.2). Counter 0 is the 24 zero bytes of §4.1. */
export function counterNonce(counter: number): Uint8Array {
  const nonce = new Uint8Array(24);
  const view = new DataView(nonce.buffer);
  view.setUint32(16, Math.floor(counter / 2 ** 32));
  view.setUint32(20, counter >>> 0);
  return nonce;
}

/** The challenge and proof boxes: 24 zero bytes. */
export const HANDSHAKE_NONCE = counterNonce(0);
/** The enrol result box: 23 zero bytes || 0x01. */
export const ENROL_RESULT_NONCE = counterNonce(1);
/** The first counter each side seals with on a sealed channel (0 and 1 were used by the handshake). */
export const FIRST_NS_COUNTER = 2;
export const FIRST_APP_COUNTER = 1;
