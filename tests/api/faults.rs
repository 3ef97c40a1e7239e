//! Storage faults under a running server: writes answer 503 `unavailable` (JSON), reads keep
//! working, the server recovers by itself when the fault is gone, nothing half-written remains.
//!
//! - A full disk: the server's database on a small tmpfs that a filler file fills. Needs to mount
//!   a tmpfs (root).
//! - A disk that turns read-only: Linux refuses `mount -o remount,ro` while the server has the
//!   file open for writing, so the real binary runs as a process of its own and `strace` attaches
//!   to it and makes every file write, truncate and sync fail with EROFS, as on a file system
//!   that has turned read-only (strace's syscall fault injection; no byte reaches the files).
//!   Socket writes (`sendto`, `write`, `writev`) are left alone, so the answers still go out.
//!   Detaching strace ends the fault. Needs strace and the right to ptrace (root).
//!
//! Where they cannot run (not root, or no strace), build.rs marks them ignored and `cargo test`
//! says so in its summary; PROVISIOND_FAULT_TESTS=require (set by .ci/run) makes that a failure.

use crate::helpers::binary::{self, Binary};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Something the fault test needs failed although build.rs found root and strace.
fn cannot_run(why: &str) {
    panic!("{why}");
}

struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Some(Mount(at.to_path_buf()))
        } else {
            cannot_run("the full-disk test needs to mount a tmpfs (run as root, as CI does)");
            None
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn provision_status(app: &TestApp, key: &str) -> (StatusCode, serde_json::Value) {
    app.post("/v1/team/provisions", key, serde_json::json!({})).await
}

/// The database is sound: SQLite's own checks, and no rows a write left behind half-done.
fn no_half_writes(conn: &rusqlite::Connection) {
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let mut fk = conn.prepare("PRAGMA foreign_key_check").unwrap();
    assert!(!fk.exists([]).unwrap(), "foreign_key_check found rows pointing nowhere");
    for sql in [
        "SELECT COUNT(*) FROM users u WHERE u.status = 'placeholder' AND NOT EXISTS (SELECT 1 FROM provisions p WHERE p.user_id = u.id)",
        "SELECT COUNT(*) FROM provisions p WHERE p.status = 'pending' AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = p.agent_id)",
        "SELECT COUNT(*) FROM provisions p WHERE p.status = 'pending' AND NOT EXISTS (SELECT 1 FROM api_keys k JOIN projects j ON j.n = k.project_n WHERE j.id = p.project_id)",
    ] {
        let n: i64 = conn.query_row(sql, [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0, "{sql}");
    }
}

#[tokio::test]
#[cfg_attr(not(fault_tests), ignore = "needs root (to mount a tmpfs); .ci/run runs it")]
async fn full_disk_refuses_writes_keeps_reads_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mount) = Mount::tmpfs(&dir.path().join("mnt"), "6m") else { return };
    let db_path = mount.0.join("p.db");
    let app = spawn_with(|s| s.database_path = db_path.clone()).await;
    let org = app.create_org("Acme", None, "owner@acme.com");
    let k = org.owner.api_key.clone();
    assert_eq!(provision_status(&app, &k).await.0, StatusCode::CREATED);

    // Fill the disk.
    let filler = mount.0.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    drop(f);

    let mut refused = 0;
    for _ in 0..2000 {
        let (s, body) = provision_status(&app, &k).await;
        if s == StatusCode::CREATED {
            continue;
        }
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], "unavailable");
        assert_eq!(body["error"]["type"], "api_error");
        refused += 1;
        if refused == 5 {
            break;
        }
    }
    assert_eq!(refused, 5, "writes were refused once the disk was full");
    // Reads keep working.
    let (s, list) = app.get("/v1/team/provisions", &k).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!list["provisions"].as_array().unwrap().is_empty());
    assert_eq!(app.get("/v1/user", &k).await.0, StatusCode::OK);

    // Room again: the server recovers by itself.
    std::fs::remove_file(&filler).unwrap();
    let (s, p) = provision_status(&app, &k).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(app.get("/v1/user", p["apiKey"].as_str().unwrap()).await.0, StatusCode::OK);
    no_half_writes(&rusqlite::Connection::open(&app.db_path).unwrap());
}

/// The system calls that write to files: SQLite's `pwrite64` (WAL, database, shared-memory
/// index), `ftruncate` and `fsync` (checkpoints), and their relatives should a build use them.
/// None of them writes to a socket: the server answers with `sendto`/`writev`/`write`, and logs
/// with `write`, which stay untouched.
const FILE_WRITES: &str = "pwrite64,pwritev,pwritev2,ftruncate,fallocate,fsync,fdatasync";

/// `strace` attached to a running process, failing its file writes with EROFS until stopped.
struct Strace {
    child: Child,
    stderr: PathBuf,
    trace: PathBuf,
}

