//! Events: the feed clients poll and the webhooks' outbox (see schema.sql, `events` and
//! `webhook_deliveries`).

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Engine, Row, Tx};
use crate::domain::OrgId;

/// What an event says (its `data`, a JSON object): its own text, or — for an event recorded
/// with an audit row — that row's details with the target's id added (`with_target`), read from
/// the row (`audit_n`) instead of being written twice.
#[derive(Clone, Copy)]
pub enum Data<'a> {
    Own(&'a str),
    OfAudit(i64),
}

impl Data<'_> {
    /// The `data` and `audit_n` columns: '' and the audit row, or the text and NULL.
    fn columns(&self) -> (&str, Option<i64>) {
        match *self {
            Data::Own(text) => (text, None),
            Data::OfAudit(n) => ("", Some(n)),
        }
    }
}

/// An event's data made from its audit row: the details, with the target's id under
/// `<targetType>Id` unless the details name it already (what `service::audit::record` sends).
pub fn with_target(details: Option<&str>, target_type: &str, target_id: &str) -> String {
    let mut data = details
        .and_then(|d| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(d).ok())
        .unwrap_or_default();
    data.entry(target_key(target_type)).or_insert_with(|| serde_json::Value::String(target_id.into()));
    serde_json::Value::Object(data).to_string()
}

/// `api_key` → `apiKeyId`: the name of a target's id in an event's data.
pub fn target_key(target_type: &str) -> String {
    let mut out = String::with_capacity(target_type.len() + 2);
    let mut upper = false;
    for c in target_type.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out + "Id"
}

/// Whether an organization whose enabled endpoints want `wanted` (organizations.webhook_events,
/// see `webhooks::refresh_subscriptions`) has a subscriber for events of type `kind`.
pub(super) fn subscribed(wanted: Option<&str>, kind: &str) -> bool {
    wanted.is_some_and(|w| w.contains(",*,") || w.contains(&format!(",{kind},")))
}

/// Records an event and, in the same transaction, a pending delivery for each enabled endpoint
/// of the organization that wants its type: the outbox, so a change and its deliveries commit
/// or vanish together. Whether any endpoint wants it is read with the insert itself (the
/// organization's `webhook_events`), so an organization without subscribers costs this one
/// statement and writes no delivery row. Returns the event's row number.
pub fn insert(tx: &Tx, id: &str, org: &OrgId, kind: &str, data: Data, now: Millis) -> DbResult<i64> {
    let (text, audit_n) = data.columns();
    let (n, wanted): (i64, Option<String>) = tx.query_one(
        "INSERT INTO events (id, org_id, type, data, created_at, audit_n) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         RETURNING n, (SELECT webhook_events FROM organizations WHERE id = ?2)",
        &[&id, org, &kind, &text, &now, &audit_n],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if subscribed(wanted.as_deref(), kind) {
        // `_` is a LIKE wildcard and event types have it (api_key.created): escaped.
        let pattern = format!("%,{},%", kind.replace('_', "\\_"));
        tx.execute(
            "INSERT INTO webhook_deliveries (webhook_n, event_n, next_at, created_at)
             SELECT n, ?1, ?2, ?2 FROM webhooks
              WHERE org_id = ?3 AND enabled = TRUE AND (events = ',*,' OR events LIKE ?4 ESCAPE '\\')",
            &[&n, &now, org, &pattern],
        )?;
    }
    Ok(n)
}

/// An event for `insert_all`.
pub struct NewEvent<'a> {
    pub id: String,
    pub org: &'a OrgId,
    pub kind: &'a str,
    pub data: Data<'a>,
}

