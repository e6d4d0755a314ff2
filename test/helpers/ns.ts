/**
 * Starts a real NS on 127.0.0.1 with an ephemeral port and a temp data folder, and gives tests a
 * small REST client. No mocks: the store, the sockets and the server are the real ones.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config.ts';
import { startServer, type RunningServer, type StartOptions } from '../../src/main.ts';
import { ensureWebBuild } from '../../scripts/build.ts';
import { LowdbStore } from '../../src/adapters/lowdb/lowdb-store.ts';

export const ROOT_KEY = 'test-root-key-0123456789abcdef';

export interface Reply<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
  raw: Uint8Array;
}

export interface TestServer extends Omit<RunningServer, 'store'> {
  /** The embedded store (a test server started as a cluster process has none: reading this throws). */
  store: LowdbStore;
  dataDir: string;
  rootKey: string;
  /** Calls the REST API; `key` defaults to the root key (pass null for none). */
  api<T = any>(method: string, url: string, opts?: { key?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<Reply<T>>;
  /** Stops the server (and keeps the data folder unless `remove`). */
  stop(remove?: boolean): Promise<void>;
  /** Stops and starts again on the same data folder. */
  restart(): Promise<TestServer>;
}

/** The REST client of `TestServer.api` for an NS at `base` (http://host:port), e.g. one running as a child process. */
export function restClient(base: string, rootKey = ROOT_KEY): TestServer['api'] {
  return async (method, url, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    const key = opts.key === undefined ? rootKey : opts.key;
    if (key !== null) headers['x-apikey'] = key;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(base + url, { method, headers, body });
    const raw = new Uint8Array(await res.arrayBuffer());
    const text = Buffer.from(raw).toString('utf8');
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') parsed = JSON.parse(text);
    return { status: res.status, body: parsed as any, headers: res.headers, raw };
  };
}

export async function startTestServer(env: Record<string, string> = {}, dataDir?: string, options: StartOptions = {}): Promise<TestServer> {
  ensureWebBuild(); // the browser files the server serves (test/run.ts built them already; a file run alone may not have)
  const dir = dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'nextauth-test-'));
  const config: Config = loadConfig(new Map(), {
    NEXTAUTH_HOST: '127.0.0.1',
    NEXTAUTH_PORT: '0',
    NEXTAUTH_DATA: dir,
    NEXTAUTH_ROOT_API_KEY: ROOT_KEY,
    NEXTAUTH_LOG_LEVEL: process.env.NEXTAUTH_LOG_LEVEL ?? 'silent',
    NEXTAUTH_DEMO: 'false',
    // A test is one client making thousands of requests: §7's per-client REST limits are lifted
    // unless a test sets them (test/transports/http/rest-limits.test.ts does).
    NEXTAUTH_REST_RATE: '100000000/1',
    NEXTAUTH_REST_UNKNOWN_KEY_RATE: '100000000/1',
    ...env,
  });
  const server = await startServer(config, options);
  const api = restClient(server.url);
  const stop = async (remove = false) => {
    await server.close();
    if (remove) rmSync(dir, { recursive: true, force: true });
  };
  return {
    ...server,
    get store(): LowdbStore {
      if (!(server.store instanceof LowdbStore)) throw new Error('this test server is a cluster process: its records are in PostgreSQL');
      return server.store;
    },
    dataDir: dir,
    rootKey: ROOT_KEY,
    api,
    stop,
    restart: async () => (await stop(), startTestServer(env, dir, options)),
  };
}
