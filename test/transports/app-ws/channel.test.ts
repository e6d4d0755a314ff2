/**
 * The app channel over real sockets, where the connection machine (machines/connection.ts)
 * decides: the challenge limit of a silent app (the server's SimulatedClock), the 1008 close of a
 * sealed connection for anything that is not a sealed frame opening with the next counter
 * (PROTOCOL.md §4.2, v1.1), one handshake at a time on both phases of a connection. Each test
 * shows what changed and what did not.
 */
import { encode } from '@msgpack/msgpack';
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import nacl from 'tweetnacl';
import { WebSocket } from 'ws';
import { AppConnection, type Frame } from '../../../src/sdk/app.ts';
import { startTestServer, type TestServer } from '../../helpers/ns.ts';
import { codeOf, getSession, newNonce, newPhone, qr, tamperingSocket, TextBrowser, until } from '../../helpers/peers.ts';

let ns: TestServer;
let clock: SimulatedClock;
let srv: string;
let appUrl: string;

test.before(async () => {
  clock = new SimulatedClock();
  clock.set(Date.now());
  ns = await startTestServer({}, undefined, { clock });
  srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Channel' } })).body.serverid;
  appUrl = `${ns.url.replace('http', 'ws')}/ns/sigmai`;
});
test.after(() => ns.stop(true));

/** A phone with an enrolled account (its other options as given). */
async function enrolledPhone(opts: Parameters<typeof newPhone>[0] = {}) {
  const phone = newPhone(opts);
  await newPhone({ keystore: phone.keystore }).enrol(await qr(ns, srv, newNonce(), 'enrol'));
  return phone;
}

/** A fresh session: its nonce, hsid, login QR, and a text browser watching it. */
async function session() {
  const nonce = newNonce();
  const hsid = (await getSession(ns, srv, nonce)).hsid as string;
  const code = await qr(ns, srv, nonce);
  const text = await TextBrowser.open(ns);
  text.send(`REGISTER ${hsid} ${srv}`);
  await text.waitFor('LOGOUT', hsid);
  return { nonce, hsid, code, text };
}

/** A login hello for `hsid` (the map; a fresh ea). */
const helloMap = (hsid: string) => ({
  t: 'hello',
  v: 1,
  op: 'login',
  srv: Buffer.from(srv, 'base64url'),
  hsid: Buffer.from(hsid, 'base64url'),
  ea: nacl.box.keyPair().publicKey,
  na: randomBytes(32),
});

/** Resolves with the first error frame the connection receives (within `ms`), or 'none'. */
const nextError = (conn: AppConnection, ms = 3000): Promise<Frame | 'none'> =>
  conn
    .receive((f) => f.t === 'error', ms)
    .then(
      (r) => r.frame,
      () => 'none',
    );

// ---- the challenge limit --------------------------------------------------------------------------

test('a silent app: when the challenge limit passes the app hears SESSION_EXPIRED unasked, the session waits again (CANCEL once); a late proof has no challenge', async () => {
  let challenged!: () => void;
  const asked = new Promise<void>((r) => (challenged = r));
  let answer!: () => void;
  const gate = new Promise<void>((r) => (answer = r));
  const phone = await enrolledPhone({ consent: async () => (challenged(), await gate, { accept: true, sf: 'none' }) });
  const s = await session();
  const conn = await phone.connect(appUrl);
  const attempt = codeOf(phone.login(s.code, { connection: conn }));
  await asked;
  assert.is((await ns.hub.status(srv, s.hsid)).state, 'challenged');

  clock.increment(60_000 - 1);
  assert.is(await nextError(conn, 300), 'none', 'nothing before the limit');
  assert.is((await ns.hub.status(srv, s.hsid)).state, 'challenged');

  clock.increment(1);
  const expired = await nextError(conn);
  assert.is((expired as Frame).code, 'SESSION_EXPIRED', 'the app hears it without sending anything');
  await s.text.waitFor('CANCEL', s.hsid);
  assert.is((await ns.hub.status(srv, s.hsid)).state, 'waiting');

  // The proof the user gives now finds no challenge: refused, and nobody is logged in.
  answer();
  assert.is(await attempt, 'BAD_MESSAGE');
  assert.is((await getSession(ns, srv, s.nonce)).loggedin, false);
  assert.equal(s.text.types(s.hsid), ['LOGOUT', 'CONFIRMSCAN', 'CANCEL']);

  // The connection is idle again: a new handshake on it logs the session in.
  await newPhone({ keystore: phone.keystore }).login(s.code, { connection: conn });
  assert.is((await getSession(ns, srv, s.nonce)).loggedin, true);
  assert.ok(conn.sealed);
  conn.close();
  s.text.close();
});

