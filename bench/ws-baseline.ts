/**
 * The bare `ws` limits of this machine, set up like the NS and its generator: an echo server in
 * its own process (bench/ws-echo.ts), clients in this one.
 *
 * - round trips: `concurrency` open sockets, each sending a 100-byte binary message and waiting
 *   for its echo, again and again;
 * - connects: `concurrency` lanes each opening a socket, sending one text line, waiting for the
 *   echo and closing (what a browser does before it waits on a session).
 */
import { WebSocket } from 'ws';
import { procCpuUs, startListening } from './lib/server.ts';
import { latency, round, sleep, type Latency } from './lib/stats.ts';

export interface WsRun {
  concurrency: number;
  count: number;
  seconds: number;
  perSecond: number;
  latencyMs: Latency;
  /** CPU of the echo server per operation, µs (/proc, clock-tick resolution) */
  serverCpuUs: number;
}

export interface WsBaseline {
  /** one socket, one message at a time: the latency floor */
  roundTrip1: WsRun;
  /** as many sockets as the storm has phones */
  roundTripN: WsRun;
  /** open + one message + close, as many lanes as the storm has phones */
  connectN: WsRun;
}

const open = (url: string): Promise<WebSocket> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });

const echo = (ws: WebSocket, data: Uint8Array | string): Promise<void> =>
  new Promise((resolve) => {
    ws.once('message', () => resolve());
    ws.send(data);
  });

/** Runs `lanes` loops of `op` for `seconds`, each returning its latency in ms. */
async function measure(pid: number, concurrency: number, seconds: number, op: (lane: number) => Promise<number>): Promise<WsRun> {
  const times: number[] = [];
  const cpu0 = procCpuUs(pid);
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, lane) => {
      while (performance.now() < deadline) times.push(await op(lane));
    }),
  );
  const wall = (performance.now() - start) / 1000;
  const cpu = procCpuUs(pid) - cpu0;
  return {
    concurrency,
    count: times.length,
    seconds: round(wall, 3),
    perSecond: round(times.length / wall),
    latencyMs: latency(times),
    serverCpuUs: round(cpu / Math.max(1, times.length), 2),
  };
}

export async function wsBaseline(opts: { seconds: number; concurrency: number }): Promise<WsBaseline> {
  const server = await startListening('bench/ws-echo.ts');
  const url = server.url.replace(/^http/, 'ws');
  try {
    const payload = new Uint8Array(100);
    const roundTrips = async (concurrency: number) => {
      const sockets = await Promise.all(Array.from({ length: concurrency }, () => open(url)));
      for (const ws of sockets) for (let i = 0; i < 20; i++) await echo(ws, payload); // warm-up
      const run = await measure(server.pid, concurrency, opts.seconds, async (lane) => {
        const t0 = performance.now();
        await echo(sockets[lane]!, payload);
        return performance.now() - t0;
      });
      for (const ws of sockets) ws.close();
      return run;
    };
    const roundTrip1 = await roundTrips(1);
    const roundTripN = await roundTrips(opts.concurrency);
    await sleep(100);
    const connectN = await measure(server.pid, opts.concurrency, opts.seconds, async () => {
      const t0 = performance.now();
      const ws = await open(url);
      await echo(ws, 'REGISTER x y');
      const t = performance.now() - t0;
      ws.close();
      return t;
    });
    return { roundTrip1, roundTripN, connectN };
  } finally {
    await server.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await wsBaseline({ seconds: Number(process.argv[2] ?? 2), concurrency: Number(process.argv[3] ?? 32) }), null, 2));
}
