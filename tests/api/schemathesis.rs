//! schemathesis (PyPI, pinned) against the running server and its own /openapi.json, with an
//! owner key: no server errors, no response that violates the document, and the document's
//! rules enforced (tests/schemathesis/schemathesis.toml names the few checks the contract
//! overrides, and why). Installs schemathesis into a venv on first run; needs python3.

use crate::helpers::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[tokio::test]
async fn openapi_document_covers_every_api_route() {
    let app = spawn().await;
    let res = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/healthz", "get"),
        ("/v1/team/provisions", "post"),
        ("/v1/team/provisions", "get"),
        ("/v1/team/provisions/{id}", "get"),
        ("/v1/team/provisions/{id}", "delete"),
        ("/v1/team/provisions/{id}/claim-link", "post"),
        ("/v1/agents", "post"),
        ("/v1/agents", "get"),
        ("/v1/agents/{id}", "delete"),
        ("/v1/members", "get"),
        ("/v1/members/{userId}", "patch"),
        ("/v1/members/{userId}", "delete"),
        ("/v1/keys", "get"),
        ("/v1/keys", "post"),
        ("/v1/keys/verify", "post"),
        ("/v1/keys/{id}", "delete"),
        ("/v1/keys/{id}/rotate", "post"),
        ("/v1/user", "get"),
        ("/v1/user/api-key/regenerate", "post"),
        ("/v1/provisions/claim", "post"),
        ("/api/v1/admin/create-user", "post"),
        ("/api/v1/admin/set-provisioner", "post"),
        ("/api/v1/admin/credits", "post"),
        ("/api/v1/credits/balance", "get"),
        ("/api/v1/credits/consume", "post"),
        ("/api/v1/credits/usage", "get"),
        ("/api/v1/credits/ledger", "get"),
        ("/api/v1/admin/credit-limits/{userId}", "put"),
        ("/v1/audit-logs", "get"),
        ("/v1/events", "get"),
        ("/v1/webhooks", "post"),
        ("/v1/webhooks", "get"),
        ("/v1/webhooks/{id}", "get"),
        ("/v1/webhooks/{id}", "patch"),
        ("/v1/webhooks/{id}", "delete"),
        ("/v1/webhooks/{id}/rotate-secret", "post"),
        ("/v1/webhooks/{id}/deliveries", "get"),
        ("/v1/webhooks/{id}/test", "post"),
        ("/v1/webhooks/{id}/deliveries/{deliveryId}/resend", "post"),
        ("/v1/audit-logs/export", "get"),
        ("/v1/scim/settings", "get"),
        ("/v1/scim/settings", "put"),
        ("/scim/v2/ServiceProviderConfig", "get"),
        ("/scim/v2/ResourceTypes", "get"),
        ("/scim/v2/ResourceTypes/{id}", "get"),
        ("/scim/v2/Schemas", "get"),
        ("/scim/v2/Schemas/{id}", "get"),
        ("/scim/v2/.search", "post"),
        ("/scim/v2/Users", "get"),
        ("/scim/v2/Users", "post"),
        ("/scim/v2/Users/.search", "post"),
        ("/scim/v2/Users/{id}", "get"),
        ("/scim/v2/Users/{id}", "put"),
        ("/scim/v2/Users/{id}", "patch"),
        ("/scim/v2/Users/{id}", "delete"),
        ("/scim/v2/Groups", "get"),
        ("/scim/v2/Groups", "post"),
        ("/scim/v2/Groups/.search", "post"),
        ("/scim/v2/Groups/{id}", "get"),
        ("/scim/v2/Groups/{id}", "put"),
        ("/scim/v2/Groups/{id}", "patch"),
        ("/scim/v2/Groups/{id}", "delete"),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} documented");
        let responses = op["responses"].as_object().unwrap();
        if path == "/scim/v2/.search" {
            // Searching every resource type at once is not offered: 501, as RFC 7644 §3.4.3 allows.
            assert!(responses.contains_key("501"), "{method} {path} documents 501");
        } else {
            assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path} has a success response");
        }
        if path != "/healthz" {
            for s in ["400", "401", "429", "503"] {
                assert!(responses.contains_key(s), "{method} {path} documents {s}");
            }
        }
        // SCIM answers as application/scim+json, its errors too.
        if path.starts_with("/scim/v2/") {
            for (status, r) in responses {
                if status != "204" {
                    assert!(
                        r["content"]["application/scim+json"].is_object(),
                        "{method} {path} {status}: {r}"
                    );
                }
            }
        }
    }
    assert_eq!(paths.len(), 45, "no undocumented extras: {:?}", paths.keys().collect::<Vec<_>>());
}

