-- Version 8 -> 9 (issue 22): the economy of the core.

-- Which event types an organization's enabled webhook endpoints want (',type,type,', ',*,' for
-- all, NULL for none), kept with the organization: recording an event reads it with the insert,
-- so a write whose organization has no subscriber runs no fan-out and makes no delivery row.
-- Concatenated lists ('... ,a,,b, ...') say the same as their union.
ALTER TABLE organizations ADD COLUMN webhook_events TEXT;
UPDATE organizations
   SET webhook_events = (SELECT group_concat(w.events, '') FROM webhooks w
                          WHERE w.org_id = organizations.id AND w.enabled = 1);

-- An event recorded with an audit row reads its data from that row's details ('' here): new
-- events only; those already written keep their data.
ALTER TABLE events ADD COLUMN audit_n INTEGER;

-- Audit ids are shown, never looked up: their unique index (a random page written at every
-- change) goes. SQLite keeps a UNIQUE constraint's index until the table is rebuilt, so it is
-- rebuilt, rows in order. The rebuild also gives the actors 'scim' (issue 24, whose step 11
-- would otherwise rebuild the table a second time for its CHECK).
CREATE TABLE audit_log_9 (
    n           INTEGER PRIMARY KEY,
    id          TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    action      TEXT NOT NULL,
    -- 'scim': the organization's identity provider, through its SCIM token (actor_id: the key).
    actor_type  TEXT NOT NULL CHECK (actor_type IN ('user', 'api_key', 'operator', 'system', 'scim')),
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
INSERT INTO audit_log_9 (n, id, org_id, action, actor_type, actor_id, actor_email, target_type, target_id,
                         ip, user_agent, details, created_at)
     SELECT n, id, org_id, action, actor_type, actor_id, actor_email, target_type, target_id,
            ip, user_agent, details, created_at
       FROM audit_log ORDER BY n;
DROP TABLE audit_log;
ALTER TABLE audit_log_9 RENAME TO audit_log;
CREATE INDEX audit_log_org ON audit_log(org_id, n);
CREATE INDEX audit_log_created ON audit_log(created_at);

PRAGMA user_version = 9;
