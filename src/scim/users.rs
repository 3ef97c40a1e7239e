//! `/scim/v2/Users`: the organization's members as SCIM Users. A member the provider never
//! touched is shown from the membership (userName and the primary email = their address); once
//! it writes to them, its own record is kept and shown back as it sent it.

use super::doc::{ListParams, ScimErrorBody, ScimList, ScimPatch, ScimResource, ScimSearch, ScimUser};
use super::schema::{read_resource, Resource, ENTERPRISE, USER};
use super::{base, meta, project, reply, required, ListQuery, ScimBody, ScimCaller, ScimError};
use crate::domain::{ScimMember, ScimUserInput};
use crate::http::AppState;
use crate::service::scim;
use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

const R: Resource = Resource::User;

/// A member as the provider sees them.
pub fn user_json(base: &str, m: &ScimMember) -> Map<String, Value> {
    let (attributes, active) = scim::attributes_of(m);
    let mut r = Map::new();
    let schemas = if attributes.contains_key(ENTERPRISE) { json!([USER, ENTERPRISE]) } else { json!([USER]) };
    r.insert("schemas".into(), schemas);
    r.insert("id".into(), json!(m.user_id));
    let modified = match &m.identity {
        Some(i) => {
            if let Some(x) = &i.external_id {
                r.insert("externalId".into(), json!(x));
            }
            r.insert("userName".into(), json!(i.user_name));
            r.extend(attributes);
            i.updated_at
        }
        None => {
            let user_name = m.email.clone().unwrap_or_else(|| m.user_id.to_string());
            r.insert("userName".into(), json!(user_name));
            if let Some(name) = &m.name {
                r.insert("displayName".into(), json!(name));
            }
            if let Some(email) = &m.email {
                r.insert("emails".into(), json!([{"value": email, "primary": true}]));
            }
            m.joined_at
        }
    };
    if let Some(a) = active {
        r.insert("active".into(), json!(a));
    }
    r.insert("meta".into(), meta(R, format!("{base}/Users/{}", m.user_id), m.joined_at, modified));
    r
}

/// A User body (or what a PATCH left) as the service takes it.
fn input_from(body: &Map<String, Value>) -> Result<ScimUserInput, ScimError> {
    let mut doc = read_resource(R, body)?;
    let user_name = required(R, &doc, "userName")?;
    doc.remove("userName");
    let external_id = doc.remove("externalId").and_then(|v| v.as_str().map(str::to_string));
    let active = doc.remove("active").and_then(|v| v.as_bool());
    Ok(ScimUserInput { user_name, external_id, active, attributes: doc })
}

fn one(state: &AppState, req: &HttpRequest, status: StatusCode, m: &ScimMember) -> HttpResponse {
    let mut r = user_json(&base(state), m);
    if let Ok(q) = ListQuery::from_query(R, req) {
        project(R, &mut r, &q.attributes, &q.excluded);
    }
    let mut res = reply(status, &Value::Object(r));
    if status == StatusCode::CREATED {
        if let Ok(v) = header::HeaderValue::from_str(&format!("{}/Users/{}", base(state), m.user_id)) {
            res.headers_mut().insert(header::LOCATION, v);
        }
    }
    res
}

async fn listed(state: &AppState, caller: ScimCaller, q: ListQuery) -> Result<HttpResponse, ScimError> {
    let named = q.filter.as_ref().and_then(|f| f.user_name_eq()).map(str::to_string);
    let members = match named {
        Some(n) => scim::users_named(&state.ctx, caller.0, n).await?,
        None => scim::users(&state.ctx, caller.0).await?,
    };
    let b = base(state);
    Ok(q.respond(R, members.iter().map(|m| user_json(&b, m)).collect()))
}

/// `GET /Users`: `filter` (e.g. `userName eq "…"`), `startIndex`, `count` (at most 1000).
#[utoipa::path(tag = "scim", security(("bearer" = [])), params(ListParams),
    responses((status = 200, description = "A ListResponse of Users.", body = ScimList, content_type = "application/scim+json"),
        (status = 400, description = "`invalidFilter`, `invalidValue`.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Users")]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ScimCaller,
) -> Result<HttpResponse, ScimError> {
    let q = ListQuery::from_query(R, &req)?;
    listed(&state, caller, q).await
}

