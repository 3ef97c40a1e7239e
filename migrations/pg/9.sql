-- Version 8 -> 9 (issue 22): the economy of the core; see migrations/9.sql for the why.

ALTER TABLE organizations ADD COLUMN webhook_events TEXT;
UPDATE organizations
   SET webhook_events = (SELECT string_agg(w.events, '') FROM webhooks w
                          WHERE w.org_id = organizations.id AND w.enabled);

ALTER TABLE events ADD COLUMN audit_n BIGINT;

ALTER TABLE audit_log DROP CONSTRAINT audit_log_id_key;

UPDATE schema_version SET version = 9;
