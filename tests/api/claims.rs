//! The claim rules at the API level: new person, existing account, every refusal, and a race.

use crate::helpers::*;
use provisiond::domain::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The API claim by a signed-in person: the cookie, and the session's CSRF token.
async fn claim_with_cookie(app: &TestApp, web: &mut WebClient<'_>, token: &str) -> (StatusCode, Value) {
    let csrf = web.csrf("/team").await;
    let res = app
        .client
        .post(format!("{}/v1/provisions/claim", app.base))
        .header("cookie", web.cookie.clone().unwrap())
        .header("x-csrf-token", csrf)
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap())
}

engine_tests! {
    #[tokio::test]
    async fn a_new_person_becomes_the_placeholder() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let p = app.provision(&org.owner.api_key).await;
        let key = p["apiKey"].as_str().unwrap();

        let mut web = WebClient::new(&app);
        web.signup_claiming(&p, "New.Person@Example.com", "a good password").await;
        let (status, body) = claim_with_cookie(&app, &mut web, &claim_token(&p)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body,
            json!({"organizationId": org.id, "organizationName": "Acme", "userId": p["userId"], "projectId": p["projectId"]})
        );

        // Same user id; now their email, active; the provisioned key kept working throughout.
        let (s, me) = app.get("/v1/user", key).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(me["id"], p["userId"]);
        assert_eq!(me["email"], "new.person@example.com");
        assert_eq!(me["status"], "active");
        assert_eq!(me["role"], "member");
        assert_eq!(
            app.count("SELECT COUNT(*) FROM users WHERE email = ?1", "new.person@example.com"),
            1,
            "no second account left over"
        );
        let (_, view) =
            app.get(&format!("/v1/team/provisions/{}", p["id"].as_str().unwrap()), &org.owner.api_key).await;
        assert_eq!(view["status"], "claimed");
        assert_eq!(view["claimedBy"], p["userId"]);
        assert_timestamp(&view["claimedAt"]);

        // The session follows the person, and they can log in again with their password.
        assert_eq!(web.get("/team").await.status, StatusCode::OK);
        let mut again = WebClient::new(&app);
        let r = again.login("new.person@example.com", "a good password").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = again.get("/team").await;
        assert!(page.body.contains("Acme"), "dashboard shows the organization");
    }
}

engine_tests! {
    #[tokio::test]
    async fn an_existing_account_receives_project_keys_agents_and_membership() {
        let app = spawn().await;
        let acme = app.create_org("Acme", None, "owner@acme.com");
        let other = app.create_org("Other", None, "dana@other.com");
        let p = app.provision(&acme.owner.api_key).await;
        let key = p["apiKey"].as_str().unwrap();
        let (_, agent) = app.post("/v1/agents", key, json!({"name": "Extra", "identifier": "extra"})).await;

        let (status, body) = app.claim_with_key(&other.owner.api_key, &claim_token(&p)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["userId"], other.owner.user_id.as_str());
        assert_eq!(body["organizationId"], acme.id.as_str());
        assert_eq!(body["projectId"], p["projectId"]);

        // Placeholder gone; its project, key and agents now Dana's; she is a member of Acme.
        let placeholder = p["userId"].as_str().unwrap();
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE id = ?1", placeholder), 0);
        assert_eq!(app.dangling(), 0, "nothing left linked to the placeholder");
        let project = p["projectId"].as_str().unwrap();
        assert_eq!(app.count("SELECT COUNT(*) FROM projects WHERE id = ?1 AND user_n = (SELECT n FROM users WHERE email = 'dana@other.com')", project), 1);
        assert_eq!(
            app.count(
                "SELECT COUNT(*) FROM agents WHERE project_n = (SELECT n FROM projects WHERE id = ?1)",
                project
            ),
            2
        );
        let (s, me) = app.get("/v1/user", key).await;
        assert_eq!(s, StatusCode::OK, "the provisioned key keeps working");
        assert_eq!(me["id"], other.owner.user_id.as_str());
        assert_eq!(me["email"], "dana@other.com");
        assert_eq!(me["organizationName"], "Acme");
        assert_eq!(me["role"], "member");
        let (_, agents) = app.get("/v1/agents", key).await;
        assert!(agents["agents"].as_array().unwrap().iter().any(|a| a["id"] == agent["id"]));
        // Her own organization is untouched.
        let (_, mine) = app.get("/v1/user", &other.owner.api_key).await;
        assert_eq!(mine["organizationName"], "Other");
        assert_eq!(mine["role"], "owner");
    }
}

