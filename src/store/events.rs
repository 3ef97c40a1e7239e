//! Events: the feed clients poll and the webhooks' outbox (see schema.sql, `events` and
//! `webhook_deliveries`).

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Engine, Row, Tx};
use crate::domain::OrgId;

/// Records an event and, in the same transaction, a pending delivery for each enabled endpoint
/// of the organization that wants its type: the outbox, so a change and its deliveries commit
/// or vanish together.
pub fn insert(tx: &Tx, id: &str, org: &OrgId, kind: &str, data: &str, now: Millis) -> DbResult<()> {
    let n: i64 = tx.value(
        "INSERT INTO events (id, org_id, type, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING n",
        &[&id, org, &kind, &data, &now],
    )?;
    // `_` is a LIKE wildcard and event types have it (api_key.created): escaped.
    let pattern = format!("%,{},%", kind.replace('_', "\\_"));
    tx.execute(
        "INSERT INTO webhook_deliveries (webhook_n, event_n, next_at, created_at)
         SELECT n, ?1, ?2, ?2 FROM webhooks
          WHERE org_id = ?3 AND enabled = TRUE AND (events = ',*,' OR events LIKE ?4 ESCAPE '\\')",
        &[&n, &now, org, &pattern],
    )?;
    Ok(())
}

pub struct EventRow {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub data: String,
    pub created_at: Millis,
}

fn event(r: &Row) -> DbResult<EventRow> {
    Ok(EventRow { id: r.get(0)?, org_id: r.get(1)?, kind: r.get(2)?, data: r.get(3)?, created_at: r.get(4)? })
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
            "SELECT id, org_id, type, data, created_at FROM events
              WHERE org_id = ?1
                AND (CAST(?2 AS TEXT) IS NULL OR n > (SELECT n FROM events WHERE id = CAST(?2 AS TEXT)))
                AND (CAST(?3 AS TEXT) IS NULL OR type = CAST(?3 AS TEXT)) AND type <> 'webhook.test'
              ORDER BY n LIMIT ?4"
        }
        Engine::Postgres => {
            "SELECT id, org_id, type, data, created_at FROM events
              WHERE org_id = ?1
                AND (CAST(?2 AS TEXT) IS NULL
                     OR (xid, n) > (SELECT xid, n FROM events WHERE id = CAST(?2 AS TEXT)))
                AND (CAST(?3 AS TEXT) IS NULL OR type = CAST(?3 AS TEXT)) AND type <> 'webhook.test'
                AND xid < pg_snapshot_xmin(pg_current_snapshot())
              ORDER BY xid, n LIMIT ?4"
        }
    };
    conn.query_all(sql, &[org, &after, &kind, &i64::from(limit)], event)
}

/// Forgets events older than `before` that no delivery is still trying to send.
pub fn prune(tx: &Tx, before: Millis) -> DbResult<usize> {
    tx.execute(
        "DELETE FROM events WHERE created_at < ?1
            AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_n = events.n AND d.status = 'pending')",
        &[&before],
    )
}
