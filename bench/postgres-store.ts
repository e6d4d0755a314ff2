/**
 * What the PostgreSQL store costs (src/adapters/postgres/), on a database made for the run and
 * dropped after it:
 *
 * - 1,000 createUser-like changes (read the server and the user, put the user), one after
 *   another, then 1,000 asked at once (batched into few transactions); the same for logins (read
 *   the account, patch its lastlogin, put the saved session);
 * - listUsers pages at 100,000 users (150,000 accounts): first page, a deep page, sorted by
 *   lastlogin and numberaccounts both ways, a search, an attribute filter; listAccounts pages;
 *   the query plans of a few, to see which index answers;
 * - a pruner's run past `NEXTAUTH_EVENT_MAX`: 250,000 events, the newest 200,000 kept, 1,000
 *   removed per call until a call removes fewer (src/core/events/prune-events.ts).
 *
 *   node --import tsx bench/postgres-store.ts [postgres://…/test] [--users 100000] [--explain]
 */
import pg from 'pg';
import { PostgresStore } from '../src/adapters/postgres/postgres-store.ts';
import type { ListQuery, Store } from '../src/ports.ts';
import { server } from '../test/ports/store.contract.ts';
import { benchDatabase, DEFAULT_POSTGRES_URL } from './lib/backend.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const url = args.find((a) => a.startsWith('postgres')) ?? DEFAULT_POSTGRES_URL;
const USERS = Number(option('users', '100000'));
const explain = args.includes('--explain');

const ms = (t: number) => `${t.toFixed(1)} ms`;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await f();
  return [r, performance.now() - t];
}

const createUser = (store: Store, serverid: string, userid: string) =>
  store.transact(async (tx) => {
    if (!(await tx.get('server', serverid))) throw new Error('no server');
    const user = await tx.get('user', serverid, userid);
    if (user) tx.patch('user', [serverid, userid], { attributes: { team: 'red' } });
    else tx.put('user', [serverid, userid], { userid, attributes: { team: 'red', n: userid.length }, created: Date.now() });
  });

const login = (store: Store, serverid: string, id: number, at: number) =>
  store.transact(async (tx) => {
    const account = await tx.get('account', serverid, id);
    if (!account) throw new Error('no account');
    tx.patch('account', [serverid, id], { lastlogin: at });
    tx.put('session', [`${serverid}:h${id}`], { snapshot: { value: 'authenticated', account: id }, since: at });
  });

