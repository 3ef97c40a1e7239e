//! kill -9 under concurrent provisioning, several times: every provision whose 201 was received
//! survives with a working key; the database is intact, with no orphan rows.

use crate::helpers::binary::Binary;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary on `dir/p.db`, with no rate limit on provisioning.
fn start(dir: &Path) -> Binary {
    Binary::start(dir, &[("PROVISION_RATE_LIMIT", "0")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_provisions_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut owner = String::new();

    for round in 0..3 {
        let server = start(dir.path());
        if round == 0 {
            owner = server.owner_key();
        }
        let base = server.base.clone();
        // Everything acknowledged before this crash must be there after the restart.
        let so_far = acknowledged.lock().unwrap().clone();
        verify(&client, &base, &owner, &so_far).await;

        let before = acknowledged.lock().unwrap().len();
        let done = Arc::new(AtomicUsize::new(0));
        // Answers other than 201 and 503 (the contract's "try again"): each stops its worker.
        let refused: Arc<Mutex<Vec<String>>> = Arc::default();
        let workers: Vec<_> = (0..16)
            .map(|_| {
                let (client, base, owner, acked, done, refused) = (
                    client.clone(),
                    base.clone(),
                    owner.clone(),
                    acknowledged.clone(),
                    done.clone(),
                    refused.clone(),
                );
                tokio::spawn(async move {
                    // Until the server dies under us.
                    while let Ok(res) = client
                        .post(format!("{base}/v1/team/provisions"))
                        .bearer_auth(&owner)
                        .json(&serde_json::json!({}))
                        .send()
                        .await
                    {
                        if res.status() == 503 {
                            continue;
                        }
                        if res.status() != 201 {
                            let status = res.status();
                            let text = res.text().await.unwrap_or_default();
                            refused.lock().unwrap().push(format!("{status}: {text}"));
                            break;
                        }
                        let Ok(p) = res.json::<Value>().await else { break };
                        acked
                            .lock()
                            .unwrap()
                            .push((p["id"].as_str().unwrap().into(), p["apiKey"].as_str().unwrap().into()));
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // Kill mid-burst, once a few hundred have been acknowledged.
        let deadline = Instant::now() + Duration::from_secs(120);
        while done.load(Ordering::Relaxed) < 300 {
            let refused = refused.lock().unwrap().clone();
            assert!(refused.is_empty(), "provisioning answered other than 201: {refused:?}");
            assert!(
                Instant::now() < deadline,
                "300 provisions acknowledged within 120 s (round {round}): {}",
                done.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill(); // SIGKILL
        for w in workers {
            // Each worker's next request fails at once (5 s client timeout at most).
            tokio::time::timeout(Duration::from_secs(30), w)
                .await
                .expect("workers stop once the server is gone")
                .unwrap();
        }
        let refused = refused.lock().unwrap().clone();
        assert!(refused.is_empty(), "provisioning answered other than 201: {refused:?}");
        assert!(acknowledged.lock().unwrap().len() >= before + 300);
    }

    let server = start(dir.path());
    let all = acknowledged.lock().unwrap().clone();
    verify(&client, &server.base, &owner, &all).await;
    server.kill();

    let conn = rusqlite::Connection::open(&db).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    let fk_problems: i64 =
        conn.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
    assert_eq!(fk_problems, 0);
    for (what, sql) in [
        ("placeholder without a provision", "SELECT COUNT(*) FROM users u WHERE u.status = 'placeholder' AND NOT EXISTS (SELECT 1 FROM provisions p WHERE p.user_id = u.id)"),
        ("key without a user", "SELECT COUNT(*) FROM api_keys k WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.n = k.user_n)"),
        ("key without a project", "SELECT COUNT(*) FROM api_keys k WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.n = k.project_n)"),
        ("pending provision without its user", "SELECT COUNT(*) FROM provisions p WHERE p.status = 'pending' AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.user_id)"),
        ("half a provision (no agent)", "SELECT COUNT(*) FROM provisions p WHERE p.status = 'pending' AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = p.agent_id)"),
    ] {
        let n: i64 = conn.query_row(sql, [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0, "{what}");
    }
    let total: i64 = conn.query_row("SELECT COUNT(*) FROM provisions", [], |r| r.get(0)).unwrap();
    assert!(total as usize >= acknowledged.lock().unwrap().len());
}

async fn verify(client: &reqwest::Client, base: &str, owner: &str, acked: &[(String, String)]) {
    for (id, key) in acked {
        let res =
            client.get(format!("{base}/v1/team/provisions/{id}")).bearer_auth(owner).send().await.unwrap();
        assert_eq!(res.status(), 200, "acknowledged provision {id} lost");
        let res = client.get(format!("{base}/v1/user")).bearer_auth(key).send().await.unwrap();
        assert_eq!(res.status(), 200, "acknowledged key of {id} does not work");
    }
}
