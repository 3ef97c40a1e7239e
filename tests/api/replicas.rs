//! Two replicas on one PostgreSQL database: everything a server used to keep to itself (the key
//! cache, limits, the log-in throttle, results shown once, the sweep, key-use times) behaves as
//! one server would. Each test addresses the replicas directly, so it knows which one serves
//! which request; `spawn_replicas_behind_one_port` (the SDK and browser tests) puts them behind
//! one port.

use crate::helpers::*;
use provisiond::clock::Clock;
use provisiond::domain::Role;
use provisiond::service::{keys, maintenance};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// Two GETs of /v1/user, so the key sits in that replica's cache.
async fn warm(app: &TestApp, key: &str) {
    for _ in 0..2 {
        assert_eq!(app.get("/v1/user", key).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_key_changed_through_one_replica_is_refused_by_the_other_on_its_next_request() {
    let (a, b) = spawn_replicas(|_| {}).await;
    let org = a.create_org("Acme", Some("acme.com"), "owner@acme.com");
    let owner = &org.owner.api_key;

    // Rotated.
    let p = a.provision(owner).await;
    let key = p["apiKey"].as_str().unwrap().to_string();
    warm(&b, &key).await;
    let (_, new) = a.post("/v1/user/api-key/regenerate", &key, json!({})).await;
    assert_error(b.get("/v1/user", &key).await, 401, "invalid_api_key");
    let key = new["apiKey"].as_str().unwrap().to_string();
    warm(&b, &key).await;

    // Cancelled.
    a.delete(&format!("/v1/team/provisions/{}", p["id"].as_str().unwrap()), owner).await;
    assert_error(b.get("/v1/user", &key).await, 401, "invalid_api_key");

    // Claimed: the key now belongs to the person who claimed, on the other replica too.
    let p = a.provision(owner).await;
    let key = p["apiKey"].as_str().unwrap().to_string();
    warm(&b, &key).await;
    let admin = a.add_member(&org, "admin@acme.com", Role::Admin);
    let (s, _) = a.post("/v1/provisions/claim", &admin.api_key, json!({"token": claim_token(&p)})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b.get("/v1/user", &key).await.1["id"], admin.user_id.as_str());

    // Demoted: provisioner access taken away through one, gone through the other.
    a.post(
        "/api/v1/admin/set-provisioner",
        owner,
        json!({"email": "owner@acme.com", "is_provisioner": true}),
    )
    .await;
    warm(&b, owner).await;
    assert_eq!(b.get("/v1/user", owner).await.1["isProvisioner"], true);
    a.post(
        "/api/v1/admin/set-provisioner",
        owner,
        json!({"email": "owner@acme.com", "is_provisioner": false}),
    )
    .await;
    assert_eq!(b.get("/v1/user", owner).await.1["isProvisioner"], false);

    // Expired, then swept by the other replica.
    let p = a.provision(owner).await;
    let key = p["apiKey"].as_str().unwrap().to_string();
    warm(&b, &key).await;
    a.clock.advance(Duration::from_secs(7 * 86_400 + 1));
    assert_error(b.get("/v1/user", &key).await, 401, "invalid_api_key");
    assert_eq!(maintenance::sweep(&a.ctx, a.clock.now()).unwrap(), 1);
    assert_error(b.get("/v1/user", &key).await, 401, "invalid_api_key");
    assert_eq!(b.get("/v1/user", owner).await.0, StatusCode::OK, "the owner's key is looked up afresh");
}

#[tokio::test]
async fn limits_and_the_log_in_throttle_are_shared() {
    let (a, b) = spawn_replicas(|s| s.provision_rate_limit = 3).await;
    let org = a.org_with_password("Acme", "owner@acme.com", "owner password");
    let owner = &org.owner.api_key;
    a.provision(owner).await;
    a.provision(owner).await;
    b.provision(owner).await;
    let (s, _) = b.post("/v1/team/provisions", owner, json!({})).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "three in all, not three each");
    let (s, _) = a.post("/v1/team/provisions", owner, json!({})).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);

    // Five failed log-ins through one replica: the same client waits on the other too.
    let mut guesser = WebClient::new(&a);
    for _ in 0..5 {
        assert_eq!(guesser.login("owner@acme.com", "a wrong guess").await.status, StatusCode::UNAUTHORIZED);
    }
    let r = WebClient::new(&b).login("owner@acme.com", "owner password").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    a.clock.advance(Duration::from_secs(2));
    assert_eq!(
        WebClient::new(&b).login("owner@acme.com", "owner password").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_form_limit_is_shared() {
    let (a, b) = spawn_replicas(|s| s.login_rate_limit = 2).await;
    a.org_with_password("Acme", "owner@acme.com", "owner password");
    WebClient::new(&a).login("x@acme.com", "whatever pw").await;
    WebClient::new(&b).login("y@acme.com", "whatever pw").await;
    let r = WebClient::new(&a).login("owner@acme.com", "owner password").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "two tries a minute from one address, in all");
}

#[tokio::test]
async fn a_result_shown_once_is_shown_by_whichever_replica_the_redirect_reaches() {
    let (a, b) = spawn_replicas(|_| {}).await;
    a.org_with_password("Acme", "owner@acme.com", "owner password");
    let mut on_a = WebClient::new(&a);
    on_a.login("owner@acme.com", "owner password").await;
    let csrf = on_a.csrf("/team").await;
    let posted = on_a.post("/team/provision", &[("role", "member"), ("csrf", &csrf)]).await;
    let result_page = posted.location.unwrap();
    // The same browser, its next request landing on the other replica.
    let mut on_b = WebClient::new(&b);
    on_b.cookie = on_a.cookie.clone();
    let shown = on_b.get(&result_page).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    let start = shown.body.find("id=\"api-key\">").unwrap() + 13;
    let key = &shown.body[start..start + 67];
    assert_eq!(a.get("/v1/user", key).await.0, StatusCode::OK);
    assert_eq!(on_a.get(&result_page).await.status, StatusCode::NOT_FOUND, "once, whichever replica");
    // At rest the result was sealed: the key never stood in the database.
    assert_eq!(a.count("SELECT COUNT(*) FROM shown_results WHERE title = ?1", "User provisioned"), 0);
    let posted = on_a.post("/team/provision", &[("role", "member"), ("csrf", &csrf)]).await;
    let sealed: Vec<u8> = a.db.read_blocking(|c| c.value("SELECT sealed FROM shown_results", &[])).unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("claim?token="), "sealed, not stored in the clear");
    // Someone else's session cannot open it.
    let mut stranger = WebClient::new(&b);
    b.add_member(&b.create_org("Other", None, "s@other.com"), "s2@other.com", Role::Owner);
    b.set_password("s2@other.com", "stranger password");
    stranger.login("s2@other.com", "stranger password").await;
    assert_eq!(stranger.get(posted.location.as_deref().unwrap()).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn replicas_sweeping_at_once_end_each_expired_provision_once() {
    let (a, b) = spawn_replicas(|s| s.provision_rate_limit = 0).await;
    let org = a.create_org("Acme", None, "owner@acme.com");
    let client = Default::default();
    let actor = provisiond::service::Actor::person(
        provisiond::domain::UserId::parse(org.owner.user_id.as_str()).unwrap(),
        provisiond::domain::OrgId::parse(&org.id).unwrap(),
    );
    let made = futures::future::join_all((0..1200).map(|_| {
        let input = provisiond::service::provisioning::ProvisionInput {
            role: Default::default(),
            skip_onboarding: true,
        };
        provisiond::service::provisioning::provision(&a.ctx, actor.clone(), &client, input)
    }))
    .await;
    assert!(made.iter().all(Result::is_ok));
    a.clock.advance(Duration::from_secs(7 * 86_400 + 1));
    let (ca, cb, now) = (a.ctx.clone(), b.ctx.clone(), a.clock.now());
    let (ended_a, ended_b) = std::thread::scope(|s| {
        let on_a = s.spawn(|| maintenance::sweep(&ca, now).unwrap());
        let on_b = s.spawn(|| maintenance::sweep(&cb, now).unwrap());
        (on_a.join().unwrap(), on_b.join().unwrap())
    });
    assert_eq!(ended_a + ended_b, 1200, "every one ended, none twice ({ended_a} + {ended_b})");
    assert_eq!(a.count("SELECT COUNT(*) FROM provisions WHERE status = ?1", "expired"), 1200);
    assert_eq!(a.count("SELECT COUNT(*) FROM users WHERE status = ?1", "placeholder"), 0);
}

#[tokio::test]
async fn a_later_use_of_a_key_is_never_overwritten_by_an_earlier_one() {
    let (a, b) = spawn_replicas(|_| {}).await;
    let org = a.create_org("Acme", None, "owner@acme.com");
    let key = &org.owner.api_key;
    assert_eq!(a.get("/v1/user", key).await.0, StatusCode::OK);
    let first = a.clock.now();
    a.clock.advance(Duration::from_secs(120));
    assert_eq!(b.get("/v1/user", key).await.0, StatusCode::OK);
    // The replica with the later use writes first; the earlier one must not win afterwards.
    assert_eq!(keys::flush_key_usage(&b.ctx).unwrap(), 1);
    assert_eq!(keys::flush_key_usage(&a.ctx).unwrap(), 1);
    let last: i64 = a.db.read_blocking(|c| c.value("SELECT MAX(last_used_at) FROM api_keys", &[])).unwrap();
    assert!(last >= first + 120_000, "the later time stays: {last} vs {first}");
}

#[tokio::test]
async fn of_concurrent_claims_across_replicas_exactly_one_wins() {
    let (a, b) = spawn_replicas(|_| {}).await;
    let org = a.create_org("Acme", None, "owner@acme.com");
    let p = a.provision(&org.owner.api_key).await;
    let claimers: Vec<String> =
        (0..24).map(|i| a.create_org(&format!("O{i}"), None, &format!("c{i}@o.com")).owner.api_key).collect();
    let token = claim_token(&p);
    let tries = claimers.iter().enumerate().map(|(i, key)| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.post("/v1/provisions/claim", key, json!({ "token": token }))
    });
    let answers = futures::future::join_all(tries).await;
    let won = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(won, 1, "{answers:?}");
    for (s, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_error((*s, body.clone()), 409, "already_claimed");
    }
}

#[tokio::test]
async fn credits_never_go_below_zero_across_replicas() {
    let (a, b) = spawn_replicas(|_| {}).await;
    let org = a.create_org("Acme", None, "owner@acme.com");
    a.post("/api/v1/admin/credits", &org.owner.api_key, json!({"amount": 10})).await;
    let tries = (0..40).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.post("/api/v1/credits/consume", &org.owner.api_key, json!({"amount": 1}))
    });
    let answers = futures::future::join_all(tries).await;
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let refused = answers.iter().filter(|(s, _)| *s == StatusCode::PAYMENT_REQUIRED).count();
    assert_eq!((ok, refused), (10, 30), "{answers:?}");
    let (_, balance) = b.get("/api/v1/credits/balance", &org.owner.api_key).await;
    assert_eq!(balance["credits_left"], 0);
}

