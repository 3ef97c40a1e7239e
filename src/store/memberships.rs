//! Memberships: who belongs to which organization, with what role and whether they may
//! provision; the lists the members API and the dashboard show, and what keeps an organization
//! from losing its last owner.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Param, Row, Tx};
use crate::domain::{Keyset, Member};
use crate::domain::{OrgId, Role, UserId, UserN};

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

/// A person's standing in one organization.
pub struct Membership {
    pub role: Role,
    pub is_provisioner: bool,
    /// Deactivated by the organization's identity provider (SCIM): still a member, but nothing
    /// they hold acts there.
    pub suspended: bool,
}

pub fn membership(conn: &Conn, user: &UserId, org: &OrgId) -> DbResult<Option<Membership>> {
    conn.query_opt(
        "SELECT role, is_provisioner, suspended_at IS NOT NULL FROM memberships
          WHERE user_n = (SELECT n FROM users WHERE id = ?1) AND org_id = ?2",
        &[user, org],
        |r| Ok(Membership { role: r.get(0)?, is_provisioner: r.get(1)?, suspended: r.get(2)? }),
    )
}

/// A member as the provisioner and role rules see them.
pub struct MemberRow {
    pub user_id: UserId,
    pub user_n: UserN,
    pub email: Option<String>,
    pub email_verified: bool,
    pub role: Role,
    pub is_provisioner: bool,
}

/// A member of `org` by user id or email (lowercase).
pub fn find_member(conn: &Conn, org: &OrgId, user_id_or_email: &str) -> DbResult<Option<MemberRow>> {
    conn.query_opt(
        "SELECT u.id, u.email, m.role, m.is_provisioner, u.email_verified, u.n
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
                user_n: r.get(5)?,
            })
        },
    )
}

/// An organization a person belongs to, for the dashboard's switcher.
pub struct OrgOfUser {
    pub org_id: OrgId,
    pub name: String,
    pub role: Role,
}

/// The organizations a person acts in (a suspended membership is left out: the dashboard does
/// not show it, and sign-in does not land there).
pub fn orgs_of_user(conn: &Conn, user: &UserId) -> DbResult<Vec<OrgOfUser>> {
    conn.query_all(
        "SELECT o.id, o.name, m.role FROM memberships m JOIN organizations o ON o.id = m.org_id
          WHERE m.user_n = (SELECT n FROM users WHERE id = ?1) AND m.suspended_at IS NULL
          ORDER BY o.name, o.id",
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

/// Moves a placeholder's membership of `org` to `to`. Used when `to` is not a member yet.
pub fn move_membership(tx: &Tx, from: &UserId, to: &UserId, org: &OrgId) -> DbResult<()> {
    tx.keys_changed();
    tx.execute(
        "UPDATE memberships SET user_n = (SELECT n FROM users WHERE id = ?2)
          WHERE user_n = (SELECT n FROM users WHERE id = ?1) AND org_id = ?3",
        &[from, to, org],
    )?;
    Ok(())
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

fn member(r: &Row) -> DbResult<Member> {
    Ok(Member {
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
) -> DbResult<Vec<Member>> {
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

const ACTIVE_WHERE: &str = "m.org_id = ?1 AND u.status = 'active'
     AND (CAST(?2 AS TEXT) IS NULL OR lower(COALESCE(u.email, '')) LIKE CAST(?2 AS TEXT) ESCAPE '\\'
          OR lower(COALESCE(u.name, '')) LIKE CAST(?2 AS TEXT) ESCAPE '\\')";

/// A page of the organization's active members (claimed accounts) in the order they joined,
/// from `at` (keyset on the membership's (`created_at`, `user_n`), either way), whose address
/// or name matches `pattern` (see `like_pattern`) when given.
pub fn active_page(
    conn: &Conn,
    org: &OrgId,
    pattern: Option<&str>,
    at: Keyset,
    limit: u32,
) -> DbResult<Vec<Member>> {
    let limit = i64::from(limit);
    let (key_sql, order, key) = match at {
        Keyset::First => ("", "ASC", None),
        Keyset::After(t, n) => {
            (" AND (m.created_at, m.user_n) > (CAST(?4 AS BIGINT), CAST(?5 AS BIGINT))", "ASC", Some((t, n)))
        }
        Keyset::Before(t, n) => {
            (" AND (m.created_at, m.user_n) < (CAST(?4 AS BIGINT), CAST(?5 AS BIGINT))", "DESC", Some((t, n)))
        }
    };
    let key = key.unwrap_or((0, 0));
    let mut params: Vec<&dyn Param> = vec![org, &pattern, &limit];
    if !key_sql.is_empty() {
        params.push(&key.0);
        params.push(&key.1);
    }
    let sql = format!(
        "{}{ACTIVE_WHERE}{key_sql} ORDER BY m.created_at {order}, m.user_n {order} LIMIT ?3",
        member_sql!("")
    );
    let mut rows = conn.query_all(&sql, &params, member)?;
    if order == "DESC" {
        rows.reverse();
    }
    Ok(rows)
}

/// How many active members match `pattern` (all of them without one).
pub fn active_count(conn: &Conn, org: &OrgId, pattern: Option<&str>) -> DbResult<i64> {
    conn.value(
        &format!("SELECT COUNT(*) FROM memberships m JOIN users u ON u.n = m.user_n WHERE {ACTIVE_WHERE}"),
        &[org, &pattern],
    )
}

/// One member of the organization by user id (a placeholder past its expiry is no member).
pub fn get(conn: &Conn, org: &OrgId, user: &UserId, now: Millis) -> DbResult<Option<Member>> {
    conn.query_opt(
        member_sql!("m.org_id = ?1 AND u.id = ?2 AND (u.status = 'active' OR u.pending_until > ?3)"),
        &[org, user, &now],
        member,
    )
}

pub fn count_owners(conn: &Conn, org: &OrgId) -> DbResult<i64> {
    conn.value("SELECT COUNT(*) FROM memberships WHERE org_id = ?1 AND role = 'owner'", &[org])
}

pub fn set_role(tx: &Tx, org: &OrgId, user: UserN, role: Role) -> DbResult<usize> {
    tx.keys_changed();
    tx.execute("UPDATE memberships SET role = ?3 WHERE org_id = ?1 AND user_n = ?2", &[org, &user, &role])
}

pub fn set_provisioner(tx: &Tx, org: &OrgId, user: UserN, on: bool) -> DbResult<usize> {
    tx.keys_changed();
    tx.execute(
        "UPDATE memberships SET is_provisioner = ?3 WHERE org_id = ?1 AND user_n = ?2",
        &[org, &user, &on],
    )
}

/// Ends the membership; the person's projects in the organization stay (their keys are revoked
/// by the caller, and a key without a membership is refused anyway).
pub fn delete(tx: &Tx, org: &OrgId, user: UserN) -> DbResult<usize> {
    tx.keys_changed();
    tx.execute("DELETE FROM memberships WHERE org_id = ?1 AND user_n = ?2", &[org, &user])
}
