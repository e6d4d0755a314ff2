/**
 * The `nextauth` command line, run as a child process: admin commands on the data folder of a
 * stopped server, the same commands on a running server's REST API, the run lock, the phone
 * simulator (enrol, login, decline, listen for pushes) against a running server, and `npm run machines`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, ensureServerBuild } from '../../scripts/build.ts';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { table } from '../../src/cli/output.ts';
import { consentScreen } from '../../src/cli/phone.ts';
import { Registry } from '../../src/core/admin/registry.ts';
import { LowdbStore } from '../../src/adapters/lowdb/lowdb-store.ts';
import { RUN_LOCK_FILE, RunLockError, acquireRunLock, liveRunLock, readRunLock, removeRunLock, writeRunLock } from '../../src/adapters/lowdb/run-lock.ts';
import { diagramDiff } from '../../scripts/machines.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { newNonce, newPhone, qr, until } from '../helpers/peers.ts';
import { service } from '../helpers/services.ts';
import { cli, fails, ok, okJson, type Run } from '../helpers/cli-run.ts';
import { databases } from '../helpers/pg-databases.ts';
import { PostgresStore } from '../../src/adapters/postgres/postgres-store.ts';

ensureServerBuild(); // the CLI runs compiled, as users run it

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'nextauth-cli-'));
const limits = { enrol: 600_000, challenge: 60_000 };

/** Makes an account directly in a stopped server's data folder. */
async function makeAccount(dataDir: string, serverid: string, userid: string): Promise<number> {
  const store = await LowdbStore.open(dataDir);
  const registry = new Registry(store, limits);
  const pk = Buffer.alloc(32, 7).toString('base64url');
  const account = await store.transact((tx) => registry.accounts.createInChange(tx, serverid, { pk, description: 'test phone', secondFactor: 'none', userid }, Date.now()));
  await store.close();
  return account.id;
}

/** A local port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('close', resolve));
  return child.pid!;
}

/** Reads a stopped server's data file. */
const dataOf = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'nextauth.json'), 'utf8'));

/** A command that keeps running (app listen): its output so far, and waits on it. */
interface Live {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  /** Resolves with the first match of `pattern` in stdout at or after `from` (a stdout length). */
  waitFor(pattern: RegExp, what: string, from?: number, ms?: number): Promise<RegExpExecArray>;
  exited: Promise<Run>;
}