#[tokio::test]
async fn replicas_starting_together_on_an_empty_database_make_one_organization() {
    let url = fresh_postgres();
    let starts = (0..2).map(|_| {
        let url = url.clone();
        std::thread::spawn(move || {
            let dir = tempfile::tempdir().unwrap();
            let mut s = test_settings(&dir);
            s.database_url = Some(url);
            s.bootstrap = true;
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            // Built and dropped: what matters is what start-up wrote.
            drop(provisiond::app::Application::build_on(s, Clock::default(), listener).expect("starts"));
        })
    });
    for t in starts.collect::<Vec<_>>() {
        t.join().unwrap();
    }
    let cluster = pg::cluster();
    let db = pg::db_name_of(&url);
    assert_eq!(cluster.psql(&db, "SELECT COUNT(*) FROM organizations").trim(), "1");
    assert_eq!(cluster.psql(&db, "SELECT COUNT(*) FROM users").trim(), "1");
}

// A setting of the HTTP edge, not of the engine, but tested on both as everything is.
engine_tests! {
    #[tokio::test]
    async fn behind_a_trusted_proxy_the_forwarded_client_counts() {
        let a = spawn_with(|s| {
            s.login_rate_limit = 2;
            s.trusted_proxies = provisiond::config::Settings::defaults().trusted_proxies;
            s.trusted_proxies.0.push("127.0.0.1/32".parse().unwrap());
        })
        .await;
        let login = |client: &'static str| {
            let url = format!("{}/login", a.base);
            async move {
                reqwest::Client::new()
                    .post(url)
                    .header("x-forwarded-for", format!("198.51.100.7, {client}"))
                    .form(&[("email", "x@y.com"), ("password", "whatever pw")])
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(login("203.0.113.1").await, StatusCode::UNAUTHORIZED);
        assert_eq!(login("203.0.113.1").await, StatusCode::UNAUTHORIZED);
        assert_eq!(login("203.0.113.1").await, StatusCode::TOO_MANY_REQUESTS, "the right-most untrusted hop");
        assert_eq!(login("203.0.113.2").await, StatusCode::UNAUTHORIZED, "another client has its own allowance");
    }

    #[tokio::test]
    async fn without_trusted_proxies_forwarded_headers_are_ignored() {
        let app = spawn_with(|s| s.login_rate_limit = 2).await;
        for (client, expect) in [("203.0.113.1", 401), ("203.0.113.2", 401), ("203.0.113.3", 429)] {
            let status = reqwest::Client::new()
                .post(format!("{}/login", app.base))
                .header("x-forwarded-for", client)
                .form(&[("email", "x@y.com"), ("password", "whatever pw")])
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status.as_u16(), expect, "X-Forwarded-For {client} changes nothing");
        }
    }
}

