//! The official `@onecli-sh/sdk` (pinned in tests/sdk/package-lock.json), unmodified, against
//! the real server. Installs the package with `npm ci` when it is missing (`install::npm`), so
//! `cargo test` alone runs it on a fresh machine that has Node.js and npm.

use crate::helpers::*;
use provisiond::domain::Role;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[tokio::test]
async fn the_official_sdk_works_unmodified() {
    let app = spawn().await;
    run_the_sdk(&app, &app.base).await;
}

/// The same, through one port in front of two replicas on PostgreSQL: every request of the SDK
/// reaches the replica the previous one did not.
#[tokio::test]
async fn the_official_sdk_works_through_two_replicas() {
    let (a, _b, proxy) = spawn_replicas_behind_one_port().await;
    run_the_sdk(&a, &format!("http://127.0.0.1:{}", proxy.port)).await;
    let served = proxy.served();
    assert!(served.iter().all(|&n| n >= 3), "both replicas answered the SDK: {served:?}");
}

/// Runs tests/sdk/sdk.test.mjs against `base`, with keys made on `app`.
async fn run_the_sdk(app: &TestApp, base: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk");
    install::npm(&dir);
    let org = app.create_org("Acme", None, "owner@acme.com");
    let member = app.add_member(&org, "member@acme.com", Role::Member);

    let base = base.to_string();
    // Off this thread: the proxy in front of the replicas runs on this test's runtime.
    let out = tokio::task::spawn_blocking(move || {
        binary::run(
            Command::new("node")
                .args(["--test", "--test-reporter=spec", "sdk.test.mjs"])
                .current_dir(&dir)
                .env("ONECLI_URL", &base)
                .env("OWNER_KEY", &org.owner.api_key)
                .env("MEMBER_KEY", &member.api_key)
                .env_remove("ONECLI_API_KEY"),
            None,
            Duration::from_secs(300),
        )
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the SDK tests failed (output above)");
    assert!(stdout.contains("pass 3"), "all three SDK tests ran and passed");
}
