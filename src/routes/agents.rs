//! `/v1/agents`: agents of the key's project (the SDK's `createAgent` / `ensureAgent`).

use super::auth::Authed;
use crate::clock;
use crate::domain::Agent;
use crate::domain::{AgentIdentifier, AgentName};
use crate::http::error::ApiError;
use crate::http::json::Body;
use crate::http::paging::{next_cursor, PageQuery, Paged};
use crate::http::AppState;
use crate::service::agents::{self, NewAgent};
use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};

/// Body of `POST /v1/agents` (the SDK's; other fields it may send are ignored).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentRequest {
    /// 1-255 characters after trimming, no control characters.
    #[schema(min_length = 1, max_length = 255, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub name: String,
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,49}$")]
    pub identifier: String,
    /// The identifier of the parent agent (recorded as given).
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,49}$")]
    pub parent_identifier: Option<String>,
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

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentList {
    pub agents: Vec<AgentView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<Agent> for AgentView {
    fn from(a: Agent) -> Self {
        AgentView {
            id: a.id.to_string(),
            name: a.name,
            identifier: a.identifier,
            parent_identifier: a.parent_identifier,
            created_at: clock::format(a.created_at),
        }
    }
}

#[utoipa::path(tag = "agents", request_body = AgentRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, body = AgentView),
        (status = 409, description = "The identifier is taken in this project.", body = crate::http::error::ErrorBody)))]
#[post("/v1/agents")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Authed,
    body: Body<AgentRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let name = AgentName::parse(&body.name).map_err(ApiError::invalid_field)?;
    let identifier =
        AgentIdentifier::parse("identifier", &body.identifier).map_err(ApiError::invalid_field)?;
    let parent = body
        .parent_identifier
        .map(|p| AgentIdentifier::parse("parentIdentifier", &p))
        .transpose()
        .map_err(ApiError::invalid_field)?;
    let agent = agents::create(&state.ctx, &caller, NewAgent { name, identifier, parent }).await?;
    Ok(HttpResponse::Created().json(AgentView::from(agent)))
}

#[utoipa::path(tag = "agents", params(PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "Agents of the key's project, oldest first.", body = AgentList),
        (status = 400, description = "A bad limit or cursor.", body = crate::http::error::ErrorBody)))]
#[get("/v1/agents")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Authed,
    Paged(page): Paged,
) -> Result<HttpResponse, ApiError> {
    let page = agents::list(&state.ctx, &caller, page).await?;
    let next_cursor = next_cursor(&page);
    Ok(HttpResponse::Ok()
        .json(AgentList { agents: page.items.into_iter().map(Into::into).collect(), next_cursor }))
}

#[utoipa::path(tag = "agents",
    params(("id" = String, Path, description = "Agent id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "Deleted."), (status = 404, body = crate::http::error::ErrorBody)))]
#[delete("/v1/agents/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    agents::delete(&state.ctx, &caller, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
