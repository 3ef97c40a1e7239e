//! `/v1/team/provisions`: pre-create users (OneCLI-compatible).

use super::auth::Authed;
use super::body::JsonBody;
use crate::clock;
use crate::domain::{ProvisionRole, ProvisionStatus};
use crate::error::ApiError;
use crate::http::{client, AppState};
use crate::service::provisioning::{self, ProvisionInput};
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
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProvisionList {
    pub provisions: Vec<ProvisionView>,
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
        }
    }
}

#[utoipa::path(post, path = "/v1/team/provisions", tag = "team provisioning",
    request_body = ProvisionRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Provisioned; the key works at once.", body = Created),
        (status = 403, description = "Not an admin or owner.", body = crate::openapi::ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authed,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let fields = body.fields()?;
    let role = match fields.opt_str("role")? {
        None | Some("member") => ProvisionRole::Member,
        Some("admin") => ProvisionRole::Admin,
        Some(_) => return Err(ApiError::invalid_field("'role' must be \"member\" or \"admin\".")),
    };
    let skip_onboarding = fields.opt_bool("skipOnboarding")?.unwrap_or(true);
    let input = ProvisionInput { role, skip_onboarding };
    let p = provisioning::provision(&state.ctx, Actor::Key(caller.0), &client(&req), input).await?;
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
pub struct ListQuery {
    /// pending, claimed, cancelled or expired
    #[param(value_type = String, required = false, pattern = "^(pending|claimed|cancelled|expired)$")]
    status: Option<String>,
    /// 1 to 1000, default 100
    #[param(value_type = u32, required = false, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

pub const LIST_DEFAULT: u32 = 100;
pub const LIST_MAX: u32 = 1000;

#[utoipa::path(get, path = "/v1/team/provisions", tag = "team provisioning", params(ListQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "This organization's provisions, newest first.", body = ProvisionList),
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
    let limit = match query.limit.as_deref() {
        None => LIST_DEFAULT,
        // Plain digits only: "+5" and " 5" are not how anyone writes a limit.
        Some(s) => Some(s)
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u32>().ok())
            .filter(|n| (1..=LIST_MAX).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_field(format!("'limit' must be a whole number from 1 to {LIST_MAX}."))
            })?,
    };
    let rows = provisioning::list(&state.ctx, &caller, status, limit).await?;
    let provisions: Vec<ProvisionView> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(ProvisionList { provisions }))
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
    provisioning::cancel(&state.ctx, Actor::Key(caller.0), &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
