/**
 * The lowdb implementation of the store: one JSON file in the data folder.
 *
 * - Atomic: each write goes to a temp file (mode 0600), is fsynced, then renamed over the file.
 * - Coalesced: changes made while a write runs are carried by the next single write.
 * - Safe start: a file that does not parse is never overwritten; the last good copy is kept
 *   beside it as `<file>.bak`, rotated on each successful start.
 */
import { Low, type Adapter } from 'lowdb';
import fs from 'node:fs/promises';
import path from 'node:path';
import { emptyData, type Data } from './data.ts';
import type { Store } from './store.ts';

export class StoreDamagedError extends Error {
  override name = 'StoreDamagedError';
}

/** A JSON file adapter written the safe way (temp + fsync + rename, mode 0600). */
class SecureJsonFile<T> implements Adapter<T> {
  private seq = 0;
  constructor(private readonly file: string) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    const damaged = (why: string) =>
      new StoreDamagedError(
        `${this.file} ${why}; it was left untouched. ` +
          `The last good copy is ${this.file}.bak: check it, then copy it over ${this.file} to start from it.`,
      );
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw damaged(`does not parse (${(e as Error).message})`);
    }
    // `null`, an array or a scalar parse, but are no data file: refused the same way.
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw damaged('does not hold a JSON object');
    return value as T;
  }

  async write(data: T): Promise<void> {
    const temp = `${this.file}.${process.pid}.${this.seq++}.tmp`;
    const handle = await fs.open(temp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(data));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, this.file);
  }
}

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class LowdbStore<T extends object = Data> implements Store<T> {
  readonly stats = { changes: 0, writes: 0 };
  private waiters: Waiter[] = [];
  private writing = false;
  private closed = false;

  private constructor(private readonly db: Low<T>) {}

  /** Opens (or creates) `<dir>/nextauth.json`, the registry's data; the folder is made 0700. */
  static open(dir: string): Promise<LowdbStore<Data>> {
    return LowdbStore.openFile(dir, 'nextauth.json', emptyData);
  }

  /** Opens (or creates) `<dir>/<name>` holding a T (fields missing from the file get `empty()`'s). */
  static async openFile<T extends object>(dir: string, name: string, empty: () => T): Promise<LowdbStore<T>> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.chmod(dir, 0o700);
    const file = path.join(dir, name);
    const db = new Low<T>(new SecureJsonFile<T>(file), empty());
    await db.read(); // throws StoreDamagedError on a damaged file, before anything is written
    db.data = { ...empty(), ...db.data };
    try {
      await fs.copyFile(file, `${file}.bak`);
      await fs.chmod(`${file}.bak`, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    await removeStaleTemps(dir, name);
    const store = new LowdbStore<T>(db);
    await store.flush();
    return store;
  }

  get data(): T {
    return this.db.data;
  }

  update<R>(change: (data: T) => R): Promise<R> {
    if (this.closed) return Promise.reject(new Error('The store is closed'));
    let result: R;
    try {
      result = change(this.db.data);
    } catch (e) {
      return Promise.reject(e);
    }
    this.stats.changes++;
    return this.schedule().then(() => result);
  }

  flush(): Promise<void> {
    return this.schedule();
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private schedule(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.writing) {
        this.writing = true;
        // Let every change of this turn of the event loop join the first write.
        setImmediate(() => void this.pump());
      }
    });
  }

  private async pump(): Promise<void> {
    while (this.waiters.length > 0) {
      const batch = this.waiters;
      this.waiters = [];
      try {
        await this.db.write();
        this.stats.writes++;
        for (const w of batch) w.resolve();
      } catch (e) {
        for (const w of batch) w.reject(e);
      }
    }
    this.writing = false;
  }
}

async function removeStaleTemps(dir: string, file: string): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    if (name.startsWith(`${file}.`) && /\.\d+\.\d+\.tmp$/.test(name)) await fs.rm(path.join(dir, name), { force: true });
  }
}
