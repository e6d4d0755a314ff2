/**
 * What browsers get for frames they should not send (PROTOCOL.md §5), and the REST body limit:
 * each refusal has its code and changes nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { getSession, IoBrowser, newNonce, TextBrowser, until } from '../helpers/peers.ts';

let ns: TestServer;
let srv: string;
test.before(async () => {
  ns = await startTestServer();
  srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Browsers' } })).body.serverid;
});
test.after(() => ns.stop(true));

const UNKNOWN = 'AAAAAAAAAAAAAAAAAAAAAA';

test('text socket: ERROR BAD_FRAME, BAD_SERVERID, BAD_REQUEST (hsid), UNKNOWN_SERVER; a good REGISTER still works', async () => {
  const hsid = (await getSession(ns, srv, newNonce())).hsid;
  const b = await TextBrowser.open(ns);
  const sizeBefore = ns.hub.size;
  const cases: Array<[string | Buffer, string]> = [
    ['HELLO', 'ERROR BAD_FRAME'],
    [`SHOUT ${hsid} ${srv}`, 'ERROR BAD_FRAME'],
    [`REGISTER ${hsid} not-a-server-id`, 'ERROR BAD_SERVERID'],
    [`REGISTER short ${srv}`, 'ERROR BAD_REQUEST'],
    [`REGISTER ${hsid} ${UNKNOWN}`, 'ERROR UNKNOWN_SERVER'],
    [Buffer.from([1, 2, 3]), 'ERROR BAD_FRAME'],
  ];
  for (const [frame, answer] of cases) {
    const n = b.heard.length;
    b.ws.send(frame);
    await until(() => b.heard.length > n, `an answer to ${String(frame)}`);
    assert.is(b.heard.at(-1), answer, String(frame));
  }
  assert.is(ns.hub.size, sizeBefore, 'no session was made');
  b.send(`REGISTER ${hsid} ${srv}`);
  await b.waitFor('LOGOUT', hsid);
  b.close();
});

test('socket.io: watch with a bad or unknown session acks {error}', async () => {
  const b = await IoBrowser.open(ns);
  assert.equal(await b.watch('nope', 'nope'), { error: 'BAD_SERVERID' });
  assert.equal(await b.watch(UNKNOWN, (await getSession(ns, srv, newNonce())).hsid), { error: 'UNKNOWN_SERVER' });
  assert.equal(await b.watch(srv, 'short'), { error: 'BAD_REQUEST' });
  b.close();
});

test('REST: a body over 1 MiB is 413 BODY_TOO_LARGE and changes nothing', async () => {
  const before = ns.store.dump();
  const r = await ns.api('POST', `/servers/${srv}/attributes/`, { body: { big: 'x'.repeat(1024 * 1024 + 1) } });
  assert.is(r.status, 413);
  assert.is(r.body.code, 'BODY_TOO_LARGE');
  assert.is(ns.store.dump(), before);
});

test.run();
