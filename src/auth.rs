//! Credentials to caller: `Authorization: Bearer <key>` or `X-API-Key: <key>`, on every route.

use crate::app::AppState;
use crate::error::ApiError;
use crate::keycache::Entry;
use crate::{keys, store};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Who is calling, as their key says: the key's user, organization, role and project.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The key's internal row number (keys have no public id).
    pub key_id: i64,
    pub user_id: String,
    pub email: Option<String>,
    /// The address is known to reach this person (see schema.sql, users.email_verified).
    pub email_verified: bool,
    pub placeholder: bool,
    pub api_only: bool,
    pub org_id: String,
    pub org_name: String,
    pub org_domain: Option<String>,
    /// What this key acts as: the lesser of the member's role and the key's ceiling.
    pub role: crate::domain::Role,
    /// The most this key may ever act as (see schema.sql, api_keys.role).
    pub key_ceiling: crate::domain::Role,
    pub is_provisioner: bool,
    pub project_id: String,
    /// The project's internal key, which its agents link to (see schema.sql, Keys).
    pub project_n: i64,
}

impl Caller {
    /// What the provisioning rate limit counts this caller by: the person, so a new key (or
    /// the dashboard) does not bring a fresh allowance.
    pub fn limit_key(&self) -> String {
        format!("user:{}", self.user_id)
    }

    /// A placeholder's key uses its own project (agents, the caller, credits) and nothing else:
    /// whoever holds it has not claimed the account, and its provision expires.
    fn require_claimed(&self) -> Result<(), ApiError> {
        if self.placeholder {
            Err(ApiError::forbidden(
                "insufficient_role",
                "This key belongs to an account nobody has claimed yet: it can use its own project (agents, credits), not manage the organization. Claim the account first.",
            ))
        } else {
            Ok(())
        }
    }

    /// Provisioner-only actions (the orchestrator endpoint).
    pub fn require_provisioner(&self) -> Result<(), ApiError> {
        if self.is_provisioner && !self.placeholder {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "not_a_provisioner",
                "This API key's user may not create users: an owner must enable provisioner access for it.",
            ))
        }
    }

    /// Owner, admin or provisioner: who may see the organization's credit usage.
    pub fn require_admin_or_provisioner(&self) -> Result<(), ApiError> {
        self.require_claimed()?;
        if self.role.is_admin() || self.is_provisioner {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "insufficient_role",
                "Usage is visible to owners, admins and provisioners only.",
            ))
        }
    }

    /// Owner-only actions; `what` completes "Only an owner may …".
    pub fn require_owner(&self, what: &str) -> Result<(), ApiError> {
        self.require_claimed()?;
        if self.role == crate::domain::Role::Owner {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "insufficient_role",
                format!("Only an owner may {what}; this key's role is {}.", self.role.as_str()),
            ))
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.require_claimed()?;
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

/// The key presented with the request; both headers may be sent only if they agree.
fn presented_key(req: &HttpRequest) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::unauthorized(
            "invalid_api_key",
            "The API key is not valid; check it, or ask an admin for a new one.",
        )
    };
    // Two copies of a credential header are ambiguous: which one a proxy or a log saw may not
    // be the one we would check.
    if req.headers().get_all(header::AUTHORIZATION).nth(1).is_some()
        || req.headers().get_all("x-api-key").nth(1).is_some()
    {
        return Err(ApiError::unauthorized(
            "invalid_api_key",
            "Send the API key once: this request has the same credential header twice.",
        ));
    }
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
    let header_key = match req.headers().get("x-api-key") {
        Some(v) => Some(v.to_str().map_err(|_| invalid())?.trim().to_string()),
        None => None,
    };
    let key = match (bearer, header_key) {
        (Some(b), Some(h)) if b != h => {
            return Err(ApiError::unauthorized(
                "invalid_api_key",
                "Authorization and X-API-Key name different keys; send one key.",
            ))
        }
        (Some(k), _) | (None, Some(k)) => k,
        (None, None) => {
            return Err(ApiError::unauthorized(
                "missing_credentials",
                "Send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
            ))
        }
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(invalid());
    }
    Ok(key)
}

/// Note a key's use for `lastUsedAt` at most this often; the notes are written in bulk later.
const NOTE_USE_EVERY_MS: i64 = 60_000;

fn invalid_key() -> ApiError {
    ApiError::unauthorized(
        "invalid_api_key",
        "The API key is not valid; check it, or ask an admin for a new one.",
    )
}

/// The one place a key becomes a caller. A revoked key, a deleted user, or a placeholder whose
/// provision is no longer pending and unexpired all fail here, whether or not cleanup has run.
/// Known keys come from the in-process cache (see `keycache`); this path never writes.
pub async fn authenticate(state: &AppState, key: String) -> Result<Caller, ApiError> {
    let hash = keys::hash(&key);
    let now = state.clock.now();
    state.db.check_key_epoch()?;
    let cache = state.db.key_cache();
    let entry = match cache.get(&hash) {
        Some(e) => e,
        None => {
            let seen = cache.epoch();
            let row = state
                .db
                .read(move |conn| Ok(store::keys::lookup(conn, &hash)?))
                .await?
                .ok_or_else(invalid_key)?;
            let valid_until = row.caller.placeholder.then(|| row.pending_until.unwrap_or(i64::MIN));
            let entry = Arc::new(Entry {
                caller: row.caller,
                valid_until,
                last_noted: AtomicI64::new(row.last_used_at.unwrap_or(0)),
            });
            cache.insert(hash, entry.clone(), seen);
            entry
        }
    };
    if entry.valid_until.is_some_and(|until| now >= until) {
        return Err(invalid_key());
    }
    let last = entry.last_noted.load(Ordering::Relaxed);
    if now - last >= NOTE_USE_EVERY_MS
        && entry.last_noted.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    {
        state.db.note_key_use(entry.caller.key_id, now);
    }
    Ok(entry.caller.clone())
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
