/**
 * An ordered list of (value, id) entries kept as a sorted list of chunks of 512 to 1,024: the
 * order-statistic structure behind the lowdb store's listings (indexes.ts). Costs, n entries:
 *
 * - insert, remove: O(log n + chunk) — a binary search over the chunks' last entries, one in the
 *   chunk, then a splice of that chunk (a chunk splits past 1,024 entries, merges under 128;
 *   about 1.5 µs at a million entries, on a busy 2-core machine);
 * - the entry at a rank, the rank of a value: O(log n), once the chunks' start ranks are known
 *   (recounted after changes, when next asked: O(n / chunk));
 * - a walk over a range of ranks: O(log n + its length).
 *
 * Order: by value, then by id. Values of one type compare with `<` (as the reference sort does);
 * values of different types by the name of their type; `undefined` (a missing value) after all.
 */

/** A value as an order holds it (see `orderValue`). */
export type Value = string | number | boolean | undefined;
export type Id = string | number;

const MAX = 1024;
const MIN = 128;

/** A record's field as an order holds it: null, NaN and missing are `undefined`; objects their JSON text. */
export function orderValue(v: unknown): Value {
  if (v === undefined || v === null) return undefined;
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isNaN(v) ? undefined : v;
    default:
      return JSON.stringify(v);
  }
}

export function compareValues(a: Value, b: Value): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  const ta = typeof a;
  const tb = typeof b;
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a < b ? -1 : 1;
}

const compareIds = (a: Id, b: Id): number => (a === b ? 0 : a < b ? -1 : 1);

export class SortedList<I extends Id> {
  /** Chunk c holds vals[c][k], ids[c][k], sorted; no chunk is empty. */
  private vals: Value[][] = [];
  private ids: I[][] = [];
  /** The rank of each chunk's first entry (valid when `counted`). */
  private starts: number[] = [];
  private counted = true;
  private count = 0;

  /**
   * A list of these entries (any order), sorted once: O(n log n). Entries given in order are
   * taken as they are, O(n); ids given ascending break ties by their position.
   */
  static of<I extends Id>(values: readonly Value[], ids: readonly I[]): SortedList<I> {
    const list = new SortedList<I>();
    const n = ids.length;
    let ascending = true;
    for (let k = 1; k < n && ascending; k++) ascending = ids[k - 1]! < ids[k]!;
    let inOrder = ascending;
    for (let k = 1; k < n && inOrder; k++) inOrder = compareValues(values[k - 1], values[k]) <= 0;
    let vals = values;
    let sorted = ids;
    if (!inOrder) {
      const order = Array.from(ids.keys()).sort(
        ascending ? (x, y) => compareValues(values[x], values[y]) || x - y : (x, y) => compareValues(values[x], values[y]) || compareIds(ids[x]!, ids[y]!),
      );
      vals = order.map((k) => values[k]);
      sorted = order.map((k) => ids[k]!);
    }
    for (let at = 0; at < n; at += MAX / 2) {
      list.vals.push(vals.slice(at, at + MAX / 2));
      list.ids.push(sorted.slice(at, at + MAX / 2));
    }
    list.count = n;
    list.counted = false;
    return list;
  }

  get size(): number {
    return this.count;
  }

  insert(value: Value, id: I): void {
    this.count++;
    this.counted = false;
    if (this.vals.length === 0) {
      this.vals.push([value]);
      this.ids.push([id]);
      return;
    }
    let c = this.vals.length - 1;
    let vals = this.vals[c]!;
    let ids = this.ids[c]!;
    const last = vals.length - 1;
    if ((compareValues(vals[last], value) || compareIds(ids[last]!, id)) < 0) {
      // after every entry (ids and times that grow): no search
      vals.push(value);
      ids.push(id);
    } else {
      c = this.chunkOf(value, id);
      vals = this.vals[c]!;
      ids = this.ids[c]!;
      const k = this.indexIn(vals, ids, value, id);
      vals.splice(k, 0, value);
      ids.splice(k, 0, id);
    }
    if (vals.length > MAX) {
      this.vals.splice(c + 1, 0, vals.splice(MAX / 2));
      this.ids.splice(c + 1, 0, ids.splice(MAX / 2));
    }
  }

  /** Removes the entry; false when it is not there. */
  remove(value: Value, id: I): boolean {
    if (this.vals.length === 0) return false;
    const c = this.chunkOf(value, id);
    const vals = this.vals[c]!;
    const ids = this.ids[c]!;
    const k = this.indexIn(vals, ids, value, id);
    if (k >= vals.length || ids[k] !== id || compareValues(vals[k], value) !== 0) return false;
    vals.splice(k, 1);
    ids.splice(k, 1);
    this.count--;
    this.counted = false;
    if (vals.length === 0) {
      this.vals.splice(c, 1);
      this.ids.splice(c, 1);
    } else if (vals.length < MIN && c + 1 < this.vals.length && vals.length + this.vals[c + 1]!.length <= MAX) {
      vals.push(...this.vals[c + 1]!);
      ids.push(...this.ids[c + 1]!);
      this.vals.splice(c + 1, 1);
      this.ids.splice(c + 1, 1);
    }
    return true;
  }

