//! The SQLite engine: opening the file (and refusing one we could not write), the pragmas each
//! connection gets, the read pool, the writer thread, the checkpoint thread, and the watchers
//! that notice other processes' commits.

use super::conn::{Conn, DbError, Tx};
use super::migrate::{self, MigrateError, SCHEMA_VERSION};
use super::wal::{self, WalControl};
use super::writer::{self, Job, Reply, TypedJob};
use super::KeyGeneration;
use super::Synchronous;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub type Pool = r2d2::Pool<SqliteConnectionManager>;

/// The writer's page cache: the indexes written at random places (key and claim-token hashes,
/// user and provision ids; see schema.sql, Keys) are re-read at every batch, and SQLite's 2 MB
/// default does not hold them. It never checkpoints itself: the checkpoint thread does (see
/// `wal`), so copying the WAL into the database (and its fsync) never holds up a commit. Should
/// the WAL file ever grow past 32 MiB, it is cut back to that at its next restart. The sweep's
/// scratch table (store::provisions::expire_batch) lives in memory, not in a temporary file.
const WRITER_PRAGMAS: &str = "PRAGMA cache_size = -16000; PRAGMA wal_autocheckpoint = 0;
     PRAGMA journal_size_limit = 33554432; PRAGMA temp_store = MEMORY;";

/// Readers mostly miss the key cache once per key; a small page cache each keeps memory down.
const READER_PRAGMAS: &str = "PRAGMA cache_size = -1000;";

/// Prepared statements kept per connection: more than the store has, so none is parsed twice.
const STATEMENT_CACHE: usize = 128;

/// Set on every connection (then `synchronous` as configured): the busy timeout covers another
/// process (the command line) writing at the same time.
const CONNECTION_PRAGMAS: &str = "PRAGMA foreign_keys = ON;
     PRAGMA busy_timeout = 5000;
     PRAGMA synchronous = NORMAL;";

/// Connections that watch for other processes' commits (`Sqlite::refresh_keys`): one per
/// worker would be ideal; a few, picked by thread, keep the workers from waiting on each other.
const WATCHERS: usize = 4;
static NEXT_SLOT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Watcher {
    /// Kept open for as long as `shm` is used: the mapping is this connection's.
    conn: Connection,
    shm: Option<ShmHeader>,
    /// The `data_version` at the last look (when there is no `shm`).
    seen: Option<i64>,
}

impl Watcher {
    fn open(path: &Path) -> rusqlite::Result<Watcher> {
        let conn = Connection::open(path)?;
        conn.execute_batch(CONNECTION_PRAGMAS)?;
        conn.execute_batch(READER_PRAGMAS)?;
        // One read first, so the WAL index exists and is mapped.
        conn.query_row("SELECT epoch FROM key_epoch WHERE id = 1", [], |_| Ok(()))?;
        let shm = ShmHeader::map(&conn);
        if shm.is_none() {
            log::info!("the WAL index cannot be watched directly; using PRAGMA data_version");
        }
        Ok(Watcher { conn, shm, seen: None })
    }

    /// Whether any connection (of any process) may have committed since the last look.
    fn changed(&mut self) -> rusqlite::Result<bool> {
        if let Some(shm) = &mut self.shm {
            return Ok(shm.changed());
        }
        let version: i64 = self.conn.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?;
        let changed = self.seen != Some(version);
        self.seen = Some(version);
        Ok(changed)
    }
}

/// The header of the WAL index (the `-shm` file), read where SQLite keeps it mapped. SQLite
/// itself compares this header to learn that another connection committed (that is what moves
/// `PRAGMA data_version`); reading it here costs a few nanoseconds, where the pragma opens and
/// closes a read transaction on every call (microseconds, on every request). Every commit, by
/// any connection or process, rewrites it, as does a WAL restart; a checkpoint may too, which
/// only costs one extra read of the epoch. Layout: https://www.sqlite.org/walformat.html (two
/// 48-byte copies of the header at the start of the index, written in turn).
struct ShmHeader {
    header: *const AtomicU32,
    last: [u32; 12],
}

// SAFETY: the mapping lives as long as the watcher's connection, which owns it; it is only read,
// with atomic loads, under the watcher's mutex.
unsafe impl Send for ShmHeader {}

