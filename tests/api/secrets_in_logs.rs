//! Runs the real binary with RUST_LOG=debug through every flow that handles a secret (keys,
//! claim tokens, passwords, session cookies, webhook secrets and the server key), then checks that
//! none of them reached the log.

use crate::helpers::{self, claim_token, WebClient};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The server key, a secret too.
const SERVER_KEY: &str = "9f1c2ab04e7d36588c1e0f2a7b9d4c6e1f0a2b3c4d5e6f708192a3b4c5d6e7f8";

engine_tests! {
    #[tokio::test]
    async fn no_secret_reaches_the_debug_log() {
        no_secret_in_the_log().await
    }
}

async fn no_secret_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let out_path = dir.path().join("server.out");
    // On PostgreSQL, DATABASE_URL carries a password too (the test server trusts local
    // connections, so any password does): it must not reach the log either.
    let db_password = "s3cret-db-pw";
    let database_url = match helpers::engine() {
        helpers::Engine::Sqlite => String::new(),
        helpers::Engine::Postgres => format!("{}&password={db_password}", helpers::fresh_postgres()),
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .env_clear()
        .env("DATABASE_PATH", dir.path().join("p.db"))
        .env("DATABASE_URL", &database_url)
        .env("BIND", "127.0.0.1:0")
        .env("RUST_LOG", "debug")
        .env("BOOTSTRAP_EMAIL", "owner@acme.com")
        .env("SECRET_KEY", SERVER_KEY)
        .env("WEBHOOK_ALLOW_PRIVATE", "true")
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .spawn()
        .unwrap();
    let mut port = None;
    for _ in 0..200 {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(p) =
            log.split("(port ").nth(1).and_then(|r| r.split(')').next()).and_then(|p| p.parse::<u16>().ok())
        {
            port = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let port = port.expect("server started");
    let base = format!("http://127.0.0.1:{port}");
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let owner =
        stdout.split_whitespace().find(|w| w.starts_with("oc_")).expect("owner key printed").to_string();

    // Drive the flows through a TestApp-like client bound to this external server.
    let client = reqwest::Client::new();
    let mut secrets = vec![owner.clone(), db_password.to_string(), SERVER_KEY.to_string()];
    let post = |path: &str, key: &str, body: Value| {
        client.post(format!("{base}{path}")).bearer_auth(key).json(&body).send()
    };
    let p: Value = post("/v1/team/provisions", &owner, json!({})).await.unwrap().json().await.unwrap();
    secrets.push(p["apiKey"].as_str().unwrap().into());
    secrets.push(claim_token(&p));
    let r: Value = post("/v1/user/api-key/regenerate", p["apiKey"].as_str().unwrap(), json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(r["apiKey"].as_str().unwrap().into());
    // A webhook whose URL holds the receiver's own token (nothing listens there: every delivery
    // fails and is retried), its signing secret, and the secret after a rotation.
    let url_token = "rcv-token-8d1f44e0c2";
    let hook: Value = post(
        "/v1/webhooks",
        &owner,
        json!({"url": format!("http://127.0.0.1:9/hook?token={url_token}"), "events": ["*"]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    secrets.push(hook["secret"].as_str().expect("webhook created").into());
    secrets.push(url_token.into());
    let hook_id = hook["id"].as_str().unwrap();
    let rotated: Value = post(&format!("/v1/webhooks/{hook_id}/rotate-secret"), &owner, json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(rotated["secret"].as_str().unwrap().into());
    post(&format!("/v1/webhooks/{hook_id}/test"), &owner, json!({})).await.unwrap();
    // A failed request with a wrong key, and a malformed one.
    let wrong = format!("oc_{}", "ab".repeat(32));
    post("/v1/user", &wrong, json!({})).await.unwrap();
    secrets.push(wrong);

    // Web: sign up with a password, claim through the page, log in wrong and right.
    let app = helpers::ExternalApp { base: base.clone(), port };
    let mut web = WebClient::external(&app);
    let password = "correct horse battery staple";
    let signup = web.signup_claiming(&p, "nora@example.com", password).await;
    assert_eq!(signup.status, StatusCode::SEE_OTHER);
    secrets.push(password.into());
    secrets.push(web.cookie.clone().unwrap().trim_start_matches("provisiond_session=").to_string());
    let page = format!("/claim?token={}", claim_token(&p));
    assert_eq!(web.get(&page).await.status, StatusCode::OK);
    let csrf = web.csrf(&page).await;
    let claimed = web.post("/claim", &[("token", &claim_token(&p)), ("csrf", &csrf)]).await;
    assert_eq!(claimed.status, StatusCode::SEE_OTHER, "{}", claimed.body);
    let wrong_password = "tr0ub4dor&3 wrong guess";
    let mut other = WebClient::external(&app);
    assert_eq!(other.login("nora@example.com", wrong_password).await.status, StatusCode::UNAUTHORIZED);
    secrets.push(wrong_password.into());
    assert_eq!(other.login("nora@example.com", password).await.status, StatusCode::SEE_OTHER);

    // The test event's first attempt has failed by now (its record is in the delivery log).
    for _ in 0..200 {
        let log: Value = client
            .get(format!("{base}/v1/webhooks/{hook_id}/deliveries"))
            .bearer_auth(&owner)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if log["deliveries"].as_array().unwrap().iter().any(|d| d["attempts"].as_i64() > Some(0)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("DEBUG"), "the log really was at debug level");
    for line in [
        "POST /v1/webhooks 201",
        "POST /v1/team/provisions 201",
        "POST /claim 303",
        "POST /login 401",
        "GET /claim 200",
    ] {
        assert!(log.contains(line), "the log records the requests ({line}):\n{log}");
    }
    for s in &secrets {
        let leak = log.lines().find(|l| l.contains(s.as_str())).map(|l| l.replace(s.as_str(), "<SECRET>"));
        assert!(leak.is_none(), "a secret reached the log ({}…): {}", &s[..6], leak.unwrap_or_default());
        assert!(!std::fs::read_to_string(&out_path).unwrap().replace(&owner, "").contains(s.as_str()));
        if s.len() >= 64 {
            let tail = &s[s.len() - 64..];
            assert!(!log.contains(tail), "a secret's hex reached the log");
        }
    }
}
