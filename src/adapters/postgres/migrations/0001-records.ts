/**
 * Migration 1: the records, one table per kind, one row per record. Each row holds the record
 * as its JSON text (`rec json`: the type that keeps text as it was given, so every string JSON
 * can carry, U+0000 and lone surrogates included, comes back as it went in) and, beside it, the
 * columns the lookups and listings need, computed from the record when it is written
 * (rows.ts). The store reads records from `rec` only.
 *
 * Which index serves which query (postgres-store.ts, listings.ts):
 *
 * - every `get`: the primary key of its kind;
 * - listServers, savedSessions: everything there is, in `seq` order (a whole-table read is the
 *   answer itself);
 * - countAccounts, the total of a listing without conditions: row_counts (a few rows per
 *   server, summed);
 * - an account listing in id order: accounts_pkey (serverid, id), either way;
 * - findAccountByPk: accounts_pk (serverid, pk);
 * - accountsOfUser, a user's account listing, the accounts of users (attribute conditions), a
 *   user's numberaccounts and lastlogin (the triggers below): accounts_userid (serverid, userid, id);
 * - an account listing sorted on, or filtered by, a column: accounts_<column> (serverid,
 *   column, id), and accounts_<column>_desc (serverid, column DESC NULLS LAST, id) for a
 *   descending sort: the listings want missing values last and ties in key order in either
 *   direction, which one btree read backwards cannot give. Descriptions and client versions
 *   are indexed by their first 200 characters (btree holds those whatever the value's length):
 *   accounts_<column>_long, the few rows with a longer one, tells whether their whole values
 *   must be compared too;
 * - a user listing in userid order: users_pkey (either way); by lastlogin or numberaccounts:
 *   users_<column> and users_<column>_desc;
 * - search (substring of the userid in lower case): users_search, a trigram index (pg_trgm)
 *   that LIKE '%…%' uses from three characters on;
 * - a filter on user attributes: user_attrs_value (serverid, h, userid), h a hash of (attribute,
 *   value as the listing compares it), the users having it (one condition: their number, by an
 *   index-only count); user_attrs_pkey (serverid, userid, h) whether a user has it (the other
 *   conditions), and a user's rows (replaced when the user is written);
 * - apiKeysOf: api_keys_role, api_keys_created_by (a bitmap OR of both), in `seq` order;
 * - hasRootKey: permissions_global_root (the few roles with global root) probing api_keys_role;
 * - permissionsOn: permission_scopes_pkey (scope, role), then the roles' `seq`;
 * - staleEnrolCodes: enrol_codes_created (created, serverid:hsid), read from its start.
 *
 * Text keys and sorted text columns are COLLATE "C": strings compare by code point, as the
 * lowdb store's `<` does (UTF-16 code units: the two differ only between characters above
 * U+FFFF and those from U+E000 to U+FFFF).
 */
export const name = 'records';

