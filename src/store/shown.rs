//! Sealed results waiting to be shown once (see service::shown).

use crate::clock::Millis;
use crate::db::{DbResult, Tx};
use crate::domain::UserId;

pub fn put(
    tx: &Tx,
    id_hash: &[u8; 32],
    user: &UserId,
    title: &str,
    sealed: &[u8],
    now: Millis,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO shown_results (id_hash, user_id, title, sealed, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        &[&&id_hash[..], user, &title, &sealed, &now],
    )?;
    Ok(())
}

/// Takes (deletes) the result if it is `user`'s and was made after `since`.
pub fn take(
    tx: &Tx,
    id_hash: &[u8; 32],
    user: &UserId,
    since: Millis,
) -> DbResult<Option<(String, Vec<u8>)>> {
    tx.query_opt(
        "DELETE FROM shown_results WHERE id_hash = ?1 AND user_id = ?2 AND created_at > ?3 RETURNING title, sealed",
        &[&&id_hash[..], user, &since],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

pub fn delete_older_than(tx: &Tx, before: Millis) -> DbResult<usize> {
    tx.execute("DELETE FROM shown_results WHERE created_at <= ?1", &[&before])
}
