/** Browser sockets and an origin allow-list (PROTOCOL.md §5.1): others are refused with 403. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { io } from 'socket.io-client';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { TextBrowser } from '../helpers/peers.ts';

let ns: TestServer;
test.before(async () => {
  ns = await startTestServer({ NEXTAUTH_ALLOWED_ORIGINS: 'https://site.example' });
});
test.after(() => ns.stop(true));

const opens = (origin: string) =>
  TextBrowser.open(ns, { origin }).then(
    (b) => (b.close(), 'open'),
    (e: Error) => e.message,
  );

const ioConnects = (origin: string) =>
  new Promise<string>((resolve) => {
    const socket = io(`${ns.url}/sessions`, { transports: ['websocket'], reconnection: false, extraHeaders: { origin } });
    socket.once('connect', () => (socket.close(), resolve('open')));
    socket.once('connect_error', () => (socket.close(), resolve('refused')));
  });

test('the text socket: an origin on the list or the NS itself opens; another is refused with 403', async () => {
  assert.is(await opens('https://site.example'), 'open');
  assert.is(await opens(new URL(ns.config.publicUrl).origin), 'open');
  assert.is(await opens('https://evil.example'), 'HTTP 403');
});

test('socket.io: the same rule', async () => {
  assert.is(await ioConnects('https://site.example'), 'open');
  assert.is(await ioConnects('https://evil.example'), 'refused');
});

test.run();
