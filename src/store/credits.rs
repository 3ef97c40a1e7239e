//! The credit pool of an organization and its ledger. Amounts are thousandths of a credit.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Tx};
use crate::domain::{Balance, LedgerEntry};
use crate::domain::{Credits, KeyN, OrgId, UserId};

pub fn balance(conn: &Conn, org: &OrgId) -> DbResult<Balance> {
    conn.query_one(
        "SELECT credits_granted, credits_used, credits_alert FROM organizations WHERE id = ?1",
        &[org],
        |r| Ok(Balance { granted: r.get(0)?, used: r.get(1)?, alert: r.get(2)? }),
    )
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

pub fn set_alert(tx: &Tx, org: &OrgId, level: i64) -> DbResult<()> {
    tx.execute("UPDATE organizations SET credits_alert = ?2 WHERE id = ?1", &[org, &level])?;
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

/// A debit of the pool: whose, how much, why, and through which key (debited only while it
/// is live) if one.
#[derive(Clone, Copy)]
pub struct Debit<'a> {
    pub org: &'a OrgId,
    pub user: &'a UserId,
    pub amount: Credits,
    pub reason: Option<&'a str>,
    pub key: Option<KeyN>,
}

/// Takes from the pool if it covers the whole amount; false (and nothing written) otherwise.
/// The check and the debit are one statement, so concurrent consumers can never overdraw.
pub fn consume(tx: &Tx, debit: &Debit, now: Millis) -> DbResult<bool> {
    let Debit { org, user, amount, reason, key } = *debit;
    let n = match key {
        None => tx.execute(
            "UPDATE organizations SET credits_used = credits_used + ?2
              WHERE id = ?1 AND credits_granted - credits_used >= ?2",
            &[org, &amount],
        )?,
        // Debited only while the key is live, in the same statement: a key revoked between its
        // check and this write is never charged, at no extra statement on the writer.
        Some(key) => tx.execute(
            "UPDATE organizations SET credits_used = credits_used + ?2
              WHERE id = ?1 AND credits_granted - credits_used >= ?2
                AND EXISTS (SELECT 1 FROM api_keys WHERE n = ?3 AND (revoked_at IS NULL OR revoked_at > ?4)
                                                     AND (expires_at IS NULL OR expires_at > ?4))",
            &[org, &amount, &key, &now],
        )?,
    };
    if n == 1 {
        record(tx, org, Some(user), "consume", amount, reason, now)?;
    }
    Ok(n == 1)
}

/// A user's credit limit as stored: `used` counts from `window_start`, which may be a window
/// that has since ended (the next debit resets it).
pub struct LimitRow {
    pub period: String,
    pub amount: Credits,
    pub used: Credits,
    pub window_start: Millis,
}

pub fn limit_of(conn: &Conn, org: &OrgId, user: &UserId) -> DbResult<Option<LimitRow>> {
    conn.query_opt(
        "SELECT period, amount, used, window_start FROM credit_limits WHERE org_id = ?1 AND user_id = ?2",
        &[org, user],
        |r| Ok(LimitRow { period: r.get(0)?, amount: r.get(1)?, used: r.get(2)?, window_start: r.get(3)? }),
    )
}

/// Counts `amount` into the user's limit for the window starting at `window_start`, if it fits;
/// false (and nothing written) otherwise. One statement: a window that rolled over starts again
/// from 0 in the same check, and concurrent debits by one user can never pass the limit
/// together.
pub fn take_from_limit(
    tx: &Tx,
    org: &OrgId,
    user: &UserId,
    window_start: Millis,
    amount: Credits,
) -> DbResult<bool> {
    let n = tx.execute(
        "UPDATE credit_limits
            SET used = CASE WHEN window_start = ?3 THEN used ELSE 0 END + ?4, window_start = ?3
          WHERE org_id = ?1 AND user_id = ?2
            AND CASE WHEN window_start = ?3 THEN used ELSE 0 END + ?4 <= amount",
        &[org, user, &window_start, &amount],
    )?;
    Ok(n == 1)
}

/// Undoes `take_from_limit` in the same transaction, when the pool then refuses the debit (the
/// caller may commit the refusal).
pub fn give_back_to_limit(tx: &Tx, org: &OrgId, user: &UserId, amount: Credits) -> DbResult<()> {
    tx.execute(
        "UPDATE credit_limits SET used = used - ?3 WHERE org_id = ?1 AND user_id = ?2 AND used >= ?3",
        &[org, user, &amount],
    )?;
    Ok(())
}

pub fn set_limit(tx: &Tx, org: &OrgId, user: &UserId, limit: &LimitRow) -> DbResult<()> {
    tx.execute(
        "INSERT INTO credit_limits (org_id, user_id, period, amount, used, window_start)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (org_id, user_id) DO UPDATE
            SET period = excluded.period, amount = excluded.amount, used = excluded.used,
                window_start = excluded.window_start",
        &[org, user, &limit.period, &limit.amount, &limit.used, &limit.window_start],
    )?;
    Ok(())
}

pub fn remove_limit(tx: &Tx, org: &OrgId, user: &UserId) -> DbResult<()> {
    tx.execute("DELETE FROM credit_limits WHERE org_id = ?1 AND user_id = ?2", &[org, user])?;
    Ok(())
}

/// What the user consumed from the organization's pool since `since` (ms).
pub fn consumed_since(conn: &Conn, org: &OrgId, user: &UserId, since: Millis) -> DbResult<Credits> {
    conn.value(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM credit_ledger
          WHERE org_id = ?1 AND user_id = ?2 AND kind = 'consume' AND created_at >= ?3",
        &[org, user, &since],
    )
}

pub struct UsageRow {
    pub user_id: UserId,
    pub email: Option<String>,
    pub used: Credits,
    pub limit: Option<LimitRow>,
}

/// A page of per-user consumption within the organization, by user id, after `after`: every
/// user who consumed or has a limit. Users deleted since keep their ledger rows (with no
/// email). The user id is the sort key, so the pages stay put however usage changes meanwhile.
pub fn usage(conn: &Conn, org: &OrgId, after: Option<&UserId>, limit: u32) -> DbResult<Vec<UsageRow>> {
    conn.query_all(
        "SELECT x.user_id, u.email,
                CAST(COALESCE((SELECT SUM(l.amount) FROM credit_ledger l
                                WHERE l.org_id = ?1 AND l.user_id = x.user_id AND l.kind = 'consume'), 0) AS BIGINT),
                c.period, c.amount, c.used, c.window_start
           FROM (SELECT user_id FROM credit_ledger
                  WHERE org_id = ?1 AND kind = 'consume' AND user_id IS NOT NULL
                    AND (CAST(?2 AS TEXT) IS NULL OR user_id > CAST(?2 AS TEXT))
                 UNION
                 SELECT user_id FROM credit_limits
                  WHERE org_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR user_id > CAST(?2 AS TEXT))) x
           LEFT JOIN users u ON u.id = x.user_id
           LEFT JOIN credit_limits c ON c.org_id = ?1 AND c.user_id = x.user_id
          ORDER BY x.user_id LIMIT ?3",
        &[org, &after, &i64::from(limit)],
        |r| {
            let period: Option<String> = r.get(3)?;
            let limit = match period {
                None => None,
                Some(period) => {
                    Some(LimitRow { period, amount: r.get(4)?, used: r.get(5)?, window_start: r.get(6)? })
                }
            };
            Ok(UsageRow { user_id: r.get(0)?, email: r.get(1)?, used: r.get(2)?, limit })
        },
    )
}

