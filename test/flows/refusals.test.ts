/**
 * Every refusal of the app channel (PROTOCOL.md §4.1) over a real socket: the error frame
 * arrives, and nothing changed: no account made, no session logged in.
 */
import { encode } from '@msgpack/msgpack';
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import { SimulatedClock } from 'xstate';
import nacl from 'tweetnacl';
import { AppConnection, naclSigner, type StoredAccount } from '../../src/sdk/app.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { codeOf, getSession, newNonce, newPhone, qr, socketFrom, tamperingSocket, TextBrowser, until } from '../helpers/peers.ts';

let ns: TestServer;
let clock: SimulatedClock;
let srv: string;
let appUrl: string;

test.before(async () => {
  clock = new SimulatedClock();
  clock.set(Date.now());
  ns = await startTestServer({}, undefined, { clock });
  srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Refusals' } })).body.serverid;
  appUrl = `${ns.url.replace('http', 'ws')}/ns/sigmai`;
});
test.after(() => ns.stop(true));

const accounts = () => ns.registry.store.countAccounts(srv);

async function enrolled(server = srv) {
  const phone = newPhone();
  const { acc, account } = await phone.enrol(await qr(ns, server, newNonce(), 'enrol'));
  return { phone, acc, account };
}

/** A hello built by hand (for refusals that come before any cryptography). */
function hello(fields: Record<string, unknown>) {
  return encode({ t: 'hello', v: 1, op: 'login', srv: Buffer.from(srv, 'base64url'), hsid: randomBytes(32), ea: nacl.box.keyPair().publicKey, na: randomBytes(32), ...fields });
}

async function rawAnswer(bytes: Uint8Array | string): Promise<Record<string, unknown>> {
  const conn = await AppConnection.open(appUrl, { WebSocket, timeoutMs: 3000 });
  conn.sendRaw(bytes);
  const answer = await conn.next();
  conn.close();
  return answer;
}

test('garbage, text, non-map and schema-failing frames are refused; oversized frames close with 1009', async () => {
  assert.is((await rawAnswer(new Uint8Array([0xc1, 0xff, 0x00]))).code, 'BAD_FRAME');
  assert.is((await rawAnswer('REGISTER x y')).code, 'BAD_FRAME');
  assert.is((await rawAnswer(encode([1, 2, 3]))).code, 'BAD_FRAME');
  assert.is((await rawAnswer(encode({ no: 't' }))).code, 'BAD_FRAME');
  assert.is((await rawAnswer(hello({ ea: new Uint8Array(31) }))).code, 'BAD_MESSAGE');
  assert.is((await rawAnswer(hello({ extra: 1 }))).code, 'BAD_MESSAGE');
  assert.is((await rawAnswer(encode({ t: 'nonsense' }))).code, 'BAD_MESSAGE');
  assert.is((await rawAnswer(encode({ t: 'proof', box: new Uint8Array(40) }))).code, 'BAD_MESSAGE');
  assert.is((await rawAnswer(hello({ ea: new Uint8Array(32) }))).code, 'BAD_MESSAGE', 'all-zero agreement');
  const conn = await AppConnection.open(appUrl, { WebSocket, timeoutMs: 3000 });
  conn.sendRaw(new Uint8Array(16 * 1024 + 1));
  assert.is((await conn.closed).code, 1009);
});

test('UNSUPPORTED_VERSION, UNKNOWN_SERVER, UNKNOWN_SESSION', async () => {
  assert.is((await rawAnswer(hello({ v: 2 }))).code, 'UNSUPPORTED_VERSION');
  assert.is((await rawAnswer(hello({ srv: randomBytes(16) }))).code, 'UNKNOWN_SERVER');
  assert.is((await rawAnswer(hello({}))).code, 'UNKNOWN_SESSION');
});

