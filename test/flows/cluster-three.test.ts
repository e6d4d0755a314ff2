/**
 * Three cluster processes (PROTOCOL.md §8) sharing one fresh PostgreSQL database and one Redis
 * prefix, each on its own port of 127.0.0.1: the phone on process 1, a text-socket browser on 2,
 * a socket.io browser on 3, REST on 2 (and on 3 for the push). Enrolment, QR login, a push,
 * a continuous session's pings, a transaction, logout from each side (phone, REST, text socket,
 * socket.io), decline and expiry: whatever process does it, the others see it.
 *
 * A phone reaches process 1 whatever URL its QR code names (as a load balancer would have sent
 * it there): its WebSocket class connects to process 1's port. Skipped (one line) without
 * PostgreSQL or Redis. Every limit of §7 across processes: cluster-limits.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { answerTransaction, fromB64url, naclSigner, pushToQr, type Frame } from '../../src/sdk/app.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { codeOf, getSession, IoBrowser, newNonce, newPhone, qr, TextBrowser, until } from '../helpers/peers.ts';
import { databases, type Databases } from '../helpers/pg-databases.ts';
import { clusterEnv, type RedisRun, redisRun } from '../helpers/redis.ts';
import { service } from '../helpers/services.ts';

const pgUrl = await service('postgres');
const redis: RedisRun | undefined = pgUrl ? await redisRun('three') : undefined;

/** A WebSocket class that connects to `ns` whatever URL it is given: the balancer sent it there. */
function socketTo(ns: Pick<TestServer, 'url'>): typeof WebSocket {
  const port = new URL(ns.url).port;
  return class extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      const to = new URL(url);
      to.port = port;
      super(to, protocols ?? []);
    }
  } as typeof WebSocket;
}

