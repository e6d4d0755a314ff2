/**
 * `nextauth store copy`: every record of one store into another that is empty (the embedded
 * store grown too big for one process, moved to PostgreSQL), then checked record by record: each
 * one read back from the target must be what the source holds.
 */
import { isDeepStrictEqual } from 'node:util';
import type { KeyOf, RecordKind, Store, StoredRecord, ValueOf } from '../../ports.ts';

/** The target already holds records. */
export class StoreNotEmptyError extends Error {
  override name = 'StoreNotEmptyError';
}

export interface CopyReport {
  /** Records copied, by kind. */
  copied: Partial<Record<RecordKind, number>>;
  total: number;
  /** Records the target does not give back as the source has them (kind and key): none when the copy is good. */
  mismatches: Array<{ kind: RecordKind; key: readonly unknown[] }>;
}

/** Records written per change (one transaction of the target each). */
const BATCH = 500;

export async function copyStore(records: () => Iterable<StoredRecord>, target: Store, opts: { onProgress?: (done: number) => void } = {}): Promise<CopyReport> {
  // Into an empty store only: a copy merged into other records could not be checked. (A store
  // that was ever used has a root key.)
  if ((await target.listServers()).length > 0 || (await target.hasRootKey())) {
    throw new StoreNotEmptyError('the target store is not empty: copy into a new database');
  }
  const copied: CopyReport['copied'] = {};
  let total = 0;
  let batch: StoredRecord[] = [];
  const flush = async () => {
    const records = batch;
    batch = [];
    await target.transact((tx) => {
      for (const r of records) tx.put(r.kind, r.key, r.value as never);
    });
    opts.onProgress?.(total);
  };
  for (const record of records()) {
    batch.push(record);
    copied[record.kind] = (copied[record.kind] ?? 0) + 1;
    total++;
    if (batch.length >= BATCH) await flush();
  }
  if (batch.length > 0) await flush();

  const mismatches: CopyReport['mismatches'] = [];
  for (const { kind, key, value } of records()) {
    const back = await target.get(kind as RecordKind, ...(key as KeyOf<RecordKind>));
    if (!isDeepStrictEqual(plain(back), plain(value as ValueOf<RecordKind>))) mismatches.push({ kind, key });
  }
  return { copied, total, mismatches };
}

/** A record as JSON carries it (what a store keeps: no undefined fields, no frozen-ness). */
const plain = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
