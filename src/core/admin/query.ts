/**
 * The list parameters of 2.2: `filter` (attr=value, attr=in:a,b; several joined by ";"),
 * `search` (substring), `sort` (col[:asc|desc],…), `limit` and `marker` (offset), with
 * `totalnumber` counted after filtering and before paging.
 */
import { NsError } from '../../wire/errors.ts';

export interface ListQuery {
  filter?: string;
  search?: string;
  sort?: string;
  limit?: number;
  marker?: number;
}

export interface Condition {
  key: string;
  values: string[];
}

/**
 * `name=value` or `name=in:v1,v2`, several joined by `;` (all must hold). The name ends at the
 * first `=`; an empty filter is no filter.
 */
export function parseFilter(filter: string | undefined): Condition[] {
  if (filter === undefined || filter === '') return [];
  return filter.split(';').map((part) => {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new NsError('BAD_REQUEST', `querystring/filter: "${part.slice(0, 60)}" must be name=value or name=in:v1,v2`);
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    return { key, values: value.startsWith('in:') ? value.slice(3).split(',') : [value] };
  });
}

/** How a stored value compares with a filter value: strings as they are, others as JSON. */
const asText = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** True when `lookup(key)` matches one of the values of every condition (a missing value never does). */
export const matches = (conditions: Condition[], lookup: (key: string) => unknown): boolean =>
  conditions.every((c) => {
    const v = lookup(c.key);
    return v !== undefined && v !== null && c.values.includes(asText(v));
  });

/**
 * Sorts by `col[:asc|desc],…` (400 for an unknown column or direction). Missing values go last
 * in either direction; `tiebreak` (the list's key column) makes the order total, so pages with
 * `marker` never skip or repeat an item.
 */
export function sortItems<T>(items: T[], sort: string | undefined, columns: readonly (keyof T & string)[], tiebreak?: keyof T & string): T[] {
  const keys: Array<{ column: keyof T; sign: number }> = [];
  if (sort !== undefined && sort.trim() !== '') {
    for (const raw of sort.split(',')) {
      const [column = '', dir = 'asc', ...rest] = raw.split(':').map((s) => s.trim());
      if (!(columns as readonly string[]).includes(column)) {
        throw new NsError('BAD_REQUEST', `querystring/sort: unknown column "${column.slice(0, 60)}" (known: ${columns.join(', ')})`);
      }
      if ((dir !== 'asc' && dir !== 'desc') || rest.length > 0) {
        throw new NsError('BAD_REQUEST', `querystring/sort: "${raw.slice(0, 60)}" must be column, column:asc or column:desc`);
      }
      keys.push({ column: column as keyof T, sign: dir === 'asc' ? 1 : -1 });
    }
  }
  if (tiebreak !== undefined) keys.push({ column: tiebreak, sign: 1 });
  if (keys.length === 0) return items;
  return [...items].sort((a, b) => {
    for (const { column, sign } of keys) {
      const x = a[column];
      const y = b[column];
      if (x === y) continue;
      if (x === undefined || x === null) return 1;
      if (y === undefined || y === null) return -1;
      return (x < y ? -1 : 1) * sign;
    }
    return 0;
  });
}

/** Skips `marker` items and keeps `limit`; `totalnumber` is the count before paging. */
export function page<T>(items: T[], q: ListQuery): { items: T[]; totalnumber: number } {
  const start = q.marker ?? 0;
  const end = q.limit === undefined ? undefined : start + q.limit;
  return { items: items.slice(start, end), totalnumber: items.length };
}

/** `obj[key]` when it is the object's own property (never something from its prototype). */
export const own = <V>(obj: Record<string, V> | undefined, key: string): V | undefined => (obj !== undefined && Object.hasOwn(obj, key) ? obj[key] : undefined);

/** `obj[key] = value` that also works for keys such as "__proto__" (ids and names may be anything). */
export function putOwn<V>(obj: Record<string, V>, key: string, value: V): V {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  return value;
}
