//! `/api/v1/admin/*`: the orchestrator flow (OpenFunnel-compatible) and provisioner management.

use super::auth::Authed;
use crate::http::error::ApiError;
use crate::http::json::{Body, IdempotencyHeader};
use crate::http::{client, AppState};
use crate::service::{organizations, provisioning, Actor};
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Serialize;

/// Body of `POST /api/v1/admin/create-user` (OpenFunnel's: other fields are ignored).
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct CreateUserRequest {
    /// Its local part is kept and moved onto the organization's domain.
    #[schema(value_type = String, required = true)]
    pub email: Option<String>,
}

/// Body of `POST /api/v1/admin/set-provisioner`: the member by `email` or by `user_id` (the
/// email wins when both are given).
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct SetProvisionerRequest {
    #[schema(value_type = String, required = false)]
    pub email: Option<String>,
    #[schema(value_type = String, required = false)]
    pub user_id: Option<String>,
    #[schema(value_type = bool, required = true)]
    pub is_provisioner: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedUser {
    pub id: String,
    pub email: String,
    pub api_key: String,
}

#[utoipa::path(tag = "orchestrator", request_body = CreateUserRequest,
    params(("X-User-ID" = String, Header, description = "The key owner's email"),
        IdempotencyHeader),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, body = CreatedUser),
        (status = 403, description = "Not a provisioner, or X-User-ID does not match.", body = crate::http::error::ErrorBody),
        (status = 409, description = "Taken, or the organization has no domain, or the Idempotency-Key was used with another body.", body = crate::http::error::ErrorBody)))]
#[post("/api/v1/admin/create-user")]
pub async fn create_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authed,
    body: Body<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    // `X-User-ID` names the key's owner: the orchestrator states who it is, and a key leaked
    // without that knowledge is not enough.
    let user_id_header = req.headers().get("x-user-id").and_then(|v| v.to_str().ok());
    let (body, idem) = body.with_idempotency(&req)?;
    let email = body.email.as_deref();
    let (address, access) =
        provisioning::create_api_user(&state.ctx, &caller, &client(&req), user_id_header, email, idem)
            .await?;
    Ok(super::secret(HttpResponse::Created()).json(CreatedUser {
        id: access.user_id.to_string(),
        email: address,
        api_key: access.api_key,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub id: String,
    pub email: Option<String>,
    pub role: &'static str,
    pub is_provisioner: bool,
}

/// Owner only: turns a member's provisioner flag on or off. Body: `{"user_id" | "email",
/// "is_provisioner": bool}`.
#[utoipa::path(tag = "orchestrator", request_body = SetProvisionerRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = MemberView),
        (status = 403, description = "Not an owner.", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such member.", body = crate::http::error::ErrorBody)))]
#[post("/api/v1/admin/set-provisioner")]
pub async fn set_provisioner(
    state: web::Data<AppState>,
    caller: Authed,
    body: Body<SetProvisionerRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    // Email first: a body that names the member by email is not refused over a stray field.
    let who = body
        .email
        .or(body.user_id)
        .ok_or_else(|| ApiError::invalid_field("Give the member as 'user_id' or 'email'."))?;
    let on = body
        .is_provisioner
        .ok_or_else(|| ApiError::invalid_field("'is_provisioner' (true or false) is required."))?;
    let member = organizations::set_provisioner(&state.ctx, Actor::key(caller.0), who, on).await?;
    Ok(HttpResponse::Ok().json(MemberView {
        id: member.user_id.to_string(),
        email: member.email,
        role: member.role.as_str(),
        is_provisioner: member.is_provisioner,
    }))
}
