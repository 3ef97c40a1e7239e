//! The SCIM 2.0 edge (issue 24, CONTRACT part three "SCIM 2.0"): `/scim/v2` for an
//! organization's identity provider. Its own error body (`urn:…:Error`, with `scimType`) and
//! media type (`application/scim+json`; `application/json` accepted too), the credential (a key
//! with the `scim` scope, as `Authorization: Bearer`), discovery, Users and Groups, filters and
//! paging. What may be done is decided by the service (`service::scim`, `Act::Scim`); the
//! schema, the filter parser and the PATCH dialects live here.

pub mod doc;
pub mod filter;
mod groups;
pub mod patch;
mod resource;
pub mod schema;
mod users;

use crate::db::DbError;
use crate::error::Error;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::service::{keys, Actor};
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use schema::{bad, Bad, Resource};
use serde_json::{json, Map, Value};
use utoipa_actix_web::service_config::ServiceConfig;

pub const MEDIA_TYPE: &str = "application/scim+json";
/// Where the routes are (and the prefix the unmatched-path answer checks).
pub const PREFIX: &str = "/scim/v2";

/// Every SCIM route, registered once (served, and in the OpenAPI document).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(service_provider_config)
        .service(resource_types)
        .service(resource_type)
        .service(list_schemas)
        .service(schema_by_id)
        .service(search_everything)
        .service(users::list)
        .service(users::create)
        // Before `/Users/{id}`, which would take ".search" for an id.
        .service(users::search)
        .service(users::get)
        .service(users::replace)
        .service(users::modify)
        .service(users::delete)
        .service(groups::list)
        .service(groups::create)
        .service(groups::search)
        .service(groups::get)
        .service(groups::replace)
        .service(groups::modify)
        .service(groups::delete);
}

/// A SCIM error (RFC 7644 §3.12): the status, a `scimType` where one applies, and a sentence.
#[derive(Debug, thiserror::Error)]
#[error("{status} {detail}")]
pub struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError { status, scim_type, detail: detail.into() }
    }

    pub fn bad_request(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }
}

/// The service's refusals, through the API's one mapping (statuses, logging of faults), with
/// the SCIM error type each one is.
impl From<Error> for ScimError {
    fn from(e: Error) -> Self {
        ApiError::from(e).into()
    }
}

impl From<ApiError> for ScimError {
    fn from(e: ApiError) -> Self {
        let scim_type = match e.code() {
            "invalid_field" | "invalid_email" | "invalid_cursor" => Some("invalidValue"),
            "uniqueness" | "email_unverified" | "user_exists" => Some("uniqueness"),
            "invalid_json" => Some("invalidSyntax"),
            _ => None,
        };
        ScimError::new(e.status(), scim_type, e.message())
    }
}

impl From<DbError> for ScimError {
    fn from(e: DbError) -> Self {
        Error::Storage(e).into()
    }
}

impl From<Bad> for ScimError {
    fn from(b: Bad) -> Self {
        ScimError::bad_request(b.scim_type, b.detail)
    }
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({
            "schemas": [schema::ERROR],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut res = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"provisiond SCIM\""));
        }
        res.content_type(MEDIA_TYPE).body(body.to_string())
    }
}

/// A SCIM response: the resource as `application/scim+json`.
pub fn reply(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status).content_type(MEDIA_TYPE).body(body.to_string())
}

/// What nothing under `/scim/v2` serves: 405 naming the methods (`allow`, which the caller reads
/// from the document, the one list of routes) when the path is a SCIM route, else 404, both as
/// SCIM errors.
pub fn unmatched(allow: Option<&str>) -> HttpResponse {
    match allow {
        Some(allow) => {
            let mut res =
                ScimError::new(StatusCode::METHOD_NOT_ALLOWED, None, format!("This endpoint accepts only {allow}."))
                    .error_response();
            if let Ok(v) = header::HeaderValue::from_str(allow) {
                res.headers_mut().insert(header::ALLOW, v);
            }
            res
        }
        None => ScimError::not_found(
            "No such SCIM endpoint; the endpoints are /ServiceProviderConfig, /ResourceTypes, /Schemas, /Users and /Groups.",
        )
        .error_response(),
    }
}

/// The identity provider's credential: a key with the `scim` scope, as `Authorization: Bearer`.
/// Whether it may act (an owner's SCIM token) is the service's to say.
pub struct ScimCaller(pub Actor);

/// Longer than any key we issue; longer input is refused unread.
const MAX_KEY_LEN: usize = 128;

