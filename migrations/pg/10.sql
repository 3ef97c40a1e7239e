-- Version 9 -> 10 (issue 23), as migrations/10.sql for SQLite.

CREATE TABLE key_verifications (
    key_n   BIGINT NOT NULL,
    day     BIGINT NOT NULL,
    valid   BIGINT NOT NULL DEFAULT 0,
    refused BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_n, day)
);

CREATE TABLE webhook_attempts (
    delivery_n BIGINT NOT NULL REFERENCES webhook_deliveries(n) ON DELETE CASCADE,
    attempt    BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    status     BIGINT,
    error      TEXT,
    response   TEXT,
    PRIMARY KEY (delivery_n, attempt)
);

-- `term` compares byte by byte ("C"), as on SQLite: a word's range ends at the word followed by
-- the highest character, whatever the database's own collation.
CREATE TABLE provision_terms (
    org_id      TEXT NOT NULL,
    term        TEXT COLLATE "C" NOT NULL,
    provision_n BIGINT NOT NULL,
    PRIMARY KEY (org_id, term, provision_n)
);
INSERT INTO provision_terms (org_id, term, provision_n)
SELECT DISTINCT p.org_id, left(t, 64), p.n
  FROM provisions p,
       regexp_split_to_table(lower(COALESCE(p.email, '') || ' ' || COALESCE(p.name, '') || ' ' || COALESCE(p.external_id, '')),
                             '[\x01-\x2F\x3A-\x40\x5B-\x60\x7B-\x7F]+') AS t
 WHERE t <> ''
ON CONFLICT DO NOTHING;

CREATE INDEX provisions_org_status ON provisions(org_id, status, created_at, n, expires_at);
CREATE INDEX credit_ledger_org_created ON credit_ledger(org_id, created_at);

UPDATE schema_version SET version = 10;
