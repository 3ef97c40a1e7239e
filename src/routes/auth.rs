//! Credentials to caller: `Authorization: Bearer <key>` or `X-API-Key: <key>`, on every route.

use crate::error::Error;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::service::{keys, Caller};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use std::ops::Deref;
use std::sync::Arc;

/// The verified caller of an API request.
pub struct Authed(pub Arc<Caller>);

impl Deref for Authed {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

/// Longer than any key we issue with any allowed prefix; longer input is refused unread.
const MAX_KEY_LEN: usize = 128;

fn invalid() -> ApiError {
    Error::InvalidApiKey("The API key is not valid; check it, or ask an admin for a new one.").into()
}

/// Whether the request carries an API key at all (then it is the credential that counts).
pub fn has_key(req: &HttpRequest) -> bool {
    req.headers().contains_key(header::AUTHORIZATION) || req.headers().contains_key("x-api-key")
}

/// The key presented with the request; both headers may be sent only if they agree.
fn presented_key(req: &HttpRequest) -> Result<String, ApiError> {
    // Two copies of a credential header are ambiguous: which one a proxy or a log saw may not
    // be the one we would check.
    if req.headers().get_all(header::AUTHORIZATION).nth(1).is_some()
        || req.headers().get_all("x-api-key").nth(1).is_some()
    {
        return Err(Error::InvalidApiKey(
            "Send the API key once: this request has the same credential header twice.",
        )
        .into());
    }
    let bearer = match req.headers().get(header::AUTHORIZATION) {
        Some(v) => {
            let v = v.to_str().map_err(|_| invalid())?.trim();
            let (scheme, rest) = v.split_once(' ').ok_or_else(invalid)?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(
                    Error::InvalidApiKey("The Authorization header must be 'Bearer <API key>'.").into()
                );
            }
            Some(rest.trim().to_string())
        }
        None => None,
    };
    let header_key = match req.headers().get("x-api-key") {
        Some(v) => Some(v.to_str().map_err(|_| invalid())?.trim().to_string()),
        None => None,
    };
    let key = match (bearer, header_key) {
        (Some(b), Some(h)) if b != h => {
            return Err(Error::InvalidApiKey(
                "Authorization and X-API-Key name different keys; send one key.",
            )
            .into())
        }
        (Some(k), _) | (None, Some(k)) => k,
        (None, None) => return Err(Error::MissingCredentials.into()),
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(invalid());
    }
    Ok(key)
}

impl FromRequest for Authed {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Authed, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let key = presented_key(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("AppState missing from app data"))?;
            Ok(Authed(keys::authenticate(&state.ctx, &key?).await?))
        })
    }
}
