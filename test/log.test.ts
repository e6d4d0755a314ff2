/**
 * The log an operator reads: one line per session transition, per refusal (with the server, the
 * source and the code, at the error table's level) and per admin write; transaction outcomes;
 * no secret in any line; and the pretty form for people (NEXTAUTH_LOG_FORMAT=pretty).
 */
import { PassThrough } from 'node:stream';
import nacl from 'tweetnacl';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { prettyLine } from '../src/log.ts';
import { naclSigner } from '../src/sdk/app.ts';
import { errors } from '../src/wire/errors.ts';
import { startTestServer } from './helpers/ns.ts';
import { codeOf, getSession, newNonce, newPhone, qr, socketFrom } from './helpers/peers.ts';

const LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

test('transitions, refusals, admin writes: a line each with what an operator needs; no secret anywhere', async () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  const ns = await startTestServer({ NEXTAUTH_LOG_LEVEL: 'info' }, undefined, { logTo: out });
  try {
    const made = await ns.api('POST', '/servers/', { body: { serverName: 'Logged' } });
    const srv: string = made.body.serverid;
    const phone = newPhone();
    const { account } = await phone.enrol(await qr(ns, srv, newNonce(), 'enrol'));
    const nonce = newNonce();
    const { hsid } = await getSession(ns, srv, nonce);
    (await phone.login(await qr(ns, srv, nonce))).connection.close();
    assert.is((await ns.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonce } })).status, 200);
    const stranger = newPhone({ WebSocket: socketFrom('127.0.0.3'), signer: () => naclSigner(nacl.sign.keyPair().secretKey) });
    await stranger.keystore.put(account);
    assert.is(await codeOf(stranger.login(await qr(ns, srv, newNonce()))), 'BAD_SIGNATURE');
    await ns.stop(true);

    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const transitions = lines.filter((l) => l.hsid === hsid && typeof l.to === 'string').map((l) => `${l.from}→${l.to}`);
    assert.equal(transitions, ['null→waiting', 'waiting→challenged', 'challenged→verifying', 'verifying→authenticated', 'authenticated→loggedOut'], JSON.stringify(transitions));
    const login = lines.find((l) => l.hsid === hsid && l.to === 'authenticated')!;
    assert.is(login.serverid, srv);
    assert.is(login.acc, 1);

    const refusal = lines.find((l) => l.code === 'BAD_SIGNATURE' && typeof l.msg === 'string' && l.msg.startsWith('app refused'));
    assert.ok(refusal, 'the refused proof is logged');
    assert.is(refusal!.serverid, srv);
    assert.is(refusal!.source, '127.0.0.3');
    assert.is(refusal!.level, LEVEL[errors.BAD_SIGNATURE.level]);

    const writes = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('admin write'));
    assert.ok(
      writes.some((l) => l.op === 'createServer' && l.status === 200),
      JSON.stringify(writes),
    );
    assert.ok(writes.some((l) => l.op === 'logout' && l.serverid === srv));
    assert.not.ok(
      writes.some((l) => l.op === 'getSession' || l.op === 'getQrLogin'),
      'reads are not writes (nor their POST aliases)',
    );

    for (const secret of [nonce, ns.rootKey, account.secretKey, account.boxSecretKey]) assert.not.ok(text.includes(secret), 'no secret in the log');
  } finally {
    await ns.stop(true).catch(() => undefined);
  }
});

test('the pretty form: time, level, message, then the fields', () => {
  const line = prettyLine(
    JSON.stringify({ level: 40, time: Date.UTC(2026, 10, 30, 12, 4, 5, 123), pid: 1, hostname: 'h', msg: 'app refused: bad', code: 'BAD_SIGNATURE', source: '127.0.0.3', n: 2 }),
  );
  assert.is(line, '12:04:05.123 WARN  app refused: bad  code=BAD_SIGNATURE source=127.0.0.3 n=2\n');
  assert.is(prettyLine('not json'), 'not json', 'anything else as it is');
});

test.run();
