/**
 * A grown embedded store, made fast: a real NS makes the data folder and one virtual server
 * (REST), stops, and then N users (each with one account) and S saved logged-in sessions are
 * written straight into its files in the store's own format (`nextauth.json`,
 * `sessions.json`: src/adapters/lowdb/data.ts), streamed in slices so that a million records
 * never make one giant string.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Rest } from './rest.ts';
import { NsProcess } from './server.ts';

export interface SeededStore {
  dir: string;
  serverid: string;
  /** nextauth.json's size */
  storeBytes: number;
  remove(): void;
}

const b64url = (bytes: Buffer) => bytes.toString('base64url');
const SLICE = 10_000;

/** Writes `{...head, [key]: {[sub]: {entries}}}` as JSON to `file`, the entries made `SLICE` at a time. */
function writeDocument(file: string, head: Record<string, unknown>, nested: Record<string, { sub: string; n: number; entry: (i: number) => [string, unknown] }>): void {
  const fd = openSync(file, 'w', 0o600);
  try {
    const rest = Object.fromEntries(Object.entries(head).filter(([k]) => !(k in nested)));
    let text = JSON.stringify(rest).slice(0, -1);
    for (const [key, { sub, n, entry }] of Object.entries(nested)) {
      const others = Object.entries((head[key] ?? {}) as Record<string, unknown>).filter(([k]) => k !== sub);
      text += `${text.endsWith('{') ? '' : ','}${JSON.stringify(key)}:{`;
      for (const [k, v] of others) text += `${JSON.stringify(k)}:${JSON.stringify(v)},`;
      text += `${JSON.stringify(sub)}:{`;
      for (let i = 0; i < n; i++) {
        const [k, v] = entry(i);
        text += `${i ? ',' : ''}${JSON.stringify(k)}:${JSON.stringify(v)}`;
        if (text.length > 1 << 20) {
          writeSync(fd, text);
          text = '';
        }
      }
      text += '}}';
    }
    writeSync(fd, `${text}}`);
  } finally {
    closeSync(fd);
  }
}

export async function seedStore(opts: { users: number; rootKey: string; sessions?: number }): Promise<SeededStore> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-growth-'));
  const ns = await NsProcess.start({ rootKey: opts.rootKey, dataDir: dir });
  let serverid: string;
  try {
    const rest = new Rest(ns.url, opts.rootKey);
    ({ serverid } = await rest.ok<{ serverid: string }>('POST', '/servers/', { body: { serverName: 'growth' } }));
    rest.close();
  } finally {
    await ns.stop();
  }

  const now = Date.now();
  const n = opts.users;
  // Public keys must differ (the store finds accounts by key): random bytes, the index in the first four.
  const keys = randomBytes(32 * Math.min(n, SLICE));
  const pk = (i: number) => {
    const key = Buffer.from(keys.subarray((i % SLICE) * 32, (i % SLICE) * 32 + 32));
    key.writeUInt32BE(i);
    return b64url(key);
  };
  const userid = (i: number) => `user-${String(i).padStart(7, '0')}`;
  const file = path.join(dir, 'nextauth.json');
  const main = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
  main.servers[serverid].nextAccountId = n + 1;
  writeDocument(file, main, {
    users: {
      sub: serverid,
      n,
      entry: (i) => [userid(i), { userid: userid(i), attributes: { name: `User ${i}`, plan: i % 10 === 0 ? 'gold' : 'basic' }, created: now - i }],
    },
    accounts: {
      sub: serverid,
      n,
      entry: (i) => [
        String(i + 1),
        {
          id: i + 1,
          description: 'growth',
          userid: userid(i),
          blocked: false,
          created: now - i,
          lastlogin: now - i * 1000,
          pk: pk(i),
        },
      ],
    },
  });

  if (opts.sessions) {
    const sfile = path.join(dir, 'sessions.json');
    const doc = JSON.parse(readFileSync(sfile, 'utf8')) as Record<string, any>;
    const sessions = opts.sessions;
    // Saved sessions are keyed `${serverid}:${hsid}` directly under `sessions`.
    const fd = openSync(sfile, 'w', 0o600);
    try {
      let text = `${JSON.stringify({ ...doc, sessions: undefined }).slice(0, -1)},"sessions":{`;
      for (let i = 0; i < sessions; i++) {
        const account = (i % n) + 1;
        const saved = {
          snapshot: {
            value: { authenticated: 'oneShot' },
            // As the hub saves it: the fields that differ from a new session's (src/core/hub.ts, pack).
            context: { account, lastAccount: account, userContext: {} },
          },
          since: now,
        };
        text += `${i ? ',' : ''}${JSON.stringify(`${serverid}:${b64url(randomBytes(32))}`)}:${JSON.stringify(saved)}`;
        if (text.length > 1 << 20) {
          writeSync(fd, text);
          text = '';
        }
      }
      writeSync(fd, `${text}}}`);
    } finally {
      closeSync(fd);
    }
  }
  return { dir, serverid, storeBytes: statSync(file).size, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
