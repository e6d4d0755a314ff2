/**
 * A PostgreSQL and a Redis of one test file's own, for the fault tests that stop, kill and
 * restart them (test/flows/cluster-faults.test.ts): the machine's shared ones (services.ts) serve
 * the other files running at the same time and must never be stopped.
 *
 *   const pg = await privatePostgres();   // undefined: its tools are missing (the skip line printed)
 *   const redis = await privateRedis();
 *   pg.url; await pg.stop('immediate'); await pg.start();
 *   redis.url; await redis.kill(); await redis.start();   // started again empty: Redis keeps nothing on disk
 *   await Promise.all([pg.remove(), redis.remove()]);     // at the end (an exit of the test process stops both too)
 *
 * PostgreSQL: a cluster made by Debian's `initdb` in a temp folder (trust auth, user `postgres`,
 * fsync off), its socket in that folder, listening on a free port of 127.0.0.1, run by `pg_ctl`.
 * PostgreSQL refuses to run as root, so when the tests run as root (CI does) the folder is given
 * to the `postgres` user and the tools run as it (`runuser`). Redis: `redis-server` as a child,
 * with no snapshot and no append-only file, on a free port it keeps across restarts.
 *
 * A missing tool is one printed line and undefined (the file's tests skip); under `CI=true` it
 * throws instead: a skip is a failure there (as in services.ts).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Prints why the file's tests skip (undefined), or throws under CI=true. */
function missing(why: string): undefined {
  if (process.env.CI === 'true') throw new Error(`CI=true and ${why}: its tests cannot be skipped in CI`);
  console.log(`skipped: ${why}`);
  return undefined;
}

/** A free TCP port of 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Whether something accepts connections on 127.0.0.1:`port`. */
function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Things to stop when the test process ends, however it ends. */
const atExit = new Set<() => void>();
process.on('exit', () => {
  for (const stop of atExit) stop();
});

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  start(): Promise<void>;
  /** `pg_ctl stop`: `fast` ends the sessions and shuts down cleanly, `immediate` quits at once (a crash, recovered at the next start). */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  /** Stops it and deletes its folder. */
  remove(): Promise<void>;
}

/** A new PostgreSQL cluster of this process, started; undefined (skip line printed) without Debian's PostgreSQL tools. */
export async function privatePostgres(): Promise<PrivatePostgres | undefined> {
  const root = '/usr/lib/postgresql';
  const version = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))[0]
    : undefined;
  if (!version) return missing(`PostgreSQL's initdb is not installed (${root}/*/bin; apt-get install -y postgresql)`);
  const bin = (tool: string) => path.join(root, version, 'bin', tool);
  const asRoot = process.getuid?.() === 0;
  /** Runs a PostgreSQL tool, as the `postgres` user when this process is root. */
  const run = (tool: string, args: string[]) =>
    execFileSync(asRoot ? 'runuser' : bin(tool), asRoot ? ['-u', 'postgres', '--', bin(tool), ...args] : args, { stdio: 'pipe', encoding: 'utf8' });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-pg-'));
  const data = path.join(dir, 'data');
  if (asRoot) {
    const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' })));
    chownSync(dir, uid!, gid!);
  }
  const port = await freePort();
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const stop = (mode: 'fast' | 'immediate') => {
    try {
      run('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
    } catch (e) {
      // Already stopped: nothing to do.
      if (!/Is server running\?/.test(String((e as { stderr?: string }).stderr))) throw e;
    }
  };
  const onExit = () => {
    try {
      stop('immediate');
    } catch {}
  };
  atExit.add(onExit);
  const pg: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: async () => void run('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'log'), '-w', 'start']),
    stop: async (mode) => stop(mode),
    remove: async () => {
      stop('immediate');
      atExit.delete(onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await pg.start();
  return pg;
}

export interface PrivateRedis {
  /** redis://127.0.0.1:PORT */
  url: string;
  /** Starts it (again) on its port, empty; resolves once it takes connections. */
  start(): Promise<void>;
  /** SIGKILL: gone at once, and with it everything it held. */
  kill(): Promise<void>;
  remove(): Promise<void>;
}

/** A `redis-server` of this process, started; undefined (skip line printed) when it is not installed. */
export async function privateRedis(): Promise<PrivateRedis | undefined> {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    return missing('redis-server is not installed (apt-get install -y redis-server)');
  }
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  const onExit = () => child?.kill('SIGKILL');
  atExit.add(onExit);
  const redis: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      if (child) throw new Error('the private Redis is running already');
      let err = '';
      const started = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'ignore', 'pipe'] });
      started.stderr!.on('data', (d) => (err += d));
      child = started;
      exited = new Promise((resolve) => started.once('exit', resolve));
      const end = Date.now() + 10_000;
      while (!(await accepting(port))) {
        if (started.exitCode !== null || Date.now() > end) throw new Error(`redis-server on port ${port} did not start: ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async kill() {
      child?.kill('SIGKILL');
      await exited;
      child = undefined;
    },
    async remove() {
      await redis.kill();
      atExit.delete(onExit);
    },
  };
  await redis.start();
  return redis;
}
