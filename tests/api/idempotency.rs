//! Idempotency-Key on the creations and debits (contract, Idempotency), on both engines. The
//! key routes (POST /v1/keys, POST /v1/keys/verify) are covered in tests/keys.rs.

use crate::helpers::*;
use provisiond::domain::Role;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashSet;

engine_tests! {
    #[actix_web::test]
    async fn a_provision_replayed_is_the_same_provision_with_a_new_key_and_link() {
        let app = spawn().await;
        let a = app.create_org("A", None, "owner@a.com");
        let o = a.owner.api_key.clone();
        let body = json!({"role": "admin", "name": "Dana", "externalId": "crm-1"});
        let (s1, first) = app.post_idem("/v1/team/provisions", &o, "p-1", body.clone()).await;
        assert_eq!(s1, StatusCode::CREATED, "{first}");
        // Same body, fields in another order: the same objects, fresh secrets.
        let (s2, again) =
            app.post_idem("/v1/team/provisions", &o, "p-1", json!({"externalId": "crm-1", "name": "Dana", "role": "admin"})).await;
        assert_eq!(s2, StatusCode::CREATED, "{again}");
        for field in ["id", "userId", "projectId", "agentId", "expiresAt"] {
            assert_eq!(again[field], first[field], "{field}");
        }
        assert_ne!(again["apiKey"], first["apiKey"]);
        assert_ne!(again["claimUrl"], first["claimUrl"]);
        assert_eq!(app.count("SELECT COUNT(*) FROM provisions WHERE external_id = ?1", "crm-1"), 1, "made once");
        // The lost response's key and link stop working; the new ones work.
        assert_error(app.get("/v1/user", s(&first["apiKey"])).await, 401, "invalid_api_key");
        assert_eq!(app.get("/v1/user", s(&again["apiKey"])).await.0, StatusCode::OK);
        let member = app.add_member(&a, "m@a.com", Role::Member);
        let (status, _) = app.post("/v1/provisions/claim", &member.api_key, json!({"token": claim_token(&first)})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "the first link is dead");
        // Another body under the same key: refused, nothing made.
        assert_error(app.post_idem("/v1/team/provisions", &o, "p-1", json!({"role": "member"})).await, 409, "idempotency_conflict");
        // Once it ended, a replay has nothing to hand out.
        app.delete(&format!("/v1/team/provisions/{}", s(&first["id"])), &o).await;
        assert_error(app.post_idem("/v1/team/provisions", &o, "p-1", body).await, 409, "idempotency_conflict");
        // The scope is the user: another admin's same key is their own.
        let admin = app.add_member(&a, "admin@a.com", Role::Admin);
        let (status, theirs) = app.post_idem("/v1/team/provisions", &admin.api_key, "p-1", json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{theirs}");
        assert_ne!(theirs["id"], first["id"]);

        // Concurrent duplicates: one provision, and every answer names it.
        let before = app.count("SELECT COUNT(*) FROM provisions WHERE org_id = ?1", &a.id);
        let dupes = (0..10).map(|_| app.post_idem("/v1/team/provisions", &o, "p-2", json!({})));
        let answers = futures::future::join_all(dupes).await;
        let ids: HashSet<String> = answers
            .iter()
            .map(|(st, v)| {
                assert_eq!(*st, StatusCode::CREATED, "{v}");
                s(&v["id"]).to_string()
            })
            .collect();
        assert_eq!(ids.len(), 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM provisions WHERE org_id = ?1", &a.id), before + 1);
        // Exactly one of the keys handed out still works: the last one issued.
        let mut working = 0;
        for (_, v) in &answers {
            if app.get("/v1/user", s(&v["apiKey"])).await.0 == StatusCode::OK {
                working += 1;
            }
        }
        assert_eq!(working, 1);
    }

    #[actix_web::test]
    async fn create_user_replayed_is_the_same_user_with_a_new_key() {
        let app = spawn().await;
        let a = app.create_org("A", Some("a.com"), "owner@a.com");
        let o = a.owner.api_key.clone();
        app.post("/api/v1/admin/set-provisioner", &o, json!({"email": "owner@a.com", "is_provisioner": true})).await;
        let (s1, first) = app.post_idem("/api/v1/admin/create-user", &o, "u-1", json!({"email": "alice@x.com"})).await;
        assert_eq!(s1, StatusCode::CREATED, "{first}");
        let (s2, again) = app.post_idem("/api/v1/admin/create-user", &o, "u-1", json!({"email": "alice@x.com"})).await;
        assert_eq!(s2, StatusCode::CREATED, "{again}");
        assert_eq!(again["id"], first["id"]);
        assert_eq!(again["email"], "alice@a.com");
        assert_ne!(again["api_key"], first["api_key"]);
        assert_error(app.get("/v1/user", s(&first["api_key"])).await, 401, "invalid_api_key");
        assert_eq!(app.get("/v1/user", s(&again["api_key"])).await.1["id"], first["id"]);
        assert_error(app.post_idem("/api/v1/admin/create-user", &o, "u-1", json!({"email": "bob@x.com"})).await, 409, "idempotency_conflict");
        // Without the header, the same address is taken, as before.
        assert_error(app.create_user(&o, Some("owner@a.com"), json!({"email": "alice@x.com"})).await, 409, "user_exists");
        // Concurrent duplicates: one user.
        let dupes = (0..8).map(|_| app.post_idem("/api/v1/admin/create-user", &o, "u-2", json!({"email": "carol@x.com"})));
        let answers = futures::future::join_all(dupes).await;
        let ids: HashSet<String> = answers
            .iter()
            .map(|(st, v)| {
                assert_eq!(*st, StatusCode::CREATED, "{v}");
                s(&v["id"]).to_string()
            })
            .collect();
        assert_eq!(ids.len(), 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE email = ?1", "carol@a.com"), 1);
    }

    #[actix_web::test]
    async fn consume_and_grant_replayed_answer_the_same_and_move_nothing_twice() {
        let app = spawn().await;
        let a = app.create_org("A", None, "owner@a.com");
        let o = a.owner.api_key.clone();
        let (s1, g1) = app.post_idem("/api/v1/admin/credits", &o, "g-1", json!({"amount": 10, "reason": "start"})).await;
        assert_eq!(s1, StatusCode::OK, "{g1}");
        let (s2, g2) = app.post_idem("/api/v1/admin/credits", &o, "g-1", json!({"reason": "start", "amount": 10})).await;
        assert_eq!((s2, &g2), (StatusCode::OK, &g1));
        assert_eq!(g1["total_credits"], json!(10));
        assert_error(app.post_idem("/api/v1/admin/credits", &o, "g-1", json!({"amount": 11})).await, 409, "idempotency_conflict");

        let user = app.add_member(&a, "u@a.com", Role::Member);
        let k = user.api_key.clone();
        let (_, c1) = app.post_idem("/api/v1/credits/consume", &k, "c-1", json!({"amount": 2.5})).await;
        assert_eq!(c1["credits_left"], json!(7.5));
        // Another consumption in between; the replay still answers as the first time did.
        app.post("/api/v1/credits/consume", &k, json!({"amount": 1})).await;
        let (s3, c2) = app.post_idem("/api/v1/credits/consume", &k, "c-1", json!({"amount": 2.5})).await;
        assert_eq!((s3, &c2), (StatusCode::OK, &c1));
        let (_, b) = app.get("/api/v1/credits/balance", &o).await;
        assert_eq!(b["credits_used"], json!(3.5), "debited once");
        // Concurrent duplicates debit once.
        let dupes = (0..20).map(|_| app.post_idem("/api/v1/credits/consume", &k, "c-2", json!({"amount": 0.5})));
        let answers = futures::future::join_all(dupes).await;
        let first = &answers[0].1;
        for (st, v) in &answers {
            assert_eq!(*st, StatusCode::OK, "{v}");
            assert_eq!(v, first);
        }
        let (_, b) = app.get("/api/v1/credits/balance", &o).await;
        assert_eq!(b["credits_used"], json!(4));
        assert_eq!(app.count("SELECT COUNT(*) FROM credit_ledger WHERE user_id = ?1", user.user_id.as_str()), 3);
        // A refused debit records nothing: retried after a grant, it goes through.
        let (st, _) = app.post_idem("/api/v1/credits/consume", &k, "c-3", json!({"amount": 100})).await;
        assert_eq!(st, StatusCode::PAYMENT_REQUIRED);
        app.post("/api/v1/admin/credits", &o, json!({"amount": 100})).await;
        let (st, v) = app.post_idem("/api/v1/credits/consume", &k, "c-3", json!({"amount": 100})).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        // Malformed keys are 400 and do nothing.
        let res = app
            .client
            .post(format!("{}/api/v1/credits/consume", app.base))
            .bearer_auth(&k)
            // Not ASCII (a byte HTTP lets through, as obs-text).
            .header("Idempotency-Key", reqwest::header::HeaderValue::from_bytes(&[b'a', 0xe9]).unwrap())
            .json(&json!({"amount": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}
