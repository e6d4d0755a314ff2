/**
 * The NS under test, in its own process: started with the real CLI, measured from outside
 * (/proc/<pid>/stat and /status, its data folder, /metrics) and through bench/probe.mjs (CPU
 * time in µs and heap after a full GC).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, watch, type FSWatcher } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, ensureServerBuild, ensureWebBuild } from '../../scripts/build.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A store's counters as the server's /metrics shows them. */
export type StoreStats = {
  changes: number;
  /** journal appends and whole-file writes */
  writes: number;
  /** whole-file writes */
  snapshots: number;
};

export interface ProbeSample {
  /** process.cpuUsage() of the server, µs */
  cpu: { user: number; system: number };
  mem: NodeJS.MemoryUsage;
}

export interface ServerSample {
  at: number;
  /** user + system CPU of the server, µs (process.cpuUsage via the probe) */
  cpuUs: number;
  /** user + system CPU from /proc/<pid>/stat, µs (clock-tick resolution) */
  procCpuUs: number;
  /** the same summed over the server and its child processes (the workers of `--workers N`), µs */
  treeCpuUs: number;
  /** the same per process (pid → µs) */
  cpuUsByPid: Record<number, number>;
  /** of treeCpuUs, the time in the kernel (stime: system calls, the sockets' work), µs */
  treeSystemUs: number;
  /** the server's processes: its own, or the primary's and its workers' */
  pids: number[];
  /** VmRSS from /proc/<pid>/status, bytes */
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** open file descriptors of the server */
  fds: number;
  /** whole-file store writes seen so far in the data folder (renames onto nextauth.json, sessions.json; journal appends are not seen) */
  fileWrites: Record<string, number>;
  /** changes and writes per store as the server counts them (/metrics nextauth_store_*), if it does */
  stores: Record<string, StoreStats>;
  /** size of each data file and journal now, bytes (a JSON file is written whole; a journal is appended to) */
  fileBytes: Record<string, number>;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** A process's /proc/<pid>/stat: its name, parent, utime + stime, and its waited-for children's (cutime + cstime), µs; undefined once it is gone. */
export function procStat(pid: number): { comm: string; ppid: number; cpuUs: number; systemUs: number; childrenCpuUs: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); ppid is field 4; utime, stime, cutime, cstime are fields 14 to 17.
  const us = (i: number, j: number) => ((Number(fields[i]) + Number(fields[j])) / CLK_TCK) * 1e6;
  const system = (Number(fields[12]) / CLK_TCK) * 1e6;
  return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ppid: Number(fields[1]), cpuUs: us(11, 12), systemUs: system, childrenCpuUs: us(13, 14) };
}

/** utime + stime of a process, µs. */
export function procCpuUs(pid: number): number {
  const stat = procStat(pid);
  if (!stat) throw new Error(`no process ${pid}`);
  return stat.cpuUs;
}

/** The processes whose parent is `pid` (the workers of `nextauth start --workers N`). */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (procStat(Number(name))?.ppid === pid) children.push(Number(name));
  }
  return children;
}

