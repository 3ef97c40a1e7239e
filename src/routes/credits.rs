//! `/api/v1/credits/*` and `/api/v1/admin/credits`: one pool per organization, shared by all of
//! its users.

use super::auth::Authed;
use crate::clock;
use crate::domain::{Balance, LedgerEntry};
use crate::domain::{Credits, LimitPeriod};
use crate::http::error::ApiError;
use crate::http::json::{present, Body, IdempotencyHeader};
use crate::http::paging::{next_cursor, PageQuery, Paged};
use crate::http::AppState;
use crate::service::credits::Limit;
use crate::service::idempotency::Idem;
use crate::service::{credits, Actor};
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
pub struct BalanceView {
    #[schema(value_type = f64, minimum = 0)]
    pub total_credits: Credits,
    #[schema(value_type = f64, minimum = 0)]
    pub credits_used: Credits,
    #[schema(value_type = f64, minimum = 0)]
    pub credits_left: Credits,
}

/// An amount of credits with an optional reason (a grant, a consumption, verify's `consume`).
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct AmountRequest {
    /// Greater than 0, at most 3 decimals, at most `Credits::MAX` (its exact decimal text
    /// counts, hence a JSON number rather than a float).
    #[schema(value_type = f64, required = true, exclusive_minimum = 0, maximum = 1_000_000_000_000f64, multiple_of = 0.001)]
    pub amount: Option<serde_json::Number>,
    /// No control characters or line breaks.
    #[schema(max_length = 500, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub reason: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UsageList {
    /// The pool's total use.
    #[schema(value_type = f64)]
    pub credits_used: Credits,
    /// By user id (a stable order: pages stay put while usage changes).
    pub users: Vec<UsageView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[serde(rename = "nextCursor")]
    pub next_cursor: Option<String>,
}

impl From<Balance> for BalanceView {
    fn from(b: Balance) -> Self {
        BalanceView { total_credits: b.granted, credits_used: b.used, credits_left: b.left() }
    }
}

impl AmountRequest {
    /// `amount` (required, > 0, at most 3 decimals) and `reason` (optional, up to 500 characters).
    pub fn parse(&self) -> Result<(Credits, Option<String>), ApiError> {
        amount_and_reason(self.amount.as_ref(), self.reason.as_deref())
    }
}

fn amount_and_reason(
    amount: Option<&serde_json::Number>,
    reason: Option<&str>,
) -> Result<(Credits, Option<String>), ApiError> {
    let amount =
        amount.ok_or_else(|| ApiError::invalid_field("'amount' is required, e.g. {\"amount\": 2.5}."))?;
    let amount = Credits::from_json(amount).map_err(|m| ApiError::invalid_field(format!("'amount': {m}")))?;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::invalid_field("'reason' must be at most 500 characters."));
    }
    if reason.is_some_and(|r| r.chars().any(char::is_control)) {
        return Err(ApiError::invalid_field("'reason' must not contain control characters or line breaks."));
    }
    Ok((amount, reason.map(str::to_string)))
}

#[utoipa::path(tag = "credits", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = BalanceView)))]
#[get("/api/v1/credits/balance")]
pub async fn balance(state: web::Data<AppState>, caller: Authed) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(BalanceView::from(credits::balance(&state.ctx, &caller).await?)))
}