/// A page of the organization's ledger, newest first (by entry number), entries numbered below
/// `before` when given; only one user's when `user` is given.
pub fn ledger(
    conn: &Conn,
    org: &OrgId,
    user: Option<&UserId>,
    before: Option<i64>,
    limit: u32,
) -> DbResult<Vec<LedgerEntry>> {
    macro_rules! ledger_sql {
        ($before:literal) => {
            concat!(
                "SELECT l.id, l.kind, l.amount, l.user_id, l.reason, l.created_at,
                        (SELECT email FROM users u WHERE u.id = l.user_id)
                   FROM credit_ledger l
                  WHERE l.org_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR l.user_id = CAST(?2 AS TEXT))",
                $before,
                " ORDER BY l.id DESC LIMIT ?4"
            )
        };
    }
    // A plain comparison, not `?3 IS NULL OR …`, so a later page seeks to its cursor.
    let sql = match before {
        None => ledger_sql!(" AND CAST(?3 AS BIGINT) IS NULL"),
        Some(_) => ledger_sql!(" AND l.id < CAST(?3 AS BIGINT)"),
    };
    conn.query_all(sql, &[org, &user, &before, &i64::from(limit)], |r| {
        Ok(LedgerEntry {
            id: r.get(0)?,
            kind: r.get(1)?,
            amount: r.get(2)?,
            user_id: r.get(3)?,
            reason: r.get(4)?,
            created_at: r.get(5)?,
            user_email: r.get(6)?,
        })
    })
}

/// How many entries the organization's ledger holds.
pub fn ledger_size(conn: &Conn, org: &OrgId) -> DbResult<i64> {
    conn.value("SELECT COUNT(*) FROM credit_ledger WHERE org_id = ?1", &[org])
}

/// What each user consumed per UTC day (days since the epoch) from `since` on.
pub fn daily_use(conn: &Conn, org: &OrgId, since: Millis) -> DbResult<Vec<(Option<UserId>, i64, Credits)>> {
    conn.query_all(
        "SELECT user_id, created_at / 86400000 AS day, CAST(SUM(amount) AS BIGINT) FROM credit_ledger
          WHERE org_id = ?1 AND created_at >= ?2 AND kind = 'consume'
          GROUP BY user_id, day",
        &[org, &since],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}
