/**
 * Transactions over real sockets: the phone that is logged in shows the exact fields it signs,
 * approves with a second factor or declines; the relying party reads the result and the
 * evidence; browsers hear the outcome; every wrong answer is refused and changes nothing.
 */
import { createPublicKey, verify } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { answerTransaction, fromB64url, naclSigner, readTransaction, type Frame } from '../../src/sdk/app.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { codeOf, getSession, IoBrowser, newNonce, newPhone, qr, TextBrowser, until } from '../helpers/peers.ts';

let ns: TestServer;
let clock: SimulatedClock;
let srv: string;

test.before(async () => {
  clock = new SimulatedClock();
  clock.set(Date.now());
  ns = await startTestServer({}, undefined, { clock });
  srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Bank' } })).body.serverid;
});
test.after(() => ns.stop(true));

/** A phone logged in to a fresh session of `server`, with the frames it receives. */
async function loggedIn(server = srv) {
  const phone = newPhone();
  const { account } = await phone.enrol(await qr(ns, server, newNonce(), 'enrol'));
  const nonce = newNonce();
  const hsid = (await getSession(ns, server, nonce)).hsid as string;
  const login = await phone.login(await qr(ns, server, nonce));
  const received: Frame[] = [];
  login.connection.on('transaction', (f) => received.push(f));
  const signer = naclSigner(fromB64url(account.secretKey));
  return { ...login, account, nonce, hsid, received, signer };
}

const create = (nonce: string, body: Record<string, unknown>, server = srv) => ns.api('POST', `/servers/${server}/sessions/transactions`, { headers: { 'x-nonce': nonce }, body });
const result = (tid: string, server = srv) => ns.api('GET', `/servers/${server}/transactions/${tid}`);

test('approve: the phone shows the signed fields, signs with a PIN; the result carries the evidence; browsers hear it', async () => {
  const p = await loggedIn();
  const text = await TextBrowser.open(ns);
  text.send(`REGISTER ${p.hsid} ${srv}`);
  const sio = await IoBrowser.open(ns);
  await sio.watch(srv, p.hsid);
  const made = await create(p.nonce, { amount: 'EUR 1,250.00', benificiary: 'ACME Ltd', description: 'Invoice 42' });
  assert.is(made.status, 200, JSON.stringify(made.body));
  const { tid } = made.body;
  assert.equal((await result(tid)).body.tstatus, '0');
  await until(() => p.received.length === 1, 'the transaction on the phone');
  const view = readTransaction(p.received[0]!);
  assert.equal(view, { tid, srv, acc: p.acc, amount: 'EUR 1,250.00', benificiary: 'ACME Ltd', description: 'Invoice 42' });
  assert.is((await result(tid)).body.state, 'presented');
  await answerTransaction(p.connection, p.received[0]!, { signer: p.signer, transcript: p.transcript, approve: true, sf: 'pin' });
  const r = (await result(tid)).body;
  assert.is(r.tstatus, '1');
  assert.is(r.account, p.acc);
  assert.is(r.sf, 'pin');
  assert.ok(r.at > 0);
  // The evidence verifies with the account's public key (getSession's pk) over label || h2 || tx.
  const pk = Buffer.from((await getSession(ns, srv, p.nonce)).pk, 'base64');
  const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pk]), format: 'der', type: 'spki' });
  const message = Buffer.concat([Buffer.from('nextauth/transaction'), p.transcript, Buffer.from(r.tx, 'base64')]);
  assert.ok(verify(null, message, key, Buffer.from(r.signature, 'base64url')));
  await text.waitFor('TRANSACTION', p.hsid);
  assert.ok(text.heard.includes(`TRANSACTION ${p.hsid} ${srv} ${tid} approved`));
  await sio.waitFor('transaction');
  assert.equal(sio.heard.at(-1)?.transaction, { tid, outcome: 'approved' });
  // A second answer is refused and changes nothing.
  assert.is(await codeOf(answerTransaction(p.connection, p.received[0]!, { signer: p.signer, transcript: p.transcript, approve: false })), 'TRANSACTION_CLOSED');
  assert.is((await result(tid)).body.tstatus, '1');
  text.close();
  sio.close();
  p.connection.close();
});

test('decline: tstatus 2; browsers hear declined', async () => {
  const p = await loggedIn();
  const text = await TextBrowser.open(ns);
  text.send(`REGISTER ${p.hsid} ${srv}`);
  const { tid } = (await create(p.nonce, { amount: '5', description: 'coffee' })).body;
  await until(() => p.received.length === 1, 'transaction');
  await answerTransaction(p.connection, p.received[0]!, { signer: p.signer, transcript: p.transcript, approve: false });
  assert.equal((await result(tid)).body.tstatus, '2');
  assert.is((await result(tid)).body.state, 'declined');
  await until(() => text.heard.includes(`TRANSACTION ${p.hsid} ${srv} ${tid} declined`), 'declined');
  text.close();
  p.connection.close();
});