export const sql = `
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE servers (
  serverid text COLLATE "C" PRIMARY KEY,
  -- the order records came in (listServers), as the embedded store's document keeps it
  seq bigint GENERATED ALWAYS AS IDENTITY,
  rec json NOT NULL
);

CREATE TABLE users (
  serverid text COLLATE "C" NOT NULL,
  userid text COLLATE "C" NOT NULL,
  -- the userid as JavaScript lower-cases it (search)
  userid_lower text COLLATE "C" NOT NULL,
  -- what the user's accounts say of it, kept by the triggers below
  numberaccounts integer NOT NULL DEFAULT 0,
  lastlogin double precision,
  rec json NOT NULL,
  PRIMARY KEY (serverid, userid)
);
CREATE INDEX users_lastlogin ON users (serverid, lastlogin, userid);
CREATE INDEX users_lastlogin_desc ON users (serverid, lastlogin DESC NULLS LAST, userid);
CREATE INDEX users_numberaccounts ON users (serverid, numberaccounts, userid);
CREATE INDEX users_numberaccounts_desc ON users (serverid, numberaccounts DESC NULLS LAST, userid);
CREATE INDEX users_search ON users USING gin (userid_lower gin_trgm_ops);

-- A user's attributes, one row each, as a filter compares them: h is 128 bits of SHA-256 of the
-- attribute and the value's text (a string as it is, anything else as JSON), both as UTF-16, so
-- any JavaScript string compares exactly (rows.ts), and the value's length does not matter.
CREATE TABLE user_attrs (
  serverid text COLLATE "C" NOT NULL,
  userid text COLLATE "C" NOT NULL,
  h uuid NOT NULL,
  PRIMARY KEY (serverid, userid, h)
);
CREATE INDEX user_attrs_value ON user_attrs (serverid, h, userid);

CREATE TABLE accounts (
  serverid text COLLATE "C" NOT NULL,
  id bigint NOT NULL,
  -- the columns of ACCOUNT_COLUMNS (null: missing, or not of the column's type)
  userid text COLLATE "C",
  description text COLLATE "C",
  blocked boolean,
  client_version text COLLATE "C",
  created double precision,
  lastlogin double precision,
  lastprovoke double precision,
  pk text COLLATE "C",
  rec json NOT NULL,
  PRIMARY KEY (serverid, id)
);
CREATE INDEX accounts_pk ON accounts (serverid, pk);
CREATE INDEX accounts_userid ON accounts (serverid, userid, id);
CREATE INDEX accounts_userid_desc ON accounts (serverid, userid DESC NULLS LAST, id);
CREATE INDEX accounts_description ON accounts (serverid, left(description, 200), id);
CREATE INDEX accounts_description_desc ON accounts (serverid, left(description, 200) DESC NULLS LAST, id);
CREATE INDEX accounts_blocked ON accounts (serverid, blocked, id);
CREATE INDEX accounts_blocked_desc ON accounts (serverid, blocked DESC NULLS LAST, id);
CREATE INDEX accounts_client_version ON accounts (serverid, left(client_version, 200), id);
CREATE INDEX accounts_client_version_desc ON accounts (serverid, left(client_version, 200) DESC NULLS LAST, id);
CREATE INDEX accounts_created ON accounts (serverid, created, id);
CREATE INDEX accounts_created_desc ON accounts (serverid, created DESC NULLS LAST, id);
CREATE INDEX accounts_lastlogin ON accounts (serverid, lastlogin, id);
CREATE INDEX accounts_lastlogin_desc ON accounts (serverid, lastlogin DESC NULLS LAST, id);
CREATE INDEX accounts_lastprovoke ON accounts (serverid, lastprovoke, id);
-- whether a server has descriptions or client versions longer than their indexed prefix (listings.ts)
CREATE INDEX accounts_description_long ON accounts (serverid) WHERE length(description) > 200;
CREATE INDEX accounts_client_version_long ON accounts (serverid) WHERE length(client_version) > 200;
CREATE INDEX accounts_lastprovoke_desc ON accounts (serverid, lastprovoke DESC NULLS LAST, id);

-- A user's numberaccounts and lastlogin (the greatest positive lastlogin of its accounts), from
-- its accounts, for the users (serverid, userid) named: a user has few, so each costs an index
-- range. Statement triggers call it once for every user whose accounts a statement changed.
CREATE FUNCTION nextauth_user_stats(s text[], u text[]) RETURNS void LANGUAGE sql AS $$
  UPDATE users SET numberaccounts = st.n, lastlogin = st.l
  FROM (
    SELECT w.serverid, w.userid, count(a.id)::integer AS n, max(a.lastlogin) FILTER (WHERE a.lastlogin > 0) AS l
    FROM (SELECT DISTINCT * FROM unnest(s, u) AS x (serverid, userid) WHERE userid IS NOT NULL) w
    LEFT JOIN accounts a ON a.serverid = w.serverid AND a.userid = w.userid
    GROUP BY w.serverid, w.userid
  ) st
  WHERE users.serverid = st.serverid AND users.userid = st.userid
    AND (users.numberaccounts, users.lastlogin) IS DISTINCT FROM (st.n, st.l)
$$;

CREATE FUNCTION nextauth_accounts_made() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM nextauth_user_stats(array_agg(serverid), array_agg(userid)) FROM made;
  RETURN NULL;
END
$$;
CREATE FUNCTION nextauth_accounts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM nextauth_user_stats(array_agg(serverid), array_agg(userid)) FROM deleted;
  RETURN NULL;
END
$$;
-- Changed accounts: the users they had and have, where the userid or the lastlogin changed.
CREATE FUNCTION nextauth_accounts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM nextauth_user_stats(array_agg(x.serverid), array_agg(x.userid)) FROM (
    SELECT b.serverid, unnest(ARRAY[b.userid, a.userid]) AS userid
    FROM before b JOIN after a ON a.serverid = b.serverid AND a.id = b.id
    WHERE b.userid IS DISTINCT FROM a.userid OR b.lastlogin IS DISTINCT FROM a.lastlogin
  ) x;
  RETURN NULL;
END
$$;
-- A user made (or made again) starts with what accounts already name it.
CREATE FUNCTION nextauth_users_made() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM nextauth_user_stats(array_agg(serverid), array_agg(userid)) FROM made;
  RETURN NULL;
END
$$;
CREATE TRIGGER accounts_stats_made AFTER INSERT ON accounts REFERENCING NEW TABLE AS made
  FOR EACH STATEMENT EXECUTE FUNCTION nextauth_accounts_made();
CREATE TRIGGER accounts_stats_deleted AFTER DELETE ON accounts REFERENCING OLD TABLE AS deleted
  FOR EACH STATEMENT EXECUTE FUNCTION nextauth_accounts_deleted();
CREATE TRIGGER accounts_stats_changed AFTER UPDATE ON accounts REFERENCING OLD TABLE AS before NEW TABLE AS after
  FOR EACH STATEMENT EXECUTE FUNCTION nextauth_accounts_changed();
CREATE TRIGGER users_stats_made AFTER INSERT ON users REFERENCING NEW TABLE AS made
  FOR EACH STATEMENT EXECUTE FUNCTION nextauth_users_made();

-- How many users and accounts each server has: a row per statement that made or deleted some
-- (statement triggers, so that writers only ever add rows and never wait on each other),
-- summed by the reader, folded into one row now and then (postgres-store.ts).
CREATE TABLE row_counts (
  serverid text COLLATE "C" NOT NULL,
  kind text COLLATE "C" NOT NULL,
  n bigint NOT NULL
);
CREATE INDEX row_counts_server ON row_counts (serverid, kind);

CREATE FUNCTION nextauth_rows_made() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO row_counts (serverid, kind, n) SELECT serverid, TG_TABLE_NAME, count(*) FROM made GROUP BY serverid;
  RETURN NULL;
END
$$;
CREATE FUNCTION nextauth_rows_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO row_counts (serverid, kind, n) SELECT serverid, TG_TABLE_NAME, -count(*) FROM deleted GROUP BY serverid;
  RETURN NULL;
END
$$;
CREATE TRIGGER users_made AFTER INSERT ON users REFERENCING NEW TABLE AS made FOR EACH STATEMENT EXECUTE FUNCTION nextauth_rows_made();
CREATE TRIGGER users_deleted AFTER DELETE ON users REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION nextauth_rows_deleted();
CREATE TRIGGER accounts_made AFTER INSERT ON accounts REFERENCING NEW TABLE AS made FOR EACH STATEMENT EXECUTE FUNCTION nextauth_rows_made();
CREATE TRIGGER accounts_deleted AFTER DELETE ON accounts REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION nextauth_rows_deleted();

CREATE TABLE roles (
  role text COLLATE "C" PRIMARY KEY,
  rec json NOT NULL
);

CREATE TABLE api_keys (
  hash text COLLATE "C" PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  role text COLLATE "C",
  created_by text COLLATE "C",
  rec json NOT NULL
);
CREATE INDEX api_keys_role ON api_keys (role);
CREATE INDEX api_keys_created_by ON api_keys (created_by);

CREATE TABLE permissions (
  role text COLLATE "C" PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  -- whether scope "*" holds root
  global_root boolean NOT NULL,
  rec json NOT NULL
);
CREATE INDEX permissions_global_root ON permissions (role) WHERE global_root;

-- A role's permissions on one scope (only scopes where it has some).
CREATE TABLE permission_scopes (
  scope text COLLATE "C" NOT NULL,
  role text COLLATE "C" NOT NULL,
  acl json NOT NULL,
  PRIMARY KEY (scope, role)
);
CREATE INDEX permission_scopes_role ON permission_scopes (role);

CREATE TABLE enrol_codes (
  serverid text COLLATE "C" NOT NULL,
  hsid text COLLATE "C" NOT NULL,
  created double precision,
  rec json NOT NULL,
  PRIMARY KEY (serverid, hsid)
);
CREATE INDEX enrol_codes_created ON enrol_codes (created, (serverid || ':' || hsid));

CREATE TABLE transactions (
  tid text COLLATE "C" PRIMARY KEY,
  rec json NOT NULL
);

CREATE TABLE sessions (
  key text COLLATE "C" PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  rec json NOT NULL
);

-- Records of which there is one (globalAttributes: there from the start, as {}).
CREATE TABLE singletons (
  name text COLLATE "C" PRIMARY KEY,
  rec json NOT NULL
);
INSERT INTO singletons (name, rec) VALUES ('globalAttributes', '{}');
`;
