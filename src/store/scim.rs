//! SCIM (issue 24): the members an identity provider sees (memberships, with its own record of
//! each person in `scim_users`), suspension, its groups and who is in them, which group makes
//! admins, and the audit rows it wrote.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Row, Tx};
use crate::domain::{AuditEntry, Domain, OrgId, Role, ScimGroup, ScimIdentity, ScimMember, UserId, UserN};

macro_rules! member_sql {
    ($where:literal) => {
        concat!(
            "SELECT u.id, u.n, m.org_id, u.email, u.email_verified, u.name, m.role, m.suspended_at IS NOT NULL,
                    m.created_at, s.user_name, s.external_id, s.attributes, s.account_made_at, s.created_at,
                    s.updated_at
               FROM memberships m JOIN users u ON u.n = m.user_n
               LEFT JOIN scim_users s ON s.user_n = m.user_n AND s.org_id = m.org_id
              WHERE u.status = 'active' AND ",
            $where
        )
    };
}

fn member(r: &Row) -> DbResult<ScimMember> {
    let user_name: Option<String> = r.get(9)?;
    let identity = match user_name {
        None => None,
        Some(user_name) => Some(ScimIdentity {
            user_name,
            external_id: r.get(10)?,
            attributes: r.get(11)?,
            account_made_at: r.get(12)?,
            created_at: r.get(13)?,
            updated_at: r.get(14)?,
        }),
    };
    Ok(ScimMember {
        user_id: r.get(0)?,
        user_n: r.get(1)?,
        org_id: r.get(2)?,
        email: r.get(3)?,
        email_verified: r.get(4)?,
        name: r.get(5)?,
        role: r.get(6)?,
        suspended: r.get(7)?,
        joined_at: r.get(8)?,
        identity,
    })
}

/// The organization's members (placeholders of pending provisions are nobody yet), in the order
/// they joined.
pub fn members(conn: &Conn, org: &OrgId) -> DbResult<Vec<ScimMember>> {
    conn.query_all(member_sql!("m.org_id = ?1 ORDER BY m.created_at, m.user_n"), &[org], member)
}

pub fn member_by_id(conn: &Conn, org: &OrgId, user: &UserId) -> DbResult<Option<ScimMember>> {
    conn.query_opt(member_sql!("m.org_id = ?1 AND u.id = ?2"), &[org, user], member)
}

/// The members whose userName is `key` (lowercase): the provider's record's, or, for a member
/// it never touched, their address.
pub fn members_named(conn: &Conn, org: &OrgId, key: &str) -> DbResult<Vec<ScimMember>> {
    conn.query_all(
        member_sql!(
            "m.org_id = ?1 AND (s.user_name_key = ?2 OR (s.user_n IS NULL AND u.email = ?2))
             ORDER BY m.created_at, m.user_n"
        ),
        &[org, &key],
        member,
    )
}

/// Whether a member other than `except` already goes by the userName `key` (lowercase).
pub fn user_name_taken(conn: &Conn, org: &OrgId, key: &str, except: Option<UserN>) -> DbResult<bool> {
    conn.value(
        "SELECT EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.n = m.user_n
                          LEFT JOIN scim_users s ON s.user_n = m.user_n AND s.org_id = m.org_id
                         WHERE m.org_id = ?1 AND u.status = 'active'
                           AND (s.user_name_key = ?2 OR (s.user_n IS NULL AND u.email = ?2))
                           AND (CAST(?3 AS BIGINT) IS NULL OR m.user_n <> CAST(?3 AS BIGINT)))",
        &[org, &key, &except],
    )
}

/// The provider's record of a person, as it now stands.
pub struct IdentityRow<'a> {
    pub user_name: &'a str,
    pub external_id: Option<&'a str>,
    pub attributes: &'a str,
    pub account_made_at: Option<Millis>,
}

/// Writes the provider's record of a member (made on first write, replaced after).
pub fn put_identity(tx: &Tx, user: UserN, org: &OrgId, row: &IdentityRow, now: Millis) -> DbResult<()> {
    tx.execute(
        "INSERT INTO scim_users (user_n, org_id, user_name, user_name_key, external_id, attributes,
                                 account_made_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
         ON CONFLICT (user_n, org_id) DO UPDATE SET user_name = excluded.user_name,
             user_name_key = excluded.user_name_key, external_id = excluded.external_id,
             attributes = excluded.attributes, updated_at = excluded.updated_at",
        &[
            &user,
            org,
            &row.user_name,
            &row.user_name.to_lowercase(),
            &row.external_id,
            &row.attributes,
            &row.account_made_at,
            &now,
        ],
    )?;
    Ok(())
}

