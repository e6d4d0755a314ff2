/**
 * `nextauth webhook create|list|show|update|rotate|delete|attempts` and `nextauth events`, run as
 * a child process like the other admin commands (test/cli/cli.test.ts): on the data folder of a
 * stopped server, and over REST on a running one. The secret is printed by create and rotate
 * only; bad usage exits 2 naming the argument, a refused operation 1 with its code.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureServerBuild } from '../../scripts/build.ts';
import { LowdbStore } from '../../src/adapters/lowdb/lowdb-store.ts';
import type { EventType } from '../../src/core/events/event-types.ts';
import { newEvent, type EventFields } from '../../src/core/events/new-event.ts';
import type { Store } from '../../src/ports.ts';
import { cli, fails, ok, okJson } from '../helpers/cli-run.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';

ensureServerBuild(); // the CLI runs compiled, as users run it

const tmp = mkdtempSync(path.join(os.tmpdir(), 'nextauth-cli-events-'));
let ns: TestServer | undefined;
test.after(async () => {
  await ns?.stop(true);
  rmSync(tmp, { recursive: true, force: true });
});

const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;

/** Events written as the core writes them, times in the order given; their ids. */
async function emit(store: Store, serverid: string, list: Array<[EventType, EventFields & { time: number }]>): Promise<string[]> {
  const made = list.map(([type, { time, ...fields }]) => newEvent(type, serverid, fields, time));
  await store.transact((tx) => {
    for (const e of made) tx.emit(e);
  });
  return made.map((e) => e.id);
}

const dataOf = (dir: string) => readFileSync(path.join(dir, 'nextauth.json'), 'utf8');

test('local mode: a webhook made, listed, shown, changed, rotated and deleted in the data folder; its secret printed twice only', async () => {
  const data = path.join(tmp, 'hooks');
  const d = ['--data', data];
  const sid: string = okJson(await cli(['server', 'create', '--name', 'Hooked', '--json', ...d]), 'server create').serverid;

  const created = ok(
    await cli(['webhook', 'create', sid, '--endpoint', 'https://hooks.example/in', '--types', 'session.login,com.nextauth.refusal', '--description', 'shop', ...d]),
    'create',
  );
  const id = /^Webhook created: (wh_\S+)$/m.exec(created.stdout)?.[1];
  const secret = /^Signing secret \(shown once, keep it safe\): (whsec_\S+)$/m.exec(created.stdout)?.[1];
  assert.ok(id && secret, created.stdout);
  assert.match(created.stdout, /^types:\s+refusal,session\.login$/m);
  assert.ok(dataOf(data).includes(secret!), 'the secret is kept (it signs)');

  const [list, listJson, show] = await Promise.all([
    cli(['webhook', 'list', sid, ...d]),
    cli(['webhook', 'list', sid, '--json', ...d]),
    cli(['webhook', 'show', sid, id!, '--json', ...d]),
  ]);
  assert.match(ok(list, 'list').stdout, /^ID\s+URL\s+TYPES\s+DELIVERED\s+FAILED\s+DESCRIPTION\n/);
  assert.match(list.stdout, new RegExp(`${id}\\s+https://hooks\\.example/in\\s+refusal,session\\.login\\s+0\\s+0\\s+shop`));
  const [listed] = okJson(listJson, 'list --json');
  assert.equal([listed.id, listed.url, listed.types, listed.description], [id, 'https://hooks.example/in', ['com.nextauth.refusal', 'com.nextauth.session.login'], 'shop']);
  assert.equal(okJson(show, 'show'), listed);
  for (const r of [list, listJson, show]) assert.not.ok(r.stdout.includes('whsec_') || r.stdout.includes('"secret"'), 'never listed');

  const updated = okJson(await cli(['webhook', 'update', sid, id!, '--types', 'all', '--endpoint', 'http://hooks.example:8080/new', '--json', ...d]), 'update');
  assert.equal([updated.types, updated.url, updated.description], [[], 'http://hooks.example:8080/new', 'shop']);

  const rotated = okJson(await cli(['webhook', 'rotate', sid, id!, '--json', ...d]), 'rotate');
  assert.match(rotated.secret, /^whsec_/);
  assert.is.not(rotated.secret, secret);
  assert.ok(rotated.previousSecretUntil > Date.now() + 23 * 3600_000);
  assert.match(ok(await cli(['webhook', 'show', sid, id!, ...d]), 'show').stdout, /^previous secret: signs beside the new one until \d{4}-/m);

  assert.match(ok(await cli(['webhook', 'attempts', sid, id!, ...d]), 'attempts').stdout, /^\(none\)$/m);
  assert.match(ok(await cli(['webhook', 'delete', sid, id!, ...d]), 'delete').stdout, `Webhook ${id} deleted.`);
  assert.equal(okJson(await cli(['webhook', 'list', sid, '--json', ...d]), 'list after'), []);
});