test("a silent scan holds nothing: a second phone logs in beside it, the first one's late proof hears SESSION_BUSY; a third from one source and a login hello for a logged-in session, SESSION_BUSY", async () => {
  const { account } = await enrolled();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  // The stranger scans from 127.0.0.2 and waits at its consent screen (its hello is open).
  const slow = newPhone({ WebSocket: socketFrom('127.0.0.2'), consent: async () => (await gate, { accept: true, sf: 'none' }) });
  await slow.keystore.put(account);
  const slower = newPhone({ WebSocket: socketFrom('127.0.0.2'), consent: async () => (await gate, { accept: true, sf: 'none' }) });
  await slower.keystore.put(account);
  const owner = newPhone();
  await owner.keystore.put(account);
  const nonce = newNonce();
  const hsid = (await getSession(ns, srv, nonce)).hsid;
  const code = await qr(ns, srv, nonce);
  const first = codeOf(slow.login(code));
  const second = codeOf(slower.login(code));
  await until(async () => (await ns.hub.snapshot(srv, hsid))?.context.handshakes.length === 2, 'two handshakes open');
  // A third from the same source: SESSION_BUSY (2 per source).
  const third = newPhone({ WebSocket: socketFrom('127.0.0.2') });
  await third.keystore.put(account);
  assert.is(await codeOf(third.login(code)), 'SESSION_BUSY');
  // The owner logs in beside them.
  const { connection } = await owner.login(code);
  assert.is((await getSession(ns, srv, nonce)).loggedin, true);
  release();
  assert.is(await first, 'SESSION_BUSY');
  assert.is(await second, 'SESSION_BUSY');
  assert.is(await codeOf(owner.login(code)), 'SESSION_BUSY', 'a login hello for a logged-in session');
  const session = await getSession(ns, srv, nonce);
  assert.is(session.loggedin, true);
  connection.close();
});

test('BAD_BOX: a proof box that does not open; the session waits again, nobody logged in', async () => {
  const { account } = await enrolled();
  const phone = newPhone({ WebSocket: tamperingSocket((bytes, frame) => (frame?.t === 'proof' ? flipLastByte(bytes) : undefined)) });
  await phone.keystore.put(account);
  const nonce = newNonce();
  assert.is(await codeOf(phone.login(await qr(ns, srv, nonce))), 'BAD_BOX');
  const status = await getSession(ns, srv, nonce);
  assert.is(status.loggedin, false);
  assert.is(status.state, 'waiting');
});

test('UNKNOWN_ACCOUNT: browsers hear NOACCOUNTS; ACCOUNT_BLOCKED after a block', async () => {
  const { account, acc } = await enrolled();
  const phone = newPhone();
  await phone.keystore.put({ ...account, acc: 9999 });
  const nonce = newNonce();
  const hsid = (await getSession(ns, srv, nonce)).hsid;
  const text = await TextBrowser.open(ns);
  text.send(`REGISTER ${hsid} ${srv}`);
  assert.is(await codeOf(phone.login(await qr(ns, srv, nonce))), 'UNKNOWN_ACCOUNT');
  await text.waitFor('NOACCOUNTS', hsid);
  text.close();

  assert.is((await ns.api('PUT', `/servers/${srv}/accounts/${acc}/?blocked=true`)).status, 200);
  const owner = newPhone();
  await owner.keystore.put(account);
  assert.is(await codeOf(owner.login(await qr(ns, srv, nonce))), 'ACCOUNT_BLOCKED');
  assert.is((await getSession(ns, srv, nonce)).loggedin, false);
  await ns.api('PUT', `/servers/${srv}/accounts/${acc}/?blocked=false`);
  const { connection } = await owner.login(await qr(ns, srv, nonce));
  assert.is((await getSession(ns, srv, nonce)).loggedin, true);
  connection.close();
});

