//! `/v1/agents`: agents of the key's project (the SDK's `createAgent` / `ensureAgent`).

use super::body::JsonBody;
use crate::app::AppState;
use crate::auth::Caller;
use crate::clock;
use crate::domain::{AgentIdentifier, AgentName};
use crate::error::{is_unique_violation, ApiError};
use crate::keys::new_id;
use crate::store;
use crate::store::projects::AgentRow;
use actix_web::{web, HttpResponse};
use serde::Serialize;

#[derive(Serialize)]
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
            id: a.id,
            name: a.name,
            identifier: a.identifier,
            parent_identifier: a.parent_identifier,
            created_at: clock::format(a.created_at),
        }
    }
}

pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
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
    let agent = AgentRow {
        id: new_id(),
        name: name.as_str().to_string(),
        identifier: identifier.as_str().to_string(),
        parent_identifier: parent.map(|p| p.as_str().to_string()),
        created_at: state.clock.now(),
    };
    let project_id = caller.project_id.clone();
    let agent = state
        .db
        .write(move |tx| {
            tx.keeps_keys();
            if let Some(parent) = &agent.parent_identifier {
                if !store::projects::agent_exists(tx, &project_id, parent)? {
                    return Err(ApiError::invalid_field(format!(
                        "'parentIdentifier' names no agent in this project: there is no agent '{parent}'."
                    )));
                }
            }
            store::projects::insert_agent(tx, &project_id, &agent).map_err(|e| {
                if is_unique_violation(&e) {
                    ApiError::conflict(
                        "agent_exists",
                        format!(
                            "An agent with identifier '{}' already exists in this project.",
                            agent.identifier
                        ),
                    )
                } else {
                    e.into()
                }
            })?;
            Ok(agent)
        })
        .await?;
    Ok(HttpResponse::Created().json(AgentView::from(agent)))
}

pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let rows = state.db.read(move |conn| Ok(store::projects::list_agents(conn, &caller.project_id)?)).await?;
    let agents: Vec<AgentView> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "agents": agents })))
}

pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let deleted = state
        .db
        .write(move |tx| {
            tx.keeps_keys();
            Ok(store::projects::delete_agent(tx, &caller.project_id, &id)?)
        })
        .await?;
    if deleted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("No agent with that id in this key's project."))
    }
}
