//! Projects and their agents.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Tx};
use crate::domain::Agent;
use crate::domain::{AgentId, OrgId, ProjectId, ProjectN, UserId, UserN};

/// Returns the project's internal key, which its keys and agents link to.
pub fn insert_project(
    tx: &Tx,
    id: &ProjectId,
    org: &OrgId,
    owner: UserN,
    name: &str,
    now: Millis,
) -> DbResult<ProjectN> {
    tx.value(
        "INSERT INTO projects (id, org_id, user_n, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING n",
        &[id, org, &owner, &name, &now],
    )
}

/// Fails with a unique violation when the identifier is taken in this project.
pub fn insert_agent(tx: &Tx, project: ProjectN, agent: &Agent) -> DbResult<()> {
    tx.execute(
        "INSERT INTO agents (id, project_n, name, identifier, parent_identifier, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[&agent.id, &project, &agent.name, &agent.identifier, &agent.parent_identifier, &agent.created_at],
    )?;
    Ok(())
}

/// How many agents the project has, with the project's row locked on PostgreSQL so that
/// concurrent creations count one after another (SQLite's one writer already does).
pub fn count_agents_locked(tx: &Tx, project: ProjectN) -> DbResult<i64> {
    if tx.engine() == crate::db::Engine::Postgres {
        tx.query_opt("SELECT 1 FROM projects WHERE n = ?1 FOR UPDATE", &[&project], |_| Ok(()))?;
    }
    tx.value("SELECT COUNT(*) FROM agents WHERE project_n = ?1", &[&project])
}

pub fn agent_exists(conn: &Conn, project: ProjectN, identifier: &str) -> DbResult<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM agents WHERE project_n = ?1 AND identifier = ?2",
            &[&project, &identifier],
            |_| Ok(()),
        )?
        .is_some())
}

/// A project's agents in creation order (ties by identifier), after (`created_at`, `identifier`)
/// when given; `limit` rows at most.
pub fn list_agents(
    conn: &Conn,
    project: ProjectN,
    after: Option<(Millis, &str)>,
    limit: u32,
) -> DbResult<Vec<Agent>> {
    let (at, ident) = (after.map(|a| a.0), after.map(|a| a.1));
    conn.query_all(
        "SELECT id, name, identifier, parent_identifier, created_at FROM agents
          WHERE project_n = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR (created_at, identifier) > (CAST(?2 AS BIGINT), CAST(?3 AS TEXT)))
          ORDER BY created_at, identifier LIMIT ?4",
        &[&project, &at, &ident, &i64::from(limit)],
        |r| {
            Ok(Agent {
                id: r.get(0)?,
                name: r.get(1)?,
                identifier: r.get(2)?,
                parent_identifier: r.get(3)?,
                created_at: r.get(4)?,
            })
        },
    )
}

/// Deletes the agent only if it is in `project`; returns whether it did.
pub fn delete_agent(tx: &Tx, project: ProjectN, agent: &AgentId) -> DbResult<bool> {
    Ok(tx.execute("DELETE FROM agents WHERE project_n = ?2 AND id = ?1", &[agent, &project])? > 0)
}

/// Hands every project of one user (with its agents) and every key of that user to another.
pub fn move_projects_and_keys(tx: &Tx, from: &UserId, to: &UserId) -> DbResult<()> {
    // The keys now belong to someone else.
    tx.keys_changed();
    for sql in [
        "UPDATE projects SET user_n = (SELECT n FROM users WHERE id = ?2)
          WHERE user_n = (SELECT n FROM users WHERE id = ?1)",
        "UPDATE api_keys SET user_n = (SELECT n FROM users WHERE id = ?2)
          WHERE user_n = (SELECT n FROM users WHERE id = ?1)",
    ] {
        tx.execute(sql, &[from, to])?;
    }
    Ok(())
}

pub fn count_projects_of(conn: &Conn, user: &UserId) -> DbResult<i64> {
    conn.value("SELECT COUNT(*) FROM projects WHERE user_n = (SELECT n FROM users WHERE id = ?1)", &[user])
}

/// A member's first project in an organization, with their user row number (keys made on the
/// dashboard belong to it).
pub fn first_of(conn: &Conn, user: &UserId, org: &OrgId) -> DbResult<Option<(UserN, ProjectN)>> {
    conn.query_opt(
        "SELECT u.n, j.n FROM users u JOIN projects j ON j.user_n = u.n
          WHERE u.id = ?1 AND j.org_id = ?2 ORDER BY j.n LIMIT 1",
        &[user, org],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}
