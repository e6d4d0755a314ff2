/**
 * The live inspector over real socket.io on a real NS: the `/inspect` namespace needs a key with
 * root or 'servers'; a login's events and transitions arrive in order; nothing secret is sent;
 * the page and Mermaid are served without a key; /metrics counts transitions.
 */
import type { LogEntry, ServerRow } from '../../src/web/inspect-wire.ts';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { io, type Socket } from 'socket.io-client';
import { sessionMachine } from '../../machines/session.ts';
import { toMermaid } from '../../src/inspect/diagram.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { getSession, newNonce, newPhone, qr, until } from '../helpers/peers.ts';

let ns: TestServer;
let srvA: string;
let srvB: string;

/** What the socket sends: the wire types the page reads (src/web/inspect-wire.ts). */
type Entry = LogEntry;

/** A client of /inspect that records every payload it receives (events and acks). */
class Inspect {
  readonly heard: Array<{ event: string; data: any }> = [];
  private constructor(readonly socket: Socket) {
    socket.onAny((event, data) => this.heard.push({ event, data }));
  }
  static async open(auth: Record<string, unknown> | undefined): Promise<Inspect> {
    const socket = io(`${ns.url}/inspect`, { transports: ['websocket'], reconnection: false, ...(auth ? { auth } : {}) });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (err) => {
        socket.close();
        reject(err);
      });
    });
    return new Inspect(socket);
  }
  async ask<T = any>(event: string, ...args: unknown[]): Promise<T> {
    const answer = await this.socket.timeout(3000).emitWithAck(event, ...args);
    this.heard.push({ event: `ack:${event}`, data: answer });
    return answer as T;
  }
  servers(): Promise<ServerRow[]> {
    return this.ask('servers');
  }
  entries(id: string): Entry[] {
    return this.heard.filter((h) => h.event === 'entry' && h.data.id === id).map((h) => h.data.entry);
  }
  close(): void {
    this.socket.close();
  }
}

/** The connect_error message (the error code) of a refused handshake. */
async function refused(auth: Record<string, unknown> | undefined): Promise<string> {
  try {
    const c = await Inspect.open(auth);
    c.close();
    return 'connected';
  } catch (e) {
    return (e as Error).message;
  }
}

/** A new api key with these permissions on these scopes ('*' global). */
async function keyWith(grants: Record<string, string[]>): Promise<string> {
  const made = await ns.api('POST', '/apikeys/?description=inspector-test');
  assert.is(made.status, 200);
  for (const [scope, acl] of Object.entries(grants)) await ns.registry.access.grant(scope, made.body.role, acl);
  return made.body.apikey;
}

const rowsOf = (list: ServerRow[], serverid: string) => list.find((s) => s.serverid === serverid)?.sessions ?? [];

test.before(async () => {
  ns = await startTestServer();
  srvA = (await ns.api('POST', '/servers/', { body: { serverName: 'Inspect A' } })).body.serverid;
  srvB = (await ns.api('POST', '/servers/', { body: { serverName: 'Inspect B' } })).body.serverid;
});
test.after(() => ns.stop(true));

test('the namespace needs a key with root or servers', async () => {
  assert.is(await refused(undefined), 'MISSING_API_KEY');
  assert.is(await refused({ key: '' }), 'MISSING_API_KEY');
  assert.is(await refused({ key: 42 }), 'MISSING_API_KEY');
  assert.is(await refused({ key: 'not-a-key-0123456789' }), 'UNKNOWN_API_KEY');
  assert.is(await refused({ key: await keyWith({}) }), 'FORBIDDEN');
  // 'sessions' or 'users' do not open the inspector, globally or on a server.
  assert.is(await refused({ key: await keyWith({ '*': ['sessions', 'users', 'accounts'] }) }), 'FORBIDDEN');
  assert.is(await refused({ key: await keyWith({ [srvA]: ['sessions'] }) }), 'FORBIDDEN');
  // The refusal carries the code in its data too.
  const socket = io(`${ns.url}/inspect`, { transports: ['websocket'], reconnection: false, auth: { key: 'nope-nope-nope' } });
  const err = await new Promise<Error & { data?: unknown }>((resolve) => socket.once('connect_error', resolve));
  socket.close();
  assert.equal(err.data, { code: 'UNKNOWN_API_KEY' });
  // Root and global 'servers' do.
  assert.is(await refused({ key: ns.rootKey }), 'connected');
  assert.is(await refused({ key: await keyWith({ '*': ['servers'] }) }), 'connected');
  assert.is(await refused({ key: await keyWith({ [srvA]: ['servers'] }) }), 'connected');
});

