//! The SQLite database: a pool of read connections, and one writer thread that owns the only
//! write connection and commits concurrent writes together (group commit).
//!
//! Every write is a closure sent to the writer. The writer takes whatever closures are waiting,
//! runs each inside its own SAVEPOINT of one IMMEDIATE transaction, and commits once: a closure
//! that fails is rolled back to its savepoint without touching the others, and no caller hears
//! "done" before the commit that contains its rows. One commit (one WAL sync) then serves a whole
//! burst of requests, which is where the write rate comes from.
//!
//! Unless a write declares it leaves existing API keys' meaning alone (`Tx::keeps_keys`), it bumps
//! the key epoch (a one-row table) in its own transaction, and the key cache is emptied after its
//! commit and before anyone is answered: a revoked, cancelled or moved key is refused on the very
//! next request. Another process (the command line) bumps the same epoch; `check_key_epoch`,
//! called before the cache is trusted, notices it (see there).

use crate::clock::Millis;
use crate::config::Synchronous;
use crate::error::ApiError;
use crate::keycache::KeyCache;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::cell::Cell;
use std::collections::HashMap;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SCHEMA: &str = include_str!("../schema.sql");
/// The `user_version` that `schema.sql` leaves behind.
pub const SCHEMA_VERSION: i64 = 3;
/// Upgrade steps: the script in `migrations/N.sql` takes a database from version N-1 to N.
const MIGRATIONS: &[(i64, &str)] =
    &[(2, include_str!("../migrations/2.sql")), (3, include_str!("../migrations/3.sql"))];
/// Tables an upgrade rebuilds; their row counts must come through unchanged.
const REBUILT: &[&str] = &["users", "memberships", "projects", "api_keys", "agents", "provisions"];

/// Most writes one commit carries: bounds how long the first of them waits.
const MAX_BATCH: usize = 128;

pub type Pool = r2d2::Pool<SqliteConnectionManager>;

/// The writer's page cache: the indexes written at random places (key and claim-token hashes,
/// user and provision ids; see schema.sql, Keys) are re-read at every batch, and SQLite's 2 MB
/// default does not hold them. It never checkpoints itself: the checkpoint thread does, so
/// copying the WAL into the database (and its fsync) never holds up a commit. Once the WAL
/// restarts after a burst, it is cut back to 64 MiB instead of keeping its largest size on disk.
/// The sweep's scratch table (store::provisions::expire_batch) lives in memory, not in a
/// temporary file.
const WRITER_PRAGMAS: &str = "PRAGMA cache_size = -16000; PRAGMA wal_autocheckpoint = 0;
     PRAGMA journal_size_limit = 67108864; PRAGMA temp_store = MEMORY;";

/// Readers mostly miss the key cache once per key; a small page cache each keeps memory down.
const READER_PRAGMAS: &str = "PRAGMA cache_size = -1000;";

/// How often the checkpoint thread folds the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Prepared statements kept per connection: more than the store has, so none is parsed twice.
const STATEMENT_CACHE: usize = 128;

/// Set on every connection (then `synchronous` as configured, see `open_with`): the busy timeout
/// covers another process (the command line) writing at the same time.
const CONNECTION_PRAGMAS: &str = "PRAGMA foreign_keys = ON;
     PRAGMA busy_timeout = 5000;
     PRAGMA synchronous = NORMAL;";

/// Connections that watch for other processes' commits (`Db::check_key_epoch`): one per worker
/// would be ideal; a few, picked by thread, keep the workers from waiting on one another.
const WATCHERS: usize = 4;
static NEXT_SLOT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Watcher {
    conn: Connection,
    /// The `data_version` at the last look.
    seen: Option<i64>,
}

/// The transaction a write closure runs in (inside its own savepoint).
pub struct Tx<'a> {
    tx: &'a Transaction<'a>,
    keeps_keys: Cell<bool>,
}

impl<'a> Deref for Tx<'a> {
    type Target = Transaction<'a>;
    fn deref(&self) -> &Transaction<'a> {
        self.tx
    }
}

impl Tx<'_> {
    /// Declares that this write changes no existing API key's caller (it only adds rows, or
    /// touches what a key does not carry), so the key cache may stay. Without it, the cache is
    /// emptied after the commit: forgetting costs speed, never correctness.
    pub fn keeps_keys(&self) {
        self.keeps_keys.set(true);
    }
}

