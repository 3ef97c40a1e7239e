//! The SQLite pool and the bridge from async handlers to blocking SQLite calls.
//! Reads use a pool of connections. Every write goes through `Db::write` on the one writer
//! connection, behind a mutex: writers queue in-process instead of spinning on SQLite's busy
//! handler (which is unfair and can time out under a burst), and batching writes later (group
//! commit) changes this file, not the handlers.

use crate::error::ApiError;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SCHEMA: &str = include_str!("../schema.sql");
/// The `user_version` that `schema.sql` leaves behind.
pub const SCHEMA_VERSION: i64 = 1;

pub type Pool = r2d2::Pool<SqliteConnectionManager>;

/// Set on every connection the pool opens. WAL lets readers go on while one writer commits;
/// `synchronous=FULL` makes every commit durable before we answer (also across power loss);
/// the busy timeout makes concurrent writers queue instead of failing.
const CONNECTION_PRAGMAS: &str = "PRAGMA foreign_keys = ON;
     PRAGMA busy_timeout = 5000;
     PRAGMA synchronous = FULL;";

#[derive(Clone)]
pub struct Db {
    pool: Pool,
    writer: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating if needed) the database file, applies the schema, and builds the pool.
    /// The error is a sentence that tells an operator what to fix.
    pub fn open(path: &Path) -> Result<Db, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                format!("cannot create the database folder {}: {e}; create it or set DATABASE_PATH to a writable place", dir.display())
            })?;
        }
        let unwritable = |e: rusqlite::Error| {
            format!(
                "cannot open the database {} for writing: {e}; check that the file and its folder are writable by this user, or set DATABASE_PATH",
                path.display()
            )
        };
        let mut conn = Connection::open(path).map_err(unwritable)?;
        // SQLite quietly opens an unwritable file read-only; we would then fail on the first write.
        if conn.is_readonly(rusqlite::MAIN_DB).map_err(unwritable)? {
            return Err(format!(
                "the database {} is read-only for this user; make the file and its folder writable, or set DATABASE_PATH",
                path.display()
            ));
        }
        conn.execute_batch("PRAGMA journal_mode = WAL;").map_err(unwritable)?;
        conn.execute_batch(CONNECTION_PRAGMAS).map_err(unwritable)?;
        migrate(&mut conn).map_err(|e| match e {
            MigrateError::Sqlite(e) => unwritable(e),
            MigrateError::TooNew(v) => format!(
                "the database {} has schema version {v}, newer than this provisiond understands ({SCHEMA_VERSION}); run a newer provisiond",
                path.display()
            ),
        })?;
        let writer = Arc::new(Mutex::new(conn));

        let manager = SqliteConnectionManager::file(path).with_init(|c| c.execute_batch(CONNECTION_PRAGMAS));
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| format!("cannot open the database {}: {e}", path.display()))?;
        Ok(Db { pool, writer })
    }

    pub fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, ApiError> {
        Ok(self.pool.get()?)
    }

    /// Runs `f` on a pooled connection on the blocking thread pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || f(&*db.conn()?)).await?
    }

    /// Runs `f` in one write transaction on the blocking thread pool; commits when `f` returns Ok,
    /// rolls everything back when it returns Err.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Transaction) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || db.write_blocking(f)).await?
    }

    /// `write` for callers that are not async (the command line, the cleanup thread).
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Transaction) -> Result<T, ApiError>,
    {
        // A panic while holding the lock leaves no open transaction behind (the Transaction's
        // drop rolls back), so a poisoned lock is still a usable connection.
        let mut conn = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // IMMEDIATE takes SQLite's write lock up front: another process (the `cleanup` command)
        // may write too, and a deferred transaction can fail on upgrade where this one waits.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Online backup into `dest`, consistent even while the server writes.
    pub fn backup_to(&self, dest: &Path) -> Result<(), ApiError> {
        let conn = self.conn()?;
        conn.backup(rusqlite::MAIN_DB, dest, None)?;
        Ok(())
    }

    /// Folds the WAL back into the database file (at shutdown, so the file alone is complete).
    pub fn checkpoint(&self) -> Result<(), ApiError> {
        self.conn()?.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }
}

enum MigrateError {
    Sqlite(rusqlite::Error),
    TooNew(i64),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sqlite(e)
    }
}

/// Brings the schema to `SCHEMA_VERSION`. Version 0 is an empty database; later releases add
/// one step per version here, each in its own transaction.
fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(MigrateError::TooNew(version));
    }
    if version == 0 {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the write lock.
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            tx.execute_batch(SCHEMA)?;
        }
        tx.commit()?;
    }
    Ok(())
}
