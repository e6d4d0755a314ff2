/**
 * The run lock: `<data>/nextauth.run` says that a server process has the data folder open.
 *
 * The store is one JSON file kept in memory by the process that opened it, so two writers would
 * silently lose each other's changes. A running server writes the lock; the command line reads
 * it and refuses to open the store while the process named in it is alive; while the command line
 * works on the folder it holds the lock itself, so a server does not start under it. A lock left
 * behind by a process that died (kill -9, power loss) is stale: its pid is gone, and it is ignored.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

export const RUN_LOCK_FILE = 'nextauth.run';

export interface RunLock {
  /** The process that holds the data folder. */
  pid: number;
  /** The URL its REST API answers on ("" for the command line). */
  url: string;
  /** ms since epoch. */
  started: number;
  /** Who holds it: a server (the default) or a `nextauth` admin command. */
  by?: 'server' | 'cli';
}

/** The folder is held by another live process. */
export class RunLockError extends Error {
  override name = 'RunLockError';
  constructor(
    readonly dir: string,
    readonly lock: RunLock,
  ) {
    super(
      lock.by === 'cli'
        ? `a nextauth command (pid ${lock.pid}) is working on the data folder ${dir}; try again when it is done`
        : `a server (pid ${lock.pid}) is running on the data folder ${dir} at ${lock.url}` + ` (if no server runs there, remove ${path.join(dir, RUN_LOCK_FILE)})`,
    );
  }
}

const lockPath = (dir: string) => path.join(dir, RUN_LOCK_FILE);

/** Writes the lock for this process (mode 0600, atomically: temp file, then rename), whatever was there. */
export async function writeRunLock(dir: string, url: string, by: 'server' | 'cli' = 'server'): Promise<RunLock> {
  const lock: RunLock = { pid: process.pid, url, started: Date.now(), by };
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = `${lockPath(dir)}.${process.pid}.tmp`;
  await fs.writeFile(temp, `${JSON.stringify(lock)}\n`, { mode: 0o600 });
  await fs.chmod(temp, 0o600);
  await fs.rename(temp, lockPath(dir));
  return lock;
}

/** The lock in the folder, or undefined when there is none (or it does not parse as one). */
export async function readRunLock(dir: string): Promise<RunLock | undefined> {
  let text: string;
  try {
    text = await fs.readFile(lockPath(dir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(text) as Partial<RunLock>;
    if (!Number.isSafeInteger(v.pid) || (v.pid as number) <= 0 || typeof v.url !== 'string') return undefined;
    return { pid: v.pid as number, url: v.url, started: typeof v.started === 'number' ? v.started : 0, by: v.by === 'cli' ? 'cli' : 'server' };
  } catch {
    return undefined;
  }
}

/** True while the process `pid` exists (EPERM: it exists but belongs to another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock of a server that is running now, or undefined (no lock, or a stale one). */
export async function liveRunLock(dir: string): Promise<RunLock | undefined> {
  const lock = await readRunLock(dir);
  return lock && processAlive(lock.pid) ? lock : undefined;
}

/**
 * Takes the lock for this process: made with O_EXCL, so of two processes that start together
 * only one gets it. Throws RunLockError while another live process holds it; replaces a stale
 * lock, or one of this same process.
 */
export async function acquireRunLock(dir: string, url: string, by: 'server' | 'cli' = 'server'): Promise<RunLock> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  for (let attempt = 0; ; attempt++) {
    const lock: RunLock = { pid: process.pid, url, started: Date.now(), by };
    try {
      const handle = await fs.open(lockPath(dir), 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(lock)}\n`);
      } finally {
        await handle.close();
      }
      return lock;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 10) throw e;
    }
    const held = await readRunLock(dir);
    if (held && held.pid !== process.pid && processAlive(held.pid)) throw new RunLockError(dir, held);
    if (!held && (await youngerThan(lockPath(dir), 1000))) {
      // Another process may have just made it and not written it yet.
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    await fs.rm(lockPath(dir), { force: true }); // stale, unreadable, or ours: take it over
  }
}

/**
 * Removes the lock if it is this process's (or `pid`'s), so a server that stops never removes
 * the lock of another one. No error when there is none.
 */
export async function removeRunLock(dir: string, pid: number = process.pid): Promise<void> {
  const lock = await readRunLock(dir);
  if (lock && lock.pid !== pid) return;
  await fs.rm(lockPath(dir), { force: true });
}

async function youngerThan(file: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await fs.stat(file)).mtimeMs < ms;
  } catch {
    return false;
  }
}
