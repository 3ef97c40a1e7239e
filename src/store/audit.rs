//! The audit log (see schema.sql, `audit_log`).

use crate::clock::Millis;
use crate::db::{Conn, DbError, DbResult, Engine, Param, Row, Tx};
use crate::domain::{AuditEntry, AuditFilter};
use crate::domain::{AuditId, OrgId, UserId};

/// A row to write. `actor_user`: whose address to record beside the actor (read in the same
/// statement, as it is at the time of the change).
pub struct NewEntry<'a> {
    pub org: &'a OrgId,
    pub action: &'a str,
    pub actor_type: &'a str,
    pub actor_id: Option<&'a str>,
    pub actor_user: Option<&'a UserId>,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub details: Option<&'a str>,
}

/// Writes the row; returns its row number (an event recorded with it reads its details there).
pub fn insert(tx: &Tx, e: &NewEntry, now: Millis) -> DbResult<i64> {
    tx.value(
        "INSERT INTO audit_log (id, org_id, action, actor_type, actor_id, actor_email, target_type, target_id,
                                ip, user_agent, details, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, (SELECT email FROM users WHERE id = CAST(?6 AS TEXT)), ?7, ?8, ?9, ?10, ?11, ?12)
         RETURNING n",
        &[
            &AuditId::new(),
            e.org,
            &e.action,
            &e.actor_type,
            &e.actor_id,
            &e.actor_user,
            &e.target_type,
            &e.target_id,
            &e.ip,
            &e.user_agent,
            &e.details,
            &now,
        ],
    )
}

/// `insert` of many rows in one statement (the sweep's); returns their row numbers, in order.
pub fn insert_all(tx: &Tx, entries: &[NewEntry], now: Millis) -> DbResult<Vec<i64>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<AuditId> = entries.iter().map(|_| AuditId::new()).collect();
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .zip(&ids)
        .map(|(e, id)| {
            serde_json::json!({
                "id": id.as_str(), "org": e.org.as_str(), "action": e.action, "actor_type": e.actor_type,
                "actor_id": e.actor_id, "actor_user": e.actor_user.map(UserId::as_str),
                "target_type": e.target_type, "target_id": e.target_id, "ip": e.ip, "user_agent": e.user_agent,
                "details": e.details,
            })
        })
        .collect();
    let rows = serde_json::Value::Array(rows).to_string();
    let sql = match tx.engine() {
        Engine::Sqlite => {
            "INSERT INTO audit_log (id, org_id, action, actor_type, actor_id, actor_email, target_type, target_id,
                                    ip, user_agent, details, created_at)
             SELECT value ->> 'id', value ->> 'org', value ->> 'action', value ->> 'actor_type', value ->> 'actor_id',
                    (SELECT email FROM users WHERE id = value ->> 'actor_user'), value ->> 'target_type',
                    value ->> 'target_id', value ->> 'ip', value ->> 'user_agent', value ->> 'details', ?2
               FROM json_each(?1)
             RETURNING id, n"
        }
        Engine::Postgres => {
            "INSERT INTO audit_log (id, org_id, action, actor_type, actor_id, actor_email, target_type, target_id,
                                    ip, user_agent, details, created_at)
             SELECT t.id, t.org, t.action, t.actor_type, t.actor_id, (SELECT email FROM users WHERE id = t.actor_user),
                    t.target_type, t.target_id, t.ip, t.user_agent, t.details, ?2
               FROM json_to_recordset(CAST(CAST(?1 AS TEXT) AS json))
                 AS t(id text, org text, action text, actor_type text, actor_id text, actor_user text,
                      target_type text, target_id text, ip text, user_agent text, details text)
             RETURNING id, n"
        }
    };
    let made: std::collections::HashMap<String, i64> =
        tx.query_all(sql, &[&rows, &now], |r| Ok((r.get(0)?, r.get(1)?)))?.into_iter().collect();
    ids.iter().map(|id| made.get(id.as_str()).copied().ok_or(DbError::NoRow)).collect()
}

/// The columns an entry is read from (`entry`), in its order.
pub(super) const ENTRY: &str =
    "n, id, org_id, action, actor_type, actor_id, actor_email, target_type, target_id, ip, \
                                user_agent, details, created_at";

pub(super) fn entry(r: &Row) -> DbResult<AuditEntry> {
    Ok(AuditEntry {
        n: r.get(0)?,
        id: r.get(1)?,
        org_id: r.get(2)?,
        action: r.get(3)?,
        actor_type: r.get(4)?,
        actor_id: r.get(5)?,
        actor_email: r.get(6)?,
        target_type: r.get(7)?,
        target_id: r.get(8)?,
        ip: r.get(9)?,
        user_agent: r.get(10)?,
        details: r.get(11)?,
        created_at: r.get(12)?,
    })
}