/// `POST /Users/.search`: a list, with its parameters in the body.
#[utoipa::path(tag = "scim", security(("bearer" = [])), request_body(content = ScimSearch, content_type = "application/scim+json"),
    responses((status = 200, description = "A ListResponse of Users.", body = ScimList, content_type = "application/scim+json"),
        (status = 400, description = "`invalidFilter`, `invalidValue`, `invalidSyntax`.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/Users/.search")]
pub async fn search(
    state: web::Data<AppState>,
    caller: ScimCaller,
    body: ScimBody,
) -> Result<HttpResponse, ScimError> {
    let q = ListQuery::from_body(R, &body.into_inner()?)?;
    listed(&state, caller, q).await
}

/// `POST /Users`: a person joins the organization (a new account for a new address, without a
/// password; an existing verified account as it is), with a project and no key.
#[utoipa::path(tag = "scim", security(("bearer" = [])), request_body(content = ScimUser, content_type = "application/scim+json"),
    responses((status = 201, description = "The new member.", body = ScimResource, content_type = "application/scim+json"),
        (status = 400, description = "`invalidValue`, `invalidSyntax`.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`: the userName, or the address, is a member's already.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/Users")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ScimCaller,
    body: ScimBody,
) -> Result<HttpResponse, ScimError> {
    let input = input_from(&body.into_inner()?)?;
    let m = scim::create_user(&state.ctx, caller.0, input).await?;
    Ok(one(&state, &req, StatusCode::CREATED, &m))
}

#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "The member's user id")),
    responses((status = 200, description = "The User.", body = ScimResource, content_type = "application/scim+json"),
        (status = 404, description = "No such member here.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Users/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ScimCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let m = scim::user(&state.ctx, caller.0, &id).await?;
    Ok(one(&state, &req, StatusCode::OK, &m))
}

/// `PUT /Users/{id}`: the provider's record replaced; `active: false` suspends, `true` (or
/// leaving it out) restores.
#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "The member's user id")),
    request_body(content = ScimUser, content_type = "application/scim+json"),
    responses((status = 200, description = "The User as it now is.", body = ScimResource, content_type = "application/scim+json"),
        (status = 400, description = "`invalidValue`, `invalidSyntax`.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, description = "No such member here.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`; or an owner, whom SCIM never deactivates.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[put("/scim/v2/Users/{id}")]
pub async fn replace(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ScimCaller,
    id: web::Path<String>,
    body: ScimBody,
) -> Result<HttpResponse, ScimError> {
    let input = input_from(&body.into_inner()?)?;
    let m = scim::update_user(&state.ctx, caller.0, &id, move |_| Ok::<_, ScimError>(input)).await?;
    Ok(one(&state, &req, StatusCode::OK, &m))
}

/// `PATCH /Users/{id}`: Okta's and Entra ID's dialects (see `patch`).
#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "The member's user id")),
    request_body(content = ScimPatch, content_type = "application/scim+json"),
    responses((status = 200, description = "The User as it now is.", body = ScimResource, content_type = "application/scim+json"),
        (status = 400, description = "`invalidPath`, `invalidFilter`, `invalidValue`, `noTarget`, `mutability`, `invalidSyntax`.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, description = "No such member here.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`; or an owner, whom SCIM never deactivates.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[patch("/scim/v2/Users/{id}")]
pub async fn modify(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ScimCaller,
    id: web::Path<String>,
    body: ScimBody,
) -> Result<HttpResponse, ScimError> {
    let body = body.into_inner()?;
    let b = base(&state);
    let m = scim::update_user(&state.ctx, caller.0, &id, move |current| {
        let mut doc = user_json(&b, current);
        super::patch::apply(R, &mut doc, &body)?;
        input_from(&doc)
    })
    .await?;
    Ok(one(&state, &req, StatusCode::OK, &m))
}

/// `DELETE /Users/{id}`: the membership ends and every key the person holds here is revoked.
#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "The member's user id")),
    responses((status = 204, description = "Removed from the organization."),
        (status = 404, description = "No such member here.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "An owner: SCIM never removes one.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[delete("/scim/v2/Users/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    caller: ScimCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    scim::delete_user(&state.ctx, caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
