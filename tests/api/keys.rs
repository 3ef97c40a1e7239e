//! Keys the platform can check and manage (contract, Part two: Keys, Verification, Idempotency
//! on the key routes), on both engines.

use crate::helpers::*;
use provisiond::domain::{ProvisionRole, Role};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// A key made through `POST /v1/keys` by `by`: the 201 body.
async fn new_key(app: &TestApp, by: &str, body: Value) -> Value {
    let (status, key) = app.post("/v1/keys", by, body).await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    key
}

/// A key that may verify, for the organization `owner` belongs to.
async fn verifier(app: &TestApp, owner: &str) -> String {
    new_key(app, owner, json!({"name": "gateway", "scopes": ["keys:verify"]})).await["apiKey"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn verify(app: &TestApp, by: &str, body: Value) -> Value {
    let (status, v) = app.post("/v1/keys/verify", by, body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

async fn code_of(app: &TestApp, by: &str, key: &str) -> String {
    verify(app, by, json!({ "key": key })).await["code"].as_str().unwrap().to_string()
}

engine_tests! {
    #[actix_web::test]
    async fn verification_answers_every_case() {
        let app = spawn().await;
        let a = app.create_org("A", Some("a.com"), "owner@a.com");
        let b = app.create_org("B", None, "owner@b.com");
        let owner = a.owner.api_key.clone();
        let gate = verifier(&app, &owner).await;
        // Made before the clock moves (a provision made "in the past" after it moved would look
        // to the rate limit like time going backwards).
        let old_p = app.provision_made_ago(&a, Duration::from_secs(8 * 86_400), ProvisionRole::Member);

        // Valid: identity, role and scopes of the key as it acts.
        let member = app.add_member(&a, "member@a.com", Role::Member);
        let v = verify(&app, &gate, json!({"key": member.api_key})).await;
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(v["code"], "valid");
        assert_eq!(v["userId"], member.user_id.as_str());
        assert_eq!(v["email"], "member@a.com");
        assert_eq!(v["organizationId"], a.id.as_str());
        assert_eq!(v["projectId"], member.project_id.as_str());
        assert_eq!(v["role"], "member");
        assert_eq!(v["scopes"].as_array().unwrap().len(), 9);
        assert!(v["expiresAt"].is_null());
        assert!(v.get("credits").is_none(), "no balance without consume: {v}");

        // Unknown: identity fields null.
        let v = verify(&app, &gate, json!({"key": format!("oc_{}", "1".repeat(64))})).await;
        assert_eq!((v["valid"].clone(), v["code"].clone()), (json!(false), json!("not_found")));
        assert!(v["userId"].is_null() && v["keyId"].is_null(), "{v}");

        // The document's limit is 128 characters, not bytes: 128 of them that take two bytes
        // each are a key nobody has (schemathesis sent one), not a malformed request.
        assert_eq!(code_of(&app, &gate, &"é".repeat(128)).await, "not_found");
        assert_error(app.post("/v1/keys/verify", &gate, json!({"key": "é".repeat(129)})).await, 400, "invalid_field");

        // Another organization's key is as unknown as a missing one.
        assert_eq!(code_of(&app, &gate, &b.owner.api_key).await, "not_found");

        // Revoked.
        let k = new_key(&app, &member.api_key, json!({"name": "laptop"})).await;
        assert_eq!(code_of(&app, &gate, s(&k["apiKey"])).await, "valid");
        let (status, _) = app.delete(&format!("/v1/keys/{}", s(&k["id"])), &member.api_key).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(code_of(&app, &gate, s(&k["apiKey"])).await, "revoked", "exact at once");

        // Rotated: the old key works through its grace period, then counts as revoked.
        let old = new_key(&app, &member.api_key, json!({"name": "ci"})).await;
        let (status, new) =
            app.post(&format!("/v1/keys/{}/rotate", s(&old["id"])), &member.api_key, json!({"gracePeriodSeconds": 3600})).await;
        assert_eq!(status, StatusCode::CREATED, "{new}");
        assert_eq!(new["name"], "ci");
        assert_ne!(new["id"], old["id"]);
        assert_eq!(code_of(&app, &gate, s(&old["apiKey"])).await, "valid", "in grace");
        let again = app.post(&format!("/v1/keys/{}/rotate", s(&old["id"])), &member.api_key, json!({})).await;
        assert_error(again, 409, "key_revoked");
        assert_eq!(code_of(&app, &gate, s(&new["apiKey"])).await, "valid");
        app.clock.advance(Duration::from_secs(3601));
        assert_eq!(code_of(&app, &gate, s(&old["apiKey"])).await, "revoked", "after grace");
        assert_eq!(code_of(&app, &gate, s(&new["apiKey"])).await, "valid");
        let (status, body) = app.get("/v1/user", s(&old["apiKey"])).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

        // Expired: verification says so, and the key itself gets 401 expired_api_key.
        let short = new_key(&app, &member.api_key, json!({"expiresInSeconds": 60})).await;
        assert_eq!(code_of(&app, &gate, s(&short["apiKey"])).await, "valid");
        assert!(verify(&app, &gate, json!({"key": short["apiKey"]})).await["expiresAt"].is_string());
        app.clock.advance(Duration::from_secs(61));
        assert_eq!(code_of(&app, &gate, s(&short["apiKey"])).await, "expired");
        assert_error(app.get("/v1/user", s(&short["apiKey"])).await, 401, "expired_api_key");

        // A provision's key: valid while pending; cancelled, it is gone; expired, it says so.
        let p = app.provision(&owner).await;
        assert_eq!(code_of(&app, &gate, s(&p["apiKey"])).await, "valid");
        app.delete(&format!("/v1/team/provisions/{}", s(&p["id"])), &owner).await;
        assert_eq!(code_of(&app, &gate, s(&p["apiKey"])).await, "not_found", "cancelled: deleted");
        assert_eq!(code_of(&app, &gate, &old_p.api_key).await, "expired");

        // Only a key with keys:verify may ask.
        let agents_only = new_key(&app, &owner, json!({"scopes": ["agents"]})).await;
        assert_error(app.post("/v1/keys/verify", s(&agents_only["apiKey"]), json!({"key": owner})).await, 403, "missing_scope");
        // A scope the verified key lacks.
        let narrow = new_key(&app, &owner, json!({"scopes": ["agents"]})).await;
        let v = verify(&app, &gate, json!({"key": narrow["apiKey"], "scope": "provisions"})).await;
        assert_eq!(v["code"], "missing_scope");
        let v = verify(&app, &gate, json!({"key": narrow["apiKey"], "scope": "agents"})).await;
        assert_eq!(v["code"], "valid");
        // Malformed requests are 400, not a verdict.
        assert_error(app.post("/v1/keys/verify", &gate, json!({})).await, 400, "invalid_field");
        assert_error(app.post("/v1/keys/verify", &gate, json!({"key": owner, "scope": "everything"})).await, 400, "invalid_field");
        assert_error(app.post("/v1/keys/verify", &gate, json!({"key": owner, "consume": {"amount": -1}})).await, 400, "invalid_field");
    }

    #[actix_web::test]
    async fn verify_with_consume_is_exact_under_concurrency() {
        let app = spawn().await;
        let a = app.create_org("A", None, "owner@a.com");
        let owner = a.owner.api_key.clone();
        let gate = verifier(&app, &owner).await;
        let (status, _) = app.post("/api/v1/admin/credits", &owner, json!({"amount": 10})).await;
        assert_eq!(status, StatusCode::OK);
        let user = app.add_member(&a, "user@a.com", Role::Member);

        // 100 calls of 0.27 against a pool of 10: exactly 37 fit.
        let calls = (0..100).map(|_| {
            app.post("/v1/keys/verify", &gate, json!({"key": user.api_key, "consume": {"amount": 0.27, "reason": "llm"}}))
        });
        let answers = futures::future::join_all(calls).await;
        let mut valid = 0;
        for (status, v) in &answers {
            assert_eq!(*status, StatusCode::OK, "{v}");
            match s(&v["code"]) {
                "valid" => valid += 1,
                "credits_exceeded" => assert_eq!(v["valid"], false),
                other => panic!("unexpected {other}: {v}"),
            }
            assert!(v["credits"]["credits_left"].is_number(), "{v}");
        }
        assert_eq!(valid, 37);
        let (_, balance) = app.get("/api/v1/credits/balance", &owner).await;
        assert_eq!(balance["credits_used"], json!(9.99));
        assert_eq!(balance["credits_left"], json!(0.01));
        // Charged to the verified key's user, in the ledger.
        assert_eq!(app.count("SELECT COUNT(*) FROM credit_ledger WHERE user_id = ?1 AND kind = 'consume'", user.user_id.as_str()), 37);

        // Revoked keys debit nothing.
        app.post("/v1/user/api-key/regenerate", &user.api_key, json!({})).await;
        let v = verify(&app, &gate, json!({"key": user.api_key, "consume": {"amount": 0.001}})).await;
        assert_eq!(v["code"], "revoked");
        let (_, after) = app.get("/api/v1/credits/balance", &owner).await;
        assert_eq!(after["credits_used"], json!(9.99));

        // A key without credits:consume may not spend.
        let narrow = new_key(&app, &owner, json!({"scopes": ["agents"]})).await;
        let v = verify(&app, &gate, json!({"key": narrow["apiKey"], "consume": {"amount": 0.001}})).await;
        assert_eq!(v["code"], "missing_scope");
    }

    #[actix_web::test]
    async fn each_scope_reaches_only_its_routes() {
        let app = spawn().await;
        let a = app.create_org("A", Some("a.com"), "owner@a.com");
        let owner = a.owner.api_key.clone();
        app.post("/api/v1/admin/credits", &owner, json!({"amount": 5})).await;
        // (scope, method, path, body) — each route refused to a key without that scope.
        let routes: Vec<(&str, Method, &str, Option<Value>)> = vec![
            ("provisions", Method::POST, "/v1/team/provisions", Some(json!({}))),
            ("provisions", Method::GET, "/v1/team/provisions", None),
            ("agents", Method::GET, "/v1/agents", None),
            ("agents", Method::POST, "/v1/agents", Some(json!({"name": "x", "identifier": "x"}))),
            ("credits:read", Method::GET, "/api/v1/credits/balance", None),
            ("credits:read", Method::GET, "/api/v1/credits/usage", None),
            ("credits:consume", Method::POST, "/api/v1/credits/consume", Some(json!({"amount": 0.001}))),
            ("keys", Method::GET, "/v1/keys", None),
            ("keys", Method::POST, "/v1/keys", Some(json!({}))),
            ("keys", Method::POST, "/v1/user/api-key/regenerate", Some(json!({}))),
            ("keys:verify", Method::POST, "/v1/keys/verify", Some(json!({"key": "x"}))),
            ("members", Method::GET, "/v1/members", None),
            ("credits:read", Method::GET, "/api/v1/credits/ledger", None),
            ("members", Method::POST, "/api/v1/admin/set-provisioner", Some(json!({"email": "owner@a.com", "is_provisioner": true}))),
        ];
        for (scope, method, path, body) in &routes {
            let others: Vec<&str> = ["provisions", "members", "agents", "credits:read", "credits:consume", "keys", "keys:verify", "audit", "webhooks"]
                .into_iter()
                .filter(|s| s != scope)
                .collect();
            let without = new_key(&app, &owner, json!({"scopes": others})).await;
            let got = app.call(method.clone(), path, Some(s(&without["apiKey"])), body.clone()).await;
            assert_error(got, 403, "missing_scope");
            let with = new_key(&app, &owner, json!({"scopes": [scope]})).await;
            let (status, body) = app.call(method.clone(), path, Some(s(&with["apiKey"])), body.clone()).await;
            assert!(status.is_success(), "{scope} {path}: {status} {body}");
        }
        // Granting credits is administration no scope names: only a key with every scope.
        let most = new_key(&app, &owner, json!({"scopes": ["provisions", "members", "agents", "credits:read", "credits:consume", "keys", "keys:verify", "audit"]})).await;
        assert_error(app.post("/api/v1/admin/credits", s(&most["apiKey"]), json!({"amount": 1})).await, 403, "missing_scope");
        // A key never makes a stronger one.
        let narrow = new_key(&app, &owner, json!({"scopes": ["keys"]})).await;
        assert_error(app.post("/v1/keys", s(&narrow["apiKey"]), json!({"scopes": ["keys", "agents"]})).await, 403, "missing_scope");
        let member = app.add_member(&a, "m@a.com", Role::Member);
        assert_error(app.post("/v1/keys", &member.api_key, json!({"role": "admin"})).await, 403, "insufficient_role");
        // Bad input is 400.
        for body in [
            json!({"scopes": []}),
            json!({"scopes": ["root"]}),
            json!({"scopes": "keys"}),
            json!({"expiresInSeconds": 59}),
            json!({"expiresInSeconds": 31_536_001}),
            json!({"expiresInSeconds": 1.5}),
            json!({"name": ""}),
            json!({"name": "x".repeat(101)}),
            json!({"role": "god"}),
        ] {
            assert_error(app.post("/v1/keys", &owner, body.clone()).await, 400, "invalid_field");
        }
    }

    #[actix_web::test]
    async fn keys_are_listed_revoked_and_rotated_by_the_right_people() {
        let app = spawn().await;
        let a = app.create_org("A", None, "owner@a.com");
        let owner = a.owner.api_key.clone();
        let admin = app.add_member(&a, "admin@a.com", Role::Admin);
        let member = app.add_member(&a, "member@a.com", Role::Member);
        let other = app.add_member(&a, "other@a.com", Role::Member);
        let k = new_key(&app, &member.api_key, json!({"name": "laptop", "expiresInSeconds": 3600})).await;
        assert_eq!(k["name"], "laptop");
        assert_eq!(k["userId"], member.user_id.as_str());
        assert_eq!(k["projectId"], member.project_id.as_str());
        assert_eq!(k["role"], "member");
        assert!(s(&k["hint"]).starts_with("oc_") && s(&k["apiKey"]).starts_with(s(&k["hint"])));
        assert!(k["revokedAt"].is_null() && k["expiresAt"].is_string());
        // The listing never shows a key.
        let (_, mine) = app.get("/v1/keys", &member.api_key).await;
        assert_eq!(mine["keys"].as_array().unwrap().len(), 2, "{mine}");
        assert!(!mine.to_string().contains(s(&k["apiKey"])));
        assert!(mine["keys"].as_array().unwrap().iter().all(|x| x["userId"] == member.user_id.as_str()));
        // A member sees only their own; an admin the organization's, or one user's.
        assert_error(app.get(&format!("/v1/keys?userId={}", other.user_id), &member.api_key).await, 403, "insufficient_role");
        let (_, all) = app.get("/v1/keys", &admin.api_key).await;
        assert!(all["keys"].as_array().unwrap().len() >= 5, "{all}");
        let (_, one) = app.get(&format!("/v1/keys?userId={}", member.user_id), &admin.api_key).await;
        assert_eq!(one["keys"].as_array().unwrap().len(), 2);
        // Paging: each key once, newest first.
        let mut seen: Vec<String> =
            app.pages("/v1/keys?limit=2", &owner, "keys").await.iter().flatten().map(|k| s(&k["id"]).to_string()).collect();
        let total = all["keys"].as_array().unwrap().len();
        assert_eq!(seen.len(), total);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), total, "no key twice");
        assert_error(app.get("/v1/keys?cursor=nonsense", &owner).await, 400, "invalid_cursor");
        assert_error(app.get("/v1/keys?limit=0", &owner).await, 400, "invalid_field");

        // Another member cannot touch it (not found, as existence must not leak); an admin can.
        let path = format!("/v1/keys/{}", s(&k["id"]));
        assert_error(app.delete(&path, &other.api_key).await, 404, "not_found");
        assert_error(app.post(&format!("{path}/rotate"), &other.api_key, json!({})).await, 404, "not_found");
        let (status, rotated) = app.post(&format!("{path}/rotate"), &admin.api_key, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{rotated}");
        assert_eq!(rotated["userId"], member.user_id.as_str(), "rotation keeps the key's user");
        assert_eq!(rotated["expiresAt"], k["expiresAt"], "and its expiry");
        // Grace 0: the old key fails at once.
        assert_error(app.get("/v1/user", s(&k["apiKey"])).await, 401, "invalid_api_key");
        assert_error(app.post(&format!("{path}/rotate"), &owner, json!({})).await, 409, "key_revoked");
        assert_error(app.delete(&path, &owner).await, 409, "key_revoked");
        let new_path = format!("/v1/keys/{}", s(&rotated["id"]));
        assert_eq!(app.delete(&new_path, &admin.api_key).await.0, StatusCode::NO_CONTENT);
        assert_error(app.get("/v1/user", s(&rotated["apiKey"])).await, 401, "invalid_api_key");
        assert_error(app.post(&format!("{new_path}/rotate"), &owner, json!({"gracePeriodSeconds": 86_401})).await, 400, "invalid_field");
        assert_error(app.delete("/v1/keys/not-a-uuid", &owner).await, 404, "not_found");
        // Another organization's admin sees nothing of it.
        let b = app.create_org("B", None, "owner@b.com");
        assert_error(app.delete(&format!("/v1/keys/{}", s(&one["keys"][0]["id"])), &b.owner.api_key).await, 404, "not_found");
    }

    #[actix_web::test]
    async fn the_person_who_claims_manages_the_keys_they_received() {
        let app = spawn().await;
        let a = app.create_org("A", None, "owner@a.com");
        let p = app.provision(&a.owner.api_key).await;
        let mut web = WebClient::new(&app);
        web.signup_claiming(&p, "new@a.com", "a long password 1").await;
        web.claim(&p).await;
        // The provisioned key, now the claimer's: they see it among their keys and can revoke it
        // (here with a second key of their own).
        let second = new_key(&app, s(&p["apiKey"]), json!({"name": "second"})).await;
        let person = s(&second["apiKey"]).to_string();
        let (_, mine) = app.get("/v1/keys", &person).await;
        let ids: Vec<&str> = mine["keys"].as_array().unwrap().iter().map(|k| s(&k["projectId"])).collect();
        assert!(ids.contains(&s(&p["projectId"])), "the received project's key is listed: {mine}");
        let received = mine["keys"].as_array().unwrap().iter().find(|k| s(&p["apiKey"]).starts_with(s(&k["hint"]))).unwrap();
        assert_eq!(received["projectId"], p["projectId"]);
        assert_eq!(received["role"], "member", "the provision's role");
        assert_eq!(received["scopes"].as_array().unwrap().len(), 9, "every scope (the SDK's routes)");
        assert_eq!(mine["keys"].as_array().unwrap().len(), 2, "{mine}");
        assert_eq!(app.delete(&format!("/v1/keys/{}", s(&received["id"])), &person).await.0, StatusCode::NO_CONTENT);
        assert_error(app.get("/v1/user", s(&p["apiKey"])).await, 401, "invalid_api_key");
    }

    #[actix_web::test]
    async fn a_provisioned_key_claimed_by_an_owner_keeps_the_provisions_role() {
        let app = spawn().await;
        let a = app.create_org("A", None, "owner@a.com");
        app.set_password("owner@a.com", "a long password 1");
        let p = app.provision(&a.owner.api_key).await;
        let mut web = WebClient::new(&app);
        web.login("owner@a.com", "a long password 1").await;
        web.claim(&p).await;
        let (_, me) = app.get("/v1/user", s(&p["apiKey"])).await;
        assert_eq!(me["id"], a.owner.user_id.as_str(), "claimed by the owner");
        assert_eq!(me["role"], "member", "{me}");
        let gate = verifier(&app, &a.owner.api_key).await;
        assert_eq!(verify(&app, &gate, json!({"key": p["apiKey"]})).await["role"], "member");
        assert_error(app.post("/api/v1/admin/credits", s(&p["apiKey"]), json!({"amount": 1})).await, 403, "insufficient_role");
    }

    #[actix_web::test]
    async fn idempotent_key_creation_and_verification() {
        let app = spawn().await;
        let a = app.create_org("A", None, "owner@a.com");
        let owner = a.owner.api_key.clone();
        app.post("/api/v1/admin/credits", &owner, json!({"amount": 1})).await;
        let body = json!({"name": "deploy", "scopes": ["agents"]});

        // Same key, same body: the same key id, a fresh secret; the first secret stops working.
        let (s1, first) = app.post_idem("/v1/keys", &owner, "k-1", body.clone()).await;
        assert_eq!(s1, StatusCode::CREATED, "{first}");
        let (s2, again) = app.post_idem("/v1/keys", &owner, "k-1", json!({"scopes": ["agents"], "name": "deploy"})).await;
        assert_eq!(s2, StatusCode::CREATED, "{again}");
        assert_eq!(again["id"], first["id"]);
        assert_ne!(again["apiKey"], first["apiKey"]);
        assert_error(app.get("/v1/agents", s(&first["apiKey"])).await, 401, "invalid_api_key");
        assert_eq!(app.get("/v1/agents", s(&again["apiKey"])).await.0, StatusCode::OK);
        assert_eq!(app.count("SELECT COUNT(*) FROM api_keys WHERE name = ?1", "deploy"), 1);
        // Same key, another body: refused.
        assert_error(app.post_idem("/v1/keys", &owner, "k-1", json!({"name": "other"})).await, 409, "idempotency_conflict");
        // A key revoked since: a replay has no live key to hand out.
        let (_, made) = app.post_idem("/v1/keys", &owner, "k-3", json!({"name": "short-lived"})).await;
        assert_eq!(app.delete(&format!("/v1/keys/{}", s(&made["id"])), &owner).await.0, StatusCode::NO_CONTENT);
        assert_error(app.post_idem("/v1/keys", &owner, "k-3", json!({"name": "short-lived"})).await, 409, "idempotency_conflict");
        // Concurrent duplicates: one key made.
        let dupes = (0..8).map(|_| app.post_idem("/v1/keys", &owner, "k-2", json!({"name": "race"})));
        let answers = futures::future::join_all(dupes).await;
        let ids: std::collections::HashSet<String> = answers
            .iter()
            .map(|(st, v)| {
                assert_eq!(*st, StatusCode::CREATED, "{v}");
                s(&v["id"]).to_string()
            })
            .collect();
        assert_eq!(ids.len(), 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM api_keys WHERE name = ?1", "race"), 1);
        // Bad header values are 400.
        assert_error(app.post_idem("/v1/keys", &owner, "", json!({})).await, 400, "invalid_field");
        assert_error(app.post_idem("/v1/keys", &owner, &"x".repeat(256), json!({})).await, 400, "invalid_field");

        // Verification with consume: the same answer, debited once.
        let gate = verifier(&app, &owner).await;
        let user = app.add_member(&a, "u@a.com", Role::Member);
        let ask = json!({"key": user.api_key, "consume": {"amount": 0.4}});
        let (_, v1) = app.post_idem("/v1/keys/verify", &gate, "v-1", ask.clone()).await;
        let (_, v2) = app.post_idem("/v1/keys/verify", &gate, "v-1", ask.clone()).await;
        assert_eq!(v1, v2);
        assert_eq!(v1["code"], "valid");
        let (_, b) = app.get("/api/v1/credits/balance", &owner).await;
        assert_eq!(b["credits_used"], json!(0.4));
        assert_error(app.post_idem("/v1/keys/verify", &gate, "v-1", json!({"key": user.api_key, "consume": {"amount": 0.5}})).await, 409, "idempotency_conflict");
        // After 24 hours the key is free again (and the sweep forgets it).
        app.clock.advance(Duration::from_secs(86_401));
        let (_, v3) = app.post_idem("/v1/keys/verify", &gate, "v-1", ask).await;
        assert_eq!(v3["code"], "valid");
        let (_, b) = app.get("/api/v1/credits/balance", &owner).await;
        assert_eq!(b["credits_used"], json!(0.8));
        assert_eq!(app.count("SELECT COUNT(*) FROM idempotency WHERE key = ?1", "k-1"), 1);
        app.sweep();
        assert_eq!(app.count("SELECT COUNT(*) FROM idempotency WHERE key = ?1", "k-1"), 0, "past 24 h: pruned");
        assert_eq!(app.count("SELECT COUNT(*) FROM idempotency WHERE key = ?1", "v-1"), 1, "taken again: kept");
    }
}

engine_tests! {
    #[actix_web::test]
    async fn one_person_holds_at_most_a_thousand_live_keys() {
        let app = spawn().await;
        let a = app.create_org("A", None, "owner@a.com");
        let member = app.add_member(&a, "m@a.com", Role::Member);
        // The member's own key counts: 999 more fit.
        for chunk in 0..9 {
            let batch = (0..111).map(|i| app.post("/v1/keys", &member.api_key, json!({"name": format!("k{chunk}-{i}")})));
            for (status, body) in futures::future::join_all(batch).await {
                assert_eq!(status, StatusCode::CREATED, "{body}");
            }
        }
        assert_error(app.post("/v1/keys", &member.api_key, json!({})).await, 409, "too_many_keys");
        // Revoking one makes room; expired keys do not count either.
        let (_, page) = app.get("/v1/keys?limit=1", &member.api_key).await;
        let newest = s(&page["keys"][0]["id"]).to_string();
        assert_eq!(app.delete(&format!("/v1/keys/{newest}"), &member.api_key).await.0, StatusCode::NO_CONTENT);
        let short = new_key(&app, &member.api_key, json!({"expiresInSeconds": 60})).await;
        assert_error(app.post("/v1/keys", &member.api_key, json!({})).await, 409, "too_many_keys");
        app.clock.advance(Duration::from_secs(61));
        assert_error(app.get("/v1/user", s(&short["apiKey"])).await, 401, "expired_api_key");
        new_key(&app, &member.api_key, json!({})).await;
        // Another person is not affected.
        new_key(&app, &a.owner.api_key, json!({})).await;
    }
}

engine_tests! {
    /// A key's use is noted in memory and written in the background; a clean stop (SIGTERM)
    /// writes what is noted, so `lastUsedAt` survives a restart (the real binary, on each engine).
    #[tokio::test]
    async fn key_use_times_are_written_at_a_clean_stop() {
        let dir = tempfile::tempdir().unwrap();
        let url = (engine() == Engine::Postgres).then(fresh_postgres);
        // The periodic flush (the cleanup thread) must not be what writes it.
        let mut envs = vec![("CLEANUP_INTERVAL", "1h")];
        if let Some(url) = &url {
            envs.extend([("DATABASE_URL", url.as_str()), ("SECRET_KEY", TEST_SECRET_KEY)]);
        }
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let keys_of = |base: String, owner: String| {
            let client = client.clone();
            async move {
                let res = client.get(format!("{base}/v1/keys?limit=100")).bearer_auth(&owner).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                res.json::<Value>().await.unwrap()["keys"].as_array().unwrap().clone()
            }
        };
        let server = binary::Binary::start(dir.path(), &envs);
        let owner = server.owner_key();
        let res = client.post(format!("{}/v1/keys", server.base)).bearer_auth(&owner).json(&json!({"name": "ci"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let made: Value = res.json().await.unwrap();
        let before = chrono::Utc::now().timestamp_millis();
        let res = client.get(format!("{}/v1/user", server.base)).bearer_auth(s(&made["apiKey"])).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let listed = keys_of(server.base.clone(), owner.clone()).await;
        let ci = listed.iter().find(|k| k["id"] == made["id"]).unwrap_or_else(|| panic!("{listed:?}"));
        assert!(ci["lastUsedAt"].is_null(), "not written yet while the server runs: {ci}");

        let stopped = server.stop();
        assert!(stopped.status.success(), "{}: {}", stopped.status, stopped.log);
        let server = binary::Binary::start(dir.path(), &envs);
        let listed = keys_of(server.base.clone(), owner.clone()).await;
        let ci = listed.iter().find(|k| k["id"] == made["id"]).unwrap_or_else(|| panic!("{listed:?}"));
        let used = assert_timestamp(&ci["lastUsedAt"]);
        assert!(used >= before - 1_000 && used <= chrono::Utc::now().timestamp_millis(), "{ci}");
    }
}
