-- Version 2 -> 3 (issue 10): verified addresses, key role ceilings, the key epoch, mailed links.
-- Columns are added, nothing is rebuilt. src/db.rs runs it in one transaction.

-- Verified: accounts an operator or an orchestrator made (they never signed up with a password)
-- and API-only users. Accounts that signed up with a password are not: nobody checked that the
-- address was theirs. An operator vouches with `provisiond user verify`, or the person follows
-- a verification link when SMTP is set.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1));
UPDATE users SET email_verified = 1
 WHERE api_only = 1 OR (status = 'active' AND password_hash IS NULL);

-- Keys issued by a provision act as at most the provision's role, claimed or not.
ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'owner' CHECK (role IN ('owner', 'admin', 'member'));
UPDATE api_keys SET role = (
        SELECT p.role FROM provisions p JOIN projects j ON j.id = p.project_id WHERE j.n = api_keys.project_n)
 WHERE project_n IN (SELECT j.n FROM projects j JOIN provisions p ON p.project_id = j.id);

CREATE TABLE key_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL
);
INSERT INTO key_epoch (id, epoch) VALUES (1, 0);

CREATE TABLE email_tokens (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
    email      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX email_tokens_user ON email_tokens(user_id);
CREATE INDEX email_tokens_expires ON email_tokens(expires_at);

PRAGMA user_version = 3;
