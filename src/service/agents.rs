//! Agents of the calling key's project (the SDK's `createAgent` / `ensureAgent`).

use super::audit;
use super::authority::{authorize, Act, Principal};
use super::{Caller, Ctx};
use crate::domain::Agent;
use crate::domain::{AgentId, AgentIdentifier, AgentName, Cursor, Page, PageRequest};
use crate::error::{Error, Result};
use crate::store;

/// Agents one project may hold (CONTRACT part three, caps): agents are rows, and without a cap
/// one key could grow the database without end.
pub const MAX_AGENTS: i64 = 1000;

pub struct NewAgent {
    pub name: AgentName,
    pub identifier: AgentIdentifier,
    pub parent: Option<AgentIdentifier>,
}

/// A new agent in the caller's project; 409 `agent_exists` when the identifier is taken there
/// (the SDK's `ensureAgent` depends on exactly that).
pub async fn create(ctx: &Ctx, caller: &Caller, new: NewAgent) -> Result<Agent> {
    let grant = authorize(&Principal::of_key(caller), Act::UseAgents)?;
    let agent = Agent {
        id: AgentId::new(),
        name: new.name.as_str().to_string(),
        identifier: new.identifier.as_str().to_string(),
        parent_identifier: new.parent.map(|p| p.as_str().to_string()),
        created_at: ctx.now(),
    };
    let (project, org) = (caller.project_n, caller.org_id.clone());
    let project_id = caller.project_id.clone();
    ctx.db
        .write(move |tx| {
            if store::projects::count_agents_locked(tx, project)? >= MAX_AGENTS {
                // `ensureAgent` still learns that its agent exists.
                if store::projects::agent_exists(tx, project, &agent.identifier)? {
                    return Err(Error::AgentExists(agent.identifier.clone()));
                }
                return Err(Error::Conflict(
                    "too_many_agents",
                    format!("This project has {MAX_AGENTS} agents, the most a project may have; delete some first."),
                ));
            }
            store::projects::insert_agent(tx, project, &agent).map_err(|e| {
                if e.is_unique_violation() {
                    Error::AgentExists(agent.identifier.clone())
                } else {
                    e.into()
                }
            })?;
            let data = audit::data([
                ("identifier", agent.identifier.as_str().into()),
                ("projectId", project_id.as_str().into()),
            ]);
            audit::only(
                tx,
                grant.by(),
                &org,
                "agent.created",
                ("agent", agent.id.to_string()),
                data,
                agent.created_at,
            )?;
            Ok(agent)
        })
        .await
}

/// The agents of the caller's project, oldest first.
pub async fn list(ctx: &Ctx, caller: &Caller, page: PageRequest) -> Result<Page<Agent>> {
    authorize(&Principal::of_key(caller), Act::UseAgents)?;
    let after = match &page.after {
        None => None,
        Some(c) => {
            let bad = || Error::InvalidCursor;
            Some((c.number(0, 2).ok_or_else(bad)?, c.text(1, 2).ok_or_else(bad)?.to_string()))
        }
    };
    let (project, limit) = (caller.project_n, page.limit);
    let rows = ctx
        .db
        .read(move |c| {
            store::projects::list_agents(c, project, after.as_ref().map(|(t, i)| (*t, i.as_str())), limit + 1)
        })
        .await?;
    Ok(Page::from_rows(rows, limit, |a| Cursor::new(vec![a.created_at.to_string(), a.identifier.clone()])))
}

/// Deletes an agent of the caller's project; any other is not found.
pub async fn delete(ctx: &Ctx, caller: &Caller, id: &str) -> Result<()> {
    let grant = authorize(&Principal::of_key(caller), Act::UseAgents)?;
    let not_found = || Error::NotFound("No agent with that id in this key's project.".into());
    let id = AgentId::parse(id).ok_or_else(not_found)?;
    let (project, org, now) = (caller.project_n, caller.org_id.clone(), ctx.now());
    let deleted = ctx
        .db
        .write(move |tx| {
            let deleted = store::projects::delete_agent(tx, project, &id)?;
            if deleted {
                audit::only(
                    tx,
                    grant.by(),
                    &org,
                    "agent.deleted",
                    ("agent", id.to_string()),
                    Default::default(),
                    now,
                )?;
            }
            Ok::<_, Error>(deleted)
        })
        .await?;
    if deleted {
        Ok(())
    } else {
        Err(not_found())
    }
}
