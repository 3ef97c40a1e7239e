//! `/healthz`: 200 when the database answers a query, else 503.

use crate::http::error::ApiError;
use crate::http::AppState;
use crate::service::maintenance;
use actix_web::{get, web, HttpResponse};

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`
    pub status: String,
}

#[utoipa::path(tag = "operations",
    responses((status = 200, description = "The database answers.", body = Health)))]
#[get("/healthz")]
pub async fn get(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    maintenance::health(&state.ctx).await.map_err(|e| ApiError::unavailable(format!("health check: {e}")))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok"})))
}
