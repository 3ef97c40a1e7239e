//! `/v1/user`: the caller as its key sees it, and key rotation.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::keys;
use crate::store;
use actix_web::{web, HttpResponse};
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

#[utoipa::path(get, path = "/v1/user", tag = "caller", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UserView)))]
pub async fn get(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(UserView {
        status: if caller.placeholder { "placeholder" } else { "active" },
        role: caller.role.as_str(),
        id: caller.user_id,
        email: caller.email,
        api_only: caller.api_only,
        organization_id: caller.org_id,
        organization_name: caller.org_name,
        is_provisioner: caller.is_provisioner,
        project_id: caller.project_id,
    })
}

/// Replaces the calling key with a new one for the same user, organization and project. The
/// old key is revoked in the same transaction, so it fails from the very next request.
#[utoipa::path(post, path = "/v1/user/api-key/regenerate", tag = "caller", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The new key; the calling key is revoked.", body = NewKey)))]
pub async fn regenerate_key(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let prefix = state.settings.key_prefix.clone();
    let key = state
        .db
        .write(move |tx| {
            if store::keys::revoke(tx, caller.key_id, now)? == 0 {
                // Revoked by a concurrent regenerate: that one's key is the live one.
                return Err(ApiError::unauthorized(
                    "invalid_api_key",
                    "This API key was just replaced; use the new one.",
                ));
            }
            let key = keys::new_api_key(&prefix)?;
            // The new key has the old one's ceiling: regenerating never raises what a key can do.
            store::keys::insert_key(
                tx,
                &key,
                &caller.user_id,
                &caller.org_id,
                caller.project_n,
                caller.key_ceiling,
                now,
            )?;
            Ok(key.secret)
        })
        .await?;
    Ok(super::secret(HttpResponse::Ok()).json(NewKey { api_key: key }))
}
