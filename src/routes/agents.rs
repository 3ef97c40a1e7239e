//! `/v1/agents`: agents of the key's project (the SDK's `createAgent` / `ensureAgent`).

use super::auth::Authed;
use super::body::JsonBody;
use super::list::{next_cursor, PageQuery};
use crate::clock;
use crate::domain::{AgentIdentifier, AgentName};
use crate::error::ApiError;
use crate::http::AppState;
use crate::service::agents::{self, NewAgent};
use crate::store::projects::AgentRow;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct AgentRequest {
    /// 1-255 characters after trimming, no control characters.
    #[schema(min_length = 1, max_length = 255, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    name: String,
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,49}$")]
    identifier: String,
    /// The identifier of the parent agent (recorded as given).
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,49}$")]
    parent_identifier: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentList {
    pub agents: Vec<AgentView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentView {
    pub id: String,
    pub name: String,
    pub identifier: String,
    pub parent_identifier: Option<String>,
    pub created_at: String,
}

impl From<AgentRow> for AgentView {
    fn from(a: AgentRow) -> Self {
        AgentView {
            id: a.id.to_string(),
            name: a.name,
            identifier: a.identifier,
            parent_identifier: a.parent_identifier,
            created_at: clock::format(a.created_at),
        }
    }
}

#[utoipa::path(post, path = "/v1/agents", tag = "agents", request_body = AgentRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, body = AgentView),
        (status = 409, description = "The identifier is taken in this project.", body = crate::openapi::ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Authed,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let fields = body.fields()?;
    let name = AgentName::parse(fields.str("name")?).map_err(ApiError::invalid_field)?;
    let identifier =
        AgentIdentifier::parse("identifier", fields.str("identifier")?).map_err(ApiError::invalid_field)?;
    let parent = fields
        .opt_str("parentIdentifier")?
        .map(|p| AgentIdentifier::parse("parentIdentifier", p))
        .transpose()
        .map_err(ApiError::invalid_field)?;
    let agent = agents::create(&state.ctx, &caller, NewAgent { name, identifier, parent }).await?;
    Ok(HttpResponse::Created().json(AgentView::from(agent)))
}

#[utoipa::path(get, path = "/v1/agents", tag = "agents", params(PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "Agents of the key's project, oldest first.", body = AgentList),
        (status = 400, description = "A bad limit or cursor.", body = crate::openapi::ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Authed,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.request()?;
    let page = agents::list(&state.ctx, &caller, page).await?;
    let next_cursor = next_cursor(&page);
    Ok(HttpResponse::Ok()
        .json(AgentList { agents: page.items.into_iter().map(Into::into).collect(), next_cursor }))
}

#[utoipa::path(delete, path = "/v1/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "Agent id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "Deleted."), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    agents::delete(&state.ctx, &caller, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
