//! SQLite's write-ahead log kept to a bounded size whatever the load, beside the writer thread.
//!
//! The writer never checkpoints (its commits would wait for the copy and its sync). A thread of
//! its own copies committed WAL frames into the database file with PASSIVE checkpoints, which
//! wait for nobody. But a passive checkpoint cannot make the WAL start over: SQLite rewinds it
//! only when a write begins with every frame already copied and no reader still on an old
//! snapshot, which an unbroken stream of writes never allows — the WAL then grows while the
//! stream lasts (3.4 GB in 20 s of provisioning, measured), every commit extends the file (the
//! file system zeroes each new block: a sixth of the writer's time in that profile), and the
//! disk fills. So once the WAL holds more than `limit` pages, the checkpoint thread closes the
//! gate the writer passes before each batch, waits for the batch in progress to commit, and
//! takes a RESTART checkpoint: the few frames the last passive pass left are copied, readers
//! still on an old snapshot finish (a bounded wait: `RESTART_WAIT`), and the next commit
//! writes from the start of the file again, over blocks already allocated. Readers are never
//! blocked; the writer pauses between two batches for one short checkpoint. And should the
//! checkpoint thread fall behind anyway (a machine so loaded that it rarely runs: 21 MB of WAL
//! against a 1 MiB limit was seen with the whole test suite running), the writer itself waits,
//! once the WAL holds `BEHIND` times the limit, for the thread's next pass: back-pressure, so
//! the bound holds whatever the load.

use rusqlite::Connection;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{mpsc, Condvar, Mutex};
use std::time::Duration;

/// How often the checkpoint thread copies the WAL into the database file when nothing asks.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Pages the WAL may hold before it is restarted (16 MiB of 4 KiB pages): small enough that the
/// file stays far below 64 MiB under any load, large enough that a restart (a pause of the
/// writer) comes a few times a second at most at full provisioning speed.
pub const DEFAULT_LIMIT_PAGES: u32 = 4096;

/// Extra PASSIVE passes before a restart while much is left to copy (see `checkpoint_loop`).
const MORE_PASSES: usize = 3;

/// How long a restart waits for readers still on an old snapshot (their reads take well under a
/// millisecond); past it the writer goes on and the restart is tried again at the next pass.
const RESTART_WAIT_MS: u32 = 100;

/// Past this many times the limit the checkpoint thread is behind: the writer waits for its
/// next pass before the next batch (at most `BEHIND_WAIT`, so nothing can stop writes for good).
const BEHIND: u32 = 4;
const BEHIND_WAIT: Duration = Duration::from_secs(2);

/// What the writer and the checkpoint thread share.
pub(super) struct WalControl {
    /// Frames in the WAL after the writer's last commit, as SQLite reports them (its WAL hook).
    frames: AtomicU32,
    /// Pages past which the WAL is restarted.
    limit: AtomicU32,
    /// Restarts so far (for /metrics).
    restarts: AtomicU64,
    gate: Mutex<Gate>,
    turn: Condvar,
    /// Wakes the checkpoint thread before its next tick (`nudge`).
    wake: Mutex<Option<mpsc::SyncSender<()>>>,
}

#[derive(Default)]
struct Gate {
    /// The checkpoint thread wants the writer to wait before its next batch.
    closed: bool,
    /// The writer is inside a batch (from BEGIN to COMMIT).
    in_batch: bool,
    /// Passes of the checkpoint thread so far (a writer that waits for one watches it move).
    passes: u64,
}

impl WalControl {
    pub(super) fn new(wake: mpsc::SyncSender<()>) -> WalControl {
        WalControl {
            frames: AtomicU32::new(0),
            limit: AtomicU32::new(DEFAULT_LIMIT_PAGES),
            restarts: AtomicU64::new(0),
            gate: Mutex::new(Gate::default()),
            turn: Condvar::new(),
            wake: Mutex::new(Some(wake)),
        }
    }

    pub(super) fn set_limit(&self, pages: u32) {
        self.limit.store(pages.max(1), Ordering::Relaxed);
    }

