//! Background jobs on named threads. Today: the cleanup thread, which every `CLEANUP_INTERVAL`
//! sweeps what has expired and writes the key uses noted since last time.

use crate::service::{maintenance, Ctx};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// The background sweep on its own named thread. Dropping or `stop`ping the handle ends it
/// promptly (it waits on a channel, not a sleep).
pub struct Cleanup {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Cleanup {
    pub fn spawn(ctx: Ctx, every: Duration) -> std::io::Result<Cleanup> {
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("cleanup".into()).spawn(move || loop {
            match rx.recv_timeout(every) {
                Err(RecvTimeoutError::Timeout) => {
                    let started = std::time::Instant::now();
                    match maintenance::tidy(&ctx) {
                        Ok(0) => {}
                        Ok(n) => log::info!(
                            "cleanup: {n} expired provisions removed in {} ms",
                            started.elapsed().as_millis()
                        ),
                        Err(e) => log::warn!("cleanup failed, will retry: {e}"),
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