test('a silent app on a sealed connection: its later handshake times out alone; the channel and the first login stay', async () => {
  let challenged!: () => void;
  const asked = new Promise<void>((r) => (challenged = r));
  const phone = await enrolledPhone();
  const first = await session();
  const { connection } = await phone.login(first.code);
  const silent = newPhone({ keystore: phone.keystore, consent: () => (challenged(), new Promise<never>(() => {})) });
  const second = await session();
  void silent.login(second.code, { connection });
  await asked;
  clock.increment(60_000);
  assert.is(((await nextError(connection)) as Frame).code, 'SESSION_EXPIRED');
  await second.text.waitFor('CANCEL', second.hsid);
  assert.is((await ns.hub.status(srv, second.hsid)).state, 'waiting');
  // Still sealed and open: a sealed logout of the first session works.
  connection.logout(Buffer.from(first.hsid, 'base64url'));
  await first.text.waitFor('LOGOUT', first.hsid);
  await until(async () => (await ns.hub.status(srv, first.hsid)).state === 'loggedOut', 'the first session logged out');
  connection.close();
  first.text.close();
  second.text.close();
});

// ---- a sealed connection closes with 1008 ---------------------------------------------------------

/** A phone logged in (the connection sealed), recording the sealed frames it sends. */
async function sealedLogin() {
  const sent: Uint8Array[] = [];
  const phone = await enrolledPhone({ WebSocket: tamperingSocket((bytes, frame) => (frame?.t === 'sealed' && sent.push(bytes), undefined)) });
  const s = await session();
  const { connection } = await phone.login(s.code);
  assert.ok(connection.sealed);
  await s.text.waitFor('LOGIN', s.hsid);
  return { ...s, connection, sent };
}

/** The connection was closed by the NS with 1008 and `reason`; the session is still logged in, its browser heard nothing more. */
async function closedWith(p: Awaited<ReturnType<typeof sealedLogin>>, reason: string) {
  const closed = await Promise.race([p.connection.closed, new Promise((r) => setTimeout(() => r('still open after 3 s'), 3000))]);
  assert.equal(closed, { code: 1008, reason });
  assert.is((await getSession(ns, srv, p.nonce)).loggedin, true);
  assert.equal(p.text.types(p.hsid), ['LOGOUT', 'CONFIRMSCAN', 'LOGIN']);
  p.text.close();
}

test('sealed: a text frame closes the connection with 1008 (no error frame)', async () => {
  const p = await sealedLogin();
  p.connection.sendRaw('REGISTER x y');
  assert.is(await nextError(p.connection, 1000), 'none');
  await closedWith(p, 'BAD_FRAME');
});

/** A `ws` WebSocket that sends the string 'not utf-8' as a text frame of bytes that are not UTF-8. */
class NotUtf8 extends WebSocket {
  override send(data: unknown, ...rest: unknown[]): void {
    if (data === 'not utf-8') return super.send(Uint8Array.from([0x80, 0xc0, 0xaf]), { binary: false });
    (super.send as (...a: unknown[]) => void)(data, ...rest);
  }
}

test('a text frame that is not UTF-8: BAD_FRAME before sealing, 1008 once sealed, like any text frame (never 1007, found by the fuzzer)', async () => {
  const plain = await AppConnection.open(appUrl, { WebSocket: NotUtf8 as typeof WebSocket, timeoutMs: 3000 });
  plain.sendRaw('not utf-8');
  assert.is((await plain.next()).code, 'BAD_FRAME');
  plain.close();
  const phone = await enrolledPhone({ WebSocket: NotUtf8 as typeof WebSocket });
  const s = await session();
  const { connection } = await phone.login(s.code);
  await s.text.waitFor('LOGIN', s.hsid);
  connection.sendRaw('not utf-8');
  await closedWith({ ...s, connection, sent: [] }, 'BAD_FRAME');
});

