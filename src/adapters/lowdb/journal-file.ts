/**
 * One JSON document kept in memory, durable as a file in the data folder (the snapshot) and,
 * beside it, a journal of changes (`nextauth.journal` beside `nextauth.json`, one JSON line per
 * change). The lowdb store (lowdb-store.ts) keeps its records in two of them.
 *
 * - Atomic: a change (several set/delete operations) is one journal line, appended and fsynced;
 *   it is acknowledged once its line is on disk. A torn last line (a crash mid-append) was never
 *   acknowledged and is dropped on start. Files are written to a temp file (mode 0600), fsynced,
 *   renamed over the file, and the folder is fsynced.
 * - Coalesced: changes made while an append runs share the next single append.
 * - Immutable records: an object that is frozen (a record) is never changed in place; a change
 *   replaces it with a new frozen object, so what readers were handed never moves under them.
 * - Ordered: every line has a number and the snapshot names the last one it holds
 *   (`"journal": N`), so lines it holds are skipped when the journal is replayed.
 * - Folded beside the appends, never in their place: once the journal outgrows the snapshot (and
 *   4 MiB), it is folded into it while changes go on being made and acknowledged by their lines:
 *   1. Rotation, between two appends: the journal becomes `<name>.journal.<R>` (R: its last line)
 *      and a new `<name>.journal` takes the next lines (a rename and an open hold the appends up;
 *      the folder's fsync runs beside the next append, which waits for it).
 *   2. The document as it is at that moment (N: the last change made) is written to a temp file a
 *      slice of ~1 ms at a time (sliced-json.ts), the event loop free between slices, flushed to
 *      the disk every few MiB. Changes made meanwhile do not reach the file: records are frozen
 *      (a change replaces them), and before a change sets or removes a key of a container it tells
 *      the fold's StartView, which keeps what the key held; the fold reads containers through it.
 *      So the file is an exact snapshot of line N — never part of a change — as a whole write was.
 *   3. The temp file is fsynced and renamed over the snapshot (`"journal": N`), the folder is
 *      fsynced, and the rotated journals (lines up to R ≤ N) are removed.
 *   A crash before the rename leaves the old snapshot and both journals; after it, the new
 *   snapshot and journals whose lines up to N it skips. (The file may hold changes whose lines
 *   were not appended yet: whole changes, never acknowledged, as with a whole write.)
 *   Not a worker thread: it would need the document, and copying 40 MiB of objects to it costs
 *   the event loop about what JSON.stringify does (or a second copy kept up to date).
 * - Start: the snapshot, then the rotated journals by number, then the journal (lines up to the
 *   snapshot's N skipped), then one whole write, which empties them. Lines follow each other
 *   with no gap: a missing one (journals copied at another moment than their file) is refused.
 * - Whole writes: at start and close, and for the first write after a failed append (which may
 *   have left a torn line in the journal), the document is stringified at once (nothing changes
 *   meanwhile) and written whole, then the journals are emptied. A whole write supersedes a fold
 *   running then: the fold gives up (removing its temp file) before it renames anything.
 * - Safe start: a file that does not parse is never overwritten; the last good copy is kept
 *   beside it as `<file>.bak`, rotated on each successful start.
 */
import { Low, type Adapter } from 'lowdb';
import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { NsError, STORAGE_RETRY_MS } from '../../wire/errors.ts';
import { deepFreeze } from '../frozen.ts';
import { SliceAborted, StartView, writeSliced } from './sliced-json.ts';

export class StoreDamagedError extends Error {
  override name = 'StoreDamagedError';
}

/** Fold the journal into the snapshot past this many bytes (and past the snapshot's own size). */
const COMPACT_BYTES = 4 * 1024 * 1024;
/** A fold that failed is tried again no sooner than this (ms). */
const FOLD_RETRY_MS = 1000;

/**
 * The journal size that starts a fold when NEXTAUTH_STORE_FOLD_BYTES is set (tests shorten it, so
 * that a small store folds often); otherwise `max(4 MiB, the snapshot's size)`.
 */
const FOLD_BYTES_FROM_ENV = (() => {
  const n = Number(process.env.NEXTAUTH_STORE_FOLD_BYTES);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
})();

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