impl ShmHeader {
    /// Maps the WAL index of `conn`'s database without creating anything; None when the
    /// database is not in WAL mode or its file system layer has no shared memory.
    fn map(conn: &Connection) -> Option<ShmHeader> {
        use rusqlite::ffi;
        use std::ffi::c_void;
        // SAFETY: the pointers come from SQLite for this open connection and are checked before
        // use; region 0 is mapped with bExtend = 0, so nothing is created or grown.
        unsafe {
            let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
            let rc = ffi::sqlite3_file_control(
                conn.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                &mut file as *mut _ as *mut c_void,
            );
            if rc != 0 || file.is_null() {
                return None;
            }
            let methods = (*file).pMethods;
            if methods.is_null() || (*methods).iVersion < 2 {
                return None;
            }
            let map = (*methods).xShmMap?;
            let mut region: *mut c_void = std::ptr::null_mut();
            let rc = map(file, 0, 32 * 1024, 0, &mut region as *mut *mut c_void as *mut _);
            if rc != 0 || region.is_null() {
                return None;
            }
            Some(ShmHeader { header: region as *const AtomicU32, last: [0; 12] })
        }
    }

    /// True when the header differs from the last look, or is being written right now.
    fn changed(&mut self) -> bool {
        let (mut first, mut second) = ([0u32; 12], [0u32; 12]);
        // SAFETY: 96 bytes at the start of a mapped region of 32 KiB; see `map`.
        unsafe {
            for (i, word) in first.iter_mut().enumerate() {
                *word = (*self.header.add(i)).load(Ordering::Relaxed);
            }
            // The two copies are read in the order SQLite reads them (walIndexTryHdr).
            fence(Ordering::SeqCst);
            for (i, word) in second.iter_mut().enumerate() {
                *word = (*self.header.add(12 + i)).load(Ordering::Relaxed);
            }
        }
        fence(Ordering::Acquire);
        // Copies that disagree are being written; an uninitialised header (isInit, byte 12) may
        // be about to be: both count as a change.
        if first != second || first[3] & 0xff == 0 {
            self.last = [0; 12];
            return true;
        }
        let changed = first != self.last;
        self.last = first;
        changed
    }
}

pub struct Sqlite {
    path: PathBuf,
    pool: Pool,
    writer: mpsc::Sender<Box<dyn Job>>,
    watchers: Vec<Mutex<Watcher>>,
    wal: Arc<WalControl>,
    /// Dropped with the engine, which (with the writer gone) ends the checkpoint thread.
    _checkpointer: mpsc::SyncSender<()>,
}

