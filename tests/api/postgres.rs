//! What only PostgreSQL has: its schema beside SQLite's, TLS, the password in DATABASE_URL,
//! every command of the command line on it, and moving a SQLite database up to it.

use crate::helpers::pg::{cluster, db_name_of};
use crate::helpers::*;
use provisiond::db::{Db, DbSettings};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn empty_database() -> String {
    empty_postgres()
}

fn pg_settings(url: &str) -> DbSettings {
    DbSettings { path: PathBuf::new(), synchronous: Default::default(), url: Some(url.to_string()) }
}

/// One column as both engines can describe it.
#[derive(Debug, PartialEq)]
struct Column {
    kind: &'static str,
    not_null: bool,
}

/// The storage class a declared type has on SQLite; on PostgreSQL, the class its native type
/// stands for (identity bigints and integers: integer; boolean: integer, as SQLite keeps 0/1;
/// double precision: real, SQLite's own 8-byte float).
fn sqlite_kind(declared: &str) -> &'static str {
    match declared.to_ascii_uppercase().as_str() {
        "INTEGER" => "integer",
        "TEXT" => "text",
        "BLOB" => "blob",
        "REAL" => "real",
        other => panic!("a SQLite column declared {other}: give it INTEGER, TEXT or BLOB affinity"),
    }
}

fn pg_kind(data_type: &str) -> &'static str {
    match data_type {
        "bigint" | "integer" | "boolean" => "integer",
        "text" => "text",
        "bytea" => "blob",
        "double precision" => "real",
        other => panic!("a PostgreSQL column of type {other}: map it in this test and in store/copy.rs"),
    }
}

type Schema = BTreeMap<String, BTreeMap<String, Column>>;

fn sqlite_schema(path: &Path) -> Schema {
    let conn = rusqlite::Connection::open(path).unwrap();
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut schema = Schema::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})")).unwrap();
        let columns = stmt
            .query_map([], |r| {
                let (name, declared, not_null, pk): (String, String, bool, i64) =
                    (r.get(1)?, r.get(2)?, r.get(3)?, r.get(5)?);
                // A primary key column is never NULL in practice (SQLite's own pragma says
                // nullable for a TEXT key not declared NOT NULL; the application never stores one).
                Ok((name, Column { kind: sqlite_kind(&declared), not_null: not_null || pk > 0 }))
            })
            .unwrap()
            .collect::<Result<BTreeMap<_, _>, _>>()
            .unwrap();
        schema.insert(table, columns);
    }
    schema
}

fn pg_schema(url: &str) -> Schema {
    let rows = cluster().psql(
        url,
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns \
         WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    );
    let mut schema = Schema::new();
    for line in rows.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        if f[2] == "xid8" {
            schema
                .entry(f[0].to_string())
                .or_default()
                .insert(f[1].to_string(), Column { kind: "xid", not_null: true });
            continue;
        }
        schema
            .entry(f[0].to_string())
            .or_default()
            .insert(f[1].to_string(), Column { kind: pg_kind(f[2]), not_null: f[3] == "NO" });
    }
    schema
}