/// Where a write's outcome goes: a future awaiting it, or a thread blocked on it.
trait Reply<T>: Send {
    fn send(self, out: Result<T, ApiError>);
}

impl<T: Send> Reply<T> for tokio::sync::oneshot::Sender<Result<T, ApiError>> {
    fn send(self, out: Result<T, ApiError>) {
        // The caller may have gone away (client disconnected); nothing to do then.
        let _ = tokio::sync::oneshot::Sender::send(self, out);
    }
}

impl<T: Send> Reply<T> for mpsc::SyncSender<Result<T, ApiError>> {
    fn send(self, out: Result<T, ApiError>) {
        let _ = mpsc::SyncSender::send(&self, out);
    }
}

/// A write waiting for the writer thread.
trait Job: Send {
    /// Runs inside the batch's transaction; true when it succeeded (its savepoint is kept).
    fn run(&mut self, tx: &Transaction) -> bool;
    /// True when it succeeded and did not declare that it keeps keys.
    fn changed_keys(&self) -> bool;
    /// Sends the outcome once the batch is committed (or failed to commit).
    fn deliver(self: Box<Self>, commit: &Result<(), String>);
}

struct TypedJob<T, F, R> {
    f: Option<F>,
    out: Option<Result<T, ApiError>>,
    keeps_keys: bool,
    reply: R,
}

