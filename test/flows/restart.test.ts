/**
 * Restart: a login survives the process, its limit goes on with the time it had left, and a
 * limit that passed while the process was down ends the session at once.
 */
import { readFileSync, rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { pushToQr, type Frame } from '../../src/sdk/app.ts';
import { getSession, newNonce, newPhone, qr, TextBrowser, until } from '../helpers/peers.ts';

const HOUR = 3600_000;

async function clockAt(ms: number) {
  const clock = new SimulatedClock();
  clock.set(ms);
  return clock;
}

test('an authenticated and a loggedOut session come back after a restart; browsers hear the truth', async () => {
  const t0 = Date.now();
  let ns: TestServer = await startTestServer({}, undefined, { clock: await clockAt(t0) });
  const srv = (await ns.api('POST', '/servers/', { body: { serverName: 'R' } })).body.serverid;
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=erin'));
  const stay = newNonce();
  const out = newNonce();
  for (const nonce of [stay, out]) (await phone.login(await qr(ns, srv, nonce))).connection.close();
  await ns.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': out } });
  const before = await getSession(ns, srv, stay);
  const waiting = newNonce();
  await getSession(ns, srv, waiting);

  await ns.stop();
  const clock = await clockAt(t0 + 10 * 60_000);
  ns = await startTestServer({}, ns.dataDir, { clock });
  const after = await getSession(ns, srv, stay);
  assert.is(after.loggedin, true);
  assert.is(after.userid, 'erin');
  assert.is(after.accountid, before.accountid);
  assert.is(after.expires, before.expires, 'the limit goes on from where it was');
  const loggedOut = await getSession(ns, srv, out);
  assert.is(loggedOut.state, 'loggedOut');
  assert.is(loggedOut.canprovoke, true);
  assert.is((await getSession(ns, srv, waiting)).state, 'waiting');

  const text = await TextBrowser.open(ns);
  text.send(`REGISTER ${after.hsid} ${srv}`);
  await text.waitFor('LOGIN', after.hsid);
  // The 12 h limit: 10 minutes passed before the restart, the rest after it.
  clock.increment(12 * HOUR - 10 * 60_000 - 1000);
  assert.is((await getSession(ns, srv, stay)).loggedin, true);
  clock.increment(1000);
  await text.waitFor('LOGOUT', after.hsid);
  assert.is((await getSession(ns, srv, stay)).state, 'loggedOut');
  text.close();
  await ns.stop(true);
});

test('a session whose limit passed while the process was down ends at once', async () => {
  const t0 = Date.now();
  let ns: TestServer = await startTestServer({}, undefined, { clock: await clockAt(t0) });
  const srv = (await ns.api('POST', '/servers/', { body: { serverName: 'R2' } })).body.serverid;
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  const nonce = newNonce();
  (await phone.login(await qr(ns, srv, nonce))).connection.close();
  await ns.stop();
  ns = await startTestServer({}, ns.dataDir, { clock: await clockAt(t0 + 13 * HOUR) });
  const status = await getSession(ns, srv, nonce);
  assert.is(status.loggedin, false);
  assert.is(status.state, 'loggedOut');
  // …and a loggedOut session past its idle limit is gone.
  await ns.stop();
  ns = await startTestServer({}, ns.dataDir, { clock: await clockAt(t0 + 14 * HOUR) });
  await until(() => ns.hub.size === 0, 'no actor');
  await ns.stop();
  assert.equal(Object.keys(JSON.parse(readFileSync(`${ns.dataDir}/sessions.json`, 'utf8')).sessions), []);
  rmSync(ns.dataDir, { recursive: true, force: true });
});

test('a restored resting session acts like a live one: getSession, logout, a push logs it in again, then it idles out', async () => {
  const t0 = Date.now();
  let ns: TestServer = await startTestServer({}, undefined, { clock: await clockAt(t0) });
  const srv = (await ns.api('POST', '/servers/', { body: { serverName: 'R3' } })).body.serverid;
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=rosa'));
  const nonce = newNonce();
  (await phone.login(await qr(ns, srv, nonce))).connection.close();
  await ns.stop();

  const clock = await clockAt(t0 + 60_000);
  ns = await startTestServer({ NEXTAUTH_PUSH_INTERVAL_SECONDS: '0' }, ns.dataDir, { clock });
  const restored = await getSession(ns, srv, nonce);
  assert.is(restored.loggedin, true);
  assert.is(restored.userid, 'rosa');
  const hsid = restored.hsid as string;
  const text = await TextBrowser.open(ns);
  text.send(`REGISTER ${hsid} ${srv}`);
  await text.waitFor('LOGIN', hsid);

  // Logged out by the relying party: the browser hears it, and the session can be provoked.
  assert.is((await ns.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } })).status, 200);
  await text.waitFor('LOGOUT', hsid);
  const out = await getSession(ns, srv, nonce);
  assert.is(out.state, 'loggedOut');
  assert.is(out.canprovoke, true);

  // A push to the phone (listening: its account names the first process's port, so it connects to this one) logs it in again.
  const appUrl = `${ns.url.replace('http', 'ws')}/ns/sigmai`;
  const { connection } = await phone.listen(srv, { connection: await phone.connect(appUrl) });
  const pushes: Frame[] = [];
  connection.on('push', (f) => pushes.push(f));
  assert.is((await ns.api('POST', `/servers/${srv}/sessions/provokelogin`, { headers: { 'x-nonce': nonce } })).status, 200);
  await until(() => pushes.length === 1, 'the push');
  await phone.login(pushToQr(pushes[0]!, appUrl), { connection });
  await text.waitFor('LOGIN', hsid);
  assert.is((await getSession(ns, srv, nonce)).loggedin, true);

  // Logged out again, it idles out like any session: gone, and a late scan hears so.
  await ns.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } });
  clock.increment(15 * 60_000 + 1);
  await ns.hub.settled();
  assert.ok(await ns.hub.wasExpired(srv, hsid));
  connection.close();
  text.close();
  await ns.stop(true);
});

test.run();
