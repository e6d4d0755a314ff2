/**
 * The cluster bench's counts of PostgreSQL round trips and Redis commands are exact: the parsers
 * of bench/lib/counting-proxy.ts count the same whatever way the bytes are cut into chunks, and
 * through the proxy the real services see as many round trips (node-postgres queries) and
 * commands (ioredis, pipelined) as the client sent. The services part is skipped when they are
 * not reachable (test/helpers/services.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { ClusterBackend, postgresCpuDelta, redisScriptNames } from '../../bench/lib/backend.ts';
import { pgFrontendCounter, respCommandCounter, type StreamCounter } from '../../bench/lib/counting-proxy.ts';
import { redisClient } from '../../src/adapters/redis/connect.ts';
import { RedisSessions } from '../../src/adapters/redis/redis-sessions.ts';
import { service } from '../helpers/services.ts';

/** Feeds `bytes` cut at `cuts` and resolves the counts. */
function counted(make: (byKind: Record<string, number>) => StreamCounter, bytes: Buffer, cuts: number[]): Record<string, number> {
  const byKind: Record<string, number> = {};
  const counter = make(byKind);
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    counter.feed(bytes.subarray(from, cut));
    from = cut;
  }
  return byKind;
}

const pgMessage = (type: string, body: Buffer) => {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
};
const cstr = (s: string) => Buffer.from(`${s}\0`);
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

test('PostgreSQL: Sync and Query are the round trips, statements by first word, at any cut', () => {
  const startupBody = Buffer.concat([int32(196608), cstr('user'), cstr('postgres'), cstr('')]);
  const bytes = Buffer.concat([
    Buffer.concat([int32(8), int32(80877103)]), // SSLRequest (refused by the server; the startup follows)
    Buffer.concat([int32(4 + startupBody.length), startupBody]),
    pgMessage('Q', cstr('BEGIN')),
    pgMessage('P', Buffer.concat([cstr(''), cstr('select * from t where a = $1'), Buffer.from([0, 0])])),
    pgMessage('B', Buffer.concat([cstr(''), cstr(''), Buffer.from([0, 0, 0, 1, 0, 0, 0, 1]), int32(1), Buffer.from('7'), Buffer.from([0, 0])])),
    pgMessage('D', Buffer.concat([Buffer.from('P'), cstr('')])),
    pgMessage('E', Buffer.concat([cstr(''), int32(0)])),
    pgMessage('S', Buffer.alloc(0)),
    pgMessage('P', Buffer.concat([cstr('named'), cstr('  INSERT INTO t\n   VALUES ($1)'), Buffer.from([0, 0])])),
    pgMessage('S', Buffer.alloc(0)),
    pgMessage('Q', cstr('COMMIT')),
    pgMessage('X', Buffer.alloc(0)),
  ]);
  const expected = {
    ...{ Q: 2, P: 2, B: 1, D: 1, E: 1, S: 2, X: 1, roundTrips: 4 },
    ...{ 'sql:BEGIN': 1, 'sql:SELECT': 1, 'sql:INSERT': 1, 'sql:COMMIT': 1 },
    ...{ 'statement:BEGIN': 1, 'statement:select * from t where a = $1': 1, 'statement:INSERT INTO t VALUES ($1)': 1, 'statement:COMMIT': 1 },
  };
  assert.equal(counted(pgFrontendCounter, bytes, []), expected);
  for (let cut = 1; cut < bytes.length; cut++) assert.equal(counted(pgFrontendCounter, bytes, [cut]), expected, `cut at ${cut}`);
  assert.equal(
    counted(
      pgFrontendCounter,
      bytes,
      Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
    ),
    expected,
    'a byte at a time',
  );
});

