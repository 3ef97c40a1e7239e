//! What the `/Users` and `/Groups` endpoints share. A resource type's handlers are the same
//! plumbing (a list from the query string or a `.search` body, one resource with `attributes`
//! applied and `Location` on creation, PUT and PATCH through the service's one edit, DELETE), so
//! it is written once here, over `Kind`, which says only what differs: the resource as served,
//! how a body is read, and which service calls hold it.

use super::schema::Resource;
use super::{base, patch, project, reply, ListQuery, ScimBody, ScimCaller, ScimError};
use crate::error::Error;
use crate::http::AppState;
use crate::service::{Actor, Ctx};
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use serde_json::{Map, Value};

/// A SCIM resource type as its endpoints see it: what is served, what a body becomes, and the
/// service's calls for it (each one authorizes the caller itself).
pub(super) trait Kind: 'static {
    const R: Resource;
    /// A resource as the service keeps it.
    type Item;
    /// A body (or what a PATCH left) as the service takes it.
    type Input: Send + 'static;

    /// The resource as served, under `base` (`meta.location` included).
    fn json(base: &str, item: &Self::Item) -> Map<String, Value>;
    fn input(body: &Map<String, Value>) -> Result<Self::Input, ScimError>;

    /// Every resource a list asks for (the query may narrow what is read; it is applied after).
    async fn all(ctx: &Ctx, actor: Actor, q: &ListQuery) -> Result<Vec<Self::Item>, Error>;
    async fn one(ctx: &Ctx, actor: Actor, id: &str) -> Result<Self::Item, Error>;
    async fn create(ctx: &Ctx, actor: Actor, input: Self::Input) -> Result<Self::Item, Error>;
    /// `edit` turns the resource as it stands into the input it should become (PUT ignores it).
    async fn update<F>(ctx: &Ctx, actor: Actor, id: &str, edit: F) -> Result<Self::Item, ScimError>
    where
        F: FnOnce(&Self::Item) -> Result<Self::Input, ScimError> + Send + 'static;
    async fn delete(ctx: &Ctx, actor: Actor, id: &str) -> Result<(), Error>;
}

/// A request to a resource type's endpoint: the state, the request (its query string) and the
/// authenticated caller, extracted in that order, as each handler took them one by one.
pub(super) struct ScimRequest {
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ScimCaller,
}

impl FromRequest for ScimRequest {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<ScimRequest, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let parts = <(web::Data<AppState>, HttpRequest, ScimCaller)>::from_request(req, payload);
        Box::pin(async move {
            let (state, req, caller) = parts.await?;
            Ok(ScimRequest { state, req, caller })
        })
    }
}

impl ScimRequest {
    /// `GET /{Resources}`: the list the query string asks for.
    pub async fn list<K: Kind>(self) -> Result<HttpResponse, ScimError> {
        let q = ListQuery::from_query(K::R, &self.req)?;
        self.listed::<K>(q).await
    }

    /// `POST /{Resources}/.search`: the same list, asked for in the body.
    pub async fn search<K: Kind>(self, body: ScimBody) -> Result<HttpResponse, ScimError> {
        let q = ListQuery::from_body(K::R, &body.into_inner()?)?;
        self.listed::<K>(q).await
    }

    async fn listed<K: Kind>(self, q: ListQuery) -> Result<HttpResponse, ScimError> {
        let items = K::all(&self.state.ctx, self.caller.0, &q).await?;
        let b = base(&self.state);
        Ok(q.respond(K::R, items.iter().map(|i| K::json(&b, i)).collect()))
    }

    pub async fn create<K: Kind>(self, body: ScimBody) -> Result<HttpResponse, ScimError> {
        let input = K::input(&body.into_inner()?)?;
        let item = K::create(&self.state.ctx, self.caller.0.clone(), input).await?;
        Ok(self.one::<K>(StatusCode::CREATED, &item))
    }

    pub async fn get<K: Kind>(self, id: &str) -> Result<HttpResponse, ScimError> {
        let item = K::one(&self.state.ctx, self.caller.0.clone(), id).await?;
        Ok(self.one::<K>(StatusCode::OK, &item))
    }

    /// PUT: the body is the resource as it should be.
    pub async fn replace<K: Kind>(self, id: &str, body: ScimBody) -> Result<HttpResponse, ScimError> {
        let input = K::input(&body.into_inner()?)?;
        let item = K::update(&self.state.ctx, self.caller.0.clone(), id, move |_| Ok(input)).await?;
        Ok(self.one::<K>(StatusCode::OK, &item))
    }

    /// PATCH: the operations applied to the resource as served, then read back as a PUT body.
    pub async fn modify<K: Kind>(self, id: &str, body: ScimBody) -> Result<HttpResponse, ScimError> {
        let body = body.into_inner()?;
        let b = base(&self.state);
        let item = K::update(&self.state.ctx, self.caller.0.clone(), id, move |current| {
            let mut doc = K::json(&b, current);
            patch::apply(K::R, &mut doc, &body)?;
            K::input(&doc)
        })
        .await?;
        Ok(self.one::<K>(StatusCode::OK, &item))
    }

    pub async fn delete<K: Kind>(self, id: &str) -> Result<HttpResponse, ScimError> {
        K::delete(&self.state.ctx, self.caller.0, id).await?;
        Ok(HttpResponse::NoContent().finish())
    }

    /// One resource, with the query string's `attributes` / `excludedAttributes` applied; when
    /// created, `Location` is its `meta.location` (RFC 7644 §3.3).
    fn one<K: Kind>(&self, status: StatusCode, item: &K::Item) -> HttpResponse {
        let mut r = K::json(&base(&self.state), item);
        let location =
            r.get("meta").and_then(|m| m.get("location")).and_then(Value::as_str).map(str::to_string);
        if let Ok(q) = ListQuery::from_query(K::R, &self.req) {
            project(K::R, &mut r, &q.attributes, &q.excluded);
        }
        let mut res = reply(status, &Value::Object(r));
        if status == StatusCode::CREATED {
            if let Some(Ok(v)) = location.map(|l| header::HeaderValue::from_str(&l)) {
                res.headers_mut().insert(header::LOCATION, v);
            }
        }
        res
    }
}