#[tokio::test]
async fn every_request_through_one_port_is_served_by_either_replica() {
    let (a, b, proxy) = spawn_replicas_behind_one_port().await;
    let org = a.create_org("Acme", None, "owner@acme.com");
    let front = format!("http://127.0.0.1:{}", proxy.port);
    // A new connection each time: the proxy hands them out in turn.
    for i in 0..6 {
        let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        let res = client
            .post(format!("{front}/v1/team/provisions"))
            .bearer_auth(&org.owner.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "request {i}");
        let body: Value = res.json().await.unwrap();
        assert!(body["claimUrl"].as_str().unwrap().starts_with(&front), "claim links name the front door");
    }
    assert_eq!(b.count("SELECT COUNT(*) FROM provisions WHERE status = ?1", "pending"), 6);
    assert_eq!(proxy.served(), [3, 3], "each replica answered half");
}

#[tokio::test]
async fn a_key_revoked_or_rotated_through_one_replica_fails_verification_on_the_other_at_once() {
    let (a, b) = spawn_replicas(|_| {}).await;
    let org = a.create_org("Acme", None, "owner@acme.com");
    let owner = &org.owner.api_key;
    let (_, gate) = a.post("/v1/keys", owner, json!({"scopes": ["keys:verify"]})).await;
    let gate = gate["apiKey"].as_str().unwrap().to_string();
    let (_, k) = a.post("/v1/keys", owner, json!({"name": "svc"})).await;
    let (id, key) = (k["id"].as_str().unwrap().to_string(), k["apiKey"].as_str().unwrap().to_string());
    let code = |v: Value| v["code"].as_str().unwrap().to_string();
    // In B's cache.
    for _ in 0..2 {
        assert_eq!(code(b.post("/v1/keys/verify", &gate, json!({"key": key})).await.1), "valid");
    }
    // Rotated through A without grace: B says revoked on its next call, and the new key is good.
    let (_, new) = a.post(&format!("/v1/keys/{id}/rotate"), owner, json!({})).await;
    assert_eq!(code(b.post("/v1/keys/verify", &gate, json!({"key": key})).await.1), "revoked");
    let new_key = new["apiKey"].as_str().unwrap().to_string();
    assert_eq!(code(b.post("/v1/keys/verify", &gate, json!({"key": new_key})).await.1), "valid");
    // Revoked through A.
    a.delete(&format!("/v1/keys/{}", new["id"].as_str().unwrap()), owner).await;
    assert_eq!(code(b.post("/v1/keys/verify", &gate, json!({"key": new_key})).await.1), "revoked");
}

