//! The database engines behind one handle, `Db`: where reads run, how writes commit, and the key
//! generation that tells the key cache when to stop trusting itself. SQLite (`sqlite`: one file,
//! a read pool, one writer thread with group commit, see `writer`) is the default; PostgreSQL
//! (`postgres`: a pool, each write its own transaction) serves several replicas. `conn` is the
//! engine-neutral connection every store function takes.

pub mod conn;
pub mod migrate;
pub mod postgres;
mod sqlite;
mod types;
mod wal;
mod writer;

pub use conn::{Conn, DbError, DbResult, Engine, Param, Row, Tx};

use crate::metrics::Metrics;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

/// When a commit reaches the disk (SQLite's `synchronous`): `normal` survives a crash of
/// provisiond; `full` also survives a power loss.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    #[default]
    Normal,
    Full,
}

/// Where the database is and how it commits.
#[derive(Clone, Debug)]
pub struct DbSettings {
    /// The SQLite file, unless `url` names a PostgreSQL database.
    pub path: PathBuf,
    pub synchronous: Synchronous,
    /// `postgres://…`: PostgreSQL instead of SQLite. Holds the password: never logged.
    pub url: Option<String>,
}

/// Moves whenever something changed what API keys mean: a write in this process (after its
/// commit, before it is answered) or, noticed by `Db::refresh_keys`, one by another process.
/// The key cache trusts an entry only while the generation it was filled in is current.
#[derive(Default)]
pub struct KeyGeneration {
    generation: AtomicU64,
    /// The database's key epoch (see schema.sql, key_epoch) last seen.
    db_epoch: AtomicI64,
    /// The application's metrics, where commits are counted (off unless METRICS). Held here
    /// because this is what each engine's commit path (SQLite's writer thread, a PostgreSQL
    /// write) is handed.
    metrics: Metrics,
}

impl KeyGeneration {
    /// Counts one commit of `writes` writes that took `took`.
    fn committed(&self, writes: usize, took: std::time::Duration) {
        self.metrics.committed(writes, took);
    }

