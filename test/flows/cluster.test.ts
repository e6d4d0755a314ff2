/**
 * Two cluster processes (PROTOCOL.md §8), in this test process: two real servers started with
 * NEXTAUTH_DATABASE_URL and NEXTAUTH_REDIS_URL, sharing one fresh PostgreSQL database and one
 * Redis prefix, each on its own port of 127.0.0.1. The phone and the REST calls that made its
 * account reach process 1, the browser watching the session process 2: what one does, the other
 * sees. And GET /readyz: 200 on both; 503 on a third process whose way to Redis (a TCP proxy of
 * this test) is cut, 200 again once it is back. Skipped (one line) without PostgreSQL or Redis.
 */
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import { CLI, ensureServerBuild } from '../../scripts/build.ts';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { databases, type Databases } from '../helpers/pg-databases.ts';
import { answerTransaction, fromB64url, naclSigner, pushToQr, type Frame } from '../../src/sdk/app.ts';
import { codeOf, getSession, newNonce, newPhone, qr, TextBrowser, until } from '../helpers/peers.ts';
import { clusterEnv, type RedisRun, redisRun } from '../helpers/redis.ts';
import { service } from '../helpers/services.ts';
import { ROOT } from '../helpers/child.ts';

ensureServerBuild(); // the CLI runs compiled, as users run it

/** The child processes of `pid` (pgrep -P). */
function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

const pgUrl = await service('postgres');
const redis: RedisRun | undefined = pgUrl ? await redisRun('cluster') : undefined;

/** A TCP proxy to `target` on a port of its own, which can be cut (every connection ended, none taken) and opened again on that port. */
async function tcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  });
  const listen = (port: number) => new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    async cut(): Promise<void> {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    async open(): Promise<void> {
      if (!server.listening) await listen(port);
    },
  };
}

