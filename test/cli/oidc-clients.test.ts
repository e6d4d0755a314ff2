/**
 * `nextauth oidc-client create|list|delete`, run as a child process like the other admin
 * commands (test/cli/events.test.ts): on the data folder of a stopped server, and over REST on a
 * running one. A confidential client's secret is printed by create only; bad usage exits 2
 * naming the argument, a refused operation 1 with its code.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureServerBuild } from '../../scripts/build.ts';
import { cli, fails, ok, okJson } from '../helpers/cli-run.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';

ensureServerBuild(); // the CLI runs compiled, as users run it

const tmp = mkdtempSync(path.join(os.tmpdir(), 'nextauth-cli-oidc-'));
let ns: TestServer | undefined;
test.after(async () => {
  await ns?.stop(true);
  rmSync(tmp, { recursive: true, force: true });
});

const dataOf = (dir: string) => readFileSync(path.join(dir, 'nextauth.json'), 'utf8');
const SECRET = /^Client secret \(shown once, keep it safe\): (ocs_\S+)$/m;

test('local mode: clients made, listed and deleted in the data folder; a secret printed once, kept hashed', async () => {
  const data = path.join(tmp, 'clients');
  const d = ['--data', data];
  const sid: string = okJson(await cli(['server', 'create', '--name', 'Provider', '--json', ...d]), 'server create').serverid;

  const created = ok(
    await cli([
      'oidc-client',
      'create',
      sid,
      '--name',
      'Grafana',
      '--redirect-uris',
      'https://grafana.example/cb,http://localhost:3000/cb',
      '--post-logout-uris',
      'https://grafana.example/',
      '--backchannel-logout-uri',
      'https://grafana.example/logout',
      '--scopes',
      'openid,email',
      ...d,
    ]),
    'create',
  );
  const id = /^OpenID Connect client created: (oc_\S+)$/m.exec(created.stdout)?.[1];
  const secret = SECRET.exec(created.stdout)?.[1];
  assert.ok(id && secret, created.stdout);
  assert.match(created.stdout, /^type:\s+confidential/m);
  assert.match(created.stdout, /^redirect URIs:\s+https:\/\/grafana\.example\/cb http:\/\/localhost:3000\/cb$/m);
  assert.match(created.stdout, /^scopes:\s+openid email$/m);
  assert.not.ok(dataOf(data).includes(secret!), 'only its hash is kept');

  // --public before the serverid: a switch, it takes no value.
  const spa = okJson(await cli(['oidc-client', 'create', '--public', sid, '--name', 'SPA', '--redirect-uris', 'https://spa.example/cb', '--json', ...d]), 'create --public');
  assert.equal([spa.public, 'secret' in spa, spa.scopes], [true, false, ['openid', 'profile', 'email', 'offline_access']]);

  const [list, listJson] = await Promise.all([cli(['oidc-client', 'list', sid, ...d]), cli(['oidc-client', 'list', sid, '--json', ...d])]);
  assert.match(ok(list, 'list').stdout, /^CLIENT ID\s+NAME\s+TYPE\s+REDIRECT URIS\s+SCOPES\s+CREATED\n/);
  assert.match(list.stdout, new RegExp(`${id}\\s+Grafana\\s+confidential\\s+https://grafana\\.example/cb http://localhost:3000/cb\\s+openid email`));
  assert.match(list.stdout, new RegExp(`${spa.clientId}\\s+SPA\\s+public`));
  const listed = okJson(listJson, 'list --json');
  assert.equal(
    listed.map((c: any) => [c.clientId, c.public, c.backchannelLogoutUri]),
    [
      [id, false, 'https://grafana.example/logout'],
      [spa.clientId, true, undefined],
    ],
  );
  for (const r of [list, listJson]) assert.not.ok(r.stdout.includes('ocs_') || r.stdout.includes('secret'), 'never listed');

  assert.match(ok(await cli(['oidc-client', 'delete', sid, id!, ...d]), 'delete').stdout, `OpenID Connect client ${id} deleted.`);
  fails(await cli(['oidc-client', 'delete', sid, id!, ...d]), 1, 'UNKNOWN_OIDC_CLIENT', 'deleted twice');
  assert.equal(
    okJson(await cli(['oidc-client', 'list', sid, '--json', ...d]), 'list after').map((c: any) => c.clientId),
    [spa.clientId],
  );
});

test('local mode: failures exit 1 with the code, bad usage 2 naming the argument; nothing changed', async () => {
  const data = path.join(tmp, 'errors');
  const d = ['--data', data];
  const sid: string = okJson(await cli(['server', 'create', '--name', 'E', '--json', ...d]), 'server create').serverid;
  const before = dataOf(data);
  const app = ['--name', 'App', '--redirect-uris', 'https://app.example/cb'];
  const runs = await Promise.all([
    cli(['oidc-client', 'delete', sid, 'oc_AAAAAAAAAAAAAAAA', ...d]),
    cli(['oidc-client', 'create', sid, '--name', 'App', '--redirect-uris', 'http://app.example/cb', ...d]),
    cli(['oidc-client', 'create', 'AAAAAAAAAAAAAAAAAAAAAA', ...app, ...d]),
    cli(['oidc-client', 'create', sid, ...app, '--scopes', 'openid,admin', ...d]),
    cli(['oidc-client', 'create', sid, '--name', 'App', ...d]),
    cli(['oidc-client', 'create', sid, ...app, '--public=yes', ...d]),
    cli(['oidc-client', 'fly', sid, ...d]),
    cli(['oidc-client', 'create', 'nope', ...app, ...d]),
    cli(['oidc-client', 'create', sid, ...app, '--secret', 'mine', ...d]),
  ]);
  fails(runs[0]!, 1, 'UNKNOWN_OIDC_CLIENT', 'unknown client');
  fails(runs[1]!, 1, /BAD_REQUEST: redirectUris must be https:\/\//, 'http');
  fails(runs[2]!, 1, 'UNKNOWN_SERVER', 'unknown server');
  fails(runs[3]!, 1, /BAD_REQUEST: Unknown scope "admin"/, 'bad scope');
  fails(runs[4]!, 2, '--name and --redirect-uris are required', 'no redirect URI');
  fails(runs[5]!, 2, '--public takes no value', 'a value for a switch');
  fails(runs[6]!, 2, /unknown subcommand "oidc-client fly" \(known: create, list, delete\)/, 'unknown subcommand');
  fails(runs[7]!, 2, '<serverid>: "nope" is not a serverid', 'bad serverid');
  fails(runs[8]!, 2, 'unknown option --secret', 'unknown flag');
  assert.is(dataOf(data), before, 'no failed command changed the data');
});

test('REST mode: the same commands on a running server with --url and --key; root on the server needed', async () => {
  ns = await startTestServer();
  const server = ns;
  const r = ['--url', server.url, '--key', server.rootKey];
  const sid: string = (await server.api('POST', '/servers/', { body: { serverName: 'Remote' } })).body.serverid;

  const made = okJson(await cli(['oidc-client', 'create', sid, '--name', 'Remote app', '--redirect-uris', 'https://remote.example/cb', '--json', ...r]), 'create');
  assert.match(made.secret, /^ocs_/);
  assert.is((await server.registry.store.get('oidc', sid, 'Client', made.clientId))?.payload.client_name, 'Remote app');
  const text = ok(await cli(['oidc-client', 'create', sid, '--name', 'Native', '--redirect-uris', 'http://127.0.0.1:8400/cb', '--public', ...r]), 'create --public').stdout;
  assert.not.match(text, SECRET, 'a public client has no secret');
  const listed = okJson(await cli(['oidc-client', 'list', sid, '--json', ...r]), 'list');
  assert.equal(
    listed.map((c: any) => [c.name, c.public, 'secret' in c]),
    [
      ['Remote app', false, false],
      ['Native', true, false],
    ],
  );
  fails(
    await cli(['oidc-client', 'create', sid, '--name', 'X', '--redirect-uris', 'https://x.example/cb#frag', ...r]),
    1,
    'BAD_REQUEST: redirectUris must not have a fragment',
    'fragment',
  );
  ok(await cli(['oidc-client', 'delete', sid, made.clientId, ...r]), 'delete');
  fails(await cli(['oidc-client', 'delete', sid, made.clientId, ...r]), 1, 'UNKNOWN_OIDC_CLIENT', 'deleted');
  assert.is((await server.registry.oidcClients.list(sid)).length, 1);

  // A key without root on the server is refused.
  const key = (await server.api('POST', '/apikeys/?description=narrow')).body;
  assert.is((await server.api('POST', `/servers/${sid}/permissions/${key.role}`, { body: ['servers', 'users'] })).status, 200);
  fails(await cli(['oidc-client', 'list', sid, '--url', server.url, '--key', key.apikey]), 1, /FORBIDDEN: .*'root'/, 'no root');
});

test('help: nextauth help oidc-client and nextauth oidc-client --help name every command and flag', async () => {
  const help = ok(await cli(['help', 'oidc-client']), 'help oidc-client').stdout;
  for (const word of [
    'oidc-client create',
    'oidc-client list',
    'oidc-client delete',
    '--name',
    '--redirect-uris',
    '--public',
    '--post-logout-uris',
    '--backchannel-logout-uri',
    '--scopes',
    'offline_access',
    '--url',
    '--data',
  ]) {
    assert.ok(help.includes(word), `help oidc-client names ${word}`);
  }
  assert.not.match(help, 'webhook create', 'only its own section');
  assert.is(ok(await cli(['oidc-client', '--help']), 'oidc-client --help').stdout, help);
  assert.ok(ok(await cli(['--help']), 'help').stdout.includes('oidc-client create'), 'nextauth help names them too');
});

test('oidc-key rotate (local mode): a new ES256 key that signs in two minutes, the old one retiring then; no private part printed', async () => {
  const data = path.join(tmp, 'keys');
  const d = ['--data', data];
  const sid: string = okJson(await cli(['server', 'create', '--name', 'Keys', '--json', ...d]), 'server create').serverid;
  const before = Date.now();
  const keys = okJson(await cli(['oidc-key', 'rotate', sid, '--json', ...d]), 'rotate') as Array<{ kid: string; alg: string; activates?: number; retired?: number }>;
  assert.equal(keys.map((k) => k.alg).sort(), ['ES256', 'ES256', 'EdDSA']);
  const fresh = keys.find((k) => k.activates !== undefined)!;
  assert.ok(fresh.activates! >= before + 120_000, 'signs in two minutes');
  assert.is(keys.find((k) => k.alg === 'ES256' && k.kid !== fresh.kid)!.retired, fresh.activates, 'the old one retires then');
  const text = ok(await cli(['oidc-key', 'rotate', sid, ...d]), 'rotate (text)').stdout;
  assert.match(text, /^A new signing key: published now, signing in two minutes\.$/m);
  assert.match(text, /KEY ID\s+ALG\s+CREATED\s+SIGNS FROM\s+RETIRED/);
  for (const out of [JSON.stringify(keys), text]) assert.not.match(out, /"d"|"x"/, 'no key material');
  fails(await cli(['oidc-key', 'rotate', 'AAAAAAAAAAAAAAAAAAAAAA', ...d]), 1, 'UNKNOWN_SERVER', 'unknown server');
  assert.match(ok(await cli(['help', 'oidc-key']), 'help').stdout, /oidc-key rotate <serverid>/);
});

test.run();
