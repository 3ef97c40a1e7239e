//! `/metrics` (parsed with the official Prometheus Python client's parser, pinned and installed
//! into tests/metrics/.venv on first run), `X-Request-Id`, and LOG_FORMAT=json.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const PROMETHEUS_CLIENT: &str = "prometheus-client==0.21.1";

/// The exposition text parsed by prometheus_client: family name → {type, samples}.
fn parse(text: &str) -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/metrics");
    let python = dir.join(".venv/bin/python");
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    {
        let _installing = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
        if !python.exists() {
            let ok = Command::new("python3").args(["-m", "venv"]).arg(dir.join(".venv")).status();
            assert!(ok.expect("python3 is needed for this test").success(), "python3 -m venv failed");
            let out = Command::new(dir.join(".venv/bin/pip"))
                .args(["install", "-q", PROMETHEUS_CLIENT])
                .output()
                .unwrap();
            assert!(out.status.success(), "pip install failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    let mut child = Command::new(&python)
        .arg(dir.join("parse.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the text: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(format!("{}/metrics", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// The value of the sample `name` whose labels include `labels` (0 when there is none).
fn sample(families: &Value, family: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    families[family]["samples"]
        .as_array()
        .unwrap_or_else(|| panic!("no family {family}: {families}"))
        .iter()
        .filter(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][k] == *v))
        .map(|s| s["value"].as_f64().unwrap())
        .sum()
}

engine_tests! {
    #[tokio::test]
    async fn metrics_are_off_unless_asked_for() {
        let app = spawn().await;
        let (s, body) = app.get("/metrics", "").await;
        assert_eq!(s, 404);
        assert_eq!(body["error"]["code"], "not_found");
    }

    #[tokio::test]
    async fn the_scrape_parses_and_its_series_move() {
        let app = spawn_with(|s| s.metrics = true).await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = org.owner.api_key.clone();
        let first = parse(&scrape(&app, None).await.text().await.unwrap());
        let p = app.provision(&k).await;
        let cancelled = app.provision(&k).await;
        app.delete(&format!("/v1/team/provisions/{}", cancelled["id"].as_str().unwrap()), &k).await;
        app.get(&format!("/v1/team/provisions/{}", p["id"].as_str().unwrap()), &k).await;
        app.get("/v1/user", &k).await;
        app.get("/v1/user", &k).await;
        app.sweep();
        let res = scrape(&app, None).await;
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        let text = res.text().await.unwrap();
        let now = parse(&text);

        assert_eq!(now["provisiond_http_requests"]["type"], "counter");
        assert_eq!(now["provisiond_http_request_duration_seconds"]["type"], "histogram");
        let created = |f: &Value| {
            sample(f, "provisiond_http_requests", "provisiond_http_requests_total", &[("route", "/v1/team/provisions"), ("status", "201"), ("method", "POST")])
        };
        assert!(created(&now) >= created(&first) + 2.0, "two provisions counted");
        assert!(sample(&now, "provisiond_http_requests", "provisiond_http_requests_total", &[("route", "/v1/team/provisions/{id}"), ("method", "GET")]) >= 1.0);
        assert!(!text.contains(p["id"].as_str().unwrap()), "route templates, never ids, in labels");
        assert!(sample(&now, "provisiond_http_request_duration_seconds", "provisiond_http_request_duration_seconds_count", &[("route", "/v1/user")]) >= 2.0);
        let hits = |f: &Value| sample(f, "provisiond_key_cache_hits", "provisiond_key_cache_hits_total", &[]);
        assert!(hits(&now) > hits(&first), "the key cache answered");
        assert!(sample(&now, "provisiond_key_cache_misses", "provisiond_key_cache_misses_total", &[]) >= 1.0);
        assert!(sample(&now, "provisiond_db_commit_seconds", "provisiond_db_commit_seconds_count", &[]) > 0.0);
        assert!(sample(&now, "provisiond_db_write_batch_size", "provisiond_db_write_batch_size_count", &[]) > 0.0);
        assert!(sample(&now, "provisiond_sweep_duration_seconds", "provisiond_sweep_duration_seconds_count", &[]) >= 1.0);
        assert_eq!(now["provisiond_provisions"]["type"], "gauge");
        // Provisions by status are the database's, as of the scrape.
        assert!(sample(&now, "provisiond_provisions", "provisiond_provisions", &[("status", "pending")]) >= 1.0);
        assert!(sample(&now, "provisiond_provisions", "provisiond_provisions", &[("status", "cancelled")]) >= 1.0);
        assert_eq!(now["provisiond_webhook_deliveries_pending"]["type"], "gauge");
        assert!(now.get("provisiond_webhook_delivery_failures").is_some());
        assert!(now.get("provisiond_webhook_deliveries_delivered").is_some());
    }

    #[tokio::test]
    async fn a_metrics_token_guards_the_scrape() {
        let app = spawn_with(|s| {
            s.metrics = true;
            s.metrics_token = Some("scrape-secret-1".into());
        })
        .await;
        for token in [None, Some("wrong"), Some("scrape-secret-")] {
            let res = scrape(&app, token).await;
            assert_eq!(res.status(), 401, "{token:?}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "invalid_metrics_token");
        }
        let res = scrape(&app, Some("scrape-secret-1")).await;
        assert_eq!(res.status(), 200);
        parse(&res.text().await.unwrap());
    }

    #[tokio::test]
    async fn request_ids_are_echoed_or_made() {
        let app = spawn().await;
        let send = |id: Option<&str>| {
            let mut req = app.client.get(format!("{}/healthz", app.base));
            if let Some(id) = id {
                req = req.header("X-Request-Id", id);
            }
            req.send()
        };
        let res = send(Some("client-req.42:a_b-c")).await.unwrap();
        assert_eq!(res.headers()["x-request-id"], "client-req.42:a_b-c");
        let made = send(None).await.unwrap().headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
        for bad in ["has space", "quote\"", &"x".repeat(129)] {
            let got = send(Some(bad)).await.unwrap().headers()["x-request-id"].to_str().unwrap().to_string();
            assert!(uuid::Uuid::parse_str(&got).is_ok(), "{bad:?} replaced, got {got}");
        }
        // Errors and pages carry it too.
        let res = app.client.get(format!("{}/v1/nope", app.base)).header("X-Request-Id", "r-404").send().await.unwrap();
        assert_eq!(res.headers()["x-request-id"], "r-404");
    }
}

/// The real binary with LOG_FORMAT=json: every line is a JSON object, and the request's lines
/// carry its id.
#[tokio::test]
async fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let (log, out) = (dir.path().join("log"), dir.path().join("out"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .env_clear()
        .env("DATABASE_PATH", dir.path().join("p.db"))
        .env("BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let mut port = None;
    for _ in 0..400 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(p) =
            text.split("(port ").nth(1).and_then(|r| r.split(')').next()).and_then(|p| p.parse::<u16>().ok())
        {
            port = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let port = port.expect("server started");
    let owner = std::fs::read_to_string(&out)
        .unwrap()
        .split_whitespace()
        .find(|w| w.starts_with("oc_"))
        .unwrap()
        .to_string();
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/team/provisions"))
        .bearer_auth(&owner)
        .header("X-Request-Id", "test-req-42")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l}")))
        .collect();
    assert!(lines.iter().all(|l| l["ts"].is_string() && l["level"].is_string() && l["msg"].is_string()));
    let access = lines
        .iter()
        .find(|l| l["msg"].as_str().unwrap().contains("POST /v1/team/provisions 201"))
        .unwrap_or_else(|| panic!("the access line: {text}"));
    assert_eq!(access["request_id"], "test-req-42");
    assert!(!text.contains(&owner), "no key in the log");
    let bad = Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .env("LOG_FORMAT", "yaml")
        .arg("--help")
        .output()
        .unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("LOG_FORMAT"));
}
