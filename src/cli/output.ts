/** Human-readable output of the command line: aligned tables and `key: value` blocks. */

export type Cell = string | number | boolean | null | undefined;

/** ms since epoch as `2024-05-01 12:00:00Z`, or "-" when unset. */
export function time(ms: number | undefined): string {
  if (ms === undefined || ms === null || !Number.isFinite(ms) || ms <= 0) return '-';
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/**
 * One cell as text. Control characters become "?": names, user agents and descriptions come
 * from browsers and phones, and must not drive the terminal (escape sequences) or break lines.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it replaces
export const clean = (s: string): string => s.replace(/[\t\r\n]/g, ' ').replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, '?');
const text = (c: Cell): string => (c === undefined || c === null || c === '' ? '-' : clean(String(c)));

/** A table with a header line; "(none)" when there are no rows. */
export function table(headers: readonly string[], rows: readonly Cell[][]): string {
  if (rows.length === 0) return '(none)\n';
  const cells = rows.map((r) => r.map(text));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return `${[line(headers), ...cells.map(line)].join('\n')}\n`;
}

/** `key: value` lines, keys aligned. */
export function fields(pairs: ReadonlyArray<[string, Cell]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return `${pairs.map(([k, v]) => `${(`${k}:`).padEnd(width)} ${text(v)}`).join('\n')}\n`;
}

/** Pretty JSON with a final newline. */
export const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