test('Redis: commands by name, EVALSHA by script, at any cut', () => {
  const resp = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  const [sha, name] = [...redisScriptNames()][0]!;
  const bytes = Buffer.from(
    resp('hmget', 'p:value:k', 'v', 'd') +
      resp('EVALSHA', sha, '2', 'a', 'b', 'x'.repeat(300)) +
      resp('PUBLISH', 'p:bus:t', 'line\r\nwith CRLF') +
      'PING\r\n' +
      resp('evalsha', 'f'.repeat(40), '0'),
  );
  const expected = { HMGET: 1, [`EVALSHA ${name}`]: 1, PUBLISH: 1, PING: 1, 'EVALSHA ffffffff': 1, commands: 5 };
  assert.equal(
    counted((k) => respCommandCounter(k, redisScriptNames()), bytes, []),
    expected,
  );
  for (let cut = 1; cut < bytes.length; cut++)
    assert.equal(
      counted((k) => respCommandCounter(k, redisScriptNames()), bytes, [cut]),
      expected,
      `cut at ${cut}`,
    );
});

const pgUrl = await service('postgres');
const redisUrl = pgUrl ? await service('redis') : undefined;
if (pgUrl && redisUrl) {
  test('through the proxies: round trips and commands as sent, the database and keys gone after close', async () => {
    const backend = await ClusterBackend.open(pgUrl, redisUrl);
    const { database, prefix } = backend;
    const client = new pg.Client({ connectionString: backend.env.NEXTAUTH_DATABASE_URL });
    const sessions = new RedisSessions({ url: backend.env.NEXTAUTH_REDIS_URL!, prefix: backend.env.NEXTAUTH_REDIS_PREFIX! });
    try {
      await client.connect();
      await sessions.connected();
      // Its script loaded first: a Redis that has not seen it yet answers EVALSHA NOSCRIPT, and the
      // client sends an EVAL more (a command the counts below would see on a fresh Redis only).
      await sessions.put('warm', { snapshot: null, since: 0 }, 0);
      const a = await backend.sample();
      await client.query('CREATE TABLE t (k integer PRIMARY KEY, v text)');
      for (let i = 0; i < 5; i++) await client.query('INSERT INTO t VALUES ($1, $2)', [i, 'x']);
      await client.query('BEGIN');
      await client.query('SELECT v FROM t WHERE k = $1', [3]);
      await client.query('COMMIT');
      // ioredis sends these 20 in one tick as a pipeline.
      await Promise.all(Array.from({ length: 10 }, (_, i) => sessions.put(`k${i}`, { snapshot: { i }, since: 0 }, 0)));
      await Promise.all(Array.from({ length: 10 }, (_, i) => sessions.get(`k${i}`)));
      const b = await backend.sample();
      const pgKinds = (k: string) => (b.postgres.byKind[k] ?? 0) - (a.postgres.byKind[k] ?? 0);
      const redisKinds = (k: string) => (b.redis.byKind[k] ?? 0) - (a.redis.byKind[k] ?? 0);
      assert.is(pgKinds('roundTrips'), 9);
      assert.is(pgKinds('sql:INSERT'), 5);
      assert.is(pgKinds('sql:BEGIN') + pgKinds('sql:COMMIT'), 2);
      assert.is(redisKinds('commands'), 20);
      assert.is(redisKinds('EVALSHA SessionPut') + redisKinds('EVAL'), 10);
      assert.is(redisKinds('HMGET'), 10);
      assert.ok(b.redis.writes - a.redis.writes <= 4, `pipelined: ${b.redis.writes - a.redis.writes} writes`);
      assert.ok(b.redisInfoCalls - a.redisInfoCalls >= 20, 'Redis counted them too');
      if (a.postgresCpu && b.postgresCpu) {
        const cpu = postgresCpuDelta(a.postgresCpu, b.postgresCpu);
        assert.ok(cpu.backends >= 1, 'the client is a backend of the database');
        assert.ok(cpu.oursUs >= 0 && cpu.serverUs >= 0, JSON.stringify(cpu));
      }
    } finally {
      await client.end();
      await sessions.close();
      await backend.close();
    }
    const check = new pg.Client({ connectionString: pgUrl });
    await check.connect();
    const { rowCount } = await check.query('SELECT 1 FROM pg_database WHERE datname = $1', [database.name]);
    await check.end();
    assert.is(rowCount, 0, 'the database is dropped');
    const redis = redisClient(redisUrl, 'nextauth-test-check');
    const [, keys] = await redis.scan('0', 'MATCH', `${prefix}*`, 'COUNT', 10000);
    await redis.quit();
    assert.equal(keys, [], 'the keys are deleted');
  });
}

test.run();
