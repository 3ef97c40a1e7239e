-- Version 5 -> 6 (issue 14): the audit log, events, webhook endpoints and their deliveries;
-- the pool's low-credit state. Tables and a column are added, nothing is rebuilt.

ALTER TABLE organizations ADD COLUMN credits_alert INTEGER NOT NULL DEFAULT 0;

-- What happened, for people: one row per change made through the service layer, written in
-- the same transaction as the change. Never holds a secret. Pruned after AUDIT_RETENTION.
-- No foreign keys: the record outlives what it names (a swept placeholder, a removed member).
CREATE TABLE audit_log (
    n           INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    org_id      TEXT NOT NULL,
    action      TEXT NOT NULL,
    actor_type  TEXT NOT NULL CHECK (actor_type IN ('user', 'api_key', 'operator', 'system')),
    actor_id    TEXT,
    -- The acting person's address as it was then (an api_key actor's holder).
    actor_email TEXT,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    ip          TEXT,
    user_agent  TEXT,
    details     TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX audit_log_org ON audit_log(org_id, n);
CREATE INDEX audit_log_created ON audit_log(created_at);

-- What happened, for machines: the events feed and the webhooks' outbox, written in the same
-- transaction as the change. `n` orders the feed (SQLite commits in order of it).
CREATE TABLE events (
    n          INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    org_id     TEXT NOT NULL,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX events_org ON events(org_id, n);
CREATE INDEX events_created ON events(created_at);

-- Webhook endpoints. `events` is ',type,type,' (or ',*,') so one LIKE finds the subscribers.
-- The signing secrets are sealed under the server key (SECRET_KEY), never stored in the clear;
-- after a rotation the previous one signs too until `previous_until`.
CREATE TABLE webhooks (
    n              INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    org_id         TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    url            TEXT NOT NULL,
    events         TEXT NOT NULL,
    description    TEXT,
    enabled        INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    secret         BLOB NOT NULL,
    previous_secret BLOB,
    previous_until INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX webhooks_org ON webhooks(org_id, n);

-- One row per event and endpoint: the delivery, its attempts and when the next is due. A
-- worker takes a due row by moving `next_at` past the time a delivery can take (a lease): if
-- it dies, the row is due again when the lease ends.
CREATE TABLE webhook_deliveries (
    n           INTEGER PRIMARY KEY,
    webhook_n   INTEGER NOT NULL REFERENCES webhooks(n) ON DELETE CASCADE,
    event_n     INTEGER NOT NULL REFERENCES events(n) ON DELETE CASCADE,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    last_status INTEGER,
    last_error  TEXT,
    last_at     INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_n, n);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_n);
PRAGMA user_version = 6;