  /** The number of entries whose value is before `value` (`after`: before or equal to it). */
  rankOf(value: Value, after = false): number {
    const { vals } = this;
    // The first chunk whose last value is ≥ value (> value with `after`).
    let lo = 0;
    let hi = vals.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const chunk = vals[mid]!;
      const c = compareValues(chunk[chunk.length - 1], value);
      if (c < 0 || (after && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    if (lo === vals.length) return this.count;
    const chunk = vals[lo]!;
    let a = 0;
    let b = chunk.length;
    while (a < b) {
      const mid = (a + b) >> 1;
      const c = compareValues(chunk[mid], value);
      if (c < 0 || (after && c === 0)) a = mid + 1;
      else b = mid;
    }
    return this.start(lo) + a;
  }

  valueAt(rank: number): Value {
    const c = this.chunkAt(rank);
    return this.vals[c]![rank - this.starts[c]!];
  }

  /** Calls `visit` with the ids of ranks from..to-1 in order, until it returns false (then false). */
  forEach(from: number, to: number, visit: (id: I) => boolean): boolean {
    if (from >= to) return true;
    let c = this.chunkAt(from);
    let k = from - this.starts[c]!;
    let left = to - from;
    for (; c < this.ids.length && left > 0; c++, k = 0) {
      const ids = this.ids[c]!;
      const end = Math.min(ids.length, k + left);
      left -= end - k;
      for (; k < end; k++) if (!visit(ids[k]!)) return false;
    }
    return true;
  }

  /** Calls `visit` with the ids of ranks to-1 down to from, until it returns false (then false). */
  forEachBack(from: number, to: number, visit: (id: I) => boolean): boolean {
    if (from >= to) return true;
    let c = this.chunkAt(to - 1);
    let k = to - 1 - this.starts[c]!;
    let left = to - from;
    for (; left > 0; c--) {
      const ids = this.ids[c]!;
      const stop = Math.max(0, k - left + 1);
      for (let j = k; j >= stop; j--) if (!visit(ids[j]!)) return false;
      left -= k - stop + 1;
      if (c > 0) k = this.ids[c - 1]!.length - 1;
    }
    return true;
  }

  /** The chunk of the first entry ≥ (value, id), or the last chunk. */
  private chunkOf(value: Value, id: I): number {
    let lo = 0;
    let hi = this.vals.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const last = this.vals[mid]!.length - 1;
      if ((compareValues(this.vals[mid]![last], value) || compareIds(this.ids[mid]![last]!, id)) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The index in a chunk of its first entry ≥ (value, id). */
  private indexIn(vals: readonly Value[], ids: readonly I[], value: Value, id: I): number {
    let lo = 0;
    let hi = vals.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((compareValues(vals[mid], value) || compareIds(ids[mid]!, id)) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private start(c: number): number {
    if (!this.counted) {
      this.starts.length = this.vals.length;
      let at = 0;
      for (let k = 0; k < this.vals.length; k++) {
        this.starts[k] = at;
        at += this.vals[k]!.length;
      }
      this.counted = true;
    }
    return this.starts[c]!;
  }

  /** The chunk holding rank `rank` (0 ≤ rank < size). */
  private chunkAt(rank: number): number {
    this.start(0);
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= rank) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/**
 * The entries of `list` in the order of their values — ascending, or descending with ties still by
 * id ascending — missing values last either way, as runs of one value (the groups a sort on
 * further keys orders): `visit(from, to, skip)` gets the ranks of each run from the one holding
 * position `position` on, and `skip`, how many of the run come before `position`; until it
 * returns false (then false). A descending walk finds each run's start by one search: O(log n)
 * a run.
 */
export function walkRuns<I extends Id>(list: SortedList<I>, desc: boolean, position: number, visit: (from: number, to: number, skip: number) => boolean): boolean {
  const total = list.size;
  if (position >= total) return true;
  const present = list.rankOf(undefined);
  let p = position;
  if (p < present) {
    if (!desc) {
      let from = list.rankOf(list.valueAt(p));
      let skip = p - from;
      while (from < present) {
        const to = list.rankOf(list.valueAt(from), true);
        if (!visit(from, to, skip)) return false;
        skip = 0;
        from = to;
      }
    } else {
      const value = list.valueAt(present - 1 - p);
      let from = list.rankOf(value);
      let to = list.rankOf(value, true);
      let skip = p - (present - to);
      for (;;) {
        if (!visit(from, to, skip)) return false;
        skip = 0;
        if (from === 0) break;
        to = from;
        from = list.rankOf(list.valueAt(to - 1));
      }
    }
    p = present;
  }
  return p >= total || visit(present, total, p - present);
}

/**
 * The ids of `list` one by one in the order `walkRuns` gives, from position `position`, until
 * `visit` returns false. `unique`: no two entries share a value (a descending walk is then the
 * list backwards).
 */
export function walkIds<I extends Id>(list: SortedList<I>, desc: boolean, unique: boolean, position: number, visit: (id: I) => boolean): boolean {
  if (!desc) return list.forEach(position, list.size, visit);
  if (unique) {
    const present = list.rankOf(undefined);
    if (position < present && !list.forEachBack(0, present - position, visit)) return false;
    return list.forEach(Math.max(present, position), list.size, visit);
  }
  return walkRuns(list, true, position, (from, to, skip) => list.forEach(from + skip, to, visit));
}
