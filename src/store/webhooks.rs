//! Webhook endpoints and their deliveries (see schema.sql, `webhooks` and
//! `webhook_deliveries`). Secrets arrive and leave sealed: this module never sees one in the
//! clear.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Engine, Row, Tx};
use crate::domain::Delivery;
use crate::domain::{OrgId, WebhookId};
use std::collections::BTreeSet;

pub struct NewWebhook<'a> {
    pub id: &'a WebhookId,
    pub org: &'a OrgId,
    pub url: &'a str,
    pub events: &'a str,
    pub description: Option<&'a str>,
    pub sealed_secret: &'a [u8],
}

pub fn insert(tx: &Tx, w: &NewWebhook, now: Millis) -> DbResult<()> {
    tx.execute(
        "INSERT INTO webhooks (id, org_id, url, events, description, secret, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        &[w.id, w.org, &w.url, &w.events, &w.description, &w.sealed_secret, &now],
    )?;
    refresh_subscriptions(tx, w.org)
}

/// Writes down, with the organization, which event types its enabled endpoints want
/// (`organizations.webhook_events`: ',type,type,', ',*,' for every type, NULL for none), so
/// that recording an event learns whether to queue deliveries from the insert itself
/// (`events::insert`) instead of asking on every write. Every change to an endpoint's events
/// or whether it is enabled calls this in its transaction. On PostgreSQL the organization's row
/// is locked first, so changes made at once on several replicas recompute one after another,
/// each reading the endpoints as the one before it committed them.
pub fn refresh_subscriptions(tx: &Tx, org: &OrgId) -> DbResult<()> {
    super::orgs::lock_org(tx, org)?;
    let lists: Vec<String> =
        tx.query_all("SELECT events FROM webhooks WHERE org_id = ?1 AND enabled = TRUE", &[org], |r| {
            r.get(0)
        })?;
    tx.execute("UPDATE organizations SET webhook_events = ?2 WHERE id = ?1", &[org, &subscriptions(&lists)])?;
    Ok(())
}

/// The event types a set of endpoints (their `events`, ',a,b,') want, as one such list.
fn subscriptions(lists: &[String]) -> Option<String> {
    let types: BTreeSet<&str> = lists.iter().flat_map(|l| l.split(',')).filter(|t| !t.is_empty()).collect();
    if lists.is_empty() {
        None
    } else if types.contains("*") {
        Some(",*,".into())
    } else {
        Some(types.iter().fold(",".to_string(), |acc, t| acc + t + ","))
    }
}

/// How many endpoints an organization has (they are capped).
pub fn count(conn: &Conn, org: &OrgId) -> DbResult<i64> {
    conn.value("SELECT COUNT(*) FROM webhooks WHERE org_id = ?1", &[org])
}

