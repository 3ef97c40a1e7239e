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
    run_the_browser_tests(&app, None).await;
}

/// The same pages through one port in front of two replicas on PostgreSQL, each request at the
/// replica the previous one did not reach: sign-in, the claim flow and the show-once pages work
/// whichever replica answers.
#[tokio::test]
async fn claim_flow_and_dashboard_through_two_replicas() {
    let (a, _b, proxy) = spawn_replicas_behind_one_port().await;
    run_the_browser_tests(&a, Some("replicas")).await;
    let served = proxy.served();
    assert!(served.iter().all(|&n| n >= 10), "both replicas answered the browser: {served:?}");
}

/// Runs tests/e2e/browser.test.mjs against `app`'s PUBLIC_URL, with accounts made on `app`; its
/// screenshots (when SCREENSHOT_DIR asks for them) go into `shots`, a folder of SCREENSHOT_DIR.
async fn run_the_browser_tests(app: &TestApp, shots: Option<&str>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    install::npm(&dir);
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is needed at {chromium}: apt-get install chromium (or set CHROMIUM)"
    );

    let acme = app.org_with_password("Acme Robotics", "admin@acme.test", "admin's password");
    app.org_with_password("Other Co", "existing@other.test", "existing's password");
    // A provision whose week ran out a day ago.
    let expired = app.provision_made_ago(&acme, Duration::from_secs(8 * 86_400), ProvisionRole::Member);
    // A member to promote and remove, and enough provisions for three pages.
    let member = app.add_member(&acme, "member@acme.test", Role::Member);
    const PROVISIONED: usize = 250;
    for i in 0..PROVISIONED {
        let body =
            serde_json::json!({"externalId": format!("ext-{i:04}"), "email": format!("p{i}@acme.test")});
        let (s, b) = app.post("/v1/team/provisions", &acme.owner.api_key, body).await;
        assert_eq!(s, 201, "{b}");
    }

    let mut cmd = Command::new("node");
    cmd.args(["--test", "--test-reporter=spec", "--test-timeout=120000", "browser.test.mjs"])
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
        .env("PROVISIONED", PROVISIONED.to_string())
        .env("CHROMIUM", &chromium);
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
    assert!(stdout.contains("pass 9"), "all nine browser tests ran and passed");
}
