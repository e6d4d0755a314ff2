/**
 * A virtual server's OpenID Provider keys, made on its first use and kept in the store (so every
 * process of a cluster signs and reads cookies with the same ones): ID-token signing keys
 * (ES256, the default, and Ed25519 for EdDSA) and the provider's cookie keys.
 *
 * Rotation without downtime: a new ES256 key is published at once but signs only from
 * `activates` on (every process has rebuilt its provider by then and publishes it too: a
 * token it signs verifies wherever its JWKS is read); the key it replaces is retired then and
 * stays published for `keepMs` more (tokens it signed verify), then goes. `signingOrder` gives
 * the keys in the order the provider wants them: the one that signs first.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';
import type { Json, Store } from '../../ports.ts';
import { toB64url } from '../../wire/base64url.ts';

export interface OidcKeys {
  /** private JWKs, the signing ones first */
  keys: Array<JsonWebKey & { kid: string; alg: string; use: 'sig'; created: number; activates?: number; retired?: number }>;
  cookieKeys: string[];
}

const MODEL = 'Keys';
const ID = 'provider';

function signingKey(alg: 'ES256' | 'EdDSA', now: number): OidcKeys['keys'][number] {
  const { privateKey } = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  // RFC 7638 thumbprint of the public members, as the key id
  const pub = alg === 'ES256' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  const kid = toB64url(createHash('sha256').update(JSON.stringify(pub)).digest());
  return { ...jwk, kid, alg, use: 'sig', created: now };
}

/** The server's keys, made (once, whichever process comes first) when it has none. */
export async function oidcKeysOf(store: Store, serverid: string, now = Date.now()): Promise<OidcKeys> {
  const kept = await store.get('oidc', serverid, MODEL, ID);
  if (kept) return kept.payload as unknown as OidcKeys;
  const made: OidcKeys = { keys: [signingKey('ES256', now), signingKey('EdDSA', now)], cookieKeys: [toB64url(randomBytes(32))] };
  return store.transact(async (tx) => {
    const raced = await tx.get('oidc', serverid, MODEL, ID);
    if (raced) return raced.payload as unknown as OidcKeys;
    tx.put('oidc', [serverid, MODEL, ID], { payload: made as unknown as { [key: string]: Json } });
    return made;
  });
}

/** Adds a new ES256 key that signs from `activates` on; keys retired more than `keepMs` ago go. */
export async function rotateOidcKeys(store: Store, serverid: string, { activateInMs, keepMs }: { activateInMs: number; keepMs: number }, now = Date.now()): Promise<OidcKeys> {
  await oidcKeysOf(store, serverid, now);
  return store.transact(async (tx) => {
    const current = (await tx.get('oidc', serverid, MODEL, ID))!.payload as unknown as OidcKeys;
    const fresh = { ...signingKey('ES256', now), activates: now + activateInMs };
    // The one signing now retires when the new one activates.
    const keys = [...current.keys.map((k) => (k.alg === 'ES256' && k.retired === undefined ? { ...k, retired: fresh.activates } : k)), fresh].filter(
      (k) => k.retired === undefined || now - k.retired < keepMs,
    );
    const next: OidcKeys = { keys, cookieKeys: [toB64url(randomBytes(32)), ...current.cookieKeys.slice(0, 2)] };
    tx.put('oidc', [serverid, MODEL, ID], { payload: next as unknown as { [key: string]: Json } });
    return next;
  });
}

/** The keys as the provider wants them at `now`: of each algorithm, the newest active one first; keys not active yet and retired ones after (published, not signing). */
export function signingOrder(keys: OidcKeys['keys'], now = Date.now()): OidcKeys['keys'] {
  const signs = (k: OidcKeys['keys'][number]) => (k.activates ?? 0) <= now && (k.retired === undefined || k.retired > now);
  return [...keys].sort((a, b) => Number(signs(b)) - Number(signs(a)) || (b.activates ?? b.created) - (a.activates ?? a.created));
}

/** What may be shown of the keys (never a private part): id, algorithm, when each signs. */
export interface SigningKeyView {
  kid: string;
  alg: string;
  created: number;
  activates?: number;
  retired?: number;
}
export const keyViews = (keys: OidcKeys['keys']): SigningKeyView[] =>
  keys.map(({ kid, alg, created, activates, retired }) => ({
    kid,
    alg,
    created,
    ...(activates !== undefined ? { activates } : {}),
    ...(retired !== undefined ? { retired } : {}),
  }));

/** The rotation the operations make: the new key signs in two minutes (every process publishes it by then), the old one is published a day more. */
export const ROTATION = { activateInMs: 120_000, keepMs: 86_400_000 } as const;