/** What a fold did, for tests and logs. */
export type FoldEvent =
  | { file: string; phase: 'start'; upTo: number }
  | { file: string; phase: 'done'; upTo: number; ms: number; bytes: number; slices: number; longestSliceMs: number }
  | { file: string; phase: 'given up' | 'failed'; upTo: number; error?: unknown };

export interface JournalOptions {
  /** Start a fold once the journal passes this many bytes (default: NEXTAUTH_STORE_FOLD_BYTES, or max(4 MiB, the snapshot's size)). */
  foldBytes?: number;
  /** Told when a fold starts and ends. */
  onFold?: (event: FoldEvent) => void;
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

  /** A new temp file name beside the file (removed at start if a crash leaves it). */
  temp(): string {
    return `${this.file}.${process.pid}.${this.temps++}.tmp`;
  }

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
    const temp = this.temp();
    try {
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
    } catch (e) {
      await fs.rm(temp, { force: true }).catch(() => undefined);
      throw e;
    }
  }
}

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** How long a lazy change (`apply(ops, true)`) waits for a waited-for one to share its write (ms). */
export const LAZY_WRITE_MS = 50;

export class JournalFile<T extends object> {
  /**
   * Changes made; writes that carried them (appends, whole writes); files written whole (whole
   * writes and folds: renames onto the file); folds done.
   */
  readonly stats = { changes: 0, writes: 0, snapshots: 0, folds: 0 };
  private waiters: Waiter[] = [];
  /** Journal lines not yet appended, and for each what undoes it in memory (a write that fails). */
  private lines: string[] = [];
  private undo: Op[][] = [];
  /** The next write is the whole file (at open, at close, after a failed append). */
  private whole = true;
  /** The number of the last change. */
  private seq: number;
  /** The bytes of the current journal file (the lines since the last rotation). */
  private journalBytes = 0;
  private snapshotBytes = 0;
  /** The journal, open for appending between writes (opened again after a failure). */
  private handle: fs.FileHandle | undefined;
  /** The fsync of the folder after a rotation, which the next append waits for. */
  private dirSync: Promise<void> | undefined;
  private writing = false;
  /** A waiter that the next write must not keep waiting came (a change that is waited for, a fold, a flush). */
  private urgent = false;
  /** Starts the write of lazy changes when nothing else does (`scheduleLazy`). */
  private lazyTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private closed = false;
  /** While a fold runs: the document as it was when the fold began (what changes since, it keeps). */
  private view: StartView | undefined;
  /** The fold running, if any (it never rejects). */
  private folding: Promise<void> | undefined;
  /** `fold()` was called: start one at the next chance; told when it is done. */
  private foldWanted = false;
  private foldWaiters: Waiter[] = [];
  private foldRetryAt = 0;
  /** Bumped by a whole write: a fold begun before it must not rename its (older) file. */
  private epoch = 0;
  /** Renames onto the snapshot and journal removals, one at a time (folds and whole writes). */
  private renames: Promise<unknown> = Promise.resolve();
  private readonly dir: string;
  private readonly foldBytes: number | undefined;
  private readonly onFold: ((event: FoldEvent) => void) | undefined;

  private constructor(
    private readonly db: Low<T>,
    private readonly snapshot: SnapshotFile<T>,
    private readonly journal: string,
    options: JournalOptions,
  ) {
    this.seq = snapshot.journal;
    this.dir = path.dirname(journal);
    this.foldBytes = options.foldBytes ?? FOLD_BYTES_FROM_ENV;
    this.onFold = options.onFold;
  }

