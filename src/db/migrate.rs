//! The schema and its upgrades. `schema.sql` makes a new database at the current version;
//! `migrations/N.sql` takes one from version N-1 to N. `PRAGMA user_version` records the version.

use rusqlite::{Connection, Transaction, TransactionBehavior};

const SCHEMA: &str = include_str!("../../schema.sql");
/// The `user_version` that `schema.sql` leaves behind.
pub const SCHEMA_VERSION: i64 = 11;
/// Upgrade steps: the script in `migrations/N.sql` takes a database from version N-1 to N.
const MIGRATIONS: &[(i64, &str)] = &[
    (2, include_str!("../../migrations/2.sql")),
    (3, include_str!("../../migrations/3.sql")),
    (4, include_str!("../../migrations/4.sql")),
    (5, include_str!("../../migrations/5.sql")),
    (6, include_str!("../../migrations/6.sql")),
    (7, include_str!("../../migrations/7.sql")),
    (8, include_str!("../../migrations/8.sql")),
    (9, include_str!("../../migrations/9.sql")),
    (10, include_str!("../../migrations/10.sql")),
    (11, include_str!("../../migrations/11.sql")),
];
/// Tables an upgrade rebuilds; their row counts must come through unchanged.
const REBUILT: &[&str] = &["users", "memberships", "projects", "api_keys", "agents", "provisions"];

pub enum MigrateError {
    Sqlite(rusqlite::Error),
    TooNew(i64),
    /// An upgrade step failed; its transaction was rolled back.
    Step(i64, String),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sqlite(e)
    }
}

/// The schema version of an open database (0: empty).
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings the schema to `SCHEMA_VERSION`: an empty database (version 0) gets `schema.sql`, an
/// older one the upgrade steps after its version, all in one transaction, so a failed upgrade
/// leaves the database as it was.
pub fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    let version = version(conn)?;
    if version > SCHEMA_VERSION {
        return Err(MigrateError::TooNew(version));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    // Rebuilding a table means dropping one that others reference; SQLite's procedure for that
    // turns enforcement off (only possible outside a transaction) and checks the result instead.
    conn.execute_batch("PRAGMA foreign_keys = OFF;")?;
    let upgraded = upgrade(conn);
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    upgraded
}

fn upgrade(conn: &mut Connection) -> Result<(), MigrateError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated while we waited for the write lock.
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == 0 {
        tx.execute_batch(SCHEMA)?;
    } else if version < SCHEMA_VERSION {
        let counts = |tx: &Transaction| -> rusqlite::Result<Vec<i64>> {
            REBUILT
                .iter()
                .map(|t| tx.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0)))
                .collect()
        };
        let before = counts(&tx)?;
        for &(to, script) in MIGRATIONS.iter().filter(|(to, _)| *to > version) {
            let step = |e: rusqlite::Error| MigrateError::Step(to, e.to_string());
            tx.execute_batch(script).map_err(step)?;
            if tx.prepare("PRAGMA foreign_key_check")?.exists([])? {
                return Err(MigrateError::Step(to, "rows would be left pointing at nothing".into()));
            }
        }
        if counts(&tx)? != before {
            return Err(MigrateError::Step(SCHEMA_VERSION, "rows would have been lost".into()));
        }
    }
    tx.commit()?;
    Ok(())
}
