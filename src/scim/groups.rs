//! `/scim/v2/Groups`: the provider's groups of the organization's members. The one named by
//! `adminGroup` (`/v1/scim/settings`) makes its members admins.

use super::doc::{
    ListParams, ScimErrorBody, ScimGroup as ScimGroupDoc, ScimList, ScimPatch, ScimResource, ScimSearch,
};
use super::schema::{bad, read_resource, Resource, GROUP};
use super::{base, meta, project, reply, required, ListQuery, ScimBody, ScimCaller, ScimError};
use crate::domain::{ScimGroup, ScimGroupInput};
use crate::http::AppState;
use crate::service::scim_groups;
use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

const R: Resource = Resource::Group;

pub fn group_json(base: &str, g: &ScimGroup) -> Map<String, Value> {
    let mut r = Map::new();
    r.insert("schemas".into(), json!([GROUP]));
    r.insert("id".into(), json!(g.id));
    if let Some(x) = &g.external_id {
        r.insert("externalId".into(), json!(x));
    }
    r.insert("displayName".into(), json!(g.display_name));
    if !g.members.is_empty() {
        let members: Vec<Value> = g
            .members
            .iter()
            .map(|u| json!({"value": u, "$ref": format!("{base}/Users/{u}"), "type": "User"}))
            .collect();
        r.insert("members".into(), Value::Array(members));
    }
    r.insert("meta".into(), meta(R, format!("{base}/Groups/{}", g.id), g.created_at, g.updated_at));
    r
}

fn input_from(body: &Map<String, Value>) -> Result<ScimGroupInput, ScimError> {
    // A member without a value names nobody: refused, not dropped (reading drops what it
    // does not know, so look first).
    let listed = body.iter().find(|(k, _)| k.eq_ignore_ascii_case("members")).and_then(|(_, v)| v.as_array());
    for (i, m) in listed.into_iter().flatten().enumerate() {
        let field =
            |name: &str| m.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        if m.is_object() && !field("value").is_some_and(Value::is_string) {
            return Err(bad("invalidValue", format!("'members[{i}].value' is required: a User's id.")).into());
        }
        if field("type").is_some_and(|t| !t.as_str().is_some_and(|t| t.eq_ignore_ascii_case("User"))) {
            return Err(bad("invalidValue", format!("'members[{i}]': groups hold Users only.")).into());
        }
    }
    let doc = read_resource(R, body)?;
    let display_name = required(R, &doc, "displayName")?;
    let external_id = doc.get("externalId").and_then(Value::as_str).map(str::to_string);
    let mut members = Vec::new();
    for (i, m) in doc.get("members").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let value = m.get("value").and_then(Value::as_str);
        let kind = m.get("type").and_then(Value::as_str);
        if kind.is_some_and(|k| !k.eq_ignore_ascii_case("User")) {
            return Err(bad("invalidValue", format!("'members[{i}]': groups hold Users only.")).into());
        }
        let value = value.ok_or_else(|| bad("invalidValue", format!("'members[{i}].value' is required.")))?;
        members.push(value.to_string());
    }
    Ok(ScimGroupInput { display_name, external_id, members })
}

fn one(state: &AppState, req: &HttpRequest, status: StatusCode, g: &ScimGroup) -> HttpResponse {
    let mut r = group_json(&base(state), g);
    if let Ok(q) = ListQuery::from_query(R, req) {
        project(R, &mut r, &q.attributes, &q.excluded);
    }
    let mut res = reply(status, &Value::Object(r));
    if status == StatusCode::CREATED {
        if let Ok(v) = header::HeaderValue::from_str(&format!("{}/Groups/{}", base(state), g.id)) {
            res.headers_mut().insert(header::LOCATION, v);
        }
    }
    res
}

async fn listed(state: &AppState, caller: ScimCaller, q: ListQuery) -> Result<HttpResponse, ScimError> {
    let groups = scim_groups::groups(&state.ctx, caller.0).await?;
    let b = base(state);
    Ok(q.respond(R, groups.iter().map(|g| group_json(&b, g)).collect()))
}

