//! API keys. `lookup` is the one query every authenticated request goes through, so a cache
//! can later sit in front of it in one place (see `auth::authenticate`).

use crate::auth::Caller;
use crate::clock::Millis;
use crate::domain::Role;
use crate::keys::Issued;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

pub fn insert_key(
    tx: &Transaction,
    key: &Issued,
    user_id: &str,
    org_id: &str,
    project_n: i64,
    ceiling: Role,
    now: Millis,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO api_keys (hash, hint, user_n, org_id, project_n, created_at, role)
         VALUES (?1, ?2, (SELECT n FROM users WHERE id = ?3), ?4, ?5, ?6, ?7)",
    )?
    .execute(params![&key.hash[..], key.hint, user_id, org_id, project_n, now, ceiling.as_str()])?;
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
        "SELECT k.n, u.id, u.email, u.status, u.api_only, k.org_id, o.name, o.domain,
                m.role, m.is_provisioner, p.id, k.project_n, k.last_used_at, u.pending_until,
                u.email_verified, k.role
           FROM api_keys k
           JOIN users u ON u.n = k.user_n
           JOIN memberships m ON m.user_n = k.user_n AND m.org_id = k.org_id
           JOIN organizations o ON o.id = k.org_id
           JOIN projects p ON p.n = k.project_n
          WHERE k.hash = ?1 AND k.revoked_at IS NULL",
    )?;
    stmt.query_row([&hash[..]], |r| {
        let role: String = r.get(8)?;
        let ceiling: String = r.get(15)?;
        // The CHECK constraints admit only the three roles; member is the safe reading.
        let ceiling = Role::parse(&ceiling).unwrap_or(Role::Member);
        let role = Role::parse(&role).unwrap_or(Role::Member).min(ceiling);
        Ok(KeyRow {
            caller: Caller {
                key_id: r.get(0)?,
                user_id: r.get(1)?,
                email: r.get(2)?,
                email_verified: r.get(14)?,
                placeholder: r.get::<_, String>(3)? == "placeholder",
                api_only: r.get(4)?,
                org_id: r.get(5)?,
                org_name: r.get(6)?,
                org_domain: r.get(7)?,
                role,
                key_ceiling: ceiling,
                is_provisioner: r.get(9)?,
                project_id: r.get(10)?,
                project_n: r.get(11)?,
            },
            last_used_at: r.get(12)?,
            pending_until: r.get(13)?,
        })
    })
    .optional()
}

/// Records use. Called at most once a minute per key, so reads rarely write.
pub fn touch(conn: &Connection, key_n: i64, now: Millis) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE api_keys SET last_used_at = ?2 WHERE n = ?1")?
        .execute(params![key_n, now])?;
    Ok(())
}

pub fn revoke(tx: &Transaction, key_n: i64, now: Millis) -> rusqlite::Result<usize> {
    tx.prepare_cached("UPDATE api_keys SET revoked_at = ?2 WHERE n = ?1 AND revoked_at IS NULL")?
        .execute(params![key_n, now])
}
