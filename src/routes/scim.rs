//! `/v1/scim/settings`: how SCIM maps the identity provider's groups to roles (owners). The SCIM
//! protocol itself is served at `/scim/v2` (see `crate::scim`).

use super::auth::Authed;
use crate::http::error::ApiError;
use crate::http::json::Body;
use crate::http::AppState;
use crate::service::{scim_groups, Actor};
use actix_web::{get, put, web, HttpResponse};
use serde::{Deserialize, Serialize};

/// The SCIM settings of the caller's organization.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScimSettings {
    /// The display name of the SCIM group whose members are admins (compared case-insensitively);
    /// everyone else SCIM manages is a member, and owners stay owners. null: SCIM leaves roles
    /// alone.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub admin_group: Option<String>,
}

#[utoipa::path(tag = "scim", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The organization's SCIM settings.", body = ScimSettings),
        (status = 403, description = "Owners only (and a key with the `members` scope).", body = crate::http::error::ErrorBody)))]
#[get("/v1/scim/settings")]
pub async fn get(state: web::Data<AppState>, caller: Authed) -> Result<HttpResponse, ApiError> {
    let admin_group = scim_groups::admin_group(&state.ctx, Actor::key(caller.0)).await?;
    Ok(HttpResponse::Ok().json(ScimSettings { admin_group }))
}

/// Sets the admin group; roles follow at once (each change recorded as `member.updated`).
#[utoipa::path(tag = "scim", request_body = ScimSettings, security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The settings as they now are.", body = ScimSettings),
        (status = 403, description = "Owners only (and a key with the `members` scope).", body = crate::http::error::ErrorBody)))]
#[put("/v1/scim/settings")]
pub async fn set(
    state: web::Data<AppState>,
    caller: Authed,
    body: Body<ScimSettings>,
) -> Result<HttpResponse, ApiError> {
    let wanted = body.into_inner()?.admin_group;
    let admin_group = scim_groups::set_admin_group(&state.ctx, Actor::key(caller.0), wanted).await?;
    Ok(HttpResponse::Ok().json(ScimSettings { admin_group }))
}
