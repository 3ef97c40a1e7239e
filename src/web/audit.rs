//! The audit log page: who did what in the organization, newest first (admins and owners).
//! Filters by action (chosen from the actions the log records, or a family of them), by actor
//! and by target (an address or an id) and by date range; targets and key actors shown by
//! name (a target links to its own history); export of what the filters select, as NDJSON or
//! CSV, streamed.

use super::viewer::Viewer;
use super::{app_layout, page, time_cell, Nav, WebError};
use crate::domain::{AuditFilter, Cursor, PageRequest};
use crate::http::AppState;
use crate::service::audit::{self, ExportFormat, ACTIONS};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize, Default, Clone)]
pub struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    target: Option<String>,
    /// Days, as a date field sends them (YYYY-MM-DD, UTC): from the start of `from` to the end
    /// of `until`.
    from: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    format: Option<String>,
}

fn bad(m: &str) -> WebError {
    WebError::Status(StatusCode::BAD_REQUEST, m.into())
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

/// The start of a UTC day given as YYYY-MM-DD, in milliseconds.
fn day_start(text: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// The filter a query asks for, checked as the API checks it.
fn filter_of(q: &AuditQuery) -> Result<AuditFilter, WebError> {
    let short = |v: Option<String>| match v {
        Some(t) if t.chars().count() > 200 || t.chars().any(char::is_control) => {
            Err(bad("A filter is at most 200 characters, without control characters."))
        }
        v => Ok(v),
    };
    let action = short(given(&q.action))?;
    if action.as_deref().is_some_and(|a| !ACTIONS.contains(&a) && !families().iter().any(|(f, _)| f == a)) {
        return Err(bad("That is not an action the log records; choose one from the list."));
    }
    let date = |v: &Option<String>, what: &str| -> Result<Option<i64>, WebError> {
        match given(v) {
            None => Ok(None),
            Some(t) => day_start(&t)
                .map(Some)
                .ok_or_else(|| bad(&format!("The {what} date must be a day, like 2026-11-29."))),
        }
    };
    Ok(AuditFilter {
        action,
        actor_id: short(given(&q.actor))?,
        target_id: short(given(&q.target))?,
        since: date(&q.from, "first")?,
        until: date(&q.until, "last")?.map(|d| d + 86_400_000),
    })
}

/// The families of actions ("member.*"), each with its words.
fn families() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for a in ACTIONS {
        let family = a.split('.').next().unwrap_or(a);
        let key = format!("{family}.*");
        if !out.iter().any(|(k, _)| *k == key) {
            out.push((key, format!("Every {} action", family.replace('_', " "))));
        }
    }
    out
}

/// The filters of a query as a link's query string (for the pager and the export links).
fn filters_link(q: &AuditQuery) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("action", &q.action),
        ("actor", &q.actor),
        ("target", &q.target),
        ("from", &q.from),
        ("until", &q.until),
    ] {
        if let Some(v) = given(v) {
            s.append_pair(k, &v);
        }
    }
    s.finish()
}

