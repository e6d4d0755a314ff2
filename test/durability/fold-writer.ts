/**
 * The child process of fold-crash.test.ts: opens the store of a data folder with a small fold
 * threshold (so its journals fold over and over) and writes a stream of changes until it is
 * killed, telling its parent on stdout — synchronously, so a line written is never lost to the
 * kill — when it is ready, each change acknowledged, and each fold begun and ended.
 *
 *   node --import tsx test/durability/fold-writer.ts <dir> <round> <seed> <keys> <foldBytes>
 *
 * The change made to key j the i-th time is a function of (j, i) alone (see `step`), so the
 * parent knows what any state of key j means; a key's next change is asked only once the last
 * one is acknowledged, so after a crash key j holds the state of its last acknowledged change or
 * of the one after it.
 */
import { writeSync } from 'node:fs';
import path from 'node:path';
import { LowdbStore } from '../../src/adapters/lowdb/lowdb-store.ts';
import type { StoreTx } from '../../src/ports.ts';

export type Step = 'put' | 'patch' | 'delete';
/** What the i-th change of a key does: put, patch, patch, put, delete, put, … */
export const step = (i: number): Step => (['put', 'patch', 'patch', 'put', 'delete'] as const)[i % 5]!;
/** The index of the last put at or before change i (the attributes it set are still there). */
export const lastPut = (i: number): number => (i % 5 >= 3 ? i - (i % 5) + 3 : i - (i % 5));

/** Applies change i of key j of round r: a user and a role (one change, both records) and a saved session (the other document). */
export function change(tx: StoreTx, round: number, j: number, i: number): void {
  const serverid = `r${round}`;
  const userid = `j${j}`;
  const role = `r${round}j${j}`;
  const session = `r${round}:j${j}`;
  switch (step(i)) {
    case 'put':
      tx.put('user', [serverid, userid], { userid, attributes: { put: i, pad: 'p'.repeat(40 + (j % 50)) }, created: i });
      tx.put('role', [role], { description: `put ${i}`, created: i });
      tx.put('session', [session], { snapshot: { put: i }, since: i });
      return;
    case 'patch':
      tx.patch('user', [serverid, userid], { created: i });
      tx.patch('role', [role], { created: i });
      tx.patch('session', [session], { since: i });
      return;
    case 'delete':
      tx.delete('user', [serverid, userid]);
      tx.delete('role', [role]);
      tx.delete('session', [session]);
      return;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const [dir, roundArg, seedArg, keysArg, foldArg] = process.argv.slice(2);
  const round = Number(roundArg);
  const keys = Number(keysArg);
  /** Writes a line to the parent at once (a pipe the parent reads late says EAGAIN: try again). */
  const say = (line: string) => {
    const bytes = Buffer.from(`${line}\n`);
    for (let at = 0; at < bytes.length; ) {
      try {
        at += writeSync(1, bytes, at);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
    }
  };
  const store = await LowdbStore.open(dir!, {
    foldBytes: Number(foldArg),
    onFold: (e) => say(`fold ${path.basename(e.file)} ${e.phase} ${e.upTo}`),
  });
  say('ready');
  let seed = Number(seedArg) >>> 0;
  const random = () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const next = new Array<number>(keys).fill(0);
  const busy = new Set<number>();
  // 16 writers, each on a key no other one is changing.
  const writer = async () => {
    for (;;) {
      let j = Math.floor(random() * keys);
      while (busy.has(j)) j = (j + 1) % keys;
      busy.add(j);
      const i = next[j]!;
      await store.transact((tx) => change(tx, round, j, i));
      say(`ack ${j} ${i}`);
      next[j] = i + 1;
      busy.delete(j);
    }
  };
  await Promise.all(Array.from({ length: 16 }, writer));
}
