/**
 * Attribute bags (global, server, privileged server, user): set replaces, update merges,
 * remove deletes one key. One implementation for all four.
 */
import { NsError } from '../../wire/errors.ts';
import type { Attributes } from '../../ports.ts';

export const MAX_ATTRIBUTES_BYTES = 64 * 1024;

/** Checks a body is a plain object of a sensible size; 400 otherwise. */
export function checkAttributes(body: unknown): Attributes {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new NsError('BAD_REQUEST', 'body: attributes must be a JSON object');
  }
  if (JSON.stringify(body).length > MAX_ATTRIBUTES_BYTES) {
    throw new NsError('BAD_REQUEST', `body: attributes must be at most ${MAX_ATTRIBUTES_BYTES} bytes of JSON`);
  }
  for (const key of Object.keys(body)) {
    if (key.length === 0 || key.length > 256) throw new NsError('BAD_REQUEST', `body: attribute key "${key.slice(0, 40)}" must be 1 to 256 characters`);
  }
  return body as Attributes;
}

/** How a bag changes: replaced, merged, emptied, or one key deleted. */
export type AttributeChange = 'set' | 'update' | 'clear' | { delete: string };

/** The bag after the change (a new object); 404 UNKNOWN_ATTRIBUTE when the key to delete is not there. */
export function changedAttributes(bag: Attributes, how: AttributeChange, attrs: Attributes = {}): Attributes {
  if (how === 'set') return { ...attrs };
  if (how === 'update') return { ...bag, ...attrs };
  if (how === 'clear') return {};
  if (!Object.hasOwn(bag, how.delete)) throw new NsError('UNKNOWN_ATTRIBUTE', `No attribute "${how.delete}"`);
  const next = { ...bag };
  delete next[how.delete];
  return next;
}
