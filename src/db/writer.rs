//! The SQLite writer: one thread owns the only write connection and commits concurrent writes
//! together (group commit).
//!
//! Every write is a closure sent to the writer. The writer takes whatever closures are waiting,
//! runs each inside its own SAVEPOINT of one IMMEDIATE transaction, and commits once: a closure
//! that fails is rolled back to its savepoint without touching the others, and no caller hears
//! "done" before the commit that contains its rows. One commit (one WAL sync) then serves a whole
//! burst of requests, which is where the write rate comes from.
//!
//! A write that changed what API keys mean (`Tx::keys_changed`) moves the key epoch inside the
//! same transaction; after the commit, and before anyone is answered, the in-process key
//! generation moves too, so no cached key outlives the change by even one request.

use super::conn::{Conn, DbError, Tx};
use super::wal::WalControl;
use super::KeyGeneration;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

/// Most writes one commit carries: bounds how long the first of them waits.
const MAX_BATCH: usize = 128;

/// Where a write's outcome goes: a future awaiting it, or a thread blocked on it.
pub(super) trait Reply<T, E>: Send {
    fn send(self, out: Result<T, E>);
}

impl<T: Send, E: Send> Reply<T, E> for tokio::sync::oneshot::Sender<Result<T, E>> {
    fn send(self, out: Result<T, E>) {
        // The caller may have gone away (client disconnected); nothing to do then.
        let _ = tokio::sync::oneshot::Sender::send(self, out);
    }
}

impl<T: Send, E: Send> Reply<T, E> for mpsc::SyncSender<Result<T, E>> {
    fn send(self, out: Result<T, E>) {
        let _ = mpsc::SyncSender::send(&self, out);
    }
}

/// A write waiting for the writer thread.
pub(super) trait Job: Send {
    /// Runs inside the batch's transaction; true when it succeeded (its savepoint is kept).
    fn run(&mut self, tx: &Transaction) -> bool;
    /// True when it succeeded and changed what keys mean.
    fn changed_keys(&self) -> bool;
    /// Sends the outcome once the batch is committed (or failed to commit).
    fn deliver(self: Box<Self>, commit: &Result<(), String>);
}

pub(super) struct TypedJob<T, E, F, R> {
    pub f: Option<F>,
    pub out: Option<Result<T, E>>,
    pub keys_changed: bool,
    pub reply: R,
}

impl<T, E, F, R> Job for TypedJob<T, E, F, R>
where
    T: Send,
    E: From<DbError> + Send,
    F: FnOnce(&Tx) -> Result<T, E> + Send,
    R: Reply<T, E>,
{
    fn run(&mut self, tx: &Transaction) -> bool {
        let Some(f) = self.f.take() else { return false };
        let wrapped = Tx::new(Conn::sqlite(tx));
        let out = catch_unwind(AssertUnwindSafe(|| f(&wrapped))).unwrap_or_else(|_| {
            log::error!("a write panicked; it was rolled back");
            Err(DbError::Panicked.into())
        });
        self.keys_changed = wrapped.changed_keys();
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn changed_keys(&self) -> bool {
        matches!(self.out, Some(Ok(_))) && self.keys_changed
    }

    fn deliver(self: Box<Self>, commit: &Result<(), String>) {
        let out = match (self.out, commit) {
            (Some(Ok(_)), Err(e)) => Err(DbError::Commit(e.clone()).into()),
            (Some(out), _) => out,
            (None, Err(e)) => Err(DbError::Commit(format!("write not run: {e}")).into()),
            (None, Ok(())) => Err(DbError::Panicked.into()),
        };
        self.reply.send(out);
    }
}

/// The writer thread: takes every write that is waiting (up to `MAX_BATCH`), runs each in its own
/// savepoint of one transaction, commits once, then answers them all. Between two batches it
/// waits while the checkpoint thread restarts the WAL (see `wal`). Ends when every `Db` handle
/// is gone.
pub(super) fn write_loop(
    mut conn: Connection,
    jobs: mpsc::Receiver<Box<dyn Job>>,
    keys: &KeyGeneration,
    wal: &WalControl,
) {
    super::wal::watch_commits(&conn, wal);
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        wal.enter_batch();
        let commit = run_batch(&mut conn, &mut batch, keys);
        wal.leave_batch();
        if let Ok(Some(epoch)) = commit {
            keys.changed(epoch);
        }
        let commit = commit.map(|_| ());
        for job in batch {
            job.deliver(&commit);
        }
    }
    // The WAL hook points at `wal`: the connection goes first.
    drop(conn);
    wal.writer_gone();
}

/// Commits the batch; returns the new key epoch when a job in it changed what keys mean.
fn run_batch(
    conn: &mut Connection,
    batch: &mut [Box<dyn Job>],
    keys: &KeyGeneration,
) -> Result<Option<i64>, String> {
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
    let started = std::time::Instant::now();
    tx.commit().map_err(|e| e.to_string())?;
    keys.committed(batch.len(), started.elapsed());
    Ok(epoch)
}

/// Counts one more change to what keys mean, in the transaction that makes it.
pub(super) fn bump_key_epoch(tx: &Connection) -> rusqlite::Result<i64> {
    tx.prepare_cached("UPDATE key_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch")?
        .query_row([], |r| r.get(0))
}
