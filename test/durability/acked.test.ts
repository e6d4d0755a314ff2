/**
 * Crash safety at the worst moment: the server (the real command line, as a child process) is
 * killed with SIGKILL the instant an answer reaches its client — an enrolment's `result`, a
 * login's `result`, a REST change's 200, a logout's 200, a block's 200 — then restarted on the
 * same data folder. What was answered must hold after the restart. (crash.test.ts kills at
 * random moments; this file aims each kill right behind an acknowledgement.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fromB64url } from '../../src/sdk/app.ts';
import { cliApi, killAll, startCli } from '../helpers/child.ts';
import { newNonce, newPhone } from '../helpers/peers.ts';

const KEY = 'acked-test-root-key-0123456789';
const startServer = (dataDir: string) => startCli(dataDir, { rootApiKey: KEY });
const api = cliApi(KEY, { timeoutMs: 10_000 });

const dirs: string[] = [];
test.after(() => {
  killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('each acknowledgement survives a SIGKILL sent the moment it arrives: enrol, login, attribute change, logout, block', async () => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'nextauth-acked-'));
  dirs.push(base);
  const dir = path.join(base, 'data');
  let child = startServer(dir);
  let url = await child.listening;
  const srv = (await api(url, 'POST', '/servers/', { body: { serverName: 'acked' } })).body.serverid as string;
  const phone = newPhone();
  const qr = async (route: string, nonce: string) => (await api(url, 'GET', route, { headers: { 'x-nonce': nonce } })).raw.toString('base64');
  const session = async (nonce: string) => (await api(url, 'GET', `/servers/${srv}/sessions/`, { headers: { 'x-nonce': nonce } })).body;

  /** Runs `act` (which resolves on the acknowledgement), kills the server at once, restarts it. */
  async function killOnAck<T>(act: () => Promise<T>): Promise<T> {
    const result = await act();
    child.process.kill('SIGKILL');
    const { signal } = await child.exit;
    assert.is(signal, 'SIGKILL', `the server was alive until the kill (stderr: ${child.stderr()})`);
    child = startServer(dir);
    url = await child.listening;
    return result;
  }

  const lost: string[] = [];
  const expect = (ok: boolean, what: string) => void (ok || lost.push(what));

  // Enrolment: the phone has its result, so the account is there.
  const enrolled = await killOnAck(async () => phone.enrol(await qr(`/servers/${srv}/sessions/qr/enrol?name=phone&userid=ann`, newNonce()), { description: 'first' }));
  const account = await api(url, 'GET', `/servers/${srv}/accounts/${enrolled.acc}/`);
  expect(account.status === 200 && account.body.description === 'first' && account.body.userid === 'ann', 'an enrolment whose result reached the phone');

  // Logins: the phone has its result, so the browser is logged in.
  const nonces = [newNonce(), newNonce(), newNonce()];
  for (const nonce of nonces.slice(0, 2)) (await phone.login(await qr(`/servers/${srv}/sessions/qr/login`, nonce))).connection.close();
  await killOnAck(async () => (await phone.login(await qr(`/servers/${srv}/sessions/qr/login`, nonces[2]!))).connection.close());
  const pk = Buffer.from(fromB64url(enrolled.account.secretKey).slice(32)).toString('base64');
  for (const nonce of nonces) {
    const s = await session(nonce);
    expect(s.loggedin === true && s.accountid === enrolled.acc && s.pk === pk, 'a login whose result reached the phone');
  }

  // A REST change answered 200.
  await killOnAck(() => api(url, 'PUT', `/servers/${srv}/users/ann/attributes/`, { body: { plan: 'gold' } }));
  expect((await api(url, 'GET', `/servers/${srv}/users/ann/attributes/`)).body.plan === 'gold', 'an attribute change answered 200');

  // A logout answered 200: the session must not come back logged in.
  const logout = await killOnAck(() => api(url, 'POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonces[0]! } }));
  assert.is(logout.status, 200);
  expect((await session(nonces[0]!)).loggedin === false, 'a logout answered 200 (the session came back logged in)');

  // A block answered 200: the account's sessions must not come back logged in.
  const block = await killOnAck(() => api(url, 'PUT', `/servers/${srv}/accounts/${enrolled.acc}/?blocked=true`));
  assert.is(block.status, 200);
  expect((await api(url, 'GET', `/servers/${srv}/accounts/${enrolled.acc}/`)).body.blocked === true, 'a block answered 200 (account not blocked)');
  const after = await session(nonces[1]!);
  expect(after.loggedin === false, `a block answered 200 (its account's session came back logged in, state ${after.state})`);

  child.process.kill('SIGKILL');
  await child.exit;
  assert.equal(lost, [], `lost after a kill right behind the acknowledgement: ${lost.join('; ')}`);
});

test.run();
