//! Web sessions: a random cookie token, stored as its blake3 hash, with an expiry.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Tx};
use crate::domain::{OrgId, UserId};

pub fn insert(
    tx: &Tx,
    hash: &[u8; 32],
    user: &UserId,
    active_org: Option<&OrgId>,
    now: Millis,
    expires_at: Millis,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO sessions (token_hash, user_id, active_org_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        &[&&hash[..], user, &active_org, &now, &expires_at],
    )?;
    Ok(())
}

pub struct SessionRow {
    pub user_id: UserId,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub active_org_id: Option<OrgId>,
}

/// The live session with this token hash: unexpired, of an active user who may sign in. Its
/// organization only while the person is a member there in good standing: removed or suspended
/// by the identity provider, the session is refused that organization from the next request
/// (read each time, so on every replica at once).
pub fn lookup(conn: &Conn, hash: &[u8; 32], now: Millis) -> DbResult<Option<SessionRow>> {
    conn.query_opt(
        "SELECT u.id, u.email, u.name, CASE WHEN m.org_id IS NULL THEN NULL ELSE s.active_org_id END,
                u.email_verified
           FROM sessions s JOIN users u ON u.id = s.user_id
           LEFT JOIN memberships m ON m.user_n = u.n AND m.org_id = s.active_org_id AND m.suspended_at IS NULL
          WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.status = 'active' AND u.api_only = FALSE",
        &[&&hash[..], &now],
        |r| {
            Ok(SessionRow {
                user_id: r.get(0)?,
                email: r.get(1)?,
                name: r.get(2)?,
                active_org_id: r.get(3)?,
                email_verified: r.get(4)?,
            })
        },
    )
}

pub fn set_active_org(tx: &Tx, hash: &[u8; 32], org: &OrgId) -> DbResult<()> {
    tx.execute("UPDATE sessions SET active_org_id = ?2 WHERE token_hash = ?1", &[&&hash[..], org])?;
    Ok(())
}

/// Moves every session of one user to another (a new person's sign-up becoming the placeholder).
pub fn move_to_user(tx: &Tx, from: &UserId, to: &UserId) -> DbResult<()> {
    tx.execute("UPDATE sessions SET user_id = ?2 WHERE user_id = ?1", &[from, to])?;
    Ok(())
}

pub fn delete(tx: &Tx, hash: &[u8; 32]) -> DbResult<()> {
    tx.execute("DELETE FROM sessions WHERE token_hash = ?1", &[&&hash[..]])?;
    Ok(())
}

/// Ends every session of a user but `keep` (the one that changed the password, if any).
pub fn delete_of_user(tx: &Tx, user: &UserId, keep: Option<&[u8; 32]>) -> DbResult<usize> {
    let keep: &[u8] = keep.map_or(&[], |k| &k[..]);
    tx.execute("DELETE FROM sessions WHERE user_id = ?1 AND token_hash <> ?2", &[user, &keep])
}

pub fn delete_expired(tx: &Tx, now: Millis) -> DbResult<usize> {
    tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", &[&now])
}
