//! Organizations, users and memberships.

use crate::clock::Millis;
use crate::domain::Role;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

pub fn insert_org(
    tx: &Transaction,
    id: &str,
    name: &str,
    domain: Option<&str>,
    now: Millis,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO organizations (id, name, domain, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, name, domain, now],
    )?;
    Ok(())
}

pub fn count_orgs(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM organizations", [], |r| r.get(0))
}

pub fn domain_taken(conn: &Connection, domain: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM organizations WHERE domain = ?1)",
        [domain],
        |r| r.get(0),
    )
}

/// `status` is `placeholder` (no email) or `active`.
pub fn insert_user(
    tx: &Transaction,
    id: &str,
    email: Option<&str>,
    status: &str,
    api_only: bool,
    now: Millis,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO users (id, email, status, api_only, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, email, status, api_only, now],
    )?;
    Ok(())
}

/// The id of the user with this email (case-insensitive), if any.
pub fn user_id_by_email(conn: &Connection, email: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT id FROM users WHERE email = ?1", [email], |r| {
        r.get(0)
    })
    .optional()
}

pub fn insert_membership(
    tx: &Transaction,
    user_id: &str,
    org_id: &str,
    role: Role,
    is_provisioner: bool,
    now: Millis,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO memberships (user_id, org_id, role, is_provisioner, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![user_id, org_id, role.as_str(), is_provisioner, now],
    )?;
    Ok(())
}

/// Deletes a placeholder user; the foreign keys take its membership, projects, keys and agents
/// with it. Never touches a real (claimed) user.
pub fn delete_placeholder(tx: &Transaction, user_id: &str) -> rusqlite::Result<usize> {
    tx.execute(
        "DELETE FROM users WHERE id = ?1 AND status = 'placeholder'",
        [user_id],
    )
}