test('BAD_SIGNATURE: another key, and a proof signed for another hsid', async () => {
  const { account } = await enrolled();
  const stranger = newPhone({ signer: () => naclSigner(nacl.sign.keyPair().secretKey) });
  await stranger.keystore.put(account);
  const nonce = newNonce();
  assert.is(await codeOf(stranger.login(await qr(ns, srv, nonce))), 'BAD_SIGNATURE');

  // Sign the transcript of a handshake for session X, send it as the proof for session Y.
  let otherTranscript: Uint8Array | undefined;
  const own = naclSigner(Buffer.from(account.secretKey, 'base64url'));
  const recorder = newPhone({
    signer: () => ({ publicKey: own.publicKey, sign: (m) => ((otherTranscript = m), own.sign(m)) }),
  });
  await recorder.keystore.put(account);
  (await recorder.login(await qr(ns, srv, newNonce()))).connection.close(); // session X, recorded
  const replayer = newPhone({ signer: () => ({ publicKey: own.publicKey, sign: () => own.sign(otherTranscript ?? new Uint8Array(1)) }) });
  await replayer.keystore.put(account);
  const y = newNonce();
  assert.is(await codeOf(replayer.login(await qr(ns, srv, y))), 'BAD_SIGNATURE');
  assert.is((await getSession(ns, srv, y)).loggedin, false);
});

test("an account of server A used on server B is refused (its key is not B's account)", async () => {
  const b = (await ns.api('POST', '/servers/', { body: { serverName: 'B' } })).body;
  const onB = await enrolled(b.serverid); // B has an account with some id too
  const onA = await enrolled();
  const thief = newPhone();
  // The A account's key, pointed at server B (pinning B's real key so the phone trusts B).
  const moved: StoredAccount = { ...onA.account, serverid: b.serverid, serverpk: b.serverpk, acc: onB.acc };
  await thief.keystore.put(moved);
  const nonce = newNonce();
  assert.is(await codeOf(thief.login(await qr(ns, b.serverid, nonce))), 'BAD_SIGNATURE');
  await thief.keystore.put({ ...moved, acc: onA.acc + 1000 });
  assert.is(await codeOf(thief.login(await qr(ns, b.serverid, nonce), { acc: onA.acc + 1000 })), 'UNKNOWN_ACCOUNT');
  assert.is((await getSession(ns, b.serverid, nonce)).loggedin, false);
});

test('SECOND_FACTOR_REQUIRED with pinTimeout 0 unless a PIN is used; pinTimeout N trusts a recent PIN', async () => {
  const pinned = (await ns.api('POST', '/servers/', { body: { serverName: 'Pins', pinTimeout: 0 } })).body.serverid;
  const before = await ns.registry.store.countAccounts(pinned);
  assert.is(await codeOf(newPhone().enrol(await qr(ns, pinned, newNonce(), 'enrol'))), 'SECOND_FACTOR_REQUIRED');
  assert.is(await ns.registry.store.countAccounts(pinned), before, 'no account made');
  const withPin = newPhone({ sf: 'pin' });
  const { account } = await withPin.enrol(await qr(ns, pinned, newNonce(), 'enrol'));
  const lazy = newPhone({ sf: 'none' });
  await lazy.keystore.put(account);
  const nonce = newNonce();
  assert.is(await codeOf(lazy.login(await qr(ns, pinned, nonce))), 'SECOND_FACTOR_REQUIRED');
  const ok = await withPin.login(await qr(ns, pinned, nonce));
  ok.connection.close();
  // pinTimeout 5 minutes: a login without PIN right after a PIN is fine; after 6 minutes it is not.
  await ns.api('PUT', `/servers/${pinned}/`, { body: { pinTimeout: 5 } });
  const soon = await lazy.login(await qr(ns, pinned, newNonce()));
  soon.connection.close();
  clock.increment(6 * 60_000);
  assert.is(await codeOf(lazy.login(await qr(ns, pinned, newNonce()))), 'SECOND_FACTOR_REQUIRED');
});

test('ENROL_USED: an enrol QR scanned twice makes one account', async () => {
  const nonce = newNonce();
  const code = await qr(ns, srv, nonce, 'enrol');
  const n = await accounts();
  await newPhone().enrol(code);
  assert.is(await accounts(), n + 1);
  assert.is(await codeOf(newPhone().enrol(code)), 'ENROL_USED');
  assert.is(await accounts(), n + 1);
  // A login QR is not an enrol code: an enrol hello for a session without one is ENROL_USED too.
  const phone = newPhone();
  const bogus = { ...(await import('../../src/sdk/app.ts')).parseQrText(await qr(ns, srv, newNonce(), 'enrol')) };
  await ns.api('GET', `/servers/${srv}/sessions/`, { headers: { 'x-nonce': nonce } });
  assert.is(await codeOf(phone.enrol({ ...bogus, hsid: Buffer.from((await getSession(ns, srv, newNonce())).hsid, 'base64url') })), 'ENROL_USED');
  assert.is(await accounts(), n + 1);
});