    pub(super) fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The writer, before BEGIN: waits while a restart is under way, and for the checkpoint
    /// thread's next pass when the WAL holds `BEHIND` times the limit.
    pub(super) fn enter_batch(&self) {
        let mut g = self.lock();
        let behind = self.limit.load(Ordering::Relaxed).saturating_mul(BEHIND);
        if self.frames.load(Ordering::Relaxed) > behind {
            let (seen, until) = (g.passes, std::time::Instant::now() + BEHIND_WAIT);
            self.nudge();
            while g.passes == seen {
                let left = until.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                g = self.turn.wait_timeout(g, left).unwrap_or_else(|p| p.into_inner()).0;
            }
        }
        while g.closed {
            g = self.turn.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        g.in_batch = true;
    }

    /// The writer, after COMMIT (or its failure); asks for a checkpoint when the WAL has grown
    /// past half the limit, so the passive passes keep up and the restart finds little to copy.
    pub(super) fn leave_batch(&self) {
        self.lock().in_batch = false;
        self.turn.notify_all();
        if self.frames.load(Ordering::Relaxed) > self.limit.load(Ordering::Relaxed) / 2 {
            self.nudge();
        }
    }

    fn nudge(&self) {
        if let Some(wake) = &*self.wake.lock().unwrap_or_else(|p| p.into_inner()) {
            // Full: a wake-up is already waiting, which is all this asks for.
            let _ = wake.try_send(());
        }
    }

    /// The writer has gone (the engine was dropped): the checkpoint thread ends once the engine's
    /// own handle is gone too.
    pub(super) fn writer_gone(&self) {
        self.wake.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// The checkpoint thread finished a pass (whatever came of it).
    fn passed(&self) {
        self.lock().passes += 1;
        self.turn.notify_all();
    }

    /// Runs `f` between two batches of the writer.
    fn between_batches<T>(&self, f: impl FnOnce() -> T) -> T {
        {
            let mut g = self.lock();
            g.closed = true;
            while g.in_batch {
                g = self.turn.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        }
        let out = f();
        self.lock().closed = false;
        self.turn.notify_all();
        out
    }
}

/// Registers SQLite's WAL hook on the writer's connection: after each commit it stores how many
/// frames the WAL holds. Call after any `wal_autocheckpoint` pragma (which replaces the hook).
///
/// SAFETY of the pointer handed to SQLite: `wal` outlives the connection (the writer thread
/// holds both, and drops the connection first).
pub(super) fn watch_commits(conn: &Connection, wal: &WalControl) {
    use rusqlite::ffi;
    use std::ffi::{c_char, c_int, c_void};
    unsafe extern "C" fn hook(
        ctx: *mut c_void,
        _: *mut ffi::sqlite3,
        _: *const c_char,
        frames: c_int,
    ) -> c_int {
        // SAFETY: `ctx` is the `WalControl` registered below, alive as long as the connection.
        let wal = unsafe { &*(ctx as *const WalControl) };
        wal.frames.store(u32::try_from(frames).unwrap_or(0), Ordering::Relaxed);
        ffi::SQLITE_OK
    }
    // SAFETY: a live connection handle; the callback and its context are valid (see above).
    unsafe {
        ffi::sqlite3_wal_hook(conn.handle(), Some(hook), wal as *const WalControl as *mut c_void);
    }
}

/// A checkpoint's report: (SQLite could not finish it, frames in the WAL, frames copied).
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(bool, i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get::<_, i64>(0)? != 0, r.get(1)?, r.get(2)?))
    })
}

/// The checkpoint thread: a PASSIVE checkpoint every `CHECKPOINT_EVERY`, or sooner when the
/// writer says the WAL is growing; a RESTART between two batches once the WAL holds more than
/// the limit. Ends when the engine and its writer are gone.
pub(super) fn checkpoint_loop(conn: &Connection, wal: &WalControl, wake: &mpsc::Receiver<()>) {
    loop {
        match wake.recv_timeout(CHECKPOINT_EVERY) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        pass(conn, wal);
        wal.passed();
    }
}

/// One pass of the checkpoint thread: a PASSIVE checkpoint, and a RESTART when past the limit.
fn pass(conn: &Connection, wal: &WalControl) {
    let log = match checkpoint(conn, "PASSIVE") {
        Ok((_, log, _)) => log,
        Err(e) => {
            log::warn!("WAL checkpoint failed, will retry: {e}");
            return;
        }
    };
    let limit = wal.limit.load(Ordering::Relaxed);
    if log <= i64::from(limit) {
        return;
    }
    // The writer goes on meanwhile, so the pass above leaves the frames committed during it;
    // a few more passes (outside the gate) shrink that remainder, so that the writer waits
    // only for the last frames and the syncs. Measured on a loaded machine at about 3,000
    // provisions/s (docs/performance.md, issue 22): with one pass the longest pause of a run
    // was 77-149 ms and the WAL peaked at 54 MiB; with these, 24-108 ms and 39-47 MiB.
    for _ in 0..MORE_PASSES {
        match checkpoint(conn, "PASSIVE") {
            Ok((_, log, copied)) if log - copied > i64::from(limit / 8) => {}
            _ => break,
        }
    }
    let restart = || {
        let done = checkpoint(conn, "RESTART");
        if matches!(done, Ok((false, _, _))) {
            // Still between batches: nothing committed since, so the WAL starts over empty (the
            // hook counts again only at the next commit).
            wal.frames.store(0, Ordering::Relaxed);
        }
        done
    };
    match wal.between_batches(restart) {
        // Not finished: a reader held an old snapshot past RESTART_WAIT_MS; the next pass
        // tries again, and meanwhile the next write restarts the WAL if it can.
        Ok((true, _, _)) => {}
        Ok((false, _, _)) => {
            wal.restarts.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => log::warn!("WAL restart failed, will retry: {e}"),
    }
}

/// The pragmas of the checkpoint thread's connection: its RESTART waits for readers only so
/// long, since the writer waits meanwhile.
pub(super) fn checkpoint_pragmas() -> String {
    format!("PRAGMA busy_timeout = {RESTART_WAIT_MS};")
}
