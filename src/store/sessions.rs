//! Web sessions: a random cookie token, stored as its blake3 hash, with an expiry.

use crate::clock::Millis;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

pub fn insert(
    tx: &Transaction,
    hash: &[u8; 32],
    user_id: &str,
    active_org: Option<&str>,
    now: Millis,
    expires_at: Millis,
) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO sessions (token_hash, user_id, active_org_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(
        params![&hash[..], user_id, active_org, now, expires_at],
    )?;
    Ok(())
}

pub struct SessionRow {
    pub user_id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub active_org_id: Option<String>,
}

/// The live session with this token hash: unexpired, of an active user who may sign in.
pub fn lookup(conn: &Connection, hash: &[u8; 32], now: Millis) -> rusqlite::Result<Option<SessionRow>> {
    conn.query_row(
        "SELECT u.id, u.email, u.name, s.active_org_id, u.email_verified
           FROM sessions s JOIN users u ON u.id = s.user_id
          WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.status = 'active' AND u.api_only = 0",
        params![&hash[..], now],
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
    .optional()
}

pub fn set_active_org(tx: &Transaction, hash: &[u8; 32], org_id: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE sessions SET active_org_id = ?2 WHERE token_hash = ?1")?
        .execute(params![&hash[..], org_id])?;
    Ok(())
}

/// Moves every session of one user to another (a new person's sign-up becoming the placeholder).
pub fn move_to_user(tx: &Transaction, from: &str, to: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE sessions SET user_id = ?2 WHERE user_id = ?1")?.execute(params![from, to])?;
    Ok(())
}

pub fn delete(tx: &Transaction, hash: &[u8; 32]) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?.execute([&hash[..]])?;
    Ok(())
}

/// Ends every session of a user but `keep` (the one that changed the password, if any).
pub fn delete_of_user(tx: &Transaction, user_id: &str, keep: Option<&[u8; 32]>) -> rusqlite::Result<usize> {
    let keep: &[u8] = keep.map_or(&[], |k| &k[..]);
    tx.prepare_cached("DELETE FROM sessions WHERE user_id = ?1 AND token_hash <> ?2")?
        .execute(params![user_id, keep])
}

pub fn delete_expired(tx: &Transaction, now: Millis) -> rusqlite::Result<usize> {
    tx.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?.execute([now])
}
