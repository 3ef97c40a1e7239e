//! kill -9 under concurrent provisioning, several times: every provision whose 201 was received
//! survives with a working key; the database is intact, with no orphan rows.

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn start(db: &Path, log: &Path, out: &Path) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .env_clear()
        .env("DATABASE_PATH", db)
        .env("BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("PROVISION_RATE_LIMIT", "0")
        .stdout(Stdio::from(std::fs::File::create(out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    for _ in 0..400 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(p) =
            text.split("(port ").nth(1).and_then(|r| r.split(')').next()).and_then(|p| p.parse().ok())
        {
            return (child, p);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start: {}", std::fs::read_to_string(log).unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_provisions_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let (log, out) = (dir.path().join("log"), dir.path().join("out"));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut owner = String::new();

    for round in 0..3 {
        let (mut child, port) = start(&db, &log, &out);
        if round == 0 {
            owner = std::fs::read_to_string(&out)
                .unwrap()
                .split_whitespace()
                .find(|w| w.starts_with("oc_"))
                .unwrap()
                .into();
        }
        let base = format!("http://127.0.0.1:{port}");
        // Everything acknowledged before this crash must be there after the restart.
        let so_far = acknowledged.lock().unwrap().clone();
        verify(&client, &base, &owner, &so_far).await;

        let before = acknowledged.lock().unwrap().len();
        let done = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..16)
            .map(|_| {
                let (client, base, owner, acked, done) =
                    (client.clone(), base.clone(), owner.clone(), acknowledged.clone(), done.clone());
                tokio::spawn(async move {
                    // Until the server dies under us.
                    while let Ok(res) = client
                        .post(format!("{base}/v1/team/provisions"))
                        .bearer_auth(&owner)
                        .json(&serde_json::json!({}))
                        .send()
                        .await
                    {
                        if res.status() != 201 {
                            continue;
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
        while done.load(Ordering::Relaxed) < 300 {
            tokio::task::yield_now().await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for w in workers {
            w.await.unwrap();
        }
        assert!(acknowledged.lock().unwrap().len() >= before + 300);
    }

    let (mut child, port) = start(&db, &log, &out);
    let all = acknowledged.lock().unwrap().clone();
    verify(&client, &format!("http://127.0.0.1:{port}"), &owner, &all).await;
    child.kill().unwrap();
    child.wait().unwrap();

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