fn bearer(req: &HttpRequest) -> Result<String, ScimError> {
    let unauthorized = |m: &str| ScimError::new(StatusCode::UNAUTHORIZED, None, m);
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else {
        return Err(unauthorized("Send the SCIM token as 'Authorization: Bearer <token>'."));
    };
    if values.next().is_some() {
        return Err(unauthorized("Send the Authorization header once."));
    }
    let text =
        value.to_str().map_err(|_| unauthorized("The Authorization header must be 'Bearer <token>'."))?;
    match text.trim().split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => {
            let key = key.trim();
            if key.is_empty() || key.len() > MAX_KEY_LEN {
                return Err(unauthorized("The SCIM token is not valid; make a new one on the SCIM page."));
            }
            Ok(key.to_string())
        }
        _ => Err(unauthorized("The Authorization header must be 'Bearer <token>'.")),
    }
}

impl FromRequest for ScimCaller {
    type Error = ScimError;
    type Future = LocalBoxFuture<'static, Result<ScimCaller, ScimError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let key = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ScimError::from(ApiError::internal("AppState missing")))?;
            let caller = keys::authenticate(&state.ctx, &key?).await?;
            Ok(ScimCaller(Actor::key(caller)))
        })
    }
}

/// A request body: at most 64 KiB (413) of JSON (`application/scim+json` or `application/json`,
/// else 415) that is an object. Read after the credential, so a caller without one hears 401.
pub struct ScimBody(Result<Map<String, Value>, ScimError>);

impl ScimBody {
    pub fn into_inner(self) -> Result<Map<String, Value>, ScimError> {
        self.0
    }
}

impl FromRequest for ScimBody {
    type Error = ScimError;
    type Future = LocalBoxFuture<'static, Result<ScimBody, ScimError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let media = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let read = match bytes.await {
                Ok(b) => Ok(b),
                Err(e) if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE => {
                    Err(ScimError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        None,
                        "The request body is larger than 64 KiB.",
                    ))
                }
                Err(_) => Err(ScimError::bad_request("invalidSyntax", "The request body could not be read.")),
            };
            Ok(ScimBody(read.and_then(|b| parse_body(&b, media.as_deref()))))
        })
    }
}

