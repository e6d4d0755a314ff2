/**
 * Runs every `test/**\/*.test.ts` file (uvu) in its own process, two at a time, and ends with
 * the line `N passed, N failed`. A file that dies without uvu's summary counts as one failure.
 * First it builds the browser files (dist/web, scripts/build.ts) when they are missing or stale:
 * the servers the tests start serve them; and the npm packages (packages/<name>/dist) when a file
 * to run uses them (it calls ensurePackagesBuild) and they are missing or stale.
 *
 *   npm test                 every file
 *   npm test -- store api    only files whose path under test/ contains "store" or "api"
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePackagesBuild, ensureServerBuild, ensureWebBuild } from '../scripts/build.ts';
import { CHROMIUM } from './helpers/browser.ts';

const root = path.dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);

function find(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return find(full);
    return name.endsWith('.test.ts') ? [full] : [];
  });
}

const files = find(root)
  .filter((f) => filters.length === 0 || filters.some((x) => path.relative(root, f).includes(x)))
  .sort();

interface Outcome {
  file: string;
  passed: number;
  failed: number;
  output: string;
  ms: number;
}

function runFile(file: string): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      env: { ...process.env, NEXTAUTH_LOG_LEVEL: process.env.NEXTAUTH_LOG_LEVEL ?? 'silent', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 5 * 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const total = /Total:\s+(\d+)/.exec(output);
      const passed = /Passed:\s+(\d+)/.exec(output);
      let p = passed ? Number(passed[1]) : 0;
      let f = total ? Number(total[1]) - p : 0;
      if (!total || (code !== 0 && f === 0)) {
        f = Math.max(f, 1);
        p = Math.min(p, total ? Number(total[1]) - 1 : 0);
      }
      resolve({ file, passed: p, failed: f, output, ms: Date.now() - started });
    });
  });
}

// Files that drive a real browser need Chromium: without it, stop at once and say how to get it.
const needBrowser = files.filter((f) => readFileSync(f, 'utf8').includes('helpers/browser.ts'));
if (needBrowser.length > 0 && !existsSync(CHROMIUM)) {
  console.log(
    `Chromium is not at ${CHROMIUM}, and ${needBrowser.length} test files drive it: install it (Debian/Ubuntu: apt-get install -y chromium), or set CHROMIUM_PATH to one.`,
  );
  console.log('0 passed, 1 failed');
  process.exit(1);
}

try {
  ensureWebBuild();
  ensureServerBuild(); // the test files that start the CLI run it compiled, as users do
  // Before any file runs: two files building the packages at once would trip over each other.
  if (files.some((f) => readFileSync(f, 'utf8').includes('ensurePackagesBuild'))) ensurePackagesBuild();
} catch (e) {
  console.log(`npm run build failed: ${e instanceof Error ? e.message : String(e)}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const parallel = Math.max(1, Math.min(os.availableParallelism(), Number(process.env.TEST_JOBS ?? 2)));
const queue = [...files];
const outcomes: Outcome[] = [];
await Promise.all(
  Array.from({ length: parallel }, async () => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      const o = await runFile(file);
      outcomes.push(o);
      const name = path.relative(root, o.file);
      console.log(`${o.failed ? 'FAIL' : 'ok  '} ${name}  ${o.passed} passed, ${o.failed} failed  (${(o.ms / 1000).toFixed(1)} s)`);
      if (o.failed) console.log(o.output.replace(/^/gm, '    '));
    }
  }),
);
const passed = outcomes.reduce((n, o) => n + o.passed, 0);
const failed = outcomes.reduce((n, o) => n + o.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
