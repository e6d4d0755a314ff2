/**
 * PostgreSQL and Redis for the bench's cluster NSes (bench/run.ts --cluster), and the names of the
 * databases and key prefixes every bench makes on those shared services.
 *
 * `ClusterBackend.open()` makes a database and a key prefix of its own for one NS and puts a
 * counting proxy (bench/lib/counting-proxy.ts) in front of each service; the NS gets the proxies'
 * URLs (`env`). `sample()` reads, at one moment:
 *
 * - the proxies' counts: PostgreSQL round trips and statements, Redis commands by name, of this
 *   NS alone;
 * - PostgreSQL's CPU from /proc (utime + stime): the backends of this database, the server's own
 *   processes (postmaster, WAL writer, checkpointer…), the backends of other databases (other
 *   work on the shared server), and the backends that exited (the postmaster's cutime + cstime);
 * - Redis's CPU (INFO cpu: the process and its main thread, which is what bounds Redis) and its
 *   own count of the commands it ran (INFO commandstats: every client's, so the proxy's count
 *   beside it says whether anyone else used Redis meanwhile).
 *
 * `close()` drops the database and deletes the prefix's keys.
 */
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Redis } from 'ioredis';
import { dropKeys, redisClient } from '../../src/adapters/redis/connect.ts';
import { RedisLimits } from '../../src/adapters/redis/redis-limits.ts';
import { RedisSessions } from '../../src/adapters/redis/redis-sessions.ts';
import { CountingProxy, pgFrontendCounter, respCommandCounter, type ProxyCounts } from './counting-proxy.ts';
import { procStat } from './server.ts';

