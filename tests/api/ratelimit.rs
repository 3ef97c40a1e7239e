//! Per-key and per-address limits on provisioning, create-user and log-in: 429, JSON (or the
//! log-in page), with Retry-After; nothing created when refused.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

async fn provision_raw(app: &TestApp, key: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/team/provisions", app.base))
        .bearer_auth(key)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
}

engine_tests! {
    #[tokio::test]
    async fn provisioning_is_limited_per_key_and_per_address() {
        let app = spawn_with(|s| s.provision_rate_limit = 3).await;
        let a = app.create_org("A", Some("a.com"), "owner@a.com");
        for _ in 0..3 {
            assert_eq!(provision_raw(&app, &a.owner.api_key).await.status(), StatusCode::CREATED);
        }
        let res = provision_raw(&app, &a.owner.api_key).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers().get("retry-after").unwrap(), "20", "one a minute / 3 = every 20 s");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limited");
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(
            app.count("SELECT COUNT(*) FROM provisions WHERE org_id = ?1", &a.id),
            3,
            "nothing created when refused"
        );

        // create-user shares the key's budget.
        app.post(
            "/api/v1/admin/set-provisioner",
            &a.owner.api_key,
            json!({"email": "owner@a.com", "is_provisioner": true}),
        )
        .await;
        let res = app.create_user_raw(&a.owner.api_key, Some("owner@a.com"), json!({"email": "x@y.com"})).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

        // Another key from the same address has its own budget, up to the address's (4 x 3 = 12).
        let b = app.create_org("B", None, "owner@b.com");
        for _ in 0..9 {
            assert_eq!(provision_raw(&app, &provisiond_key(&app, &b).await).await.status(), StatusCode::CREATED);
        }
        let res = provision_raw(&app, &b.owner.api_key).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "the address is out after 12");

        // Time refills the buckets.
        app.clock.advance(Duration::from_secs(20));
        assert_eq!(provision_raw(&app, &a.owner.api_key).await.status(), StatusCode::CREATED);
    }
}

/// A fresh admin key of organization `org` (each with its own per-key budget).
async fn provisiond_key(app: &TestApp, org: &Org) -> String {
    let n = app.count("SELECT COUNT(*) FROM users WHERE email LIKE ?1", "%@b.com");
    app.add_member(org, &format!("admin{n}@b.com"), provisiond::domain::Role::Admin).api_key
}

engine_tests! {
    #[tokio::test]
    async fn log_in_attempts_are_limited_per_address() {
        let app = spawn_with(|s| s.login_rate_limit = 2).await;
        app.org_with_password("Acme", "owner@acme.com", "owner password");
        let mut web = WebClient::new(&app);
        assert_eq!(web.login("a@acme.com", "whatever pw").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(web.login("b@acme.com", "whatever pw").await.status, StatusCode::UNAUTHORIZED);
        let r = web.login("owner@acme.com", "owner password").await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        // A token comes back every 30 s; the wall clock runs on between the tries (two password
        // checks on a busy machine can take a second or two), so the wait is 30 s or a little less.
        let wait: u64 = r.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
        assert!((27..=30).contains(&wait), "Retry-After {wait}");
        assert!(r.body.contains("Too many tries from your address"));
        app.clock.advance(Duration::from_secs(30));
        assert_eq!(web.login("owner@acme.com", "owner password").await.status, StatusCode::SEE_OTHER);
    }
}

engine_tests! {
    /// The throttle's keys are structured: an address typed to look like another address's key
    /// from one client (its separators included) counts only against itself, so failures under
    /// it, from many addresses, never hold up the owner's own client.
    #[tokio::test]
    async fn a_crafted_address_does_not_share_the_owners_throttle() {
        let app = spawn().await;
        app.org_with_password("Acme", "owner@acme.test", "owner password");
        let crafted = [
            "pair:owner@acme.test\u{0}127.0.0.1",
            "owner@acme.test\u{0}127.0.0.1",
            "pair:owner@acme.test:127.0.0.1",
            "address:owner@acme.test",
        ];
        let mut from = 2;
        for email in crafted {
            for _ in 0..12 {
                let mut web = WebClient::from_address(&app, &format!("127.0.0.{from}"));
                from += 1;
                let r = web.login(email, "a wrong guess").await;
                assert!(matches!(r.status.as_u16(), 401 | 429), "{email:?}: {} {}", r.status, r.body);
            }
        }
        let r = WebClient::new(&app).login("owner@acme.test", "owner password").await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "the owner, from 127.0.0.1, is not throttled (retry-after {:?})",
            r.headers.get("retry-after")
        );
    }
}
