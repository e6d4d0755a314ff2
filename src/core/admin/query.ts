/**
 * The list parameters of 2.2 as REST gives them: `filter` (attr=value, attr=in:a,b; several
 * joined by ";"), `search` (substring), `sort` (col[:asc|desc],…), `limit` and `marker`
 * (offset). Parsed and checked here into the Store's ListQuery; the store answers it.
 */
import type { Condition, ListQuery, SortKey } from '../../ports.ts';
import { NsError } from '../../wire/errors.ts';

/** A listing's parameters as they arrive. */
export interface ListParams {
  filter?: string;
  search?: string;
  sort?: string;
  limit?: number;
  marker?: number;
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

/** `col[:asc|desc],…` over the given columns (400 for an unknown column or direction). */
export function parseSort(sort: string | undefined, columns: readonly string[]): SortKey[] {
  const keys: SortKey[] = [];
  if (sort === undefined || sort.trim() === '') return keys;
  for (const raw of sort.split(',')) {
    const [column = '', dir = 'asc', ...rest] = raw.split(':').map((s) => s.trim());
    if (!columns.includes(column)) {
      throw new NsError('BAD_REQUEST', `querystring/sort: unknown column "${column.slice(0, 60)}" (known: ${columns.join(', ')})`);
    }
    if ((dir !== 'asc' && dir !== 'desc') || rest.length > 0) {
      throw new NsError('BAD_REQUEST', `querystring/sort: "${raw.slice(0, 60)}" must be column, column:asc or column:desc`);
    }
    keys.push({ column, desc: dir === 'desc' });
  }
  return keys;
}

/** The Store's query for a listing over `columns`. */
export function listQuery(params: ListParams, columns: readonly string[]): ListQuery {
  const q: ListQuery = { filter: parseFilter(params.filter), sort: parseSort(params.sort, columns) };
  if (params.search !== undefined) q.search = params.search;
  if (params.limit !== undefined) q.limit = params.limit;
  if (params.marker !== undefined) q.marker = params.marker;
  return q;
}
