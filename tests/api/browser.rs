//! End-to-end tests in headless Chromium (Debian's `chromium` at /usr/bin/chromium, or $CHROMIUM)
//! driven by playwright-core from Node: tests/e2e/browser.test.mjs. This test prepares the server
//! and the accounts; `npm ci` runs on first use (`install::npm`). Each run writes its screenshots
//! to a folder of its own when SCREENSHOT_DIR is set (the single server's into it, for the README;
//! the replicas' into its `replicas/`), so the two runs never overwrite each other's. Not
//! optional: without Chromium it fails.

use crate::helpers::*;
use provisiond::domain::{ProvisionRole, Role};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[tokio::test]
async fn claim_flow_and_dashboard_in_chromium() {
    let app = spawn_public().await;
    run_the_browser_tests(&app, None, None).await;
}

/// The same pages through one port in front of two replicas on PostgreSQL, each request at the
/// replica the previous one did not reach: sign-in, the claim flow and the show-once pages work
/// whichever replica answers.
#[tokio::test]
async fn claim_flow_and_dashboard_through_two_replicas() {
    let (a, b, proxy) = spawn_replicas_behind_one_port().await;
    run_the_browser_tests(&a, Some(&b), Some("replicas")).await;
    let served = proxy.served();
    assert!(served.iter().all(|&n| n >= 10), "both replicas answered the browser: {served:?}");
}

