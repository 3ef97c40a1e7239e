//! `/v1/team/provisions`: pre-create users (OneCLI-compatible).

use super::auth::Authed;
use crate::clock;
use crate::domain::Provision;
use crate::domain::{ProvisionRole, ProvisionStatus};
use crate::http::error::ApiError;
use crate::http::json::{Body, IdempotencyHeader};
use crate::http::paging::{next_cursor, PageQuery, Paged};
use crate::http::{client, AppState};
use crate::service::provisioning::{self, ProvisionFilter, ProvisionInput, ProvisionOptions};
use crate::service::Actor;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

/// Body of `POST /v1/team/provisions` (the OneCLI SDK's); every field optional, an empty body
/// means the defaults; fields the SDK may add are ignored.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionRequest {
    /// `member` (default) or `admin`.
    #[schema(value_type = Option<String>, pattern = "^(member|admin)$")]
    pub role: Option<ProvisionRole>,
    /// Default true.
    pub skip_onboarding: Option<bool>,
    /// Seconds until the provision (its claim link and, while unclaimed, its key) expires;
    /// default `PROVISION_TTL`.
    #[schema(value_type = Option<u32>, minimum = 60, maximum = 2592000)]
    pub expires_in_seconds: Option<serde_json::Number>,
    /// Only an account with this address may claim. Typed by whoever provisions, it proves
    /// nothing: claiming does not verify it. Stored lowercase.
    #[schema(format = "email", max_length = 254)]
    pub email: Option<String>,
    /// A label shown in lists: 1-100 characters after trimming, no control, invisible or
    /// text-direction characters.
    #[schema(min_length = 1, max_length = 100, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub name: Option<String>,
    /// Your own reference, matched exactly by `?externalId=`: 1-255 characters, no control characters.
    #[schema(min_length = 1, max_length = 255, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub external_id: Option<String>,
    /// A JSON object of at most 4096 bytes (compact JSON), returned with the provision.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// true: mail the claim link to `email` (needs `email` and SMTP, else 400).
    pub send_email: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionList {
    pub provisions: Vec<ProvisionView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub id: String,
    pub user_id: String,
    pub project_id: String,
    pub agent_id: String,
    pub api_key: String,
    pub claim_url: String,
    pub expires_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionView {
    pub id: String,
    pub user_id: String,
    pub project_id: String,
    pub agent_id: String,
    pub role: String,
    pub skip_onboarding: bool,
    pub status: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub claimed_at: Option<String>,
    pub claimed_by: Option<String>,
    /// Only an account with this address may claim.
    pub email: Option<String>,
    pub name: Option<String>,
    pub external_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// Stored metadata is JSON this server wrote; anything else reads as none.
fn metadata(text: Option<&str>) -> Option<serde_json::Value> {
    text.and_then(|m| serde_json::from_str(m).ok())
}

impl From<Provision> for ProvisionView {
    fn from(p: Provision) -> Self {
        ProvisionView {
            id: p.id.to_string(),
            user_id: p.user_id.to_string(),
            project_id: p.project_id.to_string(),
            agent_id: p.agent_id.to_string(),
            role: p.role.as_str().to_string(),
            skip_onboarding: p.skip_onboarding,
            status: p.status.as_str().to_string(),
            created_by: p.created_by.to_string(),
            created_at: clock::format(p.created_at),
            expires_at: clock::format(p.expires_at),
            claimed_at: p.claimed_at.map(clock::format),
            claimed_by: p.claimed_by.map(|u| u.to_string()),
            metadata: metadata(p.metadata.as_deref()),
            email: p.email,
            name: p.name,
            external_id: p.external_id,
        }
    }
}

#[utoipa::path(tag = "team provisioning",
    request_body = ProvisionRequest,
    params(IdempotencyHeader),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Provisioned; the key works at once.", body = Created),
        (status = 400, description = "A field of the wrong type or value (the message names it); `sendEmail` without `email` or without SMTP.", body = crate::http::error::ErrorBody),
        (status = 403, description = "Not an admin or owner.", body = crate::http::error::ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another body, or what it made has ended.", body = crate::http::error::ErrorBody)))]
#[post("/v1/team/provisions")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authed,
    body: Body<ProvisionRequest>,
) -> Result<HttpResponse, ApiError> {
    let (body, idem) = body.with_idempotency(&req)?;
    let input = ProvisionInput {
        role: body.role.unwrap_or_default(),
        skip_onboarding: body.skip_onboarding.unwrap_or(true),
    };
    let options = ProvisionOptions {
        expires_in_seconds: body.expires_in_seconds,
        email: body.email,
        name: body.name,
        external_id: body.external_id,
        metadata: body.metadata,
        send_email: body.send_email.unwrap_or(false),
    };
    let p =
        provisioning::provision_with(&state.ctx, Actor::key(caller.0), &client(&req), input, options, idem)
            .await?;
    Ok(super::secret(HttpResponse::Created()).json(Created {
        claim_url: state.claim_url(&p.claim_token),
        id: p.row.id.to_string(),
        user_id: p.row.user_id.to_string(),
        project_id: p.row.project_id.to_string(),
        agent_id: p.row.agent_id.to_string(),
        api_key: p.api_key,
        expires_at: clock::format(p.row.expires_at),
    }))
}

/// What the provision list is narrowed to (paging comes with `PageQuery`).
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// pending, claimed, cancelled or expired
    #[param(value_type = String, required = false, pattern = "^(pending|claimed|cancelled|expired)$")]
    status: Option<String>,
    /// Only provisions made with this `externalId` (exact match).
    #[param(value_type = String, required = false, max_length = 255)]
    external_id: Option<String>,
}

#[utoipa::path(tag = "team provisioning", params(ListQuery, PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "This organization's provisions, newest first, a page at a time.", body = ProvisionList),
        (status = 400, description = "A bad status, externalId, limit or cursor.", body = crate::http::error::ErrorBody),
        (status = 403, description = "Not an admin or owner.", body = crate::http::error::ErrorBody)))]
