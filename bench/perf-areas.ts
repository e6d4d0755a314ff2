/**
 * Where the server's main thread spent a `perf` recording, per login, by area of the code: each
 * sample goes to the innermost frame of our own code on its stack (`src/`, `machines/`; the
 * compiled bundle mapped back through its source maps), and that frame's file to an area
 * (sessions, store, app channel, …); a sample with none of our frames goes to the library of its
 * innermost JavaScript frame, or to `native`. It works on both layouts (the house's `src/core`,
 * `src/adapters`, … and the one before it), so two trees can be compared area by area.
 *
 * JIT code is named by V8's perf map (`--perf-basic-prof-only-functions`). V8 reuses the
 * addresses of code it collected, so an address is named by the last entry of the map that
 * covers it (the first, which `perf report` uses, often names code that is long gone).
 *
 * Recording (the server of bench/run.ts, during the 32-phone window of the storm):
 *
 *   npx tsx bench/run.ts --only enrol,storm --storm-seconds 15 --no-readme --out /tmp/r.json \
 *     --server-node-flags "--perf-basic-prof-only-functions --interpreted-frames-native-stack" &
 *   # once it prints "32 phone(s) for 15 s":
 *   perf record -e cpu-clock -F 2000 -g -p <server pid> -o /tmp/perf.data -- sleep 14
 *   cp /tmp/perf-<server pid>.map /tmp/perf.map
 *   npx tsx bench/perf-areas.ts /tmp/perf.data --map /tmp/perf.map --tid <server pid> --logins <logins in the 14 s>
 *   npx tsx bench/perf-areas.ts … --area sessions     # the frames of one area
 *   npx tsx bench/perf-areas.ts … --outer             # by the outermost frame of our code instead
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { areaOf, isOurs, libraryOf, sourceFile } from './lib/source-file.ts';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const data = args[0];
const mapFile = option('map');
const tid = option('tid');
const logins = Number(option('logins'));
const hz = Number(option('hz') ?? 2000);
const only = option('area');
const top = Number(option('top') ?? 30);
/** --outer: each sample to the outermost frame of our code (what the work was for), not the innermost (what did it). */
const outer = args.includes('--outer');
if (!data || !mapFile || !tid || !(logins > 0)) {
  console.error('usage: perf-areas.ts <perf.data> --map <perf-PID.map> --tid <main thread id> --logins N [--hz 2000] [--area NAME] [--top 30] [--outer]');
  process.exit(2);
}

/** V8's perf map: start, size, name; an address is named by the last entry that covers it. */
const entries = readFileSync(mapFile, 'utf8')
  .trim()
  .split('\n')
  .map((line) => {
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    return { start: Number.parseInt(line.slice(0, a), 16), size: Number.parseInt(line.slice(a + 1, b), 16), name: line.slice(b + 1) };
  });
const PAGE = 4096;
const byPage = new Map<number, number[]>();
entries.forEach(({ start, size }, i) => {
  for (let p = Math.floor(start / PAGE); p <= Math.floor((start + size) / PAGE); p++) {
    const list = byPage.get(p);
    if (list) list.push(i);
    else byPage.set(p, [i]);
  }
});
function nameOf(address: number): string | undefined {
  const list = byPage.get(Math.floor(address / PAGE));
  for (let k = (list?.length ?? 0) - 1; k >= 0; k--) {
    const e = entries[list![k]!]!;
    if (address >= e.start && address < e.start + e.size) return e.name;
  }
  return undefined;
}

interface Frame {
  /** V8's tier mark: `*` optimised, `^` baseline, `~` interpreted. */
  tier: string;
  fn: string;
  /** src/… or machines/… for our code; the package or node: module otherwise. */
  file: string;
}
function frameOf(name: string): Frame {
  const m = /^JS:([~^*+]?)(\S*) (\S+?):(\d+):(\d+)$/.exec(name);
  if (!m) return { tier: '?', fn: name, file: name };
  const [, tier = '', fn = '', url = '', line = '0', column = '0'] = m;
  return { tier, fn: fn || '(anonymous)', file: sourceFile(url, Number(line), Number(column)) };
}
const ours = (f: Frame) => isOurs(f.file);

const text = execFileSync('perf', ['script', '-i', data, '-F', 'tid,ip'], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
const counts = new Map<string, number>();
let samples = 0;
/** Addresses below this are the node binary (C++, builtins): no JavaScript frame. */
const BINARY_END = 0x10000000;
for (const block of text.split('\n\n')) {
  const lines = block.trim().split('\n');
  if (lines[0]?.trim() !== tid) continue;
  samples++;
  const js: Frame[] = [];
  for (const line of lines.slice(1)) {
    const address = Number.parseInt(line.trim(), 16);
    if (!(address >= BINARY_END)) continue;
    const name = nameOf(address);
    if (name) js.push(frameOf(name));
  }
  const inner = outer ? [...js].reverse().find(ours) : js.find(ours);
  const first = js[0];
  let key: string | undefined;
  if (only === undefined) key = inner ? areaOf(inner.file) : first ? `(library) ${libraryOf(first.file)}` : '(native)';
  else if (inner && areaOf(inner.file) === only) key = `${inner.tier}${inner.fn} ${inner.file}${first !== inner ? ` ← ${first!.fn} ${libraryOf(first!.file)}` : ''}`;
  if (key !== undefined) counts.set(key, (counts.get(key) ?? 0) + 1);
}
const us = (n: number) => ((n * 1e6) / hz / logins).toFixed(1).padStart(8);
console.log(`main thread: ${us(samples).trim()} µs per login (${samples} samples at ${hz} Hz, ${logins} logins)`);
for (const [key, n] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${us(n)} µs  ${key}`);