function cliLive(args: string[]): Live {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  for (const name of ['NEXTAUTH_URL', 'NEXTAUTH_API_KEY', 'NEXTAUTH_DATA']) delete env[name];
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: root, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (d) => {
    stdout += d;
    for (const w of [...waiters]) w();
  });
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  const waitFor = (pattern: RegExp, what: string, from = 0, ms = 8000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(stdout.slice(from));
        if (!m) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(m);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`app listen: no ${what} within ${ms} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, ms);
      waiters.add(check);
      check();
    });
  return { child, stdout: () => stdout, waitFor, exited };
}

/** The run of a Live command once it exits; fails (and kills it) after `ms`. */
async function exitOf(l: Live, what: string, ms = 8000): Promise<Run> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      l.child.kill('SIGKILL');
      reject(new Error(`${what}: still running after ${ms} ms\nstdout: ${l.stdout()}`));
    }, ms);
  });
  try {
    return await Promise.race([l.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

let ns: TestServer | undefined;
let pushNs: TestServer | undefined;
const live: Live[] = [];
test.after(async () => {
  for (const l of live) l.child.kill('SIGKILL');
  await ns?.stop(true);
  await pushNs?.stop(true);
  rmSync(tmp, { recursive: true, force: true });
});

// ───────────────────────────── (a) a stopped server's data folder ─────────────────────────────

test('local mode: servers, keys, users and accounts in the data folder of a stopped server', async () => {
  const data = path.join(tmp, 'local');
  const d = ['--data', data];

  // Nothing there yet: reading commands refuse (no empty store for a mistyped --data), create makes it.
  fails(await cli(['server', 'list', ...d]), 1, /NO_DATA: no nextAuth data in/, 'list on an empty folder');
  assert.not.ok(existsSync(path.join(data, 'nextauth.json')), 'a refused list made no store');

  const created = okJson(await cli(['server', 'create', '--name', 'Shop', '--json', ...d]), 'server create');
  const sid: string = created.serverid;
  assert.match(sid, /^[A-Za-z0-9_-]{22}$/);
  assert.is(created.serverName, 'Shop');
  assert.is(created.accountCount, 0);

  const [listText, listJson, show] = await Promise.all([cli(['server', 'list', ...d]), cli(['server', 'list', '--json', ...d]), cli(['server', 'show', sid, '--json', ...d])]);
  assert.match(ok(listText, 'server list').stdout, /^SERVERID\s+NAME\s+ACCOUNTS\s+LAST LOGIN\n/);
  assert.match(listText.stdout, new RegExp(`${sid}\\s+Shop\\s+0\\s+-`));
  assert.equal(
    okJson(listJson, 'server list --json').map((s: any) => s.serverid),
    [sid],
  );
  const shown = okJson(show, 'server show');
  assert.is(shown.serverid, sid);
  assert.is(shown.serverpk, created.serverpk);

  // A key with permissions on the server: printed once, stored as a hash with its grant.
  const key = okJson(await cli(['key', 'create', '--description', 'shop backend', '--server', sid, '--permissions', 'sessions,users', '--json', ...d]), 'key create');
  assert.match(key.apikey, /^\S{16,}$/);
  assert.is(key.description, 'shop backend');
  assert.equal(key.permissions, ['sessions', 'users']);
  const stored = dataOf(data);
  assert.equal(stored.permissions[key.role][sid], ['sessions', 'users']);
  assert.not.ok(JSON.stringify(stored).includes(key.apikey), 'the key itself is not stored');

  // Attributes make the user; show gives them back with its accounts.
  ok(await cli(['user', 'set-attributes', sid, 'alice', '{"mail":"alice@example.com","level":3}', ...d]), 'set-attributes');
  const accountId = await makeAccount(data, sid, 'alice');
  const [user, users, accounts, accountsText] = await Promise.all([
    cli(['user', 'show', sid, 'alice', '--json', ...d]),
    cli(['user', 'list', sid, '--json', ...d]),
    cli(['account', 'list', sid, '--json', ...d]),
    cli(['account', 'list', sid, ...d]),
  ]);
  const alice = okJson(user, 'user show');
  assert.equal(alice.attributes, { mail: 'alice@example.com', level: 3 });
  assert.is(alice.numberaccounts, 1);
  assert.is(alice.accounts[0].id, accountId);
  assert.equal(
    okJson(users, 'user list').map((u: any) => [u.userid, u.numberaccounts]),
    [['alice', 1]],
  );
  const [account] = okJson(accounts, 'account list');
  assert.equal([account.id, account.userid, account.blocked, account.description], [accountId, 'alice', false, 'test phone']);
  assert.match(ok(accountsText, 'account list').stdout, new RegExp(`^ID\\s+USERID\\s+DESCRIPTION\\s+BLOCKED.*\\n${accountId}\\s+alice\\s+test phone\\s+no`));

  // Block, unblock, delete.
  assert.is(okJson(await cli(['account', 'block', sid, String(accountId), '--json', ...d]), 'block').blocked, true);
  assert.is(dataOf(data).accounts[sid][accountId].blocked, true);
  assert.match(ok(await cli(['account', 'block', sid, String(accountId), '--unblock', ...d]), 'unblock').stdout, `Account ${accountId} unblocked.`);
  assert.is(dataOf(data).accounts[sid][accountId].blocked, false);
  ok(await cli(['account', 'delete', sid, String(accountId), ...d]), 'delete');
  assert.equal(dataOf(data).accounts[sid], {});
  assert.is(dataOf(data).users[sid].alice.userid, 'alice', 'the user stays');
});

test('local mode: failed operations exit 1 with the error code, bad usage exits 2 naming the argument', async () => {
  const data = path.join(tmp, 'local-errors');
  const d = ['--data', data];
  const sid = okJson(await cli(['server', 'create', '--name', 'E', '--json', ...d]), 'create').serverid as string;
  const before = readFileSync(path.join(data, 'nextauth.json'), 'utf8');
  const unknownServer = 'AAAAAAAAAAAAAAAAAAAAAA';
  const runs = await Promise.all([
    cli(['server', 'show', unknownServer, ...d]),
    cli(['user', 'show', sid, 'nobody', ...d]),
    cli(['account', 'delete', sid, '99', ...d]),
    cli(['key', 'create', '--description', 'x', '--server', unknownServer, '--permissions', 'users', ...d]),
    cli(['server', 'show', 'not-a-serverid', ...d]),
    cli(['user', 'set-attributes', sid, 'bob', '{nope', ...d]),
    cli(['key', 'create', '--description', 'x', '--server', sid, '--permissions', 'users,fly', ...d]),
    cli(['user', 'show', sid, ...d]),
    cli(['server', 'list', '--bogus', '1', ...d]),
    cli(['frobnicate']),
    cli(['server', 'list', '--url', 'http://127.0.0.1:1']),
  ]);
  fails(runs[0]!, 1, 'UNKNOWN_SERVER', 'unknown server');
  fails(runs[1]!, 1, 'UNKNOWN_USER', 'unknown user');
  fails(runs[2]!, 1, 'UNKNOWN_ACCOUNT', 'unknown account');
  fails(runs[3]!, 1, 'UNKNOWN_SERVER', 'key for an unknown server');
  fails(runs[4]!, 2, '<serverid>', 'bad serverid');
  fails(runs[5]!, 2, '<json>: not JSON', 'bad json');
  fails(runs[6]!, 2, /--permissions: "fly"/, 'bad permission');
  fails(runs[7]!, 2, 'missing <userid>', 'missing argument');
  fails(runs[8]!, 2, 'unknown option --bogus', 'unknown option');
  fails(runs[9]!, 2, 'Unknown command "frobnicate"', 'unknown command');
  fails(runs[10]!, 2, '--url needs --key', '--url without --key');
  assert.is(dataOf(data).apiKeys && Object.keys(dataOf(data).apiKeys).length, 0, 'no key was made');
  assert.is(readFileSync(path.join(data, 'nextauth.json'), 'utf8'), before, 'no failed command changed the data');
});

test('help names both modes and every command', async () => {
  const help = ok(await cli(['--help']), 'help').stdout;
  for (const word of [
    '--url',
    '--key',
    'NEXTAUTH_URL',
    'NEXTAUTH_API_KEY',
    'STOPPED',
    'RUNNING',
    'server create',
    'key create',
    'user set-attributes',
    'account block',
    'app enrol',
    'app login',
    'app listen',
    '--json',
  ]) {
    assert.ok(help.includes(word), `help mentions ${word}`);
  }
});

test('help per command (nextauth help <command>, nextauth <command> --help), --version, and an unknown command', async () => {
  const app = ok(await cli(['help', 'app']), 'help app').stdout;
  assert.match(app, 'app enrol <qr>');
  assert.not.match(app, 'server create', 'only its own section');
  assert.is(ok(await cli(['app', '--help']), 'app --help').stdout, app);
  const start = ok(await cli(['start', '--help']), 'start --help').stdout;
  assert.match(start, '--port');
  assert.match(start, 'NEXTAUTH_DATABASE_URL');
  assert.not.match(start, 'app enrol');
  assert.match(ok(await cli(['user', '--help']), 'user --help').stdout, 'user set-attributes');
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  assert.is(ok(await cli(['--version']), '--version').stdout, `nextauth ${pkg.version}\n`);
  fails(await cli(['help', 'nothing']), 2, 'Unknown command "nothing"', 'help of no command');
});

test('output: control characters from browsers and phones never reach the terminal', () => {
  const out = table(['ID', 'DESCRIPTION'], [[1, 'evil\x1b[2J\nphone\x07']]);
  assert.ok(out.includes('evil?[2J phone?'), out);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: no control character may reach the terminal
  assert.not.ok(/[\x00-\x1f]/.test(out.replace(/\n/g, '')));
  const screen = consentScreen({ name: 'S\x1b]0;x\x07', pinTimeout: -1, session: { ip: '1.2.3.4', ua: 'UA\r\nFake: line' } }, 'log in');
  assert.match(screen, /Browser: ip 1\.2\.3\.4, user agent UA {2}Fake: line\n/);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: no escape sequence may reach the terminal
  assert.not.ok(/\x1b|\x07/.test(screen));
});

// ───────────────────────────── (c) the run lock ─────────────────────────────

test('run lock: written 0600, taken with O_EXCL, refused while another live process holds it, removed only by its holder', async () => {
  const dir = path.join(tmp, 'lock-unit');
  const lock = await writeRunLock(dir, 'http://127.0.0.1:8080');
  assert.is(lock.pid, process.pid);
  assert.is(statSync(path.join(dir, RUN_LOCK_FILE)).mode & 0o777, 0o600);
  assert.equal(await readRunLock(dir), lock);
  assert.equal(await liveRunLock(dir), lock);
  await removeRunLock(dir, process.pid + 1);
  assert.ok(await readRunLock(dir), 'another process does not remove it');
  await removeRunLock(dir);
  assert.is(await readRunLock(dir), undefined);
  await removeRunLock(dir); // no error when there is none

  // Another live process (our parent) holds it: refused, naming its URL.
  writeFileSync(path.join(dir, RUN_LOCK_FILE), JSON.stringify({ pid: process.ppid, url: 'http://127.0.0.1:9090', started: 1 }));
  try {
    await acquireRunLock(dir, 'http://127.0.0.1:8080');
    assert.unreachable('acquired a held lock');
  } catch (e) {
    assert.instance(e, RunLockError);
    assert.match((e as Error).message, 'http://127.0.0.1:9090');
  }
  // A stale lock (a pid that is gone) and this process's own lock are taken over.
  writeFileSync(path.join(dir, RUN_LOCK_FILE), JSON.stringify({ pid: await deadPid(), url: 'http://x', started: 1 }));
  assert.is((await acquireRunLock(dir, 'http://127.0.0.1:8080')).url, 'http://127.0.0.1:8080');
  assert.is((await acquireRunLock(dir, 'http://127.0.0.1:8081')).url, 'http://127.0.0.1:8081');
  assert.is(statSync(path.join(dir, RUN_LOCK_FILE)).mode & 0o777, 0o600);
  writeFileSync(path.join(dir, RUN_LOCK_FILE), 'garbage');
  assert.is(await readRunLock(dir), undefined);
});

test('run lock: local mode refuses while the lock names a live process, and ignores a stale one', async () => {
  const data = path.join(tmp, 'locked');
  ok(await cli(['server', 'create', '--name', 'L', '--data', data]), 'create');
  await writeRunLock(data, 'http://127.0.0.1:4567'); // this test process: alive
  const before = readFileSync(path.join(data, 'nextauth.json'), 'utf8');
  const [list, create] = await Promise.all([cli(['server', 'list', '--data', data]), cli(['server', 'create', '--name', 'M', '--data', data])]);
  for (const r of [list, create]) {
    fails(r, 1, /SERVER_RUNNING: .*running on the data folder .*--url http:\/\/127\.0\.0\.1:4567/, 'refused while running');
  }
  assert.is(readFileSync(path.join(data, 'nextauth.json'), 'utf8'), before, 'nothing written');

  // Another command working on the folder holds it too.
  await writeRunLock(data, '', 'cli');
  fails(
    await cli(['server', 'list', '--data', data], { env: { NEXTAUTH_CLI_BUSY_WAIT_MS: '300' } }),
    1,
    /DATA_BUSY: a nextauth command \(pid \d+\) is working on the data folder/,
    'busy',
  );

  // A lock left by a process that is gone is stale; the command takes it and removes it when done.
  writeFileSync(path.join(data, RUN_LOCK_FILE), JSON.stringify({ pid: await deadPid(), url: 'http://127.0.0.1:4567', started: 1 }));
  assert.is(okJson(await cli(['server', 'list', '--json', '--data', data]), 'stale lock').length, 1);
  assert.not.ok(existsSync(path.join(data, RUN_LOCK_FILE)), 'the command removed its lock');
});

// ───────────────────────────── (b) a running server, over REST ─────────────────────────────

test('REST mode: the same commands on a running server with --url and --key (or the environment)', async () => {
  ns = await startTestServer();
  const r = ['--url', ns.url, '--key', ns.rootKey];
  const created = okJson(await cli(['server', 'create', '--name', 'Remote', '--json', ...r]), 'create');
  const sid: string = created.serverid;
  assert.is((await ns.api('GET', `/servers/${sid}/`)).body.serverName, 'Remote');

  const env = { NEXTAUTH_URL: ns.url, NEXTAUTH_API_KEY: ns.rootKey };
  const [list, show, key, set] = await Promise.all([
    cli(['server', 'list', '--json'], { env }),
    cli(['server', 'show', sid], { env }),
    cli(['key', 'create', '--description', 'remote backend', '--server', sid, '--permissions', 'sessions,users', '--json', ...r]),
    cli(['user', 'set-attributes', sid, 'bob', '{"team":"red"}', ...r]),
  ]);
  assert.ok(okJson(list, 'list').some((s: any) => s.serverid === sid));
  assert.match(ok(show, 'show').stdout, new RegExp(`serverid:\\s+${sid}\\n`));
  const newKey = okJson(key, 'key create');
  ok(set, 'set-attributes');

  // The new key works on its server (and only with what it was granted).
  const users = await ns.api('GET', `/servers/${sid}/users/`, { key: newKey.apikey });
  assert.is(users.status, 200);
  assert.equal(
    users.body.users.map((u: any) => u.userid),
    ['bob'],
  );
  assert.is((await ns.api('GET', `/servers/${sid}/accounts/`, { key: newKey.apikey })).status, 403);

  // Accounts (one made through the running server's registry).
  const account = await ns.registry.store.transact((tx) =>
    ns!.registry.accounts.createInChange(tx, sid, { pk: Buffer.alloc(32, 9).toString('base64url'), description: 'remote phone', secondFactor: 'none', userid: 'bob' }, Date.now()),
  );
  const [bob, accounts, denied, wrongKey] = await Promise.all([
    cli(['user', 'show', sid, 'bob', '--json', ...r]),
    cli(['account', 'list', sid, '--json', ...r]),
    cli(['account', 'list', sid, '--url', ns.url, '--key', newKey.apikey]),
    cli(['server', 'list', '--url', ns.url, '--key', 'wrong-wrong-wrong-wrong']),
  ]);
  const bobView = okJson(bob, 'user show');
  assert.equal(bobView.attributes, { team: 'red' });
  assert.equal(
    bobView.accounts.map((a: any) => a.id),
    [account.id],
  );
  assert.equal(
    okJson(accounts, 'account list').map((a: any) => a.id),
    [account.id],
  );
  fails(denied, 1, 'FORBIDDEN', 'a key without accounts');
  fails(wrongKey, 1, 'UNKNOWN_API_KEY', 'a wrong key');

  assert.is(okJson(await cli(['account', 'block', sid, String(account.id), '--json', ...r]), 'block').blocked, true);
  assert.is((await ns.registry.accounts.get(sid, account.id))?.blocked, true);
  ok(await cli(['account', 'block', sid, String(account.id), '--unblock', ...r]), 'unblock');
  assert.is((await ns.registry.accounts.get(sid, account.id))?.blocked, false);
  ok(await cli(['account', 'delete', sid, String(account.id), ...r]), 'delete');
  assert.is(await ns.registry.accounts.get(sid, account.id), undefined);

  const [unknown, unreachable] = await Promise.all([
    cli(['account', 'delete', sid, String(account.id), ...r]),
    closedPort().then((port) => cli(['server', 'list', '--url', `http://127.0.0.1:${port}`, '--key', 'k'])),
  ]);
  fails(unknown, 1, 'UNKNOWN_ACCOUNT', 'deleted twice');
  fails(unreachable, 1, /UNREACHABLE: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/, 'nobody listening');
});

