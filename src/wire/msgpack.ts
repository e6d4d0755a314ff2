/**
 * msgpack as the app channel carries it (PROTOCOL.md §4, §7): one value per frame, at most
 * 16 KiB, nested at most 8 deep (the frame's own map is depth 1), no extension types.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';

export const MAX_FRAME_BYTES = 16 * 1024;
export const MAX_DEPTH = 8;

/** Why bytes are not a frame's msgpack. */
export class MsgpackError extends Error {
  override name = 'MsgpackError';
}

/**
 * One decoder and one encoder for every frame: @msgpack/msgpack's `decode()` and `encode()` make
 * a new one (its buffers, its key cache) per call. Both are synchronous; a call made while one
 * runs gets a copy of its own (the library's `entered` check).
 */
const decoder = new Decoder({ maxStrLength: MAX_FRAME_BYTES, maxBinLength: MAX_FRAME_BYTES, maxArrayLength: 256, maxMapLength: 64, maxExtLength: 0 });
const encoder = new Encoder();

/** The depth of a decoded value (a scalar is 0, a map or array of scalars 1), counted up to `limit + 1`. */
function depthOf(value: unknown, limit: number): number {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return 0;
  if (limit < 0) return 1;
  let deepest = 0;
  for (const v of Array.isArray(value) ? value : Object.values(value)) {
    deepest = Math.max(deepest, depthOf(v, limit - 1));
    if (deepest > limit) break;
  }
  return deepest + 1;
}

/**
 * Decodes one msgpack value within the limits above (`maxDepth` for what the NS receives; an app
 * reading the NS's frames, which carry the relying party's own JSON, may allow more); MsgpackError otherwise.
 */
export function decodeMsgpack(bytes: Uint8Array, maxDepth = MAX_DEPTH): unknown {
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch {
    throw new MsgpackError('not msgpack');
  }
  if (depthOf(value, maxDepth) > maxDepth) throw new MsgpackError(`nested deeper than ${maxDepth}`);
  return value;
}

export const encodeMsgpack = (value: unknown): Uint8Array => encoder.encode(value);

/**
 * A frame's content as text for the Bus between processes (JSON carries no bytes): msgpack in
 * base64, and back.
 */
export const frameToText = (content: Record<string, unknown>): string => Buffer.from(encoder.encode(content)).toString('base64');
export const frameFromText = (text: string): Record<string, unknown> => decodeMsgpack(Buffer.from(text, 'base64'), Number.POSITIVE_INFINITY) as Record<string, unknown>;
