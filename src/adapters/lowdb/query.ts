/** 2.2 listings over records in memory: filter, sort, page (the lowdb store's side of ListQuery). */
import type { Condition, ListQuery, Page, SortKey } from '../../ports.ts';

/** How a stored value compares with a filter value: strings as they are, others as JSON. */
const asText = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** True when `lookup(key)` matches one of the values of every condition (a missing value never does). */
export const matches = (conditions: readonly Condition[], lookup: (key: string) => unknown): boolean =>
  conditions.every((c) => {
    const v = lookup(c.key);
    return v !== undefined && v !== null && c.values.includes(asText(v));
  });

/**
 * Sorts by the keys, then by `tiebreak` (the list's key column), so pages with `marker` never
 * skip or repeat an item. Missing values go last in either direction.
 */
export function sortItems<T>(items: T[], sort: readonly SortKey[] | undefined, tiebreak: keyof T & string): T[] {
  const keys = [...(sort ?? []), { column: tiebreak, desc: false }];
  return [...items].sort((a, b) => {
    for (const { column, desc } of keys) {
      const x = (a as Record<string, unknown>)[column] as number | string | boolean | undefined | null;
      const y = (b as Record<string, unknown>)[column] as number | string | boolean | undefined | null;
      if (x === y) continue;
      if (x === undefined || x === null) return 1;
      if (y === undefined || y === null) return -1;
      return (x < y ? -1 : 1) * (desc ? -1 : 1);
    }
    return 0;
  });
}

/** Skips `marker` items and keeps `limit`; `totalnumber` is the count before paging. */
export function page<T>(items: T[], q: Pick<ListQuery, 'limit' | 'marker'>): Page<T> {
  const start = q.marker ?? 0;
  const end = q.limit === undefined ? undefined : start + q.limit;
  return { items: items.slice(start, end), totalnumber: items.length };
}
