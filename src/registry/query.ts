/**
 * The list parameters of 2.2: `filter` (attr=value, attr=in:a,b; several joined by ";"),
 * `search` (substring), `sort` (col[:asc|desc],…), `limit` and `marker` (offset), with
 * `totalnumber` counted after filtering and before paging.
 */
import { NsError } from '../errors.ts';

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

export function parseFilter(filter: string | undefined): Condition[] {
  if (filter === undefined || filter === '') return [];
  return filter.split(';').map((part) => {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new NsError('BAD_REQUEST', `querystring/filter: "${part}" must be name=value or name=in:v1,v2`);
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    return { key, values: value.startsWith('in:') ? value.slice(3).split(',') : [value] };
  });
}

/** True when `lookup(key)` matches one of the values of every condition. */
export const matches = (conditions: Condition[], lookup: (key: string) => unknown): boolean =>
  conditions.every((c) => {
    const v = lookup(c.key);
    return v !== undefined && v !== null && c.values.includes(String(v));
  });

export function sortItems<T>(items: T[], sort: string | undefined, columns: readonly (keyof T & string)[]): T[] {
  if (!sort) return items;
  const keys = sort.split(',').map((part) => {
    const [column, dir = 'asc'] = part.split(':');
    if (!column || !(columns as readonly string[]).includes(column)) {
      throw new NsError('BAD_REQUEST', `querystring/sort: unknown column "${column}" (known: ${columns.join(', ')})`);
    }
    if (dir !== 'asc' && dir !== 'desc') throw new NsError('BAD_REQUEST', `querystring/sort: "${dir}" must be asc or desc`);
    return { column: column as keyof T, sign: dir === 'asc' ? 1 : -1 };
  });
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

export function page<T>(items: T[], q: ListQuery): { items: T[]; totalnumber: number } {
  const start = q.marker ?? 0;
  const end = q.limit === undefined ? undefined : start + q.limit;
  return { items: items.slice(start, end), totalnumber: items.length };
}