/// A role taken away or a member removed through one replica is refused by the other on its
/// very next request, its key warm in that replica's cache.
#[tokio::test]
async fn a_demotion_or_a_removal_through_one_replica_is_refused_by_the_other_at_once() {
    let (a, b) = spawn_replicas(|_| {}).await;
    let org = a.create_org("Acme", Some("acme.com"), "owner@acme.com");
    let owner = &org.owner.api_key;
    let admin = a.add_member(&org, "admin@acme.com", Role::Admin);
    warm(&b, &admin.api_key).await;
    let (s, members) = b.get("/v1/members", &admin.api_key).await;
    assert_eq!(s, StatusCode::OK, "an admin lists the members: {members}");

    // Demoted through a: the admin's key is a member's on b at once.
    let (s, changed) = a
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/members/{}", admin.user_id),
            Some(owner),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{changed}");
    assert_error(b.get("/v1/members", &admin.api_key).await, 403, "insufficient_role");
    assert_eq!(b.get("/v1/user", &admin.api_key).await.1["role"], "member");

    // Removed through a: the key no longer works on b.
    let member = a.add_member(&org, "member@acme.com", Role::Member);
    warm(&b, &member.api_key).await;
    let (s, _) = a.delete(&format!("/v1/members/{}", member.user_id), owner).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_error(b.get("/v1/user", &member.api_key).await, 401, "invalid_api_key");
    assert_eq!(b.get("/v1/user", owner).await.0, StatusCode::OK, "the owner is untouched");
}
