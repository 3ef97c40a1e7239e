//! Projects and their agents.

use crate::clock::Millis;
use rusqlite::{params, Connection, Transaction};

/// Returns the project's internal key (`n`), which its keys and agents link to.
pub fn insert_project(
    tx: &Transaction,
    id: &str,
    org_id: &str,
    user_id: &str,
    name: &str,
    now: Millis,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO projects (id, org_id, user_n, name, created_at)
         VALUES (?1, ?2, (SELECT n FROM users WHERE id = ?3), ?4, ?5)",
    )?
    .execute(params![id, org_id, user_id, name, now])?;
    Ok(tx.last_insert_rowid())
}

pub struct AgentRow {
    pub id: String,
    pub name: String,
    pub identifier: String,
    pub parent_identifier: Option<String>,
    pub created_at: Millis,
}

/// Fails with a UNIQUE violation when the identifier is taken in this project.
pub fn insert_agent(tx: &Transaction, project_n: i64, agent: &AgentRow) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO agents (id, project_n, name, identifier, parent_identifier, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        agent.id,
        project_n,
        agent.name,
        agent.identifier,
        agent.parent_identifier,
        agent.created_at
    ])?;
    Ok(())
}

pub fn list_agents(conn: &Connection, project_n: i64) -> rusqlite::Result<Vec<AgentRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, identifier, parent_identifier, created_at FROM agents
          WHERE project_n = ?1 ORDER BY created_at, identifier",
    )?;
    let rows = stmt.query_map([project_n], |r| {
        Ok(AgentRow {
            id: r.get(0)?,
            name: r.get(1)?,
            identifier: r.get(2)?,
            parent_identifier: r.get(3)?,
            created_at: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// Deletes the agent only if it is in project `project_n`; returns whether it did.
pub fn delete_agent(tx: &Transaction, project_n: i64, agent_id: &str) -> rusqlite::Result<bool> {
    let n = tx
        .prepare_cached("DELETE FROM agents WHERE project_n = ?2 AND id = ?1")?
        .execute(params![agent_id, project_n])?;
    Ok(n > 0)
}

/// Hands every project of one user (with its agents) and every key of that user to another.
pub fn move_projects_and_keys(tx: &Transaction, from: &str, to: &str) -> rusqlite::Result<()> {
    for table in ["projects", "api_keys"] {
        tx.prepare_cached(&format!(
            "UPDATE {table} SET user_n = (SELECT n FROM users WHERE id = ?2)
              WHERE user_n = (SELECT n FROM users WHERE id = ?1)"
        ))?
        .execute(params![from, to])?;
    }
    Ok(())
}

pub fn count_projects_of(conn: &Connection, user_id: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM projects WHERE user_n = (SELECT n FROM users WHERE id = ?1)",
        [user_id],
        |r| r.get(0),
    )
}
