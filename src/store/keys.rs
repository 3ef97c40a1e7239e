//! API keys. `lookup` is the one query every authenticated request goes through when the key
//! cache does not know the key.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Tx};
use crate::domain::{Domain, KeyN, OrgId, ProjectId, ProjectN, Role, UserId, UserN};

/// A key to store: only its hash and hint, never the key.
pub struct NewKey<'a> {
    pub hash: &'a [u8; 32],
    pub hint: &'a str,
    pub user: UserN,
    pub org: &'a OrgId,
    pub project: ProjectN,
    /// The most the key may act as (see schema.sql, api_keys.role).
    pub ceiling: Role,
}

pub fn insert_key(tx: &Tx, key: &NewKey, now: Millis) -> DbResult<KeyN> {
    tx.value(
        "INSERT INTO api_keys (hash, hint, user_n, org_id, project_n, created_at, role)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING n",
        &[&&key.hash[..], &key.hint, &key.user, key.org, &key.project, &now, &key.ceiling],
    )
}

/// What a live key row says about its holder, before expiry is applied.
#[derive(Debug)]
pub struct KeyRow {
    pub key: KeyN,
    pub user_id: UserId,
    pub user_n: UserN,
    pub email: Option<String>,
    pub email_verified: bool,
    pub placeholder: bool,
    pub api_only: bool,
    pub org_id: OrgId,
    pub org_name: String,
    pub org_domain: Option<Domain>,
    /// The member's role in the organization.
    pub member_role: Role,
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
                m.role, k.role, m.is_provisioner, p.id, k.project_n, k.last_used_at, u.pending_until
           FROM api_keys k
           JOIN users u ON u.n = k.user_n
           JOIN memberships m ON m.user_n = k.user_n AND m.org_id = k.org_id
           JOIN organizations o ON o.id = k.org_id
           JOIN projects p ON p.n = k.project_n
          WHERE k.hash = ?1 AND k.revoked_at IS NULL",
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
                is_provisioner: r.get(12)?,
                project_id: r.get(13)?,
                project_n: r.get(14)?,
                last_used_at: r.get(15)?,
                pending_until: r.get(16)?,
            })
        },
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

/// Revokes a live key; 0 when it was revoked already.
pub fn revoke(tx: &Tx, key: KeyN, now: Millis) -> DbResult<usize> {
    tx.execute("UPDATE api_keys SET revoked_at = ?2 WHERE n = ?1 AND revoked_at IS NULL", &[&key, &now])
}
