//! The JSON API: one file per resource, handlers named by verb. A handler parses its input,
//! calls one service function and shapes the response; statuses come from `error.rs`.

pub mod agents;
pub mod audit;
pub mod auth;
pub mod body;
pub mod claims;
pub mod credits;
pub mod events;
pub mod health;
pub mod keys;
pub mod list;
pub mod members;
pub mod metrics;
pub mod orchestrator;
pub mod provisions;
pub mod user;
pub mod webhooks;

use crate::error::ApiError;
use actix_web::{web, HttpResponse};

/// Every API route. Each resource answers other methods with a JSON 405.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/openapi.json")
            .route(web::get().to(crate::openapi::get))
            .default_service(web::to(|| not_allowed("GET"))),
    )
    .service(
        web::resource("/healthz")
            .route(web::get().to(health::get))
            .default_service(web::to(|| not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/team/provisions")
            .route(web::post().to(provisions::create))
            .route(web::get().to(provisions::list))
            .default_service(web::to(|| not_allowed("POST, GET"))),
    )
    .service(
        web::resource("/v1/team/provisions/{id}")
            .route(web::get().to(provisions::get))
            .route(web::delete().to(provisions::cancel))
            .default_service(web::to(|| not_allowed("GET, DELETE"))),
    )
    .service(
        web::resource("/v1/team/provisions/{id}/claim-link")
            .route(web::post().to(provisions::claim_link))
            .default_service(web::to(|| not_allowed("POST"))),
    )
    .service(
        web::resource("/v1/agents")
            .route(web::post().to(agents::create))
            .route(web::get().to(agents::list))
            .default_service(web::to(|| not_allowed("POST, GET"))),
    )
    .service(
        web::resource("/v1/agents/{id}")
            .route(web::delete().to(agents::delete))
            .default_service(web::to(|| not_allowed("DELETE"))),
    )
    .service(
        web::resource("/v1/members")
            .route(web::get().to(members::list))
            .default_service(web::to(|| not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/members/{userId}")
            .route(web::patch().to(members::update))
            .route(web::delete().to(members::remove))
            .default_service(web::to(|| not_allowed("PATCH, DELETE"))),
    )
    .service(
        web::resource("/v1/provisions/claim")
            .route(web::post().to(claims::claim))
            .default_service(web::to(|| not_allowed("POST"))),
    )
    .service(
        web::resource("/v1/user")
            .route(web::get().to(user::get))
            .default_service(web::to(|| not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/user/api-key/regenerate")
            .route(web::post().to(user::regenerate_key))
            .default_service(web::to(|| not_allowed("POST"))),
    )
    .service(
        web::resource("/v1/keys")
            .route(web::get().to(keys::list))
            .route(web::post().to(keys::create))
            .default_service(web::to(|| not_allowed("GET, POST"))),
    )
    // Before `/v1/keys/{id}`, which would take "verify" for an id.
    .service(
        web::resource("/v1/keys/verify")
            .route(web::post().to(keys::verify))
            .default_service(web::to(|| not_allowed("POST"))),
    )
    .service(
        web::resource("/v1/keys/{id}")
            .route(web::delete().to(keys::revoke))
            .default_service(web::to(|| not_allowed("DELETE"))),
    )
    .service(
        web::resource("/v1/keys/{id}/rotate")
            .route(web::post().to(keys::rotate))
            .default_service(web::to(|| not_allowed("POST"))),
    )
    .service(
        web::resource("/api/v1/admin/create-user")
            .route(web::post().to(orchestrator::create_user))
            .default_service(web::to(|| not_allowed("POST"))),
    )
    .service(
        web::resource("/api/v1/admin/set-provisioner")
            .route(web::post().to(orchestrator::set_provisioner))
            .default_service(web::to(|| not_allowed("POST"))),
    )
    .service(
        web::resource("/api/v1/admin/credits")
            .route(web::post().to(credits::grant))
            .default_service(web::to(|| not_allowed("POST"))),
    )
    .service(
        web::resource("/api/v1/credits/balance")
            .route(web::get().to(credits::balance))
            .default_service(web::to(|| not_allowed("GET"))),
    )
    .service(
        web::resource("/api/v1/credits/consume")
            .route(web::post().to(credits::consume))
            .default_service(web::to(|| not_allowed("POST"))),
    )
    .service(
        web::resource("/api/v1/credits/usage")
            .route(web::get().to(credits::usage))
            .default_service(web::to(|| not_allowed("GET"))),
    )
    .service(
        web::resource("/api/v1/credits/ledger")
            .route(web::get().to(credits::ledger))
            .default_service(web::to(|| not_allowed("GET"))),
    )
    .service(
        web::resource("/api/v1/admin/credit-limits/{userId}")
            .route(web::put().to(credits::set_limit))
            .default_service(web::to(|| not_allowed("PUT"))),
    )
    .service(
        web::resource("/v1/audit-logs")
            .route(web::get().to(audit::list))
            .default_service(web::to(|| not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/events")
            .route(web::get().to(events::list))
            .default_service(web::to(|| not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/webhooks")
            .route(web::post().to(webhooks::create))
            .route(web::get().to(webhooks::list))
            .default_service(web::to(|| not_allowed("POST, GET"))),
    )
    .service(
        web::resource("/v1/webhooks/{id}")
            .route(web::get().to(webhooks::get))
            .route(web::patch().to(webhooks::update))
            .route(web::delete().to(webhooks::delete))
            .default_service(web::to(|| not_allowed("GET, PATCH, DELETE"))),
    )
    .service(
        web::resource("/v1/webhooks/{id}/rotate-secret")
            .route(web::post().to(webhooks::rotate_secret))
            .default_service(web::to(|| not_allowed("POST"))),
    )
    .service(
        web::resource("/v1/webhooks/{id}/deliveries")
            .route(web::get().to(webhooks::deliveries))
            .default_service(web::to(|| not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/webhooks/{id}/test")
            .route(web::post().to(webhooks::test))
            .default_service(web::to(|| not_allowed("POST"))),
    );
}

/// A response that carries a key or a claim link: no cache (a browser's, a proxy's) may keep it.
pub fn secret(mut res: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    res.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
    res
}

async fn not_allowed(allow: &'static str) -> Result<HttpResponse, ApiError> {
    Err(ApiError::method_not_allowed_for(allow))
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("No such route; see the README for the routes provisiond serves."))
}
