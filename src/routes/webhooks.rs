//! `/v1/webhooks`: endpoints that receive the organization's events (admins and owners).

use super::auth::Authed;
use crate::clock;
use crate::domain::Delivery;
use crate::domain::EventFilter;
use crate::http::error::ApiError;
use crate::http::json::{present, Body};
use crate::http::paging::{next_cursor, PageQuery, Paged};
use crate::http::schema::EventName;
use crate::http::AppState;
use crate::service::webhooks::{self, Created, Endpoint, WebhookInput};
use crate::service::Actor;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    /// Event types, or `["*"]` for every type.
    pub events: Vec<&'static str>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why it was disabled, when the server did it (a 410 answer).
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Endpoint> for WebhookView {
    fn from(e: Endpoint) -> Self {
        WebhookView {
            id: e.row.id.to_string(),
            url: e.row.url,
            events: e.events.names(),
            description: e.row.description,
            enabled: e.row.enabled,
            disabled_reason: e.row.disabled_reason,
            created_at: clock::format(e.row.created_at),
            updated_at: clock::format(e.row.updated_at),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_<base64>`: verify deliveries with it. Shown this once.
    pub secret: String,
}

fn with_secret(c: Created, status: actix_web::HttpResponseBuilder) -> HttpResponse {
    super::secret(status).json(WebhookWithSecret { webhook: c.endpoint.into(), secret: c.secret })
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
    pub next_cursor: Option<String>,
}

/// Body of `POST /v1/webhooks`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookRequest {
    /// http(s); not a loopback, private or link-local address unless WEBHOOK_ALLOW_PRIVATE.
    #[schema(max_length = 2048, pattern = "^https?://[^/?#@\\s]+")]
    pub url: String,
    /// Event types, or `["*"]` alone.
    #[schema(min_items = 1, value_type = Vec<EventName>)]
    pub events: Vec<String>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// Body of `PATCH /v1/webhooks/{id}`: at least one field.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    #[schema(max_length = 2048, pattern = "^https?://[^/?#@\\s]+")]
    pub url: Option<String>,
    #[schema(min_items = 1, value_type = Option<Vec<EventName>>)]
    pub events: Option<Vec<String>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Option<String>>,
    /// Turn the endpoint off, or on again (after a 410 disabled it).
    pub enabled: Option<bool>,
}

fn events(names: Option<Vec<String>>) -> Result<Option<EventFilter>, ApiError> {
    let Some(names) = names else { return Ok(None) };
    EventFilter::parse(names.iter().map(String::as_str))
        .map(Some)
        .map_err(|m| ApiError::invalid_field(format!("'events': {m}")))
}

/// An empty or blank description is none.
fn description(d: Option<String>) -> Option<String> {
    d.map(|d| d.trim().to_string()).filter(|d| !d.is_empty())
}

#[utoipa::path(tag = "webhooks", request_body = NewWebhookRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, description = "The endpoint and its signing secret, shown once.", body = WebhookWithSecret),
        (status = 400, description = "`invalid_field`; `url_not_allowed`: a private address.", body = crate::http::error::ErrorBody),
        (status = 403, body = crate::http::error::ErrorBody), (status = 409, body = crate::http::error::ErrorBody)))]
#[post("/v1/webhooks")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Authed,
    body: Body<NewWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let input = WebhookInput {
        url: Some(body.url),
        events: events(Some(body.events))?,
        description: Some(description(body.description)),
        enabled: None,
    };
    let created = webhooks::create(&state.ctx, Actor::key(caller.0), input).await?;
    Ok(with_secret(created, HttpResponse::Created()))
}

#[utoipa::path(tag = "webhooks", params(PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "Newest first.", body = WebhookList),
        (status = 400, body = crate::http::error::ErrorBody), (status = 403, body = crate::http::error::ErrorBody)))]
#[get("/v1/webhooks")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Authed,
    Paged(page): Paged,
) -> Result<HttpResponse, ApiError> {
    let page = webhooks::list(&state.ctx, Actor::key(caller.0), page).await?;
    let next_cursor = next_cursor(&page);
    Ok(HttpResponse::Ok()
        .json(WebhookList { webhooks: page.items.into_iter().map(Into::into).collect(), next_cursor }))
}

#[utoipa::path(tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = WebhookView), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody)))]
#[get("/v1/webhooks/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let e = webhooks::get(&state.ctx, Actor::key(caller.0), &id).await?;
    Ok(HttpResponse::Ok().json(WebhookView::from(e)))
}

#[utoipa::path(tag = "webhooks", request_body = WebhookPatch,
    params(("id" = String, Path, description = "Endpoint id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = WebhookView), (status = 400, body = crate::http::error::ErrorBody),
        (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody)))]
#[patch("/v1/webhooks/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
    body: Body<WebhookPatch>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let change = WebhookInput {
        url: body.url,
        events: events(body.events)?,
        description: body.description.map(description),
        enabled: body.enabled,
    };
    if change.url.is_none()
        && change.events.is_none()
        && change.description.is_none()
        && change.enabled.is_none()
    {
        return Err(ApiError::invalid_field(
            "Give at least one of 'url', 'events', 'description', 'enabled'.",
        ));
    }
    let e = webhooks::update(&state.ctx, Actor::key(caller.0), &id, change).await?;
    Ok(HttpResponse::Ok().json(WebhookView::from(e)))
}

#[utoipa::path(tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "Deleted, with its delivery log; nothing more is sent to it."),
        (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody)))]
#[delete("/v1/webhooks/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    webhooks::delete(&state.ctx, Actor::key(caller.0), &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The new secret, shown once; for 24 hours deliveries carry signatures by both.", body = WebhookWithSecret),
        (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody)))]
#[post("/v1/webhooks/{id}/rotate-secret")]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let rotated = webhooks::rotate_secret(&state.ctx, Actor::key(caller.0), &id).await?;
    Ok(with_secret(rotated, HttpResponse::Ok()))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// The delivery's id: its event's id (an endpoint receives each event once; a resend is a
    /// new attempt of the same delivery).
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    /// `pending` (waiting for its next attempt), `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<String>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<String>,
    pub created_at: String,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        let pending = d.status == "pending";
        DeliveryView {
            id: d.event_id.clone(),
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            last_attempt_at: d.last_at.map(clock::format),
            next_attempt_at: pending.then(|| clock::format(d.next_at)),
            created_at: clock::format(d.created_at),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id"), PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The delivery log, newest first.", body = DeliveryList),
        (status = 400, body = crate::http::error::ErrorBody), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody)))]
