//! The connection every query goes through, whatever the engine: `Conn` to read, `Tx` for a
//! write in progress, `Row` for a result, `DbError` for what went wrong. SQL is written once
//! (placeholders `?1`, `?2`, …; booleans `TRUE`/`FALSE`); each engine runs it its own way
//! (PostgreSQL's placeholders are `$1`, `$2`, …: rewritten once per statement and connection).
//!
//! Why an enum over engines rather than a trait per table family: the queries are the same text
//! on every engine, so one store function per query serves them all and a new engine touches
//! this file, not every table's code. The few places that need engine-specific SQL branch on
//! `Conn::engine`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Deref;

pub type DbResult<T> = Result<T, DbError>;

/// What can go wrong in the database. Callers ask what kind it is (`is_unavailable`,
/// `is_unique_violation`), never which engine said it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {}", pg_detail(.0))]
    Postgres(#[from] postgres::Error),
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

/// A server error's own words and code (the driver's Display says only "db error").
fn pg_detail(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl DbError {
    /// The database cannot take writes (or answer) right now: disk full, read-only, locked too
    /// long, unreachable, or a transaction lost a race (serialization failure, deadlock). Worth
    /// retrying later; not a fault in the request.
    pub fn is_unavailable(&self) -> bool {
        use rusqlite::ErrorCode::*;
        match self {
            DbError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(DatabaseBusy | DatabaseLocked | ReadOnly | DiskFull | SystemIoFailure | CannotOpen)
            ),
            DbError::Postgres(e) => match e.code() {
                // Class 08 connection, 40 transaction rollback (serialization failure, deadlock),
                // 53 insufficient resources, 57 operator intervention (shutdown).
                Some(code) => ["08", "40", "53", "57"].iter().any(|class| code.code().starts_with(class)),
                // No server error: the connection failed (closed, or its socket did); anything
                // else (a value that does not fit its column) is our fault, not the database's.
                None => {
                    e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
                }
            },
            DbError::Pool(_) | DbError::WriterStopped | DbError::Commit(_) => true,
            _ => false,
        }
    }

    /// A UNIQUE or PRIMARY KEY constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            DbError::Postgres(e) => e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
            _ => false,
        }
    }
}

/// A value a query takes.
pub trait Param: rusqlite::ToSql + postgres::types::ToSql + Sync {}
impl<T: rusqlite::ToSql + postgres::types::ToSql + Sync> Param for T {}

/// A value a query returns.
pub trait Col: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a> {}
impl<T: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a>> Col for T {}

/// Which engine a connection belongs to, for the few statements that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A connection to read with (or the connection under a write, through `Tx`).
pub struct Conn<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(RefCell<PgSession<'a>>),
}

/// A PostgreSQL connection in use, with the statements it has prepared (each is prepared once
/// per connection: a statement sent as text costs a round trip more every time).
pub struct PgSession<'a> {
    client: PgClient<'a>,
    statements: &'a mut HashMap<String, postgres::Statement>,
}

enum PgClient<'a> {
    Plain(&'a mut postgres::Client),
    Tx(postgres::Transaction<'a>),
}

impl<'a> PgSession<'a> {
    pub fn plain(
        client: &'a mut postgres::Client,
        statements: &'a mut HashMap<String, postgres::Statement>,
    ) -> Self {
        PgSession { client: PgClient::Plain(client), statements }
    }

    pub fn transaction(
        tx: postgres::Transaction<'a>,
        statements: &'a mut HashMap<String, postgres::Statement>,
    ) -> Self {
        PgSession { client: PgClient::Tx(tx), statements }
    }

    /// Commits the transaction this session holds (a plain session has nothing to commit).
    pub fn commit(self) -> Result<(), postgres::Error> {
        match self.client {
            PgClient::Tx(tx) => tx.commit(),
            PgClient::Plain(_) => Ok(()),
        }
    }

    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let text = dollar_placeholders(sql);
        let prepared = match &mut self.client {
            PgClient::Plain(c) => c.prepare(&text)?,
            PgClient::Tx(t) => t.prepare(&text)?,
        };
        self.statements.insert(sql.to_string(), prepared.clone());
        Ok(prepared)
    }

    fn execute(&mut self, sql: &str, params: &[&dyn Param]) -> DbResult<usize> {
        let stmt = self.statement(sql)?;
        let params = pg_params(params);
        let n = match &mut self.client {
            PgClient::Plain(c) => c.execute(&stmt, &params)?,
            PgClient::Tx(t) => t.execute(&stmt, &params)?,
        };
        Ok(n as usize)
    }

    fn query(&mut self, sql: &str, params: &[&dyn Param]) -> DbResult<Vec<postgres::Row>> {
        let stmt = self.statement(sql)?;
        let params = pg_params(params);
        Ok(match &mut self.client {
            PgClient::Plain(c) => c.query(&stmt, &params)?,
            PgClient::Tx(t) => t.query(&stmt, &params)?,
        })
    }

    fn batch(&mut self, sql: &str) -> DbResult<()> {
        match &mut self.client {
            PgClient::Plain(c) => c.batch_execute(sql)?,
            PgClient::Tx(t) => t.batch_execute(sql)?,
        }
        Ok(())
    }
}