test('a replayed proof frame (from an earlier handshake) does not open: BAD_BOX', async () => {
  const { account } = await enrolled();
  let recorded: Uint8Array | undefined;
  const recorder = newPhone({ WebSocket: tamperingSocket((bytes, frame) => (frame?.t === 'proof' ? (recorded = bytes) : undefined, undefined)) });
  await recorder.keystore.put(account);
  const nonce = newNonce();
  const first = await recorder.login(await qr(ns, srv, nonce));
  first.connection.close();
  await ns.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } });
  const replayer = newPhone({ WebSocket: tamperingSocket((_b, frame) => (frame?.t === 'proof' ? recorded : undefined)) });
  await replayer.keystore.put(account);
  assert.is(await codeOf(replayer.login(await qr(ns, srv, nonce))), 'BAD_BOX');
  assert.is((await getSession(ns, srv, nonce)).state, 'waiting');
});

test('a challenge answered after its limit: SESSION_EXPIRED; browsers heard CANCEL', async () => {
  const { account } = await enrolled();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = newPhone({ consent: async () => (await gate, { accept: true, sf: 'none' }) });
  await slow.keystore.put(account);
  const nonce = newNonce();
  const hsid = (await getSession(ns, srv, nonce)).hsid;
  const text = await TextBrowser.open(ns);
  text.send(`REGISTER ${hsid} ${srv}`);
  const attempt = codeOf(slow.login(await qr(ns, srv, nonce)));
  await text.waitFor('CONFIRMSCAN', hsid);
  clock.increment(60_000);
  await text.waitFor('CANCEL', hsid);
  release();
  assert.is(await attempt, 'SESSION_EXPIRED');
  assert.is((await getSession(ns, srv, nonce)).loggedin, false);
  text.close();
});

test('idle sessions expire: SESSION_EXPIRED for a late scan, and no actor is left', async () => {
  const { account } = await enrolled();
  const phone = newPhone();
  await phone.keystore.put(account);
  const nonce = newNonce();
  assert.ok(ns.hub.size > 0);
  // Logins of earlier tests end after the session limit…
  clock.increment(12 * 3600_000);
  await ns.hub.settled();
  // …then everything idles out, this QR's session too.
  const code = await qr(ns, srv, nonce);
  clock.increment(15 * 60_000 + 1);
  await until(() => ns.hub.size === 0, 'every session gone');
  assert.is(await codeOf(phone.login(code)), 'SESSION_EXPIRED');
  // The relying party asks again: a fresh waiting session, and the same QR now works.
  await getSession(ns, srv, nonce);
  const { connection } = await phone.login(code);
  assert.is((await getSession(ns, srv, nonce)).loggedin, true);
  connection.close();
});

test("failed proofs never lock the session: a stranger's five bad proofs, then the owner logs in at once", async () => {
  const { account } = await enrolled();
  const stranger = newPhone({ WebSocket: socketFrom('127.0.0.2'), signer: () => naclSigner(nacl.sign.keyPair().secretKey) });
  await stranger.keystore.put(account);
  const owner = newPhone();
  await owner.keystore.put(account);
  const nonce = newNonce();
  const code = await qr(ns, srv, nonce);
  for (let i = 0; i < 5; i++) assert.is(await codeOf(stranger.login(code)), 'BAD_SIGNATURE');
  const { connection } = await owner.login(code);
  assert.is((await getSession(ns, srv, nonce)).loggedin, true);
  connection.close();
});

function flipLastByte(bytes: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[copy.length - 1] ^= 0x01;
  return copy;
}

test.run();
