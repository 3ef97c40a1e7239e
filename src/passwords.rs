//! Passwords: argon2id with a random salt, as PHC strings. Hashing is slow on purpose and takes
//! about 19 MiB of memory each time, so the server runs it on a few threads of its own (one per
//! core) behind a short queue: a flood of log-ins or sign-ups gets "busy" at once instead of
//! piling up hashes (and memory) without bound.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 1024;

/// Checks a new password's length; the error is the sentence to show.
pub fn acceptable(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_LEN {
        Err(format!("Choose a password of at least {MIN_LEN} characters."))
    } else if password.len() > MAX_LEN {
        Err(format!("Choose a password of at most {MAX_LEN} bytes."))
    } else {
        Ok(())
    }
}

/// Hashes being computed right now, and the most at once since start (for tests and metrics).
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Counts one hash (or verification) in flight for as long as it lives.
struct Counted;

impl Counted {
    fn start() -> Counted {
        let now = IN_FLIGHT.fetch_add(1, Ordering::AcqRel) + 1;
        PEAK.fetch_max(now, Ordering::AcqRel);
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The most password hashes that ran at the same time in this process.
pub fn peak_concurrency() -> usize {
    PEAK.load(Ordering::Acquire)
}

pub fn hash(password: &str) -> Result<String, String> {
    let _counted = Counted::start();
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify(password: &str, phc: &str) -> bool {
    let _counted = Counted::start();
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Spends the same time as a real verification, so a missing account is not faster to refuse.
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if let Some(dummy) = DUMMY.get_or_init(|| hash("an unguessable placeholder value").ok()) {
        let _ = verify(password, dummy);
    }
}

/// The password threads are all busy and the queue is full: try again in a moment.
#[derive(Debug)]
pub struct Busy;

type Task = Box<dyn FnOnce() + Send>;

/// Threads (one per core) that hash and verify, fed by a bounded queue.
struct Workers {
    queue: mpsc::SyncSender<Task>,
}

/// Hashes waiting beyond the ones running: a few seconds of work at most, then "busy".
const QUEUE_PER_THREAD: usize = 4;

fn workers() -> &'static Workers {
    static WORKERS: OnceLock<Workers> = OnceLock::new();
    WORKERS.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (queue, tasks) = mpsc::sync_channel::<Task>(n * QUEUE_PER_THREAD);
        let tasks = Arc::new(Mutex::new(tasks));
        for i in 0..n {
            let tasks = tasks.clone();
            let spawned = std::thread::Builder::new().name(format!("password-{i}")).spawn(move || {
                yield_to_requests();
                loop {
                    let task = tasks.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match task {
                        Ok(task) => task(),
                        Err(_) => return,
                    }
                }
            });
            if let Err(e) = spawned {
                log::error!("cannot start a password thread: {e}");
            }
        }
        Workers { queue }
    })
}

/// Hashing keeps every core busy under a flood; the threads that answer requests (a health
/// check, a key lookup) should still get the CPU first, so this thread runs at a lower priority.
fn yield_to_requests() {
    #[cfg(target_os = "linux")]
    // SAFETY: on Linux, PRIO_PROCESS with a thread id changes only that thread's nice value.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// Runs `f` on a password thread, or answers `Busy` at once when the queue is full.
async fn on_worker<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Busy> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task: Task = Box::new(move || {
        let _ = tx.send(f());
    });
    workers().queue.try_send(task).map_err(|_| Busy)?;
    rx.await.map_err(|_| Busy)
}

/// `hash` on a password thread.
pub async fn hash_bounded(password: String) -> Result<Result<String, String>, Busy> {
    on_worker(move || hash(&password)).await
}

/// `verify` on a password thread; with no hash (no such account), spends the same time and
/// answers false, so a missing account is not faster to refuse.
pub async fn verify_bounded(password: String, phc: Option<String>) -> Result<bool, Busy> {
    on_worker(move || match phc {
        Some(h) => verify(&password, &h),
        None => {
            verify_nothing(&password);
            false
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("correct horse", &a));
        assert!(!verify("wrong horse", &a));
        assert!(!verify("x", "not a hash"));
    }

    #[test]
    fn length_rules() {
        assert!(acceptable("short").is_err());
        assert!(acceptable("long enough").is_ok());
        assert!(acceptable(&"x".repeat(1025)).is_err());
    }
}
