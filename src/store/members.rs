//! Memberships as the members API sees them: listing, changing and removing them, and what
//! keeps an organization from losing its last owner.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Engine, Row, Tx};
use crate::domain::{OrgId, Role, UserId, UserN};

/// A member of an organization, placeholders included.
#[derive(Debug, Clone)]
pub struct MemberItem {
    pub user_id: UserId,
    pub user_n: UserN,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub role: Role,
    pub is_provisioner: bool,
    pub placeholder: bool,
    pub api_only: bool,
    /// When the membership began (the list's sort key, with `user_n`).
    pub joined_at: Millis,
}

macro_rules! member_sql {
    ($where:literal) => {
        concat!(
            "SELECT u.id, u.n, u.email, u.email_verified, u.name, m.role, m.is_provisioner, u.status,
                    u.api_only, m.created_at
               FROM memberships m JOIN users u ON u.n = m.user_n
              WHERE ",
            $where
        )
    };
}

fn member(r: &Row) -> DbResult<MemberItem> {
    Ok(MemberItem {
        user_id: r.get(0)?,
        user_n: r.get(1)?,
        email: r.get(2)?,
        email_verified: r.get(3)?,
        name: r.get(4)?,
        role: r.get(5)?,
        is_provisioner: r.get(6)?,
        placeholder: r.get::<String>(7)? == "placeholder",
        api_only: r.get(8)?,
        joined_at: r.get(9)?,
    })
}

/// The organization's members by (`created_at`, `user_n`) of their membership, after `after`
/// when given; `limit` rows at most. A placeholder whose provision expired is left out even
/// before the sweep deletes it, as everywhere else.
pub fn list(
    conn: &Conn,
    org: &OrgId,
    now: Millis,
    after: Option<(Millis, UserN)>,
    limit: u32,
) -> DbResult<Vec<MemberItem>> {
    let (at, n) = (after.map(|a| a.0), after.map(|a| a.1 .0));
    conn.query_all(
        member_sql!(
            "m.org_id = ?1 AND (u.status = 'active' OR u.pending_until > ?2)
               AND (CAST(?3 AS BIGINT) IS NULL OR (m.created_at, m.user_n) > (CAST(?3 AS BIGINT), CAST(?4 AS BIGINT)))
             ORDER BY m.created_at, m.user_n LIMIT ?5"
        ),
        &[org, &now, &at, &n, &i64::from(limit)],
        member,
    )
}

/// A search as the dashboard makes it: `%text%`, lowercase, with LIKE's own characters escaped.
pub fn like_pattern(q: &str) -> String {
    let escaped = q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// The organization's active members (claimed accounts), in the order they joined, whose address
/// or name matches `pattern` (see `like_pattern`) when given: `limit` from `offset`, and how many
/// there are in all.
pub fn search_active(
    conn: &Conn,
    org: &OrgId,
    pattern: Option<&str>,
    offset: u32,
    limit: u32,
) -> DbResult<(Vec<MemberItem>, i64)> {
    const WHERE: &str = "m.org_id = ?1 AND u.status = 'active'
         AND (CAST(?2 AS TEXT) IS NULL OR lower(COALESCE(u.email, '')) LIKE CAST(?2 AS TEXT) ESCAPE '\\'
              OR lower(COALESCE(u.name, '')) LIKE CAST(?2 AS TEXT) ESCAPE '\\')";
    let rows = conn.query_all(
        &format!(
            "{} ORDER BY m.created_at, m.user_n LIMIT ?3 OFFSET ?4",
            member_sql!("").to_string() + WHERE
        ),
        &[org, &pattern, &i64::from(limit), &i64::from(offset)],
        member,
    )?;
    let total = conn.value(
        &format!("SELECT COUNT(*) FROM memberships m JOIN users u ON u.n = m.user_n WHERE {WHERE}"),
        &[org, &pattern],
    )?;
    Ok((rows, total))
}

/// One member of the organization by user id (a placeholder past its expiry is no member).
pub fn get(conn: &Conn, org: &OrgId, user: &UserId, now: Millis) -> DbResult<Option<MemberItem>> {
    conn.query_opt(
        member_sql!("m.org_id = ?1 AND u.id = ?2 AND (u.status = 'active' OR u.pending_until > ?3)"),
        &[org, user, &now],
        member,
    )
}

/// Holds the organization's row until the transaction ends, so that changes to its owners
/// happen one at a time (PostgreSQL; SQLite's single writer does that already). Concurrent
/// demotions then each count the owners the other left.
pub fn lock_org(tx: &Tx, org: &OrgId) -> DbResult<()> {
    if tx.engine() == Engine::Postgres {
        tx.query_opt("SELECT id FROM organizations WHERE id = ?1 FOR UPDATE", &[org], |_| Ok(()))?;
    }
    Ok(())
}

pub fn count_owners(conn: &Conn, org: &OrgId) -> DbResult<i64> {
    conn.value("SELECT COUNT(*) FROM memberships WHERE org_id = ?1 AND role = 'owner'", &[org])
}

pub fn set_role(tx: &Tx, org: &OrgId, user: UserN, role: Role) -> DbResult<usize> {
    tx.execute("UPDATE memberships SET role = ?3 WHERE org_id = ?1 AND user_n = ?2", &[org, &user, &role])
}

pub fn set_provisioner(tx: &Tx, org: &OrgId, user: UserN, on: bool) -> DbResult<usize> {
    tx.execute(
        "UPDATE memberships SET is_provisioner = ?3 WHERE org_id = ?1 AND user_n = ?2",
        &[org, &user, &on],
    )
}

/// Ends the membership; the person's projects in the organization stay (their keys are revoked
/// by the caller, and a key without a membership is refused anyway).
pub fn delete(tx: &Tx, org: &OrgId, user: UserN) -> DbResult<usize> {
    tx.execute("DELETE FROM memberships WHERE org_id = ?1 AND user_n = ?2", &[org, &user])
}

/// A removed member's credit limit in the organization, which would otherwise outlive them.
pub fn delete_credit_limit(tx: &Tx, org: &OrgId, user: &UserId) -> DbResult<usize> {
    tx.execute("DELETE FROM credit_limits WHERE org_id = ?1 AND user_id = ?2", &[org, user])
}
