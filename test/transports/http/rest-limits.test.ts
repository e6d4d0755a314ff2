import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { startTestServer } from '../../helpers/ns.ts';
import { getFrom } from '../../helpers/peers.ts';

test('the defaults: 20 requests per minute without a known key from one source, then 429 with Retry-After; other sources are not counted', async () => {
  const clock = new SimulatedClock();
  clock.set(Date.now());
  const ns = await startTestServer({ NEXTAUTH_REST_UNKNOWN_KEY_RATE: '20/60' }, undefined, { clock });
  const get = (key: string, source: string) => getFrom(`${ns.url}/servers/`, key, source);
  for (let i = 0; i < 20; i++) assert.is((await get(`guess-${i}`, '127.0.0.2')).status, 401, `guess ${i + 1}`);
  const refused = await get('guess-21', '127.0.0.2');
  assert.is(refused.status, 429);
  assert.equal(refused.body, { code: 'RATE_LIMITED', message: 'Too many requests without a known api key from this address; try again later' });
  assert.is(refused.retryAfter, '3', 'a token comes back every 3 s');
  // A known key is counted per key, not per source: it works from there.
  assert.is((await get(ns.rootKey, '127.0.0.2')).status, 200);
  // Another source guesses on.
  assert.is((await get('guess-x', '127.0.0.3')).status, 401);
  // The bucket refills: 3 s, one more guess.
  clock.increment(3_000);
  assert.is((await get('guess-22', '127.0.0.2')).status, 401);
  assert.is((await get('guess-23', '127.0.0.2')).status, 429);
  await ns.stop(true);
});

test('requests per api key: past the rate 429 with Retry-After, nothing done; another key goes on', async () => {
  const clock = new SimulatedClock();
  clock.set(Date.now());
  const ns = await startTestServer({ NEXTAUTH_REST_RATE: '5/10' }, undefined, { clock });
  for (let i = 0; i < 5; i++) assert.is((await ns.api('GET', '/servers/')).status, 200);
  const before = ns.store.dump();
  const refused = await ns.api('POST', '/servers/', { body: { serverName: 'Never' } });
  assert.is(refused.status, 429);
  assert.is(refused.body.code, 'RATE_LIMITED');
  assert.is(refused.headers.get('retry-after'), '2');
  assert.is(ns.store.dump(), before, 'nothing made');
  clock.increment(2_000);
  assert.is((await ns.api('POST', '/servers/', { body: { serverName: 'Later' } })).status, 200);
  await ns.stop(true);
});

test.run();
