//! The outbox under `kill -9`: a delivery in flight when the server dies is delivered after the
//! restart (same `webhook-id`); provisions killed mid-request leave neither a change without
//! its event and audit row nor an event or row without its change. On both engines: the real
//! binary is killed, a server on the same database takes over.

use crate::helpers::binary::Binary;
use crate::helpers::receiver::Receiver;
use crate::helpers::*;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The binary on `dir/p.db` (SQLite) or `url` (PostgreSQL); the owner key it printed.
fn start(dir: &Path, url: Option<&str>) -> (Binary, String) {
    let mut envs = vec![("PROVISION_RATE_LIMIT", "0"), ("WEBHOOK_ALLOW_PRIVATE", "true")];
    if let Some(url) = url {
        envs.extend([("DATABASE_URL", url), ("SECRET_KEY", TEST_SECRET_KEY)]);
    }
    let server = Binary::start(dir, &envs);
    let owner = server.owner_key();
    (server, owner)
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
        let (server, owner) = start(dir.path(), url.as_deref());
        let base = server.base.clone();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
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
        server.kill();

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
        let (server, owner) = start(dir.path(), url.as_deref());
        let base = Arc::new(server.base.clone());
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..4 {
            let (client, base, owner, acknowledged) = (client.clone(), base.clone(), owner.clone(), acknowledged.clone());
            workers.push(tokio::spawn(async move {
                // (made, cancelled): provisions answered 201, cancellations answered 204.
                let (mut made, mut cancelled) = (Vec::new(), Vec::new());
                loop {
                    let Ok(res) = client.post(format!("{base}/v1/team/provisions")).bearer_auth(&owner).json(&json!({})).send().await
                    else { return (made, cancelled) };
                    let status = res.status();
                    let Ok(body) = res.json::<Value>().await else { return (made, cancelled) };
                    if status == 503 {
                        continue; // the contract's "try again"
                    }
                    assert_eq!(status, 201, "a live server provisions: {body}");
                    let id = body["id"].as_str().expect("a provision id").to_string();
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                    made.push(id.clone());
                    // Every other one is cancelled again: a second kind of change in flight.
                    if made.len() % 2 == 0 {
                        let Ok(res) = client.delete(format!("{base}/v1/team/provisions/{id}")).bearer_auth(&owner).send().await
                        else { return (made, cancelled) };
                        let status = res.status();
                        // An answer cut off by the kill says nothing; a whole one must be 204.
                        let Ok(text) = res.text().await else { return (made, cancelled) };
                        assert_eq!(status, 204, "a live server cancels a pending provision: {text}");
                        cancelled.push(id);
                    }
                }
            }));
        }
        // Killed with requests in flight, once enough have been answered.
        let deadline = Instant::now() + Duration::from_secs(120);
        while acknowledged.load(Ordering::Relaxed) < 60 {
            assert!(!workers.iter().any(|w| w.is_finished()), "a worker stopped while the server ran");
            assert!(Instant::now() < deadline, "60 provisions answered within 120 s: {}", acknowledged.load(Ordering::Relaxed));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill();
        let (mut answered, mut cancelled) = (Vec::new(), Vec::new());
        for w in workers {
            // Each worker's next request fails at once (5 s client timeout at most).
            let (made, gone) =
                tokio::time::timeout(Duration::from_secs(30), w).await.expect("workers stop once the server is gone").unwrap();
            answered.extend(made);
            cancelled.extend(gone);
        }
        // Every other answered provision was cancelled: the comparisons below are about real rows.
        assert!(cancelled.len() >= 20, "cancellations answered 204 before the kill: {}", cancelled.len());

        let app = take_over(dir.path(), url).await;
        for id in &answered {
            assert_eq!(app.count("SELECT COUNT(*) FROM provisions WHERE id = ?1", id), 1, "acknowledged {id} kept");
        }
        let q = |sql: &str| app.count(sql, "x");
        // An event names provision p: in its own data, or in the audit row it reads its data from
        // (schema.sql, events).
        let names_p = "(e.data LIKE '%\"provisionId\":\"' || p.id || '\"%'
                        OR (e.data = '' AND EXISTS (SELECT 1 FROM audit_log a WHERE a.n = e.audit_n AND a.target_id = p.id)))";
        // Every provision has exactly one creation record of each kind, and each record its provision.
        assert_eq!(
            q("SELECT COUNT(*) FROM provisions p WHERE ?1 <> '' AND
                 (SELECT COUNT(*) FROM audit_log a WHERE a.action = 'provision.created' AND a.target_id = p.id) <> 1"),
            0
        );
        assert_eq!(
            q(&format!("SELECT COUNT(*) FROM provisions p WHERE ?1 <> '' AND
                 (SELECT COUNT(*) FROM events e WHERE e.type = 'provision.created' AND {names_p}) <> 1")),
            0
        );
        assert_eq!(
            q("SELECT COUNT(*) FROM audit_log a WHERE ?1 <> '' AND a.action LIKE 'provision.%'
                 AND NOT EXISTS (SELECT 1 FROM provisions p WHERE p.id = a.target_id)"),
            0
        );
        assert_eq!(
            q(&format!("SELECT COUNT(*) FROM events e WHERE ?1 <> '' AND e.type LIKE 'provision.%' AND NOT EXISTS
                 (SELECT 1 FROM provisions p WHERE {names_p})")),
            0
        );
        for id in &cancelled {
            assert_eq!(
                app.count("SELECT COUNT(*) FROM provisions WHERE id = ?1 AND status = 'cancelled'", id),
                1,
                "acknowledged cancellation of {id} kept"
            );
        }
        let cancelled_rows = q("SELECT COUNT(*) FROM provisions WHERE status = 'cancelled' AND ?1 <> ''");
        assert!(cancelled_rows >= cancelled.len() as i64, "{cancelled_rows} cancelled rows");
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