fn pg_params<'p>(params: &'p [&'p dyn Param]) -> Vec<&'p (dyn postgres::types::ToSql + Sync)> {
    params.iter().map(|p| *p as &(dyn postgres::types::ToSql + Sync)).collect()
}

/// `?1` → `$1`: the one way the engines spell the same statement differently. The store's SQL
/// has no `?` inside string literals.
fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// One row of a result.
pub struct Row<'r> {
    inner: RowInner<'r>,
}

enum RowInner<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r postgres::Row),
}

impl Row<'_> {
    pub fn get<T: Col>(&self, i: usize) -> DbResult<T> {
        match &self.inner {
            RowInner::Sqlite(r) => Ok(r.get(i)?),
            RowInner::Postgres(r) => Ok(r.try_get(i)?),
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

    pub fn postgres(session: PgSession<'a>) -> Conn<'a> {
        Conn { inner: Inner::Postgres(RefCell::new(session)) }
    }

    /// The PostgreSQL session back (to commit it).
    pub fn into_postgres(self) -> Option<PgSession<'a>> {
        match self.inner {
            Inner::Postgres(s) => Some(s.into_inner()),
            Inner::Sqlite(_) => None,
        }
    }

    pub fn engine(&self) -> Engine {
        match self.inner {
            Inner::Sqlite(_) => Engine::Sqlite,
            Inner::Postgres(_) => Engine::Postgres,
        }
    }

    /// Runs a statement; returns how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> DbResult<usize> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.prepare_cached(sql)?.execute(sqlite_params(params))?),
            Inner::Postgres(s) => s.borrow_mut().execute(sql, params),
        }
    }

    /// Several statements without parameters (engine-specific SQL only).
    pub fn execute_batch(&self, sql: &str) -> DbResult<()> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Postgres(s) => s.borrow_mut().batch(sql),
        }
    }

    /// The first row, if any, read by `f`.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row) -> DbResult<T>,
    ) -> DbResult<Option<T>> {
        match &self.inner {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(sqlite_params(params))?;
                match rows.next()? {
                    Some(r) => Ok(Some(f(&Row { inner: RowInner::Sqlite(r) })?)),
                    None => Ok(None),
                }
            }
            Inner::Postgres(s) => {
                let rows = s.borrow_mut().query(sql, params)?;
                rows.first().map(|r| f(&Row { inner: RowInner::Postgres(r) })).transpose()
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
        match &self.inner {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(sqlite_params(params))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(f(&Row { inner: RowInner::Sqlite(r) })?);
                }
                Ok(out)
            }
            Inner::Postgres(s) => {
                let rows = s.borrow_mut().query(sql, params)?;
                rows.iter().map(|r| f(&Row { inner: RowInner::Postgres(r) })).collect()
            }
        }
    }

    /// A single value (a count, an id) from the first row's first column.
    pub fn value<T: Col>(&self, sql: &str, params: &[&dyn Param]) -> DbResult<T> {
        self.query_one(sql, params, |r| r.get(0))
    }
}

/// A write in progress: everything done through it commits together or not at all. The store
/// function whose statement changes what an existing API key means (revokes, moves, demotes it,
/// ends its provision) says so with `keys_changed` (store/key_meaning.rs checks that each does);
/// the database then moves the key epoch in this same transaction and empties the key cache
/// after the commit, before anyone is answered.
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

    pub fn into_conn(self) -> Conn<'a> {
        self.conn
    }
}

impl<'a> Deref for Tx<'a> {
    type Target = Conn<'a>;
    fn deref(&self) -> &Conn<'a> {
        &self.conn
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_rewritten_for_postgres() {
        assert_eq!(
            super::dollar_placeholders("SELECT ?1, ?12 FROM t WHERE a = ?2 AND b = 'x'"),
            "SELECT $1, $12 FROM t WHERE a = $2 AND b = 'x'"
        );
    }
}