test('local mode: failures exit 1 with the code, bad usage 2 naming the argument; nothing changed', async () => {
  const data = path.join(tmp, 'hook-errors');
  const d = ['--data', data];
  const sid: string = okJson(await cli(['server', 'create', '--name', 'E', '--json', ...d]), 'server create').serverid;
  const before = dataOf(data);
  const runs = await Promise.all([
    cli(['webhook', 'show', sid, 'wh_AAAAAAAAAAAAAAAA', ...d]),
    cli(['webhook', 'create', sid, '--endpoint', 'ftp://files.example/', ...d]),
    cli(['webhook', 'create', 'AAAAAAAAAAAAAAAAAAAAAA', '--endpoint', 'https://hooks.example/', ...d]),
    cli(['webhook', 'create', sid, '--endpoint', 'https://hooks.example/', '--types', 'session.nothing', ...d]),
    cli(['webhook', 'create', sid, ...d]),
    cli(['webhook', 'update', sid, 'wh_AAAAAAAAAAAAAAAA', ...d]),
    cli(['webhook', 'fly', sid, ...d]),
    cli(['events', sid, '--from', 'yesterday', ...d]),
    cli(['events', sid, '--limit', '0', ...d]),
    cli(['events', sid, '--type', 'bogus', ...d]),
    cli(['events', ...d]),
    cli(['events', sid, '--before', 'x', ...d]),
  ]);
  fails(runs[0]!, 1, 'UNKNOWN_WEBHOOK', 'unknown webhook');
  fails(runs[1]!, 1, /BAD_REQUEST: url must be an http/, 'ftp');
  fails(runs[2]!, 1, 'UNKNOWN_SERVER', 'unknown server');
  fails(runs[3]!, 2, '--types: "session.nothing" is not an event type', 'bad type');
  fails(runs[4]!, 2, '--endpoint is required', 'no endpoint');
  fails(runs[5]!, 2, 'give --endpoint, --types or --description', 'nothing to change');
  fails(runs[6]!, 2, /unknown subcommand "webhook fly" \(known: create, list, show, update, rotate, delete, attempts\)/, 'unknown subcommand');
  fails(runs[7]!, 1, /BAD_REQUEST: from must be an ISO 8601 time/, 'bad --from');
  fails(runs[8]!, 2, '--limit: "0" is not 1 to 500', 'bad --limit');
  fails(runs[9]!, 2, '--type: "bogus" is not an event type', 'bad --type');
  fails(runs[10]!, 2, 'missing <serverid>', 'no server');
  fails(runs[11]!, 1, 'BAD_REQUEST: before must be the next of a page', 'bad --before');
  assert.is(dataOf(data), before, 'no failed command changed the data');
});

test('local mode: events, newest first, filtered, a page at a time; source is the public URL', async () => {
  const data = path.join(tmp, 'audit');
  const d = ['--data', data];
  const sid: string = okJson(await cli(['server', 'create', '--name', 'Audited', '--json', ...d]), 'server create').serverid;
  // Its one event so far: the server was made.
  assert.match(ok(await cli(['events', sid, ...d]), 'made').stdout, /server\.created/);
  const store = await LowdbStore.open(data);
  const [enrolled, login, refusal] = await emit(store, sid, [
    ['com.nextauth.account.enrolled', { time: T0, userid: 'alice', account: 1, source: '203.0.113.9' }],
    ['com.nextauth.session.login', { time: T0 + MIN, userid: 'alice', account: 1, source: '203.0.113.9', subject: 'session/x' }],
    ['com.nextauth.refusal', { time: T0 + 2 * MIN, data: { code: 'BAD_SIGNATURE' } }],
  ]);
  await store.close();

  const env = { NEXTAUTH_PUBLIC_URL: 'https://ns.example' };
  const all = okJson(await cli(['events', sid, '--json', ...d], { env }), 'events --json');
  assert.equal(
    all.items.slice(0, 3).map((e: any) => e.id),
    [refusal, login, enrolled],
  );
  assert.is(all.items[3].type, 'com.nextauth.server.created', 'the oldest: the server was made');
  assert.is(all.items[1].source, `https://ns.example/servers/${sid}`);
  assert.equal(all.items[1].data, { serverid: sid, userid: 'alice', account: 1, address: '203.0.113.9' });

  const text = ok(await cli(['events', sid, ...d]), 'events').stdout;
  assert.match(text, /^TIME\s+TYPE\s+USERID\s+ACCOUNT\s+ADDRESS\s+SUBJECT\n/);
  assert.match(text, /2026-01-01T00:01:00\.000Z\s+session\.login\s+alice\s+1\s+203\.0\.113\.9\s+session\/x/);

  const filtered = okJson(
    await cli([
      'events',
      sid,
      '--type',
      'session.login,account.enrolled',
      '--userid',
      'alice',
      '--account',
      '1',
      '--from',
      '2026-01-01T00:00:00Z',
      '--to',
      String(T0 + MIN),
      '--json',
      ...d,
    ]),
    'filtered',
  );
  assert.equal(
    filtered.items.map((e: any) => e.id),
    [enrolled],
  );

  const first = ok(await cli(['events', sid, '--limit', '2', ...d]), 'page 1').stdout;
  const next = /^More: add --before (\d+)$/m.exec(first)?.[1];
  assert.ok(next, first);
  const second = okJson(await cli(['events', sid, '--limit', '2', '--before', next!, '--json', ...d]), 'page 2');
  assert.equal(
    second.items.map((e: any) => e.id),
    [enrolled, all.items[3].id],
  );
  // A full page names a next one (which is empty here).
  assert.equal(okJson(await cli(['events', sid, '--limit', '2', '--before', second.next, '--json', ...d]), 'page 3').items, []);
});

