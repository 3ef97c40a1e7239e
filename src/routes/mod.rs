//! The JSON API: one file per resource, handlers named by verb. Each handler's actix attribute
//! (`#[get("/v1/keys")]`) declares its route once: `configure` registers the handlers, and
//! utoipa-actix-web collects the same registrations into the OpenAPI document
//! (`openapi::document`). A handler parses its input (a typed body: `http::json::Body`), calls
//! one service function and shapes the response; statuses come from `http::error`.

pub mod agents;
pub mod audit;
pub mod auth;
pub mod claims;
pub mod credits;
pub mod events;
pub mod health;
pub mod keys;
pub mod members;
pub mod metrics;
pub mod orchestrator;
pub mod provisions;
pub mod scim;
pub mod user;
pub mod webhooks;

use utoipa_actix_web::service_config::ServiceConfig;

/// Every API route, each registered once (the document is built from these same calls).
pub fn configure(cfg: &mut ServiceConfig) {
    // actix tries routes in this order, and each with a path parameter costs a regular-expression
    // match (a tenth of a cached read's time in the profile, docs/performance.md): the hot paths,
    // which have none, go first.
    cfg.service(health::get)
        .service(user::get)
        .service(keys::verify)
        .service(credits::consume)
        .service(provisions::create)
        .service(provisions::list)
        .service(provisions::get)
        .service(provisions::cancel)
        .service(provisions::claim_link)
        .service(agents::create)
        .service(agents::list)
        .service(agents::delete)
        .service(members::list)
        .service(members::update)
        .service(members::remove)
        .service(claims::claim)
        .service(user::regenerate_key)
        .service(keys::list)
        .service(keys::create)
        // Before `/v1/keys/{id}`, which would take "verify" for an id.
        .service(keys::verify)
        .service(keys::revoke)
        .service(keys::rotate)
        .service(orchestrator::create_user)
        .service(orchestrator::set_provisioner)
        .service(credits::grant)
        .service(credits::balance)
        .service(credits::usage)
        .service(credits::ledger)
        .service(credits::set_limit)
        .service(audit::list)
        .service(audit::export)
        .service(events::list)
        .service(webhooks::create)
        .service(webhooks::list)
        .service(webhooks::get)
        .service(webhooks::update)
        .service(webhooks::delete)
        .service(webhooks::rotate_secret)
        .service(webhooks::deliveries)
        .service(webhooks::resend)
        .service(webhooks::test)
        .service(scim::get)
        .service(scim::set);
    // The SCIM protocol (`/scim/v2`): its own errors and media type, in the same document.
    crate::scim::configure(cfg);
}

/// A response that carries a key or a claim link: no cache (a browser's, a proxy's) may keep it.
pub fn secret(mut res: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    res.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
    res
}
