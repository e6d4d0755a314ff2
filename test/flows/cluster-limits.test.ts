import { test } from 'uvu';
import * as assert from 'uvu/assert';
import nacl from 'tweetnacl';
import { naclSigner, type StoredAccount } from '../../src/sdk/app.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { codeOf, getFrom, getSession, newNonce, newPhone, qr, socketFrom, TextBrowser, until } from '../helpers/peers.ts';
import { databases, type Databases } from '../helpers/pg-databases.ts';
import { clusterEnv, type RedisRun, redisRun } from '../helpers/redis.ts';
import { keyWith } from '../helpers/rest.ts';
import { service } from '../helpers/services.ts';

const pgUrl = await service('postgres');
const redis: RedisRun | undefined = pgUrl ? await redisRun('limits') : undefined;

if (pgUrl && redis) {
  let dbs: Databases;
  let ns: TestServer[] = [];
  let srv: string;
  let account: StoredAccount;
  /** Process i % 3: a client's tries go round the three. */
  const at = (i: number): TestServer => ns[i % 3]!;

  test.before(async () => {
    dbs = databases(pgUrl);
    const env = {
      ...(await clusterEnv(dbs, redis)),
      NEXTAUTH_HELLO_RATE: '6/60',
      NEXTAUTH_FAILED_PROOF_RATE: '3/300',
      NEXTAUTH_REST_RATE: '100/1200',
      NEXTAUTH_REST_UNKNOWN_KEY_RATE: '4/60',
      NEXTAUTH_CONNECTIONS_PER_SOURCE: '3',
      NEXTAUTH_PUSH_INTERVAL_SECONDS: '0',
      NEXTAUTH_PUSH_HOURLY: '2',
    };
    ns = [await startTestServer(env)];
    ns.push(...(await Promise.all([startTestServer(env), startTestServer(env)])));
    const made = await ns[0]!.api('POST', '/servers/', { body: { serverName: 'Limits' } });
    assert.is(made.status, 200, JSON.stringify(made.body));
    srv = made.body.serverid;
    ({ account } = await newPhone({ WebSocket: socketFrom('127.0.2.1') }).enrol(await qr(ns[0]!, srv, newNonce(), 'enrol')));
  });
  test.after(async () => {
    await Promise.allSettled(ns.map((n) => n.stop(true)));
    await dbs?.dropAll();
    await redis.cleanup();
  });

  /** A phone from `source` that holds the account (or, with `wrongKey`, its id and a key that is not its own). */
  async function phoneFrom(source: string, opts: Parameters<typeof newPhone>[0] & { wrongKey?: boolean } = {}) {
    const phone = newPhone({ WebSocket: socketFrom(source), ...(opts.wrongKey ? { signer: () => naclSigner(nacl.sign.keyPair().secretKey) } : {}), ...opts });
    await phone.keystore.put(account);
    return phone;
  }

  test('hellos per source (6 a minute here): the 7th, on whichever process, is RATE_LIMITED before anything else; another source logs in', async () => {
    const phone = await phoneFrom('127.0.2.2');
    for (let i = 0; i < 6; i++) (await phone.login(await qr(at(i), srv, newNonce()))).connection.close();
    for (const n of ns) {
      const nonce = newNonce();
      assert.is(await codeOf(phone.login(await qr(n, srv, nonce))), 'RATE_LIMITED', n.url);
      assert.is((await getSession(n, srv, nonce)).state, 'waiting', 'the session never heard of it');
    }
    const other = await phoneFrom('127.0.2.3');
    (await other.login(await qr(at(2), srv, newNonce()))).connection.close();
  });

  test("failed proofs per source (3 here): a stranger's 3 bad proofs on processes 1, 2, 3 refuse its next hello on every process; the owner logs in", async () => {
    const stranger = await phoneFrom('127.0.2.4', { wrongKey: true });
    for (let i = 0; i < 3; i++) assert.is(await codeOf(stranger.login(await qr(at(i), srv, newNonce()))), 'BAD_SIGNATURE', `proof ${i + 1}`);
    for (const n of ns) assert.is(await codeOf(stranger.login(await qr(n, srv, newNonce()))), 'RATE_LIMITED', n.url);
    const owner = await phoneFrom('127.0.2.5');
    const nonce = newNonce();
    (await owner.login(await qr(at(1), srv, nonce))).connection.close();
    assert.is((await getSession(at(2), srv, nonce)).loggedin, true);
  });

  test('open handshakes: 2 per session and source, 4 per session, counted over the processes; the owner still gets in once they end', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const waiting = { consent: async () => (await gate, { accept: false }) };
    const nonce = newNonce();
    const { hsid } = await getSession(at(0), srv, nonce);
    const scans: Promise<string>[] = [];
    const open = async (source: string, n: TestServer) => {
      scans.push(codeOf((await phoneFrom(source, waiting)).login(await qr(n, srv, nonce))));
      await until(async () => (await at(0).hub.snapshot(srv, hsid))?.context.handshakes.length === scans.length, `${scans.length} handshakes open`);
    };
    await open('127.0.2.6', at(0));
    await open('127.0.2.6', at(1));
    assert.is(await codeOf((await phoneFrom('127.0.2.6')).login(await qr(at(2), srv, nonce))), 'SESSION_BUSY', 'a third from one source, on process 3');
    await open('127.0.2.7', at(2));
    await open('127.0.2.8', at(0));
    assert.is(await codeOf((await phoneFrom('127.0.2.9')).login(await qr(at(1), srv, nonce))), 'SESSION_BUSY', 'a fifth on the session, on process 2');
    release();
    assert.equal(await Promise.all(scans), ['DECLINED', 'DECLINED', 'DECLINED', 'DECLINED']);
    (await (await phoneFrom('127.0.2.9')).login(await qr(at(1), srv, nonce))).connection.close();
    assert.is((await getSession(at(2), srv, nonce)).loggedin, true);
  });

  test('REST requests per api key (100 in 20 minutes here): the 101st, on whichever process, is 429 RATE_LIMITED with Retry-After and does nothing; another key goes on', async () => {
    const { apikey } = await keyWith(ns[0]!, ['users'], srv);
    for (let i = 0; i < 100; i++) {
      const r = await at(i).api('GET', `/servers/${srv}/users/u${i}/attributes/`, { key: apikey });
      assert.is(r.status, 404, JSON.stringify(r.body));
    }
    for (const n of ns) {
      const r = await n.api('POST', `/servers/${srv}/users/refused/attributes/`, { key: apikey, body: { k: 1 } });
      assert.is(r.status, 429, `${n.url} ${JSON.stringify(r.body)}`);
      assert.is(r.body.code, 'RATE_LIMITED');
      assert.ok(Number(r.headers.get('retry-after')) > 0, 'Retry-After');
    }
    assert.is((await at(1).api('GET', `/servers/${srv}/users/refused/attributes/`)).status, 404, 'nothing written; the root key goes on');
  });

  test('REST requests without a known key per source (4 a minute here): the 5th, on whichever process, is 429; another source is not counted', async () => {
    for (let i = 0; i < 4; i++) assert.is((await getFrom(`${at(i).url}/servers/`, `guess-${i}`, '127.0.2.10')).status, 401, `guess ${i + 1}`);
    for (const n of ns) {
      const refused = await getFrom(`${n.url}/servers/`, 'guess-x', '127.0.2.10');
      assert.is(refused.status, 429, n.url);
      assert.is((refused.body as { code: string }).code, 'RATE_LIMITED');
      assert.ok(Number(refused.retryAfter) > 0);
    }
    assert.is((await getFrom(`${at(0).url}/servers/`, 'guess-y', '127.0.2.11')).status, 401, 'another source guesses on');
  });

  test('pushes per account (§4.2; 2 an hour here): provoked on 1 and on 2, the third on 3 is 429 with Retry-After', async () => {
    const phone = await phoneFrom('127.0.2.14');
    const nonce = newNonce();
    (await phone.login(await qr(at(0), srv, nonce))).connection.close();
    assert.is((await at(0).api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } })).status, 200);
    const provoke = (n: TestServer) => n.api('POST', `/servers/${srv}/sessions/provokelogin`, { headers: { 'x-nonce': nonce } });
    for (const n of [at(0), at(1)]) assert.is((await provoke(n)).status, 200, n.url);
    const refused = await provoke(at(2));
    assert.is(refused.status, 429, JSON.stringify(refused.body));
    assert.is(refused.body.code, 'RATE_LIMITED');
    const retry = Number(refused.headers.get('retry-after'));
    assert.ok(retry > 3500 && retry <= 3600, `Retry-After ${retry}: until the first push is an hour old`);
  });

  test('open WebSocket connections per source (3 here): the 4th, on whichever process, is refused 429; one closed makes room on another process', async () => {
    const open = [await TextBrowser.open(at(0), {}, '127.0.2.12'), await TextBrowser.open(at(1), {}, '127.0.2.12'), await TextBrowser.open(at(2), {}, '127.0.2.12')];
    for (const n of ns) assert.is(await codeOf(TextBrowser.open(n, {}, '127.0.2.12')), 'Error: HTTP 429', n.url);
    const elsewhere = await TextBrowser.open(at(0), {}, '127.0.2.13');
    open[0]!.close();
    let again: TextBrowser | undefined;
    await until(async () => {
      again = await TextBrowser.open(at(2), {}, '127.0.2.12').catch(() => undefined);
      return again !== undefined;
    }, 'room again, on process 3');
    for (const b of [...open, elsewhere, again]) b?.close();
  });
}

test.run();
