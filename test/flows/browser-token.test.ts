/**
 * The browser token (PROTOCOL.md §5.1): the hsid is public (it is in the QR code), so a stranger
 * who saw the code may watch the session but not act on it. LOGOUT and PROVOKE need the token
 * the relying party's pages carry (getSession, the HTML blocks, the footer); without it they are
 * refused FORBIDDEN and change nothing, on both browser channels. Strangers connect from other
 * source addresses (127.0.0.2, 127.0.1.1).
 */
import { createHmac } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { getSession, IoBrowser, newNonce, newPhone, qr, TextBrowser, until } from '../helpers/peers.ts';

let ns: TestServer;
let srv: string;
const phone = newPhone();
test.before(async () => {
  ns = await startTestServer({ NEXTAUTH_PUSH_INTERVAL_SECONDS: '0' });
  srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Token' } })).body.serverid;
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=tia'));
});
test.after(() => ns.stop(true));

/** A session the phone logged in to: its nonce, hsid and token. */
async function loggedIn() {
  const nonce = newNonce();
  (await phone.login(await qr(ns, srv, nonce))).connection.close();
  const status = await getSession(ns, srv, nonce);
  assert.is(status.loggedin, true);
  return { nonce, hsid: status.hsid as string, bt: status.browsertoken as string };
}

test('the token is base64url(HMAC-SHA256(session secret, "nextauth/browser" || hsid))[0..22), the same in getSession, the blocks and the footer', async () => {
  const nonce = newNonce();
  const status = await getSession(ns, srv, nonce);
  const secret = (await ns.registry.servers.get(srv))!.sessionSecret;
  const expected = createHmac('sha256', Buffer.from(secret, 'base64url'))
    .update('nextauth/browser')
    .update(Buffer.from(status.hsid as string, 'base64url'))
    .digest('base64url')
    .slice(0, 22);
  assert.is(status.browsertoken, expected);
  const block = await ns.api('GET', `/servers/${srv}/sessions/html/login`, { headers: { 'x-nonce': nonce } });
  assert.ok((block.body as string).includes(`data-bt="${expected}"`), 'the login block carries it');
  const footer = await ns.api('GET', `/servers/${srv}/sessions/html/footer`, { headers: { 'x-nonce': nonce } });
  assert.ok((footer.body as string).includes(expected), 'the footer carries it');
  // Another session, another token; the same session, the same token (derived, not stored).
  assert.is.not((await getSession(ns, srv, newNonce())).browsertoken, expected);
  assert.is((await getSession(ns, srv, nonce)).browsertoken, expected);
  assert.not.ok(ns.store.dump().includes(expected), 'never stored');
});

test("text socket: a stranger's LOGOUT without the token, or with another session's, is ERROR FORBIDDEN HSID SERVERID and changes nothing", async () => {
  const { nonce, hsid, bt } = await loggedIn();
  const other = await getSession(ns, srv, newNonce());
  const stranger = await TextBrowser.open(ns, {}, '127.0.0.2');
  stranger.send(`REGISTER ${hsid} ${srv}`); // watching needs no token
  await stranger.waitFor('LOGIN', hsid);
  // The token with its last character changed (to another one: a token that ends in A stays itself with an A).
  const altered = `${bt.slice(0, 21)}${bt.endsWith('A') ? 'B' : 'A'}`;
  for (const frame of [`LOGOUT ${hsid} ${srv}`, `LOGOUT ${hsid} ${srv} ${other.browsertoken}`, `LOGOUT ${hsid} ${srv} ${altered}`, `LOGOUT ${hsid} ${srv} x`]) {
    const n = stranger.heard.length;
    stranger.send(frame);
    await until(() => stranger.heard.length > n, `an answer to ${frame}`);
    assert.is(stranger.heard.at(-1), `ERROR FORBIDDEN ${hsid} ${srv}`, frame);
  }
  assert.is((await getSession(ns, srv, nonce)).loggedin, true, 'still logged in');
  // The page that holds the token logs out.
  const owner = await TextBrowser.open(ns);
  owner.send(`LOGOUT ${hsid} ${srv} ${bt}`);
  await stranger.waitFor('LOGOUT', hsid);
  assert.is((await getSession(ns, srv, nonce)).state, 'loggedOut');
  owner.close();
  stranger.close();
});

test("socket.io: a stranger's logout and provoke without the token ack {error: 'FORBIDDEN'} and change nothing", async () => {
  const { nonce, hsid, bt } = await loggedIn();
  const stranger = await IoBrowser.open(ns, '127.0.1.1');
  assert.equal(await stranger.watch(srv, hsid), { state: 'authenticated', canprovoke: true });
  assert.equal(await stranger.socket.timeout(3000).emitWithAck('logout', { srv, hsid }), { error: 'FORBIDDEN' });
  assert.equal(await stranger.socket.timeout(3000).emitWithAck('logout', { srv, hsid, bt: 5 }), { error: 'FORBIDDEN' });
  assert.is((await getSession(ns, srv, nonce)).loggedin, true);
  assert.equal(await stranger.socket.timeout(3000).emitWithAck('logout', { srv, hsid, bt }), { ok: true });
  assert.is((await getSession(ns, srv, nonce)).state, 'loggedOut');
  // Logged out, it can be provoked: not by the stranger.
  const account = (await ns.api('GET', `/servers/${srv}/users/tia/accounts/`)).body.accounts[0].accountid;
  const before = (await ns.api('GET', `/servers/${srv}/accounts/${account}/`)).body.lastprovoke;
  assert.equal(await stranger.socket.timeout(3000).emitWithAck('provoke', { srv, hsid, bt: 'A'.repeat(22) }), { error: 'FORBIDDEN' });
  assert.is((await ns.api('GET', `/servers/${srv}/accounts/${account}/`)).body.lastprovoke, before, 'no push went out');
  stranger.close();
});

test("text socket: a stranger's PROVOKE without the token is refused and pushes nothing; the owner's goes out", async () => {
  const { nonce, hsid, bt } = await loggedIn();
  await ns.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } });
  const { connection } = await phone.listen(srv);
  const pushes: unknown[] = [];
  connection.on('push', (f) => pushes.push(f));
  const stranger = await TextBrowser.open(ns, {}, '127.0.0.3');
  stranger.send(`PROVOKE ${hsid} ${srv}`);
  await until(() => stranger.heard.includes(`ERROR FORBIDDEN ${hsid} ${srv}`), 'FORBIDDEN');
  stranger.send(`REGISTER ${hsid} ${srv}`);
  await stranger.waitFor('CANPROVOKE', hsid); // every frame before it was handled
  assert.is(pushes.length, 0, 'no push');
  stranger.send(`PROVOKE ${hsid} ${srv} ${bt}`);
  await until(() => pushes.length === 1, 'the push');
  connection.close();
  stranger.close();
});

test.run();
