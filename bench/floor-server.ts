/**
 * The floor server: the storm's login (PROTOCOL.md §3, §4.1–4.2, §5.1) with nothing but
 * node:http, `ws` and the protocol's own pieces (the codecs of src/wire, the handshake's
 * cryptography of src/core/login/handshake.ts and src/core/crypto, the very functions the NS
 * calls), and nothing of the NS around them: no store, no session machine, no limits, no log,
 * metrics, events or inspector. Sessions and accounts are Maps; a login is written nowhere.
 * What a login costs at the least on this machine, for the storm's figures to be read against
 * (DESIGN.md "Performance"); bench/run.ts runs the same storm on it, with the same generator.
 *
 * It serves what the storm uses and refuses the rest: `getSession` (GET
 * /servers/<serverid>/sessions/ with `x-apikey` and `x-nonce`), the text socket's `REGISTER`
 * (/ns/websocket: `LOGOUT`, then `LOGIN` once logged in) and the app channel's login handshake,
 * plain and then inside the sealed channel (/ns/sigmai). A session is forgotten once it is
 * logged in and its last browser is gone (what the storm does with every session).
 *
 *   node --import tsx bench/floor-server.ts '{"serverid":…,"key":{publicKey,secretKey},"apikey":…,"accounts":[{"acc":1,"pk":…}]}'
 *
 * prints `listening <port>`.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';
import { deriveHsid, isValidNonce } from '../src/core/crypto/hsid.ts';
import { ed25519PrivateKey, safeEqual, type SigningKey, verifyEd25519 } from '../src/core/crypto/keys.ts';
import { deriveKeys, type HandshakeKeys, makeChallenge, openProof } from '../src/core/login/handshake.ts';
import { fromB64url, toB64, toB64url } from '../src/wire/base64url.ts';
import { NsError } from '../src/wire/errors.ts';
import { check, decodeFrame, decodeMap, encodeFrame, type Frame, MAX_FRAME_BYTES } from '../src/wire/frames.ts';
import { LABELS } from '../src/wire/labels.ts';
import { counterNonce, FIRST_APP_COUNTER, FIRST_NS_COUNTER } from '../src/wire/nonces.ts';
import { loginQr } from '../src/wire/qr.ts';
import { open, seal } from '../src/wire/secretbox.ts';

export interface FloorConfig {
  /** 16 bytes, base64url */
  serverid: string;
  key: SigningKey;
  apikey: string;
  /** the accounts that may log in: id and Ed25519 public key (base64url) */
  accounts: Array<{ acc: number; pk: string }>;
}

interface Session {
  loggedIn: boolean;
  browsers: Set<WebSocket>;
}

const config = JSON.parse(process.argv[2] ?? '') as FloorConfig;
const srv = fromB64url(config.serverid);
const serverKey = ed25519PrivateKey(config.key);
const sessionSecret = randomBytes(32);
const accounts = new Map(config.accounts.map(({ acc, pk }) => [acc, fromB64url(pk)]));
const sessions = new Map<string, Session>();
const sessionsPath = `/servers/${config.serverid}/sessions/`;
let appUrl = '';

const forgetIfDone = (key: string, s: Session) => {
  if (s.loggedIn && s.browsers.size === 0) sessions.delete(key);
};

