/**
 * Migration 2: the events outbox and the webhooks. An event is a row of `events`, written by the
 * statement that writes its change's records (postgres-store.ts: the batch's transaction), so it
 * commits or rolls back with them. Its fields are columns (no `rec`): `seq` the store's order,
 * `txid` the transaction that wrote it (the webhooks' order: eventsAfter). Webhooks and their
 * deliveries are records like the others (rows.ts): one row each, the record as JSON.
 *
 * Which index serves which query (postgres-store.ts):
 *
 * - emit: events_pkey (id) keeps ids unique;
 * - listEvents, newest first (seq DESC), `before` a bound on seq in each of these:
 *   - no condition: events_server (serverid, seq), read backwards, `limit` rows;
 *   - a userid, an account or one type: events_userid (serverid, userid, seq), events_account
 *     (serverid, account, seq), events_type (serverid, type, seq), read backwards within the
 *     value: the matches only, newest first, so reading stops at `limit`; with several of them
 *     the planner reads one (an equality on an index costs less than events_server read with
 *     a filter) and checks the others on the rows it reads;
 *   - several types: a branch per type (a btree gives one value's run in seq order, not a merge
 *     of several), each on events_type with at most `limit` rows, merged;
 *   - a time range alone (`from`, `to`): first events_server, the newest 4 × `limit` rows (the
 *     answer when `limit` of them are in the range: recent times); else the range's rows older
 *     than those from events_time_server (serverid, time) (or events_time, whichever the
 *     planner expects fewer rows of), the newest `limit` kept by a top-N sort. Times are the
 *     changes' clocks, not the commit order, so seq cannot stand for them: the read grows with
 *     the range asked, not with the server's history;
 * - eventsAfter: events_after (serverid, txid, seq), one range from the cursor up to the
 *   snapshot's xmin, in that order;
 * - pruneEvents: events_time (time), read from its start;
 * - webhooksOf: webhooks_pkey (serverid, id); every server's: the whole table.
 *
 * xid8 and pg_current_xact_id() need PostgreSQL 13 or later.
 */
export const name = 'events';

export const sql = `
CREATE TABLE events (
  id text COLLATE "C" PRIMARY KEY,
  -- the store's order of events (listEvents: newest first; the audit pages by it)
  seq bigint GENERATED ALWAYS AS IDENTITY,
  type text COLLATE "C" NOT NULL,
  serverid text COLLATE "C" NOT NULL,
  -- when it happened (ms since epoch), as the change's clock said
  time bigint NOT NULL,
  userid text COLLATE "C",
  account bigint,
  source text COLLATE "C",
  subject text COLLATE "C",
  data json,
  -- the transaction that wrote it: transactions commit in no particular order of their ids, but
  -- one whose id is below the xmin of a snapshot had ended when it was taken (eventsAfter)
  txid xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX events_server ON events (serverid, seq);
CREATE INDEX events_userid ON events (serverid, userid, seq);
CREATE INDEX events_account ON events (serverid, account, seq);
CREATE INDEX events_type ON events (serverid, type, seq);
CREATE INDEX events_time_server ON events (serverid, time);
CREATE INDEX events_time ON events (time);
CREATE INDEX events_after ON events (serverid, txid, seq);

CREATE TABLE webhooks (
  serverid text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  rec json NOT NULL,
  PRIMARY KEY (serverid, id)
);

-- A webhook's deliveries (its cursor in the events, the event being retried, the last attempts).
CREATE TABLE deliveries (
  serverid text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  rec json NOT NULL,
  PRIMARY KEY (serverid, id)
);
`;
