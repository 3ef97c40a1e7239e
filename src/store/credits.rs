//! The credit pool of an organization and its ledger. Amounts are thousandths of a credit.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Tx};
use crate::domain::{Credits, OrgId, UserId};

pub struct Balance {
    pub granted: Credits,
    pub used: Credits,
}

impl Balance {
    pub fn left(&self) -> Credits {
        Credits::from_thousandths(self.granted.thousandths() - self.used.thousandths())
    }
}

pub fn balance(conn: &Conn, org: &OrgId) -> DbResult<Balance> {
    conn.query_one("SELECT credits_granted, credits_used FROM organizations WHERE id = ?1", &[org], |r| {
        Ok(Balance { granted: r.get(0)?, used: r.get(1)? })
    })
}

fn record(
    tx: &Tx,
    org: &OrgId,
    user: Option<&UserId>,
    kind: &str,
    amount: Credits,
    reason: Option<&str>,
    now: Millis,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO credit_ledger (org_id, user_id, kind, amount, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[org, &user, &kind, &amount, &reason, &now],
    )?;
    Ok(())
}

/// Adds to the pool. False (and nothing written) when the pool would exceed `Credits::MAX`.
pub fn grant(
    tx: &Tx,
    org: &OrgId,
    by: Option<&UserId>,
    amount: Credits,
    reason: Option<&str>,
    now: Millis,
) -> DbResult<bool> {
    let n = tx.execute(
        "UPDATE organizations SET credits_granted = credits_granted + ?2 WHERE id = ?1 AND credits_granted + ?2 <= ?3",
        &[org, &amount, &Credits::MAX],
    )?;
    if n == 1 {
        record(tx, org, by, "grant", amount, reason, now)?;
    }
    Ok(n == 1)
}

/// Takes from the pool if it covers the whole amount; false (and nothing written) otherwise.
/// The check and the debit are one statement, so concurrent consumers can never overdraw.
pub fn consume(
    tx: &Tx,
    org: &OrgId,
    user: &UserId,
    amount: Credits,
    reason: Option<&str>,
    now: Millis,
) -> DbResult<bool> {
    let n = tx.execute(
        "UPDATE organizations SET credits_used = credits_used + ?2
          WHERE id = ?1 AND credits_granted - credits_used >= ?2",
        &[org, &amount],
    )?;
    if n == 1 {
        record(tx, org, Some(user), "consume", amount, reason, now)?;
    }
    Ok(n == 1)
}

pub struct UsageRow {
    pub user_id: Option<UserId>,
    pub email: Option<String>,
    pub used: Credits,
}

/// Consumption per user within the organization, largest first. Users deleted since keep their
/// ledger rows (with no email).
pub fn usage(conn: &Conn, org: &OrgId) -> DbResult<Vec<UsageRow>> {
    conn.query_all(
        "SELECT l.user_id, u.email, CAST(SUM(l.amount) AS BIGINT) AS used
           FROM credit_ledger l LEFT JOIN users u ON u.id = l.user_id
          WHERE l.org_id = ?1 AND l.kind = 'consume'
          GROUP BY l.user_id, u.email ORDER BY used DESC, u.email",
        &[org],
        |r| Ok(UsageRow { user_id: r.get(0)?, email: r.get(1)?, used: r.get(2)? }),
    )
}
