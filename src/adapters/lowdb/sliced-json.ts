/**
 * A JSON document written to a file a slice at a time, giving the event loop back between slices,
 * while the document goes on changing (the fold of journal-file.ts) — and written as it was when
 * the write began, exactly.
 *
 * How: a frozen object (a record) never changes — a change replaces it — so it can be stringified
 * whenever it is reached. What changes between slices are the objects that are not frozen (the
 * containers: the document, `users`, `users[serverid]`…), and only through the store's own
 * operations, which tell the StartView before they set or remove a key of one: the first time a
 * key changes during the write, the view keeps what it held (or that it was not there). The writer
 * reads each container through the view: its keys, and the value of each, as when the write began.
 * Memory: one entry per key changed during the write. With the document unchanged, the bytes are
 * those of `JSON.stringify`.
 */
import type { FileHandle } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

/**
 * Work done between two turns given back to the event loop (ms). A change made during a fold
 * waits about one slice at each of its steps (the append's start, its write, its fdatasync): with
 * 1 ms, a login is acknowledged in ~7 ms during a fold of 40 MiB (~1 ms otherwise), 15 at most.
 */
const SLICE_MS = 1;
/** Text gathered before it is written to the file (characters). */
const CHUNK = 256 * 1024;
/**
 * Bytes written between two fdatasyncs of the file: flushed to the disk as it goes, so that the
 * final fsync is short (one fsync of 40 MiB holds every other fsync of the disk for tens of ms).
 */
const SYNC_BYTES = 4 * 1024 * 1024;
/** Keys written between two looks at the clock. */
const KEYS_PER_LOOK = 32;

export class SliceAborted extends Error {
  override name = 'SliceAborted';
}

export interface SlicedWrite {
  /** Bytes written. */
  bytes: number;
  /** Slices (turns of the event loop) the write took. */
  slices: number;
  /** The longest slice, ms (the longest the write held the event loop). */
  longestSliceMs: number;
}

/** What a key held when the write began: not there. */
const UNSET = Symbol('unset');

/** The containers of a document as they were when a write began, while they go on changing. */
export class StartView {
  /** Container → the keys changed since the start → what each held then (UNSET: not there). */
  private readonly before = new Map<object, Map<string, unknown>>();

  /** To be called before `obj[key]` is set or removed (obj: a container, not frozen). */
  remember(obj: Record<string, unknown>, key: string): void {
    let changed = this.before.get(obj);
    if (!changed) this.before.set(obj, (changed = new Map()));
    if (!changed.has(key)) changed.set(key, Object.hasOwn(obj, key) ? obj[key] : UNSET);
  }

  /** The container's keys at the start. */
  keys(obj: Record<string, unknown>): string[] {
    const changed = this.before.get(obj);
    if (!changed) return Object.keys(obj);
    const keys = Object.keys(obj).filter((k) => changed.get(k) !== UNSET); // (not added since)
    for (const [k, was] of changed) if (was !== UNSET && !Object.hasOwn(obj, k)) keys.push(k); // removed since
    return keys;
  }

  /** What `obj[key]` held at the start (UNSET: nothing). */
  value(obj: Record<string, unknown>, key: string): unknown {
    const changed = this.before.get(obj);
    if (changed?.has(key)) return changed.get(key);
    return Object.hasOwn(obj, key) ? obj[key] : UNSET;
  }
}

/**
 * Writes `{<head>,...data}` (head: JSON members, such as `"journal":12`), as `view` says it was at
 * the start, to `handle`, yielding to the event loop at least every few ms. Throws SliceAborted,
 * between two slices, once `aborted()`.
 */
export async function writeSliced(handle: FileHandle, head: string, data: object, view: StartView, aborted: () => boolean): Promise<SlicedWrite> {
  const out = new Slicer(handle, view, aborted);
  await out.object(data as Record<string, unknown>, head);
  await out.end();
  return { bytes: out.bytes, slices: out.slices, longestSliceMs: out.longest };
}

const isContainer = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !Object.isFrozen(v);

class Slicer {
  bytes = 0;
  slices = 1;
  longest = 0;
  private parts: string[] = [];
  private pending = 0;
  private keys = 0;
  private sliceStart = performance.now();

  constructor(
    private readonly handle: FileHandle,
    private readonly view: StartView,
    private readonly aborted: () => boolean,
  ) {}

  private push(text: string): void {
    this.parts.push(text);
    this.pending += text.length;
  }

  async object(obj: Record<string, unknown>, head = ''): Promise<void> {
    this.push(`{${head}`);
    let first = head === '';
    for (const key of this.view.keys(obj)) {
      const value = this.view.value(obj, key);
      if (value === UNSET) continue; // (not there at the start)
      if (isContainer(value)) {
        this.push(`${first ? '' : ','}${JSON.stringify(key)}:`);
        first = false;
        await this.object(value);
      } else {
        const text = JSON.stringify(value);
        if (text === undefined) continue; // as JSON.stringify leaves it out
        this.push(`${first ? '' : ','}${JSON.stringify(key)}:${text}`);
        first = false;
      }
      if (++this.keys % KEYS_PER_LOOK === 0) await this.breathe();
    }
    this.push('}');
  }

  /** Writes what was gathered once there is enough, and gives the event loop a turn once the slice is used up. */
  private async breathe(): Promise<void> {
    if (this.pending < CHUNK && performance.now() - this.sliceStart < SLICE_MS) return;
    const chunk = this.pending >= CHUNK ? this.take() : undefined;
    this.endSlice();
    // (Awaiting the write gives the event loop its turn.)
    if (chunk) await this.write(chunk);
    else await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.aborted()) throw new SliceAborted('the write was given up');
    this.startSlice();
  }

  async end(): Promise<void> {
    const chunk = this.take();
    this.endSlice();
    await this.write(chunk);
  }

  /** What was gathered, as bytes. */
  private take(): Buffer {
    const buffer = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.pending = 0;
    return buffer;
  }

  private async write(buffer: Buffer): Promise<void> {
    for (let at = 0; at < buffer.length; ) at += (await this.handle.write(buffer, at)).bytesWritten;
    if (Math.floor((this.bytes + buffer.length) / SYNC_BYTES) > Math.floor(this.bytes / SYNC_BYTES)) await this.handle.datasync();
    this.bytes += buffer.length;
  }

  private endSlice(): void {
    this.longest = Math.max(this.longest, performance.now() - this.sliceStart);
  }

  private startSlice(): void {
    this.slices++;
    this.sliceStart = performance.now();
  }
}