fn parse_body(bytes: &[u8], media: Option<&str>) -> Result<Map<String, Value>, ScimError> {
    if !matches!(media, Some(MEDIA_TYPE) | Some("application/json")) {
        return Err(ScimError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            "Send the body as 'Content-Type: application/scim+json' (or application/json).",
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => {
            // `schemas` says what the body is: when sent, a list of URIs.
            let schemas = m.iter().find(|(k, _)| k.eq_ignore_ascii_case("schemas")).map(|(_, v)| v);
            let uris = |v: &Value| v.as_array().is_some_and(|l| l.iter().all(Value::is_string));
            if schemas.is_some_and(|v| !uris(v)) {
                return Err(ScimError::bad_request(
                    "invalidValue",
                    "'schemas' must be a list of schema URIs.",
                ));
            }
            Ok(m)
        }
        Ok(_) => Err(ScimError::bad_request("invalidSyntax", "The request body must be a JSON object.")),
        Err(e) => {
            Err(ScimError::bad_request("invalidSyntax", format!("The request body is not valid JSON ({e}).")))
        }
    }
}

/// `{PUBLIC_URL}/scim/v2`: what `meta.location` and `$ref` start with.
pub fn base(state: &AppState) -> String {
    format!("{}{PREFIX}", state.settings.public_url.trim_end_matches('/'))
}

/// A list request: `filter`, `startIndex`, `count`, `attributes`, `excludedAttributes` (from the
/// query string, or a `.search` body).
pub struct ListQuery {
    pub filter: Option<filter::Filter>,
    pub start: usize,
    pub count: usize,
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

/// A whole number: from a query string, its text; from a body, a JSON number.
fn int(name: &str, v: &Value) -> Result<i64, ScimError> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    n.ok_or_else(|| ScimError::bad_request("invalidValue", format!("'{name}' must be a whole number.")))
}

/// Attribute names: comma-separated in a query string, a list of strings in a body.
fn names(name: &str, v: &Value) -> Result<Vec<String>, ScimError> {
    match v {
        Value::String(s) => {
            Ok(s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect())
        }
        Value::Array(items) if items.iter().all(Value::is_string) => {
            Ok(items.iter().filter_map(Value::as_str).map(str::to_string).collect())
        }
        _ => Err(ScimError::bad_request(
            "invalidValue",
            format!("'{name}' must be a list of attribute names."),
        )),
    }
}

impl ListQuery {
    /// A SearchRequest body (`/.search`): the parameters with their JSON types.
    pub fn from_body(resource: Resource, body: &Map<String, Value>) -> Result<ListQuery, ScimError> {
        for (k, v) in body {
            let typed = match k.to_ascii_lowercase().as_str() {
                "startindex" | "count" => v.is_null() || v.is_i64() || v.is_u64(),
                "attributes" | "excludedattributes" => v.is_null() || v.is_array(),
                _ => true,
            };
            if !typed {
                return Err(ScimError::bad_request("invalidValue", format!("'{k}' has the wrong type.")));
            }
        }
        Self::parse(resource, body)
    }

    /// Parameters by name (case-insensitively), from a query string or a SearchRequest body.
    pub fn parse(resource: Resource, params: &Map<String, Value>) -> Result<ListQuery, ScimError> {
        let get = |name: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let filter = match get("filter") {
            None | Some(Value::Null) => None,
            // An empty filter asks for nothing in particular.
            Some(Value::String(f)) if f.trim().is_empty() => None,
            Some(Value::String(f)) => {
                Some(filter::parse(resource, f).map_err(|m| ScimError::bad_request("invalidFilter", m))?)
            }
            Some(_) => return Err(ScimError::bad_request("invalidFilter", "'filter' must be a string.")),
        };
        let max = crate::service::scim::MAX_RESULTS as i64;
        let start = match get("startIndex") {
            None | Some(Value::Null) => 1,
            Some(v) => int("startIndex", v)?.max(1),
        };
        let count = match get("count") {
            None | Some(Value::Null) => max,
            Some(v) => int("count", v)?.clamp(0, max),
        };
        let attributes = match get("attributes") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => names("attributes", v)?,
        };
        let excluded = match get("excludedAttributes") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => names("excludedAttributes", v)?,
        };
        Ok(ListQuery { filter, start: start as usize, count: count as usize, attributes, excluded })
    }

    pub fn from_query(resource: Resource, req: &HttpRequest) -> Result<ListQuery, ScimError> {
        let params: Map<String, Value> = url::form_urlencoded::parse(req.query_string().as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        Self::parse(resource, &params)
    }

    /// The page of `all` (resources as served) this query asks for, as a ListResponse.
    pub fn respond(&self, resource: Resource, all: Vec<Map<String, Value>>) -> HttpResponse {
        let matching: Vec<Map<String, Value>> = match &self.filter {
            Some(f) => all.into_iter().filter(|r| f.matches(r)).collect(),
            None => all,
        };
        let total = matching.len();
        let page: Vec<Value> = matching
            .into_iter()
            .skip(self.start - 1)
            .take(self.count)
            .map(|r| Value::Object(self.project(resource, r)))
            .collect();
        reply(
            StatusCode::OK,
            &json!({
                "schemas": [schema::LIST],
                "totalResults": total,
                "startIndex": self.start,
                "itemsPerPage": page.len(),
                "Resources": page,
            }),
        )
    }

    /// The resource with only the attributes asked for (`id` and `schemas` always), or without
    /// those excluded (RFC 7644 §3.4.2.5).
    pub fn project(&self, resource: Resource, mut r: Map<String, Value>) -> Map<String, Value> {
        project(resource, &mut r, &self.attributes, &self.excluded);
        r
    }
}

/// `attributes` / `excludedAttributes` applied to a resource as served.
pub fn project(resource: Resource, r: &mut Map<String, Value>, attributes: &[String], excluded: &[String]) {
    let ext = resource.extension().map(|(uri, _)| uri);
    if !attributes.is_empty() {
        let mut kept = Map::new();
        for keep in ["schemas", "id"] {
            if let Some(v) = r.get(keep) {
                kept.insert(keep.to_string(), v.clone());
            }
        }
        for path in attributes {
            if ext.is_some_and(|u| path.eq_ignore_ascii_case(u)) {
                if let Some((k, v)) = ext.and_then(|u| r.get_key_value(u)) {
                    kept.insert(k.clone(), v.clone());
                }
                continue;
            }
            let Ok(t) = filter::resolve(filter::Scope::Top(resource), path) else { continue };
            let (from, into) = match (t.ext, ext) {
                (true, Some(u)) => {
                    let into = kept.entry(u.to_string()).or_insert_with(|| Value::Object(Map::new()));
                    (r.get(u).and_then(Value::as_object), into.as_object_mut())
                }
                _ => (Some(&*r), Some(&mut kept)),
            };
            if let (Some(from), Some(into)) = (from, into) {
                if let Some(v) = from.get(t.attr.name) {
                    into.insert(t.attr.name.to_string(), v.clone());
                }
            }
        }
        *r = kept;
    }
    for path in excluded {
        if ext.is_some_and(|u| path.eq_ignore_ascii_case(u)) {
            if let Some(u) = ext {
                r.remove(u);
            }
            continue;
        }
        let Ok(t) = filter::resolve(filter::Scope::Top(resource), path) else { continue };
        if matches!(t.attr.name, "id" | "userName") && !t.ext {
            // Always returned (id), or required (userName): excluding them is ignored.
            continue;
        }
        let holder = match (t.ext, ext) {
            (true, Some(u)) => r.get_mut(u).and_then(Value::as_object_mut),
            _ => Some(&mut *r),
        };
        if let Some(h) = holder {
            h.remove(t.attr.name);
        }
    }
}