/// `insert` of many events at once (the sweep's): one statement for the events, one to learn
/// which of their organizations have subscribers (all of them at once), and one for the
/// deliveries when any has.
pub fn insert_all(tx: &Tx, events: &[NewEvent], now: Millis) -> DbResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            let (text, audit_n) = e.data.columns();
            serde_json::json!({"id": e.id, "org": e.org.as_str(), "type": e.kind, "data": text, "audit_n": audit_n})
        })
        .collect();
    let rows = serde_json::Value::Array(rows).to_string();
    let sql = match tx.engine() {
        Engine::Sqlite => {
            "INSERT INTO events (id, org_id, type, data, created_at, audit_n)
             SELECT value ->> 'id', value ->> 'org', value ->> 'type', value ->> 'data', ?2, value ->> 'audit_n'
               FROM json_each(?1)
             RETURNING n, org_id, type"
        }
        Engine::Postgres => {
            "INSERT INTO events (id, org_id, type, data, created_at, audit_n)
             SELECT t.id, t.org, t.type, t.data, ?2, t.audit_n
               FROM json_to_recordset(CAST(CAST(?1 AS TEXT) AS json)) AS t(id text, org text, type text, data text, audit_n bigint)
             RETURNING n, org_id, type"
        }
    };
    let made: Vec<(i64, OrgId, String)> =
        tx.query_all(sql, &[&rows, &now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let mut orgs: Vec<&str> = events.iter().map(|e| e.org.as_str()).collect();
    orgs.sort_unstable();
    orgs.dedup();
    // Which of the batch's organizations want what, in one read however many they are.
    let sql = match tx.engine() {
        Engine::Sqlite => {
            "SELECT id, webhook_events FROM organizations WHERE id IN (SELECT value FROM json_each(?1))"
        }
        Engine::Postgres => {
            "SELECT id, webhook_events FROM organizations
              WHERE id IN (SELECT json_array_elements_text(CAST(CAST(?1 AS TEXT) AS json)))"
        }
    };
    let list = serde_json::Value::from(orgs).to_string();
    let wanted: std::collections::HashMap<OrgId, Option<String>> =
        tx.query_all(sql, &[&list], |r| Ok((r.get(0)?, r.get(1)?)))?.into_iter().collect();
    let fan_out: Vec<i64> = made
        .iter()
        .filter(|(_, org, kind)| subscribed(wanted.get(org).and_then(Option::as_deref), kind))
        .map(|(n, _, _)| *n)
        .collect();
    if fan_out.is_empty() {
        return Ok(());
    }
    let list = serde_json::Value::from(fan_out).to_string();
    let sql = match tx.engine() {
        Engine::Sqlite => {
            "INSERT INTO webhook_deliveries (webhook_n, event_n, next_at, created_at)
             SELECT w.n, e.n, ?2, ?2 FROM events e JOIN webhooks w ON w.org_id = e.org_id
              WHERE e.n IN (SELECT value FROM json_each(?1)) AND w.enabled = TRUE
                AND (w.events = ',*,' OR w.events LIKE '%,' || replace(e.type, '_', '\\_') || ',%' ESCAPE '\\')"
        }
        Engine::Postgres => {
            "INSERT INTO webhook_deliveries (webhook_n, event_n, next_at, created_at)
             SELECT w.n, e.n, ?2, ?2 FROM events e JOIN webhooks w ON w.org_id = e.org_id
              WHERE e.n IN (SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST(CAST(?1 AS TEXT) AS json))) AND w.enabled = TRUE
                AND (w.events = ',*,' OR w.events LIKE '%,' || replace(e.type, '_', '\\_') || ',%' ESCAPE '\\')"
        }
    };
    tx.execute(sql, &[&list, &now])?;
    Ok(())
}

pub struct EventRow {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub data: String,
    pub created_at: Millis,
}

/// The data of an event read as `e.data, a.details, a.target_type, a.target_id` from column
/// `at` on, `a` being its audit row (`LEFT JOIN audit_log a ON a.n = e.audit_n`; see `Data`).
fn read_data(r: &Row, at: usize) -> DbResult<String> {
    let data: String = r.get(at)?;
    if !data.is_empty() {
        return Ok(data);
    }
    let details: Option<String> = r.get(at + 1)?;
    let target_type: Option<String> = r.get(at + 2)?;
    let target_id: Option<String> = r.get(at + 3)?;
    Ok(with_target(
        details.as_deref(),
        target_type.as_deref().unwrap_or(""),
        target_id.as_deref().unwrap_or(""),
    ))
}