/// Newest first, before row `before` (a cursor), at most `limit`.
pub fn list(
    conn: &Conn,
    org: &OrgId,
    f: &AuditFilter,
    before: Option<i64>,
    limit: u32,
) -> DbResult<Vec<AuditEntry>> {
    conn.query_all(
        &format!(
            "SELECT {ENTRY}
               FROM audit_log
             WHERE org_id = ?1
               AND (CAST(?2 AS TEXT) IS NULL OR action = CAST(?2 AS TEXT)
                    OR (CAST(?2 AS TEXT) LIKE '%.*' AND action LIKE replace(CAST(?2 AS TEXT), '*', '%')))
               AND (CAST(?3 AS TEXT) IS NULL OR actor_id = CAST(?3 AS TEXT)
                    OR lower(actor_email) = lower(CAST(?3 AS TEXT)))
               AND (CAST(?4 AS TEXT) IS NULL OR target_id = CAST(?4 AS TEXT))
               AND (CAST(?5 AS BIGINT) IS NULL OR created_at >= CAST(?5 AS BIGINT))
               AND (CAST(?6 AS BIGINT) IS NULL OR created_at < CAST(?6 AS BIGINT))
               AND (CAST(?7 AS BIGINT) IS NULL OR n < CAST(?7 AS BIGINT))
             ORDER BY n DESC LIMIT ?8"
        ),
        &[org, &f.action, &f.actor_id, &f.target_id, &f.since, &f.until, &before, &i64::from(limit)],
        entry,
    )
}

/// Oldest first from `since`, after row `after`, at most `limit` (the export walks it in pages).
pub fn export(
    conn: &Conn,
    org: &OrgId,
    since: Option<Millis>,
    after: i64,
    limit: u32,
) -> DbResult<Vec<AuditEntry>> {
    conn.query_all(
        &format!(
            "SELECT {ENTRY} FROM audit_log
              WHERE org_id = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR created_at >= CAST(?2 AS BIGINT)) AND n > ?3
              ORDER BY n LIMIT ?4"
        ),
        &[org, &since, &after, &i64::from(limit)],
        entry,
    )
}

/// Forgets rows older than `before` (AUDIT_RETENTION; the cleanup job); returns how many.
pub fn prune(tx: &Tx, before: Millis) -> DbResult<usize> {
    tx.execute("DELETE FROM audit_log WHERE created_at < ?1", &[&before])
}

/// What people call the targets (and key actors) of some rows, by (type, id): a member's
/// address, a provision's address or label, a key's name and hint, an endpoint's address
/// (without its query, which may hold a token), an organization's name. What is gone keeps its id.
pub fn names(
    conn: &Conn,
    org: &OrgId,
    wanted: &[(String, String)],
) -> DbResult<Vec<((String, String), String)>> {
    let mut out = Vec::new();
    for (kind, sql) in [
        ("user", "SELECT id, COALESCE(email, name, '') FROM users WHERE ?1 = ?1 AND id IN"),
        ("provision", "SELECT id, COALESCE(email, name, external_id, '') FROM provisions WHERE org_id = ?1 AND id IN"),
        ("api_key", "SELECT id, COALESCE(name || ' (' || hint || '…)', hint || '…') FROM api_keys WHERE org_id = ?1 AND id IN"),
        ("webhook", "SELECT id, url FROM webhooks WHERE org_id = ?1 AND id IN"),
        ("organization", "SELECT id, name FROM organizations WHERE ?1 = ?1 AND id IN"),
    ] {
        let mut ids: Vec<&String> = wanted.iter().filter(|(k, _)| k == kind).map(|(_, id)| id).collect();
        ids.sort();
        ids.dedup();
        ids.truncate(200);
        if ids.is_empty() {
            continue;
        }
        let marks: Vec<String> = (0..ids.len()).map(|i| format!("?{}", i + 2)).collect();
        let mut params: Vec<&dyn Param> = vec![org];
        params.extend(ids.iter().map(|id| *id as &dyn Param));
        let rows: Vec<(String, String)> =
            conn.query_all(&format!("{sql} ({})", marks.join(", ")), &params, |r| Ok((r.get(0)?, r.get(1)?)))?;
        for (id, name) in rows {
            let name = if kind == "webhook" { name.split(['?', '#']).next().unwrap_or("").to_string() } else { name };
            if !name.is_empty() {
                out.push(((kind.to_string(), id), name));
            }
        }
    }
    Ok(out)
}
