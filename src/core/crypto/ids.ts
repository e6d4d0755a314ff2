/** Random identifiers and secrets. */
import { randomBytes } from 'node:crypto';
import { idBytes, toB64url } from '../../wire/base64url.ts';

export const SERVERID_BYTES = 16;
export const HSID_BYTES = 32;

export const newServerId = (): string => toB64url(randomBytes(SERVERID_BYTES));
export const newSecret = (): string => toB64url(randomBytes(32));
/** An api key: 32 random bytes, base64url, prefixed so it is recognisable in a secret scanner. */
export const newApiKey = (): string => `nak_${toB64url(randomBytes(32))}`;
export const newRoleId = (): string => toB64url(randomBytes(16));

export const isServerId = (text: string): boolean => idBytes(text, SERVERID_BYTES) !== undefined;
export const isHsid = (text: string): boolean => idBytes(text, HSID_BYTES) !== undefined;
