//! The record of every change: an audit row for people and an event for machines (the events
//! feed and the webhooks' outbox), both written by `record` inside the transaction of the change
//! itself, so a crash can leave neither a change without its record nor a record of a change
//! that never happened. Also the audit log's list and export.

use super::authority::{authorize, principal, Act};
use super::{Actor, Ctx};
use crate::clock::Millis;
use crate::db::{DbResult, Tx};
use crate::domain::{AuditEntry, AuditFilter};
use crate::domain::{Cursor, EventType, OrgId, Page, PageRequest};
use crate::error::{Error, Result};
use crate::store;
use serde_json::{Map, Value};

// A record's author, which `authority` makes from a grant (its own file, so that neither needs
// the other).
pub use super::author::{By, Origin};

/// One change to record.
pub struct Change<'a> {
    pub org: &'a OrgId,
    pub action: Action,
    pub target: (&'static str, String),
    /// What else says what changed: the event's `data` and the audit row's `details`. Never a
    /// secret: ids, names, roles, amounts.
    pub data: Map<String, Value>,
}

/// What a change was: one of the contract's event types (recorded as an event too), or an
/// action only the audit log keeps (endpoint management, limits, ...).
#[derive(Clone, Copy, Debug)]
pub enum Action {
    Event(EventType),
    Only(&'static str),
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Event(t) => t.as_str(),
            Action::Only(a) => a,
        }
    }
}

/// A new event id: `evt_` and 32 hex digits (a UUID's randomness).
pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::new_v4().simple())
}

/// An event as the feed and the webhooks send it.
pub fn event_json(id: &str, kind: &str, at: Millis, org: &str, data: &str) -> Value {
    let data: Value = serde_json::from_str(data).unwrap_or(Value::Object(Map::new()));
    serde_json::json!({
        "id": id,
        "type": kind,
        "timestamp": crate::clock::format(at),
        "organizationId": org,
        "data": data,
    })
}

/// Writes the audit row (and, for an event type, the event and its deliveries) in `tx`. The
/// event's data is the audit row's details with the target's id added; it is read from the
/// audit row rather than written twice (see `store::events::Data`).
pub fn record(tx: &Tx, by: &By, change: Change, now: Millis) -> DbResult<()> {
    let (target_type, target_id) = (change.target.0, change.target.1.as_str());
    let details = (!change.data.is_empty()).then(|| Value::Object(change.data).to_string());
    let audit_n = store::audit::insert(
        tx,
        &entry_of(by, change.org, change.action, target_type, target_id, details.as_deref()),
        now,
    )?;
    if let Action::Event(kind) = change.action {
        let data = store::events::Data::OfAudit(audit_n);
        store::events::insert(tx, &new_event_id(), change.org, kind.as_str(), data, now)?;
    }
    Ok(())
}

fn entry_of<'a>(
    by: &'a By,
    org: &'a OrgId,
    action: Action,
    target_type: &'a str,
    target_id: &'a str,
    details: Option<&'a str>,
) -> store::audit::NewEntry<'a> {
    store::audit::NewEntry {
        org,
        action: action.as_str(),
        actor_type: by.kind,
        actor_id: by.id.as_deref(),
        actor_user: by.user.as_ref(),
        target_type,
        target_id,
        ip: by.origin.ip.as_deref(),
        user_agent: by.origin.user_agent.as_deref(),
        details,
    }
}

/// `record` of many changes by one author at once (the sweep's): the same rows, written with
/// one statement per table rather than three per change.
pub fn record_all(tx: &Tx, by: &By, changes: Vec<Change>, now: Millis) -> DbResult<()> {
    let details: Vec<Option<String>> = changes
        .iter()
        .map(|c| (!c.data.is_empty()).then(|| Value::Object(c.data.clone()).to_string()))
        .collect();
    let entries: Vec<store::audit::NewEntry> = changes
        .iter()
        .zip(&details)
        .map(|(c, d)| entry_of(by, c.org, c.action, c.target.0, &c.target.1, d.as_deref()))
        .collect();
    let audit_ns = store::audit::insert_all(tx, &entries, now)?;
    let events: Vec<store::events::NewEvent> = changes
        .iter()
        .zip(audit_ns)
        .filter_map(|(c, n)| match c.action {
            Action::Event(kind) => Some(store::events::NewEvent {
                id: new_event_id(),
                org: c.org,
                kind: kind.as_str(),
                data: store::events::Data::OfAudit(n),
            }),
            Action::Only(_) => None,
        })
        .collect();
    store::events::insert_all(tx, &events, now)
}

