//! Credentials to caller: `Authorization: Bearer <key>` or `X-API-Key: <key>`, on every route.

use crate::app::AppState;
use crate::error::ApiError;
use crate::{keys, store};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

/// Who is calling, as their key says: the key's user, organization, role and project.
#[derive(Clone, Debug)]
pub struct Caller {
    pub key_id: String,
    pub user_id: String,
    pub email: Option<String>,
    pub placeholder: bool,
    pub api_only: bool,
    pub org_id: String,
    pub org_name: String,
    pub org_domain: Option<String>,
    pub role: crate::domain::Role,
    pub is_provisioner: bool,
    pub project_id: String,
}

impl Caller {
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "insufficient_role",
                format!("This needs an admin or owner key; this key's role is {}.", self.role.as_str()),
            ))
        }
    }
}

/// Longer than any key we issue with any allowed prefix; longer input is refused unread.
const MAX_KEY_LEN: usize = 128;

/// The key presented with the request. Bearer wins when both headers are present.
fn presented_key(req: &HttpRequest) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::unauthorized(
            "invalid_api_key",
            "The API key is not valid; check it, or ask an admin for a new one.",
        )
    };
    let bearer = match req.headers().get(header::AUTHORIZATION) {
        Some(v) => {
            let v = v.to_str().map_err(|_| invalid())?.trim();
            let (scheme, rest) = v.split_once(' ').ok_or_else(invalid)?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(ApiError::unauthorized(
                    "invalid_api_key",
                    "The Authorization header must be 'Bearer <API key>'.",
                ));
            }
            Some(rest.trim().to_string())
        }
        None => None,
    };
    let key = match bearer {
        Some(k) => k,
        None => match req.headers().get("x-api-key") {
            Some(v) => v.to_str().map_err(|_| invalid())?.trim().to_string(),
            None => {
                return Err(ApiError::unauthorized(
                    "missing_credentials",
                    "Send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
                ))
            }
        },
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(invalid());
    }
    Ok(key)
}

/// Don't write `last_used_at` more often than this per key: reads should not queue behind writes.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The one place a key becomes a caller. A revoked key, a deleted user, or a placeholder whose
/// provision is no longer pending and unexpired all fail here, whether or not cleanup has run.
pub async fn authenticate(state: &AppState, key: String) -> Result<Caller, ApiError> {
    let hash = keys::hash(&key);
    let now = state.clock.now();
    let row = state.db.read(move |conn| Ok(store::keys::lookup(conn, &hash)?)).await?;
    let invalid = || {
        ApiError::unauthorized(
            "invalid_api_key",
            "The API key is not valid; check it, or ask an admin for a new one.",
        )
    };
    let row = row.ok_or_else(invalid)?;
    if row.caller.placeholder && row.pending_until.is_none_or(|until| now >= until) {
        return Err(invalid());
    }
    if row.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY_MS) {
        let key_id = row.caller.key_id.clone();
        // Best effort: a failed bookkeeping write must not fail the request it describes.
        let touched = state.db.read(move |conn| Ok(store::keys::touch(conn, &key_id, now)?)).await;
        if let Err(e) = touched {
            log::debug!("could not record key use: {e}");
        }
    }
    Ok(row.caller)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let key = presented_key(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("AppState missing from app data"))?;
            authenticate(&state, key?).await
        })
    }
}
