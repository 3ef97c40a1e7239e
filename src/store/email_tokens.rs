//! Links mailed to a person (verify an address, reset a password), stored as blake3 hashes.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Tx};
use crate::domain::UserId;

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
    tx: &Tx,
    hash: &[u8; 32],
    user: &UserId,
    purpose: Purpose,
    email: &str,
    now: Millis,
    expires_at: Millis,
) -> DbResult<()> {
    delete_of_user(tx, user, purpose)?;
    tx.execute(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, email, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[&&hash[..], user, &purpose.as_str(), &email, &now, &expires_at],
    )?;
    Ok(())
}

pub struct TokenRow {
    pub user_id: UserId,
    /// The address the link was mailed to.
    pub email: String,
    pub expires_at: Millis,
}

/// Deletes the link and returns what it was for: a link works once.
pub fn take(tx: &Tx, hash: &[u8; 32], purpose: Purpose) -> DbResult<Option<TokenRow>> {
    tx.query_opt(
        "DELETE FROM email_tokens WHERE token_hash = ?1 AND purpose = ?2 RETURNING user_id, email, expires_at",
        &[&&hash[..], &purpose.as_str()],
        |r| Ok(TokenRow { user_id: r.get(0)?, email: r.get(1)?, expires_at: r.get(2)? }),
    )
}

/// Whether a link is live (for the page that asks for a new password before using it).
pub fn is_live(conn: &Conn, hash: &[u8; 32], purpose: Purpose, now: Millis) -> DbResult<bool> {
    conn.value(
        "SELECT EXISTS (SELECT 1 FROM email_tokens WHERE token_hash = ?1 AND purpose = ?2 AND expires_at > ?3)",
        &[&&hash[..], &purpose.as_str(), &now],
    )
}

pub fn delete_of_user(tx: &Tx, user: &UserId, purpose: Purpose) -> DbResult<usize> {
    tx.execute("DELETE FROM email_tokens WHERE user_id = ?1 AND purpose = ?2", &[user, &purpose.as_str()])
}

pub fn delete_expired(tx: &Tx, now: Millis) -> DbResult<usize> {
    tx.execute("DELETE FROM email_tokens WHERE expires_at <= ?1", &[&now])
}

/// Hands a user's links to another user (a new person becoming the placeholder they claimed).
pub fn move_to_user(tx: &Tx, from: &UserId, to: &UserId) -> DbResult<usize> {
    tx.execute("UPDATE email_tokens SET user_id = ?2 WHERE user_id = ?1", &[from, to])
}