#[get("/v1/webhooks/{id}/deliveries")]
pub async fn deliveries(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
    Paged(page): Paged,
) -> Result<HttpResponse, ApiError> {
    let page = webhooks::deliveries(&state.ctx, Actor::key(caller.0), &id, page).await?;
    let next_cursor = next_cursor(&page);
    Ok(HttpResponse::Ok()
        .json(DeliveryList { deliveries: page.items.into_iter().map(Into::into).collect(), next_cursor }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestQueued {
    /// The `webhook.test` event queued for this endpoint (see its deliveries).
    pub event_id: String,
}

#[utoipa::path(tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, description = "A `webhook.test` event is queued for this endpoint.", body = TestQueued),
        (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, description = "`webhook_disabled`.", body = crate::http::error::ErrorBody)))]
#[post("/v1/webhooks/{id}/test")]
pub async fn test(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let event_id = webhooks::test(&state.ctx, Actor::key(caller.0), &id).await?;
    Ok(HttpResponse::Accepted().json(TestQueued { event_id }))
}

#[utoipa::path(tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id"), ("deliveryId" = String, Path, description = "The delivery's id (its event's id)")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, description = "The delivery is due again at once: a new attempt of the same event (the same `webhook-id`), sent within the fair-delivery limits. A delivery waiting for a retry is tried now.", body = DeliveryView),
        (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, description = "`webhook_disabled`; `delivery_in_flight`: an attempt is running now.", body = crate::http::error::ErrorBody)))]
#[post("/v1/webhooks/{id}/deliveries/{deliveryId}/resend")]
pub async fn resend(
    state: web::Data<AppState>,
    caller: Authed,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery) = path.into_inner();
    let d = webhooks::resend(&state.ctx, Actor::key(caller.0), &id, &delivery).await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::from(d)))
}
