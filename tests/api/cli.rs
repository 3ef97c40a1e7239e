//! The binary itself: bootstrap, subcommands, start-up errors, graceful stop.

use crate::helpers::binary::{self, Binary, RunToEnd, BIN};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn cmd(db: &Path) -> Command {
    let mut c = binary::command();
    c.env("DATABASE_PATH", db).env("BIND", "127.0.0.1:0").env("RUST_LOG", "info");
    c
}

/// `provisiond serve` on `db` with `envs` on top, its log and stdout in `dir`; answering once
/// this returns, killed if the test fails.
fn start(dir: &Path, db: &Path, envs: &[(&str, &str)]) -> Binary {
    let mut all = vec![("DATABASE_PATH", db.to_str().unwrap())];
    all.extend_from_slice(envs);
    Binary::start(dir, &all)
}

fn http_get(port: u16, path: &str, key: &str) -> String {
    binary::http_get_with_key(port, path, key)
}

fn key_in(text: &str) -> Option<String> {
    text.split_whitespace().find(|w| w.starts_with("oc_") && w.len() == 67).map(str::to_string)
}

#[test]
fn first_start_bootstraps_once_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested/dir/p.db");
    let server = start(dir.path(), &db, &[]);
    let port = server.port;
    let health = Command::new(BIN)
        .env_clear()
        .args(["healthcheck", "--bind", &format!("127.0.0.1:{port}")])
        .run_to_end();
    assert!(health.status.success(), "healthcheck: {}", String::from_utf8_lossy(&health.stderr));
    let stopped = server.stop();
    let (status, stdout) = (stopped.status, stopped.stdout);
    assert!(status.success(), "SIGTERM is a clean exit: {status}");
    let key = key_in(&stdout).expect("owner key printed on first start");
    // The WAL was checkpointed at shutdown: the database file alone is complete.
    let wal = std::fs::metadata(dir.path().join("nested/dir/p.db-wal")).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal, 0, "WAL truncated at shutdown");

    let server = start(dir.path(), &db, &[]);
    let answer = http_get(server.port, "/v1/user", &key);
    assert!(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"role\":\"owner\""), "{answer}");
    let stdout = server.stop().stdout;
    assert_eq!(key_in(&stdout), None, "no key printed on the second start");

    // Nothing answers any more.
    let health = Command::new(BIN)
        .env_clear()
        .args(["healthcheck", "--bind", &format!("127.0.0.1:{port}")])
        .run_to_end();
    assert!(!health.status.success());
}

#[test]
fn bootstrap_false_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let stopped = start(dir.path(), &db, &[("BOOTSTRAP", "false")]).stop();
    let (status, stdout) = (stopped.status, stopped.stdout);
    assert!(status.success());
    assert_eq!(key_in(&stdout), None);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM organizations", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn org_create_prints_a_working_owner_key_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let out = cmd(&db)
        .args([
            "org",
            "create",
            "--name",
            "Orchestrator",
            "--domain",
            "Orchestrator.com",
            "--owner-email",
            "guy@orchestrator.com",
        ])
        .run_to_end();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = key_in(&String::from_utf8_lossy(&out.stdout)).expect("key printed");

    let conn = rusqlite::Connection::open(&db).unwrap();
    let domain: String = conn.query_row("SELECT domain FROM organizations", [], |r| r.get(0)).unwrap();
    assert_eq!(domain, "orchestrator.com");

    let server = start(dir.path(), &db, &[("BOOTSTRAP", "true")]);
    let answer = http_get(server.port, "/v1/user", &key);
    assert!(answer.contains("\"email\":\"guy@orchestrator.com\""), "{answer}");
    let stdout = server.stop().stdout;
    assert_eq!(key_in(&stdout), None, "an existing organization means no bootstrap");

    for args in [
        vec!["org", "create", "--name", "X", "--domain", "orchestrator.com", "--owner-email", "x@y.com"],
        vec!["org", "create", "--name", "X", "--domain", "not a domain", "--owner-email", "x@y.com"],
        vec!["org", "create", "--name", "X", "--owner-email", "not-an-email"],
        vec!["org", "create", "--name", "  ", "--owner-email", "x@y.com"],
    ] {
        let out = cmd(&db).args(&args).run_to_end();
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("provisiond: error:"), "{args:?}: {err}");
    }
}