impl Strace {
    /// Returns once every thread of `pid` is attached (threads started later are followed too),
    /// or None (after `cannot_run`) when strace is missing or may not trace.
    async fn fail_file_writes(pid: u32, dir: &Path) -> Option<Strace> {
        let (stderr, trace) = (dir.join("strace.err"), dir.join("strace.out"));
        let spawned = Command::new("strace")
            .args(["-f", "-p", &pid.to_string()])
            .args(["-e", &format!("trace={FILE_WRITES}")])
            .args(["-e", &format!("inject={FILE_WRITES}:error=EROFS")])
            .arg("-o")
            .arg(&trace)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                cannot_run(&format!("the read-only disk test needs strace (apt-get install strace): {e}"));
                return None;
            }
        };
        let mut strace = Strace { child, stderr, trace };
        let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(1, |d| d.count());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let said = strace.said();
            // strace 6 says "Process N attached with M threads" once it holds them all; older
            // versions say "Process N attached" for each thread.
            if said.contains("attached with") || said.matches(" attached").count() >= threads {
                return Some(strace);
            }
            if let Ok(Some(status)) = strace.child.try_wait() {
                cannot_run(&format!(
                    "the read-only disk test needs strace to trace the server (ptrace, as root): \
                     strace {status}: {said}"
                ));
                return None;
            }
            assert!(Instant::now() < deadline, "strace did not attach within 30 s: {said}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn said(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The system calls it failed so far.
    fn injected(&self) -> String {
        std::fs::read_to_string(&self.trace).unwrap_or_default()
    }

    /// SIGTERM: strace lets go of every thread, whose system calls work again. Returns what it said.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let stopped = binary::wait_within(&mut self.child, Duration::from_secs(30));
        assert!(stopped.is_some(), "strace did not let go within 30 s: {}", self.said());
        self.said()
    }
}

impl Drop for Strace {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real binary in a process of its own, so that strace traces it and nothing else.
struct Server {
    binary: Binary,
    owner_key: String,
    client: reqwest::Client,
}

impl Server {
    async fn start(dir: &Path) -> Server {
        let binary = Binary::start(dir, &[("WORKERS", "2"), ("BOOTSTRAP_EMAIL", "owner@acme.com")]);
        let owner_key = binary.owner_key();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Server { binary, owner_key, client }
    }

    async fn call(&self, req: reqwest::RequestBuilder, key: &str) -> (StatusCode, Value) {
        let res = req.bearer_auth(key).send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {status} {text}")))
    }

    async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(self.client.get(format!("{}{path}", self.binary.base)), key).await
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(self.client.post(format!("{}{path}", self.binary.base)).json(&body), key).await
    }

    /// SIGTERM, as an operator stops it: in-flight requests finish and the WAL is checkpointed.
    fn stop(self) -> String {
        let stopped = self.binary.stop();
        assert!(stopped.status.success(), "the server stopped with {}: {}", stopped.status, stopped.log);
        stopped.log
    }
}

#[tokio::test]
#[cfg_attr(
    not(fault_tests),
    ignore = "needs root and strace (to fail the server's file writes); .ci/run runs it"
)]
async fn disk_turning_read_only_refuses_writes_keeps_reads_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let owner = server.owner_key.clone();
    let mut created = 0;
    // Two provisions before the fault: one key first used under it (so it is read from the
    // database, not the key cache), one key that tries to rotate under it.
    let mut keys = Vec::new();
    for _ in 0..2 {
        let (s, p) = server.post("/v1/team/provisions", &owner, json!({})).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        created += 1;
        keys.push(p["apiKey"].as_str().unwrap().to_string());
    }
    let (fresh, rotating) = (&keys[0], &keys[1]);
    assert_eq!(server.get("/v1/user", &owner).await.0, StatusCode::OK);

    let Some(strace) = Strace::fail_file_writes(server.binary.pid(), dir.path()).await else { return };

    // Every write is refused with the contract's JSON error...
    for _ in 0..3 {
        assert_error(server.post("/v1/team/provisions", &owner, json!({})).await, 503, "unavailable");
    }
    let agent = json!({"name": "Refused at first", "identifier": "refused-at-first"});
    assert_error(server.post("/v1/agents", &owner, agent.clone()).await, 503, "unavailable");
    assert_error(server.post("/v1/user/api-key/regenerate", rotating, json!({})).await, 503, "unavailable");
    // ...because the files refused it.
    let injected = strace.injected();
    assert!(injected.contains("= -1 EROFS") && injected.contains("(INJECTED)"), "{injected}");

    // Reads keep working: a cached key, a key read from the database, the listing.
    assert_eq!(server.get("/v1/user", &owner).await.0, StatusCode::OK);
    let (s, me) = server.get("/v1/user", fresh).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["status"], "placeholder");
    assert_eq!(server.get("/v1/user", rotating).await.0, StatusCode::OK, "the refused rotation kept the key");
    let (s, list) = server.get("/v1/team/provisions", &owner).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["provisions"].as_array().unwrap().len(), created);

    // The disk is writable again (strace lets go): the same process takes writes at once.
    let said = strace.stop();
    assert!(said.contains("detached"), "{said}");
    let (s, p) = server.post("/v1/team/provisions", &owner, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    created += 1;
    let (s, me) = server.get("/v1/user", p["apiKey"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    // The refused agent left nothing behind: its identifier is free.
    let (s, a) = server.post("/v1/agents", &owner, agent).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let (s, r) = server.post("/v1/user/api-key/regenerate", rotating, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{r}");

    let log = server.stop();
    assert!(!log.contains("panicked"), "{log}");
    let conn = rusqlite::Connection::open(dir.path().join("p.db")).unwrap();
    no_half_writes(&conn);
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT COUNT(*) FROM provisions"), created as i64, "one provision per 201");
    assert_eq!(count("SELECT COUNT(*) FROM agents WHERE identifier = 'refused-at-first'"), 1);
    assert_eq!(count("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NOT NULL"), 1, "one rotation");
}
