-- Version 4 -> 5 (issue 13): keys with ids, names, scopes and expiry; provisions with a bound
-- address, label, external id and metadata; idempotency records; per-user credit limits.
-- Columns and tables are added, nothing is rebuilt. src/db/migrate.rs runs it in one transaction.

ALTER TABLE api_keys ADD COLUMN id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN name TEXT;
ALTER TABLE api_keys ADD COLUMN scopes TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
-- Existing keys get a random (version 4) UUID each.
UPDATE api_keys SET id = lower(
    hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
    || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-'
    || hex(randomblob(6)));
CREATE UNIQUE INDEX api_keys_id ON api_keys(id);
CREATE INDEX api_keys_org ON api_keys(org_id, n);

ALTER TABLE provisions ADD COLUMN email TEXT;
ALTER TABLE provisions ADD COLUMN name TEXT;
ALTER TABLE provisions ADD COLUMN external_id TEXT;
ALTER TABLE provisions ADD COLUMN metadata TEXT;
CREATE INDEX provisions_org_external ON provisions(org_id, external_id) WHERE external_id IS NOT NULL;

-- Creations and debits already done, by the caller's Idempotency-Key: a retry replays the
-- outcome instead of doing the work again. `response` is the first answer's body with every
-- secret left out (a replay issues new ones); kept for 24 hours.
CREATE TABLE idempotency (
    user_id    TEXT NOT NULL,
    route      TEXT NOT NULL,
    key        TEXT NOT NULL,
    -- blake3 of the request body as parsed, so a different body under the same key is refused.
    body_hash  BLOB NOT NULL,
    status     INTEGER NOT NULL,
    response   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, route, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_created ON idempotency(created_at);

-- What one user may consume from the organization's pool per period. `used` counts the
-- consumption since `window_start` (the start of the current day or month, UTC; 0 for
-- `total`), so the check is one row, not a sum over the ledger. No foreign key to users: the
-- sweep deletes placeholders by the thousand and would look here for each.
CREATE TABLE credit_limits (
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    period       TEXT NOT NULL CHECK (period IN ('day', 'month', 'total')),
    amount       INTEGER NOT NULL CHECK (amount >= 0),
    used         INTEGER NOT NULL CHECK (used >= 0),
    window_start INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
) WITHOUT ROWID;

PRAGMA user_version = 5;