impl<T, F, R> Job for TypedJob<T, F, R>
where
    T: Send,
    F: FnOnce(&Tx) -> Result<T, ApiError> + Send,
    R: Reply<T>,
{
    fn run(&mut self, tx: &Transaction) -> bool {
        let Some(f) = self.f.take() else { return false };
        let wrapped = Tx { tx, keeps_keys: Cell::new(false) };
        let out = catch_unwind(AssertUnwindSafe(|| f(&wrapped)))
            .unwrap_or_else(|_| Err(ApiError::internal("a write panicked; it was rolled back")));
        self.keeps_keys = wrapped.keeps_keys.get();
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn changed_keys(&self) -> bool {
        matches!(self.out, Some(Ok(_))) && !self.keeps_keys
    }

    fn deliver(self: Box<Self>, commit: &Result<(), String>) {
        let out = match (self.out, commit) {
            (Some(Ok(_)), Err(e)) => Err(ApiError::unavailable(format!("commit failed: {e}"))),
            (Some(out), _) => out,
            (None, Err(e)) => Err(ApiError::unavailable(format!("write not run: {e}"))),
            (None, Ok(())) => Err(ApiError::internal("write not run")),
        };
        self.reply.send(out);
    }
}

#[derive(Clone)]
pub struct Db {
    pool: Pool,
    writer: mpsc::Sender<Box<dyn Job>>,
    keys: Arc<KeyCache>,
    watchers: Arc<Vec<Mutex<Watcher>>>,
    usage: Arc<Mutex<HashMap<i64, Millis>>>,
    /// Dropped with the last handle, which ends the checkpoint thread.
    _checkpointer: Arc<mpsc::Sender<()>>,
}

impl Db {
    /// Opens (creating if needed) the database file, applies the schema, builds the read pool and
    /// starts the writer thread. The error is a sentence that tells an operator what to fix.
    pub fn open(path: &Path) -> Result<Db, String> {
        Self::open_with(path, Synchronous::default())
    }

    pub fn open_with(path: &Path, synchronous: Synchronous) -> Result<Db, String> {
        let sync_pragma = match synchronous {
            Synchronous::Normal => "PRAGMA synchronous = NORMAL;",
            Synchronous::Full => "PRAGMA synchronous = FULL;",
        };
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
        // Only takes effect on a new, empty file (before WAL mode writes the header): every
        // provision dirties about a dozen pages at random places in the indexes, so smaller pages
        // mean proportionally fewer bytes through the WAL per commit.
        conn.execute_batch("PRAGMA page_size = 4096;").map_err(unwritable)?;
        conn.execute_batch("PRAGMA journal_mode = WAL;").map_err(unwritable)?;
        conn.execute_batch(CONNECTION_PRAGMAS).map_err(unwritable)?;
        conn.execute_batch(sync_pragma).map_err(unwritable)?;
        migrate(&mut conn).map_err(|e| match e {
            MigrateError::Sqlite(e) => unwritable(e),
            MigrateError::TooNew(v) => format!(
                "the database {} has schema version {v}, newer than this provisiond understands ({SCHEMA_VERSION}); run a newer provisiond",
                path.display()
            ),
            MigrateError::Step(v, e) => format!(
                "could not upgrade the database {} to schema version {v} ({e}); it was left unchanged, so the previous provisiond still runs on it",
                path.display()
            ),
        })?;

        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.execute_batch(WRITER_PRAGMAS).map_err(unwritable)?;
        let manager = SqliteConnectionManager::file(path).with_init(move |c| {
            c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            c.execute_batch(CONNECTION_PRAGMAS)?;
            c.execute_batch(sync_pragma)?;
            c.execute_batch(READER_PRAGMAS)
        });
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| format!("cannot open the database {}: {e}", path.display()))?;
        let keys = Arc::new(KeyCache::default());
        let watchers = (0..WATCHERS)
            .map(|_| {
                let conn = Connection::open(path)?;
                conn.execute_batch(CONNECTION_PRAGMAS)?;
                conn.execute_batch(READER_PRAGMAS)?;
                Ok(Mutex::new(Watcher { conn, seen: None }))
            })
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(unwritable)?;
        let (writer, jobs) = mpsc::channel::<Box<dyn Job>>();
        let cache = keys.clone();
        std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || write_loop(conn, jobs, &cache))
            .map_err(|e| format!("cannot start the database writer thread: {e}"))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let checkpoint_conn = Connection::open(path).map_err(unwritable)?;
        checkpoint_conn.execute_batch(CONNECTION_PRAGMAS).map_err(unwritable)?;
        checkpoint_conn.execute_batch(sync_pragma).map_err(unwritable)?;
        std::thread::Builder::new()
            .name("db-checkpoint".into())
            .spawn(move || checkpoint_loop(&checkpoint_conn, &stopped))
            .map_err(|e| format!("cannot start the database checkpoint thread: {e}"))?;
        let db = Db {
            pool,
            writer,
            keys,
            watchers: Arc::new(watchers),
            usage: Arc::default(),
            _checkpointer: Arc::new(stop),
        };
        db.check_key_epoch().map_err(|e| format!("cannot read the database {}: {e}", path.display()))?;
        Ok(db)
    }

    pub fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, ApiError> {
        Ok(self.pool.get()?)
    }

    pub fn key_cache(&self) -> &KeyCache {
        &self.keys
    }

    /// Empties the key cache when another process changed what keys mean since the last look;
    /// call it before trusting the cache. `PRAGMA data_version` changes on a connection only
    /// when some other connection committed, and reading it costs no page read, so the common
    /// case (nothing committed) stays cheap; only then is the epoch row read. The writer's own
    /// commits also move it (it is another connection), which costs one small read after each.
    pub fn check_key_epoch(&self) -> Result<(), ApiError> {
        thread_local! {
            static SLOT: usize = NEXT_SLOT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let slot = SLOT.with(|s| *s) % self.watchers.len();
        let mut w = self.watchers[slot].lock().unwrap_or_else(|p| p.into_inner());
        let version: i64 = w.conn.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?;
        if w.seen != Some(version) {
            let epoch: i64 = w
                .conn
                .prepare_cached("SELECT epoch FROM key_epoch WHERE id = 1")?
                .query_row([], |r| r.get(0))?;
            self.keys.observe(epoch);
            w.seen = Some(version);
        }
        Ok(())
    }

    /// Runs `f` on a pooled read connection on the blocking thread pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || f(&*db.conn()?)).await?
    }

    fn submit<T, F, R>(&self, f: F, reply: R) -> Result<(), ApiError>
    where
        F: FnOnce(&Tx) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
        R: Reply<T> + 'static,
    {
        let job = TypedJob { f: Some(f), out: None, keeps_keys: false, reply };
        self.writer.send(Box::new(job)).map_err(|_| ApiError::unavailable("the database writer has stopped"))
    }

    /// Runs `f` as one write: committed (with whatever else the writer batches with it) before
    /// this returns Ok; rolled back entirely when it returns Err.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Tx) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.submit(f, reply)?;
        rx.await.map_err(|_| ApiError::unavailable("the database writer has stopped"))?
    }

    /// `write` for a background thread of the server (the sweep): queued with the requests'
    /// writes rather than competing with them for SQLite's lock.
    pub fn write_queued<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Tx) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, rx) = mpsc::sync_channel(1);
        self.submit(f, reply)?;
        rx.recv().map_err(|_| ApiError::unavailable("the database writer has stopped"))?
    }

    /// A write for callers that are not async (the command line, the cleanup thread, tests):
    /// one transaction of its own on a pooled connection, beside the writer thread (SQLite's
    /// lock and busy timeout order the two). Same rules: committed before Ok, the key cache
    /// emptied after the commit unless the write keeps keys.
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Tx) -> Result<T, ApiError>,
    {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let wrapped = Tx { tx: &tx, keeps_keys: Cell::new(false) };
        let out = f(&wrapped)?;
        let epoch = if wrapped.keeps_keys.get() { None } else { Some(bump_key_epoch(&tx)?) };
        tx.commit()?;
        if let Some(epoch) = epoch {
            self.keys.flush_to(epoch);
        }
        Ok(out)
    }

    /// Notes that a key was used; written out in bulk by `flush_key_usage`, so authenticating
    /// never writes.
    pub fn note_key_use(&self, key_id: i64, at: Millis) {
        self.usage.lock().unwrap_or_else(|p| p.into_inner()).insert(key_id, at);
    }

    /// Writes the noted key uses (`lastUsedAt`) in one transaction.
    pub fn flush_key_usage(&self) -> Result<usize, ApiError> {
        let uses: Vec<(i64, Millis)> =
            std::mem::take(&mut *self.usage.lock().unwrap_or_else(|p| p.into_inner())).into_iter().collect();
        if uses.is_empty() {
            return Ok(0);
        }
        let n = uses.len();
        self.write_blocking(move |tx| {
            tx.keeps_keys();
            for (id, at) in &uses {
                crate::store::keys::touch(tx, *id, *at)?;
            }
            Ok(())
        })?;
        Ok(n)
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

/// The writer thread: takes every write that is waiting (up to `MAX_BATCH`), runs each in its own
/// savepoint of one transaction, commits once, then answers them all. Ends when every `Db` handle
/// is gone.
fn write_loop(mut conn: Connection, jobs: mpsc::Receiver<Box<dyn Job>>, keys: &KeyCache) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let commit = run_batch(&mut conn, &mut batch);
        if let Ok(Some(epoch)) = commit {
            keys.flush_to(epoch);
        }
        let commit = commit.map(|_| ());
        for job in batch {
            job.deliver(&commit);
        }
    }
}

