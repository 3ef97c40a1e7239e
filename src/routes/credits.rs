//! `/api/v1/credits/*` and `/api/v1/admin/credits`: one pool per organization, shared by all of
//! its users.

use super::auth::Authed;
use super::body::{Fields, JsonBody};
use crate::domain::Credits;
use crate::error::ApiError;
use crate::http::AppState;
use crate::service::{credits, Actor};
use crate::store::credits::Balance;
use actix_web::{web, HttpResponse};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct BalanceView {
    #[schema(value_type = f64, minimum = 0)]
    pub total_credits: Credits,
    #[schema(value_type = f64, minimum = 0)]
    pub credits_used: Credits,
    #[schema(value_type = f64, minimum = 0)]
    pub credits_left: Credits,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AmountRequest {
    /// Greater than 0, at most 3 decimals, at most `Credits::MAX`.
    #[schema(exclusive_minimum = 0, maximum = 1_000_000_000_000f64, multiple_of = 0.001)]
    amount: f64,
    /// No control characters or line breaks.
    #[schema(max_length = 500, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    reason: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UsageList {
    #[schema(value_type = f64)]
    pub credits_used: Credits,
    pub users: Vec<UsageView>,
}

impl From<Balance> for BalanceView {
    fn from(b: Balance) -> Self {
        BalanceView { total_credits: b.granted, credits_used: b.used, credits_left: b.left() }
    }
}

/// `amount` (required, > 0, at most 3 decimals) and `reason` (optional, up to 500 characters).
pub fn amount_and_reason(fields: &Fields) -> Result<(Credits, Option<String>), ApiError> {
    let amount = fields
        .opt_number("amount")?
        .ok_or_else(|| ApiError::invalid_field("'amount' is required, e.g. {\"amount\": 2.5}."))?;
    let amount = Credits::from_json(amount).map_err(|m| ApiError::invalid_field(format!("'amount': {m}")))?;
    let reason = fields.opt_str("reason")?.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::invalid_field("'reason' must be at most 500 characters."));
    }
    if reason.is_some_and(|r| r.chars().any(char::is_control)) {
        return Err(ApiError::invalid_field("'reason' must not contain control characters or line breaks."));
    }
    Ok((amount, reason.map(str::to_string)))
}

#[utoipa::path(get, path = "/api/v1/credits/balance", tag = "credits", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = BalanceView)))]
pub async fn balance(state: web::Data<AppState>, caller: Authed) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(BalanceView::from(credits::balance(&state.ctx, &caller).await?)))
}

#[utoipa::path(post, path = "/api/v1/credits/consume", tag = "credits", request_body = AmountRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Debited; the new balance.", body = BalanceView),
        (status = 402, description = "The pool does not cover it; nothing debited.", body = crate::openapi::ErrorBody)))]
pub async fn consume(
    state: web::Data<AppState>,
    caller: Authed,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (amount, reason) = amount_and_reason(&body.fields()?)?;
    let b = credits::consume(&state.ctx, &caller, amount, reason).await?;
    Ok(HttpResponse::Ok().json(BalanceView::from(b)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UsageView {
    pub user_id: Option<String>,
    pub email: Option<String>,
    #[schema(value_type = f64)]
    pub credits_used: Credits,
}

#[utoipa::path(get, path = "/api/v1/credits/usage", tag = "credits", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UsageList), (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn usage(state: web::Data<AppState>, caller: Authed) -> Result<HttpResponse, ApiError> {
    let (rows, b) = credits::usage(&state.ctx, &caller).await?;
    let users: Vec<UsageView> = rows
        .into_iter()
        .map(|r| UsageView {
            user_id: r.user_id.map(|u| u.to_string()),
            email: r.email,
            credits_used: r.used,
        })
        .collect();
    Ok(HttpResponse::Ok().json(UsageList { credits_used: b.used, users }))
}

#[utoipa::path(post, path = "/api/v1/admin/credits", tag = "credits", request_body = AmountRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = BalanceView), (status = 403, description = "Not an owner.", body = crate::openapi::ErrorBody),
        (status = 409, description = "The pool would go over the largest amount a pool holds; nothing granted.", body = crate::openapi::ErrorBody)))]
pub async fn grant(
    state: web::Data<AppState>,
    caller: Authed,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (amount, reason) = amount_and_reason(&body.fields()?)?;
    let b = credits::grant(&state.ctx, Actor::Key(caller.0), amount, reason).await?;
    Ok(HttpResponse::Ok().json(BalanceView::from(b)))
}

#[cfg(test)]
mod tests {
    use crate::domain::Credits;
    use utoipa::OpenApi;

    /// The document's ceiling is a literal (utoipa takes no expressions); it must stay the one the
    /// server enforces.
    #[test]
    fn the_documented_largest_amount_is_the_enforced_one() {
        let doc = serde_json::to_value(crate::openapi::ApiDoc::openapi()).unwrap();
        let max = &doc["components"]["schemas"]["AmountRequest"]["properties"]["amount"]["maximum"];
        assert_eq!(max.as_f64(), Some(Credits::MAX.thousandths() as f64 / 1000.0), "{max}");
    }
}
