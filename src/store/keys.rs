//! API keys. `lookup` is the one query every authenticated request goes through when the key
//! cache does not know the key.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Row, Tx};
use crate::domain::KeyRecord;
use crate::domain::{Domain, KeyId, KeyN, OrgId, ProjectId, ProjectN, Role, Scopes, UserId, UserN};

/// What a new key is, apart from its secret.
pub struct KeySpec<'a> {
    pub user: UserN,
    pub org: &'a OrgId,
    pub project: ProjectN,
    /// The most the key may act as (see schema.sql, api_keys.role).
    pub ceiling: Role,
    pub name: Option<&'a str>,
    pub scopes: Scopes,
    pub expires_at: Option<Millis>,
}

/// A key to store: only its hash and hint, never the key.
pub struct NewKey<'a> {
    pub id: &'a KeyId,
    pub hash: &'a [u8; 32],
    pub hint: &'a str,
    pub spec: &'a KeySpec<'a>,
}

pub fn insert_key(tx: &Tx, new: &NewKey, now: Millis) -> DbResult<KeyN> {
    let key = new.spec;
    tx.value(
        "INSERT INTO api_keys (hash, hint, user_n, org_id, project_n, created_at, role, id, name, scopes, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING n",
        &[
            &&new.hash[..],
            &new.hint,
            &key.user,
            key.org,
            &key.project,
            &now,
            &key.ceiling,
            new.id,
            &key.name,
            &key.scopes.to_stored(),
            &key.expires_at,
        ],
    )
}

/// What a key row says about its holder, before expiry and revocation are applied (the caller
/// decides what a revoked or expired key means: refused, or reported by verification).
#[derive(Debug)]
pub struct KeyRow {
    pub key: KeyN,
    pub key_id: KeyId,
    pub key_name: Option<String>,
    pub scopes: Scopes,
    pub expires_at: Option<Millis>,
    /// May lie in the future: a rotated key works until its grace period ends.
    pub revoked_at: Option<Millis>,
    pub user_id: UserId,
    pub user_n: UserN,
    pub email: Option<String>,
    pub email_verified: bool,
    pub placeholder: bool,
    pub api_only: bool,
    pub org_id: OrgId,
    pub org_name: String,
    pub org_domain: Option<Domain>,
    /// The member's role in the organization; None once they were removed from it, or while
    /// their identity provider has them suspended (SCIM `active: false`).
    pub member_role: Option<Role>,
    pub ceiling: Role,
    pub is_provisioner: bool,
    pub project_id: ProjectId,
    pub project_n: ProjectN,
    pub last_used_at: Option<Millis>,
    /// For a placeholder: when its pending provision expires.
    pub pending_until: Option<Millis>,
}

pub fn lookup(conn: &Conn, hash: &[u8; 32]) -> DbResult<Option<KeyRow>> {
    conn.query_opt(
        "SELECT k.n, u.id, u.n, u.email, u.email_verified, u.status, u.api_only, k.org_id, o.name, o.domain,
                m.role, k.role, m.is_provisioner, p.id, k.project_n, k.last_used_at, u.pending_until,
                k.id, k.name, k.scopes, k.expires_at, k.revoked_at
           FROM api_keys k
           JOIN users u ON u.n = k.user_n
           LEFT JOIN memberships m ON m.user_n = k.user_n AND m.org_id = k.org_id AND m.suspended_at IS NULL
           JOIN organizations o ON o.id = k.org_id
           JOIN projects p ON p.n = k.project_n
          WHERE k.hash = ?1",
        &[&&hash[..]],
        |r| {
            Ok(KeyRow {
                key: r.get(0)?,
                user_id: r.get(1)?,
                user_n: r.get(2)?,
                email: r.get(3)?,
                email_verified: r.get(4)?,
                placeholder: r.get::<String>(5)? == "placeholder",
                api_only: r.get(6)?,
                org_id: r.get(7)?,
                org_name: r.get(8)?,
                org_domain: r.get(9)?,
                member_role: r.get(10)?,
                ceiling: r.get(11)?,
                is_provisioner: r.get::<Option<bool>>(12)?.unwrap_or(false),
                project_id: r.get(13)?,
                project_n: r.get(14)?,
                last_used_at: r.get(15)?,
                pending_until: r.get(16)?,
                key_id: r.get(17)?,
                key_name: r.get(18)?,
                scopes: Scopes::from_stored(r.get::<Option<String>>(19)?.as_deref()),
                expires_at: r.get(20)?,
                revoked_at: r.get(21)?,
            })
        },
    )
}

macro_rules! item_sql {
    ($where:literal) => {
        concat!(
            "SELECT k.n, k.id, k.name, k.hint, u.id, k.user_n, p.id, k.project_n, k.role, k.scopes,
                    k.created_at, k.last_used_at, k.expires_at, k.revoked_at, m.role
               FROM api_keys k JOIN users u ON u.n = k.user_n JOIN projects p ON p.n = k.project_n
               LEFT JOIN memberships m ON m.user_n = k.user_n AND m.org_id = k.org_id
              WHERE ",
            $where
        )
    };
}

