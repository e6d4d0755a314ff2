/**
 * The compiled server (`npm run build` → dist/server, what `npm start` and bin/nextauth.js run):
 * it imports nothing but node's own modules, its chunks and the packages of `dependencies` (no
 * tsx, esbuild or mermaid at run time: those are devDependencies, used to build); bin/nextauth.js
 * runs it; and it starts a real server on a temp data folder that serves its pages.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildServer, ensureWebBuild, SERVER_DIR, whyStale } from '../../scripts/build.ts';
import { ROOT } from '../helpers/child.ts';
import { until } from '../helpers/peers.ts';

if (whyStale(SERVER_DIR, true)) buildServer();
ensureWebBuild();

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

/** A package name from an import specifier (`@scope/name/sub` → `@scope/name`). */
const packageOf = (spec: string) =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');

test('dist/server imports only node, its own chunks and runtime dependencies (not tsx, esbuild, mermaid)', () => {
  const seen = new Set<string>();
  for (const file of readdirSync(SERVER_DIR).filter((f) => f.endsWith('.js'))) {
    const code = readFileSync(path.join(SERVER_DIR, file), 'utf8');
    for (const m of code.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^import\s*["']([^"']+)["']/gm)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      if (spec.startsWith('./') || spec.startsWith('node:') || builtinModules.includes(spec)) continue;
      seen.add(packageOf(spec));
    }
  }
  assert.ok(seen.has('fastify') && seen.has('xstate'), `the scan finds packages (${[...seen].join(', ')})`);
  const notRuntime = [...seen].filter((name) => !(name in pkg.dependencies));
  assert.equal(notRuntime, [], 'every package it imports is a runtime dependency');
  for (const dev of ['tsx', 'esbuild', 'mermaid']) {
    assert.not.ok(dev in pkg.dependencies, `${dev} is not a runtime dependency`);
    assert.ok(dev in pkg.devDependencies, `${dev} is a devDependency (the build uses it)`);
  }
});

/** Runs bin/nextauth.js with `args`; resolves its exit code and output. */
function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'nextauth.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

test('bin/nextauth.js runs the compiled CLI: help, and an admin command on a data folder', async () => {
  const help = await run(['help']);
  assert.is(help.code, 0, help.err);
  assert.match(help.out, 'nextauth <command> [options]');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-compiled-'));
  try {
    const made = await run(['server', 'create', '--name', 'Compiled', '--data', dir, '--json']);
    assert.is(made.code, 0, made.err);
    const listed = await run(['server', 'list', '--data', dir, '--json']);
    assert.is(listed.code, 0, listed.err);
    assert.match(listed.out, 'Compiled');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the compiled server starts on a temp data folder, serves the API and the browser files, and stops on SIGTERM', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-compiled-'));
  const child = spawn(process.execPath, [path.join(SERVER_DIR, 'cli.js'), 'start', '--port', '0', '--data', dir, '--demo', 'false', '--log-level', 'warn'], {
    cwd: os.tmpdir(), // not the project folder: it finds dist/web from where it is
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await until(() => /listening on (http:\/\/\S+)/.test(out), `listening (${out})`, 15_000);
    const url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
    const key = /Root api key \(shown once, keep it safe\): (\S+)/.exec(out)?.[1];
    assert.ok(key, out);
    const servers = await fetch(`${url}/servers/`, { headers: { 'x-apikey': key } });
    assert.is(servers.status, 200);
    const script = await fetch(`${url}/ns/nextauth.js`);
    assert.is(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', 'javascript');
    child.kill('SIGTERM');
    assert.is(await exited, 0, out);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
