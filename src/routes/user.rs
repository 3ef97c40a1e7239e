//! `/v1/user`: the caller as its key sees it, and key rotation.

use super::auth::Authed;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::service::keys;
use actix_web::{get, post, web, HttpResponse};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewKey {
    pub api_key: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    /// `null` for a placeholder nobody has claimed yet.
    pub email: Option<String>,
    pub status: &'static str,
    pub api_only: bool,
    pub organization_id: String,
    pub organization_name: String,
    pub role: &'static str,
    pub is_provisioner: bool,
    pub project_id: String,
}

#[utoipa::path(tag = "caller", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UserView)))]
#[get("/v1/user")]
pub async fn get(caller: Authed) -> HttpResponse {
    let c = &*caller;
    HttpResponse::Ok().json(UserView {
        status: if c.placeholder { "placeholder" } else { "active" },
        role: c.role.as_str(),
        id: c.user_id.to_string(),
        email: c.email.clone(),
        api_only: c.api_only,
        organization_id: c.org_id.to_string(),
        organization_name: c.org_name.clone(),
        is_provisioner: c.is_provisioner,
        project_id: c.project_id.to_string(),
    })
}

/// Replaces the calling key with a new one for the same user, organization and project. The
/// old key is revoked in the same transaction, so it fails from the very next request.
#[utoipa::path(tag = "caller", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The new key; the calling key is revoked.", body = NewKey)))]
#[post("/v1/user/api-key/regenerate")]
pub async fn regenerate_key(state: web::Data<AppState>, caller: Authed) -> Result<HttpResponse, ApiError> {
    let api_key = keys::regenerate(&state.ctx, &caller).await?;
    Ok(super::secret(HttpResponse::Ok()).json(NewKey { api_key }))
}
