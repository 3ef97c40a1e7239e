-- provisiond schema, version 11. Applied in one transaction on first start; `PRAGMA user_version`
-- records the version, and src/db.rs upgrades older databases step by step (migrations/).
-- Times are integer milliseconds since the Unix epoch (UTC): compact, indexable, and compared
-- without parsing. The API formats them as RFC 3339 with milliseconds.
--
-- Keys. The API's ids are UUID v4: random, so every B-tree ordered by one takes each insert and
-- delete at a random page. The tables a provision writes (six rows) therefore link to each other
-- by an internal `n INTEGER PRIMARY KEY` that only grows: rows and the indexes over those links
-- are appended, and the rows of one provision (and of provisions that expire together) sit side
-- by side. The public `id` is kept as a column, with a unique index only where a request looks a
-- row up by it (users, provisions). What is left at random per provision is what must be: the
-- key hash, the claim token hash and those two id indexes.

CREATE TABLE organizations (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    -- Lowercase; the orchestrator endpoint maps new users onto it. Unique so that one domain's
    -- users draw on exactly one credit pool.
    domain       TEXT UNIQUE,
    -- The credit pool, in thousandths of a credit: integers, so sums never drift.
    credits_granted INTEGER NOT NULL DEFAULT 0 CHECK (credits_granted >= 0),
    credits_used    INTEGER NOT NULL DEFAULT 0 CHECK (credits_used >= 0),
    -- How low the pool was last seen (0 fine, 1 below CREDITS_LOW_THRESHOLD, 2 empty), so
    -- credits.low and credits.depleted fire once per crossing.
    credits_alert   INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    -- The event types its enabled webhook endpoints want: ',type,type,' (',*,' for all), NULL
    -- for none. Kept by every change to an endpoint (store/webhooks.rs, refresh_subscriptions),
    -- so recording an event reads it with its insert and an organization without subscribers
    -- costs no query and no delivery row.
    webhook_events TEXT,
    CHECK (credits_used <= credits_granted)
);

CREATE TABLE users (
    n             INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    -- NULL for a placeholder (a provisioned user nobody has claimed yet).
    email         TEXT COLLATE NOCASE,
    status        TEXT NOT NULL CHECK (status IN ('placeholder', 'active')),
    api_only      INTEGER NOT NULL DEFAULT 0 CHECK (api_only IN (0, 1)),
    -- argon2id PHC string; NULL for placeholders and API-only users, who never sign in.
    password_hash TEXT,
    -- Display name, from onboarding.
    name          TEXT,
    -- For a placeholder: when its pending provision expires; its keys fail from then on. Kept
    -- here so the key check reads no provision row.
    pending_until INTEGER,
    created_at    INTEGER NOT NULL,
    -- 1 when the address is known to reach this person: an operator or an orchestrator made the
    -- account, or the person followed a link mailed there. Never from an address someone typed
    -- (a sign-up form, a provision's `email`). Whatever hands out power by address
    -- (an owner named by email, X-User-ID) refuses an unverified one: anyone can type any address
    -- into a sign-up form.
    email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1))
);
-- Partial: placeholders (no email yet) stay out of it, so provisioning never touches it.
CREATE UNIQUE INDEX users_email ON users(email) WHERE email IS NOT NULL;

CREATE TABLE memberships (
    user_n         INTEGER NOT NULL REFERENCES users(n) ON DELETE CASCADE,
    org_id         TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    role           TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    is_provisioner INTEGER NOT NULL DEFAULT 0 CHECK (is_provisioner IN (0, 1)),
    created_at     INTEGER NOT NULL,
    -- Set while the organization's identity provider has the person deactivated (SCIM
    -- `active: false`): their keys and sessions in the organization are refused (keys::lookup
    -- joins only memberships without it); NULL: a member in good standing.
    suspended_at   INTEGER,
    PRIMARY KEY (user_n, org_id)
) WITHOUT ROWID;
CREATE INDEX memberships_org ON memberships(org_id);

