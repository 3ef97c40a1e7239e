//! The OpenAPI 3 document, served at `GET /openapi.json`, generated from the handlers'
//! annotations and the response types themselves. Errors every route can give (bad input,
//! credentials, limits, faults) are added to every operation in one place below.

use crate::http::error::{ErrorBody, ErrorDetail};
use crate::routes;
use actix_web::HttpResponse;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

/// What the document says beyond its paths, which come from the routes themselves.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "provisiond",
        description = "Provisions users, projects and API keys for AI-agent platforms."
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        crate::scim::doc::ScimErrorBody,
        crate::scim::doc::ScimResource,
        crate::scim::doc::ScimList,
        crate::scim::doc::ScimUser,
        crate::scim::doc::ScimGroup,
        crate::scim::doc::ScimPatch,
        crate::scim::doc::ScimSearch
    ))
)]
pub struct ApiDoc;

/// The document: the paths `routes::configure` registers (collected by utoipa-actix-web from
/// the same calls that serve them), then the modifiers. Built once; it changes only with the code.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, paths) =
            actix_web::App::new().into_utoipa_app().configure(routes::configure).split_for_parts();
        let mut doc = ApiDoc::openapi();
        doc.merge(paths);
        for m in [&Security as &dyn Modify, &CommonErrors, &OptionalBodies] {
            m.modify(&mut doc);
        }
        doc
    })
}

/// The methods a path of the API accepts (`Allow`), when it is one: the document's templates
/// matched segment by segment, `{name}` standing for any one segment.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    static ROUTES: OnceLock<Vec<(Vec<String>, &'static str)>> = OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        let mut by_path: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (template, item) in &document().paths.paths {
            let methods = by_path.entry(template).or_default();
            for (has, name) in [
                (item.get.is_some(), "GET"),
                (item.post.is_some(), "POST"),
                (item.put.is_some(), "PUT"),
                (item.patch.is_some(), "PATCH"),
                (item.delete.is_some(), "DELETE"),
            ] {
                if has {
                    methods.push(name);
                }
            }
        }
        let mut routes: Vec<(Vec<String>, &'static str)> = by_path
            .into_iter()
            .map(|(t, m)| {
                let segments = t.split('/').map(str::to_string).collect();
                (segments, &*Box::leak(m.join(", ").into_boxed_str()))
            })
            .collect();
        routes.push((vec![String::new(), "openapi.json".into()], "GET"));
        routes
    });
    let segments: Vec<&str> = path.split('/').collect();
    // A literal segment beats a `{name}` (`/v1/keys/verify` before `/v1/keys/{id}`).
    routes
        .iter()
        .filter(|(t, _)| {
            t.len() == segments.len()
                && t.iter().zip(&segments).all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
        })
        .min_by_key(|(t, _)| t.iter().filter(|s| s.starts_with('{')).count())
        .map(|(_, allow)| *allow)
}

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
        // SCIM answers its own error body, as its own media type.
        let scim_error = || {
            ResponseBuilder::new()
                .description("A SCIM error (RFC 7644 §3.12).")
                .content(
                    crate::scim::MEDIA_TYPE,
                    ContentBuilder::new()
                        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ScimErrorBody"))))
                        .build(),
                )
                .build()
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            let public = path == "/healthz";
            let scim = path.starts_with(crate::scim::PREFIX);
            let ops: [Option<&mut Operation>; 5] = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
            ];
            for op in ops.into_iter().flatten() {
                let mut add = |status: &str| {
                    let body = if scim { scim_error() } else { error() };
                    op.responses.responses.entry(status.to_string()).or_insert_with(|| RefOr::T(body));
                };
                add("500");
                add("503");
                if !public {
                    for s in ["400", "401", "413", "415", "429"] {
                        add(s);
                    }
                }
                if scim {
                    // Any key but an owner's SCIM token.
                    add("403");
                }
            }
        }
    }
}

/// `POST /v1/team/provisions` takes an empty body as "all defaults" (the SDK may send none).
struct OptionalBodies;

/// Bodies that need one field of several (a member patch: `role` or `isProvisioner`; the member
/// for set-provisioner: `email` or `user_id`): a struct's schema cannot say "at least one of",
/// so it gets `allOf: [itself, anyOf: [required a, required b]]`.
const ONE_OF_FIELDS: [(&str, [&str; 2]); 2] =
    [("MemberPatch", ["role", "isProvisioner"]), ("SetProvisionerRequest", ["email", "user_id"])];

impl Modify for OptionalBodies {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Schema};
        if let Some(op) = doc.paths.paths.get_mut("/v1/team/provisions").and_then(|p| p.post.as_mut()) {
            if let Some(body) = op.request_body.as_mut() {
                body.required = Some(utoipa::openapi::Required::False);
            }
        }
        for (name, fields) in ONE_OF_FIELDS {
            let Some(slot) = doc.components.as_mut().and_then(|c| c.schemas.get_mut(name)) else {
                continue;
            };
            let any = fields
                .into_iter()
                .fold(AnyOfBuilder::new(), |any, f| any.item(ObjectBuilder::new().required(f)));
            let whole = std::mem::replace(slot, RefOr::T(Schema::default()));
            *slot = RefOr::T(Schema::AllOf(AllOfBuilder::new().item(whole).item(any).build()));
        }
    }
}

/// What no route of the API answered: 405 with `Allow` when the path is a route of ours (the
/// methods come from this document, the one list of routes), else 404.
pub fn unmatched(req: &actix_web::HttpRequest) -> crate::http::error::ApiError {
    use crate::http::error::ApiError;
    match allowed_methods(req.path()) {
        Some(allow) => ApiError::method_not_allowed_for(allow),
        None => ApiError::not_found("No such route; see docs/api.md for the routes provisiond serves."),
    }
}

/// `GET /openapi.json`: the document, rendered once.
#[actix_web::get("/openapi.json")]
pub async fn get() -> HttpResponse {
    static TEXT: OnceLock<String> = OnceLock::new();
    let text =
        TEXT.get_or_init(|| document().to_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")));
    HttpResponse::Ok().content_type("application/json").body(text.clone())
}
