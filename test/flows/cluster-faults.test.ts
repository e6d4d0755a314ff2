/**
 * Faults of a cluster (PROTOCOL.md §8, docs/cluster.md), on a PostgreSQL and a Redis of this file's
 * own (test/helpers/private-services.ts), which it stops, kills and starts again:
 *
 * - One process of three (child processes) SIGKILLed during a login storm and a stream of REST
 *   writes: every enrolment, login, logout and write that was answered is there on the others; a
 *   continuous session whose phone was on it is logged out by another when its pings stop; a
 *   handshake cut with it starts again elsewhere; its browser and its phone go on elsewhere.
 * - Redis restarted (SIGKILL, then started again empty, as Redis keeps nothing on disk here): the
 *   logged-in sessions come back from PostgreSQL on the processes still running, and go on.
 * - PostgreSQL stopped for real (`pg_ctl stop`): writes answer 503 STORAGE_UNAVAILABLE with
 *   Retry-After, none is half-done, and the processes write again by themselves once it is back.
 *
 * Skipped (one line) without PostgreSQL's or Redis's tools; under CI=true that is a failure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCli } from '../helpers/child.ts';
import { restClient, ROOT_KEY, startTestServer } from '../helpers/ns.ts';
import { databases, type Databases } from '../helpers/pg-databases.ts';
import { pushToQr, type Frame } from '../../src/sdk/app.ts';
import { codeOf, getSession, newNonce, newPhone, qr, TextBrowser, until } from '../helpers/peers.ts';
import { type PrivatePostgres, type PrivateRedis, privatePostgres, privateRedis } from '../helpers/private-services.ts';

const pg: PrivatePostgres | undefined = await privatePostgres();
const redis: PrivateRedis | undefined = pg ? await privateRedis() : undefined;

if (pg && redis) {
  let dbs: Databases;
  let prefixes = 0;
  /** A fresh database and Redis prefix: one NS of this file's. */
  const freshNs = async () => ({ NEXTAUTH_DATABASE_URL: await dbs.fresh(), NEXTAUTH_REDIS_URL: redis.url, NEXTAUTH_REDIS_PREFIX: `faults${++prefixes}:` });

  test.before(() => {
    dbs = databases(pg.url);
  });
  test.after(async () => {
    await dbs?.dropAll().catch(() => undefined);
    await Promise.allSettled([pg.remove(), redis.remove()]);
  });

  test('SIGKILL of one process of three during a login storm and a stream of REST writes: nothing acknowledged is lost; its sessions go on; its phones and browsers carry on elsewhere', async () => {
    const env = {
      ...(await freshNs()),
      // One test client makes every request and hello: §7's per-source and per-key limits lifted.
      NEXTAUTH_REST_RATE: '100000000/1',
      NEXTAUTH_HELLO_RATE: '100000000/1',
    };
    const dirs: string[] = [];
    const spawnNs = () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-faults-'));
      dirs.push(dir);
      return startCli(dir, { rootApiKey: ROOT_KEY, env });
    };
    // The first alone (it migrates the new database), then the other two.
    const children = [spawnNs()];
    await children[0]!.listening;
    children.push(spawnNs(), spawnNs());
    const [a, b, c] = await Promise.all(children.map(async (child) => ({ url: await child.listening, api: restClient(await child.listening) })));
    const victim = children[2]!;
    const ws = (ns: { url: string }) => `${ns.url.replace('http', 'ws')}/ns/sigmai`;
    const closing: Array<{ close(): void }> = [];
    try {
      const srv = (await a!.api('POST', '/servers/', { body: { serverName: 'Storm' } })).body.serverid as string;
      // A server whose logins are continuous: a phone answers pings every second, or is logged out after 2 s.
      const pinged = (await a!.api('POST', '/servers/', { body: { serverName: 'Pinged', pingTime: 2 } })).body.serverid as string;

      // What process C holds when it dies. A phone logged in through C, listening there, its
      // session watched by a browser of C.
      const xavier = newPhone();
      await xavier.enrol(await qr(c!, srv, newNonce(), 'enrol', '&userid=xavier'));
      const held = newNonce();
      const { hsid: heldHsid } = await getSession(c!, srv, held);
      closing.push((await xavier.login(await qr(c!, srv, held))).connection);
      closing.push((await xavier.listen(srv)).connection);
      const onC = await TextBrowser.open(c!);
      onC.send(`REGISTER ${heldHsid} ${srv}`);
      await onC.waitFor('LOGIN', heldHsid);
      // A continuous login through C, watched from A: its pings stop with C.
      const yara = newPhone();
      await yara.enrol(await qr(c!, pinged, newNonce(), 'enrol', '&userid=yara'));
      const continuous = newNonce();
      const { hsid: continuousHsid } = await getSession(a!, pinged, continuous);
      closing.push((await yara.login(await qr(c!, pinged, continuous))).connection);
      const onA = await TextBrowser.open(a!);
      closing.push(onA);
      onA.send(`REGISTER ${continuousHsid} ${pinged}`);
      await onA.waitFor('LOGIN', continuousHsid);
      // A handshake in flight on C: the phone has the challenge and is asking its user.
      let consent!: () => void;
      const asked = new Promise<void>((resolve) => {
        consent = resolve;
      });
      let asking = false;
      const zoe = newPhone({
        consent: async (_info, op) => {
          if (op === 'login' && !asking) {
            asking = true;
            await asked;
          }
          return { accept: true, sf: 'none' };
        },
      });
      await zoe.enrol(await qr(a!, srv, newNonce(), 'enrol', '&userid=zoe'));
      const inFlight = newNonce();
      const { hsid: inFlightHsid } = await getSession(b!, srv, inFlight);
      const onB = await TextBrowser.open(b!);
      closing.push(onB);
      onB.send(`REGISTER ${inFlightHsid} ${srv}`);
      const interrupted = codeOf(zoe.login(await qr(c!, srv, inFlight)));
      await until(() => asking, 'the handshake on C waiting for consent');
      await onB.waitFor('CONFIRMSCAN', inFlightHsid);

      // The storm: enrol a phone, log it in, log every other session out, each step on a process
      // taken in turn; beside it, REST writes of attributes. Only what was answered counts.
      const live = [a!, b!, c!];
      let turn = 0;
      const next = () => live[turn++ % live.length]!;
      const enrolled: Array<{ acc: number; userid: string }> = [];
      const loggedIn = new Map<string, number>();
      const logoutTried = new Set<string>();
      const loggedOut = new Set<string>();
      const written: string[] = [];
      let storming = true;
      const storm = async (w: number) => {
        for (let i = 0; storming; i++) {
          try {
            const phone = newPhone();
            const userid = `storm-${w}-${i}`;
            const { acc } = await phone.enrol(await qr(next(), srv, newNonce(), 'enrol', `&userid=${userid}`));
            enrolled.push({ acc, userid });
            const nonce = newNonce();
            (await phone.login(await qr(next(), srv, nonce))).connection.close();
            loggedIn.set(nonce, acc);
            if (i % 2 === 0) {
              logoutTried.add(nonce);
              if ((await next().api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } })).status === 200) loggedOut.add(nonce);
            }
          } catch {
            // A step on C as it died, or on C dead: not acknowledged, the next step goes on.
          }
        }
      };
      const writes = async (w: number) => {
        for (let i = 0; storming; i++) {
          const user = `admin-${w}-${i}`;
          try {
            if ((await next().api('POST', `/servers/${srv}/users/${user}/attributes/`, { body: { i } })).status === 200) written.push(user);
          } catch {}
        }
      };
      const running = [0, 1, 2].map(storm).concat([0, 1].map(writes));
      await until(() => loggedIn.size >= 10 && written.length >= 40, 'the storm under way', 30_000);
      victim.process.kill('SIGKILL');
      assert.is((await victim.exit).signal, 'SIGKILL');
      live.splice(live.indexOf(c!), 1);
      const [logins, writesBefore] = [loggedIn.size, written.length];
      await until(() => loggedIn.size >= logins + 10 && written.length >= writesBefore + 40, 'the storm going on without C', 30_000);
      storming = false;
      await Promise.all(running);

      // Every acknowledged enrolment, login, logout and write is there, read on A or B.
      const reader = () => [a!, b!][turn++ % 2]!;
      for (const { acc, userid } of enrolled) assert.is((await reader().api('GET', `/servers/${srv}/accounts/${acc}/`)).body.userid, userid, `enrolment of ${userid}`);
      for (const [nonce, acc] of loggedIn) {
        const status = await getSession(reader(), srv, nonce);
        const what = `${nonce}: ${JSON.stringify(status)}`;
        // Logged in, or logged out after that login (which left it one to push to).
        if (status.loggedin) assert.is(status.accountid, acc, what);
        else assert.equal([status.state, status.canprovoke], ['loggedOut', true], what);
        if (loggedOut.has(nonce)) assert.is(status.loggedin, false, `an acknowledged logout: ${what}`);
        else if (!logoutTried.has(nonce)) assert.is(status.loggedin, true, `an acknowledged login: ${what}`);
      }
      for (const user of written) assert.equal((await reader().api('GET', `/servers/${srv}/users/${user}/attributes/`)).body, { i: Number(user.split('-')[2]) }, user);

      // C's continuous session goes on elsewhere: no pong comes, A or B logs it out.
      await until(() => onA.types(continuousHsid).includes('LOGOUT'), 'the continuous session logged out on another process', 25_000);
      assert.is((await getSession(b!, pinged, continuous)).loggedin, false);
      // The handshake cut with C starts again on A.
      consent();
      assert.is.not(await interrupted, 'ok');
      await zoe.login(await qr(a!, srv, inFlight));
      await onB.waitFor('LOGIN', inFlightHsid);
      // C's browser finds the session on A as it was; C's phone listens on B, logs out there,
      // and a push from A reaches it on B, which logs the session in again.
      await until(() => onC.ws.readyState === onC.ws.CLOSED, "C's browser cut off");
      const again = await TextBrowser.open(a!);
      closing.push(again);
      again.send(`REGISTER ${heldHsid} ${srv}`);
      await again.waitFor('LOGIN', heldHsid);
      const { connection: listening } = await xavier.listen(srv, { connection: await xavier.connect(ws(b!)) });
      closing.push(listening);
      const pushes: Frame[] = [];
      listening.on('push', (f) => pushes.push(f));
      listening.logout(Buffer.from(heldHsid, 'base64url'));
      await again.waitFor('LOGOUT', heldHsid);
      assert.is((await a!.api('POST', `/servers/${srv}/sessions/provokelogin`, { headers: { 'x-nonce': held } })).status, 200);
      await until(() => pushes.length === 1, 'the push, on B');
      await xavier.login(pushToQr(pushes[0]!, ws(b!)), { connection: listening });
      await until(() => again.types(heldHsid).at(-1) === 'LOGIN', 'LOGIN again');
      assert.is((await getSession(b!, srv, held)).loggedin, true);
    } finally {
      for (const x of closing) x.close();
      await Promise.allSettled(children.map(async (child) => (child.process.kill('SIGTERM'), await child.exit)));
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  });

  /**
   * Two processes of a fresh NS, a phone of process 1 enrolled as `userid` and logged in to a
   * session a text browser of process 2 watches (it heard LOGIN).
   */
  async function loggedInOnTwo(userid: string) {
    const env = await freshNs();
    const one = await startTestServer(env);
    const two = await startTestServer(env);
    const browser = await TextBrowser.open(two);
    try {
      const srv = (await one.api('POST', '/servers/', { body: { serverName: 'Faults' } })).body.serverid as string;
      const phone = newPhone();
      const { acc } = await phone.enrol(await qr(one, srv, newNonce(), 'enrol', `&userid=${userid}`));
      const nonce = newNonce();
      const { hsid } = await getSession(two, srv, nonce);
      const login = await phone.login(await qr(one, srv, nonce));
      browser.send(`REGISTER ${hsid} ${srv}`);
      await browser.waitFor('LOGIN', hsid);
      return { one, two, browser, srv, phone, acc, nonce, hsid, login };
    } catch (e) {
      browser.close();
      await Promise.allSettled([one.stop(true), two.stop(true)]);
      throw e;
    }
  }

  test('Redis restarted empty: the logged-in sessions come back from PostgreSQL on the running processes, and go on: browsers, pushes, logout, limits', async () => {
    const { one, two, browser, srv, phone, acc, nonce, hsid, login } = await loggedInOnTwo('rhea');
    try {
      login.connection.close();
      // Logged in once and out: a push can log it in again; the phone listens on process 1.
      const again = newNonce();
      const { hsid: againHsid } = await getSession(two, srv, again);
      (await phone.login(await qr(one, srv, again))).connection.close();
      assert.is((await two.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': again } })).status, 200);
      const { connection: listening } = await phone.listen(srv);
      const pushes: Frame[] = [];
      listening.on('push', (f) => pushes.push(f));
      const before = await getSession(one, srv, nonce);
      assert.type(before.expires, 'number', 'its session limit');

      await redis.kill();
      await redis.start();
      // Both processes notice, and put the sessions back from PostgreSQL (each goes on with the
      // time its state had left); the browser's subscription is back too.
      await until(async () => (await getSession(two, srv, nonce)).loggedin === true, 'the login back on process 2', 10_000);
      for (const ns of [one, two]) {
        const back = await getSession(ns, srv, nonce);
        assert.is(back.loggedin, true);
        assert.is(back.accountid, acc);
        assert.is(back.expires, before.expires, 'its limit as it was');
        const out = await getSession(ns, srv, again);
        assert.is(out.state, 'loggedOut');
        assert.is(out.canprovoke, true);
      }
      await until(async () => (await two.api('GET', '/readyz', { key: null })).status === 200, 'readyz 200', 10_000);

      // A logout on process 1: the browser on process 2 hears it.
      assert.is((await one.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } })).status, 200);
      await until(() => browser.types(hsid).at(-1) === 'LOGOUT', 'LOGOUT after the restart', 10_000);
      // A push from process 2 reaches the phone still listening on process 1, which logs in.
      browser.send(`REGISTER ${againHsid} ${srv}`);
      await browser.waitFor('CANPROVOKE', againHsid);
      assert.is((await two.api('POST', `/servers/${srv}/sessions/provokelogin`, { headers: { 'x-nonce': again } })).status, 200);
      await until(() => pushes.length === 1, 'the push, on the connection process 1 holds', 10_000);
      await phone.login(pushToQr(pushes[0]!, `${one.url.replace('http', 'ws')}/ns/sigmai`), { connection: listening });
      await browser.waitFor('LOGIN', againHsid);
      assert.is((await getSession(two, srv, again)).loggedin, true);
      listening.close();
    } finally {
      browser.close();
      await Promise.allSettled([one.stop(true), two.stop(true)]);
    }
  });

  test('PostgreSQL stopped: writes, logins, enrolments and logouts answer STORAGE_UNAVAILABLE (503 with Retry-After) and change nothing; back by themselves once it is', async () => {
    const { one, two, browser, srv, phone, acc, nonce, hsid } = await loggedInOnTwo('olga');
    try {
      // Two sessions waiting for a login, and an enrol code, their QR codes read before the stop.
      const waiting = newNonce();
      const loginQr = await qr(one, srv, waiting);
      const { hsid: waitingHsid } = await getSession(two, srv, waiting);
      browser.send(`REGISTER ${waitingHsid} ${srv}`);
      await browser.waitFor('LOGOUT', waitingHsid);
      const enrolQr = await qr(one, srv, newNonce(), 'enrol', '&userid=piet');
      assert.is((await one.api('POST', `/servers/${srv}/users/before/attributes/`, { body: { k: 1 } })).status, 200);

      await pg.stop('fast');
      let down = await one.api('GET', '/readyz', { key: null });
      await until(async () => (down = await one.api('GET', '/readyz', { key: null })).status === 503, 'readyz 503', 5000);
      assert.match(down.body.checks.store, 'PostgreSQL cannot be reached');
      assert.is(down.body.checks.sessions, 'ok');
      const refusals = {
        write: await one.api('POST', `/servers/${srv}/users/during/attributes/`, { body: { k: 2 } }),
        logout: await two.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } }),
      };
      for (const [what, r] of Object.entries(refusals)) {
        assert.is(r.status, 503, `${what}: ${JSON.stringify(r.body)}`);
        assert.is(r.body.code, 'STORAGE_UNAVAILABLE', what);
        assert.is(r.headers.get('retry-after'), '5', what);
      }
      assert.is(await codeOf(phone.login(loginQr)), 'STORAGE_UNAVAILABLE', 'a login');
      assert.is(await codeOf(newPhone().enrol(enrolQr)), 'STORAGE_UNAVAILABLE', 'an enrolment');

      await pg.start();
      await until(async () => (await one.api('POST', `/servers/${srv}/users/after/attributes/`, { body: { k: 3 } })).status === 200, 'a write once PostgreSQL is back', 15_000);
      await until(async () => (await two.api('GET', '/readyz', { key: null })).status === 200, 'readyz 200 on the other', 15_000);
      // Nothing refused is there; what was acknowledged is, and the session is as it was.
      assert.equal((await two.api('GET', `/servers/${srv}/users/before/attributes/`)).body, { k: 1 });
      assert.equal((await two.api('GET', `/servers/${srv}/users/after/attributes/`)).body, { k: 3 });
      assert.is((await two.api('GET', `/servers/${srv}/users/during/attributes/`)).status, 404);
      assert.is((await two.api('GET', `/servers/${srv}/accounts/`)).body.totalnumber, 1, 'no account of the refused enrolment');
      const still = await getSession(one, srv, nonce);
      assert.is(still.loggedin, true, 'the refused logout changed nothing');
      assert.is(still.accountid, acc);
      assert.is((await getSession(one, srv, waiting)).loggedin, false, 'the refused login changed nothing');
      assert.not.ok(browser.types(hsid).includes('LOGOUT'), 'its browser heard no LOGOUT');
      assert.not.ok(browser.types(waitingHsid).includes('LOGIN'), 'nor a LOGIN of the refused login');
      // And the same operations now go through.
      assert.is((await two.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } })).status, 200);
      await browser.waitFor('LOGOUT', hsid);
      await phone.login(await qr(one, srv, waiting));
      await browser.waitFor('LOGIN', waitingHsid);
      await newPhone().enrol(await qr(one, srv, newNonce(), 'enrol', '&userid=piet'));
    } finally {
      browser.close();
      await pg.start().catch(() => undefined);
      await Promise.allSettled([one.stop(true), two.stop(true)]);
    }
  });
}

test.run();