pub struct WebhookRow {
    pub n: i64,
    pub id: WebhookId,
    pub url: String,
    pub events: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const COLUMNS: &str = "n, id, url, events, description, enabled, disabled_reason, created_at, updated_at";

fn webhook(r: &Row) -> DbResult<WebhookRow> {
    Ok(WebhookRow {
        n: r.get(0)?,
        id: r.get(1)?,
        url: r.get(2)?,
        events: r.get(3)?,
        description: r.get(4)?,
        enabled: r.get(5)?,
        disabled_reason: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

pub fn get(conn: &Conn, org: &OrgId, id: &WebhookId) -> DbResult<Option<WebhookRow>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM webhooks WHERE org_id = ?1 AND id = ?2"),
        &[org, id],
        webhook,
    )
}

/// Newest first, before row `before`.
pub fn list(conn: &Conn, org: &OrgId, before: Option<i64>, limit: u32) -> DbResult<Vec<WebhookRow>> {
    conn.query_all(
        &format!(
            "SELECT {COLUMNS} FROM webhooks WHERE org_id = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR n < CAST(?2 AS BIGINT))
              ORDER BY n DESC LIMIT ?3"
        ),
        &[org, &before, &i64::from(limit)],
        webhook,
    )
}

/// What a PATCH changes; None leaves a field as it is. `description: Some(None)` clears it.
pub struct WebhookChange<'a> {
    pub url: Option<&'a str>,
    pub events: Option<&'a str>,
    pub description: Option<Option<&'a str>>,
    pub enabled: Option<bool>,
}

pub fn update(tx: &Tx, org: &OrgId, id: &WebhookId, c: &WebhookChange, now: Millis) -> DbResult<bool> {
    let (set_description, description) = match c.description {
        Some(d) => (true, d),
        None => (false, None),
    };
    let n = tx.execute(
        "UPDATE webhooks SET
            url = COALESCE(CAST(?3 AS TEXT), url),
            events = COALESCE(CAST(?4 AS TEXT), events),
            description = CASE WHEN ?5 THEN CAST(?6 AS TEXT) ELSE description END,
            enabled = COALESCE(CAST(?7 AS BOOLEAN), enabled),
            disabled_reason = CASE WHEN CAST(?7 AS BOOLEAN) IS NULL THEN disabled_reason ELSE NULL END,
            updated_at = ?8
          WHERE org_id = ?1 AND id = ?2",
        &[org, id, &c.url, &c.events, &set_description, &description, &c.enabled, &now],
    )?;
    if n > 0 && (c.events.is_some() || c.enabled.is_some()) {
        refresh_subscriptions(tx, org)?;
    }
    Ok(n > 0)
}

pub fn delete(tx: &Tx, org: &OrgId, id: &WebhookId) -> DbResult<bool> {
    let gone = tx.execute("DELETE FROM webhooks WHERE org_id = ?1 AND id = ?2", &[org, id])? > 0;
    if gone {
        refresh_subscriptions(tx, org)?;
    }
    Ok(gone)
}

/// A new secret; the current one becomes the previous one, which signs too until `until`.
pub fn rotate_secret(
    tx: &Tx,
    org: &OrgId,
    id: &WebhookId,
    sealed: &[u8],
    until: Millis,
    now: Millis,
) -> DbResult<bool> {
    let n = tx.execute(
        "UPDATE webhooks SET previous_secret = secret, previous_until = ?4, secret = ?3, updated_at = ?5
          WHERE org_id = ?1 AND id = ?2",
        &[org, id, &sealed, &until, &now],
    )?;
    Ok(n > 0)
}

/// A delivery, as the worker needs it: where to, what, and the sealed secrets to sign with.
pub struct Due {
    pub delivery: i64,
    pub webhook: i64,
    /// The endpoint's public id: what its secrets are sealed to.
    pub webhook_id: String,
    pub attempts: i64,
    pub url: String,
    pub event_id: String,
    pub event_type: String,
    pub event_org: String,
    pub event_data: String,
    pub event_at: Millis,
    pub secret: Vec<u8>,
    pub previous_secret: Option<Vec<u8>>,
    pub previous_until: Option<Millis>,
}

/// How many deliveries may be in flight at once (contract part three, "Fair delivery"), on all
/// replicas together.
#[derive(Clone, Copy, Debug)]
pub struct InFlight {
    pub per_endpoint: i64,
    pub per_org: i64,
}

/// Serializes taking across replicas (PostgreSQL): each taker counts what the others hold only
/// once they have committed. Any fixed number unlike the others (src/db/postgres.rs).
const TAKE_LOCK: i64 = 0x7072_6f76_7768;

/// The due deliveries a worker may take at `?1`, in the order to take them, at most `?2`: per
/// endpoint, in order of due time, as many as leave it at most `?3` in flight (`?3` minus the
/// pending rows whose lease still runs); per organization, the endpoints taking turns, as many as
/// leave it at most `?4`; and between organizations round robin: every organization's first
/// place before anyone's second, those with less in flight first (a place is counted after what
/// the organization already has in flight), then the oldest.
/// One SQL for both engines (window functions: SQLite 3.25, PostgreSQL 8.4).
const FAIR_PICK: &str = "
    WITH busy AS (
        SELECT d.webhook_n, w.org_id
          FROM webhook_deliveries d JOIN webhooks w ON w.n = d.webhook_n
         WHERE d.leased_until IS NOT NULL AND d.leased_until > ?1 AND d.status = 'pending'
    ),
    due AS (
        SELECT d.n, d.webhook_n, w.org_id, d.next_at,
               ROW_NUMBER() OVER (PARTITION BY d.webhook_n ORDER BY d.next_at, d.n)
                 + (SELECT COUNT(*) FROM busy b WHERE b.webhook_n = d.webhook_n) AS endpoint_place
          FROM webhook_deliveries d JOIN webhooks w ON w.n = d.webhook_n
         WHERE d.status = 'pending' AND d.next_at <= ?1
    ),
    placed AS (
        SELECT due.n, due.next_at,
               ROW_NUMBER() OVER (PARTITION BY due.org_id ORDER BY due.endpoint_place, due.next_at, due.n)
                 + (SELECT COUNT(*) FROM busy b WHERE b.org_id = due.org_id) AS org_place
          FROM due
         WHERE due.endpoint_place <= ?3
    )
    SELECT n FROM placed WHERE org_place <= ?4 ORDER BY org_place, next_at, n LIMIT ?2";

/// Takes up to `limit` deliveries due at `now`, fairly and within `caps` (`FAIR_PICK`), by
/// moving them to `lease_until`: the lease. A worker that dies holding them leaves them due
/// again, and no longer counted in flight, when it ends; one that finishes records the outcome
/// (`finish`), which ends the lease. On PostgreSQL takers on every replica go one at a time (an
/// advisory lock for the transaction), so what one takes the next counts; rows another
/// transaction is changing right now (an attempt being recorded) are skipped, not waited for.
pub fn take_due(tx: &Tx, now: Millis, lease_until: Millis, limit: u32, caps: InFlight) -> DbResult<Vec<Due>> {
    let sql = match tx.engine() {
        Engine::Sqlite => format!(
            "UPDATE webhook_deliveries SET next_at = ?5, leased_until = ?5
              WHERE n IN ({FAIR_PICK}) AND status = 'pending' AND next_at <= ?1
             RETURNING n, webhook_n, attempts, event_n"
        ),
        Engine::Postgres => {
            tx.execute("SELECT pg_advisory_xact_lock(?1)", &[&TAKE_LOCK])?;
            format!(
                "UPDATE webhook_deliveries SET next_at = ?5, leased_until = ?5
                  WHERE n IN (SELECT n FROM webhook_deliveries WHERE n IN ({FAIR_PICK}) FOR UPDATE SKIP LOCKED)
                    AND status = 'pending' AND next_at <= ?1
                 RETURNING n, webhook_n, attempts, event_n"
            )
        }
    };
    let taken: Vec<(i64, i64, i64, i64)> = tx.query_all(
        &sql,
        &[&now, &i64::from(limit), &caps.per_endpoint, &caps.per_org, &lease_until],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let mut out = Vec::with_capacity(taken.len());
    for (delivery, webhook, attempts, event) in taken {
        let due = tx.query_opt(
            "SELECT w.url, e.id, e.type, e.org_id, e.data, e.created_at, w.secret, w.previous_secret, w.previous_until,
                    w.enabled, w.id, a.details, a.target_type, a.target_id
               FROM webhooks w JOIN events e ON e.n = ?2 LEFT JOIN audit_log a ON a.n = e.audit_n
              WHERE w.n = ?1",
            &[&webhook, &event],
            |r| {
                Ok((
                    Due {
                        delivery,
                        webhook,
                        webhook_id: r.get(10)?,
                        attempts,
                        url: r.get(0)?,
                        event_id: r.get(1)?,
                        event_type: r.get(2)?,
                        event_org: r.get(3)?,
                        event_data: event_data(r)?,
                        event_at: r.get(5)?,
                        secret: r.get(6)?,
                        previous_secret: r.get(7)?,
                        previous_until: r.get(8)?,
                    },
                    r.get::<bool>(9)?,
                ))
            },
        )?;
        match due {
            Some((due, true)) => out.push(due),
            // Its endpoint was disabled after the event: not sent, kept in the log as failed.
            _ => {
                tx.execute(
                    "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint disabled', leased_until = NULL
                      WHERE n = ?1",
                    &[&delivery],
                )?;
            }
        }
    }
    Ok(out)
}

/// An event's data as `take_due` reads it: its own, or made from its audit row (columns 11-13;
/// see `events::Data`).
fn event_data(r: &Row) -> DbResult<String> {
    let data: String = r.get(4)?;
    if !data.is_empty() {
        return Ok(data);
    }
    let (details, target_type, target_id): (Option<String>, Option<String>, Option<String>) =
        (r.get(11)?, r.get(12)?, r.get(13)?);
    Ok(super::events::with_target(
        details.as_deref(),
        target_type.as_deref().unwrap_or(""),
        target_id.as_deref().unwrap_or(""),
    ))
}

/// What one attempt came to.
pub struct Attempt<'a> {
    pub delivery: i64,
    pub status: Option<i64>,
    pub error: Option<&'a str>,
    /// The first bytes of the receiver's answer, if it answered.
    pub response: Option<&'a str>,
    /// Delivered (2xx); else `next_at` says when to try again, or None to give up.
    pub delivered: bool,
    pub next_at: Option<Millis>,
}

pub fn finish(tx: &Tx, a: &Attempt, now: Millis) -> DbResult<()> {
    let status = if a.delivered {
        "delivered"
    } else if a.next_at.is_some() {
        "pending"
    } else {
        "failed"
    };
    tx.execute(
        "UPDATE webhook_deliveries
            SET status = ?2, attempts = attempts + 1, last_status = ?3, last_error = ?4, last_at = ?5,
                next_at = COALESCE(CAST(?6 AS BIGINT), next_at), leased_until = NULL
          WHERE n = ?1",
        &[&a.delivery, &status, &a.status, &a.error, &now, &a.next_at],
    )?;
    // The attempt itself, numbered as the delivery now counts it.
    tx.execute(
        "INSERT INTO webhook_attempts (delivery_n, attempt, at, status, error, response)
         SELECT n, attempts, ?2, ?3, ?4, ?5 FROM webhook_deliveries WHERE n = ?1
         ON CONFLICT (delivery_n, attempt) DO NOTHING",
        &[&a.delivery, &now, &a.status, &a.error, &a.response],
    )?;
    Ok(())
}

/// Turns an endpoint off (a 410 answer); its pending deliveries end as failed.
pub fn disable(tx: &Tx, webhook: i64, reason: &str, now: Millis) -> DbResult<()> {
    let org: Option<OrgId> = tx.query_opt(
        "UPDATE webhooks SET enabled = FALSE, disabled_reason = ?2, updated_at = ?3 WHERE n = ?1 RETURNING org_id",
        &[&webhook, &reason, &now],
        |r| r.get(0),
    )?;
    if let Some(org) = &org {
        refresh_subscriptions(tx, org)?;
    }
    tx.execute(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint disabled', leased_until = NULL
          WHERE webhook_n = ?1 AND status = 'pending'",
        &[&webhook],
    )?;
    Ok(())
}

/// The organization an endpoint (by row) belongs to, and its public id.
pub fn owner(conn: &Conn, webhook: i64) -> DbResult<Option<(OrgId, WebhookId)>> {
    conn.query_opt("SELECT org_id, id FROM webhooks WHERE n = ?1", &[&webhook], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

/// A test event for one endpoint only (its delivery is queued like any other).
pub fn queue_for(
    tx: &Tx,
    webhook: i64,
    event_id: &str,
    org: &OrgId,
    kind: &str,
    data: &str,
    now: Millis,
) -> DbResult<()> {
    let n: i64 = tx.value(
        "INSERT INTO events (id, org_id, type, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING n",
        &[&event_id, org, &kind, &data, &now],
    )?;
    tx.execute(
        "INSERT INTO webhook_deliveries (webhook_n, event_n, next_at, created_at) VALUES (?1, ?2, ?3, ?3)",
        &[&webhook, &n, &now],
    )?;
    Ok(())
}

/// The columns a delivery is read from: `DELIVERY` first in a SELECT.
const DELIVERY: &str =
    "d.n, e.id, e.type, d.status, d.attempts, d.next_at, d.last_status, d.last_error, d.last_at, d.created_at";

fn delivery_of(r: &Row) -> DbResult<Delivery> {
    Ok(Delivery {
        n: r.get(0)?,
        event_id: r.get(1)?,
        event_type: r.get(2)?,
        status: r.get(3)?,
        attempts: r.get(4)?,
        next_at: r.get(5)?,
        last_status: r.get(6)?,
        last_error: r.get(7)?,
        last_at: r.get(8)?,
        created_at: r.get(9)?,
    })
}

/// An endpoint's deliveries, newest first, before row `before`.
pub fn deliveries(conn: &Conn, webhook: i64, before: Option<i64>, limit: u32) -> DbResult<Vec<Delivery>> {
    conn.query_all(
        &format!(
            "SELECT {DELIVERY}
               FROM webhook_deliveries d JOIN events e ON e.n = d.event_n
              WHERE d.webhook_n = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR d.n < CAST(?2 AS BIGINT))
              ORDER BY d.n DESC LIMIT ?3"
        ),
        &[&webhook, &before, &i64::from(limit)],
        delivery_of,
    )
}

/// Whether any delivery is due at `now` that `take_due` would take (one whose endpoint and
/// organization are below their limits): a read, so a worker waiting on busy receivers asks
/// for no write.
pub fn any_due(conn: &Conn, now: Millis, caps: InFlight) -> DbResult<bool> {
    Ok(conn.query_opt(FAIR_PICK, &[&now, &1i64, &caps.per_endpoint, &caps.per_org], |_| Ok(()))?.is_some())
}

/// How many deliveries wait (for metrics and the worker's log).
pub fn pending(conn: &Conn) -> DbResult<i64> {
    conn.value("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'", &[])
}

/// Forgets finished deliveries older than `before`.
pub fn prune(tx: &Tx, before: Millis) -> DbResult<usize> {
    tx.execute("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < ?1", &[&before])
}

/// One attempt of a delivery, as its page shows it.
pub struct AttemptRow {
    pub attempt: i64,
    pub at: Millis,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub response: Option<String>,
}

/// A delivery found: the delivery, when its lease ends, the event's organization and data, and
/// its attempts.
pub type Found = (Delivery, Option<Millis>, String, String, Vec<AttemptRow>);

/// A delivery of an endpoint (by row) by its event's id, with the event as sent (type, org,
/// data, time) and every attempt, oldest first.
pub fn delivery(conn: &Conn, webhook: i64, event_id: &str) -> DbResult<Option<Found>> {
    let found = conn.query_opt(
        &format!(
            "SELECT {DELIVERY}, d.leased_until, e.org_id, e.data
               FROM webhook_deliveries d JOIN events e ON e.n = d.event_n
              WHERE d.webhook_n = ?1 AND e.id = ?2"
        ),
        &[&webhook, &event_id],
        |r| Ok((delivery_of(r)?, r.get::<Option<Millis>>(10)?, r.get::<String>(11)?, r.get::<String>(12)?)),
    )?;
    let Some((d, leased, org, data)) = found else { return Ok(None) };
    let attempts = conn.query_all(
        "SELECT attempt, at, status, error, response FROM webhook_attempts WHERE delivery_n = ?1 ORDER BY attempt",
        &[&d.n],
        |r| {
            Ok(AttemptRow { attempt: r.get(0)?, at: r.get(1)?, status: r.get(2)?, error: r.get(3)?, response: r.get(4)? })
        },
    )?;
    Ok(Some((d, leased, org, data, attempts)))
}

/// Makes a delivery due again at `now`: a new attempt of the same event (the same
/// `webhook-id`), taken by the workers like any other (so within the fair-delivery limits).
/// False when it is being attempted right now (its lease runs).
pub fn resend(tx: &Tx, delivery: i64, now: Millis) -> DbResult<bool> {
    Ok(tx.execute(
        "UPDATE webhook_deliveries SET status = 'pending', next_at = ?2, leased_until = NULL
          WHERE n = ?1 AND NOT (status = 'pending' AND leased_until IS NOT NULL AND leased_until > ?2)",
        &[&delivery, &now],
    )? > 0)
}

/// Each endpoint's deliveries per UTC day (days since the epoch) made since `since`: delivered,
/// and failed (for good, or failed at least once and waiting to be tried again).
pub fn daily(conn: &Conn, org: &OrgId, since: Millis) -> DbResult<Vec<(WebhookId, i64, i64, i64)>> {
    conn.query_all(
        "SELECT w.id, d.created_at / 86400000 AS day,
                CAST(SUM(CASE WHEN d.status = 'delivered' THEN 1 ELSE 0 END) AS BIGINT),
                CAST(SUM(CASE WHEN d.status = 'failed' OR (d.status = 'pending' AND d.attempts > 0) THEN 1 ELSE 0 END) AS BIGINT)
           FROM webhook_deliveries d JOIN webhooks w ON w.n = d.webhook_n
          WHERE w.org_id = ?1 AND d.created_at >= ?2
          GROUP BY w.id, day",
        &[org, &since],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::subscriptions;
    use crate::store::events::subscribed;

    /// The organization's summary says exactly what its enabled endpoints want: nothing for
    /// none, every type for a catch-all, else the union of their lists.
    #[test]
    fn the_summary_of_the_endpoints_is_their_union() {
        assert_eq!(subscriptions(&[]), None);
        let lists =
            [",credits.low,provision.created,".to_string(), ",provision.created,api_key.created,".into()];
        let sum = subscriptions(&lists);
        assert_eq!(sum.as_deref(), Some(",api_key.created,credits.low,provision.created,"));
        for kind in ["api_key.created", "credits.low", "provision.created"] {
            assert!(subscribed(sum.as_deref(), kind), "{kind}");
        }
        // Neither a type nobody named, nor one that only contains a wanted type's text.
        assert!(!subscribed(sum.as_deref(), "provision.expired"));
        assert!(!subscribed(sum.as_deref(), "created"));
        assert!(!subscribed(None, "provision.created"));
        let all = subscriptions(&[",credits.low,".to_string(), ",*,".into()]);
        assert_eq!(all.as_deref(), Some(",*,"));
        assert!(subscribed(all.as_deref(), "provision.expired"));
    }
}
