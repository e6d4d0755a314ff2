/**
 * Attribute bags (global, server, privileged server, user): set replaces, update merges,
 * remove deletes one key. One implementation for all four.
 */
import { NsError } from '../../wire/errors.ts';
import type { Attributes } from '../../adapters/lowdb/data.ts';

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

export function setAttributes(bag: Attributes, attrs: Attributes): void {
  for (const key of Object.keys(bag)) delete bag[key];
  Object.assign(bag, attrs);
}

export function updateAttributes(bag: Attributes, attrs: Attributes): void {
  Object.assign(bag, attrs);
}

export function clearAttributes(bag: Attributes): void {
  for (const key of Object.keys(bag)) delete bag[key];
}

/** Deletes one key; 404 UNKNOWN_ATTRIBUTE when it is not there. Call it first, then write. */
export function checkAttributeExists(bag: Attributes, key: string): void {
  if (!Object.hasOwn(bag, key)) throw new NsError('UNKNOWN_ATTRIBUTE', `No attribute "${key}"`);
}
