/**
 * Where logins that must survive a restart are kept: `sessions.json` (a snapshot, written the
 * lowdb way: atomic, 0600, `.bak`, refused when damaged) plus `sessions.journal`, one JSON line
 * per change, appended and fsynced. A login costs one short append instead of a rewrite of every
 * saved session (the benchmark measured the rewrites as half the server's CPU). Appends made
 * while one is being written share the next one. The journal is folded into the snapshot when it
 * grows, on start and on close.
 *
 * A crash can leave a torn last line: it is dropped (its change was never acknowledged). Replaying
 * a journal over a snapshot that already holds it gives the same result, so a crash between the
 * snapshot's rename and the journal's truncation loses nothing.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { emptySessions, type SavedSession, type SessionsData } from './data.ts';
import { LowdbStore, StoreDamagedError } from './lowdb-store.ts';

/** What the session hub needs of it. */
export interface SessionSaver {
  readonly sessions: Readonly<Record<string, SavedSession>>;
  /** Resolves once the change is on disk. */
  put(key: string, session: SavedSession): Promise<void>;
  remove(key: string): Promise<void>;
}

/** Fold the journal into the snapshot past this many bytes (and past the snapshot's own size). */
const COMPACT_BYTES = 4 * 1024 * 1024;

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class SessionJournal implements SessionSaver {
  readonly stats = { changes: 0, writes: 0 };
  private lines: string[] = [];
  private waiters: Waiter[] = [];
  private writing = false;
  private journalBytes = 0;
  private snapshotBytes = 0;

  private constructor(
    private readonly snapshot: LowdbStore<SessionsData>,
    private readonly file: string,
  ) {}

  static async open(dir: string): Promise<SessionJournal> {
    const snapshot = await LowdbStore.openFile(dir, 'sessions.json', emptySessions);
    const file = path.join(dir, 'sessions.journal');
    const journal = new SessionJournal(snapshot, file);
    await journal.replay();
    await journal.compact();
    return journal;
  }

  get sessions(): Readonly<Record<string, SavedSession>> {
    return this.snapshot.data.sessions;
  }

  put(key: string, session: SavedSession): Promise<void> {
    this.snapshot.data.sessions[key] = session;
    return this.append({ k: key, v: session });
  }

  remove(key: string): Promise<void> {
    delete this.snapshot.data.sessions[key];
    return this.append({ k: key });
  }

  async close(): Promise<void> {
    await this.flush();
    await this.compact();
    await this.snapshot.close();
  }

  flush(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.schedule();
    });
  }

  private append(entry: { k: string; v?: SavedSession }): Promise<void> {
    this.stats.changes++;
    this.lines.push(JSON.stringify(entry));
    return this.flush();
  }

  private schedule(): void {
    if (this.writing) return;
    this.writing = true;
    setImmediate(() => void this.pump());
  }

  private async pump(): Promise<void> {
    while (this.waiters.length > 0) {
      const batch = this.waiters;
      const lines = this.lines;
      this.waiters = [];
      this.lines = [];
      try {
        if (lines.length) {
          const text = lines.join('\n') + '\n';
          const handle = await fs.open(this.file, 'a', 0o600);
          try {
            await handle.writeFile(text);
            await handle.datasync();
          } finally {
            await handle.close();
          }
          this.journalBytes += Buffer.byteLength(text);
          this.stats.writes++;
        }
        for (const w of batch) w.resolve();
      } catch (e) {
        for (const w of batch) w.reject(e);
      }
      if (this.journalBytes > Math.max(COMPACT_BYTES, this.snapshotBytes)) {
        await this.compact().catch(() => undefined); // the journal stays; the next compaction retries
      }
    }
    this.writing = false;
  }

  /** Applies the journal left by the last run to the snapshot (in memory). */
  private async replay(): Promise<void> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    const lines = text.split('\n');
    const sessions = this.snapshot.data.sessions;
    lines.forEach((line, i) => {
      if (line === '') return;
      let entry: { k?: unknown; v?: SavedSession };
      try {
        entry = JSON.parse(line) as { k?: unknown; v?: SavedSession };
      } catch {
        if (i === lines.length - 1) return; // torn by a crash: never acknowledged
        throw new StoreDamagedError(`${this.file} line ${i + 1} does not parse; it was left untouched. Remove the file to start without the logins it holds.`);
      }
      if (typeof entry.k !== 'string') throw new StoreDamagedError(`${this.file} line ${i + 1} names no session; it was left untouched.`);
      if (entry.v === undefined) delete sessions[entry.k];
      else sessions[entry.k] = entry.v;
    });
  }

  /** Writes the snapshot (atomically), then empties the journal. */
  private async compact(): Promise<void> {
    await this.snapshot.flush();
    this.snapshotBytes = JSON.stringify(this.snapshot.data).length;
    const handle = await fs.open(this.file, 'w', 0o600);
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
    this.journalBytes = 0;
  }
}
