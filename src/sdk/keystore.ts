/**
 * Where the phone keeps its accounts. The SDK only needs these four operations, so an app can
 * back them with whatever its platform offers (Keychain / Keystore, encrypted storage, a file).
 *
 * This file imports nothing, so it runs anywhere (Node, browsers, React Native).
 */

/**
 * One account of this phone on one server, as the SDK stores it. Binary values are base64url
 * without padding (PROTOCOL.md §1), so the record is plain JSON.
 */
export interface StoredAccount {
  /** The server's id (16 bytes, base64url). */
  serverid: string;
  /** The server's Ed25519 public key, pinned at enrolment (32 bytes, base64url). */
  serverpk: string;
  /** The account id the server gave at enrolment. */
  acc: number;
  /** The account's 64-byte NaCl Ed25519 secret key (seed || public key), base64url. */
  secretKey: string;
  /** The account's 32-byte X25519 secret key (for pushes), base64url. */
  boxSecretKey: string;
  /** The server's display name. */
  name: string;
  /** The `ws(s)://` URL of the server's app channel. */
  appUrl: string;
  /** The server's second-factor policy in minutes (-1 never, 0 always). */
  pinTimeout: number;
  /** Seconds between the server's liveness pings for continuous logins (0: none). */
  pingTime: number;
  /** The server's logo, as the server sent it. */
  logo?: string;
  /** The relying party's user id from the enrol QR code, if any. */
  userid?: string | null;
}

/** The storage an app gives the SDK. An account is identified by (serverid, acc). */
export interface KeyStore {
  /** Every account, in the order they were first stored. */
  list(): Promise<StoredAccount[]>;
  /** The accounts of one server (serverid in base64url), in the order they were first stored. */
  find(serverid: string): Promise<StoredAccount[]>;
  /** Stores an account, replacing the one with the same (serverid, acc). */
  put(account: StoredAccount): Promise<void>;
  /** Forgets an account; no error when there is none. */
  remove(serverid: string, acc: number): Promise<void>;
}

/** True when `a` is the account (serverid, acc). */
export const isAccount = (a: StoredAccount, serverid: string, acc: number): boolean => a.serverid === serverid && a.acc === acc;

/**
 * Returns `accounts` with `account` stored in it: replaces the entry with the same
 * (serverid, acc) in place, or appends it. Does not change `accounts`.
 */
export function withAccount(accounts: readonly StoredAccount[], account: StoredAccount): StoredAccount[] {
  const copy = { ...account };
  const index = accounts.findIndex((a) => isAccount(a, account.serverid, account.acc));
  return index < 0 ? [...accounts, copy] : accounts.map((a, i) => (i === index ? copy : a));
}

/** A KeyStore in memory, for tests and short-lived tools. Hands out copies, never its own records. */
export class MemoryKeyStore implements KeyStore {
  #accounts: StoredAccount[] = [];

  /** @param accounts initial accounts (copied) */
  constructor(accounts: readonly StoredAccount[] = []) {
    for (const a of accounts) this.#accounts = withAccount(this.#accounts, a);
  }

  async list(): Promise<StoredAccount[]> {
    return this.#accounts.map((a) => ({ ...a }));
  }

  async find(serverid: string): Promise<StoredAccount[]> {
    return this.#accounts.filter((a) => a.serverid === serverid).map((a) => ({ ...a }));
  }

  async put(account: StoredAccount): Promise<void> {
    this.#accounts = withAccount(this.#accounts, account);
  }

  async remove(serverid: string, acc: number): Promise<void> {
    this.#accounts = this.#accounts.filter((a) => !isAccount(a, serverid, acc));
  }
}
