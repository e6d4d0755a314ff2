/**
 * The real server as a child process: the `nextauth start` command line (`node --import tsx
 * src/cli/cli.ts start --port 0 ...`) on a data folder, its URL read from the "listening" line, and a
 * small REST client for it. Used by the durability tests, which kill, stop and restart it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { CLI, ensureServerBuild, ensureWebBuild } from '../../scripts/build.ts';

/** The project folder (the child runs there). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Cli {
  process: ChildProcess;
  pid: number;
  /** Date.now() when it was spawned. */
  spawnedAt: number;
  stdout: () => string;
  stderr: () => string;
  /** The URL of the first stdout line, or an error if the process ends first. */
  listening: Promise<string>;
  exit: Promise<Exit>;
}

export interface CliOptions {
  /** The global root api key (`--root-api-key`). */
  rootApiKey: string;
  /** `--log-level` (default warn). */
  logLevel?: string;
  /** More environment (a cluster process: NEXTAUTH_DATABASE_URL, NEXTAUTH_REDIS_URL…). */
  env?: Record<string, string>;
}

/** The children not ended yet: never leave a server behind, whatever a test does. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts `nextauth start` on `dataDir` (port 0, log level warn unless given, no demo); its other settings come from the environment. */
export function startCli(dataDir: string, options: CliOptions): Cli {
  ensureWebBuild(); // the browser files the server reads at start
  ensureServerBuild(); // the CLI, compiled
  const logLevel = options.logLevel ?? 'warn';
  const child = spawn(process.execPath, [...CLI, 'start', '--port', '0', '--data', dataDir, '--log-level', logLevel, '--demo', 'false', '--root-api-key', options.rootApiKey], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NEXTAUTH_LOG_LEVEL: logLevel, ...options.env },
  });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  const exit = new Promise<Exit>((resolve) =>
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  // The banner is on stderr (stdout is the JSON log).
  const listening = new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      err += d;
      const m = /^nextAuth server listening on (http:\/\/\S+)/m.exec(err);
      if (m) resolve(m[1]!);
    });
    void exit.then(({ code, signal }) => reject(new Error(`the server ended (code ${code}, signal ${signal}) before listening; stderr: ${err}`)));
  });
  listening.catch(() => {});
  return { process: child, pid: child.pid!, spawnedAt: Date.now(), stdout: () => out, stderr: () => err, listening, exit };
}

/** SIGKILLs every child still running. */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** A graceful stop: SIGTERM, and exit code 0. */
export async function stopCli(cli: Cli): Promise<void> {
  // One answered request first: the CLI prints its "listening" line a moment before it installs
  // its signal handlers (see stop.test.ts), and this is not about that.
  await fetch(`${await cli.listening}/healthz`);
  cli.process.kill('SIGTERM');
  const { code } = await cli.exit;
  assert.is(code, 0, `graceful stop: ${cli.stderr()}`);
}

export interface Reply {
  status: number;
  body: any;
  raw: Buffer;
}

export type CliApi = (url: string, method: string, route: string, opts?: { body?: unknown; headers?: Record<string, string> }) => Promise<Reply>;

/**
 * A REST client for a child: sends `key` as X-Apikey, a JSON body if any; the body of the reply is
 * parsed when it is JSON. `timeoutMs`: each request is aborted after that long (default: never).
 */
export function cliApi(key: string, options: { timeoutMs?: number } = {}): CliApi {
  return async (url, method, route, opts = {}) => {
    const res = await fetch(url + route, {
      method,
      headers: { 'x-apikey': key, ...opts.headers, ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      ...(options.timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(options.timeoutMs) }),
    });
    const raw = Buffer.from(await res.arrayBuffer());
    const json = (res.headers.get('content-type') ?? '').includes('json') && raw.length > 0;
    return { status: res.status, body: json ? JSON.parse(raw.toString('utf8')) : raw.toString('utf8'), raw };
  };
}
