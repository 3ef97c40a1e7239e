-- Version 6 -> 7 (issue 20), as migrations/7.sql for SQLite.

ALTER TABLE idempotency RENAME COLUMN user_id TO owner;
UPDATE idempotency SET owner = 'user:' || owner;

ALTER TABLE provisions ADD COLUMN signed_up TEXT;

UPDATE users SET email_verified = FALSE
 WHERE email_verified
   AND id IN (SELECT claimed_by FROM provisions
               WHERE status = 'claimed' AND email IS NOT NULL AND claimed_by = user_id);

UPDATE schema_version SET version = 7;
