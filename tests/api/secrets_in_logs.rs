//! Runs the real binary with RUST_LOG=debug through every flow that handles a secret (keys made,
//! verified, rotated and regenerated, claim tokens and their renewal, passwords, session cookies,
//! mailed links, the SMTP password, the metrics token, webhook secrets and the server key), each
//! answered as it should be, then checks that none of them reached the log.

use crate::helpers::binary::Binary;
use crate::helpers::smtp::SmtpSink;
use crate::helpers::{self, claim_token, s, WebClient, PUBLIC_URL};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

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
    // On PostgreSQL, DATABASE_URL carries a password too (the test server trusts local
    // connections, so any password does): it must not reach the log either.
    let db_password = "s3cret-db-pw";
    let database_url = match helpers::engine() {
        helpers::Engine::Sqlite => String::new(),
        helpers::Engine::Postgres => format!("{}&password={db_password}", helpers::fresh_postgres()),
    };
    // Mail goes through a sink that wants a login: the password in SMTP_URL is really used.
    let smtp_password = "smtp-pw-3c9a71e2";
    let mail = SmtpSink::start_with_login("mailer", smtp_password);
    let smtp_url = format!("smtp://mailer:{smtp_password}@127.0.0.1:{}", mail.port());
    let metrics_token = "metrics-token-5b1f0e77d2";
    let server = Binary::start(
        dir.path(),
        &[
            ("DATABASE_URL", &database_url),
            ("RUST_LOG", "debug"),
            ("BOOTSTRAP_EMAIL", "owner@acme.com"),
            ("SECRET_KEY", SERVER_KEY),
            ("WEBHOOK_ALLOW_PRIVATE", "true"),
            ("PUBLIC_URL", PUBLIC_URL),
            ("SMTP_URL", &smtp_url),
            ("MAIL_FROM", "provisiond <noreply@provisiond.test>"),
            ("METRICS", "true"),
            ("METRICS_TOKEN", metrics_token),
        ],
    );
    let (base, port) = (server.base.clone(), server.port);
    let owner = server.owner_key();

    // Drive the flows through a TestApp-like client bound to this external server.
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut secrets = vec![
        owner.clone(),
        db_password.to_string(),
        SERVER_KEY.to_string(),
        smtp_password.to_string(),
        metrics_token.to_string(),
    ];
    // Each call's status is checked: a flow refused early never reaches the code that could log.
    let send = |req: reqwest::RequestBuilder, expected: u16| async move {
        let res = req.send().await.unwrap();
        let (status, text) = (res.status().as_u16(), res.text().await.unwrap());
        assert_eq!(status, expected, "{text}");
        serde_json::from_str::<Value>(&text).unwrap_or(Value::Null)
    };
    let post = |path: &str, key: &str, body: Value, expected: u16| {
        send(client.post(format!("{base}{path}")).bearer_auth(key).json(&body), expected)
    };
    let p = post("/v1/team/provisions", &owner, json!({}), 201).await;
    secrets.push(s(&p["apiKey"]).into());
    secrets.push(claim_token(&p));
    let r = post("/v1/user/api-key/regenerate", s(&p["apiKey"]), json!({}), 200).await;
    secrets.push(s(&r["apiKey"]).into());
    // A key made, verified, then rotated.
    let made = post("/v1/keys", &owner, json!({"name": "ci"}), 201).await;
    secrets.push(s(&made["apiKey"]).into());
    let verified = post("/v1/keys/verify", &owner, json!({"key": s(&made["apiKey"])}), 200).await;
    assert_eq!(verified["valid"], true, "{verified}");
    let rotated_key = post(&format!("/v1/keys/{}/rotate", s(&made["id"])), &owner, json!({}), 201).await;
    secrets.push(s(&rotated_key["apiKey"]).into());
    let verified = post("/v1/keys/verify", &owner, json!({"key": s(&rotated_key["apiKey"])}), 200).await;
    assert_eq!(verified["valid"], true, "{verified}");
    // A claim link renewed: the new token is a secret too (the old one stops working).
    let renewed_for = post("/v1/team/provisions", &owner, json!({}), 201).await;
    secrets.push(s(&renewed_for["apiKey"]).into());
    secrets.push(claim_token(&renewed_for));
    let renewed =
        post(&format!("/v1/team/provisions/{}/claim-link", s(&renewed_for["id"])), &owner, json!({}), 200)
            .await;
    secrets.push(claim_token(&renewed));
    assert_ne!(claim_token(&renewed), claim_token(&renewed_for));
    // A webhook whose URL holds the receiver's own token (nothing listens there: every delivery
    // fails and is retried), its signing secret, and the secret after a rotation.
    let url_token = "rcv-token-8d1f44e0c2";
    let hook = post(
        "/v1/webhooks",
        &owner,
        json!({"url": format!("http://127.0.0.1:9/hook?token={url_token}"), "events": ["*"]}),
        201,
    )
    .await;
    secrets.push(hook["secret"].as_str().expect("webhook created").into());
    secrets.push(url_token.into());
    let hook_id = hook["id"].as_str().unwrap();
    let rotated = post(&format!("/v1/webhooks/{hook_id}/rotate-secret"), &owner, json!({}), 200).await;
    secrets.push(rotated["secret"].as_str().unwrap().into());
    post(&format!("/v1/webhooks/{hook_id}/test"), &owner, json!({}), 202).await;
    // A refused request with a wrong key (GET /v1/user authenticates: 401, not 405), one with a
    // malformed key, and a verification of a wrong key.
    let wrong = format!("oc_{}", "ab".repeat(32));
    send(client.get(format!("{base}/v1/user")).bearer_auth(&wrong), 401).await;
    let malformed = "not-a-key-7f3e9d0c1b2a";
    send(client.get(format!("{base}/v1/user")).bearer_auth(malformed), 401).await;
    let verified = post("/v1/keys/verify", &owner, json!({"key": wrong}), 200).await;
    assert_eq!(verified["valid"], false, "{verified}");
    secrets.push(wrong);
    secrets.push(malformed.into());
    // The metrics token: refused when wrong, the scrape when right.
    let wrong_token = "metrics-token-wrong-0a9d";
    send(client.get(format!("{base}/metrics")).bearer_auth(wrong_token), 401).await;
    let scrape = client.get(format!("{base}/metrics")).bearer_auth(metrics_token).send().await.unwrap();
    assert_eq!(scrape.status(), 200);
    secrets.push(wrong_token.into());

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

    // A mailed link: a password reset, sent over SMTP with the password, used once.
    let forgot = WebClient::external(&app).post("/password/forgot", &[("email", "nora@example.com")]).await;
    assert_eq!(forgot.status, StatusCode::OK);
    // Other mail (the sign-up's verification) may come first, on the mail thread's own time.
    let deadline = Instant::now() + Duration::from_secs(20);
    let link = loop {
        let reset_link =
            |m: &crate::helpers::smtp::Mail| m.link(&format!("{PUBLIC_URL}/password/reset?token="));
        if let Some(link) = mail.mails().iter().find_map(reset_link) {
            break link;
        }
        assert!(Instant::now() < deadline, "a password reset mail within 20 s: {:?}", mail.raw_log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The login as it went over the wire (base64 of the password) is a secret too.
    let login = mail.raw_log().into_iter().find_map(|l| l.strip_prefix("AUTH PLAIN ").map(str::to_string));
    secrets.push(login.expect("the server logged in to SMTP"));
    let reset_token = link[link.len() - 64..].to_string();
    let new_password = "a brand new passphrase 42";
    let reset = WebClient::external(&app)
        .post("/password/reset", &[("token", &reset_token), ("password", new_password)])
        .await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER, "{}", reset.body);
    secrets.push(reset_token);
    // Every link mailed (the sign-up's verification among them) holds a token.
    for m in mail.mails() {
        let body = m.body();
        for (at, _) in body.match_indices("token=") {
            let token: String = body[at + 6..].chars().take_while(char::is_ascii_hexdigit).collect();
            assert_eq!(token.len(), 64, "a mailed token: {body}");
            secrets.push(token);
        }
    }
    secrets.push(new_password.into());
    assert_eq!(
        WebClient::external(&app).login("nora@example.com", new_password).await.status,
        StatusCode::SEE_OTHER
    );

    // The test event's first attempt has failed by now (its record is in the delivery log).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log =
            send(client.get(format!("{base}/v1/webhooks/{hook_id}/deliveries")).bearer_auth(&owner), 200)
                .await;
        if log["deliveries"].as_array().unwrap().iter().any(|d| d["attempts"].as_i64() > Some(0)) {
            break;
        }
        assert!(Instant::now() < deadline, "the test event was attempted within 30 s: {log}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let stopped = server.stop();
    let (log, stdout) = (stopped.log, stopped.stdout);
    assert!(log.contains("DEBUG"), "the log really was at debug level");
    for line in [
        "POST /v1/webhooks 201",
        "POST /v1/team/provisions 201",
        "POST /claim 303",
        "POST /login 401",
        "GET /claim 200",
        "POST /v1/keys 201",
        "POST /v1/keys/verify 200",
        "GET /v1/user 401",
        "GET /metrics 401",
        "GET /metrics 200",
        "POST /password/reset 303",
    ] {
        assert!(log.contains(line), "the log records the requests ({line}):\n{log}");
    }
    for s in &secrets {
        let leak = log.lines().find(|l| l.contains(s.as_str())).map(|l| l.replace(s.as_str(), "<SECRET>"));
        assert!(leak.is_none(), "a secret reached the log ({}…): {}", &s[..6], leak.unwrap_or_default());
        assert!(!stdout.replace(&owner, "").contains(s.as_str()), "a secret reached stdout ({}…)", &s[..6]);
        if s.len() >= 64 {
            let tail = &s[s.len() - 64..];
            assert!(!log.contains(tail), "a secret's hex reached the log");
        }
    }
}
