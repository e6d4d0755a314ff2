/**
 * Slow clients (PROTOCOL.md §7): a client that opens a connection and never finishes its request
 * headers is cut after the headers timeout (here 1 s, a setting; 10 s by default), so it cannot
 * hold the connection; a client that sends its headers in time is answered.
 */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer } from '../../helpers/ns.ts';

test('headers not complete within the timeout: the connection is closed; in time: answered', async () => {
  const ns = await startTestServer({ NEXTAUTH_HEADERS_TIMEOUT_SECONDS: '1' });
  const { port } = new URL(ns.url);
  const started = Date.now();
  const slow = net.connect(Number(port), '127.0.0.1');
  let heard = '';
  slow.on('data', (d) => (heard += d));
  await new Promise((r) => slow.once('connect', r));
  slow.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); // and never the blank line
  const drip = setInterval(() => slow.write('X-Drip: 1\r\n'), 200); // a header now and then does not help
  await new Promise((r) => slow.once('close', r));
  clearInterval(drip);
  const held = Date.now() - started;
  assert.ok(held >= 900 && held < 4_000, `cut after ${held} ms`);
  assert.not.match(heard, /200 OK/);
  // A client that finishes its headers is answered.
  assert.is((await fetch(`${ns.url}/healthz`)).status, 200);
  await ns.stop(true);
});

test('the default headers timeout is 10 s', async () => {
  const { loadConfig } = await import('../../../src/config.ts');
  assert.is(loadConfig(new Map(), {}).limits.headersTimeout, 10_000);
});

test.run();