test('sealed: bytes that are not msgpack close the connection with 1008', async () => {
  const p = await sealedLogin();
  p.connection.sendRaw(new Uint8Array([0xc1, 0xff, 0x00]));
  await closedWith(p, 'BAD_FRAME');
});

test('sealed: a plain map closes the connection with 1008, and does nothing (a plain logout does not log out)', async () => {
  const p = await sealedLogin();
  p.connection.sendRaw(encode({ t: 'logout', hsid: Buffer.from(p.hsid, 'base64url') }));
  await closedWith(p, 'BAD_FRAME');
  assert.is((await ns.hub.status(srv, p.hsid)).state, 'authenticated');
});

test('sealed: a replayed sealed frame closes the connection with 1008; the frames before it were answered', async () => {
  const p = await sealedLogin();
  p.connection.send({ t: 'pong', n: 4242 }); // sealed with counter 1: answered, sealed
  const answer = await p.connection.next();
  assert.equal(answer, { t: 'error', code: 'BAD_MESSAGE', message: 'No ping 4242 is waiting for a pong' });
  assert.is(p.sent.length, 1);
  p.connection.sendRaw(p.sent[0]!); // counter 1 again
  await closedWith(p, 'BAD_BOX');
});

test('sealed: an inner map that does not fit is answered with a sealed error, and the connection stays', async () => {
  const p = await sealedLogin();
  p.connection.send({ t: 'nonsense' });
  assert.equal(await p.connection.next(), { t: 'error', code: 'BAD_MESSAGE', message: 'Unknown frame type "nonsense"' });
  p.connection.send({ t: 'pong', n: 'one' });
  assert.is((await p.connection.next()).code, 'BAD_MESSAGE');
  p.connection.logout(Buffer.from(p.hsid, 'base64url'));
  await p.text.waitFor('LOGOUT', p.hsid);
  await until(async () => (await ns.hub.status(srv, p.hsid)).state === 'loggedOut', 'logged out by the sealed logout');
  p.connection.close();
  p.text.close();
});

// ---- one handshake at a time ---------------------------------------------------------------------

test('a second hello while a handshake runs is refused BAD_MESSAGE and changes nothing; the first goes on (unsealed, then sealed)', async () => {
  const other = await session();
  const conn = await newPhone().connect(appUrl);
  const refusals: Array<Frame | 'none'> = [];
  const seen: string[] = [];
  /** During the consent of a running handshake: a hello for `other`, plain or sealed as the connection is. */
  const interrupt = async (running: string) => {
    conn.send(helloMap(other.hsid));
    refusals.push(await nextError(conn));
    seen.push((await ns.hub.status(srv, running)).state, (await ns.hub.status(srv, other.hsid)).state);
    return { accept: true, sf: 'none' as const };
  };
  let running = '';
  const phone = await enrolledPhone({ consent: () => interrupt(running) });

  const first = await session();
  running = first.hsid;
  assert.not.ok(conn.sealed);
  await phone.login(first.code, { connection: conn });
  assert.ok(conn.sealed);

  const second = await session();
  running = second.hsid;
  await phone.login(second.code, { connection: conn });

  assert.equal(
    refusals.map((f) => (f === 'none' ? f : f.code)),
    ['BAD_MESSAGE', 'BAD_MESSAGE'],
  );
  assert.equal(seen, ['challenged', 'waiting', 'challenged', 'waiting'], 'the running session stays challenged, the other waiting');
  assert.is((await getSession(ns, srv, first.nonce)).loggedin, true);
  assert.is((await getSession(ns, srv, second.nonce)).loggedin, true);
  assert.is((await getSession(ns, srv, other.nonce)).loggedin, false);
  assert.equal(other.text.types(other.hsid), ['LOGOUT'], 'the other session heard nothing');
  // And the other session can still be logged in, on the same connection.
  await newPhone({ keystore: phone.keystore }).login(other.code, { connection: conn });
  assert.is((await getSession(ns, srv, other.nonce)).loggedin, true);
  conn.close();
  for (const s of [first, second, other]) s.text.close();
});

test.run();
