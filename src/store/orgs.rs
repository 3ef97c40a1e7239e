//! Organizations, users and memberships.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Engine, Row, Tx};
use crate::domain::{Domain, OrgId, Role, UserId, UserN};

pub fn insert_org(tx: &Tx, id: &OrgId, name: &str, domain: Option<&Domain>, now: Millis) -> DbResult<()> {
    tx.execute(
        "INSERT INTO organizations (id, name, domain, created_at) VALUES (?1, ?2, ?3, ?4)",
        &[id, &name, &domain, &now],
    )?;
    Ok(())
}

/// Holds the first start's lock until the transaction ends (PostgreSQL; SQLite's writes are
/// one at a time anyway).
pub fn lock_for_bootstrap(tx: &Tx) -> DbResult<()> {
    if tx.engine() == Engine::Postgres {
        tx.execute("SELECT pg_advisory_xact_lock(?1)", &[&crate::db::postgres::BOOTSTRAP_LOCK])?;
    }
    Ok(())
}

pub fn count_orgs(conn: &Conn) -> DbResult<i64> {
    conn.value("SELECT COUNT(*) FROM organizations", &[])
}

pub fn count_users(conn: &Conn) -> DbResult<i64> {
    conn.value("SELECT COUNT(*) FROM users", &[])
}

pub fn domain_taken(conn: &Conn, domain: &Domain) -> DbResult<bool> {
    conn.value("SELECT EXISTS (SELECT 1 FROM organizations WHERE domain = ?1)", &[domain])
}

/// An active user at `email` (lowercase); `verified` when whoever creates it vouches for the
/// address.
pub fn insert_user(
    tx: &Tx,
    id: &UserId,
    email: &str,
    api_only: bool,
    verified: bool,
    now: Millis,
) -> DbResult<UserN> {
    tx.value(
        "INSERT INTO users (id, email, status, api_only, email_verified, created_at)
         VALUES (?1, ?2, 'active', ?3, ?4, ?5) RETURNING n",
        &[id, &email, &api_only, &verified, &now],
    )
}

/// Marks the user's address as reaching them (see schema.sql, users.email_verified).
pub fn set_verified(tx: &Tx, user: &UserId) -> DbResult<usize> {
    tx.execute("UPDATE users SET email_verified = TRUE WHERE id = ?1 AND status = 'active'", &[user])
}

/// A placeholder: no email, its keys valid until `pending_until` (its provision's expiry).
pub fn insert_placeholder(tx: &Tx, id: &UserId, pending_until: Millis, now: Millis) -> DbResult<UserN> {
    tx.value(
        "INSERT INTO users (id, status, api_only, pending_until, created_at)
         VALUES (?1, 'placeholder', FALSE, ?2, ?3) RETURNING n",
        &[id, &pending_until, &now],
    )
}

/// The user with this email (lowercase), if any.
pub fn user_id_by_email(conn: &Conn, email: &str) -> DbResult<Option<UserId>> {
    conn.query_opt("SELECT id FROM users WHERE email = ?1", &[&email], |r| r.get(0))
}

pub fn insert_membership(
    tx: &Tx,
    user: UserN,
    org: &OrgId,
    role: Role,
    is_provisioner: bool,
    now: Millis,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO memberships (user_n, org_id, role, is_provisioner, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        &[&user, org, &role, &is_provisioner, &now],
    )?;
    Ok(())
}

/// Deletes a placeholder user; the foreign keys take its membership, projects, keys and agents
/// with it. Never touches a real (claimed) user.
pub fn delete_placeholder(tx: &Tx, user: &UserId) -> DbResult<usize> {
    tx.execute("DELETE FROM users WHERE id = ?1 AND status = 'placeholder'", &[user])
}

