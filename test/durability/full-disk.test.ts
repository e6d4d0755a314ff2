/**
 * The store cannot write (PROTOCOL.md §6, a full disk): the data folder is a small tmpfs, filled
 * up. Every change is refused `503 STORAGE_UNAVAILABLE` with `Retry-After` (an enrolment too:
 * the phone hears the code), nothing of it stays in memory or on disk, and once there is room
 * again the NS writes by itself; a restart finds exactly the changes that were acknowledged.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { LowdbStore } from '../../src/adapters/lowdb/lowdb-store.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { codeOf, newNonce, newPhone, qr } from '../helpers/peers.ts';
import { expectError, expectOk, newServer } from '../helpers/rest.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-full-disk-'));
/** Mounting needs root (CAP_SYS_ADMIN); CI runs as root, a developer's laptop may not. */
const mounted = (() => {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
process.on('exit', () => {
  if (mounted) execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
});

/** Fills the file system until a write fails; returns the filler's path (remove it to make room). */
function fill(): string {
  const filler = path.join(dir, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  // The last bytes too (a write of less than a chunk).
  try {
    const fd2 = openSync(path.join(dir, 'filler-tail'), 'w');
    try {
      for (;;) writeSync(fd2, Buffer.alloc(1, 1));
    } finally {
      closeSync(fd2);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  return filler;
}

if (!mounted) {
  console.log('skipped: cannot mount a tmpfs for the data folder here (mounting needs root)');
} else {
  test('a full disk: 503 STORAGE_UNAVAILABLE with Retry-After, nothing changed; the NS writes again once there is room; a restart agrees', async () => {
    let ns: TestServer = await startTestServer({}, dir);
    const srv = await newServer(ns, 'Full disk');
    expectOk(await ns.api('POST', `/servers/${srv}/users/before/attributes/`, { body: { k: 1 } }));
    const phone = newPhone();
    await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=before'));
    const accounts = await ns.registry.store.countAccounts(srv);

    const users = (await ns.registry.store.listUsers(srv, {})).totalnumber;
    const lateCode = await qr(ns, srv, newNonce(), 'enrol'); // (making a code writes: before the disk is full)
    const filler = fill();
    // A small append may still fit in the journal's last page: write until one is refused.
    const acknowledged: string[] = [];
    let refused: Awaited<ReturnType<TestServer['api']>> | undefined;
    for (let i = 0; i < 1000 && !refused; i++) {
      const r = await ns.api('POST', `/servers/${srv}/users/fill-${i}/attributes/`, { body: { k: i } });
      if (r.status === 200) acknowledged.push(`fill-${i}`);
      else refused = r;
    }
    assert.ok(refused, 'a change was refused');
    expectError(refused, 503, 'STORAGE_UNAVAILABLE');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1, `Retry-After: ${refused.headers.get('retry-after')}`);
    const dump = (ns.registry.store as LowdbStore).dump();
    for (let i = 0; i < 3; i++) {
      const r = await ns.api('POST', `/servers/${srv}/users/during-${i}/attributes/`, { body: { k: i } });
      expectError(r, 503, 'STORAGE_UNAVAILABLE');
    }
    expectError(await ns.api('PUT', `/servers/${srv}/`, { body: { serverName: 'Renamed' } }), 503, 'STORAGE_UNAVAILABLE');
    // A phone's enrolment makes an account: refused the same way, and no account is made.
    const late = newPhone();
    assert.is(await codeOf(late.enrol(lateCode)), 'STORAGE_UNAVAILABLE');
    assert.is((ns.registry.store as LowdbStore).dump(), dump, 'nothing of the refused changes is in memory');
    assert.is(await ns.registry.store.countAccounts(srv), accounts);
    assert.is((await ns.registry.store.listUsers(srv, {})).totalnumber, users + acknowledged.length, 'the indexes took the refused changes back too');
    expectError(await ns.api('GET', `/servers/${srv}/users/during-0/attributes/`), 404, 'UNKNOWN_USER');
    assert.is((await ns.api('GET', `/servers/${srv}/`)).body.serverName, 'Full disk');
    // Reads go on.
    expectOk(await ns.api('GET', `/servers/${srv}/users/before/attributes/`));

    // Room again: the next change is written, by itself (no restart, no operator).
    unlinkSync(filler);
    unlinkSync(path.join(dir, 'filler-tail'));
    expectOk(await ns.api('POST', `/servers/${srv}/users/after/attributes/`, { body: { k: 2 } }));
    const again = newPhone();
    await again.enrol(await qr(ns, srv, newNonce(), 'enrol'));
    assert.is(await ns.registry.store.countAccounts(srv), accounts + 1);

    ns = await ns.restart();
    const attrs = async (userid: string) => (await ns.api('GET', `/servers/${srv}/users/${userid}/attributes/`)).body;
    assert.equal(await attrs('before'), { k: 1 });
    assert.equal(await attrs('after'), { k: 2 });
    const absent = async (userid: string) => expectError(await ns.api('GET', `/servers/${srv}/users/${userid}/attributes/`), 404, 'UNKNOWN_USER');
    for (let i = 0; i < 3; i++) await absent(`during-${i}`); // refused: not there after a restart
    for (const userid of acknowledged) assert.ok((await attrs(userid)).k !== undefined, `${userid} was acknowledged: there after a restart`);
    await absent(`fill-${acknowledged.length}`); // the first one refused
    assert.is((await ns.api('GET', `/servers/${srv}/`)).body.serverName, 'Full disk');
    assert.is(await ns.registry.store.countAccounts(srv), accounts + 1);
    await ns.stop();
  });
}

test.run();