// ───────────────────────────── the phone simulator ─────────────────────────────

test('app enrol then app login against a running server; "n" at the prompt declines', async () => {
  ns ??= await startTestServer();
  const sid: string = (await ns.api('POST', '/servers/', { body: { serverName: 'Phone shop' } })).body.serverid;
  const keystore = path.join(tmp, 'phone', 'keys.json');
  const session = async (nonce: string) => (await ns!.api('GET', `/servers/${sid}/sessions/`, { headers: { 'x-nonce': nonce } })).body;

  // Enrol: the QR bytes as base64.
  const enrolNonce = 'enrol-nonce-0123456789';
  const enrolQr = await ns.api('GET', `/servers/${sid}/sessions/qr/enrol?name=phone&userid=alice`, { headers: { 'x-nonce': enrolNonce } });
  assert.is(enrolQr.status, 200);
  const enrol = ok(await cli(['app', 'enrol', Buffer.from(enrolQr.raw).toString('base64'), '--yes', '--keystore', keystore]), 'app enrol');
  assert.match(enrol.stdout, /Server:\s+Phone shop/);
  assert.match(enrol.stdout, /Action:\s+enrol as phone \(user alice\)/);
  assert.match(enrol.stdout, /Enrolled: account 1 on Phone shop/);
  assert.ok(enrol.stdout.includes(`Stored in ${keystore}`));
  assert.is(statSync(keystore).mode & 0o777, 0o600);
  const enrolled = await session(enrolNonce);
  assert.is(enrolled.loggedin, true);
  assert.is(enrolled.userid, 'alice');
  assert.is(enrolled.accountid, 1);

  // Login: an app link (base64url) for a second nonce, with the browser's context in the QR call.
  const loginNonce = 'login-nonce-0123456789';
  const loginQr = await ns.api('POST', `/servers/${sid}/sessions/qr/login`, {
    headers: { 'x-nonce': loginNonce },
    body: { sessioninfo: { ip: '203.0.113.7', useragent: 'TestBrowser/1.0' }, announceinfo: { info: 'Order #42' } },
  });
  assert.is(loginQr.status, 200);
  const link = `nextauth:?qr=${Buffer.from(loginQr.raw).toString('base64url')}`;
  const loginRun = await cli(['app', 'login', link, '--yes', '--json', '--keystore', keystore]);
  const login = okJson(loginRun, 'app login');
  assert.equal(login, { acc: 1, serverid: sid, server: 'Phone shop', userid: 'alice', loggedin: true });
  // With --json the phone's screen goes to stderr, so stdout stays JSON.
  assert.match(loginRun.stderr, /Browser:\s+ip 203\.0\.113\.7, user agent TestBrowser\/1\.0/);
  assert.match(loginRun.stderr, /Announce:\s+\{"info":"Order #42"\}/);
  const loggedIn = await session(loginNonce);
  assert.is(loggedIn.loggedin, true);
  assert.is(loggedIn.accountid, 1);

  // Decline: the consent screen is shown, "n" answers it, the session stays logged out.
  const declineNonce = 'decline-nonce-0123456789';
  const declineQr = await ns.api('POST', `/servers/${sid}/sessions/qr/login`, {
    headers: { 'x-nonce': declineNonce },
    body: { sessioninfo: { ip: '198.51.100.9', useragent: 'OtherBrowser/2' } },
  });
  const declined = await cli(['app', 'login', Buffer.from(declineQr.raw).toString('base64'), '--keystore', keystore], { input: 'n\n' });
  fails(declined, 1, 'DECLINED', 'declined login');
  assert.match(declined.stdout, /Server:\s+Phone shop/);
  assert.match(declined.stdout, /Action:\s+log in as account 1 \(user alice\)/);
  assert.match(declined.stdout, /Browser:\s+ip 198\.51\.100\.9, user agent OtherBrowser\/2/);
  assert.match(declined.stdout, /Confirm\? \[y\/N\]/);
  const after = await session(declineNonce);
  assert.is(after.loggedin, false);
  assert.is(after.state, 'waiting');

  // The wrong kind of code, and a code that is not one, are usage errors.
  const [wrongKind, garbage, noAccount] = await Promise.all([
    cli(['app', 'enrol', link, '--yes', '--keystore', keystore]),
    cli(['app', 'login', 'not*a*qr', '--yes', '--keystore', keystore]),
    cli(['app', 'login', link, '--yes', '--keystore', path.join(tmp, 'phone', 'empty.json')]),
  ]);
  fails(wrongKind, 2, '<qr>: this is a login code', 'login code to enrol');
  fails(garbage, 2, '<qr>: bad QR code', 'garbage');
  fails(noAccount, 1, 'NO_ACCOUNT', 'no stored account');
});

