//! `/scim/v2/Users`: the organization's members as SCIM Users. A member the provider never
//! touched is shown from the membership (userName and the primary email = their address); once
//! it writes to them, its own record is kept and shown back as it sent it.

use super::doc::{ListParams, ScimErrorBody, ScimList, ScimPatch, ScimResource, ScimSearch, ScimUser};
use super::resource::{Kind, ScimRequest};
use super::schema::{read_resource, Resource, ENTERPRISE, USER};
use super::{meta, required, ListQuery, ScimBody, ScimError};
use crate::domain::{ScimMember, ScimUserInput};
use crate::error::Error;
use crate::service::{scim, Actor, Ctx};
use actix_web::{delete, get, patch, post, put, web, HttpResponse};
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

/// The Users endpoints: the shared plumbing (`resource`) over members.
pub struct Users;

impl Kind for Users {
    const R: Resource = R;
    type Item = ScimMember;
    type Input = ScimUserInput;

    fn json(base: &str, m: &ScimMember) -> Map<String, Value> {
        user_json(base, m)
    }

    /// A User body (or what a PATCH left) as the service takes it.
    fn input(body: &Map<String, Value>) -> Result<ScimUserInput, ScimError> {
        input_from(body)
    }

    /// `userName eq "…"` (how a provider looks a person up before creating them) is read by name.
    async fn all(ctx: &Ctx, actor: Actor, q: &ListQuery) -> Result<Vec<ScimMember>, Error> {
        match q.filter.as_ref().and_then(|f| f.user_name_eq()).map(str::to_string) {
            Some(n) => scim::users_named(ctx, actor, n).await,
            None => scim::users(ctx, actor).await,
        }
    }

    async fn one(ctx: &Ctx, actor: Actor, id: &str) -> Result<ScimMember, Error> {
        scim::user(ctx, actor, id).await
    }

    async fn create(ctx: &Ctx, actor: Actor, input: ScimUserInput) -> Result<ScimMember, Error> {
        scim::create_user(ctx, actor, input).await
    }

    async fn update<F>(ctx: &Ctx, actor: Actor, id: &str, edit: F) -> Result<ScimMember, ScimError>
    where
        F: FnOnce(&ScimMember) -> Result<ScimUserInput, ScimError> + Send + 'static,
    {
        scim::update_user(ctx, actor, id, edit).await
    }

    async fn delete(ctx: &Ctx, actor: Actor, id: &str) -> Result<(), Error> {
        scim::delete_user(ctx, actor, id).await
    }
}

/// `GET /Users`: `filter` (e.g. `userName eq "…"`), `startIndex`, `count` (at most 1000).
#[utoipa::path(tag = "scim", security(("bearer" = [])), params(ListParams),
    responses((status = 200, description = "A ListResponse of Users.", body = ScimList, content_type = "application/scim+json"),
        (status = 400, description = "`invalidFilter`, `invalidValue`.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Users")]
pub async fn list(scim: ScimRequest) -> Result<HttpResponse, ScimError> {
    scim.list::<Users>().await
}

/// `POST /Users/.search`: a list, with its parameters in the body.
#[utoipa::path(tag = "scim", security(("bearer" = [])), request_body(content = ScimSearch, content_type = "application/scim+json"),
    responses((status = 200, description = "A ListResponse of Users.", body = ScimList, content_type = "application/scim+json"),
        (status = 400, description = "`invalidFilter`, `invalidValue`, `invalidSyntax`.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/Users/.search")]
pub async fn search(scim: ScimRequest, body: ScimBody) -> Result<HttpResponse, ScimError> {
    scim.search::<Users>(body).await
}

/// `POST /Users`: a person joins the organization (a new account for a new address, without a
/// password; an existing verified account as it is), with a project and no key.
#[utoipa::path(tag = "scim", security(("bearer" = [])), request_body(content = ScimUser, content_type = "application/scim+json"),
    responses((status = 201, description = "The new member.", body = ScimResource, content_type = "application/scim+json"),
        (status = 400, description = "`invalidValue`, `invalidSyntax`.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`: the userName, or the address, is a member's already.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/Users")]
pub async fn create(scim: ScimRequest, body: ScimBody) -> Result<HttpResponse, ScimError> {
    scim.create::<Users>(body).await
}

#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "The member's user id")),
    responses((status = 200, description = "The User.", body = ScimResource, content_type = "application/scim+json"),
        (status = 404, description = "No such member here.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Users/{id}")]
pub async fn get(scim: ScimRequest, id: web::Path<String>) -> Result<HttpResponse, ScimError> {
    scim.get::<Users>(&id).await
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
    scim: ScimRequest,
    id: web::Path<String>,
    body: ScimBody,
) -> Result<HttpResponse, ScimError> {
    scim.replace::<Users>(&id, body).await
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
    scim: ScimRequest,
    id: web::Path<String>,
    body: ScimBody,
) -> Result<HttpResponse, ScimError> {
    scim.modify::<Users>(&id, body).await
}

/// `DELETE /Users/{id}`: the membership ends and every key the person holds here is revoked.
#[utoipa::path(tag = "scim", security(("bearer" = [])), params(("id" = String, Path, description = "The member's user id")),
    responses((status = 204, description = "Removed from the organization."),
        (status = 404, description = "No such member here.", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "An owner: SCIM never removes one.", body = ScimErrorBody, content_type = "application/scim+json")))]
#[delete("/scim/v2/Users/{id}")]
pub async fn delete(scim: ScimRequest, id: web::Path<String>) -> Result<HttpResponse, ScimError> {
    scim.delete::<Users>(&id).await
}
