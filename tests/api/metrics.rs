//! `/metrics` (parsed with the official Prometheus Python client's parser, pinned and installed
//! into tests/metrics/.venv on first run), its labels bounded whatever clients send,
//! `X-Request-Id`, and LOG_FORMAT=json.

use crate::helpers::binary::{self, Binary};
use crate::helpers::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The exposition text parsed by prometheus_client: family name → {type, samples}.
fn parse(text: &str) -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/metrics");
    let python = install::venv(&dir).join("python");
    let out =
        binary::run(Command::new(&python).arg(dir.join("parse.py")), Some(text), Duration::from_secs(60));
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

/// The value of the sample `name` whose labels include `labels` (0 when there is none: a family
/// with labels is not written until something is counted under them, and each server has a
/// registry of its own).
fn sample(families: &Value, family: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    families[family]["samples"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
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

    /// Each server has a registry of its own: two in one process (as tests run) never count
    /// into each other, and one's scrape sets no gauge of the other's.
    #[tokio::test]
    async fn each_server_counts_only_its_own() {
        let a = spawn_with(|s| s.metrics = true).await;
        let b = spawn_with(|s| s.metrics = true).await;
        let org = a.create_org("Acme", None, "owner@acme.com");
        a.provision(&org.owner.api_key).await;
        a.get("/v1/user", &org.owner.api_key).await;
        let on_a = parse(&scrape(&a, None).await.text().await.unwrap());
        let on_b = parse(&scrape(&b, None).await.text().await.unwrap());
        let users = |f: &Value| sample(f, "provisiond_http_requests", "provisiond_http_requests_total", &[("route", "/v1/user")]);
        assert_eq!(users(&on_a), 1.0);
        assert_eq!(users(&on_b), 0.0, "b answered no /v1/user");
        let pending = |f: &Value| sample(f, "provisiond_provisions", "provisiond_provisions", &[("status", "pending")]);
        assert_eq!(pending(&on_a), 1.0);
        assert_eq!(pending(&on_b), 0.0);
        let again = parse(&scrape(&a, None).await.text().await.unwrap());
        assert_eq!(pending(&again), 1.0, "b's scrape did not reset a's gauges");
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
    let server = Binary::start(dir.path(), &[("LOG_FORMAT", "json")]);
    let owner = server.owner_key();
    let res = reqwest::Client::new()
        .post(format!("{}/v1/team/provisions", server.base))
        .bearer_auth(&owner)
        .header("X-Request-Id", "test-req-42")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let text = server.stop().log;
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
    let bad =
        binary::run(binary::command().env("LOG_FORMAT", "yaml").arg("--help"), None, binary::COMMAND_TIMEOUT);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("LOG_FORMAT"));
}

/// The real binary on a fresh SQLite file, with no access lines (a flood's would be 80 MB).
fn quiet_binary(dir: &Path, envs: &[(&str, &str)]) -> Binary {
    let mut all = vec![("RUST_LOG", "info,access=warn")];
    all.extend_from_slice(envs);
    Binary::start(dir, &all)
}

/// Sends each request of `requests` in turn over kept-alive connections (a new one when the
/// server closes one) and returns the answers' status codes and bodies. Raw TCP: an HTTP
/// client library may refuse the methods the flood sends.
fn send_all(server: &Binary, requests: impl Iterator<Item = String>) -> Vec<(u16, Vec<u8>)> {
    let connect = || {
        let s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        BufReader::new(s)
    };
    let mut conn = connect();
    let mut answers = Vec::new();
    for request in requests {
        conn.get_mut().write_all(request.as_bytes()).unwrap();
        let (status, body, close) = read_response(&mut conn);
        answers.push((status, body));
        if close {
            conn = connect();
        }
    }
    answers
}

/// One HTTP/1.1 response: status, body (Content-Length framed) and whether the server closes.
fn read_response(conn: &mut BufReader<TcpStream>) -> (u16, Vec<u8>, bool) {
    let mut line = String::new();
    conn.read_line(&mut line).expect("a response within 30 s");
    let status: u16 =
        line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status line {line:?}"));
    let (mut length, mut close) = (None, false);
    loop {
        line.clear();
        conn.read_line(&mut line).unwrap();
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse::<usize>().ok(),
            "connection" => close = value.trim().eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = vec![0; length.unwrap_or_else(|| panic!("no Content-Length with {status}"))];
    conn.read_exact(&mut body).unwrap();
    (status, body, close)
}

/// A request to `path` with a method of its own: about 4,000 characters, unique to `n`.
fn odd_method(n: usize, path: &str) -> String {
    format!("M{n:08}{} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "X".repeat(3991))
}

/// Floods `server` with 20,000 requests to /healthz, each with a method of its own, from four
/// connections at once; returns how much resident memory grew.
fn flood(server: &Binary) -> u64 {
    // Warm up first: the workers' buffers, the database's pool and caches are not the flood's.
    let warm =
        send_all(server, (0..200).map(|_| "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_string()));
    assert!(warm.iter().all(|(s, _)| *s == 200));
    let before = server.rss();
    std::thread::scope(|scope| {
        for part in 0..4 {
            scope.spawn(move || {
                let answers =
                    send_all(server, (part * 5_000..(part + 1) * 5_000).map(|n| odd_method(n, "/healthz")));
                assert!(answers.iter().all(|(s, _)| *s == 405), "GET only");
            });
        }
    });
    server.rss().saturating_sub(before)
}

const MIB: u64 = 1024 * 1024;

/// No client-sent string becomes a label: with METRICS off, a flood of invented methods costs
/// nothing that stays (it was 444 MiB for good when every request was counted by its method).
#[test]
fn a_flood_of_invented_methods_leaves_memory_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = quiet_binary(dir.path(), &[]);
    let grew = flood(&server);
    assert!(grew < 32 * MIB, "resident memory grew by {} MiB", grew / MIB);
    let (status, _) =
        &send_all(&server, std::iter::once("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".into()))[0];
    assert_eq!(*status, 404, "metrics are off");
}

/// With METRICS on, methods outside the standard set count as one label, `OTHER`: the scrape
/// stays small and memory with it.
#[test]
fn invented_methods_count_as_other() {
    let dir = tempfile::tempdir().unwrap();
    let server = quiet_binary(dir.path(), &[("METRICS", "true")]);
    let grew = flood(&server);
    assert!(grew < 32 * MIB, "resident memory grew by {} MiB", grew / MIB);
    let scrape = send_all(&server, std::iter::once("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".into()));
    let (status, body) = &scrape[0];
    assert_eq!(*status, 200);
    assert!(body.len() < 64 * 1024, "the scrape is {} bytes", body.len());
    let text = String::from_utf8_lossy(body);
    assert!(
        text.contains(
            r#"provisiond_http_requests_total{method="OTHER",route="/healthz",status="405"} 20000"#
        ),
        "{text}"
    );
    assert!(!text.contains("M0000"), "no invented method is a label");
}