/// Copies committed WAL frames into the database file, beside the writer (a PASSIVE checkpoint
/// waits for nobody). Ends when every `Db` handle is gone.
fn checkpoint_loop(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            log::warn!("WAL checkpoint failed, will retry: {e}");
        }
    }
}

/// Commits the batch; returns the new key epoch when a job in it changed what keys mean.
fn run_batch(conn: &mut Connection, batch: &mut [Box<dyn Job>]) -> Result<Option<i64>, String> {
    // IMMEDIATE takes SQLite's write lock up front, waiting (busy timeout) for another process.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| e.to_string())?;
    let run = |sql: &str| {
        tx.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ()).map_err(|e| e.to_string())
    };
    for job in batch.iter_mut() {
        run("SAVEPOINT job")?;
        let ok = job.run(&tx);
        // Some errors (disk full, I/O) make SQLite roll the whole transaction back by itself;
        // then nothing of this batch can commit, and nothing may run outside a transaction.
        if tx.is_autocommit() {
            return Err("the transaction was rolled back by SQLite".into());
        }
        if !ok {
            run("ROLLBACK TO job")?;
        }
        run("RELEASE job")?;
    }
    let epoch = if batch.iter().any(|j| j.changed_keys()) {
        Some(bump_key_epoch(&tx).map_err(|e| e.to_string())?)
    } else {
        None
    };
    tx.commit().map_err(|e| e.to_string())?;
    Ok(epoch)
}

/// Counts one more change to what keys mean, in the transaction that makes it.
fn bump_key_epoch(tx: &Transaction) -> rusqlite::Result<i64> {
    tx.prepare_cached("UPDATE key_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch")?
        .query_row([], |r| r.get(0))
}

enum MigrateError {
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

/// Brings the schema to `SCHEMA_VERSION`: an empty database (version 0) gets `schema.sql`, an
/// older one the upgrade steps after its version, all in one transaction, so a failed upgrade
/// leaves the database as it was.
fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
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
