/**
 * The cluster settings of src/config.ts: neither URL is the embedded store, both a cluster
 * process, one without the other refused naming both variables (no PostgreSQL or Redis needed:
 * only the settings are read); and the defaults that depend on it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '../src/config.ts';

const DB = 'postgres://nextauth@db.example:5432/nextauth';
const REDIS = 'redis://cache.example:6379';
const load = (env: Record<string, string>, flags: Record<string, string> = {}) => loadConfig(new Map(Object.entries(flags)), env);

/** The ConfigError's message of loading `env` (fails when it loads). */
function refusal(env: Record<string, string>): string {
  try {
    load(env);
  } catch (e) {
    assert.instance(e, ConfigError);
    return (e as ConfigError).message;
  }
  assert.unreachable(`loaded ${JSON.stringify(env)}`);
  return '';
}

test('neither URL: the embedded store, as before', () => {
  assert.is(load({}).cluster, undefined);
  assert.is(load({ NEXTAUTH_DATABASE_URL: '', NEXTAUTH_REDIS_URL: '' }).cluster, undefined, 'empty is unset');
});

test('both URLs: a cluster process, the Redis prefix nextauth: unless set', () => {
  assert.equal(load({ NEXTAUTH_DATABASE_URL: DB, NEXTAUTH_REDIS_URL: REDIS }).cluster, { databaseUrl: DB, redisUrl: REDIS, redisPrefix: 'nextauth:' });
  assert.equal(load({ NEXTAUTH_DATABASE_URL: 'postgresql://db/x', NEXTAUTH_REDIS_URL: 'rediss://cache', NEXTAUTH_REDIS_PREFIX: 'ns-a:' }).cluster, {
    databaseUrl: 'postgresql://db/x',
    redisUrl: 'rediss://cache',
    redisPrefix: 'ns-a:',
  });
  // Flags as well as variables (a flag wins).
  assert.equal(load({ NEXTAUTH_DATABASE_URL: 'postgres://elsewhere/y' }, { 'database-url': DB, 'redis-url': REDIS, 'redis-prefix': 'p:' }).cluster, {
    databaseUrl: DB,
    redisUrl: REDIS,
    redisPrefix: 'p:',
  });
});

test('one URL without the other: refused, naming both variables', () => {
  const halves: Record<string, string>[] = [{ NEXTAUTH_DATABASE_URL: DB }, { NEXTAUTH_REDIS_URL: REDIS }, { NEXTAUTH_DATABASE_URL: DB, NEXTAUTH_REDIS_URL: '' }];
  for (const env of halves) {
    const message = refusal(env);
    assert.match(message, 'NEXTAUTH_DATABASE_URL', message);
    assert.match(message, 'NEXTAUTH_REDIS_URL', message);
  }
  assert.match(refusal({ NEXTAUTH_DATABASE_URL: DB }), /NEXTAUTH_DATABASE_URL is set but NEXTAUTH_REDIS_URL is not/);
  assert.match(refusal({ NEXTAUTH_REDIS_URL: REDIS }), /NEXTAUTH_REDIS_URL is set but NEXTAUTH_DATABASE_URL is not/);
  assert.match(refusal({ NEXTAUTH_REDIS_PREFIX: 'x:' }), /NEXTAUTH_REDIS_PREFIX is set but NEXTAUTH_REDIS_URL is not/);
});

test('URLs of the wrong kind, and a bad prefix, are refused without showing the URL', () => {
  const message = refusal({ NEXTAUTH_DATABASE_URL: 'mysql://root:secret@db/x', NEXTAUTH_REDIS_URL: REDIS });
  assert.match(message, /NEXTAUTH_DATABASE_URL .*postgres:\/\//);
  assert.not.match(message, 'secret');
  assert.match(refusal({ NEXTAUTH_DATABASE_URL: DB, NEXTAUTH_REDIS_URL: 'http://cache:6379' }), /NEXTAUTH_REDIS_URL .*redis:\/\//);
  assert.match(refusal({ NEXTAUTH_DATABASE_URL: DB, NEXTAUTH_REDIS_URL: 'not a url' }), /NEXTAUTH_REDIS_URL/);
  assert.match(refusal({ NEXTAUTH_DATABASE_URL: DB, NEXTAUTH_REDIS_URL: REDIS, NEXTAUTH_REDIS_PREFIX: 'has space' }), /NEXTAUTH_REDIS_PREFIX/);
});

test('--workers: 1 by default; more only for a cluster process (the embedded store has one writer)', () => {
  assert.is(load({}).workers, 1);
  assert.is(load({ NEXTAUTH_DATABASE_URL: DB, NEXTAUTH_REDIS_URL: REDIS }, { workers: '4' }).workers, 4);
  const message = refusal({ NEXTAUTH_WORKERS: '2' });
  assert.match(message, 'NEXTAUTH_WORKERS=2');
  assert.match(message, 'NEXTAUTH_DATABASE_URL');
  assert.match(message, 'NEXTAUTH_REDIS_URL');
  assert.match(refusal({ NEXTAUTH_WORKERS: '0' }), 'NEXTAUTH_WORKERS');
});

test('NEXTAUTH_EVENT_MAX: 100,000 on the embedded store (its events are in memory), none on PostgreSQL, or as set', () => {
  assert.is(load({}).events.max, 100_000);
  assert.is(load({ NEXTAUTH_DATABASE_URL: DB, NEXTAUTH_REDIS_URL: REDIS }).events.max, 0);
  assert.is(load({ NEXTAUTH_EVENT_MAX: '0' }).events.max, 0, 'no limit, when asked');
  assert.is(load({}, { 'event-max': '2500' }).events.max, 2500);
  assert.match(refusal({ NEXTAUTH_EVENT_MAX: '-1' }), 'NEXTAUTH_EVENT_MAX');
});

test.run();
