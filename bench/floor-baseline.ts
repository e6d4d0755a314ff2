/**
 * The floor server's figures (bench/floor-server.ts): the storm of scenario (a), with the same
 * generator, phones and browsers, on a server that does the login's protocol and nothing else.
 * Its phones are the NS's enrolled accounts, pinned to the floor server's own key and id.
 */
import { randomBytes } from 'node:crypto';
import { generateSigningKey } from '../src/core/crypto/keys.ts';
import { toB64url } from '../src/wire/base64url.ts';
import type { FloorConfig } from './floor-server.ts';
import type { StormTarget } from './generator.ts';
import type { GeneratorProcess } from './lib/generator-client.ts';
import { procCpuUs, startListening } from './lib/server.ts';
import { round } from './lib/stats.ts';
import type { StormResult } from './scenarios/login-storm.ts';

export interface FloorRun extends StormResult {
  /** CPU of the floor server per login, µs (/proc utime + stime, clock-tick resolution) */
  serverCpuUsPerLogin: number;
  /** of the floor server over the run */
  serverCores: number;
}

export interface FloorBaseline {
  /** one phone: the latency floor */
  onePhone: FloorRun;
  /** the storm's phones: the throughput and CPU floor */
  manyPhones: FloorRun;
}

export async function floorBaseline(g: GeneratorProcess, apikey: string, opts: { concurrency: number; seconds: number; latencySeconds: number }): Promise<FloorBaseline> {
  const key = generateSigningKey();
  const serverid = toB64url(randomBytes(16));
  const accounts = await g.call<FloorConfig['accounts']>({ cmd: 'accounts', args: { n: opts.concurrency } });
  const config: FloorConfig = { serverid, key, apikey, accounts };
  const server = await startListening('bench/floor-server.ts', [JSON.stringify(config)]);
  const target: StormTarget = { url: server.url, serverid, serverpk: key.publicKey };
  const run = async (concurrency: number, seconds: number): Promise<FloorRun> => {
    await g.call({ cmd: 'storm-prepare', args: { concurrency, target } });
    const cpu0 = procCpuUs(server.pid);
    const result = await g.call<StormResult>({ cmd: 'storm-run', args: { seconds } });
    const cpu = procCpuUs(server.pid) - cpu0;
    return { ...result, serverCpuUsPerLogin: Math.round(cpu / Math.max(1, result.logins)), serverCores: round(cpu / 1e6 / result.seconds, 3) };
  };
  try {
    const onePhone = await run(1, opts.latencySeconds);
    const manyPhones = await run(opts.concurrency, opts.seconds);
    return { onePhone, manyPhones };
  } finally {
    await g.call({ cmd: 'storm-release' });
    await server.stop();
  }
}