CREATE TABLE projects (
    n          INTEGER PRIMARY KEY,
    -- Public id; never looked up (a key names its project by `n`), so not indexed.
    id         TEXT NOT NULL,
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_n     INTEGER NOT NULL REFERENCES users(n) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX projects_user ON projects(user_n);

CREATE TABLE api_keys (
    n            INTEGER PRIMARY KEY,
    -- Public id, for the keys API (revoke, rotate). Requests find a key by its hash.
    id           TEXT NOT NULL DEFAULT '',
    -- blake3 of the whole key; the key itself is never stored.
    hash         BLOB NOT NULL UNIQUE,
    -- Prefix and the first 8 hex characters, for listings.
    hint         TEXT NOT NULL,
    user_n       INTEGER NOT NULL REFERENCES users(n) ON DELETE CASCADE,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    -- No foreign key: a project is only ever deleted with its user, and the user's keys go with
    -- the user (above). A cascade here would need one more index written on every provision.
    project_n    INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER,
    -- The most this key acts as, whatever its user's role becomes: a provisioned key keeps the
    -- provision's role even after an owner claims it. 'owner' means no ceiling.
    role         TEXT NOT NULL DEFAULT 'owner' CHECK (role IN ('owner', 'admin', 'member')),
    -- A label for listings; NULL for a key nobody named.
    name         TEXT,
    -- The routes the key reaches, as scope names separated by spaces; NULL: every route.
    scopes       TEXT,
    -- The key fails from this time on; NULL: it does not expire.
    expires_at   INTEGER
    -- `revoked_at` may lie in the future: a rotated key keeps working until its grace period
    -- ends, then counts as revoked.
);
CREATE INDEX api_keys_user ON api_keys(user_n);
CREATE UNIQUE INDEX api_keys_id ON api_keys(id);
-- An organization's keys, in the order they were made (listings page through it).
CREATE INDEX api_keys_org ON api_keys(org_id, n);

-- One counter, bumped in the same transaction as every write that changes what an existing key
-- means (revoked, moved, demoted, its provision ended). A server caches verified keys; it
-- compares this counter before trusting its cache, so a change made by another process (the
-- command line) is seen on the very next request.
CREATE TABLE key_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL
);
INSERT INTO key_epoch (id, epoch) VALUES (1, 0);

-- Keyed by project and identifier (unique within a project), the one tree an agent needs. The
-- public id is looked up only within one project, where this key narrows the search.
CREATE TABLE agents (
    project_n         INTEGER NOT NULL REFERENCES projects(n) ON DELETE CASCADE,
    identifier        TEXT NOT NULL,
    id                TEXT NOT NULL,
    name              TEXT NOT NULL,
    parent_identifier TEXT,
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (project_n, identifier)
) WITHOUT ROWID;

-- A provision row outlives what it created (the record of who provisioned what, and how it
-- ended), so user/project/agent ids are plain columns (the public ids), not foreign keys.
CREATE TABLE provisions (
    n               INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    project_id      TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    skip_onboarding INTEGER NOT NULL CHECK (skip_onboarding IN (0, 1)),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'cancelled', 'expired')),
    -- blake3 of the claim token; the token itself is never stored.
    token_hash      BLOB NOT NULL UNIQUE,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    claimed_at      INTEGER,
    claimed_by      TEXT,
    -- Only an account with this address may claim (lowercase); NULL: anyone with the link.
    email           TEXT,
    -- A label, the caller's own reference and a JSON object, all only shown back.
    name            TEXT,
    external_id     TEXT,
    metadata        TEXT,
    -- The account signed up through this link while it was pending: one link, one account.
    signed_up       TEXT
);
-- The sweep looks for pending rows past their expiry. Partial: a provision leaves it when it
-- ends, and an ended one is never written to it again.
CREATE INDEX provisions_pending ON provisions(expires_at) WHERE status = 'pending';
-- Listings are per organization, newest first (ties in creation order, by `n`, which every
-- index entry ends with).
CREATE INDEX provisions_org_created ON provisions(org_id, created_at);
CREATE INDEX provisions_org_external ON provisions(org_id, external_id) WHERE external_id IS NOT NULL;
-- A tab of the team page (a status) newest first, and its count, from the index alone.
CREATE INDEX provisions_org_status ON provisions(org_id, status, created_at, n, expires_at);

