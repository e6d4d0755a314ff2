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