/// `GET /Groups`: `filter` (e.g. `displayName eq "…"`), `startIndex`, `count`.
#[utoipa::path(tag = "scim", security(("bearer" = [])), params(ListParams),
    responses((status = 200, description = "A ListResponse of Groups.", body = ScimList, content_type = "application/scim+json"),
        (status = 400, description = "`invalidFilter`, `invalidValue`.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Groups")]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ScimCaller,
) -> Result<HttpResponse, ScimError> {
    let q = ListQuery::from_query(R, &req)?;
    listed(&state, caller, q).await
}

#[utoipa::path(tag = "scim", security(("bearer" = [])), request_body(content = ScimSearch, content_type = "application/scim+json"),
    responses((status = 200, description = "A ListResponse of Groups.", body = ScimList, content_type = "application/scim+json"),
        (status = 400, description = "`invalidFilter`, `invalidValue`, `invalidSyntax`.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/Groups/.search")]
pub async fn search(
    state: web::Data<AppState>,
    caller: ScimCaller,
    body: ScimBody,
) -> Result<HttpResponse, ScimError> {
    let q = ListQuery::from_body(R, &body.into_inner()?)?;
    listed(&state, caller, q).await
}

#[utoipa::path(tag = "scim", security(("bearer" = [])), request_body(content = ScimGroupDoc, content_type = "application/scim+json"),
    responses((status = 201, description = "The new group.", body = ScimResource, content_type = "application/scim+json"),
        (status = 400, description = "`invalidValue` (a member that is not a User here), `invalidSyntax`.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`: a group of that name exists.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/Groups")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ScimCaller,
    body: ScimBody,
) -> Result<HttpResponse, ScimError> {
    let input = input_from(&body.into_inner()?)?;
    let g = scim_groups::create_group(&state.ctx, caller.0, input).await?;
    Ok(one(&state, &req, StatusCode::CREATED, &g))
}

#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "The group's id")),
    responses((status = 200, description = "The Group.", body = ScimResource, content_type = "application/scim+json"),
        (status = 404, description = "No such group here.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Groups/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ScimCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let g = scim_groups::group(&state.ctx, caller.0, &id).await?;
    Ok(one(&state, &req, StatusCode::OK, &g))
}

#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "The group's id")),
    request_body(content = ScimGroupDoc, content_type = "application/scim+json"),
    responses((status = 200, description = "The Group as it now is.", body = ScimResource, content_type = "application/scim+json"),
        (status = 400, description = "`invalidValue`, `invalidSyntax`.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, description = "No such group here.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[put("/scim/v2/Groups/{id}")]
pub async fn replace(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ScimCaller,
    id: web::Path<String>,
    body: ScimBody,
) -> Result<HttpResponse, ScimError> {
    let input = input_from(&body.into_inner()?)?;
    let g = scim_groups::update_group(&state.ctx, caller.0, &id, move |_| Ok::<_, ScimError>(input)).await?;
    Ok(one(&state, &req, StatusCode::OK, &g))
}

/// `PATCH /Groups/{id}`: members added and removed (`members[value eq "…"]`, or a list in
/// `value`), renamed, replaced.
#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "The group's id")),
    request_body(content = ScimPatch, content_type = "application/scim+json"),
    responses((status = 200, description = "The Group as it now is.", body = ScimResource, content_type = "application/scim+json"),
        (status = 400, description = "`invalidPath`, `invalidFilter`, `invalidValue`, `noTarget`, `mutability`, `invalidSyntax`.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, description = "No such group here.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[patch("/scim/v2/Groups/{id}")]
pub async fn modify(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ScimCaller,
    id: web::Path<String>,
    body: ScimBody,
) -> Result<HttpResponse, ScimError> {
    let body = body.into_inner()?;
    let b = base(&state);
    let g = scim_groups::update_group(&state.ctx, caller.0, &id, move |current| {
        let mut doc = group_json(&b, current);
        super::patch::apply(R, &mut doc, &body)?;
        input_from(&doc)
    })
    .await?;
    Ok(one(&state, &req, StatusCode::OK, &g))
}

#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "The group's id")),
    responses((status = 204, description = "Deleted; its members keep their membership (an admin group's lose the admin role)."),
        (status = 404, description = "No such group here.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[delete("/scim/v2/Groups/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    caller: ScimCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    scim_groups::delete_group(&state.ctx, caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