CREATE TABLE credit_ledger (
    id         INTEGER PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    -- Kept when the user is deleted later: the ledger is a record.
    user_id    TEXT,
    kind       TEXT NOT NULL CHECK (kind IN ('grant', 'consume')),
    -- Thousandths of a credit, always positive; `kind` says which way it went.
    amount     INTEGER NOT NULL CHECK (amount > 0),
    reason     TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX credit_ledger_org_user ON credit_ledger(org_id, user_id);
-- The credits page's picture: what was used per day over the last 30 days.
CREATE INDEX credit_ledger_org_created ON credit_ledger(org_id, created_at);

-- Web sign-ins. The cookie holds a random token; only its blake3 hash is stored. Few rows, so
-- they name the user by public id (unique in users, so a valid foreign key target).
CREATE TABLE sessions (
    token_hash    BLOB PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The organization the dashboard shows; NULL until the person has one.
    active_org_id TEXT REFERENCES organizations(id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

-- Links mailed to a person: verify an address, or reset a password. Only the blake3 hash of the
-- token is kept; a link works once, until `expires_at`, and only for the address it was sent to.
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

-- Creations and debits already done, by the caller's Idempotency-Key: a retry replays the
-- outcome instead of doing the work again. `owner` is the credential that made the record, in
-- its organization ('key:<key id>', 'session:<user id>:<org id>'): a record answers nobody else. `response` is the first answer's body with every
-- secret left out (a replay issues new ones); kept for 24 hours.
CREATE TABLE idempotency (
    owner      TEXT NOT NULL,
    route      TEXT NOT NULL,
    key        TEXT NOT NULL,
    -- blake3 of the request body as parsed, so a different body under the same key is refused.
    body_hash  BLOB NOT NULL,
    status     INTEGER NOT NULL,
    response   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (owner, route, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_created ON idempotency(created_at);

-- What one user may consume from the organization's pool per period. `used` counts the
-- consumption since `window_start` (the start of the current day or month, UTC; 0 for
-- `total`), so the check is one row, not a sum over the ledger. No foreign key to users: the
-- sweep deletes placeholders by the thousand and would look here for each.
CREATE TABLE credit_limits (
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    period       TEXT NOT NULL CHECK (period IN ('day', 'month', 'total')),
    amount       INTEGER NOT NULL CHECK (amount >= 0),
    used         INTEGER NOT NULL CHECK (used >= 0),
    window_start INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
) WITHOUT ROWID;

-- What happened, for people: one row per change made through the service layer, written in
-- the same transaction as the change. Never holds a secret. Pruned after AUDIT_RETENTION.
-- No foreign keys: the record outlives what it names (a swept placeholder, a removed member).
-- The public `id` is shown, never looked up: no index (a random one, written at every change).
CREATE TABLE audit_log (
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
CREATE INDEX audit_log_org ON audit_log(org_id, n);
CREATE INDEX audit_log_created ON audit_log(created_at);

-- What happened, for machines: the events feed and the webhooks' outbox, written in the same
-- transaction as the change. `n` orders the feed (SQLite commits in order of it). An event
-- recorded with an audit row (`audit_n`) has `data` '': its data is that row's details with the
-- target's id added (src/store/events.rs, Data), written once rather than twice; should the
-- audit row be pruned first (AUDIT_RETENTION under 30 days), the data is written out here.
CREATE TABLE events (
    n          INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    org_id     TEXT NOT NULL,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    audit_n    INTEGER
);
CREATE INDEX events_org ON events(org_id, n);
CREATE INDEX events_created ON events(created_at);

-- Webhook endpoints. `events` is ',type,type,' (or ',*,') so one LIKE finds the subscribers;
-- organizations.webhook_events sums up the enabled ones.
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
    created_at  INTEGER NOT NULL,
    -- When the lease of the worker that took it ends; cleared when the attempt is recorded. A
    -- pending row whose lease runs is in flight, on whichever replica: the per-endpoint and
    -- per-organization limits count those (src/store/webhooks.rs, take_due).
    leased_until INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries(webhook_n) WHERE leased_until IS NOT NULL;
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_n, n);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_n);

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
-- search seeks per word instead of reading every row with LIKE '%…%' (src/store/terms.rs).
CREATE TABLE provision_terms (
    org_id      TEXT NOT NULL,
    term        TEXT NOT NULL,
    provision_n INTEGER NOT NULL,
    PRIMARY KEY (org_id, term, provision_n)
) WITHOUT ROWID;

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