if (pgUrl && redis) {
  let dbs: Databases;
  let one: TestServer;
  let two: TestServer;
  let three: TestServer;
  let srv: string;
  /** A phone whose every connection reaches process 1. */
  const phoneOnOne = (opts: Parameters<typeof newPhone>[0] = {}) => newPhone({ WebSocket: socketTo(one), ...opts });

  test.before(async () => {
    dbs = databases(pgUrl);
    const env = {
      ...(await clusterEnv(dbs, redis)),
      // Short enough to see a silent handshake end and an idle session expire in a test.
      NEXTAUTH_CHALLENGE_SECONDS: '3',
      NEXTAUTH_IDLE_SECONDS: '5',
    };
    one = await startTestServer(env);
    [two, three] = await Promise.all([startTestServer(env), startTestServer(env)]);
    const made = await two.api('POST', '/servers/', { body: { serverName: 'Three', pingTime: 2 } });
    assert.is(made.status, 200, JSON.stringify(made.body));
    srv = made.body.serverid;
  });
  test.after(async () => {
    await Promise.allSettled([one?.stop(true), two?.stop(true), three?.stop(true)]);
    await dbs?.dropAll();
    await redis.cleanup();
  });

  /** A session of a fresh nonce (asked on process 2), watched by a text socket on 2 and socket.io on 3. */
  async function watched(): Promise<{ nonce: string; hsid: string; bt: string; text: TextBrowser; io: IoBrowser; close(): void }> {
    const nonce = newNonce();
    const { hsid, browsertoken: bt } = await getSession(two, srv, nonce);
    const text = await TextBrowser.open(two);
    text.send(`REGISTER ${hsid} ${srv}`);
    await text.waitFor('LOGOUT', hsid);
    const io = await IoBrowser.open(three);
    assert.equal(await io.watch(srv, hsid), { state: 'waiting', canprovoke: false });
    return {
      nonce,
      hsid,
      bt,
      text,
      io,
      close: () => (text.close(), io.close()),
    };
  }

  /** An account enrolled with an enrol code from REST on process 2, through the app channel of process 1. */
  async function enrolled(userid: string, opts: Parameters<typeof newPhone>[0] = {}) {
    const phone = phoneOnOne(opts);
    const { acc, account } = await phone.enrol(await qr(two, srv, newNonce(), 'enrol', `&userid=${userid}`));
    assert.is((await three.api('GET', `/servers/${srv}/accounts/${acc}/`)).body.userid, userid, 'the record, read on process 3');
    return { phone, acc, account };
  }

  test('enrol (REST on 2, phone on 1), QR login heard on 2 and 3; logout from the phone on 1, heard on both', async () => {
    const { phone, acc } = await enrolled('ada');
    const s = await watched();
    const { connection } = await phone.login(await qr(two, srv, s.nonce));
    await s.text.waitFor('CONFIRMSCAN', s.hsid);
    await s.text.waitFor('LOGIN', s.hsid);
    await s.io.waitFor('login');
    assert.is(s.io.heard.at(-1)?.account, acc);
    const session = await getSession(three, srv, s.nonce);
    assert.is(session.loggedin, true);
    assert.is(session.userid, 'ada');
    // The phone logs out on process 1.
    connection.logout(fromB64url(s.hsid));
    await until(() => s.text.types(s.hsid).filter((t) => t === 'LOGOUT').length === 2, 'LOGOUT on the text socket (2)');
    await s.io.waitFor('logout');
    assert.is((await getSession(two, srv, s.nonce)).state, 'loggedOut');
    connection.close();
    s.close();
  });

  test('logout from the text socket on 2 and from socket.io on 3 (each with the browser token); without it, FORBIDDEN and nothing changes', async () => {
    const { phone } = await enrolled('bo');
    for (const side of ['text', 'io'] as const) {
      const s = await watched();
      const { connection } = await phone.login(await qr(two, srv, s.nonce));
      await s.io.waitFor('login');
      await s.text.waitFor('LOGIN', s.hsid);
      if (side === 'text') {
        s.text.send(`LOGOUT ${s.hsid} ${srv} ${'A'.repeat(22)}`);
        await until(() => s.text.heard.includes(`ERROR FORBIDDEN ${s.hsid} ${srv}`), 'ERROR FORBIDDEN on the text socket');
        assert.is((await getSession(one, srv, s.nonce)).loggedin, true, 'a wrong token changes nothing');
        s.text.send(`LOGOUT ${s.hsid} ${srv} ${s.bt}`);
      } else {
        assert.equal(await s.io.socket.timeout(3000).emitWithAck('logout', { srv, hsid: s.hsid, bt: 'A'.repeat(22) }), { error: 'FORBIDDEN' });
        assert.is((await getSession(one, srv, s.nonce)).loggedin, true, 'a wrong token changes nothing');
        assert.equal(await s.io.socket.timeout(3000).emitWithAck('logout', { srv, hsid: s.hsid, bt: s.bt }), { ok: true });
      }
      await s.io.waitFor('logout');
      await until(() => s.text.types(s.hsid).filter((t) => t === 'LOGOUT').length === 2, `LOGOUT on the text socket after the ${side} logout`);
      assert.is((await getSession(one, srv, s.nonce)).state, 'loggedOut', `${side}: process 1 agrees`);
      connection.close();
      s.close();
    }
  });

  test('decline on 1: both browsers hear CANCEL, the session waits again; a silent scan on 1 ends by its challenge limit on whichever process claims it', async () => {
    const { account } = await enrolled('cy');
    const s = await watched();
    const code = await qr(two, srv, s.nonce);
    const decliner = phoneOnOne({ decline: true });
    await decliner.keystore.put(account);
    assert.is(await codeOf(decliner.login(code)), 'DECLINED');
    await s.text.waitFor('CANCEL', s.hsid);
    await s.io.waitFor('cancel');
    assert.is((await getSession(three, srv, s.nonce)).state, 'waiting');

    // A phone that scans and never answers: 3 s later (NEXTAUTH_CHALLENGE_SECONDS) the session waits again.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const silent = phoneOnOne({ consent: async () => (await gate, { accept: true, sf: 'none' }) });
    await silent.keystore.put(account);
    const late = codeOf(silent.login(code));
    await until(() => s.io.events().filter((e) => e === 'confirmscan').length === 2, 'the second scan heard on 3');
    await until(() => s.io.events().filter((e) => e === 'cancel').length === 2, 'the challenge limit, heard on 3', 8000);
    await until(() => s.text.types(s.hsid).filter((t) => t === 'CANCEL').length === 2, 'and on 2');
    assert.is((await getSession(two, srv, s.nonce)).state, 'waiting');
    release();
    assert.is.not(await late, 'ok', 'its late proof logs nobody in');
    assert.is((await getSession(two, srv, s.nonce)).loggedin, false);
    s.close();
  });

  test('expiry: a session nobody touches is forgotten after the idle limit, whichever process holds its deadline', async () => {
    const nonce = newNonce();
    const { hsid } = await getSession(two, srv, nonce);
    assert.ok(await one.hub.snapshot(srv, hsid), 'the snapshot is shared: process 1 reads it');
    await until(async () => (await three.hub.snapshot(srv, hsid)) === undefined, 'the session forgotten (idle 5 s)', 10_000);
    assert.is(await one.hub.snapshot(srv, hsid), undefined);
  });

  test('a push from REST on 3 reaches the phone listening on 1; it logs the session in, heard on 2 and 3', async () => {
    const { phone } = await enrolled('di');
    const { connection: listening } = await phone.listen(srv);
    const pushes: Frame[] = [];
    listening.on('push', (f) => pushes.push(f));
    const s = await watched();
    (await phone.login(await qr(two, srv, s.nonce))).connection.close();
    await s.io.waitFor('login');
    assert.is((await two.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': s.nonce } })).status, 200);
    await s.io.waitFor('logout');
    await until(() => s.text.types(s.hsid).filter((t) => t === 'LOGOUT').length === 2, 'LOGOUT on the text socket (2)');

    const r = await three.api('POST', `/servers/${srv}/sessions/provokelogin`, { headers: { 'x-nonce': s.nonce } });
    assert.is(r.status, 200, JSON.stringify(r.body));
    await until(() => pushes.length === 1, 'the push, on the connection process 1 holds');
    assert.equal(Buffer.from(pushes[0]!.hsid as Uint8Array).toString('base64url'), s.hsid);
    await phone.login(pushToQr(pushes[0]!, `${three.url.replace('http', 'ws')}/ns/sigmai`), { connection: listening });
    await s.text.waitFor('CONFIRMPROVOKE', s.hsid);
    await until(() => s.io.events().filter((e) => e === 'login').length === 2, 'the second login, on socket.io (3)');
    assert.is((await getSession(two, srv, s.nonce)).loggedin, true);
    listening.close();
    s.close();
  });

  test('a continuous session (pingTime 2 s): pings from whichever process claims the deadline reach the phone on 1, its pongs keep the login; silence logs it out', async () => {
    const { phone } = await enrolled('ed');
    const s = await watched();
    const { connection } = await phone.login(await qr(two, srv, s.nonce));
    const pings: Frame[] = [];
    connection.on('ping', (f) => pings.push(f)); // the SDK still answers each one
    await s.io.waitFor('login');
    await until(() => pings.length >= 4, 'four pings (one a second)', 8000);
    assert.equal(
      pings.map((p) => p.n),
      pings.map((_, i) => (pings[0]!.n as number) + i),
      'numbered one after the other, whatever process sent them',
    );
    assert.is((await getSession(three, srv, s.nonce)).loggedin, true, 'past pingTime twice over, still logged in');
    connection.close(); // the phone goes away: no pong
    await until(() => s.io.events().includes('logout'), 'LOGOUT on socket.io (3), pingTime after the last pong', 15_000);
    await s.text.waitFor('LOGOUT', s.hsid);
    assert.is((await getSession(one, srv, s.nonce)).state, 'loggedOut');
    s.close();
  });

  test('a transaction from REST on 2 to the phone logged in on 1: approved there, heard on 2 and 3, read on 3', async () => {
    const { phone, account } = await enrolled('fa');
    const s = await watched();
    const login = await phone.login(await qr(two, srv, s.nonce));
    const received: Frame[] = [];
    login.connection.on('transaction', (f) => received.push(f));
    const made = await two.api('POST', `/servers/${srv}/sessions/transactions`, { headers: { 'x-nonce': s.nonce }, body: { amount: 'EUR 3.00', description: 'three' } });
    assert.is(made.status, 200, JSON.stringify(made.body));
    const { tid } = made.body as { tid: string };
    await until(() => received.length === 1, 'the transaction on the phone (process 1)');
    await answerTransaction(login.connection, received[0]!, { signer: naclSigner(fromB64url(account.secretKey)), transcript: login.transcript, approve: true, sf: 'pin' });
    await until(() => s.text.heard.includes(`TRANSACTION ${s.hsid} ${srv} ${tid} approved`), 'the outcome on the text socket (2)');
    await until(() => s.io.heard.some((h) => h.transaction?.tid === tid && h.transaction.outcome === 'approved'), 'the outcome on socket.io (3)');
    const r = (await three.api('GET', `/servers/${srv}/transactions/${tid}`)).body;
    assert.is(r.tstatus, '1', JSON.stringify(r));
    login.connection.close();
    s.close();
  });
}

test.run();
