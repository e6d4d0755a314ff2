/**
 * A server's OpenID Provider keys: made once (ES256 and Ed25519, cookie keys), the same for every
 * reader; a rotation publishes a new ES256 key at once and lets it sign only from its activation,
 * the old one signing until then and published a while after; retired keys go after `keepMs`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LowdbStore } from '../../../src/adapters/lowdb/lowdb-store.ts';
import { oidcKeysOf, rotateOidcKeys, signingOrder } from '../../../src/core/oidc/oidc-keys.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-oidc-keys-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('made once; a rotation signs from its activation; the old key stays published, then goes', async () => {
  const store = await LowdbStore.open(dir);
  const t0 = 1_000_000;
  const first = await oidcKeysOf(store, 's', t0);
  assert.equal(
    first.keys.map((k) => k.alg),
    ['ES256', 'EdDSA'],
  );
  for (const k of first.keys) assert.ok(k.d && k.kid, 'private keys with their ids');
  assert.equal(await oidcKeysOf(store, 's', t0 + 5), first, 'the same for every later reader');
  const old = first.keys[0]!.kid;

  const rotated = await rotateOidcKeys(store, 's', { activateInMs: 120_000, keepMs: 86_400_000 }, t0 + 10);
  const fresh = rotated.keys.find((k) => k.kid !== old && k.alg === 'ES256')!;
  assert.is(fresh.activates, t0 + 10 + 120_000);
  assert.is(rotated.keys.length, 3, 'both ES256 keys published, and EdDSA');
  const es = (now: number) => signingOrder(rotated.keys, now).find((k) => k.alg === 'ES256')!.kid;
  assert.is(es(t0 + 60_000), old, 'the old key signs until the new one activates');
  assert.is(es(t0 + 10 + 120_000), fresh.kid, 'then the new one');
  assert.is(rotated.keys.find((k) => k.kid === old)!.retired, fresh.activates);

  const later = await rotateOidcKeys(store, 's', { activateInMs: 0, keepMs: 86_400_000 }, t0 + 10 + 120_000 + 86_400_000 + 1);
  assert.not.ok(
    later.keys.some((k) => k.kid === old),
    'retired longer than keepMs: gone',
  );
  assert.equal(later.keys.filter((k) => k.alg === 'EdDSA').length, 1, 'EdDSA stays');
  await store.close();
});

test.run();
