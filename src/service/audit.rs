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

/// Every action the audit log records: the event types, and the changes only the log keeps. The
/// audit page's filter offers these (a test below holds the list to the code that records).
pub const ACTIONS: &[&str] = &[
    "provision.created",
    "provision.claimed",
    "provision.cancelled",
    "provision.expired",
    "provision.link_renewed",
    "user.created",
    "member.updated",
    "member.removed",
    "api_key.created",
    "api_key.revoked",
    "api_key.rotated",
    "credits.granted",
    "credits.low",
    "credits.depleted",
    "credits.limit_set",
    "agent.created",
    "agent.deleted",
    "organization.created",
    "organization.domain_set",
    "webhook.created",
    "webhook.updated",
    "webhook.deleted",
    "webhook.disabled",
    "webhook.secret_rotated",
    "webhook.tested",
    "webhook.delivery_resent",
    "scim.group_created",
    "scim.group_updated",
    "scim.group_deleted",
    "scim.settings_updated",
];

/// What a filter's target names: an id as it is, or an address as the id of the person with it
/// (an address nobody has matches nothing). An actor's address is matched as recorded.
fn resolve_person(c: &crate::db::Conn, text: Option<String>) -> Result<Option<String>> {
    match text {
        Some(t) if t.contains('@') => {
            Ok(Some(store::users::user_id_by_email(c, &t.to_ascii_lowercase())?.map_or(t, |u| u.to_string())))
        }
        t => Ok(t),
    }
}

/// A page of the log with the names of its targets and key actors (by (type, id); see
/// `store::audit::names`): the audit page.
pub async fn list_named(
    ctx: &Ctx,
    actor: Actor,
    filter: AuditFilter,
    page: PageRequest,
) -> Result<(Page<AuditEntry>, std::collections::HashMap<(String, String), String>)> {
    let rows = list(ctx, actor.clone(), filter, page).await?;
    let mut wanted: Vec<(String, String)> =
        rows.items.iter().map(|e| (e.target_type.clone(), e.target_id.clone())).collect();
    wanted.extend(
        rows.items
            .iter()
            .filter(|e| e.actor_type == "api_key")
            .filter_map(|e| e.actor_id.clone().map(|id| ("api_key".to_string(), id))),
    );
    let names = ctx
        .db
        .read(move |c| {
            let grant = authorize(&principal(c, &actor)?, Act::ReadAudit)?;
            Ok::<_, Error>(store::audit::names(c, &grant.org, &wanted)?)
        })
        .await?;
    Ok((rows, names.into_iter().collect()))
}

/// The formats of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Ndjson,
    Csv,
}

impl ExportFormat {
    pub fn parse(s: Option<&str>) -> Option<ExportFormat> {
        match s {
            None | Some("ndjson") => Some(ExportFormat::Ndjson),
            Some("csv") => Some(ExportFormat::Csv),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Csv => "csv",
        }
    }
}

const CSV_HEADER: &str =
    "id,createdAt,action,actorType,actorId,actorEmail,targetType,targetId,ip,userAgent,details\r\n";

/// One CSV field: quoted when it holds a comma, quote or line break; a field a spreadsheet would
/// take for a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with `'`, so opening an
/// export never runs what someone typed into a User-Agent.
fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{v}") } else { v.to_string() };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

fn csv_line(e: &AuditEntry) -> String {
    let fields = [
        e.id.as_str(),
        &crate::clock::format(e.created_at),
        &e.action,
        &e.actor_type,
        e.actor_id.as_deref().unwrap_or(""),
        e.actor_email.as_deref().unwrap_or(""),
        &e.target_type,
        &e.target_id,
        e.ip.as_deref().unwrap_or(""),
        e.user_agent.as_deref().unwrap_or(""),
        e.details.as_deref().unwrap_or(""),
    ];
    let mut line = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// Rows an export reads per page.
const EXPORT_PAGE: u32 = 1000;

/// One page of an export of the log (newest first, as the list), written out: NDJSON (one entry
/// a line, as the API shows it) or CSV (the header before the first page). Where the next page
/// starts, None after the last. Each page asks the authority rule again, so an export stops
/// when the credential stops.
pub async fn export_chunk(
    ctx: &Ctx,
    actor: Actor,
    filter: AuditFilter,
    format: ExportFormat,
    after: Option<Cursor>,
) -> Result<(String, Option<Cursor>)> {
    let first = after.is_none();
    let rows = list(ctx, actor, filter, PageRequest { limit: EXPORT_PAGE, after }).await?;
    let mut out = String::new();
    if first && format == ExportFormat::Csv {
        out.push_str(CSV_HEADER);
    }
    for e in &rows.items {
        match format {
            ExportFormat::Ndjson => {
                out.push_str(&entry_json(e).to_string());
                out.push('\n');
            }
            ExportFormat::Csv => out.push_str(&csv_line(e)),
        }
    }
    Ok((out, rows.next))
}

/// The audit log of the actor's organization, newest first (admins and owners).
pub async fn list(
    ctx: &Ctx,
    actor: Actor,
    filter: AuditFilter,
    page: PageRequest,
) -> Result<Page<AuditEntry>> {
    let limit = page.limit;
    let before = super::row_cursor(&page)?;
    ctx.db
        .read(move |c| {
            let grant = authorize(&principal(c, &actor)?, Act::ReadAudit)?;
            let filter = AuditFilter { target_id: resolve_person(c, filter.target_id.clone())?, ..filter };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action the code records is one the audit page's filter offers.
    #[test]
    fn every_recorded_action_is_listed() {
        for t in crate::domain::EventType::ALL {
            assert!(ACTIONS.contains(&t.as_str()), "{}", t.as_str());
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/service");
        let mut found = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let mut rest = text.as_str();
            // `Action::Only("x.y")`, `audit::only(tx, by, org, "x.y", …` and webhooks'
            // `record(tx, who.by(), &who.org, "x.y", …`.
            while let Some(at) = rest.find('"') {
                rest = &rest[at + 1..];
                let Some(end) = rest.find('"') else { break };
                let word = &rest[..end];
                rest = &rest[end + 1..];
                let looks = word.split_once('.').is_some_and(|(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && word.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
                });
                let before = &text[..text.len() - rest.len()];
                let context = &before[before.len().saturating_sub(200)..];
                if looks
                    && word != "x.y"
                    && (context.contains("Action::Only(")
                        || context.contains("only(")
                        || context.contains("record(tx, by")
                        || context.contains("record(tx, who.by()"))
                {
                    found += 1;
                    assert!(
                        ACTIONS.contains(&word) || word == "webhook.test",
                        "{word} is recorded but not in ACTIONS"
                    );
                }
            }
        }
        assert!(found >= 5, "the scan finds the recorded actions ({found})");
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("@sum"), "'@sum");
    }
}