test("a login's events and transitions arrive in order, with the machine's diagram", async () => {
  const phone = newPhone();
  await phone.enrol(await qr(ns, srvA, newNonce(), 'enrol', '&userid=ivy'));
  const c = await Inspect.open({ key: ns.rootKey });
  const nonce = newNonce();
  const code = await qr(ns, srvA, nonce);
  const before = await c.servers();
  assert.equal(
    before.map((s) => s.serverName),
    ['Inspect A', 'Inspect B'],
  );
  const rows = rowsOf(before, srvA).filter((r) => r.value === 'waiting');
  assert.ok(rows.length >= 1);
  const row = rows[0]!; // newest first
  assert.is(row.state, 'waiting');
  assert.is(row.account, null);
  assert.ok(row.age >= 0 && row.age < 5000);
  assert.ok(row.inState >= 0 && row.inState <= row.age + 5);
  assert.match(row.id, /^a[0-9a-z]+$/);

  const selected = await c.ask('select', { id: row.id });
  assert.is(selected.id, row.id);
  assert.is(selected.serverid, srvA);
  assert.is(selected.serverName, 'Inspect A');
  assert.is(selected.machine, 'session');
  assert.is(selected.mermaid, toMermaid(sessionMachine), 'the same generator as machines/session.md');
  assert.is(selected.state, 'waiting');
  assert.is(selected.names.waiting, 'waiting');
  assert.is(selected.names['authenticated.oneShot'], 'oneShot');
  assert.is(selected.names[''], 'session');
  assert.equal(selected.invokes, {}, 'proofs are checked by an action (several at once), not an invoked actor');
  for (const name of Object.values(selected.names) as string[]) assert.ok(selected.mermaid.includes(` as ${name}`), name);
  assert.equal(
    selected.log.map((e: Entry) => [e.kind, e.type, e.from, e.to]),
    [
      ['event', 'xstate.init', undefined, undefined],
      ['transition', 'xstate.init', undefined, 'waiting'],
      // getQrLogin shows the code: the session re-enters waiting, restarting its idle limit.
      ['event', 'setContext', undefined, undefined],
      ['transition', 'setContext', 'waiting', 'waiting'],
    ],
  );

  const { acc, connection } = await phone.login(code);
  await until(() => c.entries(row.id).some((e) => e.to === 'authenticated.oneShot'), 'the login on /inspect');
  const live = c.entries(row.id);
  assert.equal(
    live.map((e) => (e.kind === 'event' ? e.type : `${e.from} -> ${e.to}`)),
    ['hello', 'waiting -> challenged', 'proof', 'challenged -> verifying', 'verified', 'verifying -> authenticated.oneShot'],
  );
  for (let i = 1; i < live.length; i++) assert.ok(live[i]!.at >= live[i - 1]!.at, 'timestamps in order');
  const last = c.heard.filter((h) => h.event === 'entry').at(-1)!.data;
  assert.is(last.state, 'authenticated.oneShot');

  // The list follows: pushed (`sessions`) and asked.
  await until(() => c.heard.some((h) => h.event === 'sessions' && rowsOf(h.data, srvA).some((r) => r.id === row.id && r.state === 'authenticated')), 'a sessions push');
  const after = rowsOf(await c.servers(), srvA).find((r) => r.id === row.id)!;
  assert.is(after.state, 'authenticated');
  assert.is(after.value, 'authenticated.oneShot');
  assert.is(after.account, acc);

  // Selecting again gives the whole log so far.
  const again = await c.ask('select', { id: row.id });
  assert.is(again.log.length, 10); // start (2), the shown QR's setContext (2), the login (6)
  assert.is(again.state, 'authenticated.oneShot');

  // A logout by REST is heard too.
  assert.is((await ns.api('POST', `/servers/${srvA}/sessions/logout`, { headers: { 'x-nonce': nonce } })).status, 200);
  await until(() => c.entries(row.id).some((e) => e.to === 'loggedOut'), 'the logout on /inspect');
  assert.equal(
    c
      .entries(row.id)
      .slice(-2)
      .map((e) => e.type),
    ['logout', 'logout'],
  );
  connection.close();
  c.close();
});