#[test]
fn the_two_engines_have_the_same_tables_columns_types_and_nullability() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let sqlite =
        Db::open(&DbSettings { path: path.clone(), synchronous: Default::default(), url: None }, true)
            .unwrap();
    let url = empty_database();
    let pg = Db::open(&pg_settings(&url), true).unwrap();

    let mut lite = sqlite_schema(&path);
    let mut post = pg_schema(&url);
    // Only PostgreSQL needs it: its transactions commit out of the order of their row numbers
    // (see src/store/events.rs, feed).
    assert!(post.get_mut("events").and_then(|c| c.remove("xid")).is_some(), "events.xid on PostgreSQL");
    // Where each engine keeps its schema's version: SQLite in PRAGMA user_version, PostgreSQL in a table.
    let pg_version = post.remove("schema_version").expect("schema_version table");
    assert_eq!(pg_version.len(), 1);
    let sqlite_version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let version: i64 = cluster().psql(&url, "SELECT version FROM schema_version").trim().parse().unwrap();
    assert_eq!(sqlite_version, version, "the same version numbers on both engines");
    lite.retain(|_, columns| !columns.is_empty());

    assert_eq!(lite.keys().collect::<Vec<_>>(), post.keys().collect::<Vec<_>>(), "the same tables");
    for (table, columns) in &lite {
        let other = &post[table];
        assert_eq!(
            columns.keys().collect::<Vec<_>>(),
            other.keys().collect::<Vec<_>>(),
            "{table}: the same columns"
        );
        for (name, column) in columns {
            assert_eq!(column, &other[name], "{table}.{name}");
        }
    }
    // Native types where PostgreSQL has them: flags are booleans, hashes bytea, row numbers identities.
    let typed = cluster().psql(
        &url,
        "SELECT table_name || '.' || column_name FROM information_schema.columns \
         WHERE table_schema = 'public' AND data_type = 'boolean' ORDER BY 1",
    );
    assert_eq!(
        typed.split_whitespace().collect::<Vec<_>>(),
        [
            "memberships.is_provisioner",
            "provisions.skip_onboarding",
            "users.api_only",
            "users.email_verified",
            "webhooks.enabled"
        ]
    );
    let identities = cluster().psql(
        &url,
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND is_identity = 'YES'",
    );
    assert!(identities.trim().parse::<i64>().unwrap() >= 4, "internal row numbers are identity columns");
    drop((sqlite, pg));
}

#[test]
fn tls_connections_in_every_sslmode_and_a_wrong_authority_refused() {
    let url = fresh_postgres();
    let c = cluster();
    let uses_tls = |db: &Db| -> bool {
        db.read_blocking(|conn| {
            conn.value::<bool>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        })
        .unwrap()
    };
    for (mode, encrypted) in
        [("disable", false), ("prefer", true), ("require", true), ("verify-ca", true), ("verify-full", true)]
    {
        let db = Db::open(&pg_settings(&c.tls_url(&url, mode)), false)
            .unwrap_or_else(|e| panic!("sslmode={mode}: {e}"));
        assert_eq!(uses_tls(&db), encrypted, "sslmode={mode}");
    }

    // A certificate from another authority: verify-ca and verify-full refuse the server.
    let dir = tempfile::tempdir().unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=someone else"])
        .arg("-keyout")
        .arg(dir.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other_ca)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(made.success());
    for mode in ["verify-ca", "verify-full"] {
        let wrong = format!(
            "postgresql://postgres:s3cret-pw@localhost:{}/{}?sslmode={mode}&sslrootcert={}",
            c.port,
            db_name_of(&url),
            other_ca.display()
        );
        let e = Db::open(&pg_settings(&wrong), false).err().expect("a server with an unknown certificate");
        assert!(!e.contains("s3cret-pw"), "no password in: {e}");
        assert!(e.contains("localhost"), "says where: {e}");
    }
}

