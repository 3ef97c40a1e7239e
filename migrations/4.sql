-- Version 3 -> 4 (issue 12): what several replicas must share instead of keeping in memory.
-- Tables are added, nothing is rebuilt. src/db/migrate.rs runs it in one transaction.

-- Rate limits as token buckets, one row per limited thing (a person, a client address, a form).
-- Used where several replicas serve (PostgreSQL); one process keeps them in memory.
CREATE TABLE rate_buckets (
    key    TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX rate_buckets_at ON rate_buckets(at);

-- Failed log-ins per address and per address and client (see service::limits).
CREATE TABLE login_failures (
    key      TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_at  INTEGER NOT NULL
);
CREATE INDEX login_failures_last ON login_failures(last_at);

-- Dashboard results with a secret in them (a new key, a claim link), waiting to be shown once
-- after a redirect, which may land on another replica. Sealed under a key derived from the
-- session cookie, which only the browser holds: the database alone reveals nothing. No foreign
-- key to users: a result is gone within ten minutes anyway, and a cascade would make every
-- deleted user (the sweep deletes thousands) look here (measured: 10x the sweep's p99).
CREATE TABLE shown_results (
    id_hash    BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL,
    title      TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX shown_results_created ON shown_results(created_at);

PRAGMA user_version = 4;
