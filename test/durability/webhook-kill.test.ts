/**
 * The outbox across a SIGKILL: the server (the real command line, a child process) acknowledges
 * changes whose events its webhook's endpoint is refusing (503), is killed with SIGKILL, and
 * starts again on the same data folder with the endpoint back: every acknowledged change's event
 * is delivered, those tried before the kill with the same `webhook-id` (so a receiver drops a
 * duplicate by it), and each event's signature verifies.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cliApi, killAll, startCli } from '../helpers/child.ts';
import { until } from '../helpers/peers.ts';
import { WebhookReceiver } from '../helpers/webhook-receiver.ts';

const KEY = 'webhook-kill-root-key-0123456789';
const api = cliApi(KEY, { timeoutMs: 10_000 });
const start = (dir: string) => startCli(dir, { rootApiKey: KEY, env: { NEXTAUTH_WEBHOOK_PRIVATE_ADDRESSES: 'true' } });

const dirs: string[] = [];
test.after(() => {
  killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('acknowledged changes whose events were not delivered are delivered after a SIGKILL and a restart, with the same webhook-id', async () => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'nextauth-webhook-kill-'));
  dirs.push(base);
  const dir = path.join(base, 'data');
  const receiver = await WebhookReceiver.start();
  try {
    let child = start(dir);
    let url = await child.listening;
    const srv = (await api(url, 'POST', '/servers/', { body: { serverName: 'kill 0' } })).body.serverid as string;
    const hook = await api(url, 'POST', `/servers/${srv}/webhooks`, { body: { url: receiver.url, types: ['com.nextauth.server.updated'] } });
    assert.is(hook.status, 201, JSON.stringify(hook.body));
    receiver.secret = hook.body.secret as string;
    receiver.mode = 'fail';
    // Acknowledged changes; the first one's event is tried (and refused) before the kill.
    const names: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const name = `kill ${i}`;
      assert.is((await api(url, 'PUT', `/servers/${srv}/`, { body: { serverName: name } })).status, 200);
      names.push(name);
      if (i === 1) await until(() => receiver.tried.length > 0, 'a try of the first event', 10_000);
    }
    const triedBefore = [...new Set(receiver.tried)];
    child.process.kill('SIGKILL');
    assert.is((await child.exit).signal, 'SIGKILL');

    receiver.mode = 'ok';
    child = start(dir);
    url = await child.listening;
    await until(
      () => new Set(receiver.received.map((d) => d.id)).size >= 5,
      () => `the five events after the restart (${receiver.received.length})`,
      20_000,
    );
    const delivered = new Map(receiver.received.map((d) => [d.id, d.event]));
    assert.is(delivered.size, 5, 'one event per acknowledged change (a duplicate has its id)');
    for (const id of triedBefore) assert.ok(delivered.has(id), `${id}, tried before the kill, came again with its id`);
    assert.equal(
      receiver.received.map((d) => d.event.type),
      receiver.received.map(() => 'com.nextauth.server.updated'),
    );
    assert.equal(receiver.badSignatures, [], 'every delivery verifies');
    assert.ok(receiver.received.every((d) => d.event.data.serverid === srv));
    assert.equal(
      [...delivered.values()].map((e) => e.time).sort(),
      [...delivered.values()].map((e) => e.time),
      'in the order the changes were made',
    );
    child.process.kill('SIGTERM');
    await child.exit;
  } finally {
    await receiver.close();
  }
});

test.run();
