/**
 * A run of the Redis adapter tests: the real Redis (test/helpers/services.ts) and a key prefix
 * of this run only, with a fresh prefix under it for each store a test makes, and `cleanup` to
 * delete every key of the run at the end.
 *
 *   const run = await redisRun('sessions');   // undefined: Redis is not reachable (skip line printed)
 *   if (run) { sessionsContract(async () => new RedisSessions({ url: run.url, prefix: run.prefix() })); test.after(run.cleanup); }
 */
import { dropKeys, redisClient } from '../../src/adapters/redis/connect.ts';
import type { Databases } from './pg-databases.ts';
import { runName, service } from './services.ts';

export interface RedisRun {
  url: string;
  /** The prefix every key of this run starts with. */
  base: string;
  /** A prefix under `base` no other call gives: an empty store. */
  prefix: () => string;
  /** Deletes every key under `base` (SCAN + UNLINK); resolves how many there were. */
  cleanup: () => Promise<number>;
}

export async function redisRun(what: string): Promise<RedisRun | undefined> {
  const url = await service('redis');
  if (!url) return undefined;
  const base = `${runName(`nextauth_test_${what}`)}:`;
  let n = 0;
  return {
    url,
    base,
    prefix: () => `${base}${++n}:`,
    cleanup: async () => {
      const client = redisClient(url, 'nextauth-test-cleanup');
      try {
        return await dropKeys(client, base);
      } finally {
        await client.quit();
      }
    },
  };
}

/** The settings of one NS of a cluster test: a fresh database of `dbs` and a fresh prefix of `redis` (its processes share them). */
export async function clusterEnv(dbs: Databases, redis: RedisRun): Promise<Record<string, string>> {
  return { NEXTAUTH_DATABASE_URL: await dbs.fresh(), NEXTAUTH_REDIS_URL: redis.url, NEXTAUTH_REDIS_PREFIX: redis.prefix() };
}
