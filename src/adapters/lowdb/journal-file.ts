/**
 * One JSON document kept in memory, durable as a file in the data folder (the snapshot) and,
 * beside it, a journal of changes (`nextauth.journal` beside `nextauth.json`, one JSON line per
 * change). The lowdb store (lowdb-store.ts) keeps its records in two of them.
 *
 * - Atomic: a change (several set/delete operations) is one journal line, appended and fsynced;
 *   a torn last line (a crash mid-append) was never acknowledged and is dropped on start. The
 *   snapshot goes to a temp file (mode 0600), is fsynced, then renamed over the file.
 * - Cheap: a change costs its own line, not a rewrite of the file; the journal is folded into
 *   the snapshot at start, at close and when it outgrows the snapshot.
 * - Immutable records: an object that is frozen (a record) is never changed in place; a change
 *   replaces it with a new frozen object, so what readers were handed never moves under them.
 * - Ordered: every line has a number and the snapshot names the last one it holds, so a crash
 *   between writing the snapshot and emptying the journal replays nothing twice.
 * - Coalesced: changes made while a write runs are carried by the next single write.
 * - Safe start: a file that does not parse is never overwritten; the last good copy is kept
 *   beside it as `<file>.bak`, rotated on each successful start.
 */
import { Low, type Adapter } from 'lowdb';
import fs from 'node:fs/promises';
import path from 'node:path';

export class StoreDamagedError extends Error {
  override name = 'StoreDamagedError';
}

/** Fold the journal into the snapshot past this many bytes (and past the snapshot's own size). */
const COMPACT_BYTES = 4 * 1024 * 1024;

/**
 * One operation of a change: on the object at path `p`, set fields `s` and remove fields `d`.
 * With `r`, the object is a record that must be there: replaying the operation after the record
 * was deleted skips it (otherwise missing containers on the way are made).
 */
export interface Op {
  p: readonly string[];
  s?: Record<string, unknown>;
  d?: readonly string[];
  r?: 1;
}

/** One journal line: the change's number and its operations (older lines hold one operation inline). */
interface Line extends Partial<Op> {
  n: number;
  o?: Op[];
}

