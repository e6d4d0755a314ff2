import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import { ROOT } from '../helpers/child.ts';
import { type Nginx, nginxBin, startNginx } from '../helpers/nginx.ts';
import { restClient, startTestServer, type TestServer } from '../helpers/ns.ts';
import { databases, type Databases } from '../helpers/pg-databases.ts';
import { freePort } from '../helpers/private-services.ts';
import { getSession, IoBrowser, newNonce, newPhone, qr, TextBrowser, until } from '../helpers/peers.ts';
import { clusterEnv, type RedisRun, redisRun } from '../helpers/redis.ts';
import { service } from '../helpers/services.ts';

const pgUrl = await service('postgres');
const redis: RedisRun | undefined = pgUrl ? await redisRun('nginx') : undefined;

/** deploy/nginx-cluster.conf with these upstreams and this port, for test/helpers/nginx.ts. */
function nginxSite(listen: number, upstreams: string[]): string {
  const site = readFileSync(path.join(ROOT, 'deploy/nginx-cluster.conf'), 'utf8')
    .replace(/^( *)server 127\.0\.0\.1:808[1-3];\n/gm, '')
    .replace(/^( *)# @upstreams.*\n( *# .*\n)?/m, (_m, indent: string) => upstreams.map((u) => `${indent}server ${u};\n`).join(''))
    .replace(/^( *)listen 8080;/m, `$1listen 127.0.0.1:${listen};`);
  assert.ok(site.includes(`server ${upstreams[0]};`) && site.includes(`listen 127.0.0.1:${listen};`), 'the site file has its @ lines');
  return site;
}

/** The sum of a Prometheus counter's samples (those whose labels include `labels`) in a /metrics text. */
function sumOf(metrics: string, name: string, labels: string): number {
  let sum = 0;
  for (const line of metrics.split('\n')) if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.split(' ').at(-1));
  return sum;
}

if (!nginxBin) {
  if (process.env.CI === 'true') throw new Error('CI=true and nginx is not installed (.ci/run installs it): its test cannot be skipped in CI');
  console.log('skipped: nginx is not installed (apt-get install -y nginx; .ci/run does)');
} else if (pgUrl && redis) {
  let dbs: Databases;
  let nodes: TestServer[] = [];
  let proxy: Nginx | undefined;
  let prefix: string;
  let base: string;

  test.before(async () => {
    dbs = databases(pgUrl);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = {
      ...(await clusterEnv(dbs, redis)),
      NEXTAUTH_PUBLIC_URL: base,
      NEXTAUTH_TRUSTED_PROXIES: '127.0.0.1',
      NEXTAUTH_CONNECTIONS_PER_SOURCE: '4',
    };
    nodes = [await startTestServer(env), await startTestServer(env), await startTestServer(env)];
    prefix = mkdtempSync(path.join(os.tmpdir(), 'nextauth-nginx-'));
    proxy = startNginx(
      prefix,
      nginxSite(
        port,
        nodes.map((n) => n.url.replace('http://', '')),
      ),
    );
    await until(
      async () => {
        try {
          return (await fetch(`${base}/healthz`)).status === 200;
        } catch {
          return false;
        }
      },
      () => `nginx answering (${proxy!.stderr()})`,
      10_000,
    );
  });
  test.after(async () => {
    proxy?.stop();
    await Promise.allSettled(nodes.map((n) => n.stop(true)));
    await dbs?.dropAll();
    await redis.cleanup();
    rmSync(prefix, { recursive: true, force: true });
  });

  test('through nginx, round robin: enrol, QR login heard by a text-socket and a socket.io browser, getSession, logout', async () => {
    const api = restClient(base);
    const ns = { url: base, api };
    const made = await api('POST', '/servers/', { body: { serverName: 'Behind nginx' } });
    assert.is(made.status, 200, JSON.stringify(made.body));
    const srv = made.body.serverid as string;
    // Requests spread over the processes (round robin): each answers the same.
    const served = async () =>
      Promise.all(nodes.map(async (n) => sumOf(await (await fetch(`${n.url}/metrics`)).text(), 'nextauth_http_requests_total', 'route="/servers/:serverid/"')));
    const before = await served();
    for (let i = 0; i < 6; i++) assert.is((await api('GET', `/servers/${srv}/`)).body.serverName, 'Behind nginx');
    const after = await served();
    assert.ok(
      after.every((n, i) => n > before[i]!),
      `every process served some (${before} → ${after})`,
    );

    const phone = newPhone();
    const { acc } = await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=erin'));
    const nonce = newNonce();
    const { hsid } = await getSession(ns, srv, nonce);
    const text = await TextBrowser.open(ns);
    text.send(`REGISTER ${hsid} ${srv}`);
    await text.waitFor('LOGOUT', hsid);
    const io = await IoBrowser.open(ns);
    assert.is((await io.watch(srv, hsid)).state, 'waiting');

    const { connection } = await phone.login(await qr(ns, srv, nonce));
    await text.waitFor('LOGIN', hsid);
    await io.waitFor('login');
    const status = await getSession(ns, srv, nonce);
    assert.is(status.loggedin, true);
    assert.is(status.accountid, acc);
    assert.is(status.userid, 'erin');

    assert.is((await api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } })).status, 200);
    await text.waitFor('LOGOUT', hsid);
    await io.waitFor('logout');
    assert.is((await getSession(ns, srv, nonce)).loggedin, false);
    connection.close();
    text.close();
    io.close();
  });

  test("the client's address, not nginx's, is the source; its connections are counted across the three processes", async () => {
    const open = (localAddress: string) =>
      new Promise<{ ws?: WebSocket; status?: number }>((resolve) => {
        const ws = new WebSocket(`${base.replace('http', 'ws')}/ns/websocket`, { localAddress });
        ws.once('open', () => resolve({ ws }));
        ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
        ws.once('error', () => {});
      });
    // Four from 127.0.0.9, spread by nginx over the processes: the fifth is refused wherever it lands.
    const held = [];
    for (let i = 0; i < 4; i++) held.push(await open('127.0.0.9'));
    for (const h of held) assert.ok(h.ws, 'open');
    assert.is((await open('127.0.0.9')).status, 429);
    // Another client of the same nginx is not counted with it.
    const other = await open('127.0.0.10');
    assert.ok(other.ws, 'another client');
    for (const h of [...held, other]) h.ws?.close();
  });
}

test.run();