const reply = (res: http.ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

const server = http.createServer((req, res) => {
  req.resume();
  if (req.method !== 'GET' || req.url !== sessionsPath) return reply(res, 404, { code: 'NOT_FOUND' });
  const key = req.headers['x-apikey'];
  if (typeof key !== 'string' || !safeEqual(key, config.apikey)) return reply(res, 401, { code: 'UNKNOWN_API_KEY' });
  const nonce = req.headers['x-nonce'];
  if (!isValidNonce(nonce)) return reply(res, 400, { code: 'BAD_NONCE' });
  const hsid = deriveHsid(sessionSecret, nonce);
  const id = toB64url(hsid);
  let s = sessions.get(id);
  if (!s) sessions.set(id, (s = { loggedIn: false, browsers: new Set() }));
  reply(res, 200, { loggedin: s.loggedIn, hsid: id, loginqrdata: toB64(loginQr(srv, hsid, appUrl)), canprovoke: false, state: s.loggedIn ? 'authenticated' : 'waiting' });
});

// The text socket (§5.1): REGISTER HSID SERVERID.
const text = new WebSocketServer({ noServer: true, maxPayload: 1024, perMessageDeflate: false });
text.on('connection', (ws) => {
  const watched = new Map<string, Session>();
  ws.on('message', (data, isBinary) => {
    const [type, hsid, serverid, ...rest] = data.toString().split(' ');
    if (isBinary || type !== 'REGISTER' || serverid !== config.serverid || rest.length > 0 || hsid === undefined) return ws.send('ERROR BAD_FRAME');
    const s = sessions.get(hsid);
    if (!s) return ws.send(`ERROR UNKNOWN_SESSION ${hsid} ${serverid}`);
    s.browsers.add(ws);
    watched.set(hsid, s);
    ws.send(`${s.loggedIn ? 'LOGIN' : 'LOGOUT'} ${hsid} ${serverid}`);
  });
  ws.on('close', () => {
    for (const [key, s] of watched) {
      s.browsers.delete(ws);
      forgetIfDone(key, s);
    }
  });
  ws.on('error', () => ws.terminate());
});

// The app channel (§4): a login handshake, plain until the first one completes, then sealed.
const app = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
app.on('connection', (ws) => {
  /** the keys and counters of the sealed channel, once the first handshake completed */
  let sealed: { kS: Buffer; kC: Buffer; out: number; in: number } | undefined;
  let pending: { keys: HandshakeKeys; h2: Buffer; key: string; session: Session } | undefined;
  const sendBytes = (bytes: Uint8Array) => ws.send(sealed ? encodeFrame({ t: 'sealed', box: seal(bytes, counterNonce(sealed.out++), sealed.kS) }) : bytes);

  const handle = (bytes: Uint8Array, frame: Frame) => {
    if (frame.t === 'hello') {
      const hello = check('hello', frame);
      if (hello.op !== 'login' || hello.hsid === undefined) throw new NsError('BAD_MESSAGE', 'the floor server only logs in');
      if (!Buffer.from(hello.srv).equals(srv)) throw new NsError('UNKNOWN_SERVER');
      const key = toB64url(hello.hsid);
      const session = sessions.get(key);
      if (!session) throw new NsError('UNKNOWN_SESSION');
      if (session.loggedIn) throw new NsError('SESSION_BUSY');
      const keys = deriveKeys(bytes, hello.ea);
      if (!keys) throw new NsError('BAD_MESSAGE');
      const { m2, h2 } = makeChallenge(keys, srv, serverKey, { name: 'floor', pinTimeout: -1, session: {} });
      pending = { keys, h2, key, session };
      sendBytes(m2);
      return;
    }
    if (frame.t !== 'proof' || !pending) throw new NsError('BAD_MESSAGE');
    const { keys, h2, key, session } = pending;
    pending = undefined;
    const inner = openProof(keys, check('proof', frame).box);
    if (!inner) throw new NsError('BAD_BOX');
    const proof = check('loginProof', decodeMap(inner));
    const pk = accounts.get(proof.acc);
    if (!pk) throw new NsError('UNKNOWN_ACCOUNT');
    if (!verifyEd25519(pk, Buffer.concat([LABELS.login, h2]), proof.sig)) throw new NsError('BAD_SIGNATURE');
    if (session.loggedIn) throw new NsError('SESSION_BUSY');
    session.loggedIn = true;
    const line = `LOGIN ${key} ${config.serverid}`;
    for (const browser of session.browsers) browser.send(line);
    forgetIfDone(key, session);
    sendBytes(encodeFrame({ t: 'result', ok: true, acc: proof.acc }));
    sealed ??= { kS: keys.kS, kC: keys.kC, out: FIRST_NS_COUNTER, in: FIRST_APP_COUNTER };
  };

  ws.on('message', (data: Buffer, isBinary) => {
    let bytes: Uint8Array = data;
    if (sealed) {
      // Once sealed, anything but the next sealed frame closes the connection (§4.2).
      const inner = isBinary ? openSealed(bytes, sealed) : undefined;
      if (!inner) return ws.close(1008);
      bytes = inner;
    }
    try {
      if (!isBinary) throw new NsError('BAD_FRAME');
      handle(bytes, decodeFrame(bytes));
    } catch (e) {
      const code = e instanceof NsError ? e.code : 'INTERNAL';
      sendBytes(encodeFrame({ t: 'error', code, message: code }));
    }
  });
  ws.on('error', () => ws.terminate());
});

function openSealed(bytes: Uint8Array, channel: { kC: Buffer; in: number }): Uint8Array | undefined {
  try {
    const frame = check('sealed', decodeFrame(bytes));
    return open(frame.box, counterNonce(channel.in++), channel.kC);
  } catch {
    return undefined;
  }
}

server.on('upgrade', (req, socket, head) => {
  const wss = req.url === '/ns/websocket' ? text : req.url === '/ns/sigmai' ? app : undefined;
  if (!wss) return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'string' ? address : address?.port;
  appUrl = `ws://127.0.0.1:${port}/ns/sigmai`;
  process.stdout.write(`listening ${port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
