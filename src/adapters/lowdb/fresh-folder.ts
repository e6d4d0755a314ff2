/**
 * A data folder that holds no store yet: missing, or without `nextauth.json` and its journal
 * (the repository's `data/` holds only `.gitkeep`). `undo` removes what was added to it since:
 * the folder itself when it was missing, else every entry it did not have. A first start that
 * fails before it listens calls it, so no root key is kept that was never shown.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** The files whose presence means the folder holds a store. */
const STORE_FILES = ['nextauth.json', 'nextauth.journal'];

export async function freshFolder(dir: string): Promise<{ undo(): Promise<void> } | undefined> {
  let before: string[] | undefined;
  try {
    before = await fs.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (before?.some((name) => STORE_FILES.includes(name))) return undefined;
  return {
    async undo() {
      if (before === undefined) return fs.rm(dir, { recursive: true, force: true });
      const had = new Set(before);
      for (const name of await fs.readdir(dir).catch(() => [])) if (!had.has(name)) await fs.rm(path.join(dir, name), { recursive: true, force: true });
    },
  };
}
