/**
 * Graceful stop, with the real command line as a child process: on SIGTERM / SIGINT the server
 * stops taking new connections, finishes and flushes pending writes, closes sockets with 1001
 * (the phone's app channel and the browser's text socket) and exits 0 within 5 s. A change made
 * right before the signal is on disk after it, and a login survives the stop.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import { cliApi, startCli } from '../helpers/child.ts';
import { newNonce, newPhone } from '../helpers/peers.ts';

const KEY = 'durability-root-key-0123456789';
const GRACE_MS = 5000;
const startServer = (dataDir: string) => startCli(dataDir, { rootApiKey: KEY });
const api = cliApi(KEY);

async function qrCode(url: string, serverid: string, nonce: string, kind: 'login' | 'enrol'): Promise<string> {
  const route = kind === 'login' ? `/servers/${serverid}/sessions/qr/login` : `/servers/${serverid}/sessions/qr/enrol?name=phone`;
  const r = await api(url, 'GET', route, { headers: { 'x-nonce': nonce } });
  assert.is(r.status, 200, `qr ${kind}`);
  return r.raw.toString('base64');
}

/** A browser's text socket watching one session; `closed` resolves with the close code. */
async function textSocket(url: string, serverid: string, hsid: string) {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ns/websocket`);
  const heard: string[] = [];
  ws.on('message', (d) => heard.push(d.toString()));
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(`REGISTER ${hsid} ${serverid}`);
  const end = Date.now() + 3000;
  while (!heard.includes(`LOGIN ${hsid} ${serverid}`)) {
    if (Date.now() > end) throw new Error(`the text socket did not hear LOGIN: ${heard.join(' | ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return { ws, heard, closed };
}

/** Does a new WebSocket to `path` open? (false: refused, 503, or reset.) */
function opens(url: string, route: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + route);
    ws.once('open', () => {
      ws.terminate();
      resolve(true);
    });
    ws.once('error', () => resolve(false));
    ws.once('unexpected-response', () => resolve(false));
  });
}

const dirs: string[] = [];
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function dataFolder(): string {
  const base = mkdtempSync(path.join(os.tmpdir(), 'nextauth-stop-'));
  dirs.push(base);
  return path.join(base, 'data');
}

const globalAttributesOnDisk = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'nextauth.json'), 'utf8')).globalAttributes;

/**
 * One graceful stop: a phone logged in with its app channel open, a browser watching on the text
 * socket, a burst of REST changes with the signal sent as soon as the first one is answered.
 */
async function gracefulStop(dir: string, signal: 'SIGTERM' | 'SIGINT', before?: { serverid: string; nonce: string }) {
  const cli = startServer(dir);
  const url = await cli.listening;
  // One answered request first, so that the signal handlers are surely installed (the race at the
  // very start has its own test below).
  assert.is((await api(url, 'GET', '/healthz')).status, 200);
  if (before) {
    const again = await api(url, 'GET', `/servers/${before.serverid}/sessions/`, { headers: { 'x-nonce': before.nonce } });
    assert.is(again.body.loggedin, true, 'the login of the previous run survived the graceful stop');
  }
  const serverid = before?.serverid ?? (await api(url, 'POST', '/servers/', { body: { serverName: 'Stop' } })).body.serverid;
  const phone = newPhone();
  await phone.enrol(await qrCode(url, serverid, newNonce(), 'enrol'));
  const nonce = newNonce();
  const { connection } = await phone.login(await qrCode(url, serverid, nonce, 'login'));
  const status = await api(url, 'GET', `/servers/${serverid}/sessions/`, { headers: { 'x-nonce': nonce } });
  assert.is(status.body.loggedin, true);
  const text = await textSocket(url, serverid, status.body.hsid);

  // A burst of changes; the signal goes as soon as the first is answered, so most are in flight.
  const tag = signal.toLowerCase();
  const replies = Array.from({ length: 40 }, (_, i) =>
    api(url, 'PUT', '/attributes/', { body: { [`${tag}${i}`]: i } }).then(
      (r) => r.status,
      () => 0, // refused or reset: never acknowledged
    ),
  );
  await Promise.race(replies);
  const sent = Date.now();
  cli.process.kill(signal);

  // The open sockets hear 1001; new connections are not taken any more.
  const appClose = await connection.closed;
  const afterClose = await Promise.all([opens(url, '/ns/sigmai'), opens(url, '/ns/websocket')]);
  const { code, signal: killedBy } = await cli.exit;
  const took = Date.now() - sent;
  const statuses = await Promise.all(replies);

  assert.is(killedBy, null, `${signal}: the process ended by itself, not by the signal (stdout: ${cli.stdout()})`);
  assert.is(code, 0, `${signal}: exit code after ${took} ms (stdout: ${cli.stdout()}; stderr: ${cli.stderr()})`);
  assert.ok(took < GRACE_MS, `${signal}: stopped in ${took} ms`);
  assert.match(cli.stderr(), `${signal}: stopping`);
  assert.is(appClose.code, 1001, `the app channel's close code (${appClose.reason})`);
  assert.is(await text.closed, 1001, "the text socket's close code");
  assert.equal(afterClose, [false, false], 'no new WebSocket once stopping');
  assert.ok(statuses.filter((s) => s === 200).length >= 1);
  assert.ok(
    statuses.every((s) => s === 200 || s === 503 || s === 0),
    `statuses: ${statuses.join(',')}`,
  );
  const onDisk = globalAttributesOnDisk(dir);
  statuses.forEach((s, i) => {
    if (s === 200) assert.is(onDisk[`${tag}${i}`], i, `the change answered 200 (#${i}) is on disk`);
  });
  assert.equal(
    readdirSync(dir).filter((f) => f.endsWith('.tmp') || f === 'nextauth.run'),
    [],
    'no temp file, no run lock left',
  );
  return { serverid, nonce };
}

