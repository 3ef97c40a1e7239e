//! `/metrics` (METRICS=true): the Prometheus text format, behind `METRICS_TOKEN` when set. Not
//! in the OpenAPI document: it is for the operator's scraper, not for API clients.

use crate::http::error::ApiError;
use crate::http::AppState;
use crate::service::maintenance;
use actix_web::{web, HttpRequest, HttpResponse};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(scrape));
}

async fn scrape(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(token) = state.settings.metrics_token.as_deref() {
        let presented = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Compared as hashes: the time taken says nothing about how much of the token matched.
        if blake3::hash(presented.as_bytes()) != blake3::hash(token.as_bytes()) {
            return Err(ApiError::unauthorized(
                "invalid_metrics_token",
                "Send the metrics token as 'Authorization: Bearer <METRICS_TOKEN>'.",
            ));
        }
    }
    let text = maintenance::metrics(&state.ctx).await?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}