fn item(r: &Row) -> DbResult<KeyRecord> {
    Ok(KeyRecord {
        n: r.get(0)?,
        id: r.get(1)?,
        name: r.get(2)?,
        hint: r.get(3)?,
        user_id: r.get(4)?,
        user_n: r.get(5)?,
        project_id: r.get(6)?,
        project_n: r.get(7)?,
        ceiling: r.get(8)?,
        scopes: Scopes::from_stored(r.get::<Option<String>>(9)?.as_deref()),
        created_at: r.get(10)?,
        last_used_at: r.get(11)?,
        expires_at: r.get(12)?,
        revoked_at: r.get(13)?,
        holder_role: r.get(14)?,
    })
}

/// One key of this organization by its public id.
pub fn get(conn: &Conn, org: &OrgId, id: &KeyId) -> DbResult<Option<KeyRecord>> {
    conn.query_opt(item_sql!("k.id = ?1 AND k.org_id = ?2"), &[id, org], item)
}

/// This organization's keys (of one user, if given), newest first, after row `before` when
/// given; `limit` rows at most.
pub fn list(
    conn: &Conn,
    org: &OrgId,
    user: Option<&UserId>,
    before: Option<KeyN>,
    limit: u32,
) -> DbResult<Vec<KeyRecord>> {
    conn.query_all(
        item_sql!(
            "k.org_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR u.id = CAST(?2 AS TEXT))
               AND (CAST(?3 AS BIGINT) IS NULL OR k.n < CAST(?3 AS BIGINT))
             ORDER BY k.n DESC LIMIT ?4"
        ),
        &[org, &user, &before, &i64::from(limit)],
        item,
    )
}

/// Records use; a later time never loses to an earlier one.
pub fn touch(tx: &Tx, key: KeyN, at: Millis) -> DbResult<()> {
    tx.execute(
        "UPDATE api_keys SET last_used_at = ?2 WHERE n = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
        &[&key, &at],
    )?;
    Ok(())
}

/// Revokes a live key from `at` on (now, or when a rotation's grace period ends); a key already
/// set to stop sooner keeps its time. 0 when it was revoked already.
pub fn revoke(tx: &Tx, key: KeyN, at: Millis) -> DbResult<usize> {
    tx.keys_changed();
    tx.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE n = ?1 AND (revoked_at IS NULL OR revoked_at > ?2)",
        &[&key, &at],
    )
}

/// Whether a key is live at `now` as the database says it (inside the write that relies on it).
pub fn is_live(tx: &Tx, key: KeyN, now: Millis) -> DbResult<bool> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM api_keys WHERE n = ?1 AND (revoked_at IS NULL OR revoked_at > ?2)
               AND (expires_at IS NULL OR expires_at > ?2)",
            &[&key, &now],
            |_| Ok(()),
        )?
        .is_some())
}

/// How many keys a user holds in an organization that still work at `now`.
pub fn live_count(tx: &Tx, user: UserN, org: &OrgId, now: Millis) -> DbResult<i64> {
    tx.value(
        "SELECT COUNT(*) FROM api_keys WHERE user_n = ?1 AND org_id = ?2
            AND (revoked_at IS NULL OR revoked_at > ?3) AND (expires_at IS NULL OR expires_at > ?3)",
        &[&user, org, &now],
    )
}

/// Revokes every live key a user holds in an organization (removed from it); returns how many.
pub fn revoke_all_of(tx: &Tx, user: UserN, org: &OrgId, now: Millis) -> DbResult<usize> {
    tx.keys_changed();
    tx.execute(
        "UPDATE api_keys SET revoked_at = ?3 WHERE user_n = ?1 AND org_id = ?2 AND (revoked_at IS NULL OR revoked_at > ?3)",
        &[&user, org, &now],
    )
}

/// Gives a key a new secret in place (same id, name, role, scopes): an idempotent replay's
/// fresh key. The old secret stops working with this write.
/// A key no longer live (revoked, rotated past its grace, expired) is left alone: 0.
pub fn replace_secret(tx: &Tx, key: KeyN, hash: &[u8; 32], hint: &str, now: Millis) -> DbResult<usize> {
    // The old secret, cached, must stop working.
    tx.keys_changed();
    tx.execute(
        "UPDATE api_keys SET hash = ?2, hint = ?3 WHERE n = ?1
            AND (revoked_at IS NULL OR revoked_at > ?4) AND (expires_at IS NULL OR expires_at > ?4)",
        &[&key, &&hash[..], &hint, &now],
    )
}

/// Holds the person's membership row until the write ends, so concurrent key creations by one
/// person are counted one after another (PostgreSQL; SQLite's one writer does that already).
pub fn lock_holder(tx: &Tx, user: UserN, org: &OrgId) -> DbResult<()> {
    if tx.engine() == crate::db::Engine::Postgres {
        tx.query_opt(
            "SELECT 1 FROM memberships WHERE user_n = ?1 AND org_id = ?2 FOR UPDATE",
            &[&user, org],
            |_| Ok(()),
        )?;
    }
    Ok(())
}