export const DEFAULT_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const DEFAULT_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A name no other bench run uses: `nextauth_bench_<pid>_<time>_<random>` (a database, or a key prefix with `:` after it). */
export const benchName = (): string => `nextauth_bench_${process.pid}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

/** A new empty database on the server of `url` (a connection to an existing database, e.g. `…/test`); `drop` removes it. */
export async function benchDatabase(url: string): Promise<{ name: string; url: string; admin: pg.Client; drop: () => Promise<void> }> {
  const admin = new pg.Client({ connectionString: url });
  admin.on('error', () => undefined);
  await admin.connect();
  const name = benchName();
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(url);
  u.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: u.toString(),
    admin,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}

/** The Lua scripts of the Redis adapters by SHA-1 (what EVALSHA names), from the adapters themselves. */
export function redisScriptNames(): Map<string, string> {
  const names = new Map<string, string>();
  // A stand-in client that only records the scripts (never connected: no listener is ever called).
  const recorder = {
    status: 'wait',
    on: () => recorder,
    defineCommand: (name: string, { lua }: { lua: string }) => names.set(createHash('sha1').update(lua).digest('hex'), name.replace(/^nextauth/, '')),
  } as unknown as Redis;
  new RedisSessions({ client: recorder });
  new RedisLimits({ client: recorder });
  return names;
}

/** PostgreSQL's processes at one moment: utime + stime so far (µs) of each, by what it serves; the exited backends' (the postmaster's cutime + cstime). */
export interface PostgresCpu {
  byPid: Record<number, { serves: 'ours' | 'server' | 'other'; us: number }>;
  exitedUs: number;
}

/**
 * PostgreSQL's CPU between two samples, µs: the backends of this database, the server's own
 * processes (postmaster, WAL writer, checkpointer…), the backends of other databases, each summed
 * over the processes alive at the end (one that started meanwhile counts whole); and what the
 * backends that exited meanwhile (every database's) had spent in their whole lives, which is not
 * the window's. One of ours that exits is one node-postgres closed after 10 s idle: it did
 * nothing in the window, or little.
 */
export function postgresCpuDelta(a: PostgresCpu, b: PostgresCpu) {
  const d = { oursUs: 0, serverUs: 0, otherDatabasesUs: 0, exitedUs: b.exitedUs - a.exitedUs, backends: 0 };
  for (const [pid, { serves, us }] of Object.entries(b.byPid)) {
    const was = a.byPid[Number(pid)];
    const delta = us - (was && was.serves === serves ? was.us : 0);
    if (serves === 'ours') {
      d.oursUs += delta;
      d.backends++;
    } else if (serves === 'server') d.serverUs += delta;
    else d.otherDatabasesUs += delta;
  }
  return { ...d, oursUs: Math.round(d.oursUs), serverUs: Math.round(d.serverUs), otherDatabasesUs: Math.round(d.otherDatabasesUs), exitedUs: Math.round(d.exitedUs) };
}

export interface BackendSample {
  at: number;
  postgres: ProxyCounts;
  redis: ProxyCounts;
  /** undefined when PostgreSQL's processes are not on this machine (not in /proc) */
  postgresCpu?: PostgresCpu;
  /** INFO cpu, µs: the whole redis-server, and its main thread */
  redisCpuUs: number;
  redisMainThreadCpuUs: number;
  /** INFO commandstats: commands run (every client's, and those scripts call) and µs spent in them */
  redisInfoCalls: number;
  redisInfoUsec: number;
  /** clients of Redis now that are neither this NS (through the proxy) nor this bench's INFO connection */
  redisOtherClients: number;
}

export class ClusterBackend {
  readonly #info: Redis;

  private constructor(
    readonly database: Awaited<ReturnType<typeof benchDatabase>>,
    readonly prefix: string,
    readonly redisUrl: string,
    readonly pgProxy: CountingProxy,
    readonly redisProxy: CountingProxy,
  ) {
    this.#info = redisClient(redisUrl, 'nextauth-bench-info');
  }

  static async open(postgresUrl = DEFAULT_POSTGRES_URL, redisUrl = DEFAULT_REDIS_URL): Promise<ClusterBackend> {
    const database = await benchDatabase(postgresUrl);
    const target = (url: string, port: number) => ({ host: new URL(url).hostname, port: Number(new URL(url).port || port) });
    const pgProxy = await CountingProxy.start(target(postgresUrl, 5432), pgFrontendCounter);
    const scripts = redisScriptNames();
    const redisProxy = await CountingProxy.start(target(redisUrl, 6379), (byKind) => respCommandCounter(byKind, scripts));
    return new ClusterBackend(database, `${benchName()}:`, redisUrl, pgProxy, redisProxy);
  }

  /** Whether Redis runs on this machine (its CPU is part of the machine's busy time). */
  get local(): boolean {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(this.redisUrl).hostname);
  }

  /** The NS's settings: both services through the counting proxies, and the key prefix. */
  get env(): Record<string, string> {
    const via = (url: string, port: number) => {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    };
    return {
      NEXTAUTH_DATABASE_URL: via(this.database.url, this.pgProxy.port),
      NEXTAUTH_REDIS_URL: via(this.redisUrl, this.redisProxy.port),
      NEXTAUTH_REDIS_PREFIX: this.prefix,
    };
  }

  async sample(): Promise<BackendSample> {
    const [info, clients, postgresCpu] = await Promise.all([this.#info.info('all'), this.#info.client('LIST') as Promise<string>, this.#postgresCpu()]);
    const ours = this.redisProxy.upstreamPorts;
    const redisOtherClients = clients
      .split('\n')
      .filter(Boolean)
      .filter((line) => !/ name=nextauth-bench-info /.test(line) && !ours.has(Number(/ addr=\S+:(\d+) /.exec(line)?.[1]))).length;
    const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    let calls = 0;
    let usec = 0;
    for (const m of info.matchAll(/^cmdstat_[^:]+:calls=(\d+),usec=(\d+)/gm)) {
      calls += Number(m[1]);
      usec += Number(m[2]);
    }
    return {
      at: performance.now(),
      postgres: this.pgProxy.snapshot(),
      redis: this.redisProxy.snapshot(),
      ...(postgresCpu ? { postgresCpu } : {}),
      redisCpuUs: Math.round((field('used_cpu_user') + field('used_cpu_sys')) * 1e6),
      redisMainThreadCpuUs: Math.round((field('used_cpu_user_main_thread') + field('used_cpu_sys_main_thread')) * 1e6),
      redisInfoCalls: calls,
      redisInfoUsec: usec,
      redisOtherClients,
    };
  }

  /** PostgreSQL's processes by what they serve (pg_stat_activity), their CPU from /proc. */
  async #postgresCpu(): Promise<PostgresCpu | undefined> {
    const { rows } = await this.database.admin.query<{ pid: number; datname: string | null }>('SELECT pid, datname FROM pg_stat_activity');
    const cpu: PostgresCpu = { byPid: {}, exitedUs: 0 };
    let postmaster: number | undefined;
    for (const { pid, datname } of rows) {
      const stat = procStat(pid);
      if (stat?.comm !== 'postgres') continue;
      postmaster ??= stat.ppid;
      cpu.byPid[pid] = { serves: datname === this.database.name ? 'ours' : datname == null ? 'server' : 'other', us: stat.cpuUs };
    }
    const main = postmaster === undefined ? undefined : procStat(postmaster);
    if (!main) return undefined;
    cpu.byPid[postmaster!] = { serves: 'server', us: main.cpuUs };
    cpu.exitedUs = main.childrenCpuUs;
    return cpu;
  }

  /** Drops the database, deletes the keys, stops the proxies. */
  async close(): Promise<void> {
    await Promise.allSettled([this.pgProxy.close(), this.redisProxy.close()]);
    try {
      await dropKeys(this.#info, this.prefix);
    } finally {
      await this.#info.quit();
      await this.database.drop();
    }
  }
}

/** b − a, per figure, and the backend's figures per `n` (logins): the counted requests and the CPU. */
export function backendWindow(a: BackendSample, b: BackendSample, n: number) {
  const per = (x: number, digits = 2) => (n ? Math.round((x / n) * 10 ** digits) / 10 ** digits : 0);
  const kinds = (x: ProxyCounts, y: ProxyCounts) =>
    Object.fromEntries(
      Object.entries(y.byKind)
        .map(([k, v]) => [k, v - (x.byKind[k] ?? 0)] as const)
        .filter(([, v]) => v > 0)
        .sort((p, q) => q[1] - p[1]),
    );
  const pgKinds = kinds(a.postgres, b.postgres);
  const redisKinds = kinds(a.redis, b.redis);
  const pgCpu = a.postgresCpu && b.postgresCpu ? postgresCpuDelta(a.postgresCpu, b.postgresCpu) : undefined;
  const redisCommands = redisKinds.commands ?? 0;
  return {
    postgres: {
      roundTrips: pgKinds.roundTrips ?? 0,
      roundTripsPerLogin: per(pgKinds.roundTrips ?? 0),
      statementsPerLogin: Object.fromEntries(
        Object.entries(pgKinds)
          .filter(([k]) => k.startsWith('sql:'))
          .map(([k, v]) => [k.slice(4), per(v)]),
      ),
      /** each statement (its first 120 characters) per login, most frequent first */
      byStatementPerLogin: Object.fromEntries(
        Object.entries(pgKinds)
          .filter(([k]) => k.startsWith('statement:'))
          .map(([k, v]) => [k.slice(10), per(v)]),
      ),
      messages: Object.fromEntries(Object.entries(pgKinds).filter(([k]) => !k.includes(':') && k !== 'roundTrips')),
      connections: b.postgres.connections,
      bytesPerLogin: { in: per(b.postgres.bytesIn - a.postgres.bytesIn, 0), out: per(b.postgres.bytesOut - a.postgres.bytesOut, 0) },
      ...(pgCpu
        ? {
            /** µs over the window: this database's backends, the server's own processes, other databases' backends, exited backends */
            cpuUs: { oursUs: pgCpu.oursUs, serverUs: pgCpu.serverUs, otherDatabasesUs: pgCpu.otherDatabasesUs, exitedUs: pgCpu.exitedUs },
            /** this database's backends and the server's own processes, per login */
            cpuUsPerLogin: per(pgCpu.oursUs + pgCpu.serverUs, 0),
            backends: pgCpu.backends,
          }
        : {}),
    },
    redis: {
      commands: redisCommands,
      commandsPerLogin: per(redisCommands),
      /** request chunks read by the proxy (ioredis's pipelined writes, see counting-proxy.ts) */
      writesPerLogin: per(b.redis.writes - a.redis.writes),
      byCommandPerLogin: Object.fromEntries(
        Object.entries(redisKinds)
          .filter(([k]) => k !== 'commands')
          .map(([k, v]) => [k, per(v)]),
      ),
      connections: b.redis.connections,
      bytesPerLogin: { in: per(b.redis.bytesIn - a.redis.bytesIn, 0), out: per(b.redis.bytesOut - a.redis.bytesOut, 0) },
      cpuUs: b.redisCpuUs - a.redisCpuUs,
      mainThreadCpuUs: b.redisMainThreadCpuUs - a.redisMainThreadCpuUs,
      cpuUsPerLogin: per(b.redisCpuUs - a.redisCpuUs, 0),
      mainThreadCpuUsPerLogin: per(b.redisMainThreadCpuUs - a.redisMainThreadCpuUs, 0),
      /** Redis's own count of the commands it ran in the window, those the scripts call included (every client's), and the µs in them */
      infoCallsPerLogin: per(b.redisInfoCalls - a.redisInfoCalls),
      infoUsecPerLogin: per(b.redisInfoUsec - a.redisInfoUsec, 0),
      /** other clients of Redis at the start or the end of the window (a shared Redis): its CPU is theirs too */
      otherClients: Math.max(a.redisOtherClients, b.redisOtherClients),
    },
  };
}