test('expiry: unanswered after 5 minutes it is declined (expired); a late answer is refused', async () => {
  const p = await loggedIn();
  const { tid } = (await create(p.nonce, { amount: '7' })).body;
  await until(() => p.received.length === 1, 'transaction');
  clock.increment(5 * 60_000);
  const r = (await result(tid)).body;
  assert.is(r.tstatus, '2');
  assert.is(r.state, 'expired');
  assert.is(await codeOf(answerTransaction(p.connection, p.received[0]!, { signer: p.signer, transcript: p.transcript, approve: true, sf: 'pin' })), 'TRANSACTION_CLOSED');
  assert.is((await result(tid)).body.state, 'expired');
  p.connection.close();
});

test("refusals: no login (403), another server (404), other bytes, no second factor, another server's phone", async () => {
  const none = await create(newNonce(), { amount: '1' });
  assert.is(none.status, 403);
  assert.is(none.body.code, 'NO_ACCOUNT');
  const bad = await create(newNonce(), { amount: '1', currency: 'EUR' });
  assert.is(bad.status, 400);

  const p = await loggedIn();
  const { tid } = (await create(p.nonce, { amount: '99', benificiary: 'Mallory' })).body;
  await until(() => p.received.length === 1, 'transaction');
  const frame = p.received[0]!;

  // The result is only readable through its own server.
  const other = (await ns.api('POST', '/servers/', { body: { serverName: 'Other' } })).body.serverid;
  assert.is((await result(tid, other)).status, 404);
  assert.is((await result('nope')).status, 404);

  // A signature over different bytes (what the phone signed is not what the NS sent).
  const otherBytes = { publicKey: p.signer.publicKey, sign: (m: Uint8Array) => p.signer.sign(m.subarray(0, m.length - 1)) };
  assert.is(await codeOf(answerTransaction(p.connection, frame, { signer: otherBytes, transcript: p.transcript, approve: true, sf: 'pin' })), 'BAD_SIGNATURE');
  // …or over the bytes with another handshake's transcript.
  assert.is(await codeOf(answerTransaction(p.connection, frame, { signer: p.signer, transcript: new Uint8Array(64), approve: true, sf: 'pin' })), 'BAD_SIGNATURE');
  // An approval without a second factor.
  assert.is(await codeOf(answerTransaction(p.connection, frame, { signer: p.signer, transcript: p.transcript, approve: true, sf: 'none' })), 'SECOND_FACTOR_REQUIRED');
  // A phone logged in on another server cannot answer it.
  const q = await loggedIn(other);
  assert.is(await codeOf(answerTransaction(q.connection, frame, { signer: q.signer, transcript: q.transcript, approve: true, sf: 'pin' })), 'UNKNOWN_TRANSACTION');
  // Nothing changed: still waiting for the real answer, which works.
  assert.is((await result(tid)).body.tstatus, '0');
  await answerTransaction(p.connection, frame, { signer: p.signer, transcript: p.transcript, approve: true, sf: 'biometric' });
  assert.is((await result(tid)).body.tstatus, '1');
  p.connection.close();
  q.connection.close();
});

test('results and their evidence are durable: after a restart they read the same; one left unanswered reads expired once past its limit', async () => {
  const p = await loggedIn();
  const approved = (await create(p.nonce, { amount: '7', description: 'kept' })).body.tid as string;
  await until(() => p.received.length === 1, 'the transaction on the phone');
  await answerTransaction(p.connection, p.received[0]!, { signer: p.signer, transcript: p.transcript, approve: true, sf: 'pin' });
  const open = (await create(p.nonce, { amount: '8' })).body.tid as string;
  const before = { approved: (await result(approved)).body, open: (await result(open)).body };
  assert.is(before.approved.tstatus, '1');
  assert.is(before.open.tstatus, '0');
  p.connection.close();
  ns = await ns.restart();
  const after = (await result(approved)).body;
  assert.equal(after, before.approved, 'the same result, evidence included');
  assert.is((await result(open)).body.state, before.open.state, 'not yet past its limit');
  clock.increment(5 * 60_000);
  assert.equal([(await result(open)).body.state, (await result(open)).body.tstatus], ['expired', '2']);
  assert.is((await result(approved, (await ns.api('POST', '/servers/', { body: { serverName: 'X' } })).body.serverid)).status, 404, 'only through its own server');
});

test.run();
