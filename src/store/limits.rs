//! Rate limits and failed log-ins kept in the database, for replicas that must share them
//! (see service::limits). Written for PostgreSQL, where they are used.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Tx};

/// Takes one token from the bucket `key` (up to `cap` tokens, refilled at `per_ms` a
/// millisecond). None when taken; otherwise the tokens the bucket holds now (less than one).
pub fn take(tx: &Tx, key: &str, cap: f64, per_ms: f64, now: Millis) -> DbResult<Option<f64>> {
    let taken: Option<f64> = tx.query_opt(
        "INSERT INTO rate_buckets AS b (key, tokens, at) VALUES (?1, CAST(?2 AS DOUBLE PRECISION) - 1, ?3)
         ON CONFLICT (key) DO UPDATE
            SET tokens = LEAST(CAST(?2 AS DOUBLE PRECISION), b.tokens + (?3 - b.at) * CAST(?4 AS DOUBLE PRECISION)) - 1,
                at = ?3
          WHERE LEAST(CAST(?2 AS DOUBLE PRECISION), b.tokens + (?3 - b.at) * CAST(?4 AS DOUBLE PRECISION)) >= 1
         RETURNING tokens",
        &[&key, &cap, &now, &per_ms],
        |r| r.get(0),
    )?;
    if taken.is_some() {
        return Ok(None);
    }
    let left: f64 = tx.value(
        "SELECT LEAST(CAST(?2 AS DOUBLE PRECISION), tokens + (?3 - at) * CAST(?4 AS DOUBLE PRECISION))
           FROM rate_buckets WHERE key = ?1",
        &[&key, &cap, &now, &per_ms],
    )?;
    Ok(Some(left))
}

/// Failed log-ins counted under `key`: how many, and the last one's time.
pub fn failures(conn: &Conn, key: &str) -> DbResult<Option<(i64, Millis)>> {
    conn.query_opt("SELECT failures, last_at FROM login_failures WHERE key = ?1", &[&key], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

pub fn add_failure(tx: &Tx, key: &str, now: Millis) -> DbResult<()> {
    tx.execute(
        "INSERT INTO login_failures (key, failures, last_at) VALUES (?1, 1, ?2)
         ON CONFLICT (key) DO UPDATE SET failures = login_failures.failures + 1, last_at = ?2",
        &[&key, &now],
    )?;
    Ok(())
}

pub fn clear_failures(tx: &Tx, key: &str) -> DbResult<()> {
    tx.execute("DELETE FROM login_failures WHERE key = ?1", &[&key])?;
    Ok(())
}

/// Forgets buckets and failures untouched since `before` (a full bucket, an old failure).
pub fn delete_idle(tx: &Tx, before: Millis) -> DbResult<()> {
    tx.execute("DELETE FROM rate_buckets WHERE at < ?1", &[&before])?;
    tx.execute("DELETE FROM login_failures WHERE last_at < ?1", &[&before])?;
    Ok(())
}