test('nothing secret is sent: no nonce, hsid, key, signature, peer id or user context', async () => {
  const phone = newPhone();
  await phone.enrol(await qr(ns, srvA, newNonce(), 'enrol', '&userid=jay'));
  const c = await Inspect.open({ key: ns.rootKey });
  const nonce = newNonce();
  // The relying party's user context (setContext) must not show either.
  const r = await ns.api('POST', `/servers/${srvA}/sessions/qr/login`, {
    headers: { 'x-nonce': nonce },
    body: { sessioninfo: { ip: '203.0.113.77', useragent: 'SecretAgent/1.0' }, announceinfo: { info: 'context-marker-xyz' } },
  });
  assert.is(r.status, 200);
  const status = await getSession(ns, srvA, nonce);
  const hsid = status.hsid as string;
  const row = rowsOf(await c.servers(), srvA).find((x) => x.value === 'waiting')!;
  await c.ask('select', { id: row.id });
  const { connection } = await phone.login(Buffer.from(r.raw).toString('base64'));
  await until(() => c.entries(row.id).some((e) => e.to === 'authenticated.oneShot'), 'the login');
  const logged = await getSession(ns, srvA, nonce);
  await c.servers();
  await c.ask('select', { id: row.id });
  // Every entry carries only these fields.
  for (const h of c.heard.filter((x) => x.event === 'entry')) {
    assert.equal(Object.keys(h.data).sort(), ['entry', 'id', 'state']);
    for (const k of Object.keys(h.data.entry)) assert.ok(['at', 'kind', 'type', 'from', 'to'].includes(k), k);
  }
  const all = JSON.stringify(c.heard);
  // The app connection's id (in hello, proof and pong events) is a UUID: none is sent.
  const peer = (await ns.hub.snapshot(srvA, hsid))?.context.pinger;
  assert.match(peer ?? '', /^[0-9a-f-]{36}$/);
  assert.not.match(all, /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/);
  for (const secret of [nonce, hsid, ns.rootKey, logged.pk, peer, '203.0.113.77', 'SecretAgent', 'context-marker-xyz']) {
    assert.ok(typeof secret === 'string' && secret.length > 0);
    assert.not.ok(all.includes(secret), `sent ${secret}`);
  }
  for (const word of ['"sig"', 'signature', '"proof":', '"peer"', 'userContext', 'sessioninfo', '"hsid"', '"nonce"', 'limits']) {
    assert.not.ok(all.includes(word), `sent ${word}`);
  }
  connection.close();
  c.close();
});

