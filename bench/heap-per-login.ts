/**
 * What the server allocates per login, by function: V8's sampling heap profiler, taken over the
 * inspector protocol from a running server, with the objects the collectors freed counted too (a
 * login's garbage is what the young generation's collector works through, and what makes it run).
 * Each sample goes to the function that allocated it, mapped back through the bundle's source
 * maps (`--inclusive`: to every function on its stack, once; `--areas`: to the area of the
 * innermost frame of our code on its stack, as perf-areas.ts gives CPU samples).
 *
 * Taking a profile (the server of bench/run.ts, during the 32-phone window of the storm):
 *
 *   npx tsx bench/run.ts --only enrol,storm --storm-seconds 15 --no-readme --out /tmp/r.json \
 *     --server-node-flags "--inspect=127.0.0.1:9230" &
 *   # once it prints "32 phone(s) for 15 s":
 *   npx tsx bench/heap-per-login.ts --port 9230 --seconds 12 --out /tmp/login.heapprofile
 *
 * (The file is V8's own format: Chrome's DevTools open it too, Memory → Load.)
 *
 * Reading it, with the logins of those seconds (the run's logins/s × seconds):
 *
 *   npx tsx bench/heap-per-login.ts --read /tmp/login.heapprofile --logins N [--inclusive | --areas] [--top 40]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { areaOf, isOurs, libraryOf, sourceFile } from './lib/source-file.ts';

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};

/** Samples allocations for `seconds` on the inspector at `port` (its first target). */
async function take(port: number, seconds: number): Promise<{ head: ProfileNode }> {
  const [target] = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
  if (!target) throw new Error(`no inspector target on port ${port}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const waiting = new Map<number, { resolve: (result: unknown) => void; reject: (err: Error) => void }>();
  ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
    const w = m.id === undefined ? undefined : waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id!);
    if (m.error) w.reject(new Error(`inspector: ${m.error.message}`));
    else w.resolve(m.result);
  });
  let last = 0;
  const call = <R>(method: string, params: object = {}) =>
    new Promise<R>((resolve, reject) => {
      const id = ++last;
      waiting.set(id, { resolve: resolve as (result: unknown) => void, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('HeapProfiler.enable');
  await call('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const { profile } = await call<{ profile: { head: ProfileNode } }>('HeapProfiler.stopSampling');
  ws.close();
  return profile;
}

type Mode = 'self' | 'inclusive' | 'areas';

/**
 * Bytes by function: `self`, the function that allocated; `inclusive`, every function on the
 * stack, once; `areas`, the area (bench/lib/source-file.ts) of the innermost frame of our code
 * on the stack, else the library (or native code) that allocated.
 */
function tally(head: ProfileNode, mode: Mode): { total: number; by: Map<string, number> } {
  const by = new Map<string, number>();
  let total = 0;
  const walk = (node: ProfileNode, stack: Set<string>, area: string | undefined) => {
    const f = node.callFrame;
    const file = f.url ? sourceFile(f.url, f.lineNumber + 1, f.columnNumber + 1) : '';
    const name = `${f.functionName || '(anonymous)'} ${file || '(native)'}`;
    const inner = isOurs(file) ? areaOf(file) : area;
    total += node.selfSize;
    const here = mode === 'inclusive' ? new Set(stack).add(name) : stack;
    const keys = mode === 'inclusive' ? here : [mode === 'self' ? name : (inner ?? (file ? `(library) ${libraryOf(file)}` : '(native)'))];
    for (const key of keys) by.set(key, (by.get(key) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child, here, inner);
  };
  walk(head, new Set(), undefined);
  return { total, by };
}

const read = option('read');
if (read) {
  const logins = Number(option('logins'));
  if (!(logins > 0)) throw new Error('--logins N: the logins of the sampled seconds');
  const { total, by } = tally(
    (JSON.parse(readFileSync(read, 'utf8')) as { head: ProfileNode }).head,
    args.includes('--inclusive') ? 'inclusive' : args.includes('--areas') ? 'areas' : 'self',
  );
  const kb = (bytes: number) => (bytes / logins / 1024).toFixed(2).padStart(8);
  console.log(`allocated: ${kb(total).trim()} KB per login (${logins} logins)`);
  for (const [name, bytes] of [...by].sort((a, b) => b[1] - a[1]).slice(0, Number(option('top') ?? 40))) console.log(`${kb(bytes)} KB  ${name}`);
} else {
  const port = Number(option('port'));
  const out = option('out');
  if (!(port > 0) || !out) throw new Error('usage: heap-per-login.ts --port P --seconds S --out FILE | --read FILE --logins N [--inclusive | --areas] [--top 40]');
  writeFileSync(out, JSON.stringify(await take(port, Number(option('seconds') ?? 12))));
  console.log(`written: ${out}`);
}