// ───────────────────────────── app listen: pushes ─────────────────────────────

/** The push test server: no 10 s between pushes, so only a mute can answer 429. */
const pushServer = async () => (pushNs ??= await startTestServer({ NEXTAUTH_PUSH_INTERVAL_SECONDS: '0' }));

/** A new virtual server on the push server, and an account on it enrolled by `app enrol --yes` into `keystore`. */
async function enrolled(name: string, keystore: string, settings: Record<string, unknown> = {}): Promise<{ sid: string; acc: number }> {
  const p = await pushServer();
  const sid: string = (await p.api('POST', '/servers/', { body: { serverName: name, ...settings } })).body.serverid;
  const code = await p.api('GET', `/servers/${sid}/sessions/qr/enrol?name=phone`, { headers: { 'x-nonce': `enrol-${sid}` } });
  assert.is(code.status, 200);
  const run = ok(await cli(['app', 'enrol', Buffer.from(code.raw).toString('base64'), '--yes', '--keystore', keystore]), `enrol on ${name}`);
  return { sid, acc: Number(/Enrolled: account (\d+)/.exec(run.stdout)![1]) };
}

const provoke = (sid: string, acc: number, nonce: string, body?: unknown) =>
  pushNs!.api('POST', `/servers/${sid}/accounts/${acc}/provokelogin`, { headers: { 'x-nonce': nonce }, ...(body !== undefined ? { body } : {}) });
