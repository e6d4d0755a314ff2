/**
 * Full flows over real sockets on 127.0.0.1: a phone (the SDK) enrols and logs in; browsers on
 * the text socket and on socket.io watch; the relying party's backend asks getSession.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { getSession, IoBrowser, newNonce, newPhone, qr, TextBrowser, until } from '../helpers/peers.ts';
import { assertShape } from '../helpers/shape.ts';

let ns: TestServer;
let srv: string;

test.before(async () => {
  ns = await startTestServer();
  const made = await ns.api('POST', '/servers/', { body: { serverName: 'Flows', logo: 'aGVsbG8=' } });
  srv = made.body.serverid;
});
test.after(() => ns.stop(true));

const hsidOf = async (nonce: string) => (await getSession(ns, srv, nonce)).hsid as string;

test('enrol with a userid: the account exists, is linked, and its session is logged in', async () => {
  const phone = newPhone();
  const nonce = newNonce();
  const { acc, account, info } = await phone.enrol(await qr(ns, srv, nonce, 'enrol', '&userid=alice'));
  assert.is(info.name, 'Flows');
  assert.is(account.serverid, srv);
  assert.is(account.userid, 'alice');
  const status = await getSession(ns, srv, nonce);
  assertShape(status, 'LoginStatus');
  assert.is(status.loggedin, true);
  assert.is(status.accountid, acc);
  assert.is(status.userid, 'alice');
  assert.is(status.state, 'authenticated');
  const server = await ns.api('GET', `/servers/${srv}/`);
  assert.ok(server.body.accountCount >= 1);
  const user = await ns.api('GET', `/servers/${srv}/users/alice/accounts`);
  assert.equal(
    user.body.accounts.map((a: { id: number }) => a.id),
    [acc],
  );
  assert.is(user.body.accounts[0].description, 'phone');
  assert.ok(user.body.accounts[0].lastlogin > 0);
});

test('enrol without a userid, then registerUser links the logged-in account', async () => {
  const phone = newPhone();
  const nonce = newNonce();
  const { acc } = await phone.enrol(await qr(ns, srv, nonce, 'enrol'));
  let status = await getSession(ns, srv, nonce);
  assert.is(status.loggedin, true);
  assert.is(status.userid, undefined);
  const r = await ns.api('POST', `/servers/${srv}/sessions/registeruser?userid=bob`, { headers: { 'x-nonce': nonce } });
  assert.is(r.status, 200, JSON.stringify(r.body));
  status = await getSession(ns, srv, nonce);
  assert.is(status.userid, 'bob');
  assert.is((await ns.api('GET', `/servers/${srv}/accounts/${acc}/`)).body.userid, 'bob');
  // registerUser on a session nobody is logged in to is 403 NO_ACCOUNT, and a bad userid 400.
  const empty = await ns.api('POST', `/servers/${srv}/sessions/registeruser?userid=bob`, { headers: { 'x-nonce': newNonce() } });
  assert.is(empty.status, 403);
  assert.is(empty.body.code, 'NO_ACCOUNT');
  const bad = await ns.api('POST', `/servers/${srv}/sessions/registeruser?userid=${'x'.repeat(257)}`, { headers: { 'x-nonce': nonce } });
  assert.is(bad.status, 400);
});

test('QR login seen by a text-socket and a socket.io browser at once: CONFIRMSCAN, then LOGIN', async () => {
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=carol'));
  const nonce = newNonce();
  const before = await getSession(ns, srv, nonce);
  assert.is(before.loggedin, false);
  assert.is(before.state, 'waiting');
  assert.is(before.canprovoke, false);
  assert.ok(before.expires > Date.now());
  const hsid = before.hsid;

  const text = await TextBrowser.open(ns);
  text.send(`REGISTER ${hsid} ${srv}`);
  await text.waitFor('LOGOUT', hsid);
  const sio = await IoBrowser.open(ns);
  assert.equal(await sio.watch(srv, hsid), { state: 'waiting', canprovoke: false });

  const { acc, connection } = await phone.login(await qr(ns, srv, nonce));
  await text.waitFor('LOGIN', hsid);
  await sio.waitFor('login');
  assert.equal(text.types(hsid), ['LOGOUT', 'CONFIRMSCAN', 'LOGIN']);
  assert.equal(sio.events(), ['confirmscan', 'login']);
  assert.equal(sio.heard.at(-1), { srv, hsid, state: 'authenticated', event: 'login', account: acc });

  const after = await getSession(ns, srv, nonce);
  assert.is(after.loggedin, true);
  assert.is(after.accountid, acc);
  assert.is(after.userid, 'carol');
  assert.is(after.canprovoke, true);
  assert.is(Buffer.from(after.pk, 'base64').length, 32);
  // A browser that registers now hears LOGIN and CANPROVOKE at once.
  const late = await TextBrowser.open(ns);
  late.send(`REGISTER ${hsid} ${srv}`);
  await late.waitFor('CANPROVOKE', hsid);
  assert.equal(late.types(hsid), ['LOGIN', 'CANPROVOKE']);
  connection.close();
  for (const b of [text, late, sio]) b.close();
});

test('the app sees the browser ip and user agent given with getQrLogin', async () => {
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  const nonce = newNonce();
  const r = await ns.api('POST', `/servers/${srv}/sessions/qr/login`, {
    headers: { 'x-nonce': nonce },
    body: { sessioninfo: { ip: '203.0.113.7', useragent: 'Firefox/140' }, announceinfo: { info: 'Welcome' } },
  });
  assert.is(r.status, 200);
  const { info, connection } = await phone.login(new Uint8Array(r.raw));
  assert.equal(info.session, { ip: '203.0.113.7', ua: 'Firefox/140' });
  assert.equal(info.announce, { info: 'Welcome' });
  assert.is(info.logo, 'aGVsbG8=');
  connection.close();
});

test('logout by REST and by the text socket: browsers hear LOGOUT, getSession says loggedOut', async () => {
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  for (const how of ['rest', 'text'] as const) {
    const nonce = newNonce();
    const hsid = await hsidOf(nonce);
    const text = await TextBrowser.open(ns);
    text.send(`REGISTER ${hsid} ${srv}`);
    await text.waitFor('LOGOUT', hsid);
    const { connection } = await phone.login(await qr(ns, srv, nonce));
    await text.waitFor('LOGIN', hsid);
    if (how === 'rest') {
      const r = await ns.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } });
      assert.is(r.status, 200);
    } else {
      text.send(`LOGOUT ${hsid} ${srv} ${(await getSession(ns, srv, nonce)).browsertoken}`);
    }
    await until(() => text.types(hsid).filter((t) => t === 'LOGOUT').length === 2, 'second LOGOUT');
    const status = await getSession(ns, srv, nonce);
    assert.is(status.loggedin, false, how);
    assert.is(status.state, 'loggedOut');
    assert.is(status.canprovoke, true);
    connection.close();
    text.close();
  }
});

test('the phone logs its session out over the sealed channel', async () => {
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  const nonce = newNonce();
  const hsid = await hsidOf(nonce);
  const { connection } = await phone.login(await qr(ns, srv, nonce));
  const text = await TextBrowser.open(ns);
  text.send(`REGISTER ${hsid} ${srv}`);
  await text.waitFor('LOGIN', hsid);
  connection.logout(Buffer.from(hsid, 'base64url'));
  await until(() => text.types(hsid).includes('LOGOUT'), 'LOGOUT');
  assert.is((await getSession(ns, srv, nonce)).state, 'loggedOut');
  text.close();
  connection.close();
});

test('decline: browsers hear CANCEL and the session waits again; a later login works', async () => {
  const keystore = newPhone().keystore;
  const decliner = newPhone({ keystore, decline: true });
  await newPhone({ keystore }).enrol(await qr(ns, srv, newNonce(), 'enrol'));
  const nonce = newNonce();
  const hsid = await hsidOf(nonce);
  const text = await TextBrowser.open(ns);
  text.send(`REGISTER ${hsid} ${srv}`);
  const declined = await decliner.login(await qr(ns, srv, nonce)).catch((e: { code: string }) => e.code);
  assert.is(declined, 'DECLINED');
  await text.waitFor('CANCEL', hsid);
  assert.equal(text.types(hsid), ['LOGOUT', 'CONFIRMSCAN', 'CANCEL']);
  assert.is((await getSession(ns, srv, nonce)).state, 'waiting');
  const { connection } = await newPhone({ keystore }).login(await qr(ns, srv, nonce));
  assert.is((await getSession(ns, srv, nonce)).loggedin, true);
  connection.close();
  text.close();
});

test('a user with two devices: both enrol as dave, each logs in as dave with its own account', async () => {
  const one = newPhone();
  const two = newPhone();
  const a = await one.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=dave'));
  const b = await two.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=dave'));
  assert.is.not(a.acc, b.acc);
  const user = await ns.api('GET', `/servers/${srv}/users/dave/accounts`);
  assert.is(user.body.totalnumber, 2);
  for (const [phone, acc] of [
    [one, a.acc],
    [two, b.acc],
  ] as const) {
    const nonce = newNonce();
    const { connection } = await phone.login(await qr(ns, srv, nonce));
    const status = await getSession(ns, srv, nonce);
    assert.is(status.userid, 'dave');
    assert.is(status.accountid, acc);
    connection.close();
  }
  const users = await ns.api('GET', `/servers/${srv}/users/?search=dave`);
  assert.is(users.body.users[0].numberaccounts, 2);
});

test('one connection runs several handshakes one after the other (the later ones sealed)', async () => {
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
  const first = newNonce();
  const { connection } = await phone.login(await qr(ns, srv, first));
  assert.ok(connection.sealed);
  const second = newNonce();
  await phone.login(await qr(ns, srv, second), { connection });
  assert.is((await getSession(ns, srv, first)).loggedin, true);
  assert.is((await getSession(ns, srv, second)).loggedin, true);
  connection.close();
});

test('QR codes: raw bytes, PNG with a size, SVG; the login QR data is what getSession says', async () => {
  const nonce = newNonce();
  const status = await getSession(ns, srv, nonce);
  const raw = await ns.api('GET', `/servers/${srv}/sessions/qr/login`, { headers: { 'x-nonce': nonce } });
  assert.is(raw.headers.get('content-type'), 'application/octet-stream');
  assert.is(Buffer.from(raw.raw).toString('base64'), status.loginqrdata);
  const png = await ns.api('GET', `/servers/${srv}/sessions/qr/login?img=png&s=300`, { headers: { 'x-nonce': nonce } });
  assert.is(png.headers.get('content-type'), 'image/png');
  assert.equal([...png.raw.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  assert.is(Buffer.from(png.raw).readUInt32BE(16), 300);
  const svg = await ns.api('GET', `/servers/${srv}/sessions/qr/login?img=svg`, { headers: { 'x-nonce': nonce } });
  assert.match(String(svg.body), '<svg');
  const enrolPng = await ns.api('GET', `/servers/${srv}/sessions/qr/enrol?name=x&img=png`, { headers: { 'x-nonce': nonce } });
  assert.is(enrolPng.headers.get('content-type'), 'image/png');
  const bad = await ns.api('GET', `/servers/${srv}/sessions/qr/login?img=gif`, { headers: { 'x-nonce': nonce } });
  assert.is(bad.status, 400);
  const tiny = await ns.api('GET', `/servers/${srv}/sessions/qr/login?img=png&s=1`, { headers: { 'x-nonce': nonce } });
  assert.is(tiny.status, 400);
});

test('the vash is a deterministic PNG per server', async () => {
  const a = await ns.api('GET', `/servers/${srv}/vash`);
  const b = await ns.api('GET', `/servers/${srv}/vash`);
  assert.is(a.status, 200);
  assert.is(a.headers.get('content-type'), 'image/png');
  assert.equal(Buffer.from(a.raw), Buffer.from(b.raw));
  const other = await ns.api('POST', '/servers/', { body: { serverName: 'Other' } });
  const c = await ns.api('GET', `/servers/${other.body.serverid}/vash`);
  assert.not.equal(Buffer.from(a.raw), Buffer.from(c.raw));
});

test('a nonce shorter than 16 characters (or missing) is 400 BAD_NONCE on every session route', async () => {
  for (const [method, path] of [
    ['GET', 'sessions/'],
    ['GET', 'sessions/qr/login'],
    ['POST', 'sessions/logout'],
    ['GET', 'sessions/qr/enrol?name=x'],
    ['POST', 'sessions/registeruser?userid=x'],
  ] as const) {
    for (const headers of [{ 'x-nonce': 'short' }, {}, { 'x-nonce': 'x'.repeat(513) }] as Record<string, string>[]) {
      const r = await ns.api(method, `/servers/${srv}/${path}`, { headers });
      assert.is(r.status, 400, `${method} ${path}`);
      assert.is(r.body.code, 'BAD_NONCE');
    }
  }
});

test('session routes: 401 without a key, 403 with a key of another server', async () => {
  const other = await ns.api('POST', '/servers/', { body: { serverName: 'B' } });
  const key = await ns.api('POST', '/apikeys/?description=b');
  await ns.api('POST', `/servers/${other.body.serverid}/permissions/${key.body.role}`, { body: ['sessions', 'users'] });
  const nonce = newNonce();
  for (const [method, path] of [
    ['GET', 'sessions/'],
    ['GET', 'sessions/qr/login'],
    ['POST', 'sessions/logout'],
    ['GET', 'sessions/qr/enrol?name=x'],
    ['POST', 'sessions/registeruser?userid=x'],
    ['GET', 'vash'],
  ] as const) {
    const none = await ns.api(method, `/servers/${srv}/${path}`, { key: null, headers: { 'x-nonce': nonce } });
    assert.is(none.status, 401);
    const wrong = await ns.api(method, `/servers/${srv}/${path}`, { key: key.body.apikey, headers: { 'x-nonce': nonce } });
    assert.is(wrong.status, 403, `${method} ${path}`);
  }
});

test.run();
