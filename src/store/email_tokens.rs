//! Links mailed to a person (verify an address, reset a password), stored as blake3 hashes.

use crate::clock::Millis;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Verify,
    Reset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Verify => "verify",
            Purpose::Reset => "reset",
        }
    }
}

/// A new link for `user_id`; earlier links of the same purpose stop working (only the newest
/// mail counts).
pub fn insert(
    tx: &Transaction,
    hash: &[u8; 32],
    user_id: &str,
    purpose: Purpose,
    email: &str,
    now: Millis,
    expires_at: Millis,
) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM email_tokens WHERE user_id = ?1 AND purpose = ?2")?
        .execute(params![user_id, purpose.as_str()])?;
    tx.prepare_cached(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, email, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![&hash[..], user_id, purpose.as_str(), email, now, expires_at])?;
    Ok(())
}

pub struct TokenRow {
    pub user_id: String,
    /// The address the link was mailed to.
    pub email: String,
    pub expires_at: Millis,
}

/// Deletes the link and returns what it was for: a link works once.
pub fn take(tx: &Transaction, hash: &[u8; 32], purpose: Purpose) -> rusqlite::Result<Option<TokenRow>> {
    tx.prepare_cached(
        "DELETE FROM email_tokens WHERE token_hash = ?1 AND purpose = ?2 RETURNING user_id, email, expires_at",
    )?
    .query_row(params![&hash[..], purpose.as_str()], |r| {
        Ok(TokenRow { user_id: r.get(0)?, email: r.get(1)?, expires_at: r.get(2)? })
    })
    .optional()
}

/// Whether a link is live (for the page that asks for a new password before using it).
pub fn is_live(conn: &Connection, hash: &[u8; 32], purpose: Purpose, now: Millis) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM email_tokens WHERE token_hash = ?1 AND purpose = ?2 AND expires_at > ?3)",
    )?
    .query_row(params![&hash[..], purpose.as_str(), now], |r| r.get(0))
}

pub fn delete_of_user(tx: &Transaction, user_id: &str, purpose: Purpose) -> rusqlite::Result<usize> {
    tx.prepare_cached("DELETE FROM email_tokens WHERE user_id = ?1 AND purpose = ?2")?
        .execute(params![user_id, purpose.as_str()])
}

pub fn delete_expired(tx: &Transaction, now: Millis) -> rusqlite::Result<usize> {
    tx.prepare_cached("DELETE FROM email_tokens WHERE expires_at <= ?1")?.execute([now])
}

/// Hands a user's links to another user (a new person becoming the placeholder they claimed).
pub fn move_to_user(tx: &Transaction, from: &str, to: &str) -> rusqlite::Result<usize> {
    tx.prepare_cached("UPDATE email_tokens SET user_id = ?2 WHERE user_id = ?1")?.execute(params![from, to])
}
