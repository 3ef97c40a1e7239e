//! Agents of the calling key's project (the SDK's `createAgent` / `ensureAgent`).

use super::audit::{self, By};
use super::{Caller, Ctx};
use crate::domain::{AgentId, AgentIdentifier, AgentName, Cursor, Page, PageRequest, Scope};
use crate::error::{Error, Result};
use crate::store;
use crate::store::projects::AgentRow;

pub struct NewAgent {
    pub name: AgentName,
    pub identifier: AgentIdentifier,
    pub parent: Option<AgentIdentifier>,
}

/// A new agent in the caller's project; 409 `agent_exists` when the identifier is taken there
/// (the SDK's `ensureAgent` depends on exactly that).
pub async fn create(ctx: &Ctx, caller: &Caller, new: NewAgent) -> Result<AgentRow> {
    caller.authority().require_scope(Scope::Agents)?;
    let agent = AgentRow {
        id: AgentId::new(),
        name: new.name.as_str().to_string(),
        identifier: new.identifier.as_str().to_string(),
        parent_identifier: new.parent.map(|p| p.as_str().to_string()),
        created_at: ctx.now(),
    };
    let (project, org, by) = (caller.project_n, caller.org_id.clone(), By::key(caller));
    let project_id = caller.project_id.clone();
    ctx.db
        .write(move |tx| {
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
                &by,
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
pub async fn list(ctx: &Ctx, caller: &Caller, page: PageRequest) -> Result<Page<AgentRow>> {
    caller.authority().require_scope(Scope::Agents)?;
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
    caller.authority().require_scope(Scope::Agents)?;
    let not_found = || Error::NotFound("No agent with that id in this key's project.".into());
    let id = AgentId::parse(id).ok_or_else(not_found)?;
    let (project, org, by, now) = (caller.project_n, caller.org_id.clone(), By::key(caller), ctx.now());
    let deleted = ctx
        .db
        .write(move |tx| {
            let deleted = store::projects::delete_agent(tx, project, &id)?;
            if deleted {
                audit::only(
                    tx,
                    &by,
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
