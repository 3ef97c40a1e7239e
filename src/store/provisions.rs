//! Provisions: the record of a pre-created user and how it ended.

use crate::clock::Millis;
use crate::domain::ProvisionStatus;
use rusqlite::{named_params, params, Connection, OptionalExtension, Row, Transaction};

pub struct ProvisionRow {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub project_id: String,
    pub agent_id: String,
    pub role: String,
    pub skip_onboarding: bool,
    pub status: String,
    pub created_by: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub claimed_at: Option<Millis>,
    pub claimed_by: Option<String>,
}

const COLUMNS: &str = "id, org_id, user_id, project_id, agent_id, role, skip_onboarding, status, created_by,
                       created_at, expires_at, claimed_at, claimed_by";

/// The status a reader sees: a pending provision past its expiry is expired, whether or not
/// the sweep has marked it yet.
const EFFECTIVE_COLUMNS: &str = "id, org_id, user_id, project_id, agent_id, role, skip_onboarding,
    CASE WHEN status = 'pending' AND expires_at <= :now THEN 'expired' ELSE status END,
    created_by, created_at, expires_at, claimed_at, claimed_by";

fn from_row(r: &Row) -> rusqlite::Result<ProvisionRow> {
    Ok(ProvisionRow {
        id: r.get(0)?,
        org_id: r.get(1)?,
        user_id: r.get(2)?,
        project_id: r.get(3)?,
        agent_id: r.get(4)?,
        role: r.get(5)?,
        skip_onboarding: r.get(6)?,
        status: r.get(7)?,
        created_by: r.get(8)?,
        created_at: r.get(9)?,
        expires_at: r.get(10)?,
        claimed_at: r.get(11)?,
        claimed_by: r.get(12)?,
    })
}

pub fn insert(tx: &Transaction, p: &ProvisionRow, token_hash: &[u8; 32]) -> rusqlite::Result<()> {
    tx.prepare_cached(&format!("INSERT INTO provisions ({COLUMNS}, token_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"))?.execute(
        params![
            p.id, p.org_id, p.user_id, p.project_id, p.agent_id, p.role, p.skip_onboarding, p.status,
            p.created_by, p.created_at, p.expires_at, p.claimed_at, p.claimed_by, &token_hash[..]
        ],
    )?;
    Ok(())
}

/// This organization's provisions, newest first, with their effective status at `now`.
pub fn list(
    conn: &Connection,
    org_id: &str,
    status: Option<ProvisionStatus>,
    now: Millis,
    limit: u32,
) -> rusqlite::Result<Vec<ProvisionRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {EFFECTIVE_COLUMNS} FROM provisions
          WHERE org_id = :org AND (:status IS NULL OR
                CASE WHEN status = 'pending' AND expires_at <= :now THEN 'expired' ELSE status END = :status)
          ORDER BY created_at DESC, n DESC LIMIT :limit"
    ))?;
    let rows = stmt.query_map(
        named_params! {":org": org_id, ":status": status.map(|s| s.as_str()), ":now": now, ":limit": limit},
        from_row,
    )?;
    rows.collect()
}

/// One provision of this organization, with its effective status at `now`; another
/// organization's is as absent as a missing one.
pub fn get(conn: &Connection, org_id: &str, id: &str, now: Millis) -> rusqlite::Result<Option<ProvisionRow>> {
    conn.query_row(
        &format!("SELECT {EFFECTIVE_COLUMNS} FROM provisions WHERE id = :id AND org_id = :org"),
        named_params! {":id": id, ":org": org_id, ":now": now},
        from_row,
    )
    .optional()
}

/// Moves a pending provision to `status` (cancelled or expired). Returns false when it was no
/// longer pending, so of two racing enders only one proceeds.
pub fn end(tx: &Transaction, id: &str, status: ProvisionStatus) -> rusqlite::Result<bool> {
    let n = tx
        .prepare_cached("UPDATE provisions SET status = ?2 WHERE id = ?1 AND status = 'pending'")?
        .execute(params![id, status.as_str()])?;
    Ok(n > 0)
}

/// The sweep, set-wise: marks up to `limit` pending provisions whose time is up `expired`
/// (oldest first; ties in creation order, which is also where their rows lie, see schema.sql,
/// Keys) and deletes their placeholder users with everything those own. Returns how many it
/// ended. One statement per table instead of one delete (and its cascades) per provision; the
/// children go first, so the foreign keys' cascades find nothing left to do.
pub fn expire_batch(tx: &Transaction, now: Millis, limit: u32) -> rusqlite::Result<usize> {
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS sweep_batch (p INTEGER PRIMARY KEY, u INTEGER);
         DELETE FROM temp.sweep_batch;",
    )?;
    let seen = tx
        .prepare_cached(
            "INSERT INTO temp.sweep_batch (p, u)
             SELECT p.n, (SELECT u.n FROM users u WHERE u.id = p.user_id AND u.status = 'placeholder')
               FROM provisions p WHERE p.status = 'pending' AND p.expires_at <= ?1
              ORDER BY p.expires_at, p.n LIMIT ?2",
        )?
        .execute(params![now, limit])?;
    for sql in [
        "UPDATE provisions SET status = 'expired' WHERE n IN (SELECT p FROM temp.sweep_batch)",
        "DELETE FROM agents WHERE project_n IN
            (SELECT j.n FROM projects j WHERE j.user_n IN (SELECT u FROM temp.sweep_batch))",
        "DELETE FROM api_keys WHERE user_n IN (SELECT u FROM temp.sweep_batch)",
        "DELETE FROM projects WHERE user_n IN (SELECT u FROM temp.sweep_batch)",
        "DELETE FROM memberships WHERE user_n IN (SELECT u FROM temp.sweep_batch)",
        "DELETE FROM users WHERE n IN (SELECT u FROM temp.sweep_batch)",
    ] {
        tx.prepare_cached(sql)?.execute([])?;
    }
    Ok(seen)
}

/// A provision by its claim token's hash, whatever its organization, with the stored status
/// (the caller applies expiry).
pub fn by_token(
    conn: &Connection,
    token_hash: &[u8; 32],
) -> rusqlite::Result<Option<(ProvisionRow, String)>> {
    conn.query_row(
        &format!(
            "SELECT {COLUMNS}, (SELECT name FROM organizations o WHERE o.id = p.org_id)
               FROM provisions p WHERE token_hash = ?1"
        ),
        [&token_hash[..]],
        |r| Ok((from_row(r)?, r.get(13)?)),
    )
    .optional()
}

/// Marks a pending provision claimed. False when it was no longer pending: of concurrent
/// claims, exactly one gets true.
pub fn mark_claimed(tx: &Transaction, id: &str, by: &str, now: Millis) -> rusqlite::Result<bool> {
    let n = tx.prepare_cached("UPDATE provisions SET status = 'claimed', claimed_at = ?3, claimed_by = ?2 WHERE id = ?1 AND status = 'pending'")?.execute(
        params![id, by, now],
    )?;
    Ok(n > 0)
}
