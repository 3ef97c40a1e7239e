//! `POST /v1/provisions/claim`: the claim flow for API clients, by a signed-in person (session
//! cookie) or the key of an active, non-placeholder, non-API-only user.

use super::auth::{has_key, Authed};
use crate::domain::UserId;
use crate::http::error::ApiError;
use crate::http::json::Body;
use crate::http::AppState;
use crate::service::claims;
use crate::web::session;
use actix_web::{post, web, FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;

/// Body of `POST /v1/provisions/claim`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct ClaimRequest {
    /// The 64 hex characters after `?token=` in the claim link.
    #[schema(value_type = String, required = true)]
    pub token: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimedView {
    pub organization_id: String,
    pub organization_name: String,
    pub user_id: String,
    pub project_id: String,
}

/// The claiming user's id: from the API key when one is sent, else from the session cookie.
async fn claimer(req: &HttpRequest) -> Result<UserId, ApiError> {
    if has_key(req) {
        return Ok(Authed::extract(req).await?.user_id.clone());
    }
    match session::current(req).await? {
        Some(s) => {
            // A browser sends the cookie along with requests other sites make it send; only a
            // request that shows the session's CSRF token (and no foreign origin) is the person's.
            let csrf = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok());
            if session::check_origin(req).is_err() || s.check_csrf(csrf).is_err() {
                return Err(ApiError::forbidden(
                    "csrf_failed",
                    "A claim signed in with a session cookie must come from this site and carry the session's CSRF token in the X-CSRF-Token header; or send the API key of the account that claims.",
                ));
            }
            Ok(s.user_id.clone())
        }
        None => Err(ApiError::unauthorized(
            "missing_credentials",
            "Sign in first, or send the API key of the account that claims.",
        )),
    }
}

#[utoipa::path(tag = "team provisioning", request_body = ClaimRequest,
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
    responses(
        (status = 200, body = ClaimedView),
        (status = 403, description = "An API-only user or a placeholder.", body = crate::http::error::ErrorBody),
        (status = 409, description = "Already claimed.", body = crate::http::error::ErrorBody)))]
#[post("/v1/provisions/claim")]
pub async fn claim(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Body<ClaimRequest>,
) -> Result<HttpResponse, ApiError> {
    let user_id = claimer(&req).await?;
    // A missing token is a bad token (its own code), not a malformed body.
    let token = body.into_inner()?.token.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_token",
            "'token' is required: the 64 hex characters after ?token= in the claim link.",
        )
    })?;
    let c = claims::claim(&state.ctx, &token, &user_id, None).await?;
    Ok(HttpResponse::Ok().json(ClaimedView {
        organization_id: c.org_id.to_string(),
        organization_name: c.org_name,
        user_id: c.user_id.to_string(),
        project_id: c.project_id.to_string(),
    }))
}
