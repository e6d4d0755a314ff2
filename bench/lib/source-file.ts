/**
 * Where a frame of the server really is: a file of the bundle (`dist/server/…`) mapped back
 * through its source map to `src/…` or `machines/…`; a package's file shortened to the package
 * (`ws/lib/websocket.js`); anything else as it came. For the profile readers (perf-areas.ts,
 * heap-per-login.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';

const sourceMaps = new Map<string, SourceMap | undefined>();

/** `url` at `line`, `column` (1-based, as V8's names and the inspector's frames + 1 give them). */
export function sourceFile(url: string, line: number, column: number): string {
  let file = url.replace('file://', '');
  if (file.includes('/dist/server/')) {
    if (!sourceMaps.has(file)) sourceMaps.set(file, existsSync(`${file}.map`) ? new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8'))) : undefined);
    const original = sourceMaps.get(file)?.findEntry(line - 1, column - 1);
    if (original && 'originalSource' in original) file = original.originalSource;
  }
  return file.replace(/^.*?\/((src|machines)\/.*)$/, '$1').replace(/^.*node_modules\//, '');
}

/** Is the file ours (`src/…`, `machines/…`), not a library's or node's? */
export const isOurs = (file: string): boolean => /^(src|machines)\//.test(file);

/** A library's file as its package (or node: module), without the rest of the path. */
export const libraryOf = (file: string): string => file.split('/').slice(0, 2).join('/');

/** Areas of our code: the house's folders, and the ones before them (so two trees compare area by area). */
const AREAS: Array<[RegExp, string]> = [
  [/^(machines\/|src\/(core\/hub|core\/machine-stepper|core\/session-ref|core\/with-transact|sessions\/hub|adapters\/memory))/, 'sessions'],
  [/^src\/inspect/, 'inspect'],
  [/^src\/(adapters\/lowdb|adapters\/frozen|store\/|core\/events)/, 'store'],
  [/^src\/(transports\/app-ws|transports\/app-socket|protocol\/|wire\/|core\/login|core\/enrol)/, 'app channel'],
  [/^src\/(core\/crypto|crypto\/)/, 'crypto'],
  [/^src\/transports\/browser/, 'browser socket'],
  [/^src\/(transports\/http|api\/)/, 'http'],
  [/^src\/(main|transports\/source|core\/limits)/, 'admission'],
  [/^src\/(core\/admin|registry)/, 'registry'],
];

/** The area of one of our files (the file itself when no area names it). */
export const areaOf = (file: string): string => AREAS.find(([re]) => re.test(file))?.[1] ?? file;
