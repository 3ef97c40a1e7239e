//! `/v1/team/provisions`: pre-create users (OneCLI-compatible).

use super::auth::Authed;
use super::body::{idempotency, JsonBody};
use super::list::{next_cursor, page_request};
use crate::clock;
use crate::domain::{ProvisionRole, ProvisionStatus};
use crate::error::ApiError;
use crate::http::{client, AppState};
use crate::service::provisioning::{self, ProvisionFilter, ProvisionInput, ProvisionOptions};
use crate::service::Actor;
use crate::store::provisions::ProvisionRow;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

/// Body of `POST /v1/team/provisions`; every field optional, an empty body means the defaults.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ProvisionRequest {
    /// `member` (default) or `admin`.
    #[schema(value_type = Option<String>, pattern = "^(member|admin)$")]
    role: Option<String>,
    /// Default true.
    skip_onboarding: Option<bool>,
    /// Seconds until the provision (its claim link and, while unclaimed, its key) expires;
    /// default `PROVISION_TTL`.
    #[schema(minimum = 60, maximum = 2592000)]
    expires_in_seconds: Option<u32>,
    /// Only an account with this address may claim; a person signing up through the link with
    /// it gets it verified. Stored lowercase.
    #[schema(format = "email", max_length = 254)]
    email: Option<String>,
    /// A label shown in lists: 1-100 characters after trimming, no control, invisible or
    /// text-direction characters.
    #[schema(min_length = 1, max_length = 100, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    name: Option<String>,
    /// Your own reference, matched exactly by `?externalId=`: 1-255 characters, no control characters.
    #[schema(min_length = 1, max_length = 255, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    external_id: Option<String>,
    /// A JSON object of at most 4096 bytes (compact JSON), returned with the provision.
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    /// true: mail the claim link to `email` (needs `email` and SMTP, else 400).
    send_email: Option<bool>,
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

impl From<ProvisionRow> for ProvisionView {
    fn from(p: ProvisionRow) -> Self {
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

#[utoipa::path(post, path = "/v1/team/provisions", tag = "team provisioning",
    request_body = ProvisionRequest,
    params(super::body::IdempotencyHeader),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Provisioned; the key works at once.", body = Created),
        (status = 400, description = "A field of the wrong type or value (the message names it); `sendEmail` without `email` or without SMTP.", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an admin or owner.", body = crate::openapi::ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another body, or what it made has ended.", body = crate::openapi::ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authed,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let fields = body.fields()?;
    let idem = idempotency(&req, &fields)?;
    let role = match fields.opt_str("role")? {
        None | Some("member") => ProvisionRole::Member,
        Some("admin") => ProvisionRole::Admin,
        Some(_) => return Err(ApiError::invalid_field("'role' must be \"member\" or \"admin\".")),
    };
    let skip_onboarding = fields.opt_bool("skipOnboarding")?.unwrap_or(true);
    let input = ProvisionInput { role, skip_onboarding };
    let options = ProvisionOptions {
        expires_in_seconds: fields.opt_number("expiresInSeconds")?.cloned(),
        email: fields.opt_str("email")?.map(str::to_string),
        name: fields.opt_str("name")?.map(str::to_string),
        external_id: fields.opt_str("externalId")?.map(str::to_string),
        metadata: fields.opt_value("metadata").cloned(),
        send_email: fields.opt_bool("sendEmail")?.unwrap_or(false),
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

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// pending, claimed, cancelled or expired
    #[param(value_type = String, required = false, pattern = "^(pending|claimed|cancelled|expired)$")]
    status: Option<String>,
    /// Only provisions made with this `externalId` (exact match).
    #[param(value_type = String, required = false, max_length = 255)]
    external_id: Option<String>,
    /// 1 to 1000, default 100
    #[param(value_type = u32, required = false, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// `nextCursor` of the previous page
    #[param(value_type = String, required = false)]
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/team/provisions", tag = "team provisioning", params(ListQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "This organization's provisions, newest first, a page at a time.", body = ProvisionList),
        (status = 400, description = "A bad status, externalId, limit or cursor.", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an admin or owner.", body = crate::openapi::ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Authed,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(ProvisionStatus::parse(s).ok_or_else(|| {
            ApiError::invalid_field("'status' must be one of pending, claimed, cancelled, expired.")
        })?),
    };
    let page = page_request(query.limit.as_deref(), query.cursor.as_deref())?;
    let filter = ProvisionFilter { status, external_id: query.external_id.clone() };
    let page = provisioning::list(&state.ctx, &caller, filter, page).await?;
    let next_cursor = next_cursor(&page);
    let provisions: Vec<ProvisionView> = page.items.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(ProvisionList { provisions, next_cursor }))
}

#[utoipa::path(get, path = "/v1/team/provisions/{id}", tag = "team provisioning",
    params(("id" = String, Path, description = "Provision id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ProvisionView),
        (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, description = "No such provision in this organization.", body = crate::openapi::ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = provisioning::get(&state.ctx, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(ProvisionView::from(row)))
}

#[utoipa::path(delete, path = "/v1/team/provisions/{id}", tag = "team provisioning",
    params(("id" = String, Path, description = "Provision id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Cancelled; what it created is deleted."),
        (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody),
        (status = 409, description = "Not pending.", body = crate::openapi::ErrorBody)))]
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
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ClaimLinkRequest {
    /// A new expiry, counted from now; default: the provision keeps its expiry.
    #[schema(minimum = 60, maximum = 2592000)]
    expires_in_seconds: Option<u32>,
    /// true: mail the new link to the provision's `email` (needs one, and SMTP).
    send_email: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimLink {
    pub claim_url: String,
    pub expires_at: String,
}

#[utoipa::path(post, path = "/v1/team/provisions/{id}/claim-link", tag = "team provisioning",
    params(("id" = String, Path, description = "Provision id")),
    request_body = ClaimLinkRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "A new claim link; the old one stopped working.", body = ClaimLink),
        (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody),
        (status = 409, description = "Not pending (`not_pending`).", body = crate::openapi::ErrorBody)))]
pub async fn claim_link(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let fields = body.fields()?;
    let expires_in = fields.opt_number("expiresInSeconds")?.cloned();
    let send_email = fields.opt_bool("sendEmail")?.unwrap_or(false);
    let link =
        provisioning::renew_claim_link(&state.ctx, Actor::key(caller.0), &id, expires_in, send_email).await?;
    Ok(super::secret(HttpResponse::Ok()).json(ClaimLink {
        claim_url: state.claim_url(&link.claim_token),
        expires_at: clock::format(link.expires_at),
    }))
}