/// `record` of a change that is one of the contract's event types.
pub fn event(
    tx: &Tx,
    by: &By,
    org: &OrgId,
    kind: EventType,
    target: (&'static str, String),
    data: Map<String, Value>,
    now: Millis,
) -> DbResult<()> {
    record(tx, by, Change { org, action: Action::Event(kind), target, data }, now)
}

/// `record` of a change only the audit log keeps.
pub fn only(
    tx: &Tx,
    by: &By,
    org: &OrgId,
    action: &'static str,
    target: (&'static str, String),
    data: Map<String, Value>,
    now: Millis,
) -> DbResult<()> {
    record(tx, by, Change { org, action: Action::Only(action), target, data }, now)
}

/// `data` from pairs, for `Change`.
pub fn data<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The audit log of the actor's organization, newest first (admins and owners).
pub async fn list(
    ctx: &Ctx,
    actor: Actor,
    filter: AuditFilter,
    page: PageRequest,
) -> Result<Page<AuditEntry>> {
    let limit = page.limit;
    let before = match &page.after {
        None => None,
        Some(c) => Some(c.number(0, 1).ok_or(Error::InvalidCursor)?),
    };
    ctx.db
        .read(move |c| {
            let grant = authorize(&principal(c, &actor)?, Act::ReadAudit)?;
            let rows = store::audit::list(c, &grant.org, &filter, before, limit + 1)?;
            Ok(Page::from_rows(rows, limit, |e| Cursor::new(vec![e.n.to_string()])))
        })
        .await
}

/// Every row of an organization (given as its id, domain or name) from `since`, oldest first,
/// handed to `each` in order: the command line's NDJSON export. Reads in pages, so an export of
/// millions of rows holds one page in memory.
pub fn export(
    ctx: &Ctx,
    org: &str,
    since: Option<Millis>,
    mut each: impl FnMut(&AuditEntry) -> std::io::Result<()>,
) -> Result<u64> {
    let org = org.to_string();
    let org = ctx.db.read_blocking(move |c| super::resolve_org(c, &org))?;
    let (mut after, mut total) = (0i64, 0u64);
    loop {
        let o = org.clone();
        let rows = ctx
            .db
            .read_blocking(move |c| Ok::<_, Error>(store::audit::export(c, &o, since, after, 1000)?))?;
        let Some(last) = rows.last() else { return Ok(total) };
        after = last.n;
        for row in &rows {
            each(row).map_err(|e| Error::Internal(format!("writing the export failed: {e}")))?;
            total += 1;
        }
    }
}

/// The audit rows older than the retention period (the cleanup job). Events still kept that
/// read their data from those rows get it written out first.
pub(super) fn prune(tx: &Tx, now: Millis, retention_ms: Millis) -> Result<usize> {
    let before = now.saturating_sub(retention_ms);
    store::events::keep_data_of_audit_before(tx, before)?;
    Ok(store::audit::prune(tx, before)?)
}

/// An entry as the API shows it (contract, Audit log).
pub fn entry_json(e: &AuditEntry) -> Value {
    let mut actor = Map::new();
    actor.insert("type".into(), Value::String(e.actor_type.clone()));
    actor.insert("id".into(), e.actor_id.clone().map_or(Value::Null, Value::String));
    if let Some(email) = &e.actor_email {
        actor.insert("email".into(), Value::String(email.clone()));
    }
    let mut out = Map::new();
    out.insert("id".into(), Value::String(e.id.clone()));
    out.insert("action".into(), Value::String(e.action.clone()));
    out.insert("actor".into(), Value::Object(actor));
    out.insert("target".into(), serde_json::json!({"type": e.target_type, "id": e.target_id}));
    if let Some(ip) = &e.ip {
        out.insert("ip".into(), Value::String(ip.clone()));
    }
    if let Some(ua) = &e.user_agent {
        out.insert("userAgent".into(), Value::String(ua.clone()));
    }
    if let Some(d) = e.details.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()) {
        out.insert("details".into(), d);
    }
    out.insert("createdAt".into(), Value::String(crate::clock::format(e.created_at)));
    out.insert("organizationId".into(), Value::String(e.org_id.clone()));
    Value::Object(out)
}