#[test]
fn cleanup_and_backup_subcommands() {
    use provisiond::clock::Clock;
    use provisiond::db::{Db, DbSettings};
    use provisiond::domain::*;
    use provisiond::mail::Mailer;
    use provisiond::service::organizations::{self, NewOrg};
    use provisiond::service::provisioning::{self, ProvisionInput};
    use provisiond::service::{Actor, Ctx};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let db = Db::open(&DbSettings { path: path.clone(), synchronous: Default::default(), url: None }, true)
        .unwrap();
    let rules = provisiond::config::Settings::defaults().rules();
    let now = Ctx::new(db.clone(), Clock::default(), rules.clone(), Mailer::disabled());
    let past = Ctx::new(
        db.clone(),
        Clock::default().behind(Duration::from_secs(8 * 86_400)),
        rules,
        Mailer::disabled(),
    );
    actix_web::rt::System::new().block_on(async {
        let new = NewOrg {
            name: "A".into(),
            domain: None,
            owner_email: Email::parse("o@a.com").unwrap(),
            provisioner: false,
            credits: None,
        };
        let owner = organizations::create(&now, new).await.unwrap();
        let actor = Actor::person(owner.user_id.clone(), owner.org_id.clone());
        // Two provisions created 8 days ago (expired) and one now (live).
        for (ctx, role) in
            [(&past, ProvisionRole::Member), (&past, ProvisionRole::Member), (&now, ProvisionRole::Admin)]
        {
            let input = ProvisionInput { role, skip_onboarding: true };
            provisioning::provision(ctx, actor.clone(), &Default::default(), input).await.unwrap();
        }
    });

    let out = cmd(&path).arg("cleanup").run_to_end();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed 2 expired provisions"));
    let placeholders: i64 = db
        .read_blocking(|c| c.value("SELECT COUNT(*) FROM users WHERE status = 'placeholder'", &[]))
        .unwrap();
    assert_eq!(placeholders, 1);

    let backup = dir.path().join("backup.db");
    let out = cmd(&path).arg("backup").arg(&backup).run_to_end();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let copy = rusqlite::Connection::open(&backup).unwrap();
    let n: i64 = copy.query_row("SELECT COUNT(*) FROM provisions", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 3);
    let ok: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
}

#[test]
fn bad_settings_stop_the_start_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    // Unwritable database location (even for root: /proc takes no new folders).
    let out = cmd(Path::new("/proc/provisiond-test/p.db")).run_to_end();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DATABASE_PATH"), "says what to fix: {err}");

    for (var, value, expect) in [
        ("PUBLIC_URL", "ftp://x", "PUBLIC_URL"),
        ("PROVISION_TTL", "soon", "PROVISION_TTL"),
        ("PROVISION_TTL", "0s", "PROVISION_TTL"),
        ("CLEANUP_INTERVAL", "often", "CLEANUP_INTERVAL"),
        ("KEY_PREFIX", "bad prefix", "KEY_PREFIX"),
        ("BIND", "not-an-address", "BIND"),
        ("BOOTSTRAP", "maybe", "BOOTSTRAP"),
    ] {
        let out = cmd(&db).env(var, value).run_to_end();
        assert!(!out.status.success(), "{var}={value} should stop the start");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{var}={value}: {err}");
    }
}

