-- Version 10 -> 11 (issue 24, SCIM 2.0).

-- A member the identity provider deactivated: suspended, not removed.
ALTER TABLE memberships ADD COLUMN suspended_at INTEGER;

-- The audit log's actors gained 'scim' in step 9, which rebuilt that table anyway.

-- SCIM 2.0 (issue 24): what an organization's identity provider says about its people and
-- groups. A member the provider has linked or made has a row here; one it never touched is shown
-- to it from the membership alone (userName = their address). The row goes with the membership.
CREATE TABLE scim_users (
    user_n          INTEGER NOT NULL,
    org_id          TEXT NOT NULL,
    -- The provider's unique name for the person in this organization, as it sent it ...
    user_name       TEXT NOT NULL,
    -- ... and lowercased: unique per organization, compared case-insensitively.
    user_name_key   TEXT NOT NULL,
    external_id     TEXT,
    -- Every other attribute it sent (name, emails, active, the enterprise extension, ...), a JSON
    -- object: shown back as it was sent; only the address and `active` act on the account.
    attributes      TEXT NOT NULL,
    -- When this organization's provider made the account (it may then change its address);
    -- NULL: the account existed, and only the membership is the provider's.
    account_made_at INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (user_n, org_id),
    FOREIGN KEY (user_n, org_id) REFERENCES memberships(user_n, org_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE UNIQUE INDEX scim_users_name ON scim_users(org_id, user_name_key);
CREATE INDEX scim_users_external ON scim_users(org_id, external_id) WHERE external_id IS NOT NULL;

-- The provider's groups, and who is in them (members of the organization only). The group named
-- by scim_settings.admin_group makes its members admins.
CREATE TABLE scim_groups (
    n            INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    -- Lowercased: unique per organization (the admin group is named by it).
    display_key  TEXT NOT NULL,
    external_id  TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX scim_groups_name ON scim_groups(org_id, display_key);

CREATE TABLE scim_group_members (
    group_n INTEGER NOT NULL REFERENCES scim_groups(n) ON DELETE CASCADE,
    user_n  INTEGER NOT NULL,
    org_id  TEXT NOT NULL,
    PRIMARY KEY (group_n, user_n),
    FOREIGN KEY (user_n, org_id) REFERENCES memberships(user_n, org_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX scim_group_members_user ON scim_group_members(user_n, org_id);

-- Per organization: the provider's group whose members are admins (by display name,
-- case-insensitively; NULL: SCIM leaves roles alone).
CREATE TABLE scim_settings (
    org_id      TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    admin_group TEXT,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

PRAGMA user_version = 11;