fn event(r: &Row) -> DbResult<EventRow> {
    Ok(EventRow {
        id: r.get(0)?,
        org_id: r.get(1)?,
        kind: r.get(2)?,
        created_at: r.get(3)?,
        data: read_data(r, 4)?,
    })
}

/// Whether the organization has an event with this id (a feed's `after` must name one).
pub fn exists(conn: &Conn, org: &OrgId, id: &str) -> DbResult<bool> {
    Ok(conn
        .query_opt("SELECT 1 FROM events WHERE org_id = ?1 AND id = ?2", &[org, &id], |_| Ok(()))?
        .is_some())
}

/// The feed: the organization's events after the one with id `after`, oldest first, without
/// the test events sent to one endpoint.
///
/// On PostgreSQL row numbers are taken when a transaction inserts and seen when it commits,
/// which is not the same order: a reader could see event 6, move its cursor past it, and never
/// see event 5 committed a moment later. So there the feed is ordered by (transaction id, n)
/// and holds back the events of transactions newer than the oldest one still running (the
/// snapshot's xmin): once a transaction id is below that horizon, no event can join it. SQLite
/// has one writer, which commits in order of n.
pub fn feed(
    conn: &Conn,
    org: &OrgId,
    after: Option<&str>,
    kind: Option<&str>,
    limit: u32,
) -> DbResult<Vec<EventRow>> {
    let sql = match conn.engine() {
        Engine::Sqlite => {
            "SELECT e.id, e.org_id, e.type, e.created_at, e.data, a.details, a.target_type, a.target_id
               FROM events e LEFT JOIN audit_log a ON a.n = e.audit_n
              WHERE e.org_id = ?1
                AND (CAST(?2 AS TEXT) IS NULL OR e.n > (SELECT n FROM events WHERE id = CAST(?2 AS TEXT)))
                AND (CAST(?3 AS TEXT) IS NULL OR e.type = CAST(?3 AS TEXT)) AND e.type <> 'webhook.test'
              ORDER BY e.n LIMIT ?4"
        }
        Engine::Postgres => {
            "SELECT e.id, e.org_id, e.type, e.created_at, e.data, a.details, a.target_type, a.target_id
               FROM events e LEFT JOIN audit_log a ON a.n = e.audit_n
              WHERE e.org_id = ?1
                AND (CAST(?2 AS TEXT) IS NULL
                     OR (e.xid, e.n) > (SELECT xid, n FROM events WHERE id = CAST(?2 AS TEXT)))
                AND (CAST(?3 AS TEXT) IS NULL OR e.type = CAST(?3 AS TEXT)) AND e.type <> 'webhook.test'
                AND e.xid < pg_snapshot_xmin(pg_current_snapshot())
              ORDER BY e.xid, e.n LIMIT ?4"
        }
    };
    conn.query_all(sql, &[org, &after, &kind, &i64::from(limit)], event)
}

/// Before the audit rows older than `before` are forgotten (AUDIT_RETENTION shorter than the
/// events' 30 days), the events that read their data from those rows get it written out.
pub fn keep_data_of_audit_before(tx: &Tx, before: Millis) -> DbResult<usize> {
    let orphans: Vec<(i64, String)> = tx.query_all(
        "SELECT e.n, e.data, a.details, a.target_type, a.target_id
           FROM events e JOIN audit_log a ON a.n = e.audit_n
          WHERE e.created_at < ?1 AND e.data = '' AND a.created_at < ?1",
        &[&before],
        |r| Ok((r.get(0)?, read_data(r, 1)?)),
    )?;
    for (n, data) in &orphans {
        tx.execute("UPDATE events SET data = ?2, audit_n = NULL WHERE n = ?1", &[n, data])?;
    }
    Ok(orphans.len())
}

/// Forgets events older than `before` that no delivery is still trying to send.
pub fn prune(tx: &Tx, before: Millis) -> DbResult<usize> {
    tx.execute(
        "DELETE FROM events WHERE created_at < ?1
            AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_n = events.n AND d.status = 'pending')",
        &[&before],
    )
}