/** The snapshot file, written the safe way (temp + fsync + rename, mode 0600), with the number of the last journal line it holds. */
class SnapshotFile<T extends object> implements Adapter<T> {
  /** The `journal` number of the file read, and the one the next write records. */
  journal = 0;
  /** Whether the file was there when read. */
  found = false;
  /** The size of the last write. */
  bytes = 0;
  private temps = 0;
  constructor(readonly file: string) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    this.found = true;
    const damaged = (why: string) =>
      new StoreDamagedError(`${this.file} ${why}; it was left untouched. ` + `The last good copy is ${this.file}.bak: check it, then copy it over ${this.file} to start from it.`);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw damaged(`does not parse (${(e as Error).message})`);
    }
    // `null`, an array or a scalar parse, but are no data file: refused the same way.
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw damaged('does not hold a JSON object');
    const { journal, ...data } = value as { journal?: unknown };
    this.journal = typeof journal === 'number' ? journal : 0;
    return data as T;
  }

  async write(data: T): Promise<void> {
    const temp = `${this.file}.${process.pid}.${this.temps++}.tmp`;
    const handle = await fs.open(temp, 'w', 0o600);
    try {
      const text = JSON.stringify({ journal: this.journal, ...data });
      this.bytes = Buffer.byteLength(text);
      await handle.writeFile(text);
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

export class JournalFile<T extends object> {
  readonly stats = { changes: 0, writes: 0, snapshots: 0 };
  private waiters: Waiter[] = [];
  /** Journal lines not yet appended. */
  private lines: string[] = [];
  /** The next write is the whole file (at open, at close, after a failed append). */
  private whole = true;
  /** The number of the last change. */
  private seq: number;
  private journalBytes = 0;
  private snapshotBytes = 0;
  /** The journal, open for appending between writes (opened again after a failure). */
  private handle: fs.FileHandle | undefined;
  private writing = false;
  private closed = false;

  private constructor(
    private readonly db: Low<T>,
    private readonly snapshot: SnapshotFile<T>,
    private readonly journal: string,
  ) {
    this.seq = snapshot.journal;
  }

  /**
   * Opens (or creates) `<dir>/<name>` holding a T (fields missing from the file get `empty()`'s),
   * replays its journal, and writes the result as the new snapshot (and its `.bak`). The folder
   * is made 0700. `freeze` says which objects are records (frozen, replaced on change).
   */
  static async open<T extends object>(dir: string, name: string, empty: () => T, freeze: (data: T) => void): Promise<JournalFile<T>> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.chmod(dir, 0o700);
    const snapshot = new SnapshotFile<T>(path.join(dir, name));
    const db = new Low<T>(snapshot, empty());
    await db.read(); // throws StoreDamagedError on a damaged file, before anything is written
    db.data = { ...empty(), ...db.data };
    const store = new JournalFile<T>(db, snapshot, path.join(dir, `${name.replace(/\.json$/, '')}.journal`));
    await store.replay();
    freeze(db.data);
    await removeStaleTemps(dir, name);
    await store.flush(); // the snapshot, with the journal folded in; the journal emptied
    if (snapshot.found) {
      await fs.copyFile(snapshot.file, `${snapshot.file}.bak`);
      await fs.chmod(`${snapshot.file}.bak`, 0o600);
    }
    return store;
  }

  /** The document (read it; change it only with `apply`). */
  get data(): T {
    return this.db.data;
  }

  /**
   * Applies a change at once (so readers see it in order) and resolves once its journal line is
   * on disk. Values set are frozen. Throws, changing nothing, when an operation's path leads
   * through something that is not an object.
   */
  apply(ops: readonly Op[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('The store is closed'));
    if (ops.length === 0) return this.flush();
    const values = ops.map((op) => ({ ...op, s: op.s && deepFreeze({ ...op.s }) }));
    for (const op of values) applyOp(this.db.data, op, true);
    const line: Line = values.length === 1 ? { n: ++this.seq, ...values[0]! } : { n: ++this.seq, o: values };
    this.stats.changes++;
    this.lines.push(JSON.stringify(line));
    return this.schedule();
  }

  flush(): Promise<void> {
    return this.schedule();
  }

  async close(): Promise<void> {
    this.whole = true; // leave one file behind
    await this.flush();
    this.closed = true;
    await this.handle?.close();
    this.handle = undefined;
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
      const lines = this.lines;
      const whole = this.whole || this.journalBytes > Math.max(COMPACT_BYTES, this.snapshotBytes);
      this.waiters = [];
      this.lines = [];
      this.whole = false;
      try {
        if (whole) await this.writeSnapshot();
        else if (lines.length > 0) await this.append(lines);
        if (whole) this.stats.snapshots++;
        if (whole || lines.length > 0) this.stats.writes++;
        for (const w of batch) w.resolve();
      } catch (e) {
        this.whole = true; // what did not reach the disk goes with the next whole write
        for (const w of batch) w.reject(e);
      }
    }
    this.writing = false;
  }

  /** The whole file (holding every change so far, the journal's too), then an empty journal. */
  private async writeSnapshot(): Promise<void> {
    this.snapshot.journal = this.seq;
    await this.db.write();
    this.snapshotBytes = this.snapshot.bytes;
    // Emptied even when no append was counted in it: a failed one may have left part of a line.
    await fs.truncate(this.journal, 0).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    this.journalBytes = 0;
  }

  private async append(lines: string[]): Promise<void> {
    const text = `${lines.join('\n')}\n`;
    try {
      this.handle ??= await fs.open(this.journal, 'a', 0o600);
      await this.handle.writeFile(text);
      await this.handle.datasync();
    } catch (e) {
      const handle = this.handle;
      this.handle = undefined;
      await handle?.close().catch(() => undefined);
      throw e;
    }
    this.journalBytes += Buffer.byteLength(text);
  }

  /** Applies the lines of the journal the snapshot does not hold yet (in memory). */
  private async replay(): Promise<void> {
    let text: string;
    try {
      text = await fs.readFile(this.journal, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    this.journalBytes = Buffer.byteLength(text);
    const rows = text.split('\n');
    rows.forEach((row, i) => {
      if (row === '') return;
      let line: Line;
      try {
        line = JSON.parse(row) as Line;
      } catch {
        if (i === rows.length - 1) return; // torn by a crash: never acknowledged
        throw new StoreDamagedError(`${this.journal} line ${i + 1} does not parse; it was left untouched. Remove the file to start without the changes it holds.`);
      }
      if (typeof line.n !== 'number' || !(Array.isArray(line.p) || Array.isArray(line.o)))
        throw new StoreDamagedError(`${this.journal} line ${i + 1} is not a change; it was left untouched.`);
      if (line.n <= this.snapshot.journal) return; // the snapshot holds it already
      this.seq = line.n;
      // An operation on a record that a later whole write deleted finds nothing: skipped.
      for (const op of line.o ?? [line as Op]) if (Array.isArray(op.p)) applyOp(this.db.data, op, op.r !== 1);
    });
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Applies one operation to the document. Containers on the way are made when `make` (a change
 * being made), and the operation is skipped when one is missing otherwise (a replayed line whose
 * record was deleted since). A frozen target (a record) is replaced by a changed frozen copy.
 */
function applyOp(data: object, op: Op, make: boolean): void {
  let parent: Record<string, unknown> | undefined;
  let node: unknown = data;
  let last = '';
  for (const key of op.p) {
    if (!isObject(node)) throw new Error(`The store holds no object at ${op.p.join('.')}`);
    parent = node;
    last = key;
    if (!Object.hasOwn(node, key)) {
      if (!make) return;
      setOwn(node, key, {});
    }
    node = node[key];
  }
  if (!isObject(node)) throw new Error(`The store holds no object at ${op.p.join('.')}`);
  let target = node;
  if (Object.isFrozen(node)) {
    target = { ...node };
    if (parent) setOwn(parent, last, target);
  }
  for (const [key, value] of Object.entries(op.s ?? {})) setOwn(target, key, value);
  for (const key of op.d ?? []) delete target[key];
  if (target !== node) Object.freeze(target);
}

/** `obj[key] = value` that also works for keys such as "__proto__" (ids and names may be anything). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

/** Freezes a value and everything in it; returns it. */
export function deepFreeze<V>(value: V): V {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

async function removeStaleTemps(dir: string, file: string): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    if (name.startsWith(`${file}.`) && /\.\d+\.\d+\.tmp$/.test(name)) await fs.rm(path.join(dir, name), { force: true });
  }
}