/** A line of /proc/<pid>/status in bytes (VmRSS, VmHWM…). */
export function procStatusBytes(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

export const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/** The soft limit of open files of a process. */
export function fdLimit(pid: number | 'self' = 'self'): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/**
 * A bench script in a process of its own (`node --import tsx <script> <args>`), once it printed
 * `listening <port>`: its `http://127.0.0.1:<port>`, pid, and a stop.
 */
export async function startListening(script: string, args: string[] = []): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const port = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code})`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface StartOptions {
  rootKey: string;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  /** Extra flags of `nextauth start`. */
  serverFlags?: string[];
  /** A data folder to start on (kept at stop); none: a fresh temp folder (removed at stop). */
  dataDir?: string;
  /** Environment variables beside the driver's (e.g. NEXTAUTH_DATABASE_URL, NEXTAUTH_REDIS_URL: a cluster process). */
  env?: Record<string, string>;
  /** A line of the server's stdout to wait for after the first (e.g. `N workers running` with --workers N). */
  readyLine?: RegExp;
}

export class NsProcess {
  readonly #child: ChildProcess;
  readonly #watcher: FSWatcher;
  readonly #writes: Record<string, number> = {};
  #seq = 0;
  readonly #pending = new Map<number, (s: ProbeSample) => void>();
  stderr = '';

  private constructor(
    child: ChildProcess,
    readonly url: string,
    readonly dataDir: string,
    private readonly ownsData: boolean,
  ) {
    this.#child = child;
    // Every whole-file store write ends with a rename of its temp file onto the file (inotify
    // IN_MOVED_TO); journal appends are not counted here.
    this.#watcher = watch(dataDir, (event, name) => {
      if (event === 'rename' && name && name.endsWith('.json')) this.#writes[name] = (this.#writes[name] ?? 0) + 1;
    });
    child.on('message', (m: { probe?: string; id: number } & ProbeSample) => {
      if (m?.probe !== 'sample') return;
      this.#pending.get(m.id)?.(m);
      this.#pending.delete(m.id);
    });
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** The server's process and its children (with `--workers N`, the primary and its workers). */
  pids(): number[] {
    return [this.pid, ...childPids(this.pid)];
  }

  get appUrl(): string {
    return `${this.url.replace(/^http/, 'ws')}/ns/sigmai`;
  }

  static async start(opts: StartOptions): Promise<NsProcess> {
    ensureWebBuild(); // the browser files the server reads at start (dist/web)
    ensureServerBuild(); // the server as `npm start` runs it (dist/server)
    const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'nextauth-bench-'));
    const args = [
      '--expose-gc',
      ...(opts.nodeFlags ?? []),
      '--import',
      './bench/probe.mjs',
      ...CLI,
      'start',
      '--port',
      '0',
      '--data',
      dataDir,
      '--log-level',
      'warn',
      '--demo',
      'false',
      '--root-api-key',
      opts.rootKey,
      // One load generator is one client: §7's per-client limits would stop it.
      '--rest-rate',
      '100000000/1',
      '--hello-rate',
      '100000000/1',
      // and (b)'s 20,000 waiting browsers are one source: §7 lets one hold 256 sockets.
      '--connections-per-source',
      '1000000',
      ...(opts.serverFlags ?? []),
    ];
    const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    let stderr = '';
    child.stdout!.resume(); // the JSON log (at --log-level warn: next to nothing)
    // The banner is on stderr (with --workers, wait for the primary's "N workers running" too).
    const listening = new Promise<string>((resolve, reject) => {
      const onData = (d: Buffer) => {
        stderr += d;
        const m = /^nextAuth server listening on (http:\/\/\S+)/m.exec(stderr);
        if (!m || (opts.readyLine && !opts.readyLine.test(stderr))) return;
        child.stderr!.off('data', onData);
        resolve(m[1]!);
      };
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening:\n${stderr}`)));
    });
    let url: string;
    try {
      url = await listening;
    } catch (e) {
      // Nothing of a server that did not start stays behind: its process, its fresh data folder.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (opts.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
      throw e;
    }
    const ns = new NsProcess(child, url, dataDir, opts.dataDir === undefined);
    child.stderr!.on('data', (d) => (ns.stderr = (ns.stderr + d).slice(-20_000)));
    ns.stderr = stderr;
    return ns;
  }

  /** CPU and memory of the server now; `gc` runs two full collections first (heap figures). */
  async sample(gc = false): Promise<ServerSample> {
    const id = ++this.#seq;
    const probe = await new Promise<ProbeSample>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the server probe did not answer')), 30_000);
      this.#pending.set(id, (s) => (clearTimeout(timer), resolve(s)));
      this.#child.send({ probe: 'sample', id, gc });
    });
    const stores = await this.storeStats();
    const pids = this.pids();
    const stats = pids.map((pid) => [pid, procStat(pid)] as const);
    const cpuUsByPid = Object.fromEntries(stats.map(([pid, stat]) => [pid, stat?.cpuUs ?? 0]));
    const treeSystemUs = stats.reduce((sum, [, stat]) => sum + (stat?.systemUs ?? 0), 0);
    return {
      at: performance.now(),
      cpuUs: probe.cpu.user + probe.cpu.system,
      procCpuUs: procCpuUs(this.pid),
      treeCpuUs: Object.values(cpuUsByPid).reduce((sum, us) => sum + us, 0),
      cpuUsByPid,
      treeSystemUs,
      pids,
      rss: procStatusBytes(this.pid, 'VmRSS'),
      heapUsed: probe.mem.heapUsed,
      heapTotal: probe.mem.heapTotal,
      external: probe.mem.external,
      fds: fdCount(this.pid),
      fileWrites: { ...this.#writes },
      stores,
      fileBytes: Object.fromEntries(
        readdirSync(this.dataDir)
          .filter((f) => f.endsWith('.json') || f.endsWith('.journal'))
          .map((f) => [f, statSync(path.join(this.dataDir, f)).size]),
      ),
    };
  }

  /** The server's /metrics as a map of `name{labels}` → value. */
  async metrics(): Promise<Map<string, number>> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const map = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const i = line.lastIndexOf(' ');
      map.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
    return map;
  }

  /** Store changes and writes per store as the server counts them (/metrics `nextauth_store_changes{store=…}`). */
  async storeStats(): Promise<Record<string, StoreStats>> {
    const stores: Record<string, StoreStats> = {};
    for (const [key, value] of await this.metrics()) {
      const m = /^nextauth_store_(changes|writes|snapshots)(?:_total)?\{store="([^"]+)"\}$/.exec(key);
      if (!m) continue;
      const entry = (stores[m[2]!] ??= { changes: 0, writes: 0, snapshots: 0 });
      entry[m[1] as keyof StoreStats] = value;
    }
    return stores;
  }

  /**
   * Why the server does not answer: whether its CPU time still moves over `ms`, and what its
   * main thread waits on (e.g. futex_wait_queue: blocked on a lock, see bench/README.md).
   */
  async diagnose(ms = 2000): Promise<{ alive: boolean; cpuUsOverWindow: number; mainThreadState: string; mainThreadWchan: string }> {
    const alive = this.#child.exitCode === null && this.#child.signalCode === null;
    if (!alive) return { alive, cpuUsOverWindow: 0, mainThreadState: 'exited', mainThreadWchan: '' };
    const a = procCpuUs(this.pid);
    await new Promise((r) => setTimeout(r, ms));
    const stat = readFileSync(`/proc/${this.pid}/task/${this.pid}/stat`, 'utf8');
    return {
      alive,
      cpuUsOverWindow: procCpuUs(this.pid) - a,
      mainThreadState: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!,
      mainThreadWchan: readFileSync(`/proc/${this.pid}/task/${this.pid}/wchan`, 'utf8'),
    };
  }

  /** SIGTERM, wait for the exit (the store flushes; a primary stops its workers first), remove the data folder. */
  async stop(): Promise<void> {
    this.#watcher.close();
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      const workers = childPids(this.pid);
      const exited = new Promise((r) => this.#child.once('exit', r));
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      // Workers a primary killed after 10 s left behind (a primary that stops by itself waits for them).
      for (const pid of workers) {
        try {
          if (procStat(pid)?.comm === 'node') process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
    if (this.ownsData) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
