//! `/v1/events`: the organization's events, oldest first, for polling.

use super::auth::Authed;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::service::{audit, events, Actor};
use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// Only events of this type.
    #[param(value_type = String, required = false)]
    r#type: Option<String>,
    /// The id of the last event seen: the page starts after it.
    #[param(value_type = String, required = false)]
    after: Option<String>,
    #[param(value_type = u32, required = false, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventList {
    /// Oldest first: `{"id": "evt_…", "type", "timestamp", "organizationId", "data"}`.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
    /// When the page was full, the id to pass as `after` for the next; null when there is
    /// nothing more yet (poll again later with the last event's id).
    pub next_cursor: Option<String>,
}

#[utoipa::path(tag = "events", params(EventsQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "Events after `after`, oldest first.", body = EventList),
        (status = 400, body = crate::http::error::ErrorBody), (status = 403, body = crate::http::error::ErrorBody)))]
#[get("/v1/events")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Authed,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = crate::http::paging::page_request(query.limit.as_deref(), None)?.limit;
    let after = match query.after.as_deref() {
        None => None,
        Some(a)
            if a.len() <= 64
                && a.starts_with("evt_")
                && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            Some(a.to_string())
        }
        Some(_) => return Err(ApiError::invalid_field("'after' must be an event id, e.g. evt_3f2a…")),
    };
    let kind = query.r#type.clone();
    let feed = events::feed(&state.ctx, Actor::key(caller.0), after, kind, limit).await?;
    let events = feed
        .events
        .iter()
        .map(|e| audit::event_json(&e.id, &e.kind, e.created_at, &e.org_id, &e.data))
        .collect();
    Ok(HttpResponse::Ok().json(EventList { events, next_cursor: feed.next }))
}