/// Suspends (`Some(at)`) or restores (`None`) a membership. Every key of the member stops (or,
/// for keys made after, may start) acting in the organization from the next request.
pub fn set_suspended(tx: &Tx, org: &OrgId, user: UserN, at: Option<Millis>) -> DbResult<usize> {
    tx.keys_changed();
    tx.execute(
        "UPDATE memberships SET suspended_at = ?3 WHERE org_id = ?1 AND user_n = ?2",
        &[org, &user, &at],
    )
}

/// A person the provider brings in: an active account without a password (they sign in through
/// a password-reset mail), at `email` when it has one.
pub fn insert_account(
    tx: &Tx,
    id: &UserId,
    email: Option<&str>,
    verified: bool,
    now: Millis,
) -> DbResult<UserN> {
    tx.value(
        "INSERT INTO users (id, email, status, api_only, email_verified, created_at)
         VALUES (?1, ?2, 'active', FALSE, ?3, ?4) RETURNING n",
        &[id, &email, &verified, &now],
    )
}

/// A new address for an account the provider made (lowercase; verified only when it is in the
/// organization's own domain).
pub fn set_address(tx: &Tx, user: UserN, email: &str, verified: bool) -> DbResult<usize> {
    // Keys carry their holder's address and whether it is verified.
    tx.keys_changed();
    tx.execute(
        "UPDATE users SET email = ?2, email_verified = ?3 WHERE n = ?1 AND status = 'active'",
        &[&user, &email, &verified],
    )
}

