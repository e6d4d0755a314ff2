/**
 * A login's times (`Accounts.recordLogin`: the account's lastlogin and lastSecondFactor, the
 * server's lastLogin) are made at once and written with the registry's next write or within
 * 50 ms, not waited for: the login waits for one write to the disk (its saved session), not two.
 * A write that fails takes them back out and is told as `unwritten`.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LowdbStore } from '../../../src/adapters/lowdb/lowdb-store.ts';
import { loadConfig } from '../../../src/config.ts';
import { Registry } from '../../../src/core/admin/registry.ts';
import { NsError } from '../../../src/wire/errors.ts';
import { until } from '../../helpers/peers.ts';

const dirs: string[] = [];
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function world() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-record-login-'));
  dirs.push(dir);
  const store = await LowdbStore.open(dir);
  const registry = new Registry(store, loadConfig(new Map(), {}).limits);
  const { serverid } = await registry.servers.create({ serverName: 'Times' });
  const account = await store.transact((tx) => registry.accounts.createInChange(tx, serverid, { pk: 'a'.repeat(43), description: 'phone', secondFactor: 'none' }, 1));
  const journalLines = () => readFileSync(path.join(dir, 'nextauth.journal'), 'utf8').split('\n').filter(Boolean).length;
  return { dir, store, registry, serverid, id: account.id, journalLines };
}

test('made at once (every read sees it), on disk soon after without another change', async () => {
  const { store, registry, serverid, id, journalLines } = await world();
  const before = journalLines();
  await registry.accounts.recordLogin(serverid, id, 'pin', 1_000);
  const account = await registry.accounts.get(serverid, id);
  assert.is(account?.lastlogin, 1_000);
  assert.is(account?.lastSecondFactor, 1_000);
  assert.is((await registry.servers.get(serverid))?.lastLogin, 1_000);
  assert.is(journalLines(), before, 'not waited for');
  await until(() => journalLines() === before + 1, 'the line written');
  await store.close();
});

test('a write that fails takes the times back out and is told as `unwritten` (STORAGE_UNAVAILABLE)', async () => {
  const { dir, store, serverid, id } = await world();
  await store.close();
  const again = await LowdbStore.open(dir);
  const registryAgain = new Registry(again, loadConfig(new Map(), {}).limits);
  const journal = path.join(dir, 'nextauth.journal');
  rmSync(journal);
  mkdirSync(journal); // the next append cannot open it
  const told = new Promise<unknown[]>((resolve) => registryAgain.accounts.events.once('unwritten', (...args) => resolve(args)));
  const before = (await registryAgain.accounts.get(serverid, id))?.lastlogin;
  await registryAgain.accounts.recordLogin(serverid, id, 'none', 2_000);
  assert.is((await registryAgain.accounts.get(serverid, id))?.lastlogin, 2_000, 'made at once');
  const [s, account, error] = await told;
  assert.equal([s, account], [serverid, id]);
  assert.ok(error instanceof NsError && error.code === 'STORAGE_UNAVAILABLE', String(error));
  assert.is((await registryAgain.accounts.get(serverid, id))?.lastlogin, before, 'taken back out');
  assert.is.not(before, 2_000);
  rmSync(journal, { recursive: true });
  await again.close();
});

test.run();