#[utoipa::path(tag = "credits", request_body = AmountRequest,
    params(IdempotencyHeader),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Debited; the new balance.", body = BalanceView),
        (status = 402, description = "The pool does not cover it; nothing debited.", body = crate::http::error::ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another body.", body = crate::http::error::ErrorBody)))]
#[post("/api/v1/credits/consume")]
pub async fn consume(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authed,
    body: Body<AmountRequest>,
) -> Result<HttpResponse, ApiError> {
    let caller = &caller;
    move_pool(&req, body, |amount, reason, idem| credits::consume(&state.ctx, caller, amount, reason, idem))
        .await
}

/// Both movements of the pool (a consumption, a grant) read the same body and Idempotency-Key
/// and answer the new balance; only the service call differs.
async fn move_pool<F, Fut>(
    req: &HttpRequest,
    body: Body<AmountRequest>,
    movement: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(Credits, Option<String>, Option<Idem>) -> Fut,
    Fut: std::future::Future<Output = crate::error::Result<Balance>>,
{
    let (body, idem) = body.with_idempotency(req)?;
    let (amount, reason) = body.parse()?;
    Ok(HttpResponse::Ok().json(BalanceView::from(movement(amount, reason, idem).await?)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UsageView {
    pub user_id: String,
    pub email: Option<String>,
    /// All this user consumed from the pool.
    #[schema(value_type = f64)]
    pub credits_used: Credits,
    /// The user's credit limit; null: none.
    pub limit: Option<UsageLimit>,
}

/// A credit limit as usage shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UsageLimit {
    #[schema(value_type = f64)]
    pub amount: Credits,
    /// `day` or `month` (UTC calendar), or `total`.
    pub period: &'static str,
    /// Consumed in the current window.
    #[schema(value_type = f64)]
    pub used: Credits,
}

#[utoipa::path(tag = "credits", params(PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UsageList),
        (status = 400, description = "A bad limit or cursor.", body = crate::http::error::ErrorBody),
        (status = 403, body = crate::http::error::ErrorBody)))]
#[get("/api/v1/credits/usage")]
pub async fn usage(
    state: web::Data<AppState>,
    caller: Authed,
    Paged(page): Paged,
) -> Result<HttpResponse, ApiError> {
    let (page, b) = credits::usage(&state.ctx, Actor::key(caller.0), page).await?;
    let next_cursor = next_cursor(&page);
    let users: Vec<UsageView> = page
        .items
        .into_iter()
        .map(|r| UsageView {
            user_id: r.user_id.to_string(),
            email: r.email,
            credits_used: r.used,
            limit: r.limit.map(|l| UsageLimit { amount: l.amount, period: l.period.as_str(), used: l.used }),
        })
        .collect();
    Ok(HttpResponse::Ok().json(UsageList { credits_used: b.used, users, next_cursor }))
}

/// What the ledger is narrowed to (paging comes with `PageQuery`).
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct LedgerQuery {
    /// Only this user's entries (a user id; anything else is 400).
    #[param(value_type = String, required = false, pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    user_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerList {
    pub entries: Vec<LedgerView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerView {
    /// The entry's number in the ledger (ledger entries have no UUID).
    pub id: String,
    /// `grant` or `consume`.
    pub kind: String,
    #[schema(value_type = f64)]
    pub amount: Credits,
    /// Who consumed, or who granted (null for an operator's grant or a deleted grantor).
    pub user_id: Option<String>,
    pub reason: Option<String>,
    pub created_at: String,
}

impl From<LedgerEntry> for LedgerView {
    fn from(r: LedgerEntry) -> Self {
        LedgerView {
            id: r.id.to_string(),
            kind: r.kind,
            amount: r.amount,
            user_id: r.user_id.map(|u| u.to_string()),
            reason: r.reason,
            created_at: clock::format(r.created_at),
        }
    }
}

#[utoipa::path(tag = "credits", params(LedgerQuery, PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "Grants and consumptions, newest first.", body = LedgerList),
        (status = 400, description = "A bad userId, limit or cursor.", body = crate::http::error::ErrorBody),
        (status = 403, body = crate::http::error::ErrorBody)))]
#[get("/api/v1/credits/ledger")]
pub async fn ledger(
    state: web::Data<AppState>,
    caller: Authed,
    query: web::Query<LedgerQuery>,
    Paged(page): Paged,
) -> Result<HttpResponse, ApiError> {
    let page = credits::ledger(&state.ctx, Actor::key(caller.0), query.user_id.as_deref(), page).await?;
    let next_cursor = next_cursor(&page);
    Ok(HttpResponse::Ok()
        .json(LedgerList { entries: page.items.into_iter().map(Into::into).collect(), next_cursor }))
}

/// Body of `PUT /api/v1/admin/credit-limits/{userId}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitRequest {
    /// At least 0, at most 3 decimals; null removes the limit (required either way).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>, required = true, minimum = 0, maximum = 1_000_000_000_000f64, multiple_of = 0.001)]
    pub amount: Option<Option<serde_json::Number>>,
    /// `day` or `month` (UTC calendar) or `total`; required with an amount.
    #[schema(value_type = Option<String>, pattern = "^(day|month|total)$")]
    pub period: Option<String>,
}

