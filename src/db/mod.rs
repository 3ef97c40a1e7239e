//! The database engines behind one handle, `Db`: where reads run, how writes commit, and the key
//! generation that tells the key cache when to stop trusting itself. Today's engine is SQLite
//! (`sqlite`: one file, a read pool, one writer thread with group commit, see `writer`);
//! `conn` is the engine-neutral connection every store function takes.

pub mod conn;
pub mod migrate;
mod sqlite;
mod types;
mod writer;

pub use conn::{Conn, DbError, DbResult, Engine, Param, Row, Tx};

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
    pub path: PathBuf,
    pub synchronous: Synchronous,
}

/// Moves whenever something changed what API keys mean: a write in this process (after its
/// commit, before it is answered) or, noticed by `Db::refresh_keys`, one by another process.
/// The key cache trusts an entry only while the generation it was filled in is current.
#[derive(Default)]
pub struct KeyGeneration {
    generation: AtomicU64,
    /// The database's key epoch (see schema.sql, key_epoch) last seen.
    db_epoch: AtomicI64,
}

impl KeyGeneration {
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
        let keys = Arc::new(KeyGeneration::default());
        let engine = sqlite::Sqlite::open(&settings.path, settings.synchronous, create, keys.clone())?;
        let db = Db { engine: Arc::new(Backend::Sqlite(engine)), keys };
        db.refresh_keys()
            .map_err(|e| format!("cannot read the database {}: {e}", settings.path.display()))?;
        Ok(db)
    }

    pub fn engine(&self) -> Engine {
        match *self.engine {
            Backend::Sqlite(_) => Engine::Sqlite,
        }
    }

    /// Where the data is, for messages (never holds a password).
    pub fn location(&self) -> String {
        match &*self.engine {
            Backend::Sqlite(s) => s.path().display().to_string(),
        }
    }

    /// The current key generation, after noticing any change another process committed. Call it
    /// before trusting the key cache.
    pub fn refresh_keys(&self) -> DbResult<u64> {
        match &*self.engine {
            Backend::Sqlite(s) => s.refresh_keys(&self.keys)?,
        }
        Ok(self.keys.current())
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
        actix_web::web::block(move || db.read_blocking(f))
            .await
            .map_err(|e| E::from(DbError::Blocking(e.to_string())))?
    }

    /// `read` for callers that are not async (tests, the command line's checks).
    pub fn read_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Conn) -> Result<T, E>,
        E: From<DbError>,
    {
        match &*self.engine {
            Backend::Sqlite(s) => s.read(f),
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
        let (reply, rx) = tokio::sync::oneshot::channel();
        match &*self.engine {
            Backend::Sqlite(s) => s.submit(f, reply)?,
        }
        rx.await.map_err(|_| E::from(DbError::WriterStopped))?
    }

    /// `write` for a background thread of the server (the sweep, the mailer): queued with the
    /// requests' writes rather than competing with them for the database's lock.
    pub fn write_queued<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (reply, rx) = mpsc::sync_channel(1);
        match &*self.engine {
            Backend::Sqlite(s) => s.submit(f, reply)?,
        }
        rx.recv().map_err(|_| E::from(DbError::WriterStopped))?
    }

    /// A write in a transaction of its own, for callers that are not async (tests, shutdown).
    /// Same rules: committed before Ok, the key generation moved before returning when keys
    /// changed.
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Tx) -> Result<T, E>,
        E: From<DbError>,
    {
        match &*self.engine {
            Backend::Sqlite(s) => s.write_alone(&self.keys, f),
        }
    }

    /// A consistent copy of the database at `dest`, taken while the server runs.
    pub fn backup_to(&self, dest: &Path) -> DbResult<()> {
        match &*self.engine {
            Backend::Sqlite(s) => s.backup_to(dest),
        }
    }

    /// Makes the database file complete on its own (at shutdown).
    pub fn checkpoint(&self) -> DbResult<()> {
        match &*self.engine {
            Backend::Sqlite(s) => s.checkpoint(),
        }
    }
}
