/** The chunked sorted list behind the lowdb indexes, against a plain sorted array. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareValues, SortedList, type Value, walkIds, walkRuns } from '../../../src/adapters/lowdb/sorted-list.ts';
import { random } from '../../helpers/random.ts';

type Entry = [Value, number];
const asc = (a: Entry, b: Entry) => compareValues(a[0], b[0]) || a[1] - b[1];
/** Descending values, ties by id ascending, missing values last. */
const desc = (a: Entry, b: Entry) => (a[0] === undefined || b[0] === undefined ? asc(a, b) : compareValues(b[0], a[0]) || a[1] - b[1]);

function check(list: SortedList<number>, entries: Entry[], rnd: () => number, unique: boolean): void {
  const valueById = new Map(entries.map(([v, id]) => [id, v]));
  const up = [...entries].sort(asc);
  const down = [...entries].sort(desc);
  assert.is(list.size, up.length);
  const all: number[] = [];
  list.forEach(0, list.size, (id) => (all.push(id), true));
  assert.equal(
    all,
    up.map((e) => e[1]),
  );
  const back: number[] = [];
  list.forEachBack(0, list.size, (id) => (back.push(id), true));
  assert.equal(back, [...all].reverse());
  for (let i = 0; i < 20; i++) {
    const v = up.length && rnd() < 0.8 ? up[Math.floor(rnd() * up.length)]![0] : Math.floor(rnd() * 40) - 5;
    assert.is(list.rankOf(v), up.filter((e) => compareValues(e[0], v) < 0).length, `rankOf ${v}`);
    assert.is(list.rankOf(v, true), up.filter((e) => compareValues(e[0], v) <= 0).length, `rankOf ${v}, after`);
    if (up.length === 0) continue;
    const r = Math.floor(rnd() * up.length);
    assert.is(list.valueAt(r), up[r]![0]);
    const from = Math.floor(rnd() * (up.length + 2));
    const to = from + Math.floor(rnd() * 3000);
    const part: number[] = [];
    list.forEach(from, Math.min(to, up.length), (id) => (part.push(id), true));
    assert.equal(
      part,
      up.slice(from, to).map((e) => e[1]),
    );
    for (const [order, isDesc] of [
      [up, false],
      [down, true],
    ] as const) {
      const n = 1 + Math.floor(rnd() * 50);
      const got: number[] = [];
      walkIds(list, isDesc, unique, from, (id) => (got.push(id), got.length < n));
      assert.equal(
        got,
        order.slice(from, from + n).map((e) => e[1]),
        `walk ${isDesc ? 'desc' : 'asc'} from ${from}`,
      );
      const runs: number[] = [];
      walkRuns(list, isDesc, from, (a, b, skip) => {
        const run: Entry[] = [];
        list.forEach(a, b, (id) => (run.push([valueById.get(id), id]), true));
        assert.ok(
          run.every((e) => e[0] === run[0]![0]),
          'a run holds one value',
        );
        for (const e of run.slice(skip)) runs.push(e[1]);
        return runs.length < n;
      });
      assert.equal(
        runs.slice(0, n),
        order.slice(from, from + n).map((e) => e[1]),
        `runs ${isDesc ? 'desc' : 'asc'} from ${from}`,
      );
    }
  }
}

for (const [name, pick, unique] of [
  ['few values, some missing', (rnd: () => number) => (rnd() < 0.1 ? undefined : Math.floor(rnd() * 30)), false],
  ['mixed types', (rnd: () => number) => [undefined, true, false, 'a', 'b', 'aa', 1, 2.5, -3][Math.floor(rnd() * 9)], false],
  ['unique values (the id itself)', undefined, true],
] as const) {
  test(`sorted list: ${name}, through inserts and removes`, () => {
    const rnd = random(name.length);
    const list = new SortedList<number>();
    let entries: Entry[] = [];
    let next = 0;
    for (let round = 0; round < 12; round++) {
      const adds = round < 6 ? 2500 : 400;
      for (let i = 0; i < adds; i++) {
        const id = next++;
        const e: Entry = [pick ? pick(rnd) : id, id];
        list.insert(e[0], e[1]);
        entries.push(e);
      }
      const removes = round < 6 ? 500 : 2500;
      for (let i = 0; i < removes && entries.length; i++) {
        const k = Math.floor(rnd() * entries.length);
        const [e] = entries.splice(k, 1);
        assert.ok(list.remove(e![0], e![1]));
        assert.not.ok(list.remove(e![0], e![1]), 'removed once');
      }
      check(list, entries, rnd, unique);
    }
    entries = entries.filter((e) => !list.remove(e[0], e[1]) && false);
    assert.is(list.size, 0);
    check(list, entries, rnd, unique);
  });
}

test('sorted list: built at once equals built one by one', () => {
  const rnd = random(7);
  const entries: Entry[] = Array.from({ length: 5000 }, (_, id) => [rnd() < 0.05 ? undefined : Math.floor(rnd() * 100), id]);
  const list = SortedList.of(
    entries.map((e) => e[0]),
    entries.map((e) => e[1]),
  );
  check(list, entries, rnd, false);
  for (const e of entries.slice(0, 3000)) assert.ok(list.remove(e[0], e[1]));
  check(list, entries.slice(3000), rnd, false);
  // ids not ascending; entries given in order
  const shuffled = [...entries].sort(() => rnd() - 0.5);
  check(
    SortedList.of(
      shuffled.map((e) => e[0]),
      shuffled.map((e) => e[1]),
    ),
    entries,
    rnd,
    false,
  );
  const inOrder = [...entries].sort(asc);
  check(
    SortedList.of(
      inOrder.map((e) => e[0]),
      inOrder.map((e) => e[1]),
    ),
    entries,
    rnd,
    false,
  );
});

test.run();