/// A user's credit limit; `amount`, `period` and `used` are null when there is none.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitView {
    pub user_id: String,
    #[schema(value_type = Option<f64>)]
    pub amount: Option<Credits>,
    pub period: Option<&'static str>,
    /// Consumed in the current window (a new limit counts what was consumed in it already).
    #[schema(value_type = Option<f64>)]
    pub used: Option<Credits>,
    /// Start of the current window (day or month, UTC); null for `total` or no limit.
    pub window_start: Option<String>,
}

#[utoipa::path(tag = "credits",
    params(("userId" = String, Path, description = "A member's user id")),
    request_body = LimitRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The limit now in force (or none).", body = LimitView),
        (status = 403, description = "Not an owner or admin, or a key without every scope.", body = crate::http::error::ErrorBody),
        (status = 404, description = "No member of this organization has that user id.", body = crate::http::error::ErrorBody)))]
#[put("/api/v1/admin/credit-limits/{userId}")]
pub async fn set_limit(
    state: web::Data<AppState>,
    caller: Authed,
    user_id: web::Path<String>,
    body: Body<LimitRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let Some(amount) = body.amount else {
        return Err(ApiError::invalid_field(
            "'amount' is required: a number of credits (0 or more), or null to remove the limit.",
        ));
    };
    let limit = match amount {
        None => None,
        Some(n) => {
            let n = &n;
            let amount = if n.as_f64() == Some(0.0) {
                Credits::from_thousandths(0)
            } else if n.as_f64().is_some_and(|f| f < 0.0) {
                return Err(ApiError::invalid_field("'amount' must be 0 or more (null removes the limit)."));
            } else {
                Credits::from_json(n).map_err(|m| ApiError::invalid_field(format!("'amount': {m}")))?
            };
            let period = body.period.as_deref().and_then(LimitPeriod::parse).ok_or_else(|| {
                ApiError::invalid_field("'period' must be \"day\", \"month\" or \"total\".")
            })?;
            Some((amount, period))
        }
    };
    let (user, limit) = credits::set_limit(&state.ctx, Actor::key(caller.0), &user_id, limit).await?;
    Ok(HttpResponse::Ok().json(limit_view(user.to_string(), limit)))
}

fn limit_view(user_id: String, limit: Option<Limit>) -> LimitView {
    match limit {
        None => LimitView { user_id, amount: None, period: None, used: None, window_start: None },
        Some(l) => LimitView {
            user_id,
            amount: Some(l.amount),
            period: Some(l.period.as_str()),
            used: Some(l.used),
            window_start: l.window_start.map(clock::format),
        },
    }
}

#[utoipa::path(tag = "credits", request_body = AmountRequest,
    params(IdempotencyHeader),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = BalanceView), (status = 403, description = "Not an owner.", body = crate::http::error::ErrorBody),
        (status = 409, description = "The pool would go over the largest amount a pool holds; nothing granted. Or the Idempotency-Key was used with another body.", body = crate::http::error::ErrorBody)))]
#[post("/api/v1/admin/credits")]
pub async fn grant(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authed,
    body: Body<AmountRequest>,
) -> Result<HttpResponse, ApiError> {
    move_pool(&req, body, |amount, reason, idem| {
        credits::grant(&state.ctx, Actor::key(caller.0), amount, reason, idem)
    })
    .await
}

#[cfg(test)]
mod tests {
    use crate::domain::Credits;

    /// The document's ceiling is a literal (utoipa takes no expressions); it must stay the one the
    /// server enforces.
    #[test]
    fn the_documented_largest_amount_is_the_enforced_one() {
        let doc = serde_json::to_value(crate::openapi::document()).unwrap();
        let max = &doc["components"]["schemas"]["AmountRequest"]["properties"]["amount"]["maximum"];
        assert_eq!(max.as_f64(), Some(Credits::MAX.thousandths() as f64 / 1000.0), "{max}");
    }
}