fn run_ok(db: &Path, args: &[&str]) -> String {
    let out = cmd(db).args(args).run_to_end();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pool(db: &Path, domain: &str) -> (i64, i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT credits_granted, credits_used FROM organizations WHERE domain = ?1",
        [domain],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

fn is_provisioner(db: &Path, email: &str) -> bool {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT m.is_provisioner FROM memberships m JOIN users u ON u.n = m.user_n WHERE u.email = ?1",
        [email],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn orchestrator_organizations_credits_and_provisioner_flag_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let out = run_ok(
        &db,
        &[
            "org",
            "create",
            "--name",
            "Orch",
            "--domain",
            "orchestrator.com",
            "--owner-email",
            "guy@orchestrator.com",
            "--provisioner",
            "--credits",
            "100.5",
        ],
    );
    let org_id = out.lines().next().unwrap().strip_prefix("organization ").unwrap().to_string();
    assert!(is_provisioner(&db, "guy@orchestrator.com"));
    assert_eq!(pool(&db, "orchestrator.com"), (100_500, 0));

    // By domain, by name, by id; amounts with up to 3 decimals.
    assert!(run_ok(&db, &["credits", "grant", "--org", "Orchestrator.com", "--amount", "0.25"])
        .contains("100.75 total"));
    run_ok(&db, &["credits", "grant", "--org", "Orch", "--amount", "1", "--reason", "top-up"]);
    run_ok(&db, &["credits", "grant", "--org", &org_id, "--amount", "2.125"]);
    assert_eq!(pool(&db, "orchestrator.com"), (103_875, 0));
    for bad in [
        vec!["credits", "grant", "--org", "nope", "--amount", "1"],
        vec!["credits", "grant", "--org", "Orch", "--amount", "1.0001"],
        vec!["credits", "grant", "--org", "Orch", "--amount", "-3"],
        vec!["org", "create", "--name", "X", "--owner-email", "x@y.com", "--credits", "lots"],
    ] {
        let out = cmd(&db).args(&bad).run_to_end();
        assert!(!out.status.success(), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("provisiond: error:"));
    }
    assert_eq!(pool(&db, "orchestrator.com"), (103_875, 0), "failed grants changed nothing");

    // The provisioner flag, off and on, for an existing member.
    run_ok(
        &db,
        &["user", "add", "--org", "orchestrator.com", "--email", "ops@orchestrator.com", "--role", "admin"],
    );
    assert!(!is_provisioner(&db, "ops@orchestrator.com"));
    run_ok(&db, &["user", "provisioner", "--org", "Orch", "--user", "OPS@orchestrator.com", "on"]);
    assert!(is_provisioner(&db, "ops@orchestrator.com"));
    run_ok(&db, &["user", "provisioner", "--org", "Orch", "--user", "guy@orchestrator.com", "off"]);
    assert!(!is_provisioner(&db, "guy@orchestrator.com"));
    let out =
        cmd(&db).args(["user", "provisioner", "--org", "Orch", "--user", "nobody@x.com", "on"]).run_to_end();
    assert!(!out.status.success());

    // A domain for an organization created without one; a taken domain is refused.
    run_ok(&db, &["org", "create", "--name", "Later", "--owner-email", "later@l.com"]);
    run_ok(&db, &["org", "set-domain", "--org", "Later", "--domain", "later.io"]);
    assert_eq!(pool(&db, "later.io"), (0, 0));
    let out =
        cmd(&db).args(["org", "set-domain", "--org", "Later", "--domain", "orchestrator.com"]).run_to_end();
    assert!(!out.status.success());
}

#[test]
fn set_password_reads_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    run_ok(&db, &["org", "create", "--name", "Acme", "--owner-email", "owner@acme.com"]);
    let set = |email: &str, input: &str| {
        binary::run(
            cmd(&db).args(["user", "set-password", "--email", email]),
            Some(input),
            binary::COMMAND_TIMEOUT,
        )
    };
    let out = set("Owner@acme.com", "a fine password\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let hash: String = conn
        .query_row("SELECT password_hash FROM users WHERE email = 'owner@acme.com'", [], |r| r.get(0))
        .unwrap();
    assert!(provisiond::passwords::verify("a fine password", &hash));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("a fine password"), "never echoed");
    assert!(!set("owner@acme.com", "short\n").status.success());
    assert!(!set("nobody@acme.com", "a fine password\n").status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_requests_in_flight_before_exiting() {
    stop_under_load("-TERM").await;
}

/// Ctrl-C stops as gracefully as SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigint_answers_requests_in_flight_before_exiting() {
    stop_under_load("-INT").await;
}

/// Stops a server with `signal` while 16 clients provision: every request it accepted is
/// answered in full and stored, and the WAL is checkpointed.
async fn stop_under_load(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let server = start(dir.path(), &db, &[("PROVISION_RATE_LIMIT", "0")]);
    let port = server.port;
    let owner = {
        // The bootstrap key is on stdout, which `stop` collects; read it from the database's
        // owner instead: make a key for a second admin through the command line.
        let out = cmd(&db)
            .args([
                "user",
                "add",
                "--org",
                "My Organization",
                "--email",
                "ops@example.com",
                "--role",
                "admin",
            ])
            .run_to_end();
        key_in(&String::from_utf8_lossy(&out.stdout)).unwrap()
    };
    // A request the server never answers fails the test rather than holding it forever.
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    // 16 clients provisioning back to back until the server goes away.
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (client, owner, answered) = (client.clone(), owner.clone(), answered.clone());
            tokio::spawn(async move {
                let url = format!("http://127.0.0.1:{port}/v1/team/provisions");
                while let Ok(res) =
                    client.post(&url).bearer_auth(&owner).json(&serde_json::json!({})).send().await
                {
                    // A request the server accepted gets its whole answer, shutdown or not.
                    assert_eq!(res.status(), 201, "an in-flight request was answered in full");
                    let body: serde_json::Value = res.json().await.expect("complete body");
                    answered.lock().unwrap().push(body["id"].as_str().unwrap().to_string());
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.lock().unwrap().len() < 50 {
        assert!(
            Instant::now() < deadline,
            "50 provisions answered within 60 s: {}",
            answered.lock().unwrap().len()
        );
        tokio::task::yield_now().await;
    }
    server.signal(signal);
    for w in workers {
        // The clients stop when the server has gone away, which a graceful stop does in seconds.
        tokio::time::timeout(Duration::from_secs(60), w)
            .await
            .expect("the server went away within 60 s of the signal")
            .unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() >= 50);
    let stopped = server.wait();
    assert!(stopped.status.success(), "{signal} is a clean exit: {}", stopped.status);
    let conn = rusqlite::Connection::open(&db).unwrap();
    for id in &answered {
        let n: i64 =
            conn.query_row("SELECT COUNT(*) FROM provisions WHERE id = ?1", [id], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "answered provision {id} is stored");
    }
    let wal = std::fs::metadata(dir.path().join("p.db-wal")).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal, 0, "WAL checkpointed at shutdown");
}

#[test]
fn only_serve_and_org_create_make_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("elsewhere/p.db");
    for args in [
        vec!["credits", "grant", "--org", "Acme", "--amount", "1"],
        vec!["backup", "/tmp/never-written.db"],
        vec!["cleanup"],
        vec!["user", "verify", "--email", "a@b.com"],
        vec!["org", "set-domain", "--org", "Acme", "--domain", "acme.com"],
    ] {
        let out = cmd(&db).args(&args).run_to_end();
        assert!(!out.status.success(), "{args:?} refuses");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("there is no database at") && err.contains("elsewhere/p.db"), "{args:?}: {err}");
        assert!(!db.exists() && !db.parent().unwrap().exists(), "{args:?} created nothing");
    }
    assert!(!Path::new("/tmp/never-written.db").exists());
    run_ok(&db, &["org", "create", "--name", "Acme", "--owner-email", "o@acme.com"]);
    assert!(db.exists());
}

#[test]
fn each_command_shows_its_own_options_with_what_they_do() {
    let help = |args: &[&str]| {
        let out = Command::new(BIN).args(args).arg("--help").run_to_end();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let serve = help(&["serve"]);
    assert!(serve.contains("--bind") && serve.contains("LOGIN_RATE_LIMIT") && serve.contains("SMTP_URL"));
    for args in [
        &["org", "create"][..],
        &["credits", "grant"],
        &["user", "add"],
        &["user", "provisioner"],
        &["user", "role"],
        &["user", "remove"],
        &["backup"],
    ] {
        let text = help(args);
        assert!(!text.contains("--bind") && !text.contains("LOGIN_RATE_LIMIT"), "{args:?}: {text}");
        assert!(text.contains("--database-path"), "{args:?}");
        // Every option says what it does: no line with a flag and nothing after it.
        for line in text.lines().filter(|l| l.trim_start().starts_with("--")) {
            let described = line.trim_start().split_once("  ").is_some_and(|(_, d)| !d.trim().is_empty());
            assert!(described, "{args:?}: undescribed option: {line}");
        }
    }
}

#[test]
fn command_line_errors_speak_the_operators_language() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    run_ok(&db, &["org", "create", "--name", "Acme", "--owner-email", "o@acme.com"]);
    for args in [
        vec!["user", "provisioner", "--org", "Nope", "--user", "x@y.com", "on"],
        vec!["user", "add", "--org", "Acme", "--email", "o@acme.com"],
        vec!["credits", "grant", "--org", "Acme", "--amount", "-1"],
    ] {
        let out = cmd(&db).args(&args).run_to_end();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        for http in ["404", "409", "400", "Not Found", "Conflict", "not_found", "user_exists"] {
            assert!(!err.contains(http), "{args:?}: HTTP wording in {err}");
        }
        assert!(err.starts_with("provisiond: error: ") && err.len() > 40, "{args:?}: {err}");
    }
}

#[test]
fn a_bad_bootstrap_email_stops_the_start_before_any_file_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data/p.db");
    let out = cmd(&db).env("BOOTSTRAP_EMAIL", "not an address").run_to_end();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("BOOTSTRAP_EMAIL"));
    assert!(!db.parent().unwrap().exists(), "no folder, no database file");
}
