//! `/scim/v2/Groups`: the provider's groups of the organization's members. The one named by
//! `adminGroup` (`/v1/scim/settings`) makes its members admins.

use super::doc::{
    ListParams, ScimErrorBody, ScimGroup as ScimGroupDoc, ScimList, ScimPatch, ScimResource, ScimSearch,
};
use super::resource::{Kind, ScimRequest};
use super::schema::{bad, read_resource, Resource, GROUP};
use super::{meta, required, ListQuery, ScimBody, ScimError};
use crate::domain::{ScimGroup, ScimGroupInput};
use crate::error::Error;
use crate::service::{scim_groups, Actor, Ctx};
use actix_web::{delete, get, patch, post, put, web, HttpResponse};
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

/// The Groups endpoints: the shared plumbing (`resource`) over the provider's groups.
pub struct Groups;

impl Kind for Groups {
    const R: Resource = R;
    type Item = ScimGroup;
    type Input = ScimGroupInput;

    fn json(base: &str, g: &ScimGroup) -> Map<String, Value> {
        group_json(base, g)
    }

    fn input(body: &Map<String, Value>) -> Result<ScimGroupInput, ScimError> {
        input_from(body)
    }

    /// Every group: there are few, and the filter is applied to them as served.
    async fn all(ctx: &Ctx, actor: Actor, _: &ListQuery) -> Result<Vec<ScimGroup>, Error> {
        scim_groups::groups(ctx, actor).await
    }

    async fn one(ctx: &Ctx, actor: Actor, id: &str) -> Result<ScimGroup, Error> {
        scim_groups::group(ctx, actor, id).await
    }

    async fn create(ctx: &Ctx, actor: Actor, input: ScimGroupInput) -> Result<ScimGroup, Error> {
        scim_groups::create_group(ctx, actor, input).await
    }

    async fn update<F>(ctx: &Ctx, actor: Actor, id: &str, edit: F) -> Result<ScimGroup, ScimError>
    where
        F: FnOnce(&ScimGroup) -> Result<ScimGroupInput, ScimError> + Send + 'static,
    {
        scim_groups::update_group(ctx, actor, id, edit).await
    }

    async fn delete(ctx: &Ctx, actor: Actor, id: &str) -> Result<(), Error> {
        scim_groups::delete_group(ctx, actor, id).await
    }
}

/// `GET /Groups`: `filter` (e.g. `displayName eq "…"`), `startIndex`, `count`.
#[utoipa::path(tag = "scim", security(("bearer" = [])), params(ListParams),
    responses((status = 200, description = "A ListResponse of Groups.", body = ScimList, content_type = "application/scim+json"),
        (status = 400, description = "`invalidFilter`, `invalidValue`.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Groups")]
pub async fn list(scim: ScimRequest) -> Result<HttpResponse, ScimError> {
    scim.list::<Groups>().await
}

#[utoipa::path(tag = "scim", security(("bearer" = [])), request_body(content = ScimSearch, content_type = "application/scim+json"),
    responses((status = 200, description = "A ListResponse of Groups.", body = ScimList, content_type = "application/scim+json"),
        (status = 400, description = "`invalidFilter`, `invalidValue`, `invalidSyntax`.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/Groups/.search")]
pub async fn search(scim: ScimRequest, body: ScimBody) -> Result<HttpResponse, ScimError> {
    scim.search::<Groups>(body).await
}

#[utoipa::path(tag = "scim", security(("bearer" = [])), request_body(content = ScimGroupDoc, content_type = "application/scim+json"),
    responses((status = 201, description = "The new group.", body = ScimResource, content_type = "application/scim+json"),
        (status = 400, description = "`invalidValue` (a member that is not a User here), `invalidSyntax`.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`: a group of that name exists.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/Groups")]
pub async fn create(scim: ScimRequest, body: ScimBody) -> Result<HttpResponse, ScimError> {
    scim.create::<Groups>(body).await
}

#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "The group's id")),
    responses((status = 200, description = "The Group.", body = ScimResource, content_type = "application/scim+json"),
        (status = 404, description = "No such group here.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Groups/{id}")]
pub async fn get(scim: ScimRequest, id: web::Path<String>) -> Result<HttpResponse, ScimError> {
    scim.get::<Groups>(&id).await
}

#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "The group's id")),
    request_body(content = ScimGroupDoc, content_type = "application/scim+json"),
    responses((status = 200, description = "The Group as it now is.", body = ScimResource, content_type = "application/scim+json"),
        (status = 400, description = "`invalidValue`, `invalidSyntax`.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, description = "No such group here.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[put("/scim/v2/Groups/{id}")]
pub async fn replace(
    scim: ScimRequest,
    id: web::Path<String>,
    body: ScimBody,
) -> Result<HttpResponse, ScimError> {
    scim.replace::<Groups>(&id, body).await
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
    scim: ScimRequest,
    id: web::Path<String>,
    body: ScimBody,
) -> Result<HttpResponse, ScimError> {
    scim.modify::<Groups>(&id, body).await
}

#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "The group's id")),
    responses((status = 204, description = "Deleted; its members keep their membership (an admin group's lose the admin role)."),
        (status = 404, description = "No such group here.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[delete("/scim/v2/Groups/{id}")]
pub async fn delete(scim: ScimRequest, id: web::Path<String>) -> Result<HttpResponse, ScimError> {
    scim.delete::<Groups>(&id).await
}
