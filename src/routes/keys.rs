//! `/v1/keys`: a user's keys (list, create, revoke, rotate) and verification for the platform's
//! own services.

use super::auth::Authed;
use crate::clock;
use crate::domain::KeyRecord;
use crate::domain::{Role, Scope, Scopes, UserId};
use crate::http::error::ApiError;
use crate::http::json::{Body, IdempotencyHeader};
use crate::http::paging::{next_cursor, PageQuery, Paged};
use crate::http::schema::{KeyScopes, ScopeName};
use crate::http::AppState;
use crate::service::keys::{self, IssuedKey, NewKeyInput, VerifyInput};
use crate::service::Actor;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: String,
    pub name: Option<String>,
    /// The key's prefix and first 8 hex characters; never the key.
    pub hint: String,
    pub user_id: String,
    pub project_id: String,
    /// The most this key acts as (its user's role, if lower, wins).
    pub role: &'static str,
    pub scopes: Vec<&'static str>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    /// When the key stopped (or, after a rotation with a grace period, will stop) working.
    pub revoked_at: Option<String>,
}

impl From<KeyRecord> for KeyView {
    fn from(k: KeyRecord) -> Self {
        KeyView {
            id: k.id.to_string(),
            name: k.name,
            hint: k.hint,
            user_id: k.user_id.to_string(),
            project_id: k.project_id.to_string(),
            role: k.ceiling.as_str(),
            scopes: k.scopes.names(),
            created_at: clock::format(k.created_at),
            last_used_at: k.last_used_at.map(clock::format),
            expires_at: k.expires_at.map(clock::format),
            revoked_at: k.revoked_at.map(clock::format),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyList {
    pub keys: Vec<KeyView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewKeyView {
    #[serde(flatten)]
    pub key: KeyView,
    /// The key itself, shown this once.
    pub api_key: String,
}

fn issued(k: IssuedKey) -> HttpResponse {
    super::secret(HttpResponse::Created()).json(NewKeyView { key: k.item.into(), api_key: k.api_key })
}

/// What the key list is narrowed to (paging comes with `PageQuery`).
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct KeysQuery {
    /// Only this user's keys (admins and owners).
    #[param(value_type = String, required = false)]
    user_id: Option<String>,
}

#[utoipa::path(tag = "keys", params(KeysQuery, PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "Admins and owners: the organization's keys; anyone else: their own. Newest first.", body = KeyList),
        (status = 400, body = crate::http::error::ErrorBody), (status = 403, body = crate::http::error::ErrorBody)))]
#[get("/v1/keys")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Authed,
    query: web::Query<KeysQuery>,
    Paged(page): Paged,
) -> Result<HttpResponse, ApiError> {
    let user = match query.user_id.as_deref() {
        None => None,
        Some(u) => Some(
            UserId::parse(u)
                .ok_or_else(|| ApiError::invalid_field("'userId' must be a user id (a UUID)."))?,
        ),
    };
    let page = keys::list(&state.ctx, Actor::key(caller.0), user, page).await?;
    let next_cursor = next_cursor(&page);
    Ok(HttpResponse::Ok()
        .json(KeyList { keys: page.items.into_iter().map(Into::into).collect(), next_cursor }))
}

/// Body of `POST /v1/keys`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewKeyRequest {
    /// A label: 1–100 characters after trimming, no control, invisible or text-direction
    /// characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060\\u2066-\\u2069\\ufeff][^\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060\\u2066-\\u2069\\ufeff]*$"
    )]
    pub name: Option<String>,
    /// A whole number of seconds (120.0 counts as 120).
    #[schema(value_type = Option<u32>, minimum = 60, maximum = 31_536_000)]
    pub expires_in_seconds: Option<serde_json::Number>,
    /// At most the caller's own role.
    #[schema(value_type = Option<String>, pattern = "^(owner|admin|member)$")]
    pub role: Option<Role>,
    /// Absent: the caller's own scopes. At least one; at most the caller's; `["scim"]` alone
    /// makes an owner's SCIM token.
    #[schema(value_type = Option<KeyScopes>)]
    pub scopes: Option<Vec<String>>,
}

/// An optional whole number of seconds within `range`, as milliseconds.
fn seconds(n: Option<&serde_json::Number>, name: &str, min: u64, max: u64) -> Result<Option<i64>, ApiError> {
    let Some(n) = n else {
        return Ok(None);
    };
    // JSON has one kind of number: 120.0 is the whole number 120.
    let whole = n
        .as_u64()
        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 1e15).map(|f| f as u64));
    match whole.filter(|s| (min..=max).contains(s)) {
        Some(s) => Ok(Some(s as i64 * 1000)),
        None => Err(ApiError::invalid_field(format!("'{name}' must be a whole number from {min} to {max}."))),
    }
}

fn scopes(names: Option<Vec<String>>) -> Result<Option<Scopes>, ApiError> {
    let Some(names) = names else {
        return Ok(None);
    };
    Scopes::parse(names.iter().map(String::as_str))
        .map(Some)
        .map_err(|m| ApiError::invalid_field(format!("'scopes': {m}")))
}

