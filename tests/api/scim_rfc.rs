//! scim2-tester (PyPI `scim2-tester`, Yaal Coop's checker of RFC 7643/7644 servers), pinned with
//! everything it pulls in by tests/scim/requirements.txt and installed into tests/scim/.venv
//! through the suite's one locked installer, against the running server on each engine: every
//! check of discovery, CRUD, attribute projection and PATCH add/remove/replace on every attribute
//! (the enterprise extension's included) for Users and Groups; none may be ERROR or CRITICAL.

use crate::helpers::*;
use crate::scim::scim_token;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

engine_tests! {
    #[tokio::test]
    async fn scim2_tester_finds_no_error() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scim");
        // Both engines' runs start together: one installs, the other waits for it.
        let bin = install::venv(&dir);
        // PUBLIC_URL is the server's own address: the checker follows meta.location and $ref.
        let app = spawn_public().await;
        let org = app.create_org("Acme", Some("acme.com"), "owner@acme.com");
        let token = scim_token(&app, &org).await;
        let base = format!("{}/scim/v2", app.base);
        let out = tokio::task::spawn_blocking(move || {
            binary::run(
                Command::new(bin.join("python")).current_dir(&dir).args(["check.py", &base, &token]).env("NO_COLOR", "1"),
                None,
                Duration::from_secs(600),
            )
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "scim2-tester reported ERROR or CRITICAL results (output above)");
        let summary = stdout.lines().find(|l| l.starts_with("summary:")).expect("a summary line");
        assert!(!summary.contains("ERROR") && !summary.contains("CRITICAL"), "{summary}");
        // It ran the whole suite: discovery and both resource types, well over a hundred checks.
        let successes: usize =
            summary.split(", ").find_map(|p| p.strip_prefix("summary: SUCCESS=").or(p.strip_prefix("SUCCESS="))).and_then(|n| n.parse().ok()).unwrap_or(0);
        assert!(successes >= 100, "{summary}");
        for part in ["[User] check_replace_attribute", "[Group] check_add_attribute", "access_schema_by_id", "random_url"] {
            assert!(stdout.contains(part), "{part} checked");
        }
    }
}