test('REST mode: the same commands on a running server with --url and --key', async () => {
  ns = await startTestServer({ NEXTAUTH_PUBLIC_URL: 'https://ns.example/' });
  const server = ns;
  const r = ['--url', server.url, '--key', server.rootKey];
  const sid: string = (await server.api('POST', '/servers/', { body: { serverName: 'Remote' } })).body.serverid;

  const made = okJson(await cli(['webhook', 'create', sid, '--endpoint', 'https://hooks.example/remote', '--types', 'refusal', '--json', ...r]), 'create');
  assert.match(made.secret, /^whsec_/);
  assert.is((await server.registry.store.get('webhook', sid, made.id))?.secret, made.secret);
  const listed = okJson(await cli(['webhook', 'list', sid, '--json', ...r]), 'list');
  assert.equal(
    listed.map((w: any) => [w.id, w.types, 'secret' in w]),
    [[made.id, ['com.nextauth.refusal'], false]],
  );
  const changed = okJson(await cli(['webhook', 'update', sid, made.id, '--description', 'remote', '--json', ...r]), 'update');
  assert.is(changed.description, 'remote');
  const rotated = okJson(await cli(['webhook', 'rotate', sid, made.id, '--json', ...r]), 'rotate');
  assert.is((await server.registry.store.get('webhook', sid, made.id))?.secret, rotated.secret);
  assert.equal(okJson(await cli(['webhook', 'attempts', sid, made.id, '--json', ...r]), 'attempts'), []);
  fails(await cli(['webhook', 'create', sid, '--endpoint', 'https://u:p@hooks.example/', ...r]), 1, 'BAD_REQUEST: url must not carry credentials', 'credentials');
  ok(await cli(['webhook', 'delete', sid, made.id, ...r]), 'delete');
  fails(await cli(['webhook', 'show', sid, made.id, ...r]), 1, 'UNKNOWN_WEBHOOK', 'deleted');

  // The audit trail over REST: the query goes as getEvents takes it (types comma-separated).
  const [login, refusal] = await emit(server.registry.store, sid, [
    ['com.nextauth.session.login', { time: T0, userid: 'bob', account: 2 }],
    ['com.nextauth.refusal', { time: T0 + MIN }],
    ['com.nextauth.push.sent', { time: T0 + 2 * MIN, account: 2 }],
  ]);
  // (the refusals of the failed commands above are events too, made now: --to leaves them out)
  const page = okJson(await cli(['events', sid, '--type', 'session.login,refusal', '--from', '2026-01-01', '--to', String(T0 + 2 * MIN), '--json', ...r]), 'events');
  assert.equal(
    page.items.map((e: any) => e.id),
    [refusal, login],
  );
  assert.is(page.items[0].source, `https://ns.example/servers/${sid}`);
  const bob = okJson(await cli(['events', sid, '--userid', 'bob', '--account', '2', '--limit', '1', '--json', ...r]), 'bob');
  assert.equal(
    bob.items.map((e: any) => e.id),
    [login],
  );
  assert.ok(bob.next, 'a full page has a next');
  fails(await cli(['events', sid, '--to', 'later', ...r]), 1, /BAD_REQUEST: to must be an ISO 8601 time/, 'bad --to');

  // A key without root on the server is refused.
  const key = (await server.api('POST', '/apikeys/?description=narrow')).body;
  assert.is((await server.api('POST', `/servers/${sid}/permissions/${key.role}`, { body: ['servers', 'users'] })).status, 200);
  fails(await cli(['events', sid, '--url', server.url, '--key', key.apikey]), 1, /FORBIDDEN: .*'root'/, 'no root');
  fails(await cli(['webhook', 'list', sid, '--url', server.url, '--key', key.apikey]), 1, /FORBIDDEN/, 'no root');
});

test('help: nextauth help webhook and nextauth events --help name every command and the event types', async () => {
  const help = ok(await cli(['help', 'webhook']), 'help webhook').stdout;
  for (const word of [
    'webhook create',
    'webhook list',
    'webhook show',
    'webhook update',
    'webhook rotate',
    'webhook delete',
    'webhook attempts',
    'events <serverid>',
    '--endpoint',
    '--types',
    '--before',
    'session.login',
    'refusal',
    '--url',
    '--data',
  ]) {
    assert.ok(help.includes(word), `help webhook names ${word}`);
  }
  assert.not.match(help, 'app enrol', 'only its own section');
  assert.is(ok(await cli(['events', '--help']), 'events --help').stdout, help.replace('nextauth webhook', 'nextauth events'));
  assert.ok(ok(await cli(['--help']), 'help').stdout.includes('webhook create'), 'nextauth help names them too');
});

test.run();
