/**
 * The `nextauth` command line run as a child process, compiled as users run it (test/cli/): its
 * exit code and output, and the checks the tests make of them.
 */
import { spawn } from 'node:child_process';
import * as assert from 'uvu/assert';
import { CLI } from '../../scripts/build.ts';
import { ROOT } from './child.ts';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `nextauth …` as a child process (cwd: the repository); `input` goes to its stdin. */
export function cli(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  for (const name of ['NEXTAUTH_URL', 'NEXTAUTH_API_KEY', 'NEXTAUTH_DATA']) delete env[name];
  Object.assign(env, opts.env);
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  if (opts.input !== undefined) child.stdin.write(opts.input);
  child.stdin.end();
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** A run that succeeded (exit 0). */
export function ok(r: Run, what: string): Run {
  assert.is(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
  return r;
}

/** The JSON a run that succeeded printed (`--json`). */
export const okJson = <T = any>(r: Run, what: string): T => JSON.parse(ok(r, what).stdout) as T;

/** A failed run: its exit code, and stderr naming `text`. */
export function fails(r: Run, code: number, text: string | RegExp, what: string): void {
  assert.is(r.code, code, `${what}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  assert.match(r.stderr, text, `${what}: stderr ${r.stderr}`);
}