const sessionOf = async (sid: string, nonce: string) => (await pushNs!.api('GET', `/servers/${sid}/sessions/`, { headers: { 'x-nonce': nonce } })).body;

test("app enrol without --keystore: the keys go to the user's configuration folder ($XDG_CONFIG_HOME/nextauth/phone.json), 0600 in a 0700 folder", async () => {
  ns ??= await startTestServer();
  const sid: string = (await ns.api('POST', '/servers/', { body: { serverName: 'Config home' } })).body.serverid;
  const home = path.join(tmp, 'xdg');
  const code = await ns.api('GET', `/servers/${sid}/sessions/qr/enrol?name=phone`, { headers: { 'x-nonce': 'config-home-nonce-0123456789' } });
  const enrol = ok(await cli(['app', 'enrol', Buffer.from(code.raw).toString('base64'), '--yes'], { env: { XDG_CONFIG_HOME: home } }), 'app enrol');
  const file = path.join(home, 'nextauth', 'phone.json');
  assert.ok(enrol.stdout.includes(`Stored in ${file}`), enrol.stdout);
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.is(statSync(path.dirname(file)).mode & 0o777, 0o700);
  assert.match(ok(await cli(['app', 'list', '--json'], { env: { XDG_CONFIG_HOME: home } }), 'app list').stdout, sid);
});

