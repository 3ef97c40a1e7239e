//! API keys. `lookup` is the one query every authenticated request goes through, so a cache
//! can later sit in front of it in one place (see `auth::authenticate`).

use crate::auth::Caller;
use crate::clock::Millis;
use crate::domain::Role;
use crate::keys::Issued;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

pub fn insert_key(
    tx: &Transaction,
    id: &str,
    key: &Issued,
    user_id: &str,
    org_id: &str,
    project_id: &str,
    now: Millis,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO api_keys (id, hash, hint, user_id, org_id, project_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![id, &key.hash[..], key.hint, user_id, org_id, project_id, now])?;
    Ok(())
}

/// What a live key row says about its holder, before expiry is applied.
pub struct KeyRow {
    pub caller: Caller,
    /// For a placeholder: when its pending provision expires (None: no pending provision).
    pub pending_until: Option<Millis>,
    pub last_used_at: Option<Millis>,
}

pub fn lookup(conn: &Connection, hash: &[u8; 32]) -> rusqlite::Result<Option<KeyRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT k.id, k.user_id, u.email, u.status, u.api_only, k.org_id, o.name, o.domain,
                m.role, m.is_provisioner, k.project_id, k.last_used_at, u.pending_until
           FROM api_keys k
           JOIN users u ON u.id = k.user_id
           JOIN memberships m ON m.user_id = k.user_id AND m.org_id = k.org_id
           JOIN organizations o ON o.id = k.org_id
          WHERE k.hash = ?1 AND k.revoked_at IS NULL",
    )?;
    stmt.query_row([&hash[..]], |r| {
        let role: String = r.get(8)?;
        Ok(KeyRow {
            caller: Caller {
                key_id: r.get(0)?,
                user_id: r.get(1)?,
                email: r.get(2)?,
                placeholder: r.get::<_, String>(3)? == "placeholder",
                api_only: r.get(4)?,
                org_id: r.get(5)?,
                org_name: r.get(6)?,
                org_domain: r.get(7)?,
                // The CHECK constraint admits only the three roles; member is the safe reading.
                role: Role::parse(&role).unwrap_or(Role::Member),
                is_provisioner: r.get(9)?,
                project_id: r.get(10)?,
            },
            last_used_at: r.get(11)?,
            pending_until: r.get(12)?,
        })
    })
    .optional()
}

/// Records use. Called at most once a minute per key, so reads rarely write.
pub fn touch(conn: &Connection, key_id: &str, now: Millis) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1")?
        .execute(params![key_id, now])?;
    Ok(())
}

pub fn revoke(tx: &Transaction, key_id: &str, now: Millis) -> rusqlite::Result<usize> {
    tx.prepare_cached("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")?
        .execute(params![key_id, now])
}
