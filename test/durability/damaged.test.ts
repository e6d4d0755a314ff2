/**
 * Damaged files, with the real command line as a child process: a data file that does not parse
 * at start is never overwritten. The server refuses to start (exit code not 0) with a message
 * naming the file and the last good copy beside it (`.bak`, rotated on each successful start);
 * the damaged file and the copy keep their bytes; copying the `.bak` back brings the data back.
 */
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCli, stopCli } from '../helpers/child.ts';

const KEY = 'durability-root-key-0123456789';
const startServer = (dataDir: string) => startCli(dataDir, { rootApiKey: KEY });

async function api(url: string, method: string, route: string, body?: unknown) {
  const res = await fetch(url + route, {
    method,
    headers: { 'x-apikey': KEY, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const dirs: string[] = [];
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A data folder after two good starts (so both .bak exist), holding a server and a global attribute. */
async function preparedFolder(): Promise<{ dir: string; serverid: string }> {
  const base = mkdtempSync(path.join(os.tmpdir(), 'nextauth-damaged-'));
  dirs.push(base);
  const dir = path.join(base, 'data');
  let cli = startServer(dir);
  let url = await cli.listening;
  const serverid = (await api(url, 'POST', '/servers/', { serverName: 'Kept' })).body.serverid as string;
  assert.is((await api(url, 'PUT', '/attributes/', { kept: 'yes' })).status, 200);
  await stopCli(cli);
  cli = startServer(dir);
  url = await cli.listening;
  await stopCli(cli);
  return { dir, serverid };
}

const damages: Record<string, (good: string) => string> = {
  truncated: (good) => good.slice(0, Math.floor(good.length / 2)),
  empty: () => '',
};

test('a damaged nextauth.json or sessions.json: the CLI refuses to start, names the file and its .bak, changes no byte; the .bak brings it back', async () => {
  const { dir, serverid } = await preparedFolder();
  for (const name of ['nextauth.json', 'sessions.json']) {
    const file = path.join(dir, name);
    const good = readFileSync(file, 'utf8');
    const bak = readFileSync(`${file}.bak`);
    for (const [kind, damage] of Object.entries(damages)) {
      const what = `${name} ${kind}`;
      writeFileSync(file, damage(good));
      const bytes = readFileSync(file);
      const others = otherFiles(dir, name);
      const cli = startServer(dir);
      const timer = setTimeout(() => cli.process.kill('SIGKILL'), 15_000);
      const { code, signal } = await cli.exit;
      clearTimeout(timer);
      assert.is(signal, null, `${what}: the CLI ended by itself`);
      assert.ok(code !== 0 && code !== null, `${what}: exit code ${code}`);
      assert.not.match(cli.stderr(), 'listening', `${what}: it did not start`);
      const stderr = cli.stderr();
      assert.ok(stderr.includes(file), `${what}: stderr names ${file}: ${stderr}`);
      assert.ok(stderr.includes(`${file}.bak`), `${what}: stderr names the last good copy: ${stderr}`);
      assert.not.match(stderr, /\n\s+at /, `${what}: a message, not a stack trace`);
      assert.equal(readFileSync(file), bytes, `${what}: the damaged file keeps its bytes`);
      assert.equal(readFileSync(`${file}.bak`), bak, `${what}: the last good copy keeps its bytes`);
      if (name === 'nextauth.json') assert.equal(otherFiles(dir, name), others, `${what}: sessions.json and its .bak were not touched`);
      assert.equal(
        readdirSync(dir).filter((f) => f.endsWith('.tmp')),
        [],
        `${what}: no write was begun`,
      );
    }
    // The way back the message gives: copy the .bak over the damaged file.
    copyFileSync(`${file}.bak`, file);
    const cli = startServer(dir);
    const url = await cli.listening;
    assert.is((await api(url, 'GET', `/servers/${serverid}/`)).status, 200, `${name} restored: the data is back`);
    assert.equal((await api(url, 'GET', '/attributes/')).body, { kept: 'yes' });
    await stopCli(cli);
  }
});

/** The bytes of every data file of the folder but `name` and its .bak (not the run lock). */
function otherFiles(dir: string, name: string): Record<string, string> {
  const files = readdirSync(dir)
    .filter((f) => f !== name && f !== `${name}.bak` && f !== 'nextauth.run')
    .sort();
  return Object.fromEntries(files.map((f) => [f, readFileSync(path.join(dir, f), 'base64')]));
}

test.run();
