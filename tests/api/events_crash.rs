//! The outbox under `kill -9`: a delivery in flight when the server dies is delivered after the
//! restart (same `webhook-id`); provisions killed mid-request leave neither a change without
//! its event and audit row nor an event or row without its change. On both engines: the real
//! binary is killed, a server on the same database takes over.

use crate::helpers::receiver::Receiver;
use crate::helpers::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The binary on `db` (SQLite) or `url` (PostgreSQL); its port and the owner key it printed.
fn start(dir: &Path, url: Option<&str>) -> (Child, u16, String) {
    let (log, out) = (dir.join("log"), dir.join("out"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provisiond"));
    cmd.env_clear()
        .env("DATABASE_PATH", dir.join("p.db"))
        .env("BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("PROVISION_RATE_LIMIT", "0")
        .env("WEBHOOK_ALLOW_PRIVATE", "true")
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
    if let Some(url) = url {
        cmd.env("DATABASE_URL", url).env("SECRET_KEY", TEST_SECRET_KEY);
    }
    let mut child = cmd.spawn().unwrap();
    for _ in 0..400 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(p) =
            text.split("(port ").nth(1).and_then(|r| r.split(')').next()).and_then(|p| p.parse().ok())
        {
            let printed = std::fs::read_to_string(&out).unwrap();
            let owner = printed.split_whitespace().find(|w| w.starts_with("oc_")).expect("owner key printed");
            return (child, p, owner.to_string());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
}

/// A server in this process on the database the binary used, with a clock the test moves.
async fn take_over(dir: &Path, url: Option<String>) -> TestApp {
    let path = dir.join("p.db");
    spawn_with(move |s| {
        s.database_path = path;
        s.database_url = url;
        s.webhook_allow_private = true;
        s.provision_rate_limit = 0;
    })
    .await
}

fn database(dir: &Path) -> Option<String> {
    let _ = dir;
    (engine() == Engine::Postgres).then(fresh_postgres)
}

engine_tests! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delivery_in_flight_at_kill_9_is_delivered_after_the_restart() {
        let dir = tempfile::tempdir().unwrap();
        let url = database(dir.path());
        let (mut child, port, owner) = start(dir.path(), url.as_deref());
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let rx = Receiver::start();
        let created: Value = client
            .post(format!("{base}/v1/webhooks"))
            .bearer_auth(&owner)
            .json(&json!({"url": rx.url("crash"), "events": ["credits.granted"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // The first delivery hangs: the server dies with it in flight.
        rx.expect("crash", created["secret"].as_str().unwrap(), &[0]).await;
        let res = client
            .post(format!("{base}/api/v1/admin/credits"))
            .bearer_auth(&owner)
            .json(&json!({"amount": 7}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let first = rx.wait_for("crash", 1).await;
        child.kill().unwrap();
        child.wait().unwrap();

        // After the restart, once the dead worker's lease (a minute) has run out.
        let app = take_over(dir.path(), url).await;
        app.clock.advance(Duration::from_secs(120));
        let got = rx.wait_for("crash", 2).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[1]["id"], first[0]["id"], "the same event, the same webhook-id");
        assert_eq!(got[1]["verified"], true, "{}", got[1]);
        assert_eq!(got[1]["status"], 200);
        assert_eq!(got[1]["body"]["data"]["amount"], 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_kill_9_mid_request_leaves_no_change_without_its_record_nor_a_record_without_its_change() {
        let dir = tempfile::tempdir().unwrap();
        let url = database(dir.path());
        let (mut child, port, owner) = start(dir.path(), url.as_deref());
        let base = Arc::new(format!("http://127.0.0.1:{port}"));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..4 {
            let (client, base, owner, acknowledged) = (client.clone(), base.clone(), owner.clone(), acknowledged.clone());
            workers.push(tokio::spawn(async move {
                let mut made = Vec::new();
                loop {
                    let Ok(res) = client.post(format!("{base}/v1/team/provisions")).bearer_auth(&owner).json(&json!({})).send().await
                    else { return made };
                    let Ok(body) = res.json::<Value>().await else { return made };
                    let Some(id) = body["id"].as_str() else { return made };
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                    // Every other one is cancelled again: a second kind of change in flight.
                    if made.len() % 2 == 1 {
                        let _ = client.delete(format!("{base}/v1/team/provisions/{id}")).bearer_auth(&owner).send().await;
                    }
                    made.push(id.to_string());
                }
            }));
        }
        // Killed with requests in flight, once enough have been answered.
        while acknowledged.load(Ordering::Relaxed) < 60 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let mut answered = Vec::new();
        for w in workers {
            answered.extend(w.await.unwrap());
        }

        let app = take_over(dir.path(), url).await;
        for id in &answered {
            assert_eq!(app.count("SELECT COUNT(*) FROM provisions WHERE id = ?1", id), 1, "acknowledged {id} kept");
        }
        let q = |sql: &str| app.count(sql, "x");
        // Every provision has exactly one creation record of each kind, and each record its provision.
        assert_eq!(
            q("SELECT COUNT(*) FROM provisions p WHERE ?1 <> '' AND
                 (SELECT COUNT(*) FROM audit_log a WHERE a.action = 'provision.created' AND a.target_id = p.id) <> 1"),
            0
        );
        assert_eq!(
            q("SELECT COUNT(*) FROM provisions p WHERE ?1 <> '' AND
                 (SELECT COUNT(*) FROM events e WHERE e.type = 'provision.created'
                     AND e.data LIKE '%\"provisionId\":\"' || p.id || '\"%') <> 1"),
            0
        );
        assert_eq!(
            q("SELECT COUNT(*) FROM audit_log a WHERE ?1 <> '' AND a.action LIKE 'provision.%'
                 AND NOT EXISTS (SELECT 1 FROM provisions p WHERE p.id = a.target_id)"),
            0
        );
        assert_eq!(
            q("SELECT COUNT(*) FROM events e WHERE ?1 <> '' AND e.type LIKE 'provision.%' AND NOT EXISTS
                 (SELECT 1 FROM provisions p WHERE e.data LIKE '%\"provisionId\":\"' || p.id || '\"%')"),
            0
        );
        // A cancelled provision has its cancellation recorded, and only a cancelled one does.
        assert_eq!(
            q("SELECT COUNT(*) FROM provisions WHERE status = 'cancelled' AND ?1 <> ''"),
            q("SELECT COUNT(*) FROM audit_log WHERE action = 'provision.cancelled' AND ?1 <> ''")
        );
        assert_eq!(
            q("SELECT COUNT(*) FROM provisions WHERE status = 'cancelled' AND ?1 <> ''"),
            q("SELECT COUNT(*) FROM events WHERE type = 'provision.cancelled' AND ?1 <> ''")
        );
        assert!(q("SELECT COUNT(*) FROM provisions WHERE ?1 <> ''") >= 60);
        assert_eq!(app.dangling(), 0);
    }
}
