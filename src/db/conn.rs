//! The connection every query goes through, whatever the engine: `Conn` to read, `Tx` for a
//! write in progress, `Row` for a result, `DbError` for what went wrong. SQL is written once
//! (placeholders `?1`, `?2`, …; booleans `TRUE`/`FALSE`); each engine runs it its own way.
//!
//! Why an enum over engines rather than a trait per table family: the queries are the same text
//! on every engine, so one store function per query serves them all and a new engine touches
//! this file, not every table's code. The few places that need engine-specific SQL branch on
//! `Conn::engine`.

use std::cell::Cell;
use std::ops::Deref;

pub type DbResult<T> = Result<T, DbError>;

/// What can go wrong in the database. Callers ask what kind it is (`is_unavailable`,
/// `is_unique_violation`), never which engine said it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("the database writer has stopped")]
    WriterStopped,
    #[error("a write panicked and was rolled back")]
    Panicked,
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("blocking task failed: {0}")]
    Blocking(String),
    #[error("no such row")]
    NoRow,
}

impl DbError {
    /// The database cannot take writes (or answer) right now: disk full, read-only, locked too
    /// long, unreachable. Worth retrying later; not a fault in the request.
    pub fn is_unavailable(&self) -> bool {
        use rusqlite::ErrorCode::*;
        match self {
            DbError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(DatabaseBusy | DatabaseLocked | ReadOnly | DiskFull | SystemIoFailure | CannotOpen)
            ),
            DbError::Pool(_) | DbError::WriterStopped | DbError::Commit(_) => true,
            _ => false,
        }
    }

    /// A UNIQUE or PRIMARY KEY constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        )
    }
}

/// A value a query takes.
pub trait Param: rusqlite::ToSql {}
impl<T: rusqlite::ToSql + ?Sized> Param for T {}

/// A value a query returns.
pub trait Col: rusqlite::types::FromSql {}
impl<T: rusqlite::types::FromSql> Col for T {}

/// Which engine a connection belongs to, for the few statements that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
}

/// A connection to read with (or the connection under a write, through `Tx`).
pub struct Conn<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    Sqlite(&'a rusqlite::Connection),
}

/// One row of a result.
pub struct Row<'r> {
    inner: RowInner<'r>,
}

enum RowInner<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
}

impl Row<'_> {
    pub fn get<T: Col>(&self, i: usize) -> DbResult<T> {
        match &self.inner {
            RowInner::Sqlite(r) => Ok(r.get(i)?),
        }
    }
}

fn sqlite_params<'p>(params: &'p [&'p dyn Param]) -> impl rusqlite::Params + 'p {
    rusqlite::params_from_iter(params.iter().map(|p| *p as &dyn rusqlite::ToSql))
}

impl<'a> Conn<'a> {
    pub fn sqlite(c: &'a rusqlite::Connection) -> Conn<'a> {
        Conn { inner: Inner::Sqlite(c) }
    }

    pub fn engine(&self) -> Engine {
        match self.inner {
            Inner::Sqlite(_) => Engine::Sqlite,
        }
    }

    /// Runs a statement; returns how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> DbResult<usize> {
        match self.inner {
            Inner::Sqlite(c) => Ok(c.prepare_cached(sql)?.execute(sqlite_params(params))?),
        }
    }

    /// Several statements without parameters (engine-specific SQL only).
    pub fn execute_batch(&self, sql: &str) -> DbResult<()> {
        match self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
        }
    }

    /// The first row, if any, read by `f`.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row) -> DbResult<T>,
    ) -> DbResult<Option<T>> {
        match self.inner {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(sqlite_params(params))?;
                match rows.next()? {
                    Some(r) => Ok(Some(f(&Row { inner: RowInner::Sqlite(r) })?)),
                    None => Ok(None),
                }
            }
        }
    }

    /// The first row, which must exist.
    pub fn query_one<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row) -> DbResult<T>,
    ) -> DbResult<T> {
        self.query_opt(sql, params, f)?.ok_or(DbError::NoRow)
    }

    /// Every row, each read by `f`.
    pub fn query_all<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row) -> DbResult<T>,
    ) -> DbResult<Vec<T>> {
        match self.inner {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(sqlite_params(params))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(f(&Row { inner: RowInner::Sqlite(r) })?);
                }
                Ok(out)
            }
        }
    }

    /// A single value (a count, an id) from the first row's first column.
    pub fn value<T: Col>(&self, sql: &str, params: &[&dyn Param]) -> DbResult<T> {
        self.query_one(sql, params, |r| r.get(0))
    }
}

/// A write in progress: everything done through it commits together or not at all. Whoever
/// changes what an existing API key means (revokes, moves, demotes it, ends its provision) says
/// so with `keys_changed`; the database then moves the key epoch in this same transaction and
/// empties the key cache after the commit, before anyone is answered.
pub struct Tx<'a> {
    conn: Conn<'a>,
    keys_changed: Cell<bool>,
}

impl<'a> Tx<'a> {
    pub fn new(conn: Conn<'a>) -> Tx<'a> {
        Tx { conn, keys_changed: Cell::new(false) }
    }

    pub fn keys_changed(&self) {
        self.keys_changed.set(true);
    }

    pub fn changed_keys(&self) -> bool {
        self.keys_changed.get()
    }
}

impl<'a> Deref for Tx<'a> {
    type Target = Conn<'a>;
    fn deref(&self) -> &Conn<'a> {
        &self.conn
    }
}