impl Sqlite {
    /// Opens the database file (creating it, and its folder, only when `create`), brings its
    /// schema up to date, and starts the writer and checkpoint threads. The error is a sentence
    /// that tells an operator what to fix.
    pub fn open(
        path: &Path,
        synchronous: Synchronous,
        create: bool,
        keys: Arc<KeyGeneration>,
    ) -> Result<Sqlite, String> {
        let sync_pragma = match synchronous {
            Synchronous::Normal => "PRAGMA synchronous = NORMAL;",
            Synchronous::Full => "PRAGMA synchronous = FULL;",
        };
        if !create && !path.exists() {
            return Err(format!(
                "there is no database at {}; run this command where the server's DATABASE_PATH points (start the server once, or run `provisiond org create`, to make one)",
                path.display()
            ));
        }
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
        migrate::migrate(&mut conn).map_err(|e| match e {
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
        let watchers = (0..WATCHERS)
            .map(|_| Watcher::open(path).map(Mutex::new))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(unwritable)?;
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let wal = Arc::new(WalControl::new(wake.clone()));
        let checkpoint_conn = Connection::open(path).map_err(unwritable)?;
        checkpoint_conn.execute_batch(CONNECTION_PRAGMAS).map_err(unwritable)?;
        checkpoint_conn.execute_batch(sync_pragma).map_err(unwritable)?;
        checkpoint_conn.execute_batch(&wal::checkpoint_pragmas()).map_err(unwritable)?;
        let (writer, jobs) = mpsc::channel::<Box<dyn Job>>();
        let writer_wal = wal.clone();
        std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || writer::write_loop(conn, jobs, &keys, &writer_wal))
            .map_err(|e| format!("cannot start the database writer thread: {e}"))?;
        let checkpoint_wal = wal.clone();
        std::thread::Builder::new()
            .name("db-checkpoint".into())
            .spawn(move || wal::checkpoint_loop(&checkpoint_conn, &checkpoint_wal, &woken))
            .map_err(|e| format!("cannot start the database checkpoint thread: {e}"))?;
        Ok(Sqlite { path: path.to_path_buf(), pool, writer, watchers, wal, _checkpointer: wake })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, DbError> {
        Ok(self.pool.get()?)
    }

    pub fn read<T, E: From<DbError>>(&self, f: impl FnOnce(&Conn) -> Result<T, E>) -> Result<T, E> {
        let c = self.conn()?;
        let conn = Conn::sqlite(&c);
        f(&conn)
    }

    /// Queues a write for the writer thread; `reply` hears the outcome after the commit.
    pub(super) fn submit<T, E, F, R>(&self, f: F, reply: R) -> Result<(), DbError>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&Tx) -> Result<T, E> + Send + 'static,
        R: Reply<T, E> + 'static,
    {
        let job = TypedJob { f: Some(f), out: None, keys_changed: false, reply };
        self.writer.send(Box::new(job)).map_err(|_| DbError::WriterStopped)
    }

    /// One transaction of its own on a pooled connection, beside the writer thread (SQLite's lock
    /// and busy timeout order the two).
    pub fn write_alone<T, E: From<DbError>>(
        &self,
        keys: &KeyGeneration,
        f: impl FnOnce(&Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(DbError::from)?;
        let wrapped = Tx::new(Conn::sqlite(&tx));
        let out = f(&wrapped)?;
        let changed = wrapped.changed_keys();
        drop(wrapped);
        let epoch = if changed { Some(writer::bump_key_epoch(&tx).map_err(DbError::from)?) } else { None };
        tx.commit().map_err(DbError::from)?;
        if let Some(epoch) = epoch {
            keys.changed(epoch);
        }
        Ok(out)
    }

    /// Notices commits by other processes that changed what keys mean: when any connection has
    /// committed since this watcher's last look (see `ShmHeader`; the writer's own commits count
    /// too, which costs one small read after each), the epoch row is read.
    pub fn refresh_keys(&self, keys: &KeyGeneration) -> Result<(), DbError> {
        thread_local! {
            static SLOT: usize = NEXT_SLOT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let slot = SLOT.with(|s| *s) % self.watchers.len();
        let mut w = self.watchers[slot].lock().unwrap_or_else(|p| p.into_inner());
        if w.changed()? {
            let epoch: i64 = w
                .conn
                .prepare_cached("SELECT epoch FROM key_epoch WHERE id = 1")?
                .query_row([], |r| r.get(0))?;
            keys.observe(epoch);
        }
        Ok(())
    }

    /// Online backup into `dest`, consistent even while the server writes.
    pub fn backup_to(&self, dest: &Path) -> Result<(), DbError> {
        let conn = self.conn()?;
        conn.backup(rusqlite::MAIN_DB, dest, None)?;
        Ok(())
    }

    /// Folds the WAL back into the database file (at shutdown, so the file alone is complete).
    pub fn checkpoint(&self) -> Result<(), DbError> {
        self.conn()?.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }

    /// The size of the WAL file on disk (0 when there is none), and how often it was restarted.
    pub fn wal_size(&self) -> (u64, u64) {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        (std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0), self.wal.restarts())
    }

    /// How many pages the WAL may hold before it is restarted (`wal::DEFAULT_LIMIT_PAGES`).
    pub fn set_wal_limit(&self, pages: u32) {
        self.wal.set_limit(pages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watcher_sees_every_commit_of_another_connection_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE key_epoch (id INTEGER PRIMARY KEY, epoch INTEGER);
                 INSERT INTO key_epoch VALUES (1, 0);",
            )
            .unwrap();
        let mut w = Watcher::open(&path).unwrap();
        assert!(w.shm.is_some(), "the WAL index is watched directly here");
        assert!(w.changed().unwrap(), "the first look counts as a change");
        assert!(!w.changed().unwrap());
        for i in 1..=3 {
            other.execute("UPDATE key_epoch SET epoch = ?1", [i]).unwrap();
            assert!(w.changed().unwrap(), "commit {i} seen");
            assert!(!w.changed().unwrap(), "and only once");
        }
        let mut without = Watcher { shm: None, ..Watcher::open(&path).unwrap() };
        assert!(without.changed().unwrap());
        other.execute("UPDATE key_epoch SET epoch = 9", []).unwrap();
        assert!(without.changed().unwrap(), "the pragma fallback sees it too");
        assert!(!without.changed().unwrap());
    }
}
