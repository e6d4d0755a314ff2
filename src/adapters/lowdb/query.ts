/**
 * 2.2 listings over records in memory: filter, sort, page (the lowdb store's side of ListQuery):
 * what a listing means (`matches`, `sortItems`, `page`), and how the store answers it from its
 * indexes (`listIndexed`, indexes.ts) with the same result.
 */
import type { Condition, ListQuery, Page, SortKey } from '../../ports.ts';
import { type Id, type SortedList, walkIds, walkRuns } from './sorted-list.ts';

/** How a stored value compares with a filter value: strings as they are, others as JSON. */
export const asText = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/**
 * True when, for every condition, the object's own property `key` matches one of its values (a
 * missing or null value never does). No function is made per call: listings test many items.
 */
export function matches(conditions: readonly Condition[], obj: Record<string, unknown> | undefined): boolean {
  for (const c of conditions) {
    const v = obj !== undefined && Object.hasOwn(obj, c.key) ? obj[c.key] : undefined;
    if (v === undefined || v === null || !c.values.includes(asText(v))) return false;
  }
  return true;
}

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

/** `obj[key]` when it is the object's own property (never something from its prototype). */
export const ownValue = <V>(obj: Record<string, V> | undefined, key: string): V | undefined => (obj !== undefined && Object.hasOwn(obj, key) ? obj[key] : undefined);

// ---- Listings from indexes ----------------------------------------------------------------------

/** The items meeting one condition: how many, and a walk over them (until `visit` returns false). */
export interface Candidates<I> {
  size: number;
  each(visit: (id: I) => boolean): boolean;
  /** When they are in key order (one run of a column's order): a walk from a position. */
  inKeyOrder?(position: number, visit: (id: I) => boolean): boolean;
}

/** What `listIndexed` needs to know of a listing. */
export interface Listing<I extends Id, R> {
  /** Every item, in order of the key column (`key`: unique, the last tiebreak). */
  all: SortedList<I>;
  key: string;
  /** The order of another column (undefined: it has none). */
  order(column: string): SortedList<I> | undefined;
  /** Per condition, exactly the items meeting it (disjoint values: sizes add up). */
  sources: Candidates<I>[];
  /** Whether `test` asks more than the sources do (search). */
  more: boolean;
  /** Whether an item meets every condition (and the search). */
  test(id: I): boolean;
  /** What the listing gives of an item, holding the columns it sorts on. */
  row(id: I): R;
}

/** Up to this many matches are sorted rather than found by walking an order. */
const SORT_ALWAYS = 256;
/** More matches than this are never sorted (nor kept): an order is walked. */
const SORT_MAX = 65_536;

const isCount = (x: number): boolean => Number.isInteger(x) && x >= 0;

/**
 * A listing answered from indexes, with the same items in the same order as filtering every item,
 * `sortItems` and `page` would give:
 *
 * - no condition (or one value of a column, in key order): `totalnumber` is the order's size
 *   (the run's); the page is read at its position in the order of the sort column: O(log n +
 *   limit);
 * - conditions: the smallest source is the candidates. With one condition its size is
 *   `totalnumber`; otherwise (or with search) the candidates are tested, O(candidates), to count
 *   the matches. Few matches (or few compared with the walk below) are sorted directly,
 *   O(m log m); many are found by walking the sort column's order, testing each item, until the
 *   page is full: about (marker + limit) · n / m items.
 * - several sort keys: the runs of equal values in the first key's order are sorted by the rest,
 *   a run at a time (a run costs its sort: a first key of few values means long runs).
 */
