/**
 * Limits per source address on the app channel (PROTOCOL.md §2, §7), tried from several
 * sources (127.0.0.2, 127.0.0.3, …; the owner on 127.0.0.1): a stranger's failed proofs block
 * the stranger's `hello`s, on every session, for a while — not the session, not the owner; too
 * many `hello`s from one source are refused, and the others go on.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import nacl from 'tweetnacl';
import { naclSigner } from '../../src/sdk/app.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { codeOf, getSession, newNonce, newPhone, qr, socketFrom } from '../helpers/peers.ts';

test('20 failed proofs from one source (the §7 default) refuse its hellos on every session for 5 minutes; the owner and other sources log in', async () => {
  const clock = new SimulatedClock();
  clock.set(Date.now());
  const ns: TestServer = await startTestServer({}, undefined, { clock });
  const srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Sources' } })).body.serverid;
  const owner = newPhone();
  const { account } = await owner.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  // The stranger has the account's id but not its key: every proof is BAD_SIGNATURE.
  const stranger = newPhone({ WebSocket: socketFrom('127.0.0.2'), signer: () => naclSigner(nacl.sign.keyPair().secretKey) });
  await stranger.keystore.put(account);
  for (let i = 0; i < 20; i++) assert.is(await codeOf(stranger.login(await qr(ns, srv, newNonce()))), 'BAD_SIGNATURE', `proof ${i + 1}`);
  // Its next hello, on a session it never touched, is refused before anything else.
  const victim = newNonce();
  const code = await qr(ns, srv, victim);
  assert.is(await codeOf(stranger.login(code)), 'RATE_LIMITED');
  // The session is not locked: its owner logs in; so does another source with the right key.
  const { connection } = await owner.login(code);
  connection.close();
  assert.is((await getSession(ns, srv, victim)).loggedin, true);
  const elsewhere = newPhone({ WebSocket: socketFrom('127.0.0.3') });
  await elsewhere.keystore.put(account);
  (await elsewhere.login(await qr(ns, srv, newNonce()))).connection.close();
  // 5 minutes later the stranger may try again (and fails again).
  clock.increment(5 * 60_000 - 1_000);
  assert.is(await codeOf(stranger.login(await qr(ns, srv, newNonce()))), 'RATE_LIMITED');
  clock.increment(1_000);
  assert.is(await codeOf(stranger.login(await qr(ns, srv, newNonce()))), 'BAD_SIGNATURE');
  await ns.stop(true);
});

test('hellos per source: past the rate (here 3 per 10 s) the source is refused RATE_LIMITED; another source is not; the window refills', async () => {
  const clock = new SimulatedClock();
  clock.set(Date.now());
  const ns: TestServer = await startTestServer({ NEXTAUTH_HELLO_RATE: '3/10' }, undefined, { clock });
  const srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Hellos' } })).body.serverid;
  const phone = newPhone({ WebSocket: socketFrom('127.0.0.4') });
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol')); // hello 1
  (await phone.login(await qr(ns, srv, newNonce()))).connection.close(); // 2
  (await phone.login(await qr(ns, srv, newNonce()))).connection.close(); // 3
  const nonce = newNonce();
  assert.is(await codeOf(phone.login(await qr(ns, srv, nonce))), 'RATE_LIMITED');
  assert.is((await getSession(ns, srv, nonce)).state, 'waiting', 'the session never heard of it');
  const other = newPhone({ WebSocket: socketFrom('127.0.0.5'), keystore: phone.keystore });
  (await other.login(await qr(ns, srv, newNonce()))).connection.close();
  clock.increment(10_000 / 3 + 1);
  (await phone.login(await qr(ns, srv, newNonce()))).connection.close();
  await ns.stop(true);
});

test('behind a trusted proxy the source is the client X-Forwarded-For names; from anyone else X-Forwarded-For is ignored', async () => {
  const ns: TestServer = await startTestServer({ NEXTAUTH_HELLO_RATE: '2/60', NEXTAUTH_TRUSTED_PROXIES: '127.0.0.1' });
  const srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Proxies' } })).body.serverid;
  const enrolled = newPhone({ WebSocket: socketFrom('127.0.0.9') });
  await enrolled.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  const via = (localAddress: string, forwardedFor: string) => newPhone({ WebSocket: socketFrom(localAddress, forwardedFor), keystore: enrolled.keystore });
  const login = async (phone: ReturnType<typeof newPhone>) => codeOf(phone.login(await qr(ns, srv, newNonce())).then((x) => x.connection.close()));
  // Through the proxy (127.0.0.1): each client its own source, whatever it put in front.
  assert.is(await login(via('127.0.0.1', '203.0.113.7')), 'ok');
  assert.is(await login(via('127.0.0.1', '198.51.100.1, 203.0.113.7')), 'ok', 'a forged left-most address does not make another source');
  assert.is(await login(via('127.0.0.1', '203.0.113.7')), 'RATE_LIMITED', '203.0.113.7: its third hello');
  assert.is(await login(via('127.0.0.1', '203.0.113.8')), 'ok', 'another client of the proxy');
  // Not through a trusted proxy: X-Forwarded-For changes nothing; 127.0.0.2 is the source.
  assert.is(await login(via('127.0.0.2', '192.0.2.1')), 'ok');
  assert.is(await login(via('127.0.0.2', '192.0.2.2')), 'ok');
  assert.is(await login(via('127.0.0.2', '192.0.2.3')), 'RATE_LIMITED');
  await ns.stop(true);
});

test.run();
