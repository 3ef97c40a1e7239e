//! Orchestrator provisioning (the OpenFunnel seed) and shared domain credit pools.

use crate::helpers::*;
use provisiond::domain::{Credits, Role};
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Orchestrator {
    org: Org,
}

/// `guy@orchestrator.com` owns `orchestrator.com`, with provisioner access and `credits` in the pool.
async fn orchestrator(app: &TestApp, credits: &str) -> Orchestrator {
    let org = app.create_org("Orchestrator", Some("orchestrator.com"), "guy@orchestrator.com");
    let (s, _) = app
        .post(
            "/api/v1/admin/set-provisioner",
            &org.owner.api_key,
            json!({"email": "GUY@orchestrator.com", "is_provisioner": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    if credits != "0" {
        let amount: Value = serde_json::from_str(credits).unwrap();
        let (s, b) = app
            .post("/api/v1/admin/credits", &org.owner.api_key, json!({"amount": amount, "reason": "test"}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    Orchestrator { org }
}

engine_tests! {
    #[tokio::test]
    async fn the_seed_example_verbatim() {
        let app = spawn().await;
        let o = orchestrator(&app, "0").await;
        let (status, body) = app
            .create_user(
                &o.org.owner.api_key,
                Some("guy@orchestrator.com"),
                json!({"email": "alice@alice-startup.com"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["email"], "alice@orchestrator.com");
        assert_uuid(&body["id"]);
        app.assert_key(&body["api_key"]);
        assert_eq!(body.as_object().unwrap().len(), 3, "exactly id, email, api_key: {body}");

        // The returned key works at once, as an active, API-only member of the orchestrator's org.
        let (status, me) = app.get("/v1/user", body["api_key"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["id"], body["id"]);
        assert_eq!(me["email"], "alice@orchestrator.com");
        assert_eq!(me["status"], "active");
        assert_eq!(me["apiOnly"], true);
        assert_eq!(me["role"], "member");
        assert_eq!(me["isProvisioner"], false);
        assert_eq!(me["organizationId"], o.org.id.as_str());
        assert_ne!(me["projectId"], o.org.owner.project_id.as_str(), "its own project");
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE id = ?1 AND api_only = TRUE", body["id"].as_str().unwrap()), 1);
        assert_eq!(
            app.count(
                "SELECT COUNT(*) FROM users WHERE password_hash IS NULL AND id = ?1",
                body["id"].as_str().unwrap()
            ),
            1
        );
    }
}

engine_tests! {
    #[tokio::test]
    async fn email_mapping_is_lowercase_and_keeps_addresses_already_on_the_domain() {
        let app = spawn().await;
        let o = orchestrator(&app, "0").await;
        let k = &o.org.owner.api_key;
        let (s, b) =
            app.create_user(k, Some("Guy@Orchestrator.COM"), json!({"email": "Bob.Smith+x@Example.ORG"})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(b["email"], "bob.smith+x@orchestrator.com");
        let (s, b) =
            app.create_user(k, Some("guy@orchestrator.com"), json!({"email": "carol@orchestrator.com"})).await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(b["email"], "carol@orchestrator.com");
        // Taken, whatever the case or the original domain.
        for email in ["alice@a.com", "ALICE@b.org"] {
            let got = app.create_user(k, Some("guy@orchestrator.com"), json!({"email": email})).await;
            if email == "alice@a.com" {
                assert_eq!(got.0, StatusCode::CREATED);
            } else {
                assert_error(got, 409, "user_exists");
            }
        }
        assert_error(
            app.create_user(k, Some("guy@orchestrator.com"), json!({"email": "Carol@x.io"})).await,
            409,
            "user_exists",
        );
        // The orchestrator itself is taken too.
        assert_error(
            app.create_user(k, Some("guy@orchestrator.com"), json!({"email": "guy@gmail.com"})).await,
            409,
            "user_exists",
        );
    }
}

engine_tests! {
    #[tokio::test]
    async fn every_refusal() {
        let app = spawn().await;
        let o = orchestrator(&app, "0").await;
        let k = o.org.owner.api_key.clone();
        let ok_body = json!({"email": "alice@alice-startup.com"});

        // X-User-ID missing, empty, someone else, a near miss.
        assert_error(app.create_user(&k, None, ok_body.clone()).await, 403, "user_id_mismatch");
        assert_error(app.create_user(&k, Some(""), ok_body.clone()).await, 403, "user_id_mismatch");
        assert_error(
            app.create_user(&k, Some("eve@orchestrator.com"), ok_body.clone()).await,
            403,
            "user_id_mismatch",
        );
        assert_error(
            app.create_user(&k, Some("guy@orchestrator.co"), ok_body.clone()).await,
            403,
            "user_id_mismatch",
        );

        // Keys without provisioner access: an admin, a member, an API-only user, a placeholder.
        let admin = app.add_member(&o.org, "admin@orchestrator.com", Role::Admin);
        let member = app.add_member(&o.org, "member@orchestrator.com", Role::Member);
        assert_error(
            app.create_user(&admin.api_key, Some("admin@orchestrator.com"), ok_body.clone()).await,
            403,
            "not_a_provisioner",
        );
        assert_error(
            app.create_user(&member.api_key, Some("member@orchestrator.com"), ok_body.clone()).await,
            403,
            "not_a_provisioner",
        );
        let (_, api_user) =
            app.create_user(&k, Some("guy@orchestrator.com"), json!({"email": "bot@x.com"})).await;
        let api_key = api_user["api_key"].as_str().unwrap();
        assert_error(
            app.create_user(api_key, Some("bot@orchestrator.com"), ok_body.clone()).await,
            403,
            "not_a_provisioner",
        );
        let p = app.provision(&k).await;
        assert_error(
            app.create_user(p["apiKey"].as_str().unwrap(), Some("guy@orchestrator.com"), ok_body.clone()).await,
            403,
            "not_a_provisioner",
        );
        // No key at all.
        let res = app
            .client
            .post(format!("{}/api/v1/admin/create-user", app.base))
            .header("X-User-ID", "guy@orchestrator.com")
            .json(&ok_body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

        // A provisioner flag can be switched off again: refused from the next request on.
        let (s, m) = app
            .post("/api/v1/admin/set-provisioner", &k, json!({"user_id": member.user_id, "is_provisioner": true}))
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            m,
            json!({"id": member.user_id, "email": "member@orchestrator.com", "role": "member", "is_provisioner": true})
        );
        assert_eq!(
            app.create_user(&member.api_key, Some("member@orchestrator.com"), json!({"email": "m1@x.com"}))
                .await
                .0,
            StatusCode::CREATED
        );
        app.post(
            "/api/v1/admin/set-provisioner",
            &k,
            json!({"user_id": member.user_id, "is_provisioner": false}),
        )
        .await;
        assert_error(
            app.create_user(&member.api_key, Some("member@orchestrator.com"), json!({"email": "m2@x.com"})).await,
            403,
            "not_a_provisioner",
        );

        // Only an owner switches the flag; members of other organizations are not found.
        assert_error(
            app.post(
                "/api/v1/admin/set-provisioner",
                &admin.api_key,
                json!({"email": "member@orchestrator.com", "is_provisioner": true}),
            )
            .await,
            403,
            "insufficient_role",
        );
        let other = app.create_org("Other", None, "x@other.com");
        assert_error(
            app.post(
                "/api/v1/admin/set-provisioner",
                &k,
                json!({"email": "x@other.com", "is_provisioner": true}),
            )
            .await,
            404,
            "not_found",
        );
        assert_error(
            app.post("/api/v1/admin/set-provisioner", &k, json!({"email": "member@orchestrator.com"})).await,
            400,
            "invalid_field",
        );
        assert_error(
            app.post("/api/v1/admin/set-provisioner", &k, json!({"is_provisioner": true})).await,
            400,
            "invalid_field",
        );

        // An organization without a domain cannot map anyone.
        app.post(
            "/api/v1/admin/set-provisioner",
            &other.owner.api_key,
            json!({"email": "x@other.com", "is_provisioner": true}),
        )
        .await;
        assert_error(
            app.create_user(&other.owner.api_key, Some("x@other.com"), ok_body.clone()).await,
            409,
            "no_domain",
        );
    }
}

engine_tests! {
    #[tokio::test]
    async fn invalid_emails_get_invalid_email() {
        let app = spawn().await;
        let o = orchestrator(&app, "0").await;
        let k = &o.org.owner.api_key;
        let long_local = format!("{}@example.com", "a".repeat(65));
        let over_254 = format!(
            "{}@{}.com",
            "a".repeat(60),
            ["b".repeat(60), "c".repeat(60), "d".repeat(60), "e".repeat(60)].join(".")
        );
        assert!(over_254.len() > 254);
        let cases: Vec<Value> = vec![
            json!(""),
            json!("alice"),
            json!("@example.com"),
            json!("alice@"),
            json!("al ice@example.com"),
            json!(" alice@example.com"),
            json!("alice@example.com "),
            json!("alice@@example.com"),
            json!("a@b@example.com"),
            json!("alice@example"),
            json!("alice@-bad.com"),
            json!(".alice@example.com"),
            json!("alice.@example.com"),
            json!("al..ice@example.com"),
            json!("al\"ice@example.com"),
            json!("al(ice)@example.com"),
            json!("alice@exa mple.com"),
            json!("alice\n@example.com"),
            json!(long_local),
            json!(over_254),
        ];
        for email in cases {
            let got = app.create_user(k, Some("guy@orchestrator.com"), json!({ "email": email })).await;
            assert_error(got, 400, "invalid_email");
        }
        assert_error(app.create_user(k, Some("guy@orchestrator.com"), json!({})).await, 400, "invalid_email");
        assert_error(
            app.create_user(k, Some("guy@orchestrator.com"), json!({"email": 5})).await,
            400,
            "invalid_field",
        );
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE api_only = TRUE AND email <> ?1", ""), 0, "nothing was created");
    }
}

async fn balance(app: &TestApp, key: &str) -> Value {
    let (s, b) = app.get("/api/v1/credits/balance", key).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

engine_tests! {
    #[tokio::test]
    async fn the_pool_is_shared_by_the_domain_and_never_overdrawn() {
        let app = spawn().await;
        let o = orchestrator(&app, "10").await;
        let k = &o.org.owner.api_key;
        let (_, alice) = app.create_user(k, Some("guy@orchestrator.com"), json!({"email": "alice@a.com"})).await;
        let (_, bob) = app.create_user(k, Some("guy@orchestrator.com"), json!({"email": "bob@b.com"})).await;
        let (alice, bob) =
            (alice["api_key"].as_str().unwrap().to_string(), bob["api_key"].as_str().unwrap().to_string());

        let (s, b) =
            app.post("/api/v1/credits/consume", &alice, json!({"amount": 2.5, "reason": "search"})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b, json!({"total_credits": 10, "credits_used": 2.5, "credits_left": 7.5}));
        let (s, _) = app.post("/api/v1/credits/consume", &bob, json!({"amount": 1.25})).await;
        assert_eq!(s, StatusCode::OK);
        for key in [k, &alice, &bob] {
            assert_eq!(
                balance(&app, key).await,
                json!({"total_credits": 10, "credits_used": 3.75, "credits_left": 6.25})
            );
        }

        // Overdraw: refused, nothing debited, nothing in the ledger.
        let ledger_before = app.count("SELECT COUNT(*) FROM credit_ledger WHERE org_id = ?1", &o.org.id);
        assert_error(
            app.post("/api/v1/credits/consume", &bob, json!({"amount": 6.251})).await,
            402,
            "credits_exceeded",
        );
        assert_eq!(balance(&app, k).await["credits_left"], json!(6.25));
        assert_eq!(app.count("SELECT COUNT(*) FROM credit_ledger WHERE org_id = ?1", &o.org.id), ledger_before);
        // Exactly what is left still goes through.
        let (s, b) = app.post("/api/v1/credits/consume", &bob, json!({"amount": 6.25})).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["credits_left"], json!(0));

        // Usage per user, for the orchestrator; an API-only member may not see it.
        let (s, u) = app.get("/api/v1/credits/usage", k).await;
        assert_eq!(s, StatusCode::OK, "{u}");
        assert_eq!(u["credits_used"], json!(10));
        let users = u["users"].as_array().unwrap();
        assert_eq!(users.len(), 2);
        // Listed by user id (a stable order for paging), not by amount.
        let used_by = |email: &str| users.iter().find(|x| x["email"] == email).map(|x| x["credits_used"].clone());
        assert_eq!(used_by("bob@orchestrator.com"), Some(json!(7.5)));
        assert_eq!(used_by("alice@orchestrator.com"), Some(json!(2.5)));
        assert_error(app.get("/api/v1/credits/usage", &alice).await, 403, "insufficient_role");

        // Another organization's pool is separate.
        let other = app.create_org("Other", None, "x@other.com");
        assert_eq!(
            balance(&app, &other.owner.api_key).await,
            json!({"total_credits": 0, "credits_used": 0, "credits_left": 0})
        );
        assert_error(
            app.post("/api/v1/credits/consume", &other.owner.api_key, json!({"amount": 0.001})).await,
            402,
            "credits_exceeded",
        );
    }
}

engine_tests! {
    #[tokio::test]
    async fn bad_amounts_and_grants() {
        let app = spawn().await;
        let o = orchestrator(&app, "5").await;
        let k = &o.org.owner.api_key;
        for body in [
            json!({}),
            json!({"amount": 0}),
            json!({"amount": -1}),
            json!({"amount": 0.0001}),
            json!({"amount": 1.2345}),
            json!({"amount": "2"}),
            json!({"amount": 1e300}),
            json!({"amount": 1, "reason": 5}),
            json!({"amount": 1, "reason": "r".repeat(501)}),
        ] {
            assert_error(app.post("/api/v1/credits/consume", k, body.clone()).await, 400, "invalid_field");
            assert_error(app.post("/api/v1/admin/credits", k, body).await, 400, "invalid_field");
        }
        assert_eq!(balance(&app, k).await["total_credits"], json!(5));
        let admin = app.add_member(&o.org, "admin@orchestrator.com", Role::Admin);
        assert_error(
            app.post("/api/v1/admin/credits", &admin.api_key, json!({"amount": 1})).await,
            403,
            "insufficient_role",
        );
        let (s, b) = app.post("/api/v1/admin/credits", k, json!({"amount": 0.005})).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["total_credits"], json!(5.005));
        // The largest pool is a hard ceiling.
        assert_error(
            app.post("/api/v1/admin/credits", k, json!({"amount": 1_000_000_000_000u64})).await,
            409,
            "pool_full",
        );
        assert_eq!(app.count("SELECT COUNT(*) FROM credit_ledger WHERE kind = ?1", "grant"), 2);
    }
}

engine_tests! {
    #[tokio::test]
    async fn a_hundred_concurrent_consumptions_take_exactly_what_the_pool_covers() {
        let app = spawn().await;
        // 37 whole debits of 0.27 fit in 10 (9.99), the 38th does not.
        let o = orchestrator(&app, "10").await;
        let k = o.org.owner.api_key.clone();
        let futures = (0..100).map(|_| {
            let client = app.client.clone();
            let url = format!("{}/api/v1/credits/consume", app.base);
            let k = k.clone();
            async move {
                client.post(url).bearer_auth(k).json(&json!({"amount": 0.27})).send().await.unwrap().status()
            }
        });
        let statuses = futures::future::join_all(futures).await;
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let refused = statuses.iter().filter(|s| **s == StatusCode::PAYMENT_REQUIRED).count();
        assert_eq!((ok, refused), (37, 63), "{statuses:?}");
        assert_eq!(
            balance(&app, &k).await,
            json!({"total_credits": 10, "credits_used": 9.99, "credits_left": 0.01})
        );
        assert_eq!(app.count("SELECT COUNT(*) FROM credit_ledger WHERE kind = ?1", "consume"), 37);
        assert_eq!(app.count("SELECT CAST(SUM(amount) AS BIGINT) FROM credit_ledger WHERE kind = ?1", "consume"), 9_990);
    }
}

engine_tests! {
    #[tokio::test]
    async fn many_small_debits_add_up_exactly() {
        let app = spawn().await;
        let o = orchestrator(&app, "1").await;
        let k = &o.org.owner.api_key;
        // 0.001 and 0.1 are not exact in binary floating point; a float pool would drift.
        for _ in 0..100 {
            let (s, _) = app.post("/api/v1/credits/consume", k, json!({"amount": 0.001})).await;
            assert_eq!(s, StatusCode::OK);
        }
        for _ in 0..9 {
            let (s, _) = app.post("/api/v1/credits/consume", k, json!({"amount": 0.1})).await;
            assert_eq!(s, StatusCode::OK);
        }
        assert_eq!(balance(&app, k).await, json!({"total_credits": 1, "credits_used": 1, "credits_left": 0}));
        assert_error(
            app.post("/api/v1/credits/consume", k, json!({"amount": 0.001})).await,
            402,
            "credits_exceeded",
        );
        // The library's arithmetic, over many more steps than HTTP would allow in a test.
        let mut used = Credits::default();
        for _ in 0..100_000 {
            used = used.checked_add(Credits::parse("0.001").unwrap()).unwrap();
        }
        assert_eq!(used.to_string(), "100");
    }
}