async function main(): Promise<void> {
  const database = await benchDatabase(url);
  const store = await PostgresStore.open(database.url);
  try {
    await store.transact((tx) => {
      tx.put('server', ['s'], server('s'));
      tx.put('server', ['big'], server('big'));
    });

    // ---- Writes ----
    // The floor: a bare one-row INSERT committed, 1,000 times, on one connection (what any durable write costs here).
    const bare = new pg.Client({ connectionString: database.url });
    await bare.connect();
    await bare.query('CREATE TABLE bench_floor (k integer PRIMARY KEY, v text)');
    const floors: number[] = [];
    for (let i = 0; i < 1000; i++) floors.push((await timed(() => bare.query('INSERT INTO bench_floor VALUES ($1, $2)', [i, 'x'])))[1]);
    console.log(`floor: a one-row INSERT committed, × 1000: ${ms(floors.reduce((a, b) => a + b))} (p50 ${ms(quantile(floors, 0.5))}, p99 ${ms(quantile(floors, 0.99))})`);
    await bare.end();

    const each: number[] = [];
    const [, sequential] = await timed(async () => {
      for (let i = 0; i < 1000; i++) each.push((await timed(() => createUser(store, 's', `seq${i}`)))[1]);
    });
    console.log(
      `createUser × 1000, one after another: ${ms(sequential)} (${(sequential / 1000).toFixed(2)} ms each; p50 ${ms(quantile(each, 0.5))}, p99 ${ms(quantile(each, 0.99))})`,
    );
    const [, together] = await timed(() => Promise.all(Array.from({ length: 1000 }, (_, i) => createUser(store, 's', `par${i}`))));
    console.log(`createUser × 1000, asked at once (batched): ${ms(together)} (${Math.round(1000 / (together / 1000))} changes/s)`);

    await store.transact((tx) => {
      for (let id = 1; id <= 1000; id++) tx.put('account', ['s', id], { id, description: 'phone', blocked: false, created: id, pk: `pk${id}`, userid: `seq${id % 500}` });
    });
    const logins: number[] = [];
    const [, loginSeq] = await timed(async () => {
      for (let id = 1; id <= 1000; id++) logins.push((await timed(() => login(store, 's', id, 10_000 + id)))[1]);
    });
    console.log(`login × 1000, one after another: ${ms(loginSeq)} (p50 ${ms(quantile(logins, 0.5))}, p99 ${ms(quantile(logins, 0.99))})`);
    const [, loginPar] = await timed(() => Promise.all(Array.from({ length: 1000 }, (_, i) => login(store, 's', i + 1, 20_000 + i))));
    console.log(`login × 1000, asked at once (batched): ${ms(loginPar)} (${Math.round(1000 / (loginPar / 1000))} changes/s)`);

    // ---- 100,000 users ----
    const teams = ['red', 'blue', 'green', 'black'];
    const [, loaded] = await timed(async () => {
      let id = 0;
      for (let from = 0; from < USERS; from += 5000) {
        await store.transact((tx) => {
          for (let i = from; i < Math.min(USERS, from + 5000); i++) {
            const userid = `user${String(i).padStart(6, '0')}`;
            tx.put('user', ['big', userid], { userid, attributes: { team: teams[i % 4]!, level: i % 10, email: `u${i}@example.org` }, created: i });
            // 1.5 accounts per user on average; a tenth of users have never logged in
            for (let k = 0; k < (i % 2 ? 2 : 1); k++) {
              id++;
              tx.put('account', ['big', id], {
                id,
                description: `phone ${id % 7}`,
                blocked: id % 50 === 0,
                created: id,
                pk: `pk-big-${id}`,
                userid,
                ...(i % 10 ? { lastlogin: 1_700_000_000_000 + ((i * 7919) % 1_000_000) * 1000 } : {}),
              });
            }
          }
        });
      }
    });
    console.log(`loaded ${USERS} users and ${Math.round(USERS * 1.5)} accounts in changes of 5,000 users: ${ms(loaded)}`);
    const db = new pg.Client({ connectionString: database.url });
    await db.connect();
    // What a database does after a bulk load (autovacuum, a checkpoint), done now rather than during the measures.
    await db.query('VACUUM ANALYZE');
    await db.query('CHECKPOINT').catch(() => undefined);

    const queries: Array<[string, 'users' | 'accounts', ListQuery]> = [
      ['users, first page of 100', 'users', { limit: 100 }],
      ['users, page at marker 50,000', 'users', { limit: 100, marker: 50_000 }],
      ['users by lastlogin desc, first page', 'users', { sort: [{ column: 'lastlogin', desc: true }], limit: 100 }],
      ['users by lastlogin desc, page at 95,000 (those without a login)', 'users', { sort: [{ column: 'lastlogin', desc: true }], limit: 100, marker: 95_000 }],
      ['users by numberaccounts desc, first page', 'users', { sort: [{ column: 'numberaccounts', desc: true }], limit: 100 }],
      ['users by numberaccounts asc, page at 60,000', 'users', { sort: [{ column: 'numberaccounts', desc: false }], limit: 100, marker: 60_000 }],
      ['users, search "user0123" (110 matches)', 'users', { search: 'USER0123', limit: 100 }],
      ['users, search "77" (most match)', 'users', { search: '77', limit: 100 }],
      ['users, filter team=red', 'users', { filter: [{ key: 'team', values: ['red'] }], limit: 100 }],
      [
        'users, filter team=red;level=3 by lastlogin',
        'users',
        {
          filter: [
            { key: 'team', values: ['red'] },
            { key: 'level', values: ['3'] },
          ],
          sort: [{ column: 'lastlogin', desc: false }],
          limit: 100,
        },
      ],
      ['accounts, first page', 'accounts', { limit: 100 }],
      ['accounts by lastlogin desc, page at 10,000', 'accounts', { sort: [{ column: 'lastlogin', desc: true }], limit: 100, marker: 10_000 }],
      ['accounts, filter blocked=true', 'accounts', { filter: [{ key: 'blocked', values: ['true'] }], limit: 100 }],
      [
        'accounts, filter on the user: team=blue, by description',
        'accounts',
        { filter: [{ key: 'team', values: ['blue'] }], sort: [{ column: 'description', desc: false }], limit: 100 },
      ],
    ];
    for (const [label, kind, q] of queries) {
      const times: number[] = [];
      let total = 0;
      for (let r = 0; r < 7; r++) {
        const [page, t] = await timed((): Promise<{ totalnumber: number }> => (kind === 'users' ? store.listUsers('big', q) : store.listAccounts('big', q)));
        total = page.totalnumber;
        times.push(t);
      }
      console.log(`${label}: median ${ms(quantile(times, 0.5))} (totalnumber ${total})`);
    }
    const lookups: Array<[string, () => Promise<unknown>]> = [
      ['countAccounts', () => store.countAccounts('big')],
      ['findAccountByPk', () => store.findAccountByPk('big', 'pk-big-77777')],
      ['accountsOfUser', () => store.accountsOfUser('big', 'user012345')],
      ['get user', () => store.get('user', 'big', 'user012345')],
    ];
    for (const [label, f] of lookups) {
      const times: number[] = [];
      for (let r = 0; r < 15; r++) times.push((await timed(f))[1]);
      console.log(`${label}: median ${ms(quantile(times, 0.5))}`);
    }
    const [, createBig] = await timed(async () => {
      for (let i = 0; i < 200; i++) await createUser(store, 'big', `late${i}`);
    });
    console.log(`createUser × 200 at ${USERS} users: ${(createBig / 200).toFixed(2)} ms each`);

    const [EVENTS, KEEP, BATCH] = [250_000, 200_000, 1000];
    for (let i = 0; i < EVENTS; i += 5000) {
      await store.transact((tx) => {
        for (let j = i; j < i + 5000; j++) tx.emit({ id: `ev${j}`, type: 'com.nextauth.session.login', serverid: 'big', time: 1_000_000 + j });
      });
    }
    const [[gone, calls], pruneMs] = await timed(async () => {
      let [n, total, made] = [BATCH, 0, 0];
      for (; n === BATCH; made++) total += n = await store.pruneEvents(0, BATCH, KEEP);
      return [total, made] as const;
    });
    console.log(`pruneEvents past the newest ${KEEP} of ${EVENTS} events, ${BATCH} per call: ${gone} removed in ${calls} calls, ${ms(pruneMs)} (${ms(pruneMs / calls)} a call)`);

    if (explain) {
      // The statements as listings.ts writes them, with the plan PostgreSQL picks.
      const plans: Array<[string, string]> = [
        ['users by lastlogin desc, marker 1000', `SELECT userid FROM users t WHERE serverid = 'big' ORDER BY lastlogin DESC NULLS LAST, userid ASC OFFSET 1000 LIMIT 100`],
        ['users search', `SELECT count(*) FROM users WHERE serverid = 'big' AND userid_lower LIKE '%user0123%'`],
        ['users with an attribute value, counted', `SELECT count(*) FROM user_attrs WHERE serverid = 'big' AND h = '00000000-0000-0000-0000-000000000000'`],
        [
          'accounts by description, page',
          `SELECT id FROM accounts t WHERE serverid = 'big' ORDER BY left(description, 200) DESC NULLS LAST, description DESC NULLS LAST, id ASC LIMIT 100`,
        ],
      ];
      for (const [label, sql] of plans) {
        const { rows } = await db.query(`EXPLAIN (ANALYZE, COSTS OFF) ${sql}`);
        console.log(`\n${label}:\n${rows.map((r: Record<string, string>) => `  ${r['QUERY PLAN']}`).join('\n')}`);
      }
    }
    await db.end();
  } finally {
    await store.close();
    await database.drop();
  }
}

await main();
