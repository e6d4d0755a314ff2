/**
 * `nextauth store copy --from <data folder> --to postgres://…`: moves a grown embedded store to
 * PostgreSQL (src/core/admin/copy-store.ts), the source left untouched: refused while a server
 * runs on it, and read from a copy of its files (opening a lowdb store folds its journals).
 */
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LowdbStore } from '../adapters/lowdb/lowdb-store.ts';
import { liveRunLock, RUN_LOCK_FILE } from '../adapters/lowdb/run-lock.ts';
import { PostgresStore } from '../adapters/postgres/postgres-store.ts';
import { copyStore, StoreNotEmptyError } from '../core/admin/copy-store.ts';
import { type Args, OpError, UsageError, checkFlags, positionals } from './args.ts';

export async function runStore(args: Args, out: (text: string) => void): Promise<void> {
  const [sub] = args.rest.slice(1);
  if (sub !== 'copy') throw new UsageError('nextauth store copy --from <data folder> --to postgres://…');
  checkFlags(args.flags, ['from', 'to', 'json'], 'store copy');
  positionals(args.rest.slice(2), [], 'store copy');
  const from = args.flags.get('from');
  const to = args.flags.get('to');
  if (!from || !to) throw new UsageError('store copy needs --from <data folder> and --to postgres://…');
  if (!/^postgres(ql)?:\/\//.test(to)) throw new UsageError('--to must be a postgres:// URL');
  const names = await readdir(from).catch(() => {
    throw new OpError('NO_DATA', `no nextAuth data in ${from}`);
  });
  if (!names.includes('nextauth.json')) throw new OpError('NO_DATA', `no nextAuth data in ${from}`);
  const lock = await liveRunLock(from);
  if (lock) throw new OpError('SERVER_RUNNING', `a server (pid ${lock.pid}) is running on ${from}: stop it first`);

  // A copy of the files to read from: the source is only read.
  const work = await mkdtemp(path.join(os.tmpdir(), 'nextauth-copy-'));
  try {
    for (const name of names) if (name !== RUN_LOCK_FILE && /^(nextauth|sessions)\.(json|journal)/.test(name)) await cp(path.join(from, name), path.join(work, name));
    const source = await LowdbStore.open(work);
    const target = await PostgresStore.open(to);
    try {
      const started = Date.now();
      const report = await copyStore(() => source.records(), target);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (args.flags.get('json') === 'true') out(`${JSON.stringify({ ...report, seconds: Number(seconds) })}\n`);
      else {
        const kinds = Object.entries(report.copied).map(([kind, n]) => `${n} ${kind}`);
        out(`Copied ${report.total} records (${kinds.join(', ') || 'none'}) from ${from} to PostgreSQL in ${seconds} s; each one read back and compared.\n`);
      }
      if (report.mismatches.length > 0) {
        const first = report.mismatches.slice(0, 5).map((m) => `${m.kind} ${JSON.stringify(m.key)}`);
        throw new OpError('COPY_MISMATCH', `${report.mismatches.length} records read back differ from the source (${first.join('; ')}); the source is untouched`);
      }
    } catch (e) {
      if (e instanceof StoreNotEmptyError) throw new OpError('NOT_EMPTY', e.message);
      throw e;
    } finally {
      await target.close();
      await source.close();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