    fn changed(&self, db_epoch: i64) {
        self.db_epoch.fetch_max(db_epoch, Ordering::AcqRel);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn observe(&self, db_epoch: i64) {
        if db_epoch > self.db_epoch.load(Ordering::Acquire) {
            self.changed(db_epoch);
        }
    }

    fn current(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(Arc<postgres::Postgres>),
}

#[derive(Clone)]
pub struct Db {
    engine: Arc<Backend>,
    keys: Arc<KeyGeneration>,
}

impl Db {
    /// Opens the database, bringing its schema up to date. Only the server and `org create` may
    /// make a new one (`create`); any other command refuses a missing database, naming the path
    /// it looked at, instead of quietly working on an empty one.
    pub fn open(settings: &DbSettings, create: bool) -> Result<Db, String> {
        Self::open_with_metrics(settings, create, Metrics::off())
    }

    /// As `open`, counting commits into the application's `metrics`.
    pub fn open_with_metrics(settings: &DbSettings, create: bool, metrics: Metrics) -> Result<Db, String> {
        let keys = Arc::new(KeyGeneration { metrics, ..KeyGeneration::default() });
        let backend = match &settings.url {
            Some(url) => Backend::Postgres(Arc::new(postgres::Postgres::open(url, create)?)),
            None => Backend::Sqlite(sqlite::Sqlite::open(
                &settings.path,
                settings.synchronous,
                create,
                keys.clone(),
            )?),
        };
        let db = Db { engine: Arc::new(backend), keys };
        if let Backend::Sqlite(s) = &*db.engine {
            s.refresh_keys(&db.keys)
                .map_err(|e| format!("cannot read the database {}: {e}", db.location()))?;
        }
        Ok(db)
    }

    pub fn engine(&self) -> Engine {
        match *self.engine {
            Backend::Sqlite(_) => Engine::Sqlite,
            Backend::Postgres(_) => Engine::Postgres,
        }
    }

    /// Where the data is, for messages (never holds a password).
    pub fn location(&self) -> String {
        match &*self.engine {
            Backend::Sqlite(s) => s.path().display().to_string(),
            Backend::Postgres(p) => p.location().to_string(),
        }
    }

    /// The current key generation, after noticing any change another process committed. Call it
    /// before trusting the key cache.
    pub async fn refresh_keys(&self) -> DbResult<u64> {
        match &*self.engine {
            Backend::Sqlite(s) => s.refresh_keys(&self.keys)?,
            Backend::Postgres(p) => p.refresh_keys(&self.keys).await?,
        }
        Ok(self.keys.current())
    }

    /// The application's metrics this database counts its commits into.
    pub fn metrics(&self) -> Metrics {
        self.keys.metrics.clone()
    }

    /// The key generation as this process knows it, without looking for other processes'
    /// changes (for a cache fill that has just looked).
    pub fn key_generation(&self) -> u64 {
        self.keys.current()
    }

    /// Runs `f` on a pooled read connection, on the blocking thread pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Conn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || match &*db.engine {
            Backend::Sqlite(s) => s.read(f),
            Backend::Postgres(p) => p.read(f),
        })
        .await
        .map_err(|e| E::from(DbError::Blocking(e.to_string())))?
    }

    /// `read` for callers that are not async (tests, the command line's checks).
    pub fn read_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Conn) -> Result<T, E> + Send,
        T: Send,
        E: From<DbError> + Send,
    {
        match &*self.engine {
            Backend::Sqlite(s) => s.read(f),
            Backend::Postgres(p) => postgres::off_runtime(|| p.read(f)),
        }
    }

    /// Runs `f` as one write: committed (with whatever else the writer batches with it) before
    /// this returns Ok; rolled back entirely when it returns Err.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        match &*self.engine {
            Backend::Sqlite(s) => {
                let (reply, rx) = tokio::sync::oneshot::channel();
                s.submit(f, reply)?;
                rx.await.map_err(|_| E::from(DbError::WriterStopped))?
            }
            Backend::Postgres(p) => {
                let (p, keys) = (p.clone(), self.keys.clone());
                actix_web::web::block(move || p.write(&keys, f))
                    .await
                    .map_err(|e| E::from(DbError::Blocking(e.to_string())))?
            }
        }
    }

    /// `write` for a background thread of the server (the sweep, the mailer): queued with the
    /// requests' writes rather than competing with them for the database's lock.
    pub fn write_queued<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        match &*self.engine {
            Backend::Sqlite(s) => {
                let (reply, rx) = mpsc::sync_channel(1);
                s.submit(f, reply)?;
                rx.recv().map_err(|_| E::from(DbError::WriterStopped))?
            }
            Backend::Postgres(p) => postgres::off_runtime(|| p.write(&self.keys, f)),
        }
    }

    /// A write in a transaction of its own, for callers that are not async (tests, shutdown).
    /// Same rules: committed before Ok, the key generation moved before returning when keys
    /// changed.
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Tx) -> Result<T, E> + Send,
        T: Send,
        E: From<DbError> + Send,
    {
        match &*self.engine {
            Backend::Sqlite(s) => s.write_alone(&self.keys, f),
            Backend::Postgres(p) => postgres::off_runtime(|| p.write(&self.keys, f)),
        }
    }

    /// A consistent copy of the database at `dest`, taken while the server runs.
    /// On PostgreSQL there is no file to copy: None (use `pg_dump`).
    pub fn backup_to(&self, dest: &Path) -> Option<DbResult<()>> {
        match &*self.engine {
            Backend::Sqlite(s) => Some(s.backup_to(dest)),
            Backend::Postgres(_) => None,
        }
    }

    /// Makes the database file complete on its own (at shutdown); nothing to do on PostgreSQL.
    pub fn checkpoint(&self) -> DbResult<()> {
        match &*self.engine {
            Backend::Sqlite(s) => s.checkpoint(),
            Backend::Postgres(_) => Ok(()),
        }
    }

    /// SQLite's WAL: the size of its file in bytes, and how many times it was restarted to keep
    /// it bounded (see `wal`). None on PostgreSQL.
    pub fn wal(&self) -> Option<WalState> {
        match &*self.engine {
            Backend::Sqlite(s) => {
                let (bytes, restarts) = s.wal_size();
                Some(WalState { bytes, restarts })
            }
            Backend::Postgres(_) => None,
        }
    }

    /// How many pages SQLite's WAL may hold before the checkpoint thread restarts it (16 MiB
    /// worth by default); a test makes it small to see the bound without writing megabytes.
    /// Nothing on PostgreSQL.
    pub fn set_wal_limit(&self, pages: u32) {
        if let Backend::Sqlite(s) = &*self.engine {
            s.set_wal_limit(pages);
        }
    }
}

/// See `Db::wal`.
#[derive(Clone, Copy, Debug, Default)]
pub struct WalState {
    pub bytes: u64,
    pub restarts: u64,
}
