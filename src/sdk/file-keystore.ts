/**
 * A KeyStore in one JSON file, for Node tools (the CLI's app simulator, tests). Not for React
 * Native: it uses node:fs.
 *
 * The file holds account secret keys, so it is created mode 0600 and every write replaces it
 * atomically (temp file in the same folder, fsync, rename): a crash leaves the old file or the
 * new one, never half of one. Operations of one FileKeyStore run one after the other; the file is
 * read on every operation, so two stores on the same path in one process see each other's writes.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isAccount, withAccount, type KeyStore, type StoredAccount } from './keystore.ts';

/** What the file holds. */
interface KeyFile {
  version: 1;
  accounts: StoredAccount[];
}

export class FileKeyStore implements KeyStore {
  /** Operations run in order on this chain, so a read never sees a half-done update. */
  #queue: Promise<unknown> = Promise.resolve();

  /** Path of the JSON file. */
  readonly file: string;

  /** @param file path of the JSON file; created (with its folder) on the first write */
  constructor(file: string) {
    this.file = file;
  }

  list(): Promise<StoredAccount[]> {
    return this.#run(() => this.#read());
  }

  find(serverid: string): Promise<StoredAccount[]> {
    return this.#run(async () => (await this.#read()).filter((a) => a.serverid === serverid));
  }

  put(account: StoredAccount): Promise<void> {
    return this.#run(async () => this.#write(withAccount(await this.#read(), account)));
  }

  remove(serverid: string, acc: number): Promise<void> {
    return this.#run(async () => {
      const accounts = await this.#read();
      const kept = accounts.filter((a) => !isAccount(a, serverid, acc));
      if (kept.length !== accounts.length) await this.#write(kept);
    });
  }

  /** Runs `op` after every operation queued before it. */
  #run<T>(op: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(op);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** The stored accounts; none when the file does not exist. A damaged file is an error, not an empty store. */
  async #read(): Promise<StoredAccount[]> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const data = JSON.parse(text) as Partial<KeyFile>;
    if (data.version !== 1 || !Array.isArray(data.accounts)) {
      throw new Error(`${this.file} is not a nextAuth key file`);
    }
    return data.accounts;
  }

  /** Replaces the file atomically with `accounts`, mode 0600. */
  async #write(accounts: StoredAccount[]): Promise<void> {
    const data: KeyFile = { version: 1, accounts };
    const dir = path.dirname(this.file);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = path.join(dir, `.${path.basename(this.file)}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`);
    const handle = await fs.open(temp, 'wx', 0o600);
    try {
      await handle.chmod(0o600); // the umask cannot widen it, but be explicit about it
      await handle.writeFile(`${JSON.stringify(data, null, 2)}\n`, 'utf8');
      await handle.sync();
    } catch (e) {
      await handle.close();
      await fs.rm(temp, { force: true });
      throw e;
    }
    await handle.close();
    await fs.rename(temp, this.file);
  }
}