/// `GET /ServiceProviderConfig`.
#[utoipa::path(tag = "scim", security(("bearer" = [])),
    responses((status = 200, description = "What this service supports (RFC 7643 §5).", body = doc::ScimResource, content_type = "application/scim+json")))]
#[get("/scim/v2/ServiceProviderConfig")]
pub async fn service_provider_config(state: web::Data<AppState>, _caller: ScimCaller) -> HttpResponse {
    let docs = format!("{}/docs/scim.md", state.settings.public_url.trim_end_matches('/'));
    reply(StatusCode::OK, &schema::service_provider_config(&base(&state), &docs))
}

fn list_of(items: Vec<Value>) -> Value {
    json!({
        "schemas": [schema::LIST],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}

/// `GET /ResourceTypes`.
#[utoipa::path(tag = "scim", security(("bearer" = [])),
    responses((status = 200, description = "User and Group.", body = doc::ScimList, content_type = "application/scim+json")))]
#[get("/scim/v2/ResourceTypes")]
pub async fn resource_types(state: web::Data<AppState>, _caller: ScimCaller) -> HttpResponse {
    let b = base(&state);
    reply(
        StatusCode::OK,
        &list_of([Resource::User, Resource::Group].map(|r| schema::resource_type_json(r, &b)).to_vec()),
    )
}

/// `GET /ResourceTypes/{id}`.
#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "User or Group")),
    responses((status = 200, description = "The resource type.", body = doc::ScimResource, content_type = "application/scim+json"),
        (status = 404, description = "No such resource type.", body = doc::ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/ResourceTypes/{id}")]
pub async fn resource_type(
    state: web::Data<AppState>,
    _caller: ScimCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let r = [Resource::User, Resource::Group]
        .into_iter()
        .find(|r| r.name().eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimError::not_found("No such resource type; they are User and Group."))?;
    Ok(reply(StatusCode::OK, &schema::resource_type_json(r, &base(&state))))
}

/// `GET /Schemas`.
#[utoipa::path(tag = "scim", security(("bearer" = [])),
    responses((status = 200, description = "User (with the enterprise extension), Group and the discovery schemas.", body = doc::ScimList, content_type = "application/scim+json")))]
#[get("/scim/v2/Schemas")]
pub async fn list_schemas(state: web::Data<AppState>, _caller: ScimCaller) -> HttpResponse {
    let b = base(&state);
    reply(StatusCode::OK, &list_of(schema::SCHEMAS.iter().map(|s| schema::schema_json(s, &b)).collect()))
}

/// `GET /Schemas/{id}`.
#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "A schema's URI")),
    responses((status = 200, description = "The schema.", body = doc::ScimResource, content_type = "application/scim+json"),
        (status = 404, description = "No such schema.", body = doc::ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Schemas/{id}")]
pub async fn schema_by_id(
    state: web::Data<AppState>,
    _caller: ScimCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let s = schema::SCHEMAS
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimError::not_found("No such schema; GET /Schemas lists them."))?;
    Ok(reply(StatusCode::OK, &schema::schema_json(s, &base(&state))))
}

/// `POST /.search` across resource types: not offered (search /Users or /Groups).
#[utoipa::path(tag = "scim", security(("bearer" = [])), request_body(content = doc::ScimSearch, content_type = "application/scim+json"),
    responses((status = 501, description = "Search one resource type instead: POST /Users/.search or /Groups/.search.", body = doc::ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/.search")]
pub async fn search_everything(_caller: ScimCaller, body: ScimBody) -> Result<HttpResponse, ScimError> {
    body.into_inner()?;
    Err(ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        None,
        "Searching every resource type at once is not offered; use POST /Users/.search or /Groups/.search.",
    ))
}

/// A resource's `meta`.
pub fn meta(resource: Resource, location: String, created: i64, modified: i64) -> Value {
    json!({
        "resourceType": resource.name(),
        "created": crate::clock::format(created),
        "lastModified": crate::clock::format(modified),
        "location": location,
    })
}

/// The `id` a path names must be one: anything else is simply not found.
pub fn bad_id(what: &str) -> ScimError {
    ScimError::not_found(format!("No {what} with that id in this organization."))
}

/// A body field that must be present for a resource.
pub fn required(resource: Resource, doc: &Map<String, Value>, name: &str) -> Result<String, ScimError> {
    match doc.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(bad("invalidValue", format!("A {} needs '{name}'.", resource.name())).into()),
    }
}
