//! The credit pool of an organization and its ledger. Amounts are thousandths of a credit.

use crate::clock::Millis;
use crate::domain::Credits;
use rusqlite::{params, Connection, Transaction};

pub struct Balance {
    pub granted: Credits,
    pub used: Credits,
}

impl Balance {
    pub fn left(&self) -> Credits {
        Credits::from_thousandths(self.granted.thousandths() - self.used.thousandths())
    }
}

pub fn balance(conn: &Connection, org_id: &str) -> rusqlite::Result<Balance> {
    conn.query_row("SELECT credits_granted, credits_used FROM organizations WHERE id = ?1", [org_id], |r| {
        Ok(Balance {
            granted: Credits::from_thousandths(r.get(0)?),
            used: Credits::from_thousandths(r.get(1)?),
        })
    })
}

fn record(
    tx: &Transaction,
    org_id: &str,
    user_id: Option<&str>,
    kind: &str,
    amount: Credits,
    reason: Option<&str>,
    now: Millis,
) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO credit_ledger (org_id, user_id, kind, amount, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(
        params![org_id, user_id, kind, amount.thousandths(), reason, now],
    )?;
    Ok(())
}

/// Adds to the pool. False (and nothing written) when the pool would exceed `Credits::MAX`.
pub fn grant(
    tx: &Transaction,
    org_id: &str,
    user_id: Option<&str>,
    amount: Credits,
    reason: Option<&str>,
    now: Millis,
) -> rusqlite::Result<bool> {
    let n = tx.prepare_cached("UPDATE organizations SET credits_granted = credits_granted + ?2 WHERE id = ?1 AND credits_granted + ?2 <= ?3")?.execute(
        params![org_id, amount.thousandths(), Credits::MAX.thousandths()],
    )?;
    if n == 1 {
        record(tx, org_id, user_id, "grant", amount, reason, now)?;
    }
    Ok(n == 1)
}

/// Takes from the pool if it covers the whole amount; false (and nothing written) otherwise.
/// The check and the debit are one statement, so concurrent consumers can never overdraw.
pub fn consume(
    tx: &Transaction,
    org_id: &str,
    user_id: &str,
    amount: Credits,
    reason: Option<&str>,
    now: Millis,
) -> rusqlite::Result<bool> {
    let n = tx
        .prepare_cached(
            "UPDATE organizations SET credits_used = credits_used + ?2
          WHERE id = ?1 AND credits_granted - credits_used >= ?2",
        )?
        .execute(params![org_id, amount.thousandths()])?;
    if n == 1 {
        record(tx, org_id, Some(user_id), "consume", amount, reason, now)?;
    }
    Ok(n == 1)
}

pub struct UsageRow {
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub used: Credits,
}

/// Consumption per user within the organization, largest first. Users deleted since keep their
/// ledger rows (with no email).
pub fn usage(conn: &Connection, org_id: &str) -> rusqlite::Result<Vec<UsageRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT l.user_id, u.email, SUM(l.amount) AS used
           FROM credit_ledger l LEFT JOIN users u ON u.id = l.user_id
          WHERE l.org_id = ?1 AND l.kind = 'consume'
          GROUP BY l.user_id ORDER BY used DESC, u.email",
    )?;
    let rows = stmt.query_map([org_id], |r| {
        Ok(UsageRow { user_id: r.get(0)?, email: r.get(1)?, used: Credits::from_thousandths(r.get(2)?) })
    })?;
    rows.collect()
}