pub async fn log(
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, WebError> {
    let filter = filter_of(&query)?;
    let after = match query.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            Cursor::parse(c).ok_or_else(|| bad("That page link is broken; start from the first page."))?,
        ),
    };
    let (rows, names) =
        audit::list_named(&state.ctx, viewer.actor(), filter, PageRequest { limit: 100, after }).await?;
    let members = crate::service::team::active_members(&state.ctx, viewer.actor(), 200).await?;
    let now = state.ctx.now();
    let q = &query;
    let link = filters_link(q);
    let name = |kind: &str, id: &str| names.get(&(kind.to_string(), id.to_string())).cloned();
    let action = given(&q.action).unwrap_or_default();
    let body = html! {
        section.card {
            h1 { "Audit log" }
            p.muted { "Every change in this organization, newest first: by whom, from where, to what." }
            form.search method="get" action="/team/audit" role="search" aria-label="Filter the audit log" {
                div.filters {
                    div {
                        label for="audit-action" { "Action" }
                        select #audit-action name="action" {
                            option value="" selected[action.is_empty()] { "Every action" }
                            optgroup label="Families" {
                                @for (key, words) in families() { option value=(key) selected[action == key] { (words) } }
                            }
                            optgroup label="Actions" {
                                @for a in ACTIONS { option value=(a) selected[action == *a] { (a) } }
                            }
                        }
                    }
                    div {
                        label for="audit-actor" { "By (address or id)" }
                        input #audit-actor type="text" name="actor" list="audit-people" value=(given(&q.actor).unwrap_or_default()) maxlength="200";
                    }
                    div {
                        label for="audit-target" { "To (address or id)" }
                        input #audit-target type="text" name="target" list="audit-people" value=(given(&q.target).unwrap_or_default()) maxlength="200";
                    }
                    div {
                        label for="audit-from" { "From (UTC)" }
                        input #audit-from type="date" name="from" value=(given(&q.from).unwrap_or_default());
                    }
                    div {
                        label for="audit-until" { "Until (UTC)" }
                        input #audit-until type="date" name="until" value=(given(&q.until).unwrap_or_default());
                    }
                    div.row {
                        button.secondary #audit-filter type="submit" { "Filter" }
                        @if !link.is_empty() { a #audit-clear href="/team/audit" { "Clear" } }
                    }
                }
                datalist #audit-people {
                    @for m in &members { @if let Some(e) = &m.email { option value=(e) {} } }
                }
            }
            p.row {
                "Export what is shown: "
                a #export-ndjson href={ "/team/audit/export?format=ndjson" @if !link.is_empty() { "&" (link) } } download { "NDJSON" }
                a #export-csv href={ "/team/audit/export?format=csv" @if !link.is_empty() { "&" (link) } } download { "CSV" }
            }
            @if rows.items.is_empty() {
                p.muted #audit-empty { @if link.is_empty() { "Nothing recorded yet." } @else { "Nothing matches these filters." } }
            } @else {
                table.stack #audit {
                    thead { tr { th { "When" } th { "Action" } th { "By" } th { "Target" } th { "From" } } }
                    tbody {
                        @for e in &rows.items {
                            tr {
                                td data-label="When" { (time_cell(now, e.created_at)) }
                                td data-label="Action" { code { (e.action) } }
                                td data-label="By" {
                                    @match (e.actor_type.as_str(), &e.actor_email) {
                                        ("api_key", email) => {
                                            (email.clone().unwrap_or_else(|| "someone".into()))
                                            " " span.muted { "(key " (e.actor_id.as_deref().and_then(|id| name("api_key", id)).unwrap_or_else(|| "since deleted".into())) ")" }
                                        }
                                        (_, Some(email)) => { (email) }
                                        ("system", None) => { span.muted { "provisiond" } }
                                        ("operator", None) => { span.muted { "an operator (command line)" } }
                                        (kind, None) => { span.muted { (kind) } }
                                    }
                                }
                                td data-label="Target" {
                                    @let named = name(&e.target_type, &e.target_id);
                                    a.target href={ "/team/audit?target=" (url::form_urlencoded::byte_serialize(e.target_id.as_bytes()).collect::<String>()) } title={ "Every change to this " (e.target_type.replace('_', " ")) } {
                                        @if let Some(n) = named { (n) } @else { code.id { (e.target_id) } }
                                    }
                                    " " span.muted { "(" (e.target_type.replace('_', " ")) ")" }
                                }
                                td data-label="From" { (e.ip.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = &rows.next {
                nav.pager aria-label="Pages" {
                    a #audit-next href={ "/team/audit?cursor=" (next.encode()) @if !link.is_empty() { "&" (link) } } { "Older entries" }
                }
            }
        }
    };
    Ok(page(StatusCode::OK, app_layout("Audit log", &viewer, Nav::Audit, body)))
}

/// The export the page's links ask for: the same filters, streamed in pages.
pub async fn export(
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, WebError> {
    let format =
        ExportFormat::parse(query.format.as_deref()).ok_or_else(|| bad("Export as ndjson or csv."))?;
    let filter = filter_of(&query)?;
    let actor = viewer.actor();
    let first = audit::export_chunk(&state.ctx, actor.clone(), filter.clone(), format, None).await?;
    Ok(crate::http::export::audit_log(state.ctx.clone(), actor, filter, format, first))
}