/// Organizations matching `needle` as an id, a domain (case-insensitive) or a name, in that
/// order of preference: the first kind that matches anything wins.
pub fn find_orgs(conn: &Conn, needle: &str) -> DbResult<Vec<OrgId>> {
    let lower = needle.to_ascii_lowercase();
    for (sql, value) in [
        ("SELECT id FROM organizations WHERE id = ?1", needle),
        ("SELECT id FROM organizations WHERE domain = ?1", lower.as_str()),
        ("SELECT id FROM organizations WHERE name = ?1 ORDER BY created_at", needle),
    ] {
        let ids = conn.query_all(sql, &[&value], |r| r.get(0))?;
        if !ids.is_empty() {
            return Ok(ids);
        }
    }
    Ok(Vec::new())
}

pub fn set_domain(tx: &Tx, org: &OrgId, domain: &Domain) -> DbResult<usize> {
    tx.execute("UPDATE organizations SET domain = ?2 WHERE id = ?1", &[org, domain])
}

/// A member as the provisioner and role rules see them.
pub struct MemberRow {
    pub user_id: UserId,
    pub email: Option<String>,
    pub email_verified: bool,
    pub role: Role,
    pub is_provisioner: bool,
}

/// A member of `org` by user id or email (lowercase).
pub fn find_member(conn: &Conn, org: &OrgId, user_id_or_email: &str) -> DbResult<Option<MemberRow>> {
    conn.query_opt(
        "SELECT u.id, u.email, m.role, m.is_provisioner, u.email_verified
           FROM memberships m JOIN users u ON u.n = m.user_n
          WHERE m.org_id = ?1 AND (u.id = ?2 OR u.email = ?2)",
        &[org, &user_id_or_email],
        |r| {
            Ok(MemberRow {
                user_id: r.get(0)?,
                email: r.get(1)?,
                role: r.get(2)?,
                is_provisioner: r.get(3)?,
                email_verified: r.get(4)?,
            })
        },
    )
}

pub fn set_provisioner(tx: &Tx, org: &OrgId, user: &UserId, on: bool) -> DbResult<usize> {
    tx.execute(
        "UPDATE memberships SET is_provisioner = ?3
          WHERE org_id = ?1 AND user_n = (SELECT n FROM users WHERE id = ?2)",
        &[org, user, &on],
    )
}

/// What sign-in needs to know about an address.
pub struct Login {
    pub user_id: UserId,
    pub password_hash: Option<String>,
    pub api_only: bool,
}

pub fn login_by_email(conn: &Conn, email: &str) -> DbResult<Option<Login>> {
    conn.query_opt(
        "SELECT id, password_hash, api_only FROM users WHERE email = ?1 AND status = 'active'",
        &[&email],
        |r| Ok(Login { user_id: r.get(0)?, password_hash: r.get(1)?, api_only: r.get(2)? }),
    )
}

pub fn set_password(tx: &Tx, user: &UserId, hash: &str) -> DbResult<usize> {
    tx.execute(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1 AND api_only = FALSE AND status = 'active'",
        &[user, &hash],
    )
}

pub fn set_name(tx: &Tx, user: &UserId, name: Option<&str>) -> DbResult<()> {
    tx.execute("UPDATE users SET name = ?2 WHERE id = ?1", &[user, &name])?;
    Ok(())
}

/// A placeholder becomes a person: their email (verified or not), password and name, status
/// active.
pub fn activate_placeholder(tx: &Tx, user: &UserId, person: &UserRow) -> DbResult<usize> {
    tx.execute(
        "UPDATE users SET email = ?2, password_hash = ?3, name = ?4, email_verified = ?5,
                          status = 'active', pending_until = NULL
          WHERE id = ?1 AND status = 'placeholder'",
        &[user, &person.email, &person.password_hash, &person.name, &person.email_verified],
    )
}

pub struct UserRow {
    pub id: UserId,
    pub n: UserN,
    pub email: Option<String>,
    pub email_verified: bool,
    pub password_hash: Option<String>,
    pub name: Option<String>,
    pub placeholder: bool,
    pub api_only: bool,
}

