/**
 * Migration 3: the OpenID Providers' records (oidc-provider's sessions, interactions, codes,
 * tokens, grants, keys…), one row per (serverid, model, id), the record as JSON like the others
 * (rows.ts), with the fields they are found by beside it: `grant_id`, `uid`, `user_code` and
 * `account_id` (null: the record has none), and `expires_at`, its expiry in whole ms rounded up
 * (null: it does not expire).
 *
 * Which index serves which query (postgres-store.ts):
 *
 * - every `get`, put and delete: oidc_pkey (serverid, model, id);
 * - oidcBy: oidc_grant_id (serverid, grant_id), oidc_uid (serverid, uid), oidc_user_code
 *   (serverid, user_code), oidc_account_id (serverid, account_id), each over the rows that have
 *   the field (most records have only some of them: partial indexes, no entries for the others);
 * - pruneOidc: oidc_expires_at (expires_at) over the rows that expire, read from its start.
 */
export const name = 'oidc';

export const sql = `
CREATE TABLE oidc (
  serverid text COLLATE "C" NOT NULL,
  model text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  -- when it expires (ms since epoch, rounded up to a whole ms)
  expires_at bigint,
  grant_id text COLLATE "C",
  uid text COLLATE "C",
  user_code text COLLATE "C",
  account_id text COLLATE "C",
  rec json NOT NULL,
  PRIMARY KEY (serverid, model, id)
);
CREATE INDEX oidc_grant_id ON oidc (serverid, grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX oidc_uid ON oidc (serverid, uid) WHERE uid IS NOT NULL;
CREATE INDEX oidc_user_code ON oidc (serverid, user_code) WHERE user_code IS NOT NULL;
CREATE INDEX oidc_account_id ON oidc (serverid, account_id) WHERE account_id IS NOT NULL;
CREATE INDEX oidc_expires_at ON oidc (expires_at) WHERE expires_at IS NOT NULL;
`;
