/**
 * The root key is never lost: a first start that cannot listen writes nothing to the data
 * folder (so the next start makes the key and shows it), and `nextauth key reset-root` on a
 * stopped data folder prints a new root key and revokes the old one.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freshFolder } from '../../src/adapters/lowdb/fresh-folder.ts';
import { ROOT } from '../helpers/child.ts';
import { until } from '../helpers/peers.ts';
import { CLI, ensureServerBuild, ensureWebBuild } from '../../scripts/build.ts';

ensureWebBuild();
ensureServerBuild(); // the CLI runs compiled, as users run it
const tmp = mkdtempSync(path.join(os.tmpdir(), 'nextauth-rootkey-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `nextauth …` as a child process (no NEXTAUTH_* from this environment). */
function nextauth(args: string[]): { done: Promise<Run>; stderr: () => string; kill: (signal: NodeJS.Signals) => void } {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  for (const name of Object.keys(env)) if (name.startsWith('NEXTAUTH_')) delete env[name];
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return {
    done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))),
    stderr: () => stderr,
    kill: (signal) => child.kill(signal),
  };
}

/** Starts a server on `dir` (port 0), waits until it listens; its URL, root key (if shown) and stop. */
async function started(dir: string) {
  const run = nextauth(['start', '--port', '0', '--data', dir, '--demo', 'false', '--log-level', 'warn']);
  // The banner and the root key are on stderr (stdout is the JSON log).
  try {
    await until(() => /listening on http/.test(run.stderr()), `listening (${run.stderr()})`, 60_000);
  } catch (e) {
    run.kill('SIGKILL'); // never left running: the runner would wait for it
    throw e;
  }
  const url = /listening on (http:\/\/\S+)/.exec(run.stderr())![1]!;
  const key = /Root api key \(shown once, keep it safe\): (\S+)/.exec(run.stderr())?.[1];
  return {
    url,
    key,
    stop: async () => {
      run.kill('SIGTERM');
      assert.is((await run.done).code, 0);
    },
  };
}

const serversWith = async (url: string, key: string) => (await fetch(`${url}/servers/`, { headers: { 'x-apikey': key } })).status;

test('a first start on a taken port says so and writes nothing: a missing folder stays missing, an empty one empty; the next start shows the key', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { port } = taken.address() as net.AddressInfo;
  try {
    const missing = path.join(tmp, 'missing');
    const kept = path.join(tmp, 'kept');
    mkdirSync(kept);
    writeFileSync(path.join(kept, '.gitkeep'), '');
    for (const dir of [missing, kept]) {
      const r = await nextauth(['start', '--port', String(port), '--data', dir, '--demo', 'false']).done;
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, `nextauth: cannot listen on 127.0.0.1:${port}: something else listens there (EADDRINUSE)`);
      assert.not.match(r.stderr, 'Root api key', 'no key shown');
    }
    assert.not.ok(existsSync(missing), 'the missing folder was not made');
    assert.equal(readdirSync(kept), ['.gitkeep'], 'nothing added to the empty one');
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
  const ns = await started(path.join(tmp, 'missing'));
  assert.ok(ns.key, 'the root key, shown on the start that listens');
  assert.is(await serversWith(ns.url, ns.key!), 200);
  await ns.stop();
});

test('freshFolder: undo takes back what a failed first start added (the folder it made, or the entries it added); a folder with a store is not fresh', async () => {
  const made = path.join(tmp, 'made');
  const undoMade = await freshFolder(made);
  mkdirSync(made);
  writeFileSync(path.join(made, 'nextauth.journal'), 'x');
  await undoMade!.undo();
  assert.not.ok(existsSync(made));

  const kept = path.join(tmp, 'kept-entries');
  mkdirSync(kept);
  writeFileSync(path.join(kept, 'notes.txt'), 'mine');
  const undoKept = await freshFolder(kept);
  writeFileSync(path.join(kept, 'nextauth.json'), '{}');
  mkdirSync(path.join(kept, 'sub'));
  await undoKept!.undo();
  assert.equal(readdirSync(kept), ['notes.txt']);

  writeFileSync(path.join(kept, 'nextauth.json'), '{}');
  assert.is(await freshFolder(kept), undefined, 'a folder with a store is not fresh: nothing is ever undone there');
});

test('key reset-root on a stopped folder: a new root key printed, the old one revoked (401), keys made by it kept; refused on a running server', async () => {
  const dir = path.join(tmp, 'reset');
  const first = await started(dir);
  const old = first.key!;
  const made = await fetch(`${first.url}/apikeys/?description=ops`, { method: 'POST', headers: { 'x-apikey': old } });
  assert.is(made.status, 200);
  const ops = ((await made.json()) as { apikey: string }).apikey;
  const refused = await nextauth(['key', 'reset-root', '--url', first.url, '--key', old]).done;
  assert.is(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, 'key reset-root works on the data folder of a stopped server');
  await first.stop();

  const reset = await nextauth(['key', 'reset-root', '--data', dir]).done;
  assert.is(reset.code, 0, reset.stderr);
  const fresh = /Root api key \(shown once, keep it safe\): (\S+)/.exec(reset.stdout)?.[1];
  assert.ok(fresh && fresh !== old, reset.stdout);
  assert.match(reset.stdout, 'The old root key is revoked.');

  const again = await started(dir);
  assert.is(again.key, undefined, 'a start with a root key shows none');
  assert.is(await serversWith(again.url, fresh!), 200, 'the new key is root');
  assert.is(await serversWith(again.url, old), 401, 'the old key is gone');
  const opsKey = await fetch(`${again.url}/apikeys/`, { headers: { 'x-apikey': ops } });
  assert.is(((await opsKey.json()) as { code: string }).code, 'FORBIDDEN', 'a key the old root made is kept (known, and granted nothing)');
  await again.stop();
});

test.run();