#[get("/v1/team/provisions")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Authed,
    query: web::Query<ListQuery>,
    Paged(page): Paged,
) -> Result<HttpResponse, ApiError> {
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(ProvisionStatus::parse(s).ok_or_else(|| {
            ApiError::invalid_field("'status' must be one of pending, claimed, cancelled, expired.")
        })?),
    };
    let filter = ProvisionFilter { status, external_id: query.external_id.clone() };
    let page = provisioning::list(&state.ctx, &caller, filter, page).await?;
    let next_cursor = next_cursor(&page);
    let provisions: Vec<ProvisionView> = page.items.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(ProvisionList { provisions, next_cursor }))
}

#[utoipa::path(tag = "team provisioning",
    params(("id" = String, Path, description = "Provision id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ProvisionView),
        (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, description = "No such provision in this organization.", body = crate::http::error::ErrorBody)))]
#[get("/v1/team/provisions/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = provisioning::get(&state.ctx, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(ProvisionView::from(row)))
}

#[utoipa::path(tag = "team provisioning",
    params(("id" = String, Path, description = "Provision id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Cancelled; what it created is deleted."),
        (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, description = "Not pending.", body = crate::http::error::ErrorBody)))]
#[delete("/v1/team/provisions/{id}")]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    provisioning::cancel(&state.ctx, Actor::key(caller.0), &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Body of `POST /v1/team/provisions/{id}/claim-link`; every field optional.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimLinkRequest {
    /// A new expiry, counted from now; default: the provision keeps its expiry.
    #[schema(value_type = Option<u32>, minimum = 60, maximum = 2592000)]
    pub expires_in_seconds: Option<serde_json::Number>,
    /// true: mail the new link to the provision's `email` (needs one, and SMTP).
    pub send_email: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimLink {
    pub claim_url: String,
    pub expires_at: String,
}

#[utoipa::path(tag = "team provisioning",
    params(("id" = String, Path, description = "Provision id")),
    request_body = ClaimLinkRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "A new claim link; the old one stopped working.", body = ClaimLink),
        (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, description = "Not pending (`not_pending`).", body = crate::http::error::ErrorBody)))]
#[post("/v1/team/provisions/{id}/claim-link")]
pub async fn claim_link(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
    body: Body<ClaimLinkRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let (expires_in, send_email) = (body.expires_in_seconds, body.send_email.unwrap_or(false));
    let link =
        provisioning::renew_claim_link(&state.ctx, Actor::key(caller.0), &id, expires_in, send_email).await?;
    Ok(super::secret(HttpResponse::Ok()).json(ClaimLink {
        claim_url: state.claim_url(&link.claim_token),
        expires_at: clock::format(link.expires_at),
    }))
}