export function listIndexed<I extends Id, R>(l: Listing<I, R>, q: ListQuery): Page<R> {
  const marker = q.marker ?? 0;
  const limit = q.limit;
  const n = l.all.size;
  const key = l.key as keyof R & string;
  const keys = sortKeys(q.sort, l);
  const smallest = l.sources.reduce<Candidates<I> | undefined>((a, b) => (a === undefined || b.size < a.size ? b : a), undefined);
  const source: Candidates<I> = smallest ?? { size: n, each: (visit) => l.all.forEach(0, n, visit) };

  if (keys === undefined || !isCount(marker) || (limit !== undefined && !isCount(limit))) {
    // Not what REST asks (a column with no order, a negative or fractional marker or limit): every match, sorted and paged.
    const found: R[] = [];
    source.each((id) => (l.test(id) && found.push(l.row(id)), true));
    return page(sortItems(found, q.sort, key), q);
  }

  /** How many items a walk of the sort order would test to find the page among m matches (about). */
  const sortIsCheaper = (m: number): boolean => {
    const need = limit === undefined ? m : Math.min(m, marker + limit);
    return m <= SORT_ALWAYS || m * Math.log2(m) <= (need >= m ? n : (need * n) / m);
  };
  const want = limit ?? Number.POSITIVE_INFINITY;
  /** Every condition is one source: no item needs testing. */
  const exact = l.sources.length <= 1 && !l.more;
  let total: number;
  let found: I[] | undefined;
  if (exact) {
    total = source.size;
    if (marker >= total || limit === 0) return { items: [], totalnumber: total };
    if (smallest?.inKeyOrder && keys.length === 0) {
      // One value of a column, in key order: a run of that column's order, read at its position.
      const items: R[] = [];
      smallest.inKeyOrder(marker, (id) => (items.push(l.row(id)), items.length < want));
      return { items, totalnumber: total };
    }
    if (smallest && sortIsCheaper(total)) {
      const kept: I[] = (found = []);
      smallest.each((id) => (kept.push(id), true));
    }
  } else {
    total = 0;
    let kept: I[] | undefined = [];
    source.each((id) => {
      if (!l.test(id)) return true;
      total++;
      if (kept && kept.length < SORT_MAX) kept.push(id);
      else kept = undefined;
      return true;
    });
    if (marker >= total || limit === 0) return { items: [], totalnumber: total };
    if (kept && sortIsCheaper(total)) found = kept;
  }
  if (found) return { items: page(sortItems(found.map(l.row), q.sort, key), { marker, ...(limit !== undefined ? { limit } : {}) }).items, totalnumber: total };
  const test = l.sources.length === 0 && !l.more ? undefined : l.test;
  return { items: walk(l, keys, test, marker, limit), totalnumber: total };
}

/**
 * The sort keys that can decide something: a column sorted on already decides nothing more, nor
 * does anything after the key column (unique); the key column ascending last is the tiebreak
 * anyway. Undefined when a column has no order.
 */
function sortKeys<I extends Id, R>(sort: readonly SortKey[] | undefined, l: Listing<I, R>): SortKey[] | undefined {
  const keys: SortKey[] = [];
  const seen = new Set<string>();
  for (const k of sort ?? []) {
    if (seen.has(k.column)) continue;
    seen.add(k.column);
    if (k.column !== l.key && l.order(k.column) === undefined) return undefined;
    keys.push(k);
    if (k.column === l.key) break;
  }
  const last = keys[keys.length - 1];
  if (last && last.column === l.key && !last.desc) keys.pop();
  return keys;
}

/** The page found by walking the order of the first sort key, testing each item (when `test`). */
function walk<I extends Id, R>(l: Listing<I, R>, keys: readonly SortKey[], test: ((id: I) => boolean) | undefined, marker: number, limit: number | undefined): R[] {
  const out: R[] = [];
  const want = limit ?? Number.POSITIVE_INFINITY;
  let skipped = 0;
  const first = keys[0];
  if (keys.length <= 1) {
    const list = first === undefined || first.column === l.key ? l.all : l.order(first.column)!;
    const desc = first?.desc ?? false;
    if (!test) walkIds(list, desc, list === l.all, marker, (id) => (out.push(l.row(id)), out.length < want));
    else
      walkIds(list, desc, list === l.all, 0, (id) => {
        if (!test(id)) return true;
        if (skipped < marker) return (skipped++, true);
        out.push(l.row(id));
        return out.length < want;
      });
    return out;
  }
  const list = l.order(first!.column)!;
  const rest = keys.slice(1);
  walkRuns(list, first!.desc, test ? 0 : marker, (from, to, skip) => {
    const run: I[] = [];
    list.forEach(from, to, (id) => ((!test || test(id)) && run.push(id), true));
    let start = skip;
    if (test) {
      if (skipped + run.length <= marker) return ((skipped += run.length), true);
      start = marker - skipped;
      skipped = marker;
    }
    const rows = sortItems(run.map(l.row), rest, l.key as keyof R & string);
    for (let k = start; k < rows.length && out.length < want; k++) out.push(rows[k]!);
    return out.length < want;
  });
  return out;
}