#[utoipa::path(tag = "keys", request_body = NewKeyRequest,
    params(IdempotencyHeader),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, description = "The key, shown once.", body = NewKeyView),
        (status = 400, body = crate::http::error::ErrorBody), (status = 403, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody)))]
#[post("/v1/keys")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authed,
    body: Body<NewKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let (body, idem) = body.with_idempotency(&req)?;
    let name = match body.name.as_deref().map(str::trim) {
        None => None,
        Some(n) => Some(
            crate::domain::DisplayName::parse("name", n, 100)
                .map_err(ApiError::invalid_field)?
                .as_str()
                .to_string(),
        ),
    };
    let input = NewKeyInput {
        name,
        expires_in_ms: seconds(body.expires_in_seconds.as_ref(), "expiresInSeconds", 60, 31_536_000)?,
        role: body.role,
        scopes: scopes(body.scopes)?,
    };
    Ok(issued(keys::create(&state.ctx, &caller, input, idem).await?))
}

#[utoipa::path(tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "Revoked: the key fails from the next request."),
        (status = 404, body = crate::http::error::ErrorBody), (status = 409, description = "Revoked already.", body = crate::http::error::ErrorBody)))]
#[delete("/v1/keys/{id}")]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    keys::revoke(&state.ctx, Actor::key(caller.0), &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Body of `POST /v1/keys/{id}/rotate`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateRequest {
    /// How long the old key keeps working; default 0.
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 86_400)]
    pub grace_period_seconds: Option<serde_json::Number>,
}

#[utoipa::path(tag = "keys", request_body = RotateRequest,
    params(("id" = String, Path, description = "Key id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, description = "The new key, shown once.", body = NewKeyView),
        (status = 400, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody)))]
#[post("/v1/keys/{id}/rotate")]
pub async fn rotate(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
    body: Body<RotateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let grace = seconds(body.grace_period_seconds.as_ref(), "gracePeriodSeconds", 0, 86_400)?.unwrap_or(0);
    Ok(issued(keys::rotate(&state.ctx, Actor::key(caller.0), &id, grace).await?))
}

/// Body of `POST /v1/keys/verify`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The key to check, as the platform's user presented it.
    #[schema(min_length = 1, max_length = 128)]
    pub key: String,
    /// Also debit the organization's pool for the key's user, atomically with the check.
    pub consume: Option<crate::routes::credits::AmountRequest>,
    /// Also require this scope of the key.
    #[schema(value_type = Option<ScopeName>)]
    pub scope: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyView<'a> {
    pub valid: bool,
    /// valid, not_found, revoked, expired, missing_scope, credits_exceeded or user_limit_exceeded
    pub code: &'static str,
    pub key_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub email: Option<&'a str>,
    pub organization_id: Option<&'a str>,
    pub project_id: Option<&'a str>,
    pub role: Option<&'static str>,
    pub scopes: Option<Vec<&'static str>>,
    /// When the key stops working, if it does.
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits: Option<super::credits::BalanceView>,
}

#[utoipa::path(tag = "keys", request_body = VerifyRequest,
    params(IdempotencyHeader),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "Whether the key is good (always 200 for a well-formed request).", body = VerifyView),
        (status = 400, body = crate::http::error::ErrorBody), (status = 403, description = "The calling key lacks keys:verify.", body = crate::http::error::ErrorBody),
        (status = 409, description = "With consume: the Idempotency-Key was used with another body.", body = crate::http::error::ErrorBody)))]
#[post("/v1/keys/verify")]
pub async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authed,
    body: Body<VerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    // The header is checked either way (a malformed one is a client's mistake), used only with
    // a debit.
    let (body, idem) = body.with_idempotency(&req)?;
    let key = body.key;
    // Characters, as the document counts them (bytes refused what it calls valid).
    if key.is_empty() || key.chars().count() > 128 {
        return Err(ApiError::invalid_field("'key' must be an API key (1 to 128 characters)."));
    }
    let scope = match body.scope.as_deref() {
        None => None,
        Some(s) => Some(Scope::parse(s).ok_or_else(|| {
            ApiError::invalid_field(format!("'scope': '{s}' is not a scope; see docs/api.md, Keys."))
        })?),
    };
    let consume = body.consume.as_ref().map(|c| c.parse()).transpose()?;
    let idem = idem.filter(|_| consume.is_some());
    let v = keys::verify(&state.ctx, &caller, VerifyInput { key, scope, consume, idem }).await?;
    let k = v.key.as_deref();
    let ends = k.and_then(|k| k.ends_at());
    Ok(HttpResponse::Ok().json(VerifyView {
        valid: v.code == keys::VerifyCode::Valid,
        code: v.code.as_str(),
        key_id: k.map(|k| k.key_id.as_str()),
        user_id: k.map(|k| k.user_id.as_str()),
        email: k.and_then(|k| k.email.as_deref()),
        organization_id: k.map(|k| k.org_id.as_str()),
        project_id: k.map(|k| k.project_id.as_str()),
        role: k.map(|k| k.role.as_str()),
        scopes: k.map(|k| k.scopes.names()),
        expires_at: ends.map(clock::format),
        credits: v.credits.map(Into::into),
    }))
}
