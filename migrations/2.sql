-- Version 1 -> 2: users, memberships, projects, api_keys, agents and provisions move from UUID
-- primary keys to internal, ever-growing `n` keys (why: schema.sql, "Keys"). Public ids are kept.
-- Follows SQLite's procedure for changing a table's shape: new tables under temporary names,
-- copy, drop the old, rename (and the sweep's index becomes partial). src/db.rs runs it in one transaction with foreign keys off, checks
-- `PRAGMA foreign_key_check` before committing, and turns them back on.
-- Rows are copied in creation order, so old data gets the same locality as new data.

CREATE TABLE users_v2 (
    n             INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    email         TEXT COLLATE NOCASE,
    status        TEXT NOT NULL CHECK (status IN ('placeholder', 'active')),
    api_only      INTEGER NOT NULL DEFAULT 0 CHECK (api_only IN (0, 1)),
    password_hash TEXT,
    name          TEXT,
    pending_until INTEGER,
    created_at    INTEGER NOT NULL
);
INSERT INTO users_v2 (id, email, status, api_only, password_hash, name, pending_until, created_at)
    SELECT id, email, status, api_only, password_hash, name, pending_until, created_at
      FROM users ORDER BY created_at, id;

CREATE TABLE memberships_v2 (
    user_n         INTEGER NOT NULL REFERENCES users_v2(n) ON DELETE CASCADE,
    org_id         TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    role           TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    is_provisioner INTEGER NOT NULL DEFAULT 0 CHECK (is_provisioner IN (0, 1)),
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (user_n, org_id)
) WITHOUT ROWID;
INSERT INTO memberships_v2 (user_n, org_id, role, is_provisioner, created_at)
    SELECT u.n, m.org_id, m.role, m.is_provisioner, m.created_at
      FROM memberships m JOIN users_v2 u ON u.id = m.user_id;

CREATE TABLE projects_v2 (
    n          INTEGER PRIMARY KEY,
    id         TEXT NOT NULL,
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_n     INTEGER NOT NULL REFERENCES users_v2(n) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO projects_v2 (id, org_id, user_n, name, created_at)
    SELECT p.id, p.org_id, u.n, p.name, p.created_at
      FROM projects p JOIN users_v2 u ON u.id = p.user_id ORDER BY p.created_at, p.id;
-- Only for the copies below, which look projects up by their public id.
CREATE INDEX projects_v2_id ON projects_v2(id);

CREATE TABLE api_keys_v2 (
    n            INTEGER PRIMARY KEY,
    hash         BLOB NOT NULL UNIQUE,
    hint         TEXT NOT NULL,
    user_n       INTEGER NOT NULL REFERENCES users_v2(n) ON DELETE CASCADE,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_n    INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
INSERT INTO api_keys_v2 (hash, hint, user_n, org_id, project_n, created_at, revoked_at, last_used_at)
    SELECT k.hash, k.hint, u.n, k.org_id, p.n, k.created_at, k.revoked_at, k.last_used_at
      FROM api_keys k JOIN users_v2 u ON u.id = k.user_id JOIN projects_v2 p ON p.id = k.project_id
     ORDER BY k.created_at, k.id;

CREATE TABLE agents_v2 (
    project_n         INTEGER NOT NULL REFERENCES projects_v2(n) ON DELETE CASCADE,
    identifier        TEXT NOT NULL,
    id                TEXT NOT NULL,
    name              TEXT NOT NULL,
    parent_identifier TEXT,
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (project_n, identifier)
) WITHOUT ROWID;
INSERT INTO agents_v2 (project_n, identifier, id, name, parent_identifier, created_at)
    SELECT p.n, a.identifier, a.id, a.name, a.parent_identifier, a.created_at
      FROM agents a JOIN projects_v2 p ON p.id = a.project_id;
DROP INDEX projects_v2_id;

CREATE TABLE provisions_v2 (
    n               INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    project_id      TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    skip_onboarding INTEGER NOT NULL CHECK (skip_onboarding IN (0, 1)),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'cancelled', 'expired')),
    token_hash      BLOB NOT NULL UNIQUE,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    claimed_at      INTEGER,
    claimed_by      TEXT
);
INSERT INTO provisions_v2 (id, org_id, user_id, project_id, agent_id, role, skip_onboarding, status,
                           token_hash, created_by, created_at, expires_at, claimed_at, claimed_by)
    SELECT id, org_id, user_id, project_id, agent_id, role, skip_onboarding, status,
           token_hash, created_by, created_at, expires_at, claimed_at, claimed_by
      FROM provisions ORDER BY created_at, id;

DROP TABLE agents;
DROP TABLE api_keys;
DROP TABLE projects;
DROP TABLE memberships;
DROP TABLE provisions;
DROP TABLE users;

-- Renaming also rewrites the references between the new tables (users_v2(n) -> users(n)).
-- sessions keeps its reference to users(id), which is unique in the new table too.
ALTER TABLE users_v2 RENAME TO users;
ALTER TABLE memberships_v2 RENAME TO memberships;
ALTER TABLE projects_v2 RENAME TO projects;
ALTER TABLE api_keys_v2 RENAME TO api_keys;
ALTER TABLE agents_v2 RENAME TO agents;
ALTER TABLE provisions_v2 RENAME TO provisions;

CREATE UNIQUE INDEX users_email ON users(email) WHERE email IS NOT NULL;
CREATE INDEX memberships_org ON memberships(org_id);
CREATE INDEX projects_user ON projects(user_n);
CREATE INDEX api_keys_user ON api_keys(user_n);
CREATE INDEX provisions_pending ON provisions(expires_at) WHERE status = 'pending';
CREATE INDEX provisions_org_created ON provisions(org_id, created_at);

PRAGMA user_version = 2;