test('app listen --yes: answers pushes for every stored account (number match sent by itself); Ctrl-C exits 0', async () => {
  const keystore = path.join(tmp, 'listen', 'keys.json');
  const shop = await enrolled('Push shop', keystore, { pingTime: 30 });
  const bank = await enrolled('Push bank', keystore, { serverFlags: ['numbermatch'] });
  const l = cliLive(['app', 'listen', '--yes', '--keystore', keystore]);
  live.push(l);
  await l.waitFor(new RegExp(`listening for pushes on Push shop as account ${shop.acc}\n`), 'listening line (shop)');
  await l.waitFor(new RegExp(`listening for pushes on Push bank as account ${bank.acc}\n`), 'listening line (bank)');

  // A push to the shop account: the phone shows the browser from the challenge and logs it in.
  let from = l.stdout().length;
  const r = await provoke(shop.sid, shop.acc, 'listen-nonce-shop-0001', { sessioninfo: { ip: '192.0.2.44', useragent: 'PushBrowser/3' } });
  assert.is(r.status, 200, JSON.stringify(r.body));
  await l.waitFor(/Logged in: the browser \(ip 192\.0\.2\.44\) is logged in on Push shop/, 'outcome (shop)', from);
  const screen = l.stdout().slice(from);
  assert.match(screen, /Server:\s+Push shop\n/);
  assert.match(screen, /Browser:\s+ip 192\.0\.2\.44, user agent PushBrowser\/3\n/);
  assert.not.match(screen, /Browser shows/);
  assert.not.match(screen, /Confirm\?/);
  const shopSession = await sessionOf(shop.sid, 'listen-nonce-shop-0001');
  assert.is(shopSession.loggedin, true);
  assert.is(shopSession.accountid, shop.acc);
  // A continuous session (pingTime 30): the server pings the listening connection, the phone answers.
  await until(async () => JSON.stringify((await pushNs!.hub.snapshot(shop.sid, shopSession.hsid))?.value) === '{"authenticated":"ponged"}', 'the pong');

  // Number match: the phone shows the number and (--yes) sends it.
  from = l.stdout().length;
  assert.is((await provoke(bank.sid, bank.acc, 'listen-nonce-bank-0001')).status, 200);
  await l.waitFor(/Logged in: the browser is logged in on Push bank/, 'outcome (bank)', from);
  assert.match(l.stdout().slice(from), /Browser shows:\s+\d\d\n/);
  assert.is((await sessionOf(bank.sid, 'listen-nonce-bank-0001')).loggedin, true);

  l.child.kill('SIGINT');
  const end = await exitOf(l, 'after SIGINT');
  assert.is(end.code, 0, `exit ${end.code}\n${end.stderr}`);
  assert.match(end.stdout, /Stopped listening\.\n$/);
  assert.is(end.stderr, '');
});