engine_tests! {
    #[tokio::test]
    async fn an_existing_member_keeps_their_role() {
        let app = spawn().await;
        let acme = app.create_org("Acme", None, "owner@acme.com");
        let admin = app.add_member(&acme, "admin@acme.com", Role::Admin);
        let p = app.provision(&acme.owner.api_key).await; // a member-role provision
        let (s, body) = app.claim_with_key(&admin.api_key, &claim_token(&p)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (_, me) = app.get("/v1/user", p["apiKey"].as_str().unwrap()).await;
        assert_eq!(me["id"], admin.user_id.as_str());
        assert_eq!(me["role"], "member", "the provisioned key acts as at most the provision's role");
        let (_, me) = app.get("/v1/user", &admin.api_key).await;
        assert_eq!(me["role"], "admin", "the existing role stays");
        assert_eq!(
            app.count(
                "SELECT COUNT(*) FROM memberships WHERE user_n = (SELECT n FROM users WHERE id = ?1)",
                &admin.user_id
            ),
            1
        );
    }
}

engine_tests! {
    #[tokio::test]
    async fn every_refusal() {
        let app = spawn().await;
        let acme = app.create_org("Acme", Some("acme.com"), "owner@acme.com");
        let dana = app.create_org("Other", None, "dana@other.com");
        let k = &acme.owner.api_key;

        let unknown = "a".repeat(64);
        assert_error(app.claim_with_key(&dana.owner.api_key, &unknown).await, 400, "invalid_token");
        assert_error(app.claim_with_key(&dana.owner.api_key, "short").await, 400, "invalid_token");
        assert_error(
            app.post("/v1/provisions/claim", &dana.owner.api_key, json!({})).await,
            400,
            "invalid_token",
        );
        assert_error(
            app.post("/v1/provisions/claim", &dana.owner.api_key, json!({"token": 7})).await,
            400,
            "invalid_field",
        );

        let cancelled = app.provision(k).await;
        app.delete(&format!("/v1/team/provisions/{}", cancelled["id"].as_str().unwrap()), k).await;
        assert_error(
            app.claim_with_key(&dana.owner.api_key, &claim_token(&cancelled)).await,
            400,
            "invalid_token",
        );

        let claimed = app.provision(k).await;
        assert_eq!(app.claim_with_key(&dana.owner.api_key, &claim_token(&claimed)).await.0, StatusCode::OK);
        assert_error(
            app.claim_with_key(&dana.owner.api_key, &claim_token(&claimed)).await,
            409,
            "already_claimed",
        );
        assert_error(app.claim_with_key(k, &claim_token(&claimed)).await, 409, "already_claimed");

        // Who may not claim: no credentials, a placeholder's key, an API-only user's key.
        let live = app.provision(k).await;
        let res = app
            .client
            .post(format!("{}/v1/provisions/claim", app.base))
            .json(&json!({"token": claim_token(&live)}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let other_placeholder = app.provision(k).await;
        assert_error(
            app.claim_with_key(other_placeholder["apiKey"].as_str().unwrap(), &claim_token(&live)).await,
            403,
            "insufficient_role",
        );
        app.post("/api/v1/admin/set-provisioner", k, json!({"email": "owner@acme.com", "is_provisioner": true}))
            .await;
        let res = app
            .client
            .post(format!("{}/api/v1/admin/create-user", app.base))
            .header("X-API-Key", k)
            .header("X-User-ID", "owner@acme.com")
            .json(&json!({"email": "bot@x.com"}))
            .send()
            .await
            .unwrap();
        let bot: Value = res.json().await.unwrap();
        assert_error(
            app.claim_with_key(bot["api_key"].as_str().unwrap(), &claim_token(&live)).await,
            403,
            "api_only_user",
        );
        assert_error(app.claim_with_key("oc_nope", &claim_token(&live)).await, 401, "invalid_api_key");

        // Expired, whether or not the sweep has run.
        app.clock.advance(std::time::Duration::from_secs(8 * 86_400));
        assert_error(app.claim_with_key(&dana.owner.api_key, &claim_token(&live)).await, 400, "token_expired");
        app.sweep();
        assert_error(app.claim_with_key(&dana.owner.api_key, &claim_token(&live)).await, 400, "token_expired");
    }
}

engine_tests! {
    #[tokio::test]
    async fn of_many_concurrent_claims_exactly_one_wins() {
        let app = spawn().await;
        let acme = app.create_org("Acme", None, "owner@acme.com");
        let p = app.provision(&acme.owner.api_key).await;
        let token = claim_token(&p);
        let claimers: Vec<String> = (0..24)
            .map(|i| app.create_org(&format!("Org {i}"), None, &format!("c{i}@x.com")).owner.api_key)
            .collect();
        let tries = claimers.iter().map(|key| {
            let (client, url, token) =
                (app.client.clone(), format!("{}/v1/provisions/claim", app.base), token.clone());
            async move {
                let res =
                    client.post(url).bearer_auth(key).json(&json!({ "token": token })).send().await.unwrap();
                let s = res.status();
                (s, res.json::<Value>().await.unwrap())
            }
        });
        let results = futures::future::join_all(tries).await;
        let wins = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        assert_eq!(wins, 1, "{results:?}");
        for (s, body) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
            assert_eq!(*s, StatusCode::CONFLICT);
            assert_eq!(body["error"]["code"], "already_claimed");
        }
        let winner = &results.iter().find(|(s, _)| *s == StatusCode::OK).unwrap().1;
        let (_, me) = app.get("/v1/user", p["apiKey"].as_str().unwrap()).await;
        assert_eq!(me["id"], winner["userId"]);
        assert_eq!(app.count("SELECT COUNT(*) FROM projects WHERE id = ?1", p["projectId"].as_str().unwrap()), 1);
    }
}
