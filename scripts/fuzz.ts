/**
 * The long form of the app-channel fuzzer (test/fuzz/app-channel.ts): the same setup, cases and
 * checks as the test, as many frames as asked, against a real NS started by the test helpers as
 * a child process (`nextauth start` on 127.0.0.1, test/helpers/child.ts: its own core, its own
 * memory, and a crash shows as its exit). Prints the frames sent, the codes and closes seen with
 * their counts, the NS's memory (heap, RSS, from its /metrics) before and after, and the
 * duration; exits 1 when a case or the final checks failed (fast-check's error gives the seed,
 * the path and the shrunk case).
 *
 *   npm run fuzz -- --frames 1000000 --seed 7 --concurrency 2
 *
 * `--frames` defaults to 100,000, `--seed` to the time (printed, so a run can be repeated),
 * `--concurrency` (cases at once, each stream with a seed of its own) to 2. The NS logs at
 * level error (its stderr and stdout are printed at the end if it logged anything).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { startCli, stopCli } from '../test/helpers/child.ts';
import { restClient, ROOT_KEY } from '../test/helpers/ns.ts';
import { until } from '../test/helpers/peers.ts';
import { describe, FUZZ_ENV, fuzz, prepare, restRecords, verifyAfter } from '../test/fuzz/app-channel.ts';

const { values } = parseArgs({ options: { frames: { type: 'string', default: '100000' }, seed: { type: 'string' }, concurrency: { type: 'string', default: '2' } } });
const frames = Number(values.frames);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(frames) || frames < 1 || !Number.isInteger(seed) || !Number.isInteger(concurrency) || concurrency < 1) {
  console.error('usage: npm run fuzz -- [--frames N] [--seed S] [--concurrency C]');
  process.exit(2);
}

const MiB = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

// The child inherits the environment: the fuzz settings (§7's source limits lifted) go there, and
// an inspector port it opens only on SIGUSR1, to measure its memory after a full collection.
Object.assign(process.env, FUZZ_ENV, { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --inspect-port=127.0.0.1:0`.trim() });
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-fuzz-'));
const cli = startCli(dataDir, { rootApiKey: ROOT_KEY, logLevel: 'error' });
const url = await cli.listening;
let exited: string | undefined;
void cli.exit.then(({ code, signal }) => (exited = `the NS process exited (code ${code}, signal ${signal}) during the run`));
const api = restClient(url);

/**
 * The NS's memory after a full garbage collection: through its inspector (opened by SIGUSR1 on the
 * port NODE_OPTIONS gave), `HeapProfiler.collectGarbage`, then `process.memoryUsage()`.
 */
async function nsMemory(): Promise<string> {
  if (!/Debugger listening on ws:/.test(cli.stderr())) process.kill(cli.pid, 'SIGUSR1');
  await until(() => /Debugger listening on ws:/.test(cli.stderr()), 'the NS inspector', 5000);
  const ws = new WebSocket(/Debugger listening on (ws:\/\/\S+)/.exec(cli.stderr())![1]!);
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  const answers = new Map<number, (m: { result?: { result?: { value?: string } } }) => void>();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    answers.get(m.id)?.(m);
  });
  let id = 0;
  const call = (method: string, params: object = {}) =>
    new Promise<{ result?: { result?: { value?: string } } }>((resolve) => {
      answers.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('HeapProfiler.collectGarbage');
  const m = JSON.parse((await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })).result?.result?.value ?? '{}');
  ws.close();
  return `heap used ${MiB(m.heapUsed)} (of ${MiB(m.heapTotal)}), RSS ${MiB(m.rss)}, external ${MiB(m.external)} (after a full GC)`;
}
const settle = () => new Promise((r) => setTimeout(r, 5_000));

const fx = await prepare({ url, api, records: () => restRecords(api) });
const cpus = os.cpus();
console.log(`command: npm run fuzz -- --frames ${frames} --seed ${seed} --concurrency ${concurrency}`);
console.log(`date: ${new Date().toISOString()}`);
console.log(`machine: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}, ${MiB(os.totalmem())} RAM, ${os.type()} ${os.release()}, node ${process.version}`);
console.log(`NS: ${url}, child process ${cli.pid} (nextauth start, log level error, the lowdb store in ${dataDir})`);
await settle();
console.log(`NS memory before (after the setup): ${await nsMemory()}`);

const started = Date.now();
let last = started;
let failure: unknown;
try {
  const report = await fuzz(fx, {
    frames,
    seed,
    concurrency,
    onProgress: (r) => {
      if (exited) throw new Error(exited);
      if (Date.now() - last < 15_000) return;
      last = Date.now();
      const s = (last - started) / 1000;
      console.error(`${s.toFixed(0)} s: ${r.frames} frames (${(r.frames / s).toFixed(0)}/s), ${r.cases} connections`);
    },
  });
  const seconds = (Date.now() - started) / 1000;
  for (const line of describe(report)) console.log(line);
  console.log(`duration: ${seconds.toFixed(1)} s (${(report.frames / seconds).toFixed(0)} frames/s)`);
} catch (e) {
  failure = e;
  console.log(`FAILED after ${((Date.now() - started) / 1000).toFixed(1)} s:\n${e instanceof Error ? e.message : String(e)}`);
}
if (exited) console.log(exited);
const { problems } = exited ? { problems: [exited] } : await verifyAfter(fx);
console.log(
  `after: ${problems.length ? `PROBLEMS:\n- ${problems.join('\n- ')}` : 'records unchanged (servers, users, accounts), W and W2 waiting (W never heard LOGIN), L logged in, no INTERNAL counted, a real login of W works'}`,
);
if (!exited) {
  await settle();
  console.log(`NS memory after: ${await nsMemory()}`);
  await stopCli(cli).then(
    () => console.log('NS stop: clean (SIGTERM, exit 0)'),
    (e: unknown) => {
      problems.push(`the NS did not stop cleanly: ${String(e)}`);
      console.log(`NS stop: ${problems.at(-1)}`);
    },
  );
}
// Its log lines (pino JSON, level error and above) and anything on stderr; not its own "listening" / "stopping" lines.
const inspector = /^(Debugger listening on|For help, see|Debugger attached|Debugger ending)/;
const logged = [
  ...cli
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{')),
  ...cli.stderr().split('\n'),
].filter((l) => l.trim() && !inspector.test(l));
console.log(`NS log at level error and above: ${logged.length ? `${logged.length} line(s)\n${logged.slice(0, 20).join('\n')}` : 'nothing'}`);
rmSync(dataDir, { recursive: true, force: true });
const failed = Boolean(failure) || problems.length > 0;
console.log(`result: ${failed ? 'FAILED' : 'passed'}`);
process.exit(failed ? 1 : 0);
