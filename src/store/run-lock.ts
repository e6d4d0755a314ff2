/**
 * The run lock: `<data>/nextauth.run` says that a server process has the data folder open.
 *
 * The store is one JSON file kept in memory by the process that opened it, so two writers would
 * silently lose each other's changes. A running server writes the lock; the command line reads
 * it and refuses to open the store while the process named in it is alive. A lock left behind by
 * a process that died (kill -9, power loss) is stale: its pid is gone, and it is ignored.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

export const RUN_LOCK_FILE = 'nextauth.run';

export interface RunLock {
  /** The process that holds the data folder. */
  pid: number;
  /** The URL its REST API answers on. */
  url: string;
  /** ms since epoch. */
  started: number;
}

const lockPath = (dir: string) => path.join(dir, RUN_LOCK_FILE);

/** Writes the lock for this process (mode 0600, atomically: temp file, then rename). */
export async function writeRunLock(dir: string, url: string): Promise<RunLock> {
  const lock: RunLock = { pid: process.pid, url, started: Date.now() };
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = `${lockPath(dir)}.${process.pid}.tmp`;
  await fs.writeFile(temp, JSON.stringify(lock) + '\n', { mode: 0o600 });
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
    return { pid: v.pid as number, url: v.url, started: typeof v.started === 'number' ? v.started : 0 };
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
 * Removes the lock if it is this process's (or `pid`'s), so a server that stops never removes
 * the lock of another one. No error when there is none.
 */
export async function removeRunLock(dir: string, pid: number = process.pid): Promise<void> {
  const lock = await readRunLock(dir);
  if (lock && lock.pid !== pid) return;
  await fs.rm(lockPath(dir), { force: true });
}
