//! Verifications per key and UTC day (see schema.sql, `key_verifications`): each server counts
//! them in memory and adds its counts here in bulk, so the sums are exact across replicas.

use crate::db::{Conn, DbResult, Tx};
use crate::domain::KeyN;

/// Adds a server's counts for one key and day to what is stored.
pub fn add(tx: &Tx, key: KeyN, day: i64, valid: i64, refused: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO key_verifications (key_n, day, valid, refused) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key_n, day) DO UPDATE
            SET valid = key_verifications.valid + excluded.valid,
                refused = key_verifications.refused + excluded.refused",
        &[&key, &day, &valid, &refused],
    )?;
    Ok(())
}

/// A key's counts per day from `since` (a day number) on: (day, valid, refused).
pub fn daily(conn: &Conn, key: KeyN, since: i64) -> DbResult<Vec<(i64, i64, i64)>> {
    conn.query_all(
        "SELECT day, valid, refused FROM key_verifications WHERE key_n = ?1 AND day >= ?2 ORDER BY day",
        &[&key, &since],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// Forgets the days before `before` (a day number); returns how many rows.
pub fn prune(tx: &Tx, before: i64) -> DbResult<usize> {
    tx.execute("DELETE FROM key_verifications WHERE day < ?1", &[&before])
}