test('SIGTERM, then SIGINT: sockets close with 1001, pending writes are flushed, exit 0 within 5 s; the login survives', async () => {
  const dir = dataFolder();
  const first = await gracefulStop(dir, 'SIGTERM');
  await gracefulStop(dir, 'SIGINT', first);
});

test('requests in flight at the signal are finished, not cut: every change carried out was answered 200', async () => {
  const dir = dataFolder();
  const cli = startServer(dir);
  const url = await cli.listening;
  assert.is((await api(url, 'GET', '/healthz')).status, 200);
  const replies = Array.from({ length: 40 }, (_, i) =>
    api(url, 'PUT', '/attributes/', { body: { [`f${i}`]: i } }).then(
      (r) => r.status,
      () => 0,
    ),
  );
  await Promise.race(replies);
  cli.process.kill('SIGTERM');
  const { code } = await cli.exit;
  const statuses = await Promise.all(replies);
  assert.is(code, 0);
  const onDisk = globalAttributesOnDisk(dir);
  // A request is either refused (503, or no connection) and changes nothing, or carried out and
  // answered: a client must not lose the answer to a change that was made.
  const cut = statuses.flatMap((s, i) => (s !== 200 && onDisk[`f${i}`] === i ? [i] : []));
  assert.equal(cut, [], `changes made whose request was cut (${cut.length} of ${statuses.length}; statuses ${statuses.join(' ')})`);
});

test('a client that never answers the close frame does not hold the stop past 5 s', async () => {
  const dir = dataFolder();
  const cli = startServer(dir);
  const url = await cli.listening;
  assert.is((await api(url, 'GET', '/healthz')).status, 200);
  // A raw upgrade to the text socket; then it reads and ignores everything (no close frame back).
  const { port } = new URL(url);
  const stuck = net.connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    stuck.once('connect', () =>
      stuck.write(
        'GET /ns/websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
    );
    stuck.once('data', (d) => (d.toString().startsWith('HTTP/1.1 101') ? resolve() : reject(new Error(d.toString()))));
    stuck.once('error', reject);
  });
  stuck.on('data', () => {});
  stuck.on('error', () => {});
  const change = await api(url, 'PUT', '/attributes/', { body: { stuck: true } });
  assert.is(change.status, 200);
  const sent = Date.now();
  cli.process.kill('SIGTERM');
  const { code, signal } = await cli.exit;
  const took = Date.now() - sent;
  stuck.destroy();
  assert.is(signal, null);
  assert.ok(took < GRACE_MS, `stopped in ${took} ms`);
  assert.is(code, 0, `exit code (stderr: ${cli.stderr()})`);
  assert.is(globalAttributesOnDisk(dir).stuck, true);
});

test('a SIGTERM sent as soon as the "listening" line appears is a graceful stop too', async () => {
  // The line is the signal that the server is ready (supervisors and scripts wait for it), so a
  // stop asked for right then must go the graceful way: exit 0, not death by the signal.
  const dir = dataFolder();
  for (let i = 0; i < 2; i++) {
    const cli = startServer(dir);
    await cli.listening;
    cli.process.kill('SIGTERM');
    const { code, signal } = await cli.exit;
    assert.is(signal, null, `run ${i + 1}: killed by ${signal} (stdout: ${JSON.stringify(cli.stdout())})`);
    assert.is(code, 0, `run ${i + 1}: exit code`);
  }
});

test.run();