test('app listen without --yes: the typed number and "y" log in, "r" declines and reports (muted: 429); `deleted` ends it', async () => {
  const keystore = path.join(tmp, 'listen-ask', 'keys.json');
  const { sid, acc } = await enrolled('Ask shop', keystore, { serverFlags: ['numbermatch'] });
  const l = cliLive(['app', 'listen', '--keystore', keystore, '--server', sid, '--acc', String(acc)]);
  live.push(l);
  await l.waitFor(/listening for pushes on Ask shop as account \d+\n/, 'listening line');

  // Accept: type the number the browser shows, then y.
  let from = l.stdout().length;
  assert.is((await provoke(sid, acc, 'ask-nonce-accept-0001')).status, 200);
  const [, shown] = await l.waitFor(/Browser shows:\s+(\d\d)\n/, 'the number', from);
  await l.waitFor(/Type the number shown on the browser: $/, 'the number prompt', from);
  l.child.stdin.write(`${shown}\n`);
  await l.waitFor(/Confirm\? \[y\/N\/r=deny and report\] $/, 'the confirm prompt', from);
  l.child.stdin.write('y\n');
  await l.waitFor(/Logged in: the browser is logged in on Ask shop/, 'accepted', from);
  assert.is((await sessionOf(sid, 'ask-nonce-accept-0001')).loggedin, true);

  // Deny and report.
  from = l.stdout().length;
  assert.is((await provoke(sid, acc, 'ask-nonce-report-0001')).status, 200);
  await l.waitFor(/Type the number shown on the browser: $/, 'the number prompt', from);
  l.child.stdin.write('00\n');
  await l.waitFor(/Confirm\? \[y\/N\/r=deny and report\] $/, 'the confirm prompt', from);
  l.child.stdin.write('r\n');
  await l.waitFor(/Declined and reported: the server mutes pushes to Ask shop as account \d+ for a while\.\n/, 'reported', from);
  const declined = await sessionOf(sid, 'ask-nonce-report-0001');
  assert.is(declined.loggedin, false);
  const muted = await provoke(sid, acc, 'ask-nonce-muted-0001');
  assert.is(muted.status, 429);
  assert.is(muted.body.code, 'RATE_LIMITED');

  // The account is deleted: the phone hears `deleted`, and with nothing left to listen for it ends.
  assert.is((await pushNs!.api('DELETE', `/servers/${sid}/accounts/${acc}/`)).status, 200);
  const end = await exitOf(l, 'after `deleted`');
  assert.is(end.code, 0, `exit ${end.code}\n${end.stderr}`);
  assert.match(end.stdout, new RegExp(`Account ${acc} on Ask shop was removed by the server \\(deleted or blocked\\): no longer listening for it\\.\n$`));
});

test('app listen --yes: approves a transaction on the session its push logged in (with a PIN); the result is tstatus "1"', async () => {
  const keystore = path.join(tmp, 'listen-tx', 'keys.json');
  const { sid, acc } = await enrolled('Tx bank', keystore);
  const l = cliLive(['app', 'listen', '--yes', '--keystore', keystore]);
  live.push(l);
  await l.waitFor(/listening for pushes on Tx bank as account \d+\n/, 'listening line');
  let from = l.stdout().length;
  const nonce = 'listen-tx-nonce-0001';
  assert.is((await provoke(sid, acc, nonce)).status, 200);
  await l.waitFor(/Logged in: the browser is logged in on Tx bank/, 'the login', from);
  assert.is((await sessionOf(sid, nonce)).loggedin, true);

  from = l.stdout().length;
  const made = await pushNs!.api('POST', `/servers/${sid}/sessions/transactions`, {
    headers: { 'x-nonce': nonce },
    body: { amount: 'EUR 12.50', benificiary: 'ACME Ltd', description: 'Invoice 7' },
  });
  assert.is(made.status, 200, JSON.stringify(made.body));
  const { tid } = made.body;
  await l.waitFor(new RegExp(`Approved: transaction ${tid} on Tx bank as account ${acc} \\(second factor pin\\)\\.\n`), 'the approval', from);
  const screen = l.stdout().slice(from);
  assert.match(screen, /Transaction for Tx bank: amount EUR 12\.50, to ACME Ltd, description Invoice 7\n/);
  assert.not.match(screen, /Approve\?/);
  const r = (await pushNs!.api('GET', `/servers/${sid}/transactions/${tid}`)).body;
  assert.is(r.tstatus, '1');
  assert.is(r.account, acc);
  assert.is(r.sf, 'pin');

  l.child.kill('SIGINT');
  const end = await exitOf(l, 'after SIGINT');
  assert.is(end.code, 0, `exit ${end.code}\n${end.stderr}`);
});

test('app listen: no account, a deleted account, and bad options', async () => {
  const keystore = path.join(tmp, 'listen', 'keys.json'); // the accounts of the first listen test
  const [none, unknownServer, deleted, badServer, badSf, extra] = await Promise.all([
    cli(['app', 'listen', '--yes', '--keystore', path.join(tmp, 'listen', 'nothing.json')]),
    cli(['app', 'listen', '--yes', '--keystore', keystore, '--server', 'AAAAAAAAAAAAAAAAAAAAAA']),
    // The account of the second listen test, which the server deleted: the listen handshake is refused.
    cli(['app', 'listen', '--yes', '--keystore', path.join(tmp, 'listen-ask', 'keys.json')]),
    cli(['app', 'listen', '--keystore', keystore, '--server', 'nope']),
    cli(['app', 'listen', '--keystore', keystore, '--sf', 'retina']),
    cli(['app', 'listen', 'something', '--keystore', keystore]),
  ]);
  fails(none, 1, /NO_ACCOUNT: no account in .*nothing\.json/, 'empty keystore');
  fails(unknownServer, 1, 'NO_ACCOUNT: no account for server AAAAAAAAAAAAAAAAAAAAAA', 'no account of that server');
  fails(deleted, 1, 'UNKNOWN_ACCOUNT', 'deleted account');
  fails(badServer, 2, '--server: "nope" is not a serverid', 'bad --server');
  fails(badSf, 2, '--sf: "retina"', 'bad --sf');
  fails(extra, 2, 'app listen: unexpected argument "something"', 'extra argument');
});