// On both engines: a value PostgreSQL refuses where SQLite stores it must be a 400, never a 500.
engine_tests! {
    #[tokio::test]
    async fn schemathesis_finds_nothing() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
        // Both engines' runs start together: one installs, the other waits for it.
        let st = install::venv(&dir).join("schemathesis");
        // Provisioning is rate-limited per key; the fuzzer provisions hundreds of times with one.
        // Webhook URLs it makes up are taken without resolving them (no DNS waits).
        let app = spawn_with(|s| {
            s.provision_rate_limit = 0;
            s.webhook_allow_private = true;
        })
        .await;
        let org = app.create_org("Acme", Some("acme.com"), "owner@acme.com");
        // SCIM (/scim/v2) is the SCIM token's alone: its routes get a run of their own with it.
        let scim_token = crate::scim::scim_token(&app, &org).await;
        let url = format!("{}/openapi.json", app.base);
        let auth = format!("Authorization: Bearer {}", org.owner.api_key);
        // Revoking or rotating a key found through GET /v1/keys (the stateful phase follows such
        // links) could revoke the fuzzer's own key and lock it out of everything after; those two
        // operations get a second run of their own, without the stateful phase.
        let key_by_id = ["/v1/keys/{id}", "/v1/keys/{id}/rotate"];
        // The same seed on both engines generated the same inputs twice. Each engine fuzzes with a
        // seed of its own and half the examples: between them, the 50 distinct inputs per operation
        // one engine had, in half the time. The coverage phase (boundary values) runs whole on both.
        let seed = match engine() {
            Engine::Sqlite => "42",
            Engine::Postgres => "4242",
        };
        let run = move |scope: Vec<&'static str>, auth: String| {
            let (st, dir, url) = (st.clone(), dir.clone(), url.clone());
            async move {
                tokio::task::spawn_blocking(move || {
                    binary::run(
                        Command::new(st)
                            .current_dir(&dir)
                            .args(["--config-file", "schemathesis.toml", "run", &url, "-H", &auth])
                            .args(scope)
                            .args(["--max-examples", "25", "--seed", seed])
                            .env("NO_COLOR", "1"),
                        None,
                        Duration::from_secs(1200),
                    )
                })
                .await
                .unwrap()
            }
        };
        let mut everything_else = vec![
            // Rotating the key would lock the fuzzer out; tests/agents_and_user.rs covers it.
            "--exclude-path",
            "/v1/user/api-key/regenerate",
            "--exclude-path-regex",
            "^/scim/v2/",
        ];
        for path in key_by_id {
            everything_else.extend(["--exclude-path", path]);
        }
        let mut keys_by_id = vec!["--phases", "examples,coverage,fuzzing"];
        for path in key_by_id {
            keys_by_id.extend(["--include-path", path]);
        }
        let scim = vec!["--include-path-regex", "^/scim/v2/"];
        let scim_auth = format!("Authorization: Bearer {scim_token}");
        for (scope, auth, operations) in
            [(everything_else, auth.clone(), 39), (keys_by_id, auth, 2), (scim, scim_auth, 20)]
        {
            let out = run(scope, auth).await;
            let stdout = String::from_utf8_lossy(&out.stdout);
            println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "schemathesis found problems (output above)");
            assert!(
                stdout.contains(&format!("Tested: {operations}"))
                    || stdout.contains(&format!("{operations} selected")),
                "all {operations} operations were tested"
            );
        }
    }
}
