//! `/v1/audit-logs`: who did what in the caller's organization (admins and owners).

use super::auth::Authed;
use crate::domain::AuditFilter;
use crate::http::error::ApiError;
use crate::http::paging::{next_cursor, PageQuery, Paged};
use crate::http::AppState;
use crate::service::{audit, Actor};
use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct AuditQuery {
    /// Only this action, e.g. `provision.created`, `member.updated`, `webhook.created`; or a
    /// family of them, `member.*`.
    #[param(value_type = String, required = false)]
    action: Option<String>,
    /// Only changes by this actor: a user id, an API key id, or the acting person's address.
    #[param(value_type = String, required = false)]
    actor_id: Option<String>,
    /// Only changes to this object: its id, or a person's address.
    #[param(value_type = String, required = false)]
    target_id: Option<String>,
    /// From this time on (RFC 3339).
    #[param(value_type = String, required = false)]
    since: Option<String>,
    /// Before this time (RFC 3339).
    #[param(value_type = String, required = false)]
    until: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditList {
    /// Newest first. Each: `id`, `action`, `actor` {`type`, `id`, `email`?}, `target` {`type`,
    /// `id`}, `ip`?, `userAgent`?, `details`?, `createdAt`.
    #[schema(value_type = Vec<Object>)]
    pub audit_logs: Vec<serde_json::Value>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// An RFC 3339 time from a query, in milliseconds.
fn time_param(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) => {
            chrono::DateTime::parse_from_rfc3339(v).map(|t| Some(t.timestamp_millis())).map_err(|_| {
                ApiError::invalid_field(format!(
                    "'{name}' must be an RFC 3339 time, e.g. 2026-11-29T20:15:03.123Z."
                ))
            })
        }
    }
}

/// A short text filter: at most 200 characters, no control characters.
fn text_param(name: &str, value: &Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.chars().count() > 200 || v.chars().any(char::is_control) => {
            Err(ApiError::invalid_field(format!(
                "'{name}' must be at most 200 characters with no control characters."
            )))
        }
        v => Ok(v.clone()),
    }
}

fn filter_of(query: &AuditQuery) -> Result<AuditFilter, ApiError> {
    Ok(AuditFilter {
        action: text_param("action", &query.action)?,
        actor_id: text_param("actorId", &query.actor_id)?,
        target_id: text_param("targetId", &query.target_id)?,
        since: time_param("since", query.since.as_deref())?,
        until: time_param("until", query.until.as_deref())?,
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ExportQuery {
    /// `ndjson` (the default: one entry a line, as the list shows it) or `csv`.
    #[param(value_type = String, required = false, pattern = "^(ndjson|csv)$")]
    format: Option<String>,
}

#[utoipa::path(tag = "audit", params(AuditQuery, ExportQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The organization's audit log with the list's filters, newest first, streamed in pages: NDJSON (each line an entry as the list shows it) or CSV (a header, then one entry a line; `details` as JSON text; a field that would read as a formula is prefixed with `'`).",
            content((String = "application/x-ndjson"), (String = "text/csv"))),
        (status = 400, body = crate::http::error::ErrorBody), (status = 403, body = crate::http::error::ErrorBody)))]
#[get("/v1/audit-logs/export")]
pub async fn export(
    state: web::Data<AppState>,
    caller: Authed,
    query: web::Query<AuditQuery>,
    export: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = audit::ExportFormat::parse(export.format.as_deref())
        .ok_or_else(|| ApiError::invalid_field("'format' must be ndjson or csv."))?;
    let filter = filter_of(&query)?;
    let actor = Actor::key(caller.0);
    let first = audit::export_chunk(&state.ctx, actor.clone(), filter.clone(), format, None).await?;
    Ok(crate::http::export::audit_log(state.ctx.clone(), actor, filter, format, first))
}

#[utoipa::path(tag = "audit", params(AuditQuery, PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The organization's audit log, newest first.", body = AuditList),
        (status = 400, body = crate::http::error::ErrorBody), (status = 403, body = crate::http::error::ErrorBody)))]
#[get("/v1/audit-logs")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Authed,
    query: web::Query<AuditQuery>,
    Paged(page): Paged,
) -> Result<HttpResponse, ApiError> {
    let filter = filter_of(&query)?;
    let page = audit::list(&state.ctx, Actor::key(caller.0), filter, page).await?;
    let next_cursor = next_cursor(&page);
    Ok(HttpResponse::Ok()
        .json(AuditList { audit_logs: page.items.iter().map(audit::entry_json).collect(), next_cursor }))
}