// ───────────────────────────── diagram ─────────────────────────────

test('npm run machines -- --check: exits 0 when the diagrams match the machines, else 1 naming the files; other arguments refused', async () => {
  const machines = (args: string[]) =>
    new Promise<Run>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/machines.ts', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  const [run, badValue] = await Promise.all([machines(['--check']), machines(['--check=yes'])]);
  const { changed, stale } = await diagramDiff();
  if (changed.length === 0 && stale.length === 0) {
    assert.is(run.code, 0, `${run.stdout}${run.stderr}`);
    assert.match(run.stdout, /diagram files are up to date/);
  } else {
    // Someone changed a machine without regenerating its diagram: the check must say so.
    assert.is(run.code, 1, `${run.stdout}${run.stderr}`);
    for (const f of changed) assert.ok(run.stdout.includes(`differs: machines/${f.name}`), f.name);
  }
  fails(badValue, 2, 'machines: unknown argument --check=yes', '--check=yes');
  fails(await cli(['diagram']), 2, 'Unknown command "diagram"', "a development command, not the CLI's");
});

// ---- store copy ------------------------------------------------------------------------------------

/** Every file of a folder with its bytes (to show the source of a copy is untouched). */
function filesOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) out[name] = readFileSync(path.join(dir, name)).toString('base64');
  return out;
}

const pgUrl = await service('postgres');
if (pgUrl) {
  const pgs = databases(pgUrl);
  test.after(() => pgs.dropAll());
  test('store copy: every record of a stopped embedded store into an empty PostgreSQL database, checked; the folder untouched; a second copy refused', async () => {
    // A grown store, made the way a server makes it: a server, users and attributes, the root key,
    // enrolled and logged-in phones (accounts, enrol codes, saved sessions).
    const ns = await startTestServer();
    const srv = (await ns.api('POST', '/servers/', { body: { serverName: 'Copied' } })).body.serverid as string;
    for (let i = 0; i < 30; i++) await ns.api('POST', `/servers/${srv}/users/user-${i}/attributes/`, { body: { team: i % 3, name: `User ${i}` } });
    const phone = newPhone();
    const { acc } = await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=user-1'));
    const { connection } = await phone.login(await qr(ns, srv, newNonce()));
    connection.close();
    await ns.stop();
    const before = filesOf(ns.dataDir);

    // Refused while a server runs on the folder.
    const running = await startTestServer({}, ns.dataDir);
    const target = await pgs.fresh();
    fails(await cli(['store', 'copy', '--from', ns.dataDir, '--to', target]), 1, 'SERVER_RUNNING', 'copy of a running server');
    await running.stop();
    const stopped = filesOf(ns.dataDir);

    const r = okJson<{ total: number; copied: Record<string, number>; mismatches: unknown[] }>(
      await cli(['store', 'copy', '--from', ns.dataDir, '--to', target, '--json']),
      'store copy',
    );
    assert.equal(r.mismatches, []);
    assert.is(r.copied.server, 1);
    assert.is(r.copied.user, 30);
    assert.is(r.copied.account, 1);
    assert.ok((r.copied.session ?? 0) >= 1, 'the saved login');
    assert.ok((r.copied.apiKey ?? 0) >= 1, 'the root key');
    assert.equal(filesOf(ns.dataDir), stopped, 'the source folder is only read');
    assert.ok(Object.keys(before).length > 0);

    // What PostgreSQL holds, read independently: the same records.
    const source = await LowdbStore.open(mkdtempCopy(ns.dataDir));
    const pg = await PostgresStore.open(target);
    try {
      let n = 0;
      for (const { kind, key, value } of source.records()) {
        assert.equal(JSON.parse(JSON.stringify((await pg.get(kind, ...(key as [never])))!)), JSON.parse(JSON.stringify(value)), `${kind} ${JSON.stringify(key)}`);
        n++;
      }
      assert.is(n, r.total);
      assert.is((await pg.listUsers(srv, { filter: [{ key: 'team', values: ['1'] }] })).totalnumber, 10, "the copy's indexes answer listings");
      assert.is((await pg.findAccountByPk(srv, (await source.get('account', srv, acc))!.pk))?.id, acc);
    } finally {
      await pg.close();
      await source.close();
    }
    // Into a store that is not empty: refused, nothing written.
    fails(await cli(['store', 'copy', '--from', ns.dataDir, '--to', target]), 1, 'NOT_EMPTY', 'a second copy');
    fails(await cli(['store', 'copy', '--from', ns.dataDir]), 2, '--to', 'no target');
    fails(await cli(['store', 'copy', '--from', path.join(tmp, 'nothing-here'), '--to', target]), 1, 'NO_DATA', 'no data folder');
  });
}

/** A copy of a data folder to open without touching it (opening a lowdb store folds its journals). */
function mkdtempCopy(dir: string): string {
  const copy = mkdtempSync(path.join(tmp, 'copy-'));
  for (const name of readdirSync(dir)) if (name !== RUN_LOCK_FILE) writeFileSync(path.join(copy, name), readFileSync(path.join(dir, name)));
  return copy;
}

test.run();
