-- Version 4 -> 5 (issue 13), as migrations/5.sql for SQLite.

ALTER TABLE api_keys ADD COLUMN id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN name TEXT;
ALTER TABLE api_keys ADD COLUMN scopes TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
UPDATE api_keys SET id = gen_random_uuid()::text;
CREATE UNIQUE INDEX api_keys_id ON api_keys(id);
CREATE INDEX api_keys_org ON api_keys(org_id, n);

ALTER TABLE provisions ADD COLUMN email TEXT CHECK (email = lower(email));
ALTER TABLE provisions ADD COLUMN name TEXT;
ALTER TABLE provisions ADD COLUMN external_id TEXT;
ALTER TABLE provisions ADD COLUMN metadata TEXT;
DROP INDEX provisions_org_created;
CREATE INDEX provisions_org_created ON provisions(org_id, created_at, n);
CREATE INDEX provisions_org_external ON provisions(org_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE idempotency (
    user_id    TEXT NOT NULL,
    route      TEXT NOT NULL,
    key        TEXT NOT NULL,
    body_hash  BYTEA NOT NULL,
    status     BIGINT NOT NULL,
    response   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, route, key)
);
CREATE INDEX idempotency_created ON idempotency(created_at);

CREATE TABLE credit_limits (
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    period       TEXT NOT NULL CHECK (period IN ('day', 'month', 'total')),
    amount       BIGINT NOT NULL CHECK (amount >= 0),
    used         BIGINT NOT NULL CHECK (used >= 0),
    window_start BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

UPDATE schema_version SET version = 5;
