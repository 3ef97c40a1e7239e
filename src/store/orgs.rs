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
    tx.prepare_cached("INSERT INTO organizations (id, name, domain, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![id, name, domain, now])?;
    Ok(())
}

pub fn count_orgs(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM organizations", [], |r| r.get(0))
}

pub fn domain_taken(conn: &Connection, domain: &str) -> rusqlite::Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM organizations WHERE domain = ?1)", [domain], |r| r.get(0))
}

/// An active user at `email`; `verified` when whoever creates it vouches for the address.
pub fn insert_user(
    tx: &Transaction,
    id: &str,
    email: &str,
    api_only: bool,
    verified: bool,
    now: Millis,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO users (id, email, status, api_only, email_verified, created_at)
         VALUES (?1, ?2, 'active', ?3, ?4, ?5)",
    )?
    .execute(params![id, email, api_only, verified, now])?;
    Ok(())
}

/// Marks the user's address as reaching them (see schema.sql, users.email_verified).
pub fn set_verified(tx: &Transaction, user_id: &str) -> rusqlite::Result<usize> {
    tx.prepare_cached("UPDATE users SET email_verified = 1 WHERE id = ?1 AND status = 'active'")?
        .execute([user_id])
}

/// A placeholder: no email, its keys valid until `pending_until` (its provision's expiry).
pub fn insert_placeholder(
    tx: &Transaction,
    id: &str,
    pending_until: Millis,
    now: Millis,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO users (id, status, api_only, pending_until, created_at) VALUES (?1, 'placeholder', 0, ?2, ?3)",
    )?
    .execute(params![id, pending_until, now])?;
    Ok(())
}

/// The id of the user with this email (case-insensitive), if any.
pub fn user_id_by_email(conn: &Connection, email: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT id FROM users WHERE email = ?1", [email], |r| r.get(0)).optional()
}

pub fn insert_membership(
    tx: &Transaction,
    user_id: &str,
    org_id: &str,
    role: Role,
    is_provisioner: bool,
    now: Millis,
) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO memberships (user_n, org_id, role, is_provisioner, created_at) VALUES ((SELECT n FROM users WHERE id = ?1), ?2, ?3, ?4, ?5)")?.execute(
        params![user_id, org_id, role.as_str(), is_provisioner, now],
    )?;
    Ok(())
}

/// Deletes a placeholder user; the foreign keys take its membership, projects, keys and agents
/// with it. Never touches a real (claimed) user.
pub fn delete_placeholder(tx: &Transaction, user_id: &str) -> rusqlite::Result<usize> {
    tx.prepare_cached("DELETE FROM users WHERE id = ?1 AND status = 'placeholder'")?.execute([user_id])
}

/// Organization ids matching `needle` as an id, a domain (case-insensitive) or a name, in that
/// order of preference: the first kind that matches anything wins.
pub fn find_orgs(conn: &Connection, needle: &str) -> rusqlite::Result<Vec<String>> {
    for sql in [
        "SELECT id FROM organizations WHERE id = ?1",
        "SELECT id FROM organizations WHERE domain = lower(?1)",
        "SELECT id FROM organizations WHERE name = ?1 ORDER BY created_at",
    ] {
        let mut stmt = conn.prepare(sql)?;
        let ids = stmt.query_map([needle], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
        if !ids.is_empty() {
            return Ok(ids);
        }
    }
    Ok(Vec::new())
}

pub fn set_domain(tx: &Transaction, org_id: &str, domain: &str) -> rusqlite::Result<usize> {
    tx.prepare_cached("UPDATE organizations SET domain = ?2 WHERE id = ?1")?.execute(params![org_id, domain])
}

pub struct MemberRow {
    pub user_id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub role: Role,
    pub is_provisioner: bool,
}

/// A member of `org_id` by user id or email (case-insensitive).
pub fn find_member(
    conn: &Connection,
    org_id: &str,
    user_id_or_email: &str,
) -> rusqlite::Result<Option<MemberRow>> {
    conn.query_row(
        "SELECT u.id, u.email, m.role, m.is_provisioner, u.email_verified
           FROM memberships m JOIN users u ON u.n = m.user_n
          WHERE m.org_id = ?1 AND (u.id = ?2 OR u.email = ?2)",
        params![org_id, user_id_or_email],
        |r| {
            let role: String = r.get(2)?;
            Ok(MemberRow {
                user_id: r.get(0)?,
                email: r.get(1)?,
                email_verified: r.get(4)?,
                role: Role::parse(&role).unwrap_or(Role::Member),
                is_provisioner: r.get(3)?,
            })
        },
    )
    .optional()
}

pub fn set_provisioner(tx: &Transaction, org_id: &str, user_id: &str, on: bool) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "UPDATE memberships SET is_provisioner = ?3
          WHERE org_id = ?1 AND user_n = (SELECT n FROM users WHERE id = ?2)",
    )?
    .execute(params![org_id, user_id, on])
}

/// What sign-in needs to know about an address.
pub struct Login {
    pub user_id: String,
    pub password_hash: Option<String>,
    pub api_only: bool,
}

