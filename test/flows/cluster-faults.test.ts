/**
 * Faults of a cluster (PROTOCOL.md §8, docs/cluster.md), on a PostgreSQL and a Redis of this file's
 * own (test/helpers/private-services.ts), which it stops, kills and starts again:
 *
 * - PostgreSQL stopped for real (`pg_ctl stop`): writes answer 503 STORAGE_UNAVAILABLE with
 *   Retry-After, none is half-done, and the processes write again by themselves once it is back.
 *
 * Skipped (one line) without PostgreSQL's or Redis's tools; under CI=true that is a failure.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer } from '../helpers/ns.ts';
import { databases, type Databases } from '../helpers/pg-databases.ts';
import { codeOf, getSession, newNonce, newPhone, qr, TextBrowser, until } from '../helpers/peers.ts';
import { type PrivatePostgres, type PrivateRedis, privatePostgres, privateRedis } from '../helpers/private-services.ts';

const pg: PrivatePostgres | undefined = await privatePostgres();
const redis: PrivateRedis | undefined = pg ? await privateRedis() : undefined;

if (pg && redis) {
  let dbs: Databases;
  let prefixes = 0;
  /** A fresh database and Redis prefix: one NS of this file's. */
  const freshNs = async () => ({ NEXTAUTH_DATABASE_URL: await dbs.fresh(), NEXTAUTH_REDIS_URL: redis.url, NEXTAUTH_REDIS_PREFIX: `faults${++prefixes}:` });

  test.before(() => {
    dbs = databases(pg.url);
  });
  test.after(async () => {
    await dbs?.dropAll().catch(() => undefined);
    await Promise.allSettled([pg.remove(), redis.remove()]);
  });

  test('PostgreSQL stopped: writes, logins, enrolments and logouts answer STORAGE_UNAVAILABLE (503 with Retry-After) and change nothing; back by themselves once it is', async () => {
    const env = await freshNs();
    const one = await startTestServer(env);
    const two = await startTestServer(env);
    const browser = await TextBrowser.open(two);
    try {
      const srv = (await one.api('POST', '/servers/', { body: { serverName: 'Faults' } })).body.serverid as string;
      const phone = newPhone();
      const { acc } = await phone.enrol(await qr(one, srv, newNonce(), 'enrol', '&userid=olga'));
      const nonce = newNonce();
      const { hsid } = await getSession(two, srv, nonce);
      await phone.login(await qr(one, srv, nonce));
      browser.send(`REGISTER ${hsid} ${srv}`);
      await browser.waitFor('LOGIN', hsid);
      // Two sessions waiting for a login, and an enrol code, their QR codes read before the stop.
      const waiting = newNonce();
      const loginQr = await qr(one, srv, waiting);
      const { hsid: waitingHsid } = await getSession(two, srv, waiting);
      browser.send(`REGISTER ${waitingHsid} ${srv}`);
      await browser.waitFor('LOGOUT', waitingHsid);
      const enrolQr = await qr(one, srv, newNonce(), 'enrol', '&userid=piet');
      assert.is((await one.api('POST', `/servers/${srv}/users/before/attributes/`, { body: { k: 1 } })).status, 200);

      await pg.stop('fast');
      let down = await one.api('GET', '/readyz', { key: null });
      await until(async () => (down = await one.api('GET', '/readyz', { key: null })).status === 503, 'readyz 503', 5000);
      assert.match(down.body.checks.store, 'PostgreSQL cannot be reached');
      assert.is(down.body.checks.sessions, 'ok');
      const refusals = {
        write: await one.api('POST', `/servers/${srv}/users/during/attributes/`, { body: { k: 2 } }),
        logout: await two.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } }),
      };
      for (const [what, r] of Object.entries(refusals)) {
        assert.is(r.status, 503, `${what}: ${JSON.stringify(r.body)}`);
        assert.is(r.body.code, 'STORAGE_UNAVAILABLE', what);
        assert.is(r.headers.get('retry-after'), '5', what);
      }
      assert.is(await codeOf(phone.login(loginQr)), 'STORAGE_UNAVAILABLE', 'a login');
      assert.is(await codeOf(newPhone().enrol(enrolQr)), 'STORAGE_UNAVAILABLE', 'an enrolment');

      await pg.start();
      await until(async () => (await one.api('POST', `/servers/${srv}/users/after/attributes/`, { body: { k: 3 } })).status === 200, 'a write once PostgreSQL is back', 15_000);
      await until(async () => (await two.api('GET', '/readyz', { key: null })).status === 200, 'readyz 200 on the other', 15_000);
      // Nothing refused is there; what was acknowledged is, and the session is as it was.
      assert.equal((await two.api('GET', `/servers/${srv}/users/before/attributes/`)).body, { k: 1 });
      assert.equal((await two.api('GET', `/servers/${srv}/users/after/attributes/`)).body, { k: 3 });
      assert.is((await two.api('GET', `/servers/${srv}/users/during/attributes/`)).status, 404);
      assert.is((await two.api('GET', `/servers/${srv}/accounts/`)).body.totalnumber, 1, 'no account of the refused enrolment');
      const still = await getSession(one, srv, nonce);
      assert.is(still.loggedin, true, 'the refused logout changed nothing');
      assert.is(still.accountid, acc);
      assert.is((await getSession(one, srv, waiting)).loggedin, false, 'the refused login changed nothing');
      assert.not.ok(browser.types(hsid).includes('LOGOUT'), 'its browser heard no LOGOUT');
      assert.not.ok(browser.types(waitingHsid).includes('LOGIN'), 'nor a LOGIN of the refused login');
      // And the same operations now go through.
      assert.is((await two.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } })).status, 200);
      await browser.waitFor('LOGOUT', hsid);
      await phone.login(await qr(one, srv, waiting));
      await browser.waitFor('LOGIN', waitingHsid);
      await newPhone().enrol(await qr(one, srv, newNonce(), 'enrol', '&userid=piet'));
    } finally {
      browser.close();
      await pg.start().catch(() => undefined);
      await Promise.allSettled([one.stop(true), two.stop(true)]);
    }
  });
}

test.run();
