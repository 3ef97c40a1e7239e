//! `/api/v1/admin/*`: the orchestrator flow (OpenFunnel-compatible) and provisioner management.

use super::auth::Authed;
use super::body::{idempotency, JsonBody};
use crate::error::ApiError;
use crate::http::{client, AppState};
use crate::service::{organizations, provisioning, Actor};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CreateUserRequest {
    /// Its local part is kept and moved onto the organization's domain.
    email: String,
}

/// The member by email or by user id.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum SetProvisionerRequest {
    ByEmail { email: String, is_provisioner: bool },
    ById { user_id: String, is_provisioner: bool },
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedUser {
    pub id: String,
    pub email: String,
    pub api_key: String,
}

#[utoipa::path(post, path = "/api/v1/admin/create-user", tag = "orchestrator", request_body = CreateUserRequest,
    params(("X-User-ID" = String, Header, description = "The key owner's email"),
        super::body::IdempotencyHeader),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, body = CreatedUser),
        (status = 403, description = "Not a provisioner, or X-User-ID does not match.", body = crate::openapi::ErrorBody),
        (status = 409, description = "Taken, or the organization has no domain, or the Idempotency-Key was used with another body.", body = crate::openapi::ErrorBody)))]
pub async fn create_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authed,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    // `X-User-ID` names the key's owner: the orchestrator states who it is, and a key leaked
    // without that knowledge is not enough.
    let user_id_header = req.headers().get("x-user-id").and_then(|v| v.to_str().ok());
    let fields = body.fields()?;
    let idem = idempotency(&req, &fields)?;
    let email = fields.opt_str("email")?;
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
#[utoipa::path(post, path = "/api/v1/admin/set-provisioner", tag = "orchestrator", request_body = SetProvisionerRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = MemberView),
        (status = 403, description = "Not an owner.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such member.", body = crate::openapi::ErrorBody)))]
pub async fn set_provisioner(
    state: web::Data<AppState>,
    caller: Authed,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let fields = body.fields()?;
    // Email first: a body that names the member by email is not refused over a stray field.
    let who = match fields.opt_str("email")? {
        Some(email) => email.to_string(),
        None => fields
            .opt_str("user_id")?
            .ok_or_else(|| ApiError::invalid_field("Give the member as 'user_id' or 'email'."))?
            .to_string(),
    };
    let on = fields
        .opt_bool("is_provisioner")?
        .ok_or_else(|| ApiError::invalid_field("'is_provisioner' (true or false) is required."))?;
    let member = organizations::set_provisioner(&state.ctx, Actor::key(caller.0), who, on).await?;
    Ok(HttpResponse::Ok().json(MemberView {
        id: member.user_id.to_string(),
        email: member.email,
        role: member.role.as_str(),
        is_provisioner: member.is_provisioner,
    }))
}
