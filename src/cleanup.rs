//! The sweep: marks pending provisions past their expiry `expired` and deletes what they
//! created. Keys already stop working at `expiresAt` (see `auth`); the sweep only tidies up.

use crate::clock::{Clock, Millis};
use crate::db::Db;
use crate::error::ApiError;
use crate::store;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Provisions ended per write: small enough that API writes queued behind one wait only a few
/// milliseconds, large enough that 100k expired provisions don't take 100k commits.
const BATCH: u32 = 500;

/// Sweeps everything that has expired by `now` (provisions, then mailed links and web sessions);
/// returns how many
/// provisions it ended. Each batch goes through the writer queue, between the requests' writes.
pub fn run_once(db: &Db, now: Millis) -> Result<usize, ApiError> {
    let mut total = 0;
    loop {
        let ended = db.write_queued(move |tx| {
            let ended = store::provisions::expire_batch(tx, now, BATCH)?;
            if ended == 0 {
                tx.keeps_keys();
            }
            Ok(ended)
        })?;
        total += ended;
        if ended < BATCH as usize {
            break;
        }
    }
    db.write_queued(move |tx| {
        tx.keeps_keys();
        store::email_tokens::delete_expired(tx, now)?;
        Ok(store::sessions::delete_expired(tx, now)?)
    })?;
    Ok(total)
}

/// The background sweep on its own named thread. Dropping or `stop`ping the handle ends it
/// promptly (it waits on a channel, not a sleep).
pub struct Cleanup {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Cleanup {
    pub fn spawn(db: Db, clock: Clock, every: Duration) -> std::io::Result<Cleanup> {
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("cleanup".into()).spawn(move || loop {
            match rx.recv_timeout(every) {
                Err(RecvTimeoutError::Timeout) => {
                    let started = std::time::Instant::now();
                    match run_once(&db, clock.now()) {
                        Ok(0) => {}
                        Ok(n) => log::info!(
                            "cleanup: {n} expired provisions removed in {} ms",
                            started.elapsed().as_millis()
                        ),
                        Err(e) => log::warn!("cleanup failed, will retry: {e}"),
                    }
                    if let Err(e) = db.flush_key_usage() {
                        log::warn!("could not record API key use, will retry: {e}");
                    }
                }
                // A stop message or the handle dropped.
                _ => return,
            }
        })?;
        Ok(Cleanup { stop: Some(tx), thread: Some(thread) })
    }

    pub fn stop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.stop();
    }
}
