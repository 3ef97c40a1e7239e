//! Part two, Provisions, more: the optional fields of a provision (expiry, email binding, label,
//! external id, metadata, mailing the link), renewing the claim link, and paging the list.

use crate::helpers::*;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

async fn create(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, p) = app.post("/v1/team/provisions", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    p
}

/// Every page of `path` (which has a query already), following `nextCursor`: the ids in order.
async fn all_pages(app: &TestApp, key: &str, path: &str) -> Vec<String> {
    app.pages(path, key, "provisions").await.iter().flatten().map(|p| id(p).to_string()).collect()
}

/// Whether the placeholder's key deadline is the provision's expiry (the key check reads only
/// the former).
fn placeholder_until_matches(app: &TestApp, p: &Value) -> bool {
    app.count(
        "SELECT COUNT(*) FROM users u JOIN provisions p ON p.user_id = u.id
          WHERE p.id = ?1 AND u.pending_until = p.expires_at",
        id(p),
    ) == 1
}

fn verified(app: &TestApp, email: &str) -> bool {
    app.count("SELECT COUNT(*) FROM users WHERE email = ?1 AND CAST(email_verified AS INTEGER) = 1", email)
        == 1
}

engine_tests! {
    #[tokio::test]
    async fn the_optional_fields_round_trip_through_get_and_list() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let before = app.clock.now();
        let meta = json!({"team": "sales", "seats": 3, "tags": ["a", "b"], "nested": {"x": null}});
        let p = create(
            &app,
            k,
            json!({"expiresInSeconds": 3600, "email": "Alice@Example.COM", "name": "  Alice (sales) ",
                   "externalId": "crm-42", "metadata": meta, "role": "admin"}),
        )
        .await;
        // The 201 keeps exactly the SDK's shape.
        let mut keys: Vec<_> = p.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["agentId", "apiKey", "claimUrl", "expiresAt", "id", "projectId", "userId"]);
        let expires = assert_timestamp(&p["expiresAt"]);
        assert!(expires >= before + 3_600_000 && expires <= app.clock.now() + 3_600_000, "{p}");
        assert!(placeholder_until_matches(&app, &p));

        let (s, got) = app.get(&format!("/v1/team/provisions/{}", id(&p)), k).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(got["email"], "alice@example.com", "stored lowercase");
        assert_eq!(got["name"], "Alice (sales)");
        assert_eq!(got["externalId"], "crm-42");
        assert_eq!(got["metadata"], meta);
        assert_eq!(got["role"], "admin");
        assert_eq!(got["expiresAt"], p["expiresAt"]);

        // What the SDK sends (nothing) gets nulls and the default expiry.
        let plain = app.provision(k).await;
        let default_expiry = assert_timestamp(&plain["expiresAt"]) - app.clock.now();
        assert!(default_expiry > 7 * 86_400_000 - 60_000, "PROVISION_TTL by default");
        let (_, list) = app.get("/v1/team/provisions", k).await;
        let items = list["provisions"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(list["nextCursor"], Value::Null);
        assert_eq!(items[0]["id"], plain["id"], "newest first");
        for f in ["email", "name", "externalId", "metadata"] {
            assert_eq!(items[0][f], Value::Null, "{f}");
        }
        assert_eq!(items[1]["email"], "alice@example.com");
        assert_eq!(items[1]["name"], "Alice (sales)");
        assert_eq!(items[1]["externalId"], "crm-42");
        assert_eq!(items[1]["metadata"], meta);

        // Explicit nulls are the defaults too; so is sendEmail false.
        let nulls = create(
            &app,
            k,
            json!({"expiresInSeconds": null, "email": null, "name": null, "externalId": null,
                   "metadata": null, "sendEmail": false}),
        )
        .await;
        let (_, got) = app.get(&format!("/v1/team/provisions/{}", id(&nulls)), k).await;
        assert_eq!(got["email"], Value::Null);
        assert_eq!(got["metadata"], Value::Null);
        // A whole number written with a point is still whole.
        let point = create(&app, k, json!({"expiresInSeconds": 120.0})).await;
        assert!(assert_timestamp(&point["expiresAt"]) <= app.clock.now() + 120_000);
        // Metadata at exactly the limit is taken.
        let filler = "x".repeat(4096 - r#"{"k":""}"#.len());
        create(&app, k, json!({"metadata": {"k": filler}})).await;
    }

    #[tokio::test]
    async fn every_bad_value_is_400_naming_the_field() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let big = "x".repeat(4096);
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!({"expiresInSeconds": 59}), "invalid_field", "expiresInSeconds"),
            (json!({"expiresInSeconds": 2_592_001}), "invalid_field", "expiresInSeconds"),
            (json!({"expiresInSeconds": 0}), "invalid_field", "expiresInSeconds"),
            (json!({"expiresInSeconds": -60}), "invalid_field", "expiresInSeconds"),
            (json!({"expiresInSeconds": 90.5}), "invalid_field", "expiresInSeconds"),
            (json!({"expiresInSeconds": "3600"}), "invalid_field", "expiresInSeconds"),
            (json!({"email": "not-an-address"}), "invalid_email", "email"),
            (json!({"email": ""}), "invalid_email", "email"),
            (json!({"email": 7}), "invalid_field", "email"),
            (json!({"name": ""}), "invalid_field", "name"),
            (json!({"name": "   "}), "invalid_field", "name"),
            (json!({"name": "x".repeat(101)}), "invalid_field", "name"),
            (json!({"name": "Bob\u{202E}"}), "invalid_field", "name"),
            (json!({"name": ["Bob"]}), "invalid_field", "name"),
            (json!({"externalId": ""}), "invalid_field", "externalId"),
            (json!({"externalId": "x".repeat(256)}), "invalid_field", "externalId"),
            (json!({"externalId": "a\nb"}), "invalid_field", "externalId"),
            (json!({"externalId": 42}), "invalid_field", "externalId"),
            (json!({"metadata": [1, 2]}), "invalid_field", "metadata"),
            (json!({"metadata": "{}"}), "invalid_field", "metadata"),
            (json!({"metadata": 1}), "invalid_field", "metadata"),
            (json!({"metadata": {"k": big}}), "invalid_field", "metadata"),
            (json!({"sendEmail": "yes"}), "invalid_field", "sendEmail"),
            (json!({"sendEmail": true}), "invalid_field", "sendEmail"),
            (json!({"sendEmail": true, "email": "a@example.com"}), "invalid_field", "sendEmail"),
        ];
        for (body, code, field) in cases {
            let got = app.post("/v1/team/provisions", k, body.clone()).await;
            let message = got.1["error"]["message"].as_str().unwrap_or("").to_string();
            assert_error(got, 400, code);
            assert!(message.contains(&format!("'{field}'")), "{body} → {message}");
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM provisions WHERE org_id = ?1", &org.id), 0, "nothing made");
    }

    #[tokio::test]
    async fn a_provision_expires_when_its_own_expiry_says() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let p = create(&app, k, json!({"expiresInSeconds": 120})).await;
        let long = app.provision(k).await;
        let key = p["apiKey"].as_str().unwrap();
        assert_eq!(app.get("/v1/user", key).await.0, StatusCode::OK);
        app.clock.advance(Duration::from_secs(60));
        assert_eq!(app.get("/v1/user", key).await.0, StatusCode::OK, "still within its two minutes");
        app.clock.advance(Duration::from_secs(61));
        assert_error(app.get("/v1/user", key).await, 401, "invalid_api_key");
        let other = app.create_org("Other", None, "someone@other.com");
        assert_error(
            app.claim_with_key(&other.owner.api_key, &claim_token(&p)).await,
            400,
            "token_expired",
        );
        let (_, view) = app.get(&format!("/v1/team/provisions/{}", id(&p)), k).await;
        assert_eq!(view["status"], "expired");
        // The default-expiry one made alongside is untouched.
        assert_eq!(app.get("/v1/user", long["apiKey"].as_str().unwrap()).await.0, StatusCode::OK);
        assert_eq!(app.sweep(), 1);
    }

    #[tokio::test]
    async fn an_email_bound_provision_is_claimed_only_by_that_address() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let p = create(&app, &org.owner.api_key, json!({"email": "bound@example.com"})).await;
        let token = claim_token(&p);

        let stranger = app.create_org("Stranger", None, "stranger@example.com");
        assert_error(app.claim_with_key(&stranger.owner.api_key, &token).await, 403, "email_mismatch");
        // The owner who made it is no exception.
        assert_error(app.claim_with_key(&org.owner.api_key, &token).await, 403, "email_mismatch");
        let (_, view) = app.get(&format!("/v1/team/provisions/{}", id(&p)), &org.owner.api_key).await;
        assert_eq!(view["status"], "pending", "a refused claim changes nothing");

        // The bound address (whatever its case at sign-up) claims fine.
        let holder = app.create_org("Holder", None, "BOUND@example.com");
        let (s, body) = app.claim_with_key(&holder.owner.api_key, &token).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["userId"], holder.owner.user_id.as_str());
        let (_, view) = app.get(&format!("/v1/team/provisions/{}", id(&p)), &org.owner.api_key).await;
        assert_eq!(view["status"], "claimed");
        assert_eq!(view["claimedBy"], holder.owner.user_id.as_str());
    }

    #[tokio::test]
    async fn a_new_person_signing_up_through_a_bound_link_is_not_verified_by_it() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let p = create(&app, &org.owner.api_key, json!({"email": "newbie@example.com"})).await;
        let page = format!("/claim?token={}", claim_token(&p));

        // The page says who may claim it and fills the address in.
        let mut web = WebClient::new(&app);
        let shown = web.get(&page).await;
        assert_eq!(shown.status, StatusCode::OK);
        assert!(shown.body.contains("newbie@example.com"), "{}", shown.body);

        // Signing up through the link with another address is refused before any account exists.
        let wrong = web
            .post("/signup", &[("email", "other@example.com"), ("password", "a good password"), ("next", &page)])
            .await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
        assert!(wrong.body.contains("another email address"), "{}", wrong.body);
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE email = ?1", "other@example.com"), 0);

        web.signup_claiming(&p, "NewBie@Example.com", "a good password").await;
        assert!(!verified(&app, "newbie@example.com"), "not verified by signing up alone");
        let claimed = web.claim(&p).await;
        assert_eq!(claimed.status, StatusCode::SEE_OTHER, "{}", claimed.body);
        let (_, me) = app.get("/v1/user", p["apiKey"].as_str().unwrap()).await;
        assert_eq!(me["id"], p["userId"], "the new person became the placeholder");
        assert_eq!(me["email"], "newbie@example.com");
        // Whoever made the provision typed the address and holds the same link: signing up
        // through it proves nothing (CONTRACT part three); the mailed verification does.
        assert!(!verified(&app, "newbie@example.com"), "a typed address is not verified by a claim");

        // Signed in as someone else, the page explains instead of offering the button, and a
        // claim posted anyway is refused with the same explanation.
        let q = create(&app, &org.owner.api_key, json!({"email": "someone@example.com"})).await;
        app.set_password("owner@acme.com", "owner's password");
        let mut owner = WebClient::new(&app);
        owner.login("owner@acme.com", "owner's password").await;
        let qpage = format!("/claim?token={}", claim_token(&q));
        let shown = owner.get(&qpage).await;
        assert!(shown.body.contains("can only be claimed by"), "{}", shown.body);
        assert!(!shown.body.contains("claim-submit"), "{}", shown.body);
        let csrf = owner.csrf("/team").await;
        let refused = owner.post("/claim", &[("token", &claim_token(&q)), ("csrf", &csrf)]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(refused.body.contains("This claim link is for another email address"), "{}", refused.body);
    }

    #[tokio::test]
    async fn send_email_mails_the_claim_link_and_needs_smtp() {
        let (app, mail) = spawn_with_mail(|_| {}).await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let p = create(&app, k, json!({"email": "Carol@Example.com", "sendEmail": true})).await;
        mail.wait_for(1);
        let to_carol = mail.mails_to("carol@example.com");
        assert!(to_carol.iter().all(|m| m.to == ["carol@example.com"]), "to the lowercase address");
        assert_eq!(to_carol.len(), 1, "one mail, to the lowercase address");
        let link = to_carol[0].link(PUBLIC_URL).expect("a link in the mail");
        assert_eq!(link, p["claimUrl"].as_str().unwrap());
        assert!(to_carol[0].body().contains("Acme"), "{}", to_carol[0].body());
        // With SMTP, sendEmail still needs an address.
        assert_error(app.post("/v1/team/provisions", k, json!({"sendEmail": true})).await, 400, "invalid_field");

        // Without SMTP it is refused, and nothing is provisioned.
        let plain = spawn().await;
        let org = plain.create_org("Acme", None, "owner@acme.com");
        let got = plain
            .post("/v1/team/provisions", &org.owner.api_key, json!({"email": "c@example.com", "sendEmail": true}))
            .await;
        assert!(got.1["error"]["message"].as_str().unwrap().contains("SMTP"), "{}", got.1);
        assert_error(got, 400, "invalid_field");
        assert_eq!(plain.count("SELECT COUNT(*) FROM provisions WHERE org_id = ?1", &org.id), 0);
    }

    #[tokio::test]
    async fn a_new_claim_link_kills_the_old_one_and_may_move_the_expiry() {
        let (app, mail) = spawn_with_mail(|_| {}).await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let p = create(&app, k, json!({"email": "dora@example.com"})).await;
        let path = format!("/v1/team/provisions/{}/claim-link", id(&p));

        let res = app.client.post(format!("{}{path}", app.base)).bearer_auth(k).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
        let link: Value = res.json().await.unwrap();
        let mut keys: Vec<_> = link.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["claimUrl", "expiresAt"]);
        assert_ne!(link["claimUrl"], p["claimUrl"]);
        assert_eq!(link["expiresAt"], p["expiresAt"], "no new expiry asked for");
        assert_eq!(app.count_blob("SELECT COUNT(*) FROM provisions WHERE token_hash = ?1",
            blake3::hash(claim_token(&p).as_bytes()).as_bytes()), 0);

        // A new expiry: the provision and its key follow it.
        let (s, renewed) = app.post(&path, k, json!({"expiresInSeconds": 600, "sendEmail": true})).await;
        assert_eq!(s, StatusCode::OK, "{renewed}");
        let expires = assert_timestamp(&renewed["expiresAt"]);
        assert!((expires - (app.clock.now() + 600_000)).abs() < 5_000, "{renewed}");
        let (_, view) = app.get(&format!("/v1/team/provisions/{}", id(&p)), k).await;
        assert_eq!(view["expiresAt"], renewed["expiresAt"]);
        assert!(placeholder_until_matches(&app, &p));
        mail.wait_for(1);
        let to_dora = mail.mails_to("dora@example.com");
        assert_eq!(to_dora.len(), 1);
        assert_eq!(to_dora[0].link(PUBLIC_URL).as_deref(), renewed["claimUrl"].as_str(), "mailed the newest link");

        let dora = app.create_org("Dora's", None, "dora@example.com");
        let old = claim_token(&p);
        let older = claim_token(&link);
        for dead in [&old, &older] {
            assert_error(app.claim_with_key(&dora.owner.api_key, dead).await, 400, "invalid_token");
        }
        let key = p["apiKey"].as_str().unwrap();
        app.clock.advance(Duration::from_secs(590));
        assert_eq!(app.get("/v1/user", key).await.0, StatusCode::OK);
        app.clock.advance(Duration::from_secs(20));
        assert_error(app.get("/v1/user", key).await, 401, "invalid_api_key");
        assert_error(app.claim_with_key(&dora.owner.api_key, &claim_token(&renewed)).await, 400, "token_expired");
        assert_error(app.post(&path, k, json!({})).await, 409, "not_pending");

        // The new link claims; then there is nothing to renew.
        let q = app.provision(k).await;
        let qpath = format!("/v1/team/provisions/{}/claim-link", id(&q));
        let (_, fresh) = app.post(&qpath, k, json!({})).await;
        assert_error(app.claim_with_key(&dora.owner.api_key, &claim_token(&q)).await, 400, "invalid_token");
        let (s, body) = app.claim_with_key(&dora.owner.api_key, &claim_token(&fresh)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_error(app.post(&qpath, k, json!({})).await, 409, "not_pending");

        // Cancelled: not pending either. Refusals of other kinds.
        let r = app.provision(k).await;
        let rpath = format!("/v1/team/provisions/{}/claim-link", id(&r));
        assert_eq!(app.delete(&format!("/v1/team/provisions/{}", id(&r)), k).await.0, StatusCode::NO_CONTENT);
        assert_error(app.post(&rpath, k, json!({})).await, 409, "not_pending");
        let t = app.provision(k).await;
        let tpath = format!("/v1/team/provisions/{}/claim-link", id(&t));
        for bad in [json!({"expiresInSeconds": 30}), json!({"expiresInSeconds": "60"}), json!({"sendEmail": 1})] {
            assert_error(app.post(&tpath, k, bad).await, 400, "invalid_field");
        }
        // sendEmail for a provision without an address.
        assert_error(app.post(&tpath, k, json!({"sendEmail": true})).await, 400, "invalid_field");
        let member = app.add_member(&org, "member@acme.com", provisiond::domain::Role::Member);
        assert_error(app.post(&tpath, &member.api_key, json!({})).await, 403, "insufficient_role");
        let other = app.create_org("Other", None, "o@other.com");
        assert_error(app.post(&tpath, &other.owner.api_key, json!({})).await, 404, "not_found");
        assert_error(
            app.post("/v1/team/provisions/not-an-id/claim-link", k, json!({})).await,
            404,
            "not_found",
        );
        let (s, _) = app.call(reqwest::Method::GET, &tpath, Some(k), None).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
        // The refusals left the link as it was.
        let (s, body) = app.claim_with_key(&dora.owner.api_key, &claim_token(&t)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }

    #[tokio::test]
    async fn external_id_filter_limits_and_cursors() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let a1 = create(&app, k, json!({"externalId": "crm/a b"})).await;
        app.provision(k).await;
        let a2 = create(&app, k, json!({"externalId": "crm/a b"})).await;
        create(&app, k, json!({"externalId": "crm/a"})).await;
        app.delete(&format!("/v1/team/provisions/{}", id(&a2)), k).await;

        let (_, list) = app.get("/v1/team/provisions?externalId=crm%2Fa%20b", k).await;
        let ids: Vec<_> = list["provisions"].as_array().unwrap().iter().map(|p| id(p).to_string()).collect();
        assert_eq!(ids, [id(&a2), id(&a1)], "exact match, newest first");
        let (_, pending) = app.get("/v1/team/provisions?externalId=crm%2Fa%20b&status=pending", k).await;
        let ids: Vec<_> = pending["provisions"].as_array().unwrap().iter().map(|p| id(p).to_string()).collect();
        assert_eq!(ids, [id(&a1)]);
        let (_, none) = app.get("/v1/team/provisions?externalId=nothing", k).await;
        assert_eq!(none, json!({"provisions": [], "nextCursor": null}));
        let long = "x".repeat(256);
        assert_error(app.get(&format!("/v1/team/provisions?externalId={long}"), k).await, 400, "invalid_field");

        // Paging one at a time: each once, in order.
        let all = all_pages(&app, k, "/v1/team/provisions?limit=100").await;
        assert_eq!(all.len(), 4);
        let one_by_one = all_pages(&app, k, "/v1/team/provisions?limit=1").await;
        assert_eq!(one_by_one, all);

        for bad in ["garbage", "c1.zz", "c1", "c1.31", "c1.3132.zz", ""] {
            assert_error(app.get(&format!("/v1/team/provisions?cursor={bad}"), k).await, 400, "invalid_cursor");
        }
        // A cursor of another list (agents: a time and an identifier) is not one of these.
        let (_, agents) = app.get("/v1/agents?limit=1", a1["apiKey"].as_str().unwrap()).await;
        assert_eq!(agents["nextCursor"], Value::Null);
        let foreign = format!("c1.{}.{}", hex("1700000000000"), hex("default"));
        assert_error(app.get(&format!("/v1/team/provisions?cursor={foreign}"), k).await, 400, "invalid_cursor");
        for bad in ["0", "1001", "-1", "ten"] {
            assert_error(app.get(&format!("/v1/team/provisions?limit={bad}"), k).await, 400, "invalid_field");
        }
    }

    #[tokio::test]
    async fn paging_through_2500_provisions_sees_each_once_while_more_are_made() {
        let app = spawn_with(|s| s.provision_rate_limit = 0).await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = org.owner.api_key.clone();
        let made: Vec<String> = futures::stream::iter(0..2500)
            .map(|_| {
                let (app, k) = (&app, &k);
                async move { id(&app.provision(k).await).to_string() }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        assert_eq!(made.len(), 2500);

        for limit in [1000, 500, 1000] {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (base, key, flag) = (app.base.clone(), k.clone(), stop.clone());
            // Another client keeps provisioning (and cancelling every other one) meanwhile.
            let maker = tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut n = 0;
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    let res = client.post(format!("{base}/v1/team/provisions")).bearer_auth(&key).send().await;
                    let p: Value = res.unwrap().json().await.unwrap();
                    if n % 2 == 0 {
                        let url = format!("{base}/v1/team/provisions/{}", id(&p));
                        client.delete(url).bearer_auth(&key).send().await.unwrap();
                    }
                    n += 1;
                    tokio::task::yield_now().await;
                }
                n
            });
            let mut seen: HashMap<String, usize> = HashMap::new();
            let mut cursor: Option<String> = None;
            let mut last: Option<(i64, String)> = None;
            let mut pages = 0;
            loop {
                let url = match &cursor {
                    None => format!("/v1/team/provisions?limit={limit}"),
                    Some(c) => format!("/v1/team/provisions?limit={limit}&cursor={c}"),
                };
                let (s, page) = app.get(&url, &k).await;
                assert_eq!(s, StatusCode::OK, "{page}");
                pages += 1;
                assert!(pages < 1_000, "the list ends (a cursor that never runs out would loop)");
                let items = page["provisions"].as_array().unwrap();
                assert!(items.len() <= limit);
                for p in items {
                    let at = assert_timestamp(&p["createdAt"]);
                    if let Some((t, _)) = &last {
                        assert!(at <= *t, "newest first");
                    }
                    last = Some((at, id(p).to_string()));
                    *seen.entry(id(p).to_string()).or_default() += 1;
                }
                // Between pages, for certain: one more made and one of the first ones cancelled
                // (a cancelled provision stays listed, as the record).
                app.provision(&k).await;
                let cancelled = &made[pages * 7 % made.len()];
                app.delete(&format!("/v1/team/provisions/{cancelled}"), &k).await;
                match page["nextCursor"].as_str() {
                    Some(c) => cursor = Some(c.to_string()),
                    None => break,
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let extra = maker.await.unwrap();
            eprintln!("limit {limit}: {pages} pages; the other client made {extra} meanwhile");
            assert!(extra > 0, "the other client made provisions while paging");
            assert!(pages >= 2500 / limit, "{pages} pages");
            for p in &made {
                assert_eq!(seen.get(p), Some(&1), "{p} seen once with limit {limit}");
            }
            assert!(seen.values().all(|n| *n == 1), "no provision twice");
        }
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}