test("a key with 'servers' on one server sees only that server's sessions", async () => {
  const key = await keyWith({ [srvA]: ['servers'] });
  await qr(ns, srvA, newNonce());
  await qr(ns, srvB, newNonce());
  const root = await Inspect.open({ key: ns.rootKey });
  const all = await root.servers();
  const bRow = rowsOf(all, srvB)[0]!;
  assert.ok(bRow);
  const c = await Inspect.open({ key });
  const list = await c.servers();
  assert.equal(
    list.map((s) => s.serverid),
    [srvA],
  );
  assert.ok(list[0]!.sessions.length >= 1);
  // Another server's actor is as unknown as one that never was.
  assert.equal(await c.ask('select', { id: bRow.id }), { error: 'UNKNOWN_SESSION' });
  assert.equal(await c.ask('select', { id: 'a-never' }), { error: 'UNKNOWN_SESSION' });
  assert.equal(await c.ask('select', { id: 7 }), { error: 'UNKNOWN_SESSION' });
  assert.equal(await c.ask('select', null), { error: 'UNKNOWN_SESSION' });
  assert.ok((await c.ask('select', { id: list[0]!.sessions[0]!.id })).mermaid);
  assert.equal(await c.ask('unselect'), { ok: true });
  // Its pushes name only its server.
  await qr(ns, srvB, newNonce());
  await qr(ns, srvA, newNonce());
  await until(() => c.heard.some((h) => h.event === 'sessions'), 'a sessions push');
  for (const h of c.heard.filter((x) => x.event === 'sessions'))
    assert.equal(
      h.data.map((s: ServerRow) => s.serverid),
      [srvA],
    );
  root.close();
  c.close();
});

test('a key whose permission is revoked is dropped on its next request', async () => {
  const made = await ns.api('POST', '/apikeys/?description=revoked');
  await ns.registry.access.grant('*', made.body.role, ['servers']);
  const c = await Inspect.open({ key: made.body.apikey });
  assert.ok(Array.isArray(await c.servers()));
  await ns.registry.access.revoke('*', made.body.role);
  const gone = new Promise<string>((resolve) => c.socket.once('disconnect', (reason) => resolve(reason)));
  c.socket.emit('servers', () => {});
  assert.is(await gone, 'io server disconnect');
  c.close();
});

test('the page, its script and Mermaid are served without a key; /metrics counts transitions', async () => {
  const page = await ns.api('GET', '/inspect', { key: null });
  assert.is(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  const html = page.body as string;
  assert.match(html, /<script src="\/inspect\/mermaid\.min\.js\?v=[0-9a-f]{12}"><\/script>/);
  assert.match(html, /<script src="\/ns\/socket\.io\.min\.js\?v=[0-9a-f]{12}"><\/script>/);
  assert.not.match(html, /https?:\/\//, 'no CDN');
  assert.is((await ns.api('GET', '/inspect/', { key: null })).status, 200);
  const mermaid = await ns.api('GET', '/inspect/mermaid.min.js', { key: null });
  assert.is(mermaid.status, 200);
  assert.match(mermaid.headers.get('content-type') ?? '', /javascript/);
  assert.ok(mermaid.raw.length > 1_000_000);
  assert.ok(Buffer.from(mermaid.raw.subarray(-200)).toString().includes('mermaid'));
  const script = await ns.api('GET', '/inspect/inspect.js', { key: null });
  assert.is(script.status, 200);
  assert.match(script.body as string, /io\(["']\/inspect["']/);
  // Not part of the REST API document.
  const doc = (await ns.api('GET', '/openapi.json', { key: null })).body;
  assert.not.ok(Object.keys(doc.paths).some((p: string) => p.startsWith('/inspect')));

  const metrics = (await ns.api('GET', '/metrics', { key: null })).body as string;
  const count = (state: string) => Number(new RegExp(`^nextauth_session_transitions_total\\{state="${state}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
  assert.ok(
    count('waiting') >= 4,
    metrics
      .split('\n')
      .filter((l) => l.includes('transitions'))
      .join('\n'),
  );
  assert.ok(count('authenticated') >= 2);
  assert.ok(count('challenged') >= 2);
  assert.match(metrics, /^nextauth_sessions_live\{state="waiting"\} \d+/m);
  assert.match(metrics, /# TYPE nextauth_session_transitions_total counter/);
});

test.run();
