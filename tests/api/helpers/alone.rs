//! Runs one test in a process of its own: for a test about state the server keeps per process,
//! which every other test in this binary shares and no test can reset. Today that is only
//! tests/api/flood.rs: the password threads (`provisiond::passwords`, one per core behind a short
//! queue) and their peak counter belong to the process, so the flood's 96 hashes at once would
//! answer other tests' log-ins "busy", and the peak another test (or the other engine's copy of
//! the flood) reached would satisfy "the flood hashed in parallel" without this flood doing so.
//!
//! The test calls [`here`] first: in the test binary run by `cargo test`, that starts the same
//! binary again with only this test selected (`--exact`) and PROVISIOND_TEST_ALONE naming it,
//! waits for it (with a deadline), checks it ran and passed, and returns false (the test then
//! returns). In that child process it returns true and the test runs its body.

use std::process::Command;
use std::time::Duration;

const ALONE: &str = "PROVISIOND_TEST_ALONE";
/// How long the child process may take, its own PostgreSQL included.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Whether to run the body here (in the child process). `module` is the calling test's
/// `module_path!()`; the engine (`engine_tests!`) completes the test's name.
#[track_caller]
pub fn here(module: &str) -> bool {
    // module_path!() is "<crate>::<module>::<test>"; libtest's name drops the crate.
    let path = module.split_once("::").map_or(module, |(_, rest)| rest);
    let name = match super::engine() {
        super::Engine::Sqlite => format!("{path}::sqlite"),
        super::Engine::Postgres => format!("{path}::postgres"),
    };
    if std::env::var(ALONE).as_deref() == Ok(name.as_str()) {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = super::binary::run(
        Command::new(exe)
            .args([name.as_str(), "--exact", "--test-threads=1", "--nocapture"])
            .env(ALONE, &name),
        None,
        TIMEOUT,
    );
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("--- {name} in a process of its own:\n{stdout}\n{stderr}");
    assert!(out.status.success(), "{name} failed in its own process (output above)");
    assert!(stdout.contains("test result: ok. 1 passed"), "{name} ran in its own process (output above)");
    false
}