  /**
   * Opens (or creates) `<dir>/<name>` holding a T (fields missing from the file get `empty()`'s),
   * replays its journals, and writes the result as the new snapshot (and its `.bak`). The folder
   * is made 0700. `freeze` says which objects are records (frozen, replaced on change).
   */
  static async open<T extends object>(dir: string, name: string, empty: () => T, freeze: (data: T) => void, options: JournalOptions = {}): Promise<JournalFile<T>> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.chmod(dir, 0o700);
    const snapshot = new SnapshotFile<T>(path.join(dir, name));
    const db = new Low<T>(snapshot, empty());
    await db.read(); // throws StoreDamagedError on a damaged file, before anything is written
    db.data = { ...empty(), ...db.data };
    const store = new JournalFile<T>(db, snapshot, path.join(dir, `${name.replace(/\.json$/, '')}.journal`), options);
    await store.replay();
    freeze(db.data);
    await removeStaleTemps(dir, name);
    await store.flush(); // the snapshot, with the journals folded in; the journals emptied
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
   * through something that is not an object. When the line cannot be written (a full disk, a
   * read-only folder), the change is taken back out of the document, with every change made
   * after it that is not on disk either, and each of them rejects with STORAGE_UNAVAILABLE: what
   * is in memory is again what is on disk, and the next change tries the disk again. A `lazy`
   * change starts no write: it goes with the next change that does, or within LAZY_WRITE_MS.
   */
  apply(ops: readonly Op[], lazy = false): Promise<void> {
    if (this.closed) return Promise.reject(new Error('The store is closed'));
    if (ops.length === 0) return this.flush();
    // The values set go into the document frozen (not the maps of keys that hold them: read once, here).
    for (const op of ops) if (op.s) for (const key in op.s) deepFreeze(op.s[key]);
    const undo: Op[] = [];
    try {
      for (const op of ops) {
        undo.push(...inverseOf(this.db.data, op));
        applyOp(this.db.data, op, true, this.view);
      }
    } catch (e) {
      this.revert([undo]);
      throw e;
    }
    const line: Line = ops.length === 1 ? { n: ++this.seq, ...ops[0]! } : { n: ++this.seq, o: [...ops] };
    this.stats.changes++;
    this.lines.push(JSON.stringify(line));
    this.undo.push(undo);
    return lazy ? this.scheduleLazy() : this.schedule();
  }

  /** Takes changes back out of the document: each change's undo, the last change first. */
  private revert(undos: readonly Op[][]): void {
    for (let i = undos.length - 1; i >= 0; i--) {
      const undo = undos[i]!;
      for (let j = undo.length - 1; j >= 0; j--) applyOp(this.db.data, undo[j]!, false, this.view);
    }
  }

  /** Resolves once every change made so far is on disk. */
  flush(): Promise<void> {
    return this.schedule();
  }

  /**
   * Folds the journal into the snapshot now (beside the appends, as when it outgrows the
   * snapshot); resolves once the file is renamed (or a whole write did it instead).
   */
  fold(): Promise<void> {
    if (this.closing) return Promise.reject(new Error('The store is closed'));
    return new Promise((resolve, reject) => {
      this.foldWaiters.push({ resolve, reject });
      this.foldWanted = true;
      this.schedule().catch(() => undefined); // the pump starts it after this write
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.epoch++; // a fold running gives up: the whole write below holds everything
    await this.folding;
    this.whole = true; // leave one file behind
    await this.flush();
    this.closed = true;
    // A fold asked for and not begun: the whole write did it.
    for (const w of this.foldWaiters.splice(0)) w.resolve();
    await this.handle?.close();
    this.handle = undefined;
  }

  /** A waiter for the next write, which starts now (at the end of this turn of the event loop). */
  private schedule(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.urgent = true;
      this.start();
    });
  }