if (pgUrl && redis) {
  let dbs: Databases;
  let env: Record<string, string>;
  let one: TestServer;
  let two: TestServer;
  let srv: string;

  test.before(async () => {
    dbs = databases(pgUrl);
    env = await clusterEnv(dbs, redis);
    one = await startTestServer(env);
    two = await startTestServer(env);
    const made = await one.api('POST', '/servers/', { body: { serverName: 'Cluster', logo: 'aGVsbG8=' } });
    assert.is(made.status, 200, JSON.stringify(made.body));
    srv = made.body.serverid;
  });
  test.after(async () => {
    await Promise.allSettled([one?.stop(true), two?.stop(true)]);
    await dbs?.dropAll();
    await redis.cleanup();
  });

  test('two processes: enrolled and logged in on 1, heard and asked on 2; logged out on 2, heard there', async () => {
    assert.is.not(one.url, two.url);
    // The account: REST and the app channel of process 1.
    const phone = newPhone();
    const { acc } = await phone.enrol(await qr(one, srv, newNonce(), 'enrol', '&userid=dana'));
    assert.is((await two.api('GET', `/servers/${srv}/accounts/${acc}/`)).body.userid, 'dana', 'the record is in the shared database');

    // A browser of process 2 watches a new session.
    const nonce = newNonce();
    const before = await getSession(two, srv, nonce);
    assert.is(before.loggedin, false);
    const hsid = before.hsid as string;
    const browser = await TextBrowser.open(two);
    browser.send(`REGISTER ${hsid} ${srv}`);
    await browser.waitFor('LOGOUT', hsid);

    // The phone logs in through process 1 (its QR, its app channel).
    const { acc: loggedIn, connection } = await phone.login(await qr(one, srv, nonce));
    assert.is(loggedIn, acc);
    await browser.waitFor('LOGIN', hsid);
    const after = await getSession(two, srv, nonce);
    assert.is(after.loggedin, true);
    assert.is(after.accountid, acc);
    assert.is(after.userid, 'dana');
    assert.is((await getSession(one, srv, nonce)).loggedin, true, 'and process 1 says so too');

    // A logout by REST on process 2: its browser hears it, and process 1 agrees.
    const out = await two.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } });
    assert.is(out.status, 200, JSON.stringify(out.body));
    await until(() => browser.types(hsid).filter((t) => t === 'LOGOUT').length === 2, 'LOGOUT after the logout');
    assert.is((await getSession(one, srv, nonce)).loggedin, false);
    connection.close();
    browser.close();
  });

  test('readyz: 200 on both processes, with both checks', async () => {
    for (const ns of [one, two]) {
      const ready = await ns.api('GET', '/readyz', { key: null });
      assert.is(ready.status, 200, JSON.stringify(ready.body));
      assert.equal(ready.body, { ready: true, checks: { store: 'ok', sessions: 'ok' } });
    }
  });

  test('readyz: 503 STORAGE_UNAVAILABLE on a process cut off from Redis, the others ready; 200 once Redis is back', async () => {
    const target = new URL(redis.url);
    const proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
    const three = await startTestServer({ ...env, NEXTAUTH_REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
    try {
      assert.is((await three.api('GET', '/readyz', { key: null })).status, 200);
      await proxy.cut();
      let down = await three.api('GET', '/readyz', { key: null });
      await until(async () => (down = await three.api('GET', '/readyz', { key: null })).status === 503, 'readyz 503', 5000);
      assert.is(down.body.code, 'STORAGE_UNAVAILABLE');
      assert.is(down.body.ready, false);
      assert.is(down.body.checks.store, 'ok', 'PostgreSQL is still there');
      assert.match(down.body.checks.sessions, 'Redis cannot be reached');
      assert.is((await three.api('GET', '/healthz', { key: null })).status, 200, 'alive all the same');
      assert.is((await one.api('GET', '/readyz', { key: null })).status, 200, 'the others are fine');
      await proxy.open();
      await until(async () => (await three.api('GET', '/readyz', { key: null })).status === 200, 'readyz 200 again', 10_000);
    } finally {
      await proxy.open();
      await three.stop(true);
      await proxy.cut();
    }
  });

  test('PostgreSQL out of reach: writes answer 503 STORAGE_UNAVAILABLE with Retry-After and change nothing; the process writes again by itself once it is back', async () => {
    const target = new URL(env.NEXTAUTH_DATABASE_URL!);
    const proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const via = new URL(target);
    via.host = `127.0.0.1:${proxy.port}`;
    const three = await startTestServer({ ...env, NEXTAUTH_DATABASE_URL: via.toString() });
    try {
      assert.is((await three.api('POST', `/servers/${srv}/users/before-cut/attributes/`, { body: { k: 1 } })).status, 200);
      await proxy.cut();
      const refused = await three.api('POST', `/servers/${srv}/users/during-cut/attributes/`, { body: { k: 2 } });
      assert.is(refused.status, 503, JSON.stringify(refused.body));
      assert.is(refused.body.code, 'STORAGE_UNAVAILABLE');
      assert.is(refused.headers.get('retry-after'), '5');
      await proxy.open();
      await until(
        async () => (await three.api('POST', `/servers/${srv}/users/after-cut/attributes/`, { body: { k: 3 } })).status === 200,
        'a write once PostgreSQL is back',
        15_000,
      );
      // Read on another process: what was acknowledged is there, what was refused is not.
      assert.equal((await one.api('GET', `/servers/${srv}/users/before-cut/attributes/`)).body, { k: 1 });
      assert.equal((await one.api('GET', `/servers/${srv}/users/after-cut/attributes/`)).body, { k: 3 });
      assert.is((await one.api('GET', `/servers/${srv}/users/during-cut/attributes/`)).status, 404);
    } finally {
      await proxy.open();
      await three.stop(true);
      await proxy.cut();
    }
  });

  test('a process that cannot reach PostgreSQL or Redis at start does not start, and says why', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refusal = async (more: Record<string, string>): Promise<Error & { code?: string }> => {
      const started = Date.now();
      try {
        const ns = await startTestServer({ ...env, ...more }, undefined, { redisStartMs: 500 });
        await ns.stop(true);
      } catch (e) {
        assert.ok(Date.now() - started < 5000, 'it gave up in the time it was given');
        return e as Error & { code?: string };
      }
      throw new Error(`it started with ${JSON.stringify(more)}`);
    };
    const noRedis = await refusal({ NEXTAUTH_REDIS_URL: `redis://127.0.0.1:${port}` });
    assert.is(noRedis.code, 'STORAGE_UNAVAILABLE');
    assert.match(noRedis.message, `Redis at redis://127.0.0.1:${port} cannot be reached`);
    const noDatabase = await refusal({ NEXTAUTH_DATABASE_URL: `postgres://nextauth:secret@127.0.0.1:${port}/nowhere` });
    assert.is(noDatabase.code, 'STORAGE_UNAVAILABLE');
    assert.match(noDatabase.message, `PostgreSQL at postgres://127.0.0.1:${port}/nowhere cannot be opened`);
    assert.not.match(noDatabase.message, 'secret', 'no password shown');
  });

  test('a push from REST on process 2 reaches a phone listening on process 1, which logs the session in; a block on 2 tells the phone on 1', async () => {
    const phone = newPhone();
    const { acc } = await phone.enrol(await qr(one, srv, newNonce(), 'enrol', '&userid=pia'));
    const { connection: listening } = await phone.listen(srv); // (its QR named process 1: the account's app URL)
    const pushes: Frame[] = [];
    listening.on('push', (f) => pushes.push(f));
    const deleted: Frame[] = [];
    listening.on('deleted', (f) => deleted.push(f));
    // A session pia logged in to once and logged out of (so it can be provoked), on process 2.
    const nonce = newNonce();
    const first = await phone.login(await qr(two, srv, nonce));
    first.connection.close();
    assert.is((await two.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } })).status, 200);
    const { hsid } = await getSession(two, srv, nonce);
    const browser = await TextBrowser.open(two);
    browser.send(`REGISTER ${hsid} ${srv}`);
    await browser.waitFor('CANPROVOKE', hsid);

    const r = await two.api('POST', `/servers/${srv}/sessions/provokelogin`, { headers: { 'x-nonce': nonce } });
    assert.is(r.status, 200, JSON.stringify(r.body));
    await until(() => pushes.length === 1, 'the push, on the connection process 1 holds');
    assert.equal(Buffer.from(pushes[0]!.hsid as Uint8Array).toString('base64url'), hsid);
    await phone.login(pushToQr(pushes[0]!, `${one.url.replace('http', 'ws')}/ns/sigmai`), { connection: listening });
    await browser.waitFor('LOGIN', hsid);
    assert.is((await getSession(one, srv, nonce)).loggedin, true);

    // Blocked through process 2: the phone's connection on process 1 hears it.
    assert.is((await two.api('PUT', `/servers/${srv}/accounts/${acc}/?blocked=true`)).status, 200);
    await until(() => deleted.length === 1, 'deleted, on process 1');
    await browser.waitFor('LOGOUT', hsid);
    listening.close();
    browser.close();
  });

  test('a transaction made by REST on process 2 is shown to the phone logged in on process 1, approved there, and read back on 2', async () => {
    const phone = newPhone();
    const { account } = await phone.enrol(await qr(one, srv, newNonce(), 'enrol', '&userid=quinn'));
    const nonce = newNonce();
    const { hsid } = await getSession(two, srv, nonce);
    const login = await phone.login(await qr(one, srv, nonce)); // its connection: process 1
    const received: Frame[] = [];
    login.connection.on('transaction', (f) => received.push(f));
    const browser = await TextBrowser.open(two);
    browser.send(`REGISTER ${hsid} ${srv}`);

    const made = await two.api('POST', `/servers/${srv}/sessions/transactions`, { headers: { 'x-nonce': nonce }, body: { amount: 'EUR 12.00', description: 'cluster' } });
    assert.is(made.status, 200, JSON.stringify(made.body));
    const { tid } = made.body as { tid: string };
    await until(() => received.length === 1, 'the transaction on the phone (process 1)');
    await answerTransaction(login.connection, received[0]!, { signer: naclSigner(fromB64url(account.secretKey)), transcript: login.transcript, approve: true, sf: 'pin' });
    const r = (await two.api('GET', `/servers/${srv}/transactions/${tid}`)).body;
    assert.is(r.tstatus, '1', JSON.stringify(r));
    assert.is(r.sf, 'pin');
    assert.is((await one.api('GET', `/servers/${srv}/transactions/${tid}`)).body.tstatus, '1');
    await browser.waitFor('TRANSACTION', hsid);
    assert.ok(browser.heard.includes(`TRANSACTION ${hsid} ${srv} ${tid} approved`));
    // A second answer: closed, on whichever process.
    assert.is(
      await codeOf(answerTransaction(login.connection, received[0]!, { signer: naclSigner(fromB64url(account.secretKey)), transcript: login.transcript, approve: false })),
      'TRANSACTION_CLOSED',
    );
    login.connection.close();
    browser.close();
  });

  test('nextauth start --workers 2: two processes on one port, one that dies replaced, SIGTERM stops them all', async () => {
    const workersEnv = { ...env, NEXTAUTH_DATABASE_URL: await dbs.fresh(), NEXTAUTH_REDIS_PREFIX: redis.prefix() };
    const child = spawn(process.execPath, [...CLI, 'start', '--port', '0', '--workers', '2', '--demo', 'false', '--log-level', 'warn'], {
      cwd: ROOT,
      env: { ...process.env, ...workersEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const urlsOf = () => [...out.matchAll(/listening on (http:\/\/[\d.:]+)/g)].map((m) => m[1]);
      // (A worker says so once started; the cluster module hears it listen a moment before.)
      await until(() => /2 workers running/.test(out) && urlsOf().length === 2, `two workers (${out})`, 30_000);
      const urls = urlsOf();
      assert.is(urls.length, 2, out);
      assert.is(urls[0], urls[1], 'one port for both');
      assert.is((out.match(/Root api key/g) ?? []).length, 1, 'the root key made and shown once');
      const workers = () => childPids(child.pid!);
      const first = workers();
      assert.is(first.length, 2);
      for (let i = 0; i < 6; i++) assert.is((await fetch(`${urls[0]}/readyz`)).status, 200);
      // One dies: another takes its place.
      process.kill(first[0]!, 'SIGKILL');
      await until(
        () => {
          const now = workers();
          return now.length === 2 && !now.includes(first[0]!);
        },
        `a new worker (${out})`,
        30_000,
      );
      assert.is((await fetch(`${urls[0]}/readyz`)).status, 200);
      child.kill('SIGTERM');
      assert.is(await exited, 0, out);
      assert.equal(workers(), [], 'no worker left');
    } finally {
      child.kill('SIGKILL');
    }
  });
}

test.run();
