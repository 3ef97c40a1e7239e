//! Idempotency records (see schema.sql, `idempotency`).

use crate::clock::Millis;
use crate::db::{DbResult, Tx};

/// Records are filed under `owner`: the credential that made them, in its organization
/// (`service::authority::Principal::idempotency_owner`), never a person.
///
/// Takes the key for this request, inside the write that does the work: true when this request
/// is the first with it (or the last one with it is older than `stale_before`), so the work goes
/// ahead and `finish` records it; false when another request holds it. On PostgreSQL the insert
/// waits for a concurrent holder's transaction to end, so a duplicate never runs alongside.
pub fn take(
    tx: &Tx,
    owner: &str,
    route: &str,
    key: &str,
    body_hash: &[u8; 32],
    now: Millis,
    stale_before: Millis,
) -> DbResult<bool> {
    let n = tx.execute(
        "INSERT INTO idempotency (owner, route, key, body_hash, status, response, created_at)
         VALUES (?1, ?2, ?3, ?4, 0, '', ?5)
         ON CONFLICT (owner, route, key) DO UPDATE
            SET body_hash = excluded.body_hash, status = 0, response = '', created_at = excluded.created_at
          WHERE idempotency.created_at < ?6",
        &[&owner, &route, &key, &&body_hash[..], &now, &stale_before],
    )?;
    Ok(n > 0)
}

/// What the first request with this key recorded: its body's hash and outcome.
pub fn recall(tx: &Tx, owner: &str, route: &str, key: &str) -> DbResult<Option<(Vec<u8>, String)>> {
    tx.query_opt(
        "SELECT body_hash, response FROM idempotency WHERE owner = ?1 AND route = ?2 AND key = ?3",
        &[&owner, &route, &key],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

pub fn finish(tx: &Tx, owner: &str, route: &str, key: &str, response: &str) -> DbResult<()> {
    tx.execute(
        "UPDATE idempotency SET status = 200, response = ?4 WHERE owner = ?1 AND route = ?2 AND key = ?3",
        &[&owner, &route, &key, &response],
    )?;
    Ok(())
}

/// Forgets records older than `before` (the cleanup job); returns how many.
pub fn prune(tx: &Tx, before: Millis) -> DbResult<usize> {
    tx.execute("DELETE FROM idempotency WHERE created_at < ?1", &[&before])
}
