//! Installs what a test needs from a package registry, once, whoever asks at the same time: an
//! npm directory's pinned packages (`npm ci` from its package-lock.json) or a Python venv with
//! pinned requirements. Every install in the suite goes through here.
//!
//! Why a lock across processes: `npm ci` deletes `node_modules` before it installs, so a second
//! install started while a test imports from it breaks that test ("Named export 'chromium' not
//! found"); and two `cargo test` runs (or test binaries) in one checkout are two processes, which
//! an in-process mutex does not order. So the installer takes flock(2) on `.install.lock` in the
//! directory (through `libc`, already a dependency: one system call, no new crate). flock locks
//! belong to the open file, so two threads of this process that each open the file exclude each
//! other too, and the kernel drops the lock when a process dies mid-install.
//!
//! Why a stamp: under the lock, an install runs only when the stamp it left
//! (`node_modules/.provisiond-installed`, `.venv/.provisiond-installed`) does not hold the hash of
//! what is pinned now (the lock file's content, or the requirements and the Python version). The
//! stamp lives inside what it describes, so deleting `node_modules` or `.venv` deletes it too, and
//! it is written last, so a half-done install is never taken for a finished one.

use std::fs::{self, File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long an install may take, and so how long a test waits for another's install.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
/// How often a waiting test tries the lock again.
const LOCK_POLL: Duration = Duration::from_millis(100);
const STAMP: &str = ".provisiond-installed";

/// `dir`'s packages as its package-lock.json pins them (`npm ci`), installed once; returns
/// `dir/node_modules`. Panics (saying what to install) when npm is missing or the install fails.
pub fn npm(dir: &Path) -> PathBuf {
    let lock = dir.join("package-lock.json");
    let pinned = fs::read(&lock).unwrap_or_else(|e| panic!("reading {}: {e}", lock.display()));
    let modules = dir.join("node_modules");
    let stamp = format!("npm ci\n{}", blake3::hash(&pinned).to_hex());
    once(dir, &modules.join(STAMP), &stamp, || {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .env("npm_config_update_notifier", "false")
            .output()
            .unwrap_or_else(|e| panic!("npm must be installed to run this test (Node.js 18 or newer): {e}"));
        assert!(
            out.status.success(),
            "npm ci in {} failed ({}):\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    });
    modules
}

/// A venv at `dir/.venv` holding exactly what `dir/requirements.txt` pins (`name==version`, one
/// a line), installed once; returns its `bin` directory. Panics (saying what to install) when
/// python3 or its venv module is missing or pip fails.
pub fn venv(dir: &Path) -> PathBuf {
    let requirements = requirements(dir);
    let requirements: Vec<&str> = requirements.iter().map(String::as_str).collect();
    let venv = dir.join(".venv");
    let python = Command::new("python3").arg("--version").output().unwrap_or_else(|e| {
        panic!("python3 is needed for this test (Debian: apt-get install python3-venv): {e}")
    });
    let stamp =
        format!("venv\n{}\n{}", String::from_utf8_lossy(&python.stdout).trim(), requirements.join("\n"));
    once(dir, &venv.join(STAMP), &stamp, || {
        // --clear: whatever an interrupted or older install left there goes first.
        let out = Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv).output().unwrap();
        assert!(
            out.status.success(),
            "python3 -m venv {} failed (Debian: apt-get install python3-venv):\n{}",
            venv.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check", "--no-input"])
            .args(&requirements)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pip install {} failed:\n{}",
            requirements.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    });
    venv.join("bin")
}

/// `dir/requirements.txt`'s pins, comments left out; each must name its version.
fn requirements(dir: &Path) -> Vec<String> {
    let path = dir.join("requirements.txt");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let pins: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert!(
        pins.iter().all(|p| p.contains("==")),
        "every requirement in {} pinned: {pins:?}",
        path.display()
    );
    pins
}

/// The suite's npm directories and venvs, in the order the tests (run in name order) reach them.
const NPM_DIRS: [&str; 3] = ["tests/e2e", "tests/webhooks", "tests/sdk"];
const VENV_DIRS: [&str; 3] = ["tests/metrics", "tests/schemathesis", "tests/scim"];

/// When the whole suite runs, installs everything it will need on a thread of its own, started by
/// the first server a test spawns. An install is mostly waiting for the registry and the disk; a
/// test that needs one waited for it holding one of the two test threads (both, when each engine's
/// copy of a test starts at once and one waits for the other's install): about a minute of a fresh
/// clone's first run. Each install still goes through [`once`], so a test that gets there first
/// installs under the same lock and the thread finds it done. A run of chosen tests (a name filter
/// on the command line) installs only what those tests ask for.
pub fn warm_up() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        if !whole_suite() {
            return;
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let _ = std::thread::Builder::new().name("install-warm-up".into()).spawn(move || {
            // A failed install panics here only for this thread; the test that needs it runs it
            // again under the lock and fails with the message.
            for dir in NPM_DIRS {
                let _ = std::panic::catch_unwind(|| npm(&root.join(dir)));
            }
            for dir in VENV_DIRS {
                let _ = std::panic::catch_unwind(|| venv(&root.join(dir)));
            }
        });
    });
}

/// No test name filter among the arguments (libtest's options that take a value are skipped).
fn whole_suite() -> bool {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--test-threads" | "--skip" | "--format" | "--color" | "--logfile" | "--shuffle-seed" | "-Z" => {
                args.next();
            }
            a if a.starts_with('-') => {}
            _ => return false,
        }
    }
    true
}

/// Runs `install` under `dir`'s lock unless `stamp_path` already says `stamp`; then writes it.
fn once(dir: &Path, stamp_path: &Path, stamp: &str, install: impl FnOnce()) {
    let _lock = Flock::exclusive(&dir.join(".install.lock"));
    if fs::read_to_string(stamp_path).is_ok_and(|s| s == stamp) {
        return;
    }
    install();
    let parent = stamp_path.parent().expect("the stamp is inside what it describes");
    assert!(parent.is_dir(), "the install did not make {}", parent.display());
    let partial = stamp_path.with_extension("partial");
    fs::write(&partial, stamp).unwrap_or_else(|e| panic!("writing {}: {e}", partial.display()));
    fs::rename(&partial, stamp_path).unwrap_or_else(|e| panic!("writing {}: {e}", stamp_path.display()));
}

/// An exclusive flock(2) on a file, released when dropped (closing the file releases it).
struct Flock(File);

impl Flock {
    /// Waits for the lock up to INSTALL_TIMEOUT (another test's install may hold it that long).
    fn exclusive(path: &Path) -> Flock {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("opening the lock file {}: {e}", path.display()));
        let deadline = Instant::now() + INSTALL_TIMEOUT;
        loop {
            // SAFETY: flock(2) on a descriptor this function owns; no memory is passed.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Flock(file);
            }
            let error = std::io::Error::last_os_error();
            assert!(
                error.kind() == std::io::ErrorKind::WouldBlock
                    || error.kind() == std::io::ErrorKind::Interrupted,
                "flock {}: {error}",
                path.display()
            );
            assert!(
                Instant::now() < deadline,
                "waited {INSTALL_TIMEOUT:?} for another install to release {}",
                path.display()
            );
            // Until the other installer is done: flock offers no wait with a time limit.
            std::thread::sleep(LOCK_POLL);
        }
    }
}