/// Runs the binary with DATABASE_URL set (and nothing else from this process's environment).
fn provisiond(url: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let out = binary::run(
        binary::command()
            .env("DATABASE_URL", url)
            .env("DATABASE_PATH", "/nonexistent/never-used.db")
            .args(args),
        stdin,
        binary::COMMAND_TIMEOUT,
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn the_password_in_database_url_appears_in_no_message() {
    let c = cluster();
    // Nothing listens on port 1; a host that does not resolve; a database that does not exist.
    let refused = "postgres://app:s3cret-pw@127.0.0.1:1/db?sslmode=disable".to_string();
    let nowhere = "postgres://app:s3cret-pw@nowhere.invalid/db".to_string();
    let missing = format!("postgresql://postgres:s3cret-pw@localhost:{}/no_such_db?sslmode=require", c.port);
    let bad_root = format!(
        "postgresql://postgres:s3cret-pw@localhost:{}/postgres?sslmode=verify-full&sslrootcert=/nonexistent.pem",
        c.port
    );
    for url in [&refused, &nowhere, &missing, &bad_root] {
        for args in
            [&["cleanup"][..], &["serve"], &["org", "create", "--name", "A", "--owner-email", "a@a.com"]]
        {
            let (ok, stdout, stderr) = provisiond(url, args, None);
            assert!(!ok, "{args:?} on {url}");
            assert!(stderr.contains("provisiond: error:"), "{args:?}: {stderr}");
            assert!(!stderr.contains("s3cret-pw") && !stdout.contains("s3cret-pw"), "{args:?}: {stderr}");
        }
    }
    let (_, _, stderr) = provisiond(&missing, &["cleanup"], None);
    assert!(stderr.contains("no_such_db"), "names the database: {stderr}");
}

#[test]
fn every_command_works_on_postgresql() {
    let url = empty_database();
    let run = |args: &[&str]| {
        let (ok, stdout, stderr) = provisiond(&url, args, None);
        assert!(ok, "{args:?}: {stderr}");
        stdout
    };
    let sql = |q: &str| cluster().psql(&url, q).trim().to_string();

    // Commands other than `org create` refuse a database that has no schema.
    let (ok, _, stderr) = provisiond(&url, &["cleanup"], None);
    assert!(!ok && stderr.contains("provisiond: error:"), "{stderr}");

    let out = run(&[
        "org",
        "create",
        "--name",
        "Orch",
        "--domain",
        "orchestrator.com",
        "--owner-email",
        "Guy@Orchestrator.com",
        "--provisioner",
        "--credits",
        "10.5",
    ]);
    assert!(out.contains("oc_"), "the owner's key: {out}");
    assert_eq!(sql("SELECT email FROM users"), "guy@orchestrator.com", "stored lowercase");
    run(&["credits", "grant", "--org", "orchestrator.com", "--amount", "1.25"]);
    assert_eq!(sql("SELECT credits_granted FROM organizations"), "11750");
    run(&["org", "create", "--name", "Later", "--owner-email", "later@l.com"]);
    run(&["org", "set-domain", "--org", "Later", "--domain", "later.io"]);
    assert_eq!(sql("SELECT name FROM organizations WHERE domain = 'later.io'"), "Later");
    let out = run(&["user", "add", "--org", "Orch", "--email", "ops@orchestrator.com", "--role", "admin"]);
    assert!(out.contains("oc_"));
    run(&["user", "provisioner", "--org", "Orch", "--user", "OPS@orchestrator.com", "on"]);
    assert_eq!(
        sql("SELECT m.is_provisioner FROM memberships m JOIN users u ON u.n = m.user_n WHERE u.email = 'ops@orchestrator.com'"),
        "t"
    );
    let (ok, _, stderr) = provisiond(
        &url,
        &["user", "set-password", "--email", "ops@orchestrator.com"],
        Some("a fine password\n"),
    );
    assert!(ok, "{stderr}");
    let hash = sql("SELECT password_hash FROM users WHERE email = 'ops@orchestrator.com'");
    assert!(provisiond::passwords::verify("a fine password", &hash));
    run(&["user", "verify", "--email", "ops@orchestrator.com"]);
    assert_eq!(sql("SELECT email_verified FROM users WHERE email = 'ops@orchestrator.com'"), "t");
    assert!(run(&["cleanup"]).contains("removed 0 expired provisions"));

    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = provisiond(&url, &["backup", dir.path().join("b.db").to_str().unwrap()], None);
    assert!(!ok, "no SQLite backup of a PostgreSQL database");
    assert!(stderr.contains("pg_dump"), "{stderr}");
    let (ok, _, stderr) = provisiond(&url, &["healthcheck"], None);
    assert!(!ok, "nothing serves at the default BIND: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_moves_to_postgresql_with_every_key_provision_session_and_credit() {
    // Everything worth keeping, made on SQLite through the API and the pages.
    let old = spawn().await;
    let org = old.create_org("Orch", Some("orchestrator.com"), "guy@orchestrator.com");
    let owner = org.owner.api_key.clone();
    let (s, _) = old
        .post(
            "/api/v1/admin/set-provisioner",
            &owner,
            json!({"email": "guy@orchestrator.com", "is_provisioner": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = old.post("/api/v1/admin/credits", &owner, json!({"amount": 10, "reason": "start"})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, alice) =
        old.create_user(&owner, Some("guy@orchestrator.com"), json!({"email": "alice@alice.com"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let alice_key = alice["api_key"].as_str().unwrap().to_string();
    let (s, _) = old.post("/api/v1/credits/consume", &alice_key, json!({"amount": 2.5})).await;
    assert_eq!(s, StatusCode::OK);
    let unclaimed = old.provision(&owner).await;
    let claimed = old.provision(&owner).await;
    let mut web = WebClient::new(&old);
    assert_eq!(
        web.signup_claiming(&claimed, "nora@example.com", "long enough pw").await.status,
        StatusCode::SEE_OTHER
    );
    let cookie = web.cookie.clone().expect("a session");
    let (s, agents_before) = old.get("/v1/agents", &owner).await;
    assert_eq!(s, StatusCode::OK);

    // The operator's way: a consistent copy of the file, then the command.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let out = old.cli(&["backup", copy.to_str().unwrap()], None);
    assert!(out.ok, "{}", out.stderr);
    let url = empty_database();
    let (ok, stdout, stderr) =
        provisiond(&url, &["migrate-to-postgres", "--from", copy.to_str().unwrap()], None);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("api_keys:") && stdout.contains("checked"), "{stdout}");
    let (ok, _, stderr) = provisiond(&url, &["migrate-to-postgres", "--from", copy.to_str().unwrap()], None);
    assert!(!ok && stderr.contains("already holds data"), "a second copy is refused: {stderr}");

    let new = spawn_with(|s| s.database_url = Some(url.clone())).await;
    for key in [&owner, &alice_key, unclaimed["apiKey"].as_str().unwrap()] {
        assert_eq!(new.get("/v1/user", key).await.0, StatusCode::OK, "the key still works");
    }
    let (s, balance) = new.get("/api/v1/credits/balance", &alice_key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(balance, json!({"total_credits": 10, "credits_used": 2.5, "credits_left": 7.5}));
    assert_eq!(new.get("/v1/agents", &owner).await, (StatusCode::OK, agents_before));
    // The session cookie made on SQLite is still signed in; the unclaimed link can still be claimed.
    let mut same = WebClient::new(&new);
    same.cookie = Some(cookie);
    let team = same.get("/team").await;
    assert_eq!(team.status, StatusCode::OK, "{}", team.body);
    let mut other = WebClient::new(&new);
    let r = other.signup_claiming(&unclaimed, "omar@example.com", "long enough pw").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // New rows get new numbers after the copied ones (the identity sequences moved on).
    let p = new.provision(&owner).await;
    assert_eq!(new.get("/v1/user", p["apiKey"].as_str().unwrap()).await.0, StatusCode::OK);
    let (s, _) = new.create_user(&owner, Some("guy@orchestrator.com"), json!({"email": "bob@bob.com"})).await;
    assert_eq!(s, StatusCode::CREATED);
}

/// A connection of the test's own, beside the server's pool (blocking: use it off the runtime).
fn own_connection(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).expect("a connection of the test's own")
}

/// Waits until some other session of the database is waiting for a row lock.
fn until_a_session_waits_for_a_lock(url: &str) {
    let mut watcher = own_connection(url);
    let db = db_name_of(url);
    for _ in 0..20_000 {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
                &[&db],
            )
            .unwrap()
            .get(0);
        if waiting > 0 {
            return;
        }
        std::thread::yield_now();
    }
    panic!("no session ever waited for the lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_answers_503_unavailable_and_changes_nothing() {
    let url = fresh_postgres();
    let app = spawn_with(|s| s.database_url = Some(url.clone())).await;
    let org = app.create_org("Acme", None, "owner@acme.com");
    let p = app.provision(&org.owner.api_key).await;
    let key = p["apiKey"].as_str().unwrap().to_string();
    let hash = blake3::hash(key.as_bytes()).as_bytes().to_vec();

    // The test's transaction holds the key epoch row, which a key change bumps last ...
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let locker_url = url.clone();
    let locker = std::thread::spawn(move || {
        let mut c = own_connection(&locker_url);
        let mut tx = c.transaction().unwrap();
        tx.execute("UPDATE key_epoch SET epoch = epoch WHERE id = 1", &[]).unwrap();
        locked_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        // ... and then wants the key's row, which the server's regenerate holds: a deadlock.
        // PostgreSQL ends the transaction that waited first (the server's) and lets this one on.
        let mine = tx.execute("UPDATE api_keys SET hint = hint WHERE hash = $1", &[&hash]);
        tx.rollback().unwrap();
        mine.map(|_| ()).map_err(|e| e.to_string())
    });
    locked_rx.recv().unwrap();
    let regenerate = {
        let (client, base, key) = (app.client.clone(), app.base.clone(), key.clone());
        tokio::spawn(async move {
            client.post(format!("{base}/v1/user/api-key/regenerate")).bearer_auth(key).send().await.unwrap()
        })
    };
    let waiter_url = url.clone();
    tokio::task::spawn_blocking(move || until_a_session_waits_for_a_lock(&waiter_url)).await.unwrap();
    go_tx.send(()).unwrap();

    let res = regenerate.await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    tokio::task::spawn_blocking(move || locker.join().unwrap())
        .await
        .unwrap()
        .expect("the test's side went on");

    // Nothing of the refused change happened: the old key still works, and retrying succeeds.
    assert_eq!(app.get("/v1/user", &key).await.0, StatusCode::OK);
    let (s, body) = app.post("/v1/user/api-key/regenerate", &key, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(app.get("/v1/user", &key).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_unreachable_requests_answer_503_then_work_again() {
    let url = fresh_postgres();
    let app = spawn_with(|s| s.database_url = Some(url.clone())).await;
    let org = app.create_org("Acme", None, "owner@acme.com");
    let db = db_name_of(&url);
    // No new connections, and the server's current ones ended (as a restart or failover does).
    cluster().psql(
        "postgres",
        &format!(
            "ALTER DATABASE {db} ALLOW_CONNECTIONS false; \
             SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{db}'"
        ),
    );
    // Answered within about 1.5 s (once the pool's attempt to reconnect has failed), not after
    // the pool's whole 10 s; the bound leaves a loaded machine some room.
    let asked = std::time::Instant::now();
    let (s, body) = app.post("/v1/team/provisions", &org.owner.api_key, json!({})).await;
    assert!(asked.elapsed() < Duration::from_secs(3), "503 after {:?}", asked.elapsed());
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(!body.to_string().contains(&db), "no database detail for the client: {body}");

    cluster().psql("postgres", &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"));
    let (s, body) = app.post("/v1/team/provisions", &org.owner.api_key, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

/// A database made by the previous release (schema version 4) is upgraded in place: existing keys
/// get distinct UUID ids and keep working, provisions get the new (empty) columns, and the new
/// tables exist.
#[test]
fn a_version_4_database_is_upgraded_in_place() {
    let url = empty_database();
    let mut c = own_connection(&url);
    c.batch_execute(include_str!("../fixtures/schema_pg_v4.sql")).unwrap();
    c.batch_execute(
        "INSERT INTO organizations (id, name, created_at) VALUES ('o', 'Old', 0);
         INSERT INTO users (id, email, status, created_at) VALUES ('u', 'old@x.com', 'active', 0);
         INSERT INTO memberships (user_n, org_id, role, created_at) SELECT n, 'o', 'owner', 0 FROM users;
         INSERT INTO projects (id, org_id, user_n, name, created_at) SELECT 'p', 'o', n, 'Default', 0 FROM users;
         INSERT INTO api_keys (hash, hint, user_n, org_id, project_n, created_at)
              SELECT decode(repeat('ab', 32), 'hex'), 'oc_x', u.n, 'o', p.n, 0 FROM users u, projects p;
         INSERT INTO api_keys (hash, hint, user_n, org_id, project_n, created_at)
              SELECT decode(repeat('cd', 32), 'hex'), 'oc_y', u.n, 'o', p.n, 0 FROM users u, projects p;",
    )
    .unwrap();
    drop(Db::open(&pg_settings(&url), false).expect("upgraded"));
    let version: i32 = c.query_one("SELECT version FROM schema_version", &[]).unwrap().get(0);
    assert_eq!(version, provisiond::db::postgres::SCHEMA_VERSION);
    let ids: Vec<String> =
        c.query("SELECT id FROM api_keys", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        assert!(uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 4), "{id}");
    }
    let scopes: Option<String> = c.query_one("SELECT scopes FROM api_keys LIMIT 1", &[]).unwrap().get(0);
    assert_eq!(scopes, None, "old keys reach every route");
    for table in ["idempotency", "credit_limits", "audit_log", "events", "webhooks", "webhook_deliveries"] {
        let n: i64 = c.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[]).unwrap().get(0);
        assert_eq!(n, 0);
    }
    // Opening again changes nothing.
    drop(Db::open(&pg_settings(&url), false).expect("opens again"));
}
