//! Users: people, API-only accounts and the placeholders a provision makes until it is claimed.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Tx};
use crate::domain::{UserId, UserN};

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

/// A placeholder: no email, its keys valid until `pending_until` (its provision's expiry).
pub fn insert_placeholder(tx: &Tx, id: &UserId, pending_until: Millis, now: Millis) -> DbResult<UserN> {
    tx.value(
        "INSERT INTO users (id, status, api_only, pending_until, created_at)
         VALUES (?1, 'placeholder', FALSE, ?2, ?3) RETURNING n",
        &[id, &pending_until, &now],
    )
}

/// Marks the user's address as reaching them (see schema.sql, users.email_verified).
pub fn set_verified(tx: &Tx, user: &UserId) -> DbResult<usize> {
    // Keys carry whether their owner's address is verified (X-User-ID).
    tx.keys_changed();
    tx.execute("UPDATE users SET email_verified = TRUE WHERE id = ?1 AND status = 'active'", &[user])
}

/// The user with this email (lowercase), if any.
pub fn user_id_by_email(conn: &Conn, email: &str) -> DbResult<Option<UserId>> {
    conn.query_opt("SELECT id FROM users WHERE email = ?1", &[&email], |r| r.get(0))
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
    // Its keys are no longer a placeholder's, and carry the person's address.
    tx.keys_changed();
    tx.execute(
        "UPDATE users SET email = ?2, password_hash = ?3, name = ?4, email_verified = ?5,
                          status = 'active', pending_until = NULL
          WHERE id = ?1 AND status = 'placeholder'",
        &[user, &person.email, &person.password_hash, &person.name, &person.email_verified],
    )
}

/// Deletes a placeholder user; the foreign keys take its membership, projects, keys and agents
/// with it. Never touches a real (claimed) user.
pub fn delete_placeholder(tx: &Tx, user: &UserId) -> DbResult<usize> {
    tx.keys_changed();
    tx.execute("DELETE FROM users WHERE id = ?1 AND status = 'placeholder'", &[user])
}

pub fn delete_user(tx: &Tx, id: &UserId) -> DbResult<()> {
    // Its keys go with it.
    tx.keys_changed();
    tx.execute("DELETE FROM users WHERE id = ?1", &[id])?;
    Ok(())
}

pub fn count_users(conn: &Conn) -> DbResult<i64> {
    conn.value("SELECT COUNT(*) FROM users", &[])
}
