/** The Store contract against the lowdb adapter (a temp data folder; reopen = a restart on it). */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LowdbStore } from '../../src/adapters/lowdb/lowdb-store.ts';
import { storeContract } from './store.contract.ts';

const dirs: string[] = [];
process.on('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

storeContract('lowdb', {
  async open() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-store-contract-'));
    dirs.push(dir);
    const store = await LowdbStore.open(dir);
    // A restart: the first process is gone (its files as it left them, not closed), a new one opens.
    return { store, reopen: () => LowdbStore.open(dir) };
  },
});