/// The account at `email` (lowercase), if there is one: its id, row and whether the address is
/// verified.
pub fn account_at(conn: &Conn, email: &str) -> DbResult<Option<(UserId, UserN, bool)>> {
    conn.query_opt(
        "SELECT id, n, email_verified FROM users WHERE email = ?1 AND status = 'active'",
        &[&email],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// The organization's own email domain, set by its operator.
pub fn org_domain(conn: &Conn, org: &OrgId) -> DbResult<Option<Domain>> {
    Ok(conn
        .query_opt("SELECT domain FROM organizations WHERE id = ?1", &[org], |r| r.get::<Option<Domain>>(0))?
        .flatten())
}

/// How many organizations besides `org` the person belongs to.
pub fn other_orgs(conn: &Conn, user: UserN, org: &OrgId) -> DbResult<i64> {
    conn.value("SELECT COUNT(*) FROM memberships WHERE user_n = ?1 AND org_id <> ?2", &[&user, org])
}

fn group_row(r: &Row) -> DbResult<ScimGroup> {
    Ok(ScimGroup {
        n: r.get(0)?,
        id: r.get(1)?,
        display_name: r.get(2)?,
        external_id: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
        members: Vec::new(),
    })
}

/// Fills in each group's members.
fn with_members(conn: &Conn, org: &OrgId, mut groups: Vec<ScimGroup>) -> DbResult<Vec<ScimGroup>> {
    if groups.is_empty() {
        return Ok(groups);
    }
    let rows: Vec<(i64, UserId)> = conn.query_all(
        "SELECT g.group_n, u.id FROM scim_group_members g JOIN users u ON u.n = g.user_n
          WHERE g.org_id = ?1 ORDER BY g.group_n, u.n",
        &[org],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (n, user) in rows {
        if let Some(g) = groups.iter_mut().find(|g| g.n == n) {
            g.members.push(user);
        }
    }
    Ok(groups)
}

const GROUP_SQL: &str =
    "SELECT n, id, display_name, external_id, created_at, updated_at FROM scim_groups WHERE org_id = ?1";

/// The organization's groups, oldest first, with their members.
pub fn groups(conn: &Conn, org: &OrgId) -> DbResult<Vec<ScimGroup>> {
    let groups = conn.query_all(&format!("{GROUP_SQL} ORDER BY n"), &[org], group_row)?;
    with_members(conn, org, groups)
}

pub fn group(conn: &Conn, org: &OrgId, id: &str) -> DbResult<Option<ScimGroup>> {
    let Some(g) = conn.query_opt(&format!("{GROUP_SQL} AND id = ?2"), &[org, &id], group_row)? else {
        return Ok(None);
    };
    let members = conn.query_all(
        "SELECT u.id FROM scim_group_members g JOIN users u ON u.n = g.user_n WHERE g.group_n = ?1 ORDER BY u.n",
        &[&g.n],
        |r| r.get(0),
    )?;
    Ok(Some(ScimGroup { members, ..g }))
}

/// Whether a group other than `except` goes by the display name `key` (lowercase).
pub fn group_name_taken(conn: &Conn, org: &OrgId, key: &str, except: Option<i64>) -> DbResult<bool> {
    conn.value(
        "SELECT EXISTS (SELECT 1 FROM scim_groups WHERE org_id = ?1 AND display_key = ?2
                          AND (CAST(?3 AS BIGINT) IS NULL OR n <> CAST(?3 AS BIGINT)))",
        &[org, &key, &except],
    )
}

pub fn insert_group(
    tx: &Tx,
    id: &str,
    org: &OrgId,
    display_name: &str,
    external_id: Option<&str>,
    now: Millis,
) -> DbResult<i64> {
    tx.value(
        "INSERT INTO scim_groups (id, org_id, display_name, display_key, external_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING n",
        &[&id, org, &display_name, &display_name.to_lowercase(), &external_id, &now],
    )
}

pub fn update_group(
    tx: &Tx,
    n: i64,
    display_name: &str,
    external_id: Option<&str>,
    now: Millis,
) -> DbResult<usize> {
    tx.execute(
        "UPDATE scim_groups SET display_name = ?2, display_key = ?3, external_id = ?4, updated_at = ?5 WHERE n = ?1",
        &[&n, &display_name, &display_name.to_lowercase(), &external_id, &now],
    )
}

pub fn add_group_member(tx: &Tx, n: i64, user: UserN, org: &OrgId) -> DbResult<()> {
    tx.execute(
        "INSERT INTO scim_group_members (group_n, user_n, org_id) VALUES (?1, ?2, ?3)",
        &[&n, &user, org],
    )?;
    Ok(())
}

pub fn remove_group_member(tx: &Tx, n: i64, user: UserN) -> DbResult<()> {
    tx.execute("DELETE FROM scim_group_members WHERE group_n = ?1 AND user_n = ?2", &[&n, &user])?;
    Ok(())
}

pub fn delete_group(tx: &Tx, n: i64) -> DbResult<usize> {
    tx.execute("DELETE FROM scim_groups WHERE n = ?1", &[&n])
}

/// The name of the group whose members are admins, if the owners set one.
pub fn admin_group(conn: &Conn, org: &OrgId) -> DbResult<Option<String>> {
    Ok(conn
        .query_opt("SELECT admin_group FROM scim_settings WHERE org_id = ?1", &[org], |r| {
            r.get::<Option<String>>(0)
        })?
        .flatten())
}

pub fn set_admin_group(tx: &Tx, org: &OrgId, name: Option<&str>, now: Millis) -> DbResult<()> {
    tx.execute(
        "INSERT INTO scim_settings (org_id, admin_group, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (org_id) DO UPDATE SET admin_group = excluded.admin_group, updated_at = excluded.updated_at",
        &[org, &name, &now],
    )?;
    Ok(())
}

/// The members (owners aside: SCIM never touches them) whose role is not what the admin group
/// says: in the group named `admin_key` (lowercase) an admin, otherwise a member. Each with the
/// role they should have.
pub fn role_drift(conn: &Conn, org: &OrgId, admin_key: &str) -> DbResult<Vec<(UserId, Role)>> {
    let rows: Vec<(UserId, Role, bool)> = conn.query_all(
        "SELECT u.id, m.role, EXISTS (SELECT 1 FROM scim_group_members gm JOIN scim_groups g ON g.n = gm.group_n
                                       WHERE gm.user_n = m.user_n AND g.org_id = ?1 AND g.display_key = ?2)
           FROM memberships m JOIN users u ON u.n = m.user_n
          WHERE m.org_id = ?1 AND m.role <> 'owner' AND u.status = 'active'",
        &[org, &admin_key],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(rows
        .into_iter()
        .filter_map(|(user, role, admin)| {
            let wanted = if admin { Role::Admin } else { Role::Member };
            (role != wanted).then_some((user, wanted))
        })
        .collect())
}

/// The organization's last changes made through SCIM, newest first (the SCIM page).
pub fn recent_changes(conn: &Conn, org: &OrgId, limit: u32) -> DbResult<Vec<AuditEntry>> {
    conn.query_all(
        &format!(
            "SELECT {} FROM audit_log WHERE org_id = ?1 AND actor_type = 'scim' ORDER BY n DESC LIMIT ?2",
            super::audit::ENTRY
        ),
        &[org, &i64::from(limit)],
        super::audit::entry,
    )
}
