/**
 * Webhooks in a cluster: three NS processes on one PostgreSQL and one Redis, changes made on
 * each of them (REST on 2 and 3, a phone on 1): the webhook's endpoint gets every event exactly
 * once (one process delivers it at a time: its lease), each session's in order, all signed;
 * the audit trail of any process has them all. The process that delivers stops: another takes
 * its deliveries over at once (it gave its lease up) and none is lost or doubled.
 * Skipped (one line) without PostgreSQL and Redis; under CI=true that is a failure.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { databases, type Databases } from '../helpers/pg-databases.ts';
import { newNonce, newPhone, qr, until } from '../helpers/peers.ts';
import { clusterEnv, type RedisRun, redisRun } from '../helpers/redis.ts';
import { service } from '../helpers/services.ts';
import { WebhookReceiver } from '../helpers/webhook-receiver.ts';

const pgUrl = await service('postgres');
const redis: RedisRun | undefined = pgUrl ? await redisRun('webhooks') : undefined;

if (pgUrl && redis) {
  let dbs: Databases;
  let nodes: TestServer[] = [];
  let receiver: WebhookReceiver;

  test.before(async () => {
    dbs = databases(pgUrl);
    const env = {
      ...(await clusterEnv(dbs, redis)),
      NEXTAUTH_WEBHOOK_PRIVATE_ADDRESSES: 'true',
    };
    nodes = [await startTestServer(env), await startTestServer(env), await startTestServer(env)];
    receiver = await WebhookReceiver.start();
  });
  test.after(async () => {
    await Promise.allSettled(nodes.map((n) => n.stop(true)));
    await receiver?.close();
    await dbs?.dropAll();
    await redis.cleanup();
  });

  /** The delivery record's holder (the process delivering), read through process 1. */
  const holderOf = async (srv: string, id: string) => (await nodes[0]!.registry.store.get('delivery', srv, id))?.holder;

  test('changes on three processes: each event delivered once, each session in order; the holder stops and another goes on at once', async () => {
    const [one, two, three] = nodes as [TestServer, TestServer, TestServer];
    const srv = (await two.api('POST', '/servers/', { body: { serverName: 'Cluster events' } })).body.serverid as string;
    const made = await three.api('POST', `/servers/${srv}/webhooks`, { body: { url: receiver.url } });
    assert.is(made.status, 201, JSON.stringify(made.body));
    receiver.secret = made.body.secret as string;
    const hook = made.body.id as string;

    const phone = newPhone();
    const { acc } = await phone.enrol(await qr(one, srv, newNonce(), 'enrol', '&userid=ann'));
    const nonces = [newNonce(), newNonce(), newNonce()];
    for (const [i, nonce] of nonces.entries()) await phone.login(await qr(nodes[i]!, srv, nonce));
    assert.is((await three.api('POST', `/servers/${srv}/sessions/logout`, { headers: { 'x-nonce': nonces[0]! } })).status, 200);
    assert.is((await two.api('PUT', `/servers/${srv}/accounts/${acc}/?blocked=true`)).status, 200);
    assert.is((await three.api('PUT', `/servers/${srv}/accounts/${acc}/?blocked=false`)).status, 200);
    // enrol: scanned, enrolled, login; 3 × (scanned, login); logout; blocked; unblocked
    const expected = 3 + 3 * 2 + 3;
    await until(
      () => receiver.received.length >= expected,
      () => `every event (${receiver.received.length} of ${expected})`,
      15_000,
    );
    await new Promise((r) => setTimeout(r, 500));
    assert.is(receiver.received.length, expected, 'nothing twice');
    assert.is(new Set(receiver.received.map((d) => d.id)).size, expected);
    assert.equal(receiver.badSignatures, []);
    const bySubject = new Map<string, string[]>();
    for (const d of receiver.received) bySubject.set(d.event.subject ?? '', [...(bySubject.get(d.event.subject ?? '') ?? []), d.event.type.replace('com.nextauth.', '')]);
    assert.equal(bySubject.get(`account/${acc}`), ['account.blocked', 'account.unblocked']);
    const sessions = [...bySubject.entries()].filter(([k]) => k.startsWith('session/')).map(([, v]) => v.join(' '));
    assert.equal(
      sessions.sort(),
      ['session.scanned account.enrolled session.login', 'session.scanned session.login session.logout', 'session.scanned session.login', 'session.scanned session.login'].sort(),
    );
    // Every process's audit trail has them all.
    for (const n of nodes) assert.is((await n.registry.store.listEvents(srv, { limit: 100, types: ['com.nextauth.session.login'] })).length, 4);

    // The process that delivers stops; another goes on at once (no 30 s lease to wait for).
    await until(async () => (await holderOf(srv, hook)) !== undefined, 'a holder');
    const holder = await holderOf(srv, hook);
    const stopping = nodes.findIndex((n) => n.deliveries.holder === holder);
    assert.ok(stopping >= 0, `the holder ${holder} is one of the three`);
    await nodes[stopping]!.stop(true);
    const rest = nodes.filter((_, i) => i !== stopping);
    nodes = rest;
    const before = receiver.received.length;
    assert.is((await rest[0]!.api('PUT', `/servers/${srv}/`, { body: { serverName: 'Cluster events 2' } })).status, 200);
    const t0 = Date.now();
    await until(() => receiver.received.length > before, 'the event after the stop', 10_000);
    assert.ok(Date.now() - t0 < 5000, `taken over in ${Date.now() - t0} ms`);
    assert.is(receiver.received.at(-1)!.event.type, 'com.nextauth.server.updated');
    assert.not.equal(await holderOf(srv, hook), holder, 'another process holds it');
  });
}

test.run();