pub fn login_by_email(conn: &Connection, email: &str) -> rusqlite::Result<Option<Login>> {
    conn.query_row(
        "SELECT id, password_hash, api_only FROM users WHERE email = ?1 AND status = 'active'",
        [email],
        |r| Ok(Login { user_id: r.get(0)?, password_hash: r.get(1)?, api_only: r.get(2)? }),
    )
    .optional()
}

pub fn set_password(tx: &Transaction, user_id: &str, hash: &str) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1 AND api_only = 0 AND status = 'active'",
    )?
    .execute(params![user_id, hash])
}

pub fn set_name(tx: &Transaction, user_id: &str, name: Option<&str>) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE users SET name = ?2 WHERE id = ?1")?.execute(params![user_id, name])?;
    Ok(())
}

/// A placeholder becomes a person: their email (verified or not), password and name, status
/// active.
pub fn activate_placeholder(tx: &Transaction, user_id: &str, person: &UserRow) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "UPDATE users SET email = ?2, password_hash = ?3, name = ?4, email_verified = ?5,
                          status = 'active', pending_until = NULL
          WHERE id = ?1 AND status = 'placeholder'",
    )?
    .execute(params![user_id, person.email, person.password_hash, person.name, person.email_verified])
}

pub struct UserRow {
    pub id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub password_hash: Option<String>,
    pub name: Option<String>,
    pub placeholder: bool,
    pub api_only: bool,
}

pub fn user(conn: &Connection, id: &str) -> rusqlite::Result<Option<UserRow>> {
    conn.query_row(
        "SELECT id, email, password_hash, name, status, api_only, email_verified FROM users WHERE id = ?1",
        [id],
        |r| {
            Ok(UserRow {
                id: r.get(0)?,
                email: r.get(1)?,
                email_verified: r.get(6)?,
                password_hash: r.get(2)?,
                name: r.get(3)?,
                placeholder: r.get::<_, String>(4)? == "placeholder",
                api_only: r.get(5)?,
            })
        },
    )
    .optional()
}

pub fn delete_user(tx: &Transaction, id: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM users WHERE id = ?1")?.execute([id])?;
    Ok(())
}

/// An organization a person belongs to, for the dashboard's switcher.
pub struct OrgOfUser {
    pub org_id: String,
    pub name: String,
    pub role: Role,
}

pub fn orgs_of_user(conn: &Connection, user_id: &str) -> rusqlite::Result<Vec<OrgOfUser>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.name, m.role FROM memberships m JOIN organizations o ON o.id = m.org_id
          WHERE m.user_n = (SELECT n FROM users WHERE id = ?1) ORDER BY o.name, o.id",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        let role: String = r.get(2)?;
        Ok(OrgOfUser { org_id: r.get(0)?, name: r.get(1)?, role: Role::parse(&role).unwrap_or(Role::Member) })
    })?;
    rows.collect()
}

pub struct MemberListRow {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Role,
    pub placeholder: bool,
    pub api_only: bool,
    pub is_provisioner: bool,
}

/// The organization's members; placeholders only while their provision is live (an expired one
/// the sweep has not reached yet is already gone for every reader).
pub fn members(conn: &Connection, org_id: &str, now: Millis) -> rusqlite::Result<Vec<MemberListRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, u.email, u.name, m.role, u.status, u.api_only, m.is_provisioner
           FROM memberships m JOIN users u ON u.n = m.user_n
          WHERE m.org_id = ?1
            AND (u.status = 'active' OR u.pending_until > ?2)
          ORDER BY u.email IS NULL, u.email, m.created_at",
    )?;
    let rows = stmt.query_map(params![org_id, now], |r| {
        let role: String = r.get(3)?;
        Ok(MemberListRow {
            user_id: r.get(0)?,
            email: r.get(1)?,
            name: r.get(2)?,
            role: Role::parse(&role).unwrap_or(Role::Member),
            placeholder: r.get::<_, String>(4)? == "placeholder",
            api_only: r.get(5)?,
            is_provisioner: r.get(6)?,
        })
    })?;
    rows.collect()
}

pub fn org_name(conn: &Connection, org_id: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT name FROM organizations WHERE id = ?1", [org_id], |r| r.get(0)).optional()
}

pub fn membership_role(conn: &Connection, user_id: &str, org_id: &str) -> rusqlite::Result<Option<Role>> {
    let role: Option<String> = conn
        .query_row(
            "SELECT role FROM memberships WHERE user_n = (SELECT n FROM users WHERE id = ?1) AND org_id = ?2",
            [user_id, org_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(role.and_then(|r| Role::parse(&r)))
}

/// Moves a placeholder's membership of `org_id` to `to`. Used when `to` is not a member yet.
pub fn move_membership(tx: &Transaction, from: &str, to: &str, org_id: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE memberships SET user_n = (SELECT n FROM users WHERE id = ?2)
          WHERE user_n = (SELECT n FROM users WHERE id = ?1) AND org_id = ?3",
    )?
    .execute(params![from, to, org_id])?;
    Ok(())
}
