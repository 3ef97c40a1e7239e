//! `/v1/audit-logs`: who did what in the caller's organization (admins and owners).

use super::auth::Authed;
use crate::domain::AuditFilter;
use crate::http::error::ApiError;
use crate::http::paging::{next_cursor, PageQuery};
use crate::http::AppState;
use crate::service::{audit, Actor};
use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct AuditQuery {
    /// Only this action, e.g. `provision.created`, `member.updated`, `webhook.created`.
    #[param(value_type = String, required = false)]
    action: Option<String>,
    /// Only changes by this actor (a user id or an API key id).
    #[param(value_type = String, required = false)]
    actor_id: Option<String>,
    /// Only changes to this object (its id).
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

#[utoipa::path(tag = "audit", params(AuditQuery, PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The organization's audit log, newest first.", body = AuditList),
        (status = 400, body = crate::http::error::ErrorBody), (status = 403, body = crate::http::error::ErrorBody)))]
#[get("/v1/audit-logs")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Authed,
    query: web::Query<AuditQuery>,
    paging: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = paging.request()?;
    let filter = AuditFilter {
        action: text_param("action", &query.action)?,
        actor_id: text_param("actorId", &query.actor_id)?,
        target_id: text_param("targetId", &query.target_id)?,
        since: time_param("since", query.since.as_deref())?,
        until: time_param("until", query.until.as_deref())?,
    };
    let page = audit::list(&state.ctx, Actor::key(caller.0), filter, page).await?;
    let next_cursor = next_cursor(&page);
    Ok(HttpResponse::Ok()
        .json(AuditList { audit_logs: page.items.iter().map(audit::entry_json).collect(), next_cursor }))
}
