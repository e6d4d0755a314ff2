/**
 * Pushes, continuous sessions and the account's life, over real sockets: listening phones,
 * the three provoke operations and the browsers' PROVOKE, the push gateway for offline phones,
 * limits and mute, number match, ping timeouts, and block / delete during a live session.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { fromB64url, openPushPayload, pushToQr, type ChallengeInfo, type Consent, type Frame } from '../../src/sdk/app.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { codeOf, getSession, IoBrowser, newNonce, newPhone, qr, TextBrowser, until } from '../helpers/peers.ts';

/** A continuous session between a ping's pong and the next ping. */
const ponged = (s: { value: unknown } | undefined) => JSON.stringify(s?.value) === '{"authenticated":"ponged"}';

let ns: TestServer;
let clock: SimulatedClock;
let gatewayHits: Array<{ serverid: string; accountid: number; payload: string }> = [];
let gateway: Server;

test.before(async () => {
  gateway = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      gatewayHits.push(JSON.parse(body));
      res.end('ok');
    });
  });
  await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
  clock = new SimulatedClock();
  clock.set(Date.now());
  ns = await startTestServer({ NEXTAUTH_PUSH_GATEWAY: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/push` }, undefined, { clock });
});
test.after(async () => {
  await ns.stop(true);
  gateway.close();
});

const appUrl = () => `${ns.url.replace('http', 'ws')}/ns/sigmai`;
const newServer = async (body: Record<string, unknown> = {}) => (await ns.api('POST', '/servers/', { body: { serverName: 'Push', ...body } })).body.serverid as string;
/** Let 10 s pass, so the next push to an account is allowed. */
const nextPushWindow = () => clock.increment(10_000);

/** A phone enrolled on `srv` (as `userid`), listening for pushes on its own connection. */
async function listeningPhone(srv: string, userid?: string, consent?: (info: ChallengeInfo) => Consent) {
  const phone = newPhone(consent ? { consent: (info, op) => (op === 'enrol' ? { accept: true } : consent(info)) } : {});
  const { acc } = await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', userid ? `&userid=${userid}` : ''));
  const { connection } = await phone.listen(srv);
  const pushes: Frame[] = [];
  connection.on('push', (f) => pushes.push(f));
  const deleted: Frame[] = [];
  connection.on('deleted', (f) => deleted.push(f));
  return { phone, acc, connection, pushes, deleted };
}

/** A session that had a login by `phone` and was logged out (so canprovoke). */
async function provokable(srv: string, phone: ReturnType<typeof newPhone>) {
  const nonce = newNonce();
  const { connection } = await phone.login(await qr(ns, srv, nonce));
  connection.close();
  await ns.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } });
  const status = await getSession(ns, srv, nonce);
  assert.is(status.canprovoke, true);
  return { nonce, hsid: status.hsid as string, bt: status.browsertoken as string };
}

test('provokeLogin: the push reaches the listening phone, which logs the browser in (CONFIRMPROVOKE, LOGIN)', async () => {
  const srv = await newServer();
  const p = await listeningPhone(srv, 'frank');
  const { nonce, hsid } = await provokable(srv, p.phone);
  const text = await TextBrowser.open(ns);
  text.send(`REGISTER ${hsid} ${srv}`);
  await text.waitFor('CANPROVOKE', hsid);
  nextPushWindow();
  const r = await ns.api('POST', `/servers/${srv}/sessions/provokelogin`, {
    headers: { 'x-nonce': nonce },
    body: { sessioninfo: { ip: '198.51.100.1', useragent: 'Safari' } },
  });
  assert.is(r.status, 200, JSON.stringify(r.body));
  await until(() => p.pushes.length === 1, 'the push');
  const push = p.pushes[0]!;
  assert.equal(Buffer.from(push.hsid as Uint8Array).toString('base64url'), hsid);
  assert.equal((push.info as { session: unknown }).session, { ip: '198.51.100.1', ua: 'Safari' });
  const { connection } = await p.phone.login(pushToQr(push, appUrl()), { connection: p.connection });
  assert.is(connection, p.connection);
  await text.waitFor('LOGIN', hsid);
  assert.equal(text.types(hsid).slice(-2), ['CONFIRMPROVOKE', 'LOGIN']);
  assert.ok((await ns.api('GET', `/servers/${srv}/accounts/${p.acc}/`)).body.lastprovoke > 0);
  // A session nobody logged in to cannot be provoked.
  const none = await ns.api('POST', `/servers/${srv}/sessions/provokelogin`, { headers: { 'x-nonce': newNonce() } });
  assert.is(none.status, 403);
  assert.is(none.body.code, 'CANNOT_PROVOKE');
  text.close();
  p.connection.close();
});

test('provokeLoginOnUser pushes to both devices of the user; provokeLoginOnAccount to one', async () => {
  const srv = await newServer();
  const one = await listeningPhone(srv, 'gina');
  const two = await listeningPhone(srv, 'gina');
  const nonce = newNonce();
  let r = await ns.api('POST', `/servers/${srv}/users/gina/provokelogin`, { headers: { 'x-nonce': nonce } });
  assert.is(r.status, 200, JSON.stringify(r.body));
  await until(() => one.pushes.length === 1 && two.pushes.length === 1, 'two pushes');
  await two.phone.login(pushToQr(two.pushes[0]!, appUrl()), { connection: two.connection });
  const status = await getSession(ns, srv, nonce);
  assert.is(status.accountid, two.acc);
  assert.is(status.userid, 'gina');

  nextPushWindow();
  const other = newNonce();
  r = await ns.api('POST', `/servers/${srv}/accounts/${one.acc}/provokelogin`, { headers: { 'x-nonce': other } });
  assert.is(r.status, 200, JSON.stringify(r.body));
  await until(() => one.pushes.length === 2, 'the push to one');
  await new Promise((res) => setTimeout(res, 50));
  assert.is(two.pushes.length, 1);
  const unknownUser = await ns.api('POST', `/servers/${srv}/users/nobody/provokelogin`, { headers: { 'x-nonce': other } });
  assert.is(unknownUser.status, 404);
  const unknownAccount = await ns.api('POST', `/servers/${srv}/accounts/999/provokelogin`, { headers: { 'x-nonce': other } });
  assert.is(unknownAccount.status, 404);
  one.connection.close();
  two.connection.close();
});

test('PROVOKE on the text socket and provoke on socket.io', async () => {
  const srv = await newServer();
  const p = await listeningPhone(srv);
  const { hsid, bt } = await provokable(srv, p.phone);
  nextPushWindow();
  const text = await TextBrowser.open(ns);
  text.send(`PROVOKE ${hsid} ${srv} ${bt}`);
  await until(() => p.pushes.length === 1, 'push from PROVOKE');
  text.send(`PROVOKE ${hsid} ${srv} ${bt}`); // within 10 s: refused
  await until(() => text.heard.includes('ERROR RATE_LIMITED'), 'ERROR RATE_LIMITED');
  nextPushWindow();
  const sio = await IoBrowser.open(ns);
  assert.equal(await sio.socket.timeout(3000).emitWithAck('provoke', { srv, hsid, bt }), { ok: true });
  await until(() => p.pushes.length === 2, 'push from socket.io');
  const other = await getSession(ns, srv, newNonce());
  assert.equal(await sio.socket.timeout(3000).emitWithAck('provoke', { srv, hsid: other.hsid, bt: other.browsertoken }), { error: 'CANNOT_PROVOKE' });
  text.close();
  sio.close();
  p.connection.close();
});

test('an offline phone gets its push through the gateway, encrypted to its pkx', async () => {
  const srv = await newServer();
  const phone = newPhone();
  const { acc, account } = await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  gatewayHits = [];
  const nonce = newNonce();
  const r = await ns.api('POST', `/servers/${srv}/accounts/${acc}/provokelogin`, { headers: { 'x-nonce': nonce } });
  assert.is(r.status, 200);
  await until(() => gatewayHits.length === 1, 'the gateway POST');
  const hit = gatewayHits[0]!;
  assert.is(hit.serverid, srv);
  assert.is(hit.accountid, acc);
  const content = openPushPayload(hit.payload, fromB64url(account.boxSecretKey));
  assert.is(Buffer.from(content.hsid as Uint8Array).toString('base64url'), (await getSession(ns, srv, nonce)).hsid);
  const { connection } = await phone.login(pushToQr(content, appUrl()));
  assert.is((await getSession(ns, srv, nonce)).loggedin, true);
  connection.close();
});

test('limits: one push per 10 s and 20 an hour per account (429); deny and report mutes for 20 minutes', async () => {
  const srv = await newServer();
  let answer: { accept: boolean; report?: boolean } = { accept: false, report: true };
  const p = await listeningPhone(srv, undefined, () => answer);
  const push = (nonce = newNonce()) => ns.api('POST', `/servers/${srv}/accounts/${p.acc}/provokelogin`, { headers: { 'x-nonce': nonce } });
  assert.is((await push()).status, 200);
  const again = await push();
  assert.is(again.status, 429);
  assert.is(again.body.code, 'RATE_LIMITED');
  for (let i = 1; i < 20; i++) {
    nextPushWindow();
    assert.is((await push()).status, 200, `push ${i + 1}`);
  }
  nextPushWindow();
  assert.is((await push()).status, 429, 'the 21st in an hour');
  clock.increment(3600_000);

  // Deny and report: the phone answers the push with a reported decline.
  const nonce = newNonce();
  const before = p.pushes.length;
  assert.is((await push(nonce)).status, 200);
  await until(() => p.pushes.length === before + 1, 'the push');
  assert.is(await codeOf(p.phone.login(pushToQr(p.pushes.at(-1)!, appUrl()), { connection: p.connection })), 'DECLINED');
  await until(async () => (await ns.hub.status(srv, (p.pushes.at(-1)!.hsid as Buffer).toString('base64url'))).state === 'waiting', 'declined');
  nextPushWindow();
  assert.is((await push()).status, 429, 'muted');
  clock.increment(20 * 60_000);
  answer = { accept: true };
  assert.is((await push()).status, 200, 'unmuted after 20 minutes');
  p.connection.close();
});

test('number match: the browser shows two digits, the phone must send them; a wrong number is BAD_SIGNATURE', async () => {
  const srv = await newServer({ serverFlags: ['numbermatch'] });
  let pick: (shown: string) => string = (shown) => shown;
  const p = await listeningPhone(srv, 'hugo', (info) => ({ accept: true, number: pick(String(info.number)) }));
  for (const right of [false, true]) {
    nextPushWindow();
    const nonce = newNonce();
    const hsid = (await getSession(ns, srv, nonce)).hsid;
    const text = await TextBrowser.open(ns);
    text.send(`REGISTER ${hsid} ${srv}`);
    await text.waitFor('LOGOUT', hsid);
    pick = right ? (shown) => shown : (shown) => String((Number(shown) + 1) % 100).padStart(2, '0');
    assert.is((await ns.api('POST', `/servers/${srv}/users/hugo/provokelogin`, { headers: { 'x-nonce': nonce } })).status, 200);
    await until(() => p.pushes.some((f) => Buffer.from(f.hsid as Uint8Array).toString('base64url') === hsid), 'push');
    const push = p.pushes.find((f) => Buffer.from(f.hsid as Uint8Array).toString('base64url') === hsid)!;
    const outcome = await codeOf(p.phone.login(pushToQr(push, appUrl()), { connection: p.connection }));
    const confirm = text.heard.find((l) => l.startsWith('CONFIRMPROVOKE'))!;
    assert.match(confirm, new RegExp(`^CONFIRMPROVOKE ${hsid} ${srv} \\d\\d$`));
    if (right) {
      assert.is(outcome, 'ok');
      await text.waitFor('LOGIN', hsid);
    } else {
      assert.is(outcome, 'BAD_SIGNATURE');
      await text.waitFor('CANCEL', hsid);
      assert.is((await getSession(ns, srv, nonce)).loggedin, false);
    }
    text.close();
  }
  p.connection.close();
});

test('continuous sessions: pings answered keep the login; no pong within pingTime logs it out', async () => {
  const srv = await newServer({ pingTime: 30 });
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  const nonce = newNonce();
  const hsid = (await getSession(ns, srv, nonce)).hsid;
  const text = await TextBrowser.open(ns);
  text.send(`REGISTER ${hsid} ${srv}`);
  const { connection } = await phone.login(await qr(ns, srv, nonce));
  await text.waitFor('LOGIN', hsid);
  const pings: Frame[] = [];
  connection.on('ping', (f) => pings.push(f)); // the SDK still answers every ping
  await until(async () => {
    const s = await ns.hub.snapshot(srv, hsid);
    return s?.context.pings === 1 && ponged(s);
  }, 'first pong');
  for (let i = 0; i < 4; i++) {
    clock.increment(15_000); // pingTime/2: the next ping goes out
    await until(async () => ponged(await ns.hub.snapshot(srv, hsid)), `pong ${i + 2}`);
  }
  assert.is((await getSession(ns, srv, nonce)).loggedin, true);
  connection.close(); // the phone goes away
  await until(async () => ponged(await ns.hub.snapshot(srv, hsid)), 'settled');
  clock.increment(15_000); // a ping goes out, nobody answers
  clock.increment(30_000);
  await text.waitFor('LOGOUT', hsid);
  assert.is((await getSession(ns, srv, nonce)).state, 'loggedOut');
  text.close();
});

test('block and delete during a live session: LOGOUT, `deleted` to the phone, and refusals after', async () => {
  const srv = await newServer();
  for (const how of ['block', 'delete'] as const) {
    const p = await listeningPhone(srv);
    const nonce = newNonce();
    const hsid = (await getSession(ns, srv, nonce)).hsid;
    const text = await TextBrowser.open(ns);
    text.send(`REGISTER ${hsid} ${srv}`);
    const { connection } = await p.phone.login(await qr(ns, srv, nonce));
    const loginDeleted: Frame[] = [];
    connection.on('deleted', (f) => loginDeleted.push(f));
    await text.waitFor('LOGIN', hsid);
    const r = how === 'block' ? await ns.api('PUT', `/servers/${srv}/accounts/${p.acc}/?blocked=true`) : await ns.api('DELETE', `/servers/${srv}/accounts/${p.acc}/`);
    assert.is(r.status, 200);
    await text.waitFor('LOGOUT', hsid);
    await until(() => p.deleted.length === 1 && loginDeleted.length === 1, '`deleted` on both connections');
    assert.is(p.deleted[0]!.acc, p.acc);
    const status = await getSession(ns, srv, nonce);
    assert.is(status.state, 'loggedOut', how);
    assert.is(status.canprovoke, how === 'block', how);
    nextPushWindow();
    const push = await ns.api('POST', `/servers/${srv}/sessions/provokelogin`, { headers: { 'x-nonce': nonce } });
    assert.is(push.status, 403, how);
    assert.is(await codeOf(p.phone.login(await qr(ns, srv, nonce))), how === 'block' ? 'ACCOUNT_BLOCKED' : 'UNKNOWN_ACCOUNT');
    text.close();
    connection.close();
    p.connection.close();
  }
});

test.run();
