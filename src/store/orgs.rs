//! Organizations: their names and email domains, and the locks that order changes to them.

use crate::clock::Millis;
use crate::db::{Conn, DbResult, Engine, Tx};
use crate::domain::{Domain, OrgId};

pub fn insert_org(tx: &Tx, id: &OrgId, name: &str, domain: Option<&Domain>, now: Millis) -> DbResult<()> {
    tx.execute(
        "INSERT INTO organizations (id, name, domain, created_at) VALUES (?1, ?2, ?3, ?4)",
        &[id, &name, &domain, &now],
    )?;
    Ok(())
}

/// Holds the first start's lock until the transaction ends (PostgreSQL; SQLite's writes are
/// one at a time anyway).
pub fn lock_for_bootstrap(tx: &Tx) -> DbResult<()> {
    if tx.engine() == Engine::Postgres {
        tx.execute("SELECT pg_advisory_xact_lock(?1)", &[&crate::db::postgres::BOOTSTRAP_LOCK])?;
    }
    Ok(())
}

pub fn count_orgs(conn: &Conn) -> DbResult<i64> {
    conn.value("SELECT COUNT(*) FROM organizations", &[])
}

pub fn domain_taken(conn: &Conn, domain: &Domain) -> DbResult<bool> {
    conn.value("SELECT EXISTS (SELECT 1 FROM organizations WHERE domain = ?1)", &[domain])
}

/// Organizations matching `needle` as an id, a domain (case-insensitive) or a name, in that
/// order of preference: the first kind that matches anything wins.
pub fn find_orgs(conn: &Conn, needle: &str) -> DbResult<Vec<OrgId>> {
    let lower = needle.to_ascii_lowercase();
    for (sql, value) in [
        ("SELECT id FROM organizations WHERE id = ?1", needle),
        ("SELECT id FROM organizations WHERE domain = ?1", lower.as_str()),
        ("SELECT id FROM organizations WHERE name = ?1 ORDER BY created_at", needle),
    ] {
        let ids = conn.query_all(sql, &[&value], |r| r.get(0))?;
        if !ids.is_empty() {
            return Ok(ids);
        }
    }
    Ok(Vec::new())
}

pub fn org_name(conn: &Conn, org: &OrgId) -> DbResult<Option<String>> {
    conn.query_opt("SELECT name FROM organizations WHERE id = ?1", &[org], |r| r.get(0))
}

pub fn set_domain(tx: &Tx, org: &OrgId, domain: &Domain) -> DbResult<usize> {
    // Keys carry their organization's domain (create-user maps onto it).
    tx.keys_changed();
    tx.execute("UPDATE organizations SET domain = ?2 WHERE id = ?1", &[org, domain])
}

/// Holds the organization's row until the transaction ends, so that changes to its owners
/// happen one at a time (PostgreSQL; SQLite's single writer does that already). Concurrent
/// demotions then each count the owners the other left.
pub fn lock_org(tx: &Tx, org: &OrgId) -> DbResult<()> {
    if tx.engine() == Engine::Postgres {
        tx.query_opt("SELECT id FROM organizations WHERE id = ?1 FOR UPDATE", &[org], |_| Ok(()))?;
    }
    Ok(())
}
