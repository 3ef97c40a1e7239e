-- Version 9 -> 10 (issue 23, the dashboard a team admin would choose). New tables and indexes,
-- nothing rebuilt.

-- Verifications per key and UTC day (days since the epoch), valid and refused: counted in memory
-- by each server and added here in bulk (src/service/auth.rs), so the count is exact across
-- replicas once flushed. No foreign key: the sweep deletes placeholders' keys by the thousand;
-- rows older than 90 days are pruned when the day turns.
CREATE TABLE key_verifications (
    key_n   INTEGER NOT NULL,
    day     INTEGER NOT NULL,
    valid   INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_n, day)
) WITHOUT ROWID;

-- Every attempt of a webhook delivery: when, the receiver's status or the connection's error,
-- and the first bytes of its answer (webhook_deliveries keeps only the last).
CREATE TABLE webhook_attempts (
    delivery_n INTEGER NOT NULL REFERENCES webhook_deliveries(n) ON DELETE CASCADE,
    attempt    INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    status     INTEGER,
    error      TEXT,
    response   TEXT,
    PRIMARY KEY (delivery_n, attempt)
) WITHOUT ROWID;

-- The team page's search: the words of each provision's address, label and external id, so a
-- search seeks per word instead of reading every row with LIKE '%…%' (src/store/terms.rs). A
-- word is a run of letters and digits, lowercased; the rows that exist are cut here the same way.
CREATE TABLE provision_terms (
    org_id      TEXT NOT NULL,
    term        TEXT NOT NULL,
    provision_n INTEGER NOT NULL,
    PRIMARY KEY (org_id, term, provision_n)
) WITHOUT ROWID;
WITH RECURSIVE walk(n, org, rest, cur) AS (
    SELECT n, org_id, lower(COALESCE(email, '') || ' ' || COALESCE(name, '') || ' ' || COALESCE(external_id, '')) || ' ', ''
      FROM provisions
    UNION ALL
    SELECT n, org, substr(rest, 2),
           CASE WHEN substr(rest, 1, 1) GLOB '[a-z0-9]' OR unicode(substr(rest, 1, 1)) > 127
                THEN cur || substr(rest, 1, 1) ELSE '' END
      FROM walk WHERE rest <> ''
)
INSERT OR IGNORE INTO provision_terms (org_id, term, provision_n)
SELECT org, substr(cur, 1, 64), n FROM walk
 WHERE cur <> '' AND NOT (substr(rest, 1, 1) GLOB '[a-z0-9]' OR unicode(substr(rest, 1, 1)) > 127);

-- A tab of the team page (a status) newest first, and its count, from the index alone.
CREATE INDEX provisions_org_status ON provisions(org_id, status, created_at, n, expires_at);
-- The credits page's picture: what was used per day over the last 30 days.
CREATE INDEX credit_ledger_org_created ON credit_ledger(org_id, created_at);

PRAGMA user_version = 10;