/// Runs tests/e2e/browser.test.mjs against `app`'s PUBLIC_URL, with accounts made on `app`; its
/// screenshots (when SCREENSHOT_DIR asks for them) go into `shots`, a folder of SCREENSHOT_DIR.
async fn run_the_browser_tests(app: &TestApp, other: Option<&TestApp>, shots: Option<&str>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    install::npm(&dir);
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is needed at {chromium}: apt-get install chromium (or set CHROMIUM)"
    );

    let acme = app.org_with_password("Acme Robotics", "admin@acme.test", "admin's password");
    app.org_with_password("Other Co", "existing@other.test", "existing's password");
    let k = acme.owner.api_key.clone();
    // Fifteen members: an admin and a member who sign in, one to promote, one to change and
    // remove, and eleven more; three of them spend credits over five days (about 160 uses), one
    // key is verified on three of them (one verification refused).
    app.add_member(&acme, "boss@acme.test", Role::Admin);
    app.set_password("boss@acme.test", "boss's password");
    app.add_member(&acme, "viewer@acme.test", Role::Member);
    app.set_password("viewer@acme.test", "viewer's password");
    let promote = app.add_member(&acme, "promote@acme.test", Role::Member);
    let member = app.add_member(&acme, "member@acme.test", Role::Member);
    let spenders: Vec<_> =
        (0..11).map(|i| app.add_member(&acme, &format!("m{i}@acme.test"), Role::Member)).collect();
    let (s, b) = app.post("/api/v1/admin/credits", &k, serde_json::json!({"amount": 1_000_000})).await;
    assert_eq!(s, 200, "{b}");
    let (_, old) = app.post("/v1/keys", &spenders[0].api_key, serde_json::json!({"name": "old"})).await;
    let old_key = old["apiKey"].as_str().unwrap().to_string();
    const CREDIT_DAYS: usize = 5;
    const VERIFY_DAYS: usize = 3;
    for (day, uses) in [40, 30, 50, 20, 20].into_iter().enumerate() {
        for n in 0..uses {
            let who = &spenders[n % 3];
            let body = serde_json::json!({"amount": 1.5 + (n % 4) as f64});
            let (s, b) = app.post("/api/v1/credits/consume", &who.api_key, body).await;
            assert_eq!(s, 200, "{b}");
        }
        if day + VERIFY_DAYS >= CREDIT_DAYS {
            let (s, v) =
                app.post("/v1/keys/verify", &k, serde_json::json!({"key": spenders[0].api_key})).await;
            assert_eq!((s.as_u16(), v["code"].as_str()), (200, Some("valid")), "{v}");
        }
        if day + 1 < CREDIT_DAYS {
            app.clock.advance(Duration::from_secs(86_400));
        }
    }
    let old_key_id = old["id"].as_str().unwrap().to_string();
    app.delete(&format!("/v1/keys/{old_key_id}"), &spenders[0].api_key).await;
    let (_, v) = app.post("/v1/keys/verify", &k, serde_json::json!({"key": old_key})).await;
    assert_eq!(v["code"], "revoked");
    for server in std::iter::once(app).chain(other) {
        provisiond::service::auth::flush_key_usage(&server.ctx).unwrap();
    }
    let (_, keys) = app.get(&format!("/v1/keys?userId={}", spenders[0].user_id), &k).await;
    let verified_key = keys["keys"].as_array().unwrap().iter().find(|x| x["name"].is_null()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A webhook endpoint whose deliveries fail (made past the URL check: it points at this
    // machine, where the server's own sender refuses to go), with one failed attempt of a test
    // event to look at and resend.
    let (webhook, event) = failing_endpoint(app, &k).await;
    // A provision whose week ran out a day ago, a cancelled one, and enough for three pages.
    let expired = app.provision_made_ago(&acme, Duration::from_secs(8 * 86_400), ProvisionRole::Member);
    let (_, cancelled) =
        app.post("/v1/team/provisions", &k, serde_json::json!({"email": "gone@acme.test"})).await;
    app.delete(&format!("/v1/team/provisions/{}", cancelled["id"].as_str().unwrap()), &k).await;
    const PROVISIONED: usize = 300;
    for i in 0..PROVISIONED {
        let body =
            serde_json::json!({"externalId": format!("ext-{i:04}"), "email": format!("p{i}@acme.test")});
        let (s, b) = app.post("/v1/team/provisions", &k, body).await;
        assert_eq!(s, 201, "{b}");
    }

    let mut cmd = Command::new("node");
    cmd.args(["--test", "--test-reporter=spec", "--test-timeout=900000", "browser.test.mjs"])
        .current_dir(&dir)
        .env("BASE_URL", &app.settings.public_url)
        .env("ADMIN_EMAIL", "admin@acme.test")
        .env("ADMIN_PASSWORD", "admin's password")
        .env("EXISTING_EMAIL", "existing@other.test")
        .env("EXISTING_PASSWORD", "existing's password")
        .env("EXPIRED_CLAIM_URL", format!("{}/claim?token={}", app.settings.public_url, expired.claim_token))
        .env("MEMBER_EMAIL", "member@acme.test")
        .env("MEMBER_ID", member.user_id.as_str())
        .env("MEMBER_KEY", &member.api_key)
        .env("PROMOTE_EMAIL", "promote@acme.test")
        .env("PROMOTE_ID", promote.user_id.as_str())
        .env("BOSS_EMAIL", "boss@acme.test")
        .env("BOSS_PASSWORD", "boss's password")
        .env("VIEWER_EMAIL", "viewer@acme.test")
        .env("VIEWER_PASSWORD", "viewer's password")
        .env("SPENDER_ID", spenders[0].user_id.as_str())
        .env("CREDIT_DAYS", CREDIT_DAYS.to_string())
        .env("VERIFY_DAYS", VERIFY_DAYS.to_string())
        .env("VERIFIED_KEY_ID", &verified_key)
        .env("REVOKED_KEY_ID", &old_key_id)
        .env("WEBHOOK_ID", &webhook)
        .env("EVENT_ID", &event)
        .env("PROVISIONED", PROVISIONED.to_string())
        .env("CHROMIUM", &chromium);
    if other.is_some() {
        // Rendering (layout, axe, dark mode) is the same whichever replica answers: checked once.
        cmd.env("RENDERING_CHECKS", "off");
    }
    if let Ok(dir) = std::env::var("SCREENSHOT_DIR") {
        let own = shots.map_or_else(|| PathBuf::from(&dir), |sub| Path::new(&dir).join(sub));
        std::fs::create_dir_all(&own).unwrap_or_else(|e| panic!("creating {}: {e}", own.display()));
        cmd.env("SCREENSHOT_DIR", own);
    }
    // Off this thread: the proxy in front of the replicas runs on this test's runtime.
    let out = tokio::task::spawn_blocking(move || binary::run(&mut cmd, None, Duration::from_secs(900)))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser tests failed (output above)");
    // The single server's run skips nothing; the replicas' run exactly the three rendering checks.
    let skipped = if other.is_some() { 3 } else { 0 };
    assert!(
        stdout.contains(&format!("skipped {skipped}\n")),
        "{skipped} browser tests skipped (output above)"
    );
    let ran = BROWSER_TESTS - skipped;
    assert!(stdout.contains(&format!("pass {ran}\n")), "all {ran} browser tests that ran passed");
}

/// How many tests tests/e2e/browser.test.mjs holds.
const BROWSER_TESTS: usize = 18;

/// An endpoint at this machine's own address, made with the URL check off (a copy of the
/// server's rules allowing private addresses), so the server's sender, which refuses such
/// addresses, fails its deliveries: one test event, waited for until its first attempt is
/// recorded. Returns the endpoint's id and the event's.
async fn failing_endpoint(app: &TestApp, key: &str) -> (String, String) {
    use provisiond::service::{auth, webhooks, Actor};
    let mut ctx = app.ctx.clone();
    ctx.rules = std::sync::Arc::new(provisiond::service::Rules {
        webhook_allow_private: true,
        ..(*app.ctx.rules).clone()
    });
    let caller = auth::authenticate(&ctx, key).await.unwrap();
    let input = webhooks::WebhookInput {
        url: Some("http://127.0.0.1:9/provisiond".into()),
        // Only what no seeding raises: its log holds the test event alone.
        events: Some(provisiond::domain::EventFilter::Only(vec![
            provisiond::domain::EventType::CreditsDepleted,
        ])),
        description: Some(Some("billing".into())),
        enabled: None,
    };
    let made = webhooks::create(&ctx, Actor::key(caller), input).await.unwrap();
    let id = made.endpoint.row.id.to_string();
    let (s, b) = app.post(&format!("/v1/webhooks/{id}/test"), key, serde_json::json!({})).await;
    assert_eq!(s, 202, "{b}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, log) = app.get(&format!("/v1/webhooks/{id}/deliveries"), key).await;
        let d = &log["deliveries"][0];
        if d["attempts"].as_i64().unwrap_or(0) >= 1 {
            return (id, d["id"].as_str().unwrap().to_string());
        }
        assert!(std::time::Instant::now() < deadline, "the test event was never attempted: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
