//! `/api/v1/admin/*`: the orchestrator flow (OpenFunnel-compatible) and provisioner management.

use super::body::JsonBody;
use crate::app::AppState;
use crate::auth::Caller;
use crate::domain::{Domain, Email};
use crate::error::ApiError;
use crate::ops;
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

/// `X-User-ID` must name the key's owner (case-insensitive): the orchestrator states who it is,
/// and a key leaked without that knowledge is not enough.
fn check_user_id_header(req: &HttpRequest, caller: &Caller) -> Result<(), ApiError> {
    let header = req.headers().get("x-user-id").and_then(|v| v.to_str().ok()).map(str::trim);
    let Some(claimed) = header.filter(|h| !h.is_empty()) else {
        return Err(ApiError::forbidden(
            "user_id_mismatch",
            "Send the X-User-ID header with the email of the API key's owner.",
        ));
    };
    match &caller.email {
        Some(own) if own.eq_ignore_ascii_case(claimed) && !caller.email_verified => Err(ApiError::forbidden(
            "email_unverified",
            "The key owner's email address is not verified, so it cannot vouch for this key: verify it (the link mailed at sign-up) or ask an operator to run `provisiond user verify`.",
        )),
        Some(own) if own.eq_ignore_ascii_case(claimed) => Ok(()),
        _ => Err(ApiError::forbidden(
            "user_id_mismatch",
            "X-User-ID does not match the owner of this API key; send the key owner's email.",
        )),
    }
}

#[utoipa::path(post, path = "/api/v1/admin/create-user", tag = "orchestrator", request_body = CreateUserRequest,
    params(("X-User-ID" = String, Header, description = "The key owner's email")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, body = CreatedUser),
        (status = 403, description = "Not a provisioner, or X-User-ID does not match.", body = crate::openapi::ErrorBody),
        (status = 409, description = "Taken, or the organization has no domain.", body = crate::openapi::ErrorBody)))]
pub async fn create_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_provisioner()?;
    check_user_id_header(&req, &caller)?;
    state.allow_provision(&caller.limit_key(), &req)?;
    let domain = caller.org_domain.as_deref().ok_or_else(|| {
        ApiError::conflict(
            "no_domain",
            "Your organization has no email domain, so new users cannot be mapped onto it; an operator sets one with `provisiond org set-domain`.",
        )
    })?;
    let domain = Domain::parse(domain).map_err(ApiError::internal)?;
    let fields = body.fields()?;
    let email = match fields.opt_str("email")? {
        None => {
            return Err(ApiError::bad_request(
                "invalid_email",
                "'email' is required, e.g. {\"email\": \"alice@example.com\"}.",
            ))
        }
        Some(e) => Email::parse(e).map_err(|m| ApiError::bad_request("invalid_email", m))?,
    };
    let email = email.with_domain(&domain);
    let now = state.clock.now();
    let prefix = state.settings.key_prefix.clone();
    let org_id = caller.org_id.clone();
    let (address, access) = state
        .db
        .write(move |tx| {
            tx.keeps_keys();
            ops::create_api_user(tx, &prefix, &org_id, &email, now)
        })
        .await?;
    Ok(super::secret(HttpResponse::Created()).json(CreatedUser {
        id: access.user_id,
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
    caller: Caller,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_owner("change provisioner access")?;
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
    let org_id = caller.org_id.clone();
    let member = state.db.write(move |tx| ops::set_provisioner(tx, &org_id, &who, on)).await?;
    Ok(HttpResponse::Ok().json(MemberView {
        id: member.user_id,
        email: member.email,
        role: member.role.as_str(),
        is_provisioner: member.is_provisioner,
    }))
}
