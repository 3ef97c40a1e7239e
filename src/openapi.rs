//! The OpenAPI 3 document, served at `GET /openapi.json`, generated from the handlers'
//! annotations and the response types themselves. Errors every route can give (bad input,
//! credentials, limits, faults) are added to every operation in one place below.

use crate::routes;
use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{AnyOfBuilder, Schema};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every non-2xx response of the API.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// `invalid_request_error`, `authentication_error`, `credits_error`, `permission_error`,
    /// `not_found_error`, `conflict_error`, `rate_limit_error` or `api_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A stable snake_case code, e.g. `invalid_api_key`.
    pub code: String,
    /// A sentence a person can act on.
    pub message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "provisiond", description = "Provisions users, projects and API keys for AI-agent platforms."),
    paths(
        routes::health::get,
        routes::keys::list,
        routes::keys::create,
        routes::keys::revoke,
        routes::keys::rotate,
        routes::keys::verify,
        routes::provisions::create,
        routes::provisions::list,
        routes::provisions::get,
        routes::provisions::cancel,
        routes::provisions::claim_link,
        routes::agents::create,
        routes::agents::list,
        routes::agents::delete,
        routes::members::list,
        routes::members::update,
        routes::members::remove,
        routes::audit::list,
        routes::events::list,
        routes::webhooks::create,
        routes::webhooks::list,
        routes::webhooks::get,
        routes::webhooks::update,
        routes::webhooks::delete,
        routes::webhooks::rotate_secret,
        routes::webhooks::deliveries,
        routes::webhooks::test,
        routes::user::get,
        routes::user::regenerate_key,
        routes::claims::claim,
        routes::orchestrator::create_user,
        routes::orchestrator::set_provisioner,
        routes::credits::balance,
        routes::credits::consume,
        routes::credits::usage,
        routes::credits::grant,
        routes::credits::ledger,
        routes::credits::set_limit,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Security, &CommonErrors, &OptionalBodies)
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("oc_ + 64 hex").build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("provisiond_session"))),
        );
    }
}

/// Statuses any authenticated JSON route may answer besides its own: bad credentials, a body
/// that is not JSON, too large or of the wrong type, limits, and server faults.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let error = || {
            ResponseBuilder::new()
                .description("The contract's error body.")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ErrorBody"))))
                        .build(),
                )
                .build()
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            let public = path == "/healthz";
            let ops: [Option<&mut Operation>; 5] = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
            ];
            for op in ops.into_iter().flatten() {
                let mut add = |status: &str| {
                    op.responses.responses.entry(status.to_string()).or_insert_with(|| RefOr::T(error()));
                };
                add("500");
                add("503");
                if !public {
                    for s in ["400", "401", "413", "415", "429"] {
                        add(s);
                    }
                }
            }
        }
    }
}

/// `POST /v1/team/provisions` takes an empty body as "all defaults" (the SDK may send none).
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        if let Some(op) = doc.paths.paths.get_mut("/v1/team/provisions").and_then(|p| p.post.as_mut()) {
            if let Some(body) = op.request_body.as_mut() {
                body.required = Some(utoipa::openapi::Required::False);
            }
        }
        // A member named by both email and user id is fine (email wins), and a member patch may
        // carry both fields: any of, not one of.
        for name in ["SetProvisionerRequest", "MemberPatch"] {
            let Some(slot) = doc.components.as_mut().and_then(|c| c.schemas.get_mut(name)) else {
                continue;
            };
            if let RefOr::T(Schema::OneOf(one)) = slot {
                let mut any = AnyOfBuilder::new();
                for item in one.items.drain(..) {
                    any = any.item(item);
                }
                let mut any = any.build();
                any.description = one.description.take();
                *slot = RefOr::T(Schema::AnyOf(any));
            }
        }
    }
}

/// Built once: the document only changes with the code.
pub async fn get() -> HttpResponse {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let doc =
        DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")));
    HttpResponse::Ok().content_type("application/json").body(doc.clone())
}