pub fn user(conn: &Conn, id: &UserId) -> DbResult<Option<UserRow>> {
    conn.query_opt(
        "SELECT id, n, email, email_verified, password_hash, name, status, api_only FROM users WHERE id = ?1",
        &[id],
        |r| {
            Ok(UserRow {
                id: r.get(0)?,
                n: r.get(1)?,
                email: r.get(2)?,
                email_verified: r.get(3)?,
                password_hash: r.get(4)?,
                name: r.get(5)?,
                placeholder: r.get::<String>(6)? == "placeholder",
                api_only: r.get(7)?,
            })
        },
    )
}

pub fn delete_user(tx: &Tx, id: &UserId) -> DbResult<()> {
    tx.execute("DELETE FROM users WHERE id = ?1", &[id])?;
    Ok(())
}

/// An organization a person belongs to, for the dashboard's switcher.
pub struct OrgOfUser {
    pub org_id: OrgId,
    pub name: String,
    pub role: Role,
}

pub fn orgs_of_user(conn: &Conn, user: &UserId) -> DbResult<Vec<OrgOfUser>> {
    conn.query_all(
        "SELECT o.id, o.name, m.role FROM memberships m JOIN organizations o ON o.id = m.org_id
          WHERE m.user_n = (SELECT n FROM users WHERE id = ?1) ORDER BY o.name, o.id",
        &[user],
        |r| Ok(OrgOfUser { org_id: r.get(0)?, name: r.get(1)?, role: r.get(2)? }),
    )
}

pub struct MemberListRow {
    pub user_id: UserId,
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Role,
    pub placeholder: bool,
    pub api_only: bool,
    pub is_provisioner: bool,
}

fn member_list_row(r: &Row) -> DbResult<MemberListRow> {
    Ok(MemberListRow {
        user_id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        role: r.get(3)?,
        placeholder: r.get::<String>(4)? == "placeholder",
        api_only: r.get(5)?,
        is_provisioner: r.get(6)?,
    })
}

/// The organization's members; placeholders only while their provision is live (an expired one
/// the sweep has not reached yet is already gone for every reader).
pub fn members(conn: &Conn, org: &OrgId, now: Millis) -> DbResult<Vec<MemberListRow>> {
    conn.query_all(
        "SELECT u.id, u.email, u.name, m.role, u.status, u.api_only, m.is_provisioner
           FROM memberships m JOIN users u ON u.n = m.user_n
          WHERE m.org_id = ?1
            AND (u.status = 'active' OR u.pending_until > ?2)
          ORDER BY u.email IS NULL, u.email, m.created_at",
        &[org, &now],
        member_list_row,
    )
}

pub fn org_name(conn: &Conn, org: &OrgId) -> DbResult<Option<String>> {
    conn.query_opt("SELECT name FROM organizations WHERE id = ?1", &[org], |r| r.get(0))
}

/// A person's standing in one organization.
pub struct Membership {
    pub role: Role,
    pub is_provisioner: bool,
}

pub fn membership(conn: &Conn, user: &UserId, org: &OrgId) -> DbResult<Option<Membership>> {
    conn.query_opt(
        "SELECT role, is_provisioner FROM memberships
          WHERE user_n = (SELECT n FROM users WHERE id = ?1) AND org_id = ?2",
        &[user, org],
        |r| Ok(Membership { role: r.get(0)?, is_provisioner: r.get(1)? }),
    )
}

/// Moves a placeholder's membership of `org` to `to`. Used when `to` is not a member yet.
pub fn move_membership(tx: &Tx, from: &UserId, to: &UserId, org: &OrgId) -> DbResult<()> {
    tx.execute(
        "UPDATE memberships SET user_n = (SELECT n FROM users WHERE id = ?2)
          WHERE user_n = (SELECT n FROM users WHERE id = ?1) AND org_id = ?3",
        &[from, to, org],
    )?;
    Ok(())
}