  /** A waiter for the next write, which a waiter of `schedule` starts, or else a timer in LAZY_WRITE_MS. */
  private scheduleLazy(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.writing) this.waitLazily();
    });
  }

  private waitLazily(): void {
    this.lazyTimer ??= setTimeout(() => {
      this.lazyTimer = undefined;
      this.urgent = true;
      this.start();
    }, LAZY_WRITE_MS);
  }

  private start(): void {
    if (this.lazyTimer) clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
    if (this.writing) return;
    this.writing = true;
    // Let every change of this turn of the event loop join the first write.
    setImmediate(() => void this.pump());
  }

  private async pump(): Promise<void> {
    // Lazy changes alone do not keep the writes going: they wait for the next waited-for change, or their timer.
    while (this.waiters.length > 0 && this.urgent) {
      const batch = this.waiters;
      const lines = this.lines;
      const undo = this.undo;
      const whole = this.whole;
      this.waiters = [];
      this.lines = [];
      this.undo = [];
      this.whole = false;
      this.urgent = false;
      try {
        if (whole) await this.writeWhole();
        else if (lines.length > 0) await this.append(lines);
        if (whole || lines.length > 0) this.stats.writes++;
        for (const w of batch) w.resolve();
      } catch (e) {
        // Nothing of this batch is on disk (an append that failed is cut off again, or the next
        // write is whole): take it back out of memory, with the changes made since, and refuse them all.
        const later = this.waiters;
        const undone = [...undo, ...this.undo];
        this.revert(undone);
        this.seq -= undone.length;
        this.stats.changes -= undone.length;
        this.waiters = [];
        this.lines = [];
        this.undo = [];
        const error = unavailable(e);
        for (const w of [...batch, ...later]) w.reject(error);
      }
      await this.maybeFold();
    }
    this.writing = false;
    if (this.waiters.length > 0) this.waitLazily();
  }

  /** Starts a fold (rotating the journal first) when one is wanted or due and none runs. Called between appends. */
  private async maybeFold(): Promise<void> {
    if (this.folding || this.closing || this.whole) return;
    const limit = this.foldBytes ?? Math.max(COMPACT_BYTES, this.snapshotBytes);
    if (!this.foldWanted && !(this.journalBytes > limit && Date.now() >= this.foldRetryAt)) return;
    this.foldWanted = false;
    const waiters = this.foldWaiters;
    this.foldWaiters = [];
    // Every line appended so far is in the journal file, every later one still waits for its append.
    const rotated = this.seq - this.lines.length;
    try {
      if (this.journalBytes > 0) await this.rotate(rotated);
    } catch (e) {
      this.whole = true; // the next write leaves one whole file, whatever the rotation did
      for (const w of waiters) w.reject(e);
      return;
    }
    this.folding = this.foldInto().then(
      () => {
        for (const w of waiters) w.resolve();
      },
      (e) => {
        this.foldRetryAt = Date.now() + FOLD_RETRY_MS;
        for (const w of waiters) w.reject(e);
      },
    );
    void this.folding.finally(() => {
      this.folding = undefined;
      if (this.foldWanted) this.schedule().catch(() => undefined);
    });
  }

  /**
   * The journal (lines up to `upTo`) becomes `<journal>.<upTo>`; a new one takes the next lines.
   * Two system calls hold the appends up; the folder's fsync (both names on disk) runs beside the
   * next append, which waits for it before it is acknowledged.
   */
  private async rotate(upTo: number): Promise<void> {
    const old = this.handle;
    this.handle = undefined;
    await fs.rename(this.journal, `${this.journal}.${upTo}`); // (an open file can be renamed)
    this.journalBytes = 0;
    old?.close().catch(() => undefined);
    this.handle = await fs.open(this.journal, 'a', 0o600);
    const synced = fsyncDir(this.dir);
    synced.catch(() => undefined); // (awaited by the next append)
    this.dirSync = synced;
  }

  /**
   * Writes the document as it is now (every change up to the last line), a slice at a time, as the
   * snapshot; then removes the rotated journals (their lines are all in it).
   */
  private async foldInto(): Promise<void> {
    const epoch = this.epoch;
    const givenUp = () => this.epoch !== epoch;
    const started = performance.now();
    const temp = this.snapshot.temp();
    const file = this.snapshot.file;
    // From here on, changes tell the view what they replace: the file is the document of this moment.
    const upTo = this.seq;
    const view = new StartView();
    this.view = view;
    let renamed = false;
    try {
      this.onFold?.({ file, phase: 'start', upTo });
      const handle = await fs.open(temp, 'w', 0o600);
      let written: Awaited<ReturnType<typeof writeSliced>>;
      try {
        written = await writeSliced(handle, `"journal":${upTo}`, this.db.data, view, givenUp);
        await handle.sync();
      } finally {
        await handle.close();
        if (this.view === view) this.view = undefined;
      }
      await this.exclusive(async () => {
        if (givenUp()) throw new SliceAborted('a whole write came first');
        await fs.rename(temp, file);
        renamed = true;
        await fsyncDir(this.dir);
        await this.removeJournals(upTo);
      });
      this.snapshotBytes = written.bytes;
      this.stats.snapshots++;
      this.stats.folds++;
      this.onFold?.({ file, phase: 'done', upTo, ms: performance.now() - started, ...written });
    } catch (e) {
      if (this.view === view) this.view = undefined;
      if (!renamed) await fs.rm(temp, { force: true }).catch(() => undefined);
      if (e instanceof SliceAborted) {
        this.onFold?.({ file, phase: 'given up', upTo });
        return; // the whole write that gave it up holds everything
      }
      this.onFold?.({ file, phase: 'failed', upTo, error: e });
      throw e;
    }
  }

  /** The whole file (holding every change so far, the journals' too), then empty journals. */
  private async writeWhole(): Promise<void> {
    this.epoch++; // a fold running now would rename an older file over this one: it gives up
    await this.exclusive(async () => {
      this.snapshot.journal = this.seq;
      await this.db.write();
      await fsyncDir(this.dir);
      this.snapshotBytes = this.snapshot.bytes;
      this.stats.snapshots++;
      // Emptied even when no append was counted in it: a failed one may have left part of a line.
      await fs.truncate(this.journal, 0).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
      this.journalBytes = 0;
      await this.removeJournals(Number.POSITIVE_INFINITY);
    });
  }

  /** Runs `work` after the renames and removals begun before it. */
  private exclusive(work: () => Promise<void>): Promise<void> {
    const run = this.renames.then(work);
    this.renames = run.catch(() => undefined);
    return run;
  }

  private async append(lines: string[]): Promise<void> {
    const text = `${lines.join('\n')}\n`;
    try {
      this.handle ??= await fs.open(this.journal, 'a', 0o600);
      await this.handle.writeFile(text);
      await this.handle.datasync();
      const dirSync = this.dirSync;
      await dirSync;
      if (this.dirSync === dirSync) this.dirSync = undefined;
    } catch (e) {
      const handle = this.handle;
      this.handle = undefined;
      this.dirSync = undefined; // (the whole write that follows a failure fsyncs the folder)
      await handle?.close().catch(() => undefined);
      // Part of the text may be in the file: cut it off, so that a restart does not replay a
      // change its client was told failed. When even that fails, the next write is whole.
      await fs.truncate(this.journal, this.journalBytes).catch(() => {
        this.whole = true;
      });
      throw e;
    }
    this.journalBytes += Buffer.byteLength(text);
  }

  /** The rotated journals (`<journal>.<N>`, N the last line each holds), oldest first. */
  private async oldJournals(): Promise<Array<{ file: string; upTo: number }>> {
    const base = path.basename(this.journal);
    const found: Array<{ file: string; upTo: number }> = [];
    for (const name of await fs.readdir(this.dir)) {
      const m = name.startsWith(`${base}.`) ? /^(\d+)$/.exec(name.slice(base.length + 1)) : null;
      if (m) found.push({ file: path.join(this.dir, name), upTo: Number(m[1]) });
    }
    return found.sort((a, b) => a.upTo - b.upTo);
  }

  /** Removes the rotated journals whose lines the snapshot holds (those up to `upTo`). */
  private async removeJournals(upTo: number): Promise<void> {
    for (const old of await this.oldJournals()) if (old.upTo <= upTo) await fs.rm(old.file, { force: true });
  }

  /** Applies the lines of the journals (the rotated ones, then the current one) the snapshot does not hold yet (in memory). */
  private async replay(): Promise<void> {
    // (A rotated journal whose lines the snapshot holds, left by a crash right after a fold, is not read.)
    const old = (await this.oldJournals()).filter((j) => j.upTo > this.snapshot.journal);
    const files = [...old.map((j) => j.file), this.journal];
    const texts: Array<{ file: string; text: string }> = [];
    for (const file of files) {
      try {
        texts.push({ file, text: await fs.readFile(file, 'utf8') });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    texts.forEach(({ file, text }, f) => {
      if (file === this.journal) this.journalBytes = Buffer.byteLength(text);
      const rows = text.split('\n');
      rows.forEach((row, i) => {
        if (row === '') return;
        let line: Line;
        try {
          line = JSON.parse(row) as Line;
        } catch {
          // Torn by a crash (never acknowledged): only the end of the newest journal can be.
          if (i === rows.length - 1 && f === texts.length - 1) return;
          throw new StoreDamagedError(`${file} line ${i + 1} does not parse; it was left untouched. Remove the file to start without the changes it holds.`);
        }
        if (typeof line.n !== 'number' || !(Array.isArray(line.p) || Array.isArray(line.o)))
          throw new StoreDamagedError(`${file} line ${i + 1} is not a change; it was left untouched.`);
        if (line.n <= this.seq) return; // the snapshot (or a line before) holds it already
        if (line.n !== this.seq + 1)
          throw new StoreDamagedError(
            `${file} line ${i + 1} is change ${line.n}, but the changes before it end at ${this.seq}: ${line.n - this.seq - 1} are missing ` +
              `(a journal copied at another moment than ${this.snapshot.file}?); it was left untouched. ` +
              `Remove ${path.basename(this.journal)}* to start from ${path.basename(this.snapshot.file)} alone.`,
          );
        this.seq = line.n;
        // An operation on a record that a later change deleted finds nothing: skipped.
        for (const op of line.o ?? [line as Op]) if (Array.isArray(op.p)) applyOp(this.db.data, op, op.r !== 1);
      });
    });
  }
}

/** Makes renames and new names in `dir` durable (where the platform allows fsync on a folder). */
async function fsyncDir(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw e;
  } finally {
    await handle?.close();
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Applies one operation to the document. Containers on the way are made when `make` (a change
 * being made), and the operation is skipped when one is missing otherwise (a replayed line whose
 * record was deleted since). A frozen target (a record) is replaced by a changed frozen copy.
 * `view` (a fold running) is told before a container's key is set or removed.
 */
function applyOp(data: object, op: Op, make: boolean, view?: StartView): void {
  let parent: Record<string, unknown> | undefined;
  let node: unknown = data;
  let last = '';
  for (const key of op.p) {
    if (!isObject(node)) throw new Error(`The store holds no object at ${op.p.join('.')}`);
    parent = node;
    last = key;
    if (!Object.hasOwn(node, key)) {
      if (!make) return;
      view?.remember(node, key);
      setOwn(node, key, {});
    }
    node = node[key];
  }
  if (!isObject(node)) throw new Error(`The store holds no object at ${op.p.join('.')}`);
  let target = node;
  if (Object.isFrozen(node)) {
    target = { ...node };
    if (parent) {
      view?.remember(parent, last);
      setOwn(parent, last, target);
    }
  }
  // (A fresh copy of a record is no container a fold reads: nothing to remember of it.)
  const live = target === node ? view : undefined;
  for (const [key, value] of Object.entries(op.s ?? {})) {
    live?.remember(target, key);
    setOwn(target, key, value);
  }
  for (const key of op.d ?? []) {
    live?.remember(target, key);
    delete target[key];
  }
  if (target !== node) Object.freeze(target);
}

/**
 * What undoes `op` on `data` as it is now: the first container on its path that is missing is
 * removed again (with everything the op makes in it); else each key it sets or removes gets back
 * its value, or goes when it had none.
 */
function inverseOf(data: object, op: Op): Op[] {
  let node: unknown = data;
  for (let i = 0; i < op.p.length; i++) {
    const key = op.p[i]!;
    if (!isObject(node)) return []; // (applyOp throws: nothing to undo)
    if (!Object.hasOwn(node, key)) return [{ p: op.p.slice(0, i), d: [key] }];
    node = node[key];
  }
  if (!isObject(node)) return [];
  const set = keyed();
  const removed: string[] = [];
  for (const key of [...Object.keys(op.s ?? {}), ...(op.d ?? [])]) {
    if (Object.hasOwn(node, key)) setOwn(set, key, node[key]);
    else removed.push(key);
  }
  return [{ p: op.p, s: set, d: removed }];
}

/** A write that did not reach the disk, as the core answers it: 503 STORAGE_UNAVAILABLE (the cause kept for the log). */
function unavailable(cause: unknown): NsError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const error = new NsError('STORAGE_UNAVAILABLE', `The store cannot write now${code ? ` (${code})` : ''}; try again later`, { retryAfterMs: STORAGE_RETRY_MS });
  return Object.assign(error, { cause });
}

/**
 * An object for keys that are ids (a record's key, a session's): without a prototype, so a
 * dictionary from the start. (A plain `{}` given such a key makes a hidden class for it, one per
 * id, never used again.)
 */
export const keyed = (): Record<string, unknown> => Object.create(null) as Record<string, unknown>;

/** `obj[key] = value` that also works for keys such as "__proto__" (ids and names may be anything). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  // A plain assignment is several times cheaper; only "__proto__" needs defining (the documents'
  // objects come from JSON.parse or `{}`: no other key has a setter).
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

async function removeStaleTemps(dir: string, file: string): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    if (name.startsWith(`${file}.`) && /\.\d+\.\d+\.tmp$/.test(name)) await fs.rm(path.join(dir, name), { force: true });
  }
}
