//! Team provisioning: create, list, get, cancel, expiry — against the real server.

use crate::helpers::*;
use provisiond::domain::Role;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

engine_tests! {
    #[tokio::test]
    async fn provision_returns_the_contract_shape_and_the_key_works_at_once() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let before = app.clock.now();
        let (status, p) = app
            .post("/v1/team/provisions", &org.owner.api_key, json!({"role": "member", "skipOnboarding": true}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        for f in ["id", "userId", "projectId", "agentId"] {
            assert_uuid(&p[f]);
        }
        app.assert_key(&p["apiKey"]);
        let url = p["claimUrl"].as_str().unwrap();
        let token = url.strip_prefix(&format!("{PUBLIC_URL}/claim?token=")).expect("claim URL on PUBLIC_URL");
        assert_eq!(token.len(), 64);
        assert!(token.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        let expires = assert_timestamp(&p["expiresAt"]);
        let week = 7 * 86_400_000;
        assert!(expires >= before + week && expires <= app.clock.now() + week, "expiresAt is now + 7 days");
        assert_eq!(p.as_object().unwrap().len(), 7, "exactly the contract's fields: {p}");

        let (status, me) = app.get("/v1/user", p["apiKey"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["id"], p["userId"]);
        assert_eq!(me["projectId"], p["projectId"]);
        assert_eq!(me["status"], "placeholder");
        assert_eq!(me["role"], "member");
        assert_eq!(me["organizationId"], org.id.as_str());
        assert_eq!(me["email"], serde_json::Value::Null);

        // The default agent exists in the provisioned project.
        let (_, agents) = app.get("/v1/agents", p["apiKey"].as_str().unwrap()).await;
        assert_eq!(agents["agents"][0]["identifier"], "default");
        assert_eq!(agents["agents"][0]["name"], "Default Agent");
        assert_eq!(agents["agents"][0]["id"], p["agentId"]);
    }
}

engine_tests! {
    #[tokio::test]
    async fn empty_body_means_defaults_and_admin_role_is_granted() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        // No body and no content type at all, as `curl -X POST` sends.
        let res = app.post_bare("/v1/team/provisions", &org.owner.api_key).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let p: serde_json::Value = res.json().await.unwrap();
        let (_, view) =
            app.get(&format!("/v1/team/provisions/{}", p["id"].as_str().unwrap()), &org.owner.api_key).await;
        assert_eq!(view["role"], "member");
        assert_eq!(view["skipOnboarding"], true);

        let (_, p) = app
            .post("/v1/team/provisions", &org.owner.api_key, json!({"role": "admin", "skipOnboarding": false}))
            .await;
        let (_, view) =
            app.get(&format!("/v1/team/provisions/{}", p["id"].as_str().unwrap()), &org.owner.api_key).await;
        assert_eq!(view["role"], "admin");
        assert_eq!(view["skipOnboarding"], false);
        // A provisioned admin may provision in turn, once the account is claimed (not before).
        let admin_key = p["apiKey"].as_str().unwrap();
        assert_error(app.post("/v1/team/provisions", admin_key, json!({})).await, 403, "insufficient_role");
        let claimer =
            app.add_member(&app.create_org("Elsewhere", None, "ada@else.com"), "ada2@else.com", Role::Owner);
        let (s, body) =
            app.post("/v1/provisions/claim", &claimer.api_key, json!({"token": claim_token(&p)})).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        app.provision(admin_key).await;
    }
}

engine_tests! {
    #[tokio::test]
    async fn member_cannot_provision_admin_and_owner_can() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let admin = app.add_member(&org, "admin@acme.com", Role::Admin);
        let member = app.add_member(&org, "member@acme.com", Role::Member);

        assert_error(app.post("/v1/team/provisions", &member.api_key, json!({})).await, 403, "insufficient_role");
        assert_error(app.get("/v1/team/provisions", &member.api_key).await, 403, "insufficient_role");
        let p = app.provision(&admin.api_key).await;
        assert_error(
            app.get(&format!("/v1/team/provisions/{}", p["id"].as_str().unwrap()), &member.api_key).await,
            403,
            "insufficient_role",
        );
        assert_error(
            app.delete(&format!("/v1/team/provisions/{}", p["id"].as_str().unwrap()), &member.api_key).await,
            403,
            "insufficient_role",
        );
        app.provision(&org.owner.api_key).await;
        // A provisioned member key is a member too.
        let pm = app.provision(&org.owner.api_key).await;
        assert_error(
            app.post("/v1/team/provisions", pm["apiKey"].as_str().unwrap(), json!({})).await,
            403,
            "insufficient_role",
        );
    }
}

engine_tests! {
    #[tokio::test]
    async fn bad_provision_bodies_get_400() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        for body in [
            json!({"role": "owner"}),
            json!({"role": "Admin"}),
            json!({"role": 1}),
            json!({"skipOnboarding": "yes"}),
            json!({"skipOnboarding": 0}),
        ] {
            assert_error(app.post("/v1/team/provisions", k, body).await, 400, "invalid_field");
        }
        for body in [json!([]), json!("member"), json!(1)] {
            assert_error(app.post("/v1/team/provisions", k, body).await, 400, "invalid_json");
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM provisions WHERE org_id = ?1", &org.id), 0, "nothing created");
    }
}

engine_tests! {
    #[tokio::test]
    async fn list_is_newest_first_filterable_and_holds_no_secret() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let first = app.provision(k).await;
        app.clock.advance(Duration::from_millis(5));
        let second = app.provision(k).await;
        app.clock.advance(Duration::from_millis(5));
        let third = app.provision(k).await;
        assert_eq!(
            app.delete(&format!("/v1/team/provisions/{}", second["id"].as_str().unwrap()), k).await.0,
            StatusCode::NO_CONTENT
        );

        let (status, list) = app.get("/v1/team/provisions", k).await;
        assert_eq!(status, StatusCode::OK);
        let items = list["provisions"].as_array().unwrap();
        let ids: Vec<_> = items.iter().map(|p| p["id"].clone()).collect();
        assert_eq!(ids, vec![third["id"].clone(), second["id"].clone(), first["id"].clone()]);
        let item = &items[0];
        let mut fields: Vec<_> = item.as_object().unwrap().keys().cloned().collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "agentId",
                "claimedAt",
                "claimedBy",
                "createdAt",
                "createdBy",
                "email",
                "expiresAt",
                "externalId",
                "id",
                "metadata",
                "name",
                "projectId",
                "role",
                "skipOnboarding",
                "status",
                "userId"
            ]
        );
        assert_eq!(item["createdBy"], org.owner.user_id.as_str());
        assert_timestamp(&item["createdAt"]);
        let text = list.to_string();
        for p in [&first, &second, &third] {
            assert!(!text.contains(p["apiKey"].as_str().unwrap()));
            let url = p["claimUrl"].as_str().unwrap();
            assert!(!text.contains(&url[url.len() - 64..]), "no claim token in listings");
        }

        let (_, pending) = app.get("/v1/team/provisions?status=pending", k).await;
        assert_eq!(pending["provisions"].as_array().unwrap().len(), 2);
        let (_, cancelled) = app.get("/v1/team/provisions?status=cancelled", k).await;
        assert_eq!(cancelled["provisions"].as_array().unwrap().len(), 1);
        assert_eq!(cancelled["provisions"][0]["id"], second["id"]);
        let (_, limited) = app.get("/v1/team/provisions?limit=1", k).await;
        assert_eq!(limited["provisions"].as_array().unwrap().len(), 1);
        assert_error(app.get("/v1/team/provisions?status=done", k).await, 400, "invalid_field");
        assert_error(app.get("/v1/team/provisions?limit=0", k).await, 400, "invalid_field");
        assert_error(app.get("/v1/team/provisions?limit=many", k).await, 400, "invalid_field");
    }
}

engine_tests! {
    #[tokio::test]
    async fn get_one_and_unknown_ids() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let p = app.provision(k).await;
        let (status, view) = app.get(&format!("/v1/team/provisions/{}", p["id"].as_str().unwrap()), k).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(view["status"], "pending");
        assert_eq!(view["userId"], p["userId"]);
        assert_eq!(view["expiresAt"], p["expiresAt"]);
        assert_eq!(view["claimedAt"], serde_json::Value::Null);
        for id in ["00000000-0000-4000-8000-000000000000", "not-a-uuid"] {
            assert_error(app.get(&format!("/v1/team/provisions/{id}"), k).await, 404, "not_found");
            assert_error(app.delete(&format!("/v1/team/provisions/{id}"), k).await, 404, "not_found");
        }
    }
}

/// Rows a provision created that must be gone once it ends.
fn remaining_rows(app: &TestApp, p: &serde_json::Value) -> i64 {
    let user = p["userId"].as_str().unwrap();
    let project = p["projectId"].as_str().unwrap();
    let agent = p["agentId"].as_str().unwrap();
    // Rows link by internal numbers (schema.sql, Keys): once the user and project rows are gone,
    // what was linked to them must be gone too, not left dangling.
    app.count("SELECT COUNT(*) FROM users WHERE id = ?1", user)
        + app.count(
            "SELECT COUNT(*) FROM memberships WHERE user_n = (SELECT n FROM users WHERE id = ?1)",
            user,
        )
        + app.count("SELECT COUNT(*) FROM projects WHERE id = ?1", project)
        + app.count(
            "SELECT COUNT(*) FROM api_keys WHERE project_n = (SELECT n FROM projects WHERE id = ?1)",
            project,
        )
        + app.count("SELECT COUNT(*) FROM agents WHERE id = ?1", agent)
        + app.dangling()
}

engine_tests! {
    #[tokio::test]
    async fn cancel_deletes_everything_at_once_and_keeps_the_record() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let p = app.provision(k).await;
        let key = p["apiKey"].as_str().unwrap();
        assert_eq!(app.get("/v1/user", key).await.0, StatusCode::OK);
        assert_eq!(remaining_rows(&app, &p), 5, "user, membership, project, key, agent");

        let id = p["id"].as_str().unwrap();
        let (status, body) = app.delete(&format!("/v1/team/provisions/{id}"), k).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(body, serde_json::Value::Null, "204 has no body");

        assert_error(app.get("/v1/user", key).await, 401, "invalid_api_key");
        assert_eq!(remaining_rows(&app, &p), 0);
        let (_, view) = app.get(&format!("/v1/team/provisions/{id}"), k).await;
        assert_eq!(view["status"], "cancelled");
        assert_error(app.delete(&format!("/v1/team/provisions/{id}"), k).await, 409, "not_pending");
        // The owner is untouched.
        assert_eq!(app.get("/v1/user", k).await.0, StatusCode::OK);
    }
}

engine_tests! {
    #[tokio::test]
    async fn expired_key_is_refused_before_the_sweep_and_the_sweep_deletes_the_rows() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let p = app.provision(k).await;
        let keep = app.provision(k).await;
        let key = p["apiKey"].as_str().unwrap();
        let id = p["id"].as_str().unwrap();

        // A day before expiry: still works, and the sweep leaves it alone.
        app.clock.advance(Duration::from_secs(6 * 86_400));
        assert_eq!(app.get("/v1/user", key).await.0, StatusCode::OK);
        assert_eq!(app.sweep(), 0);

        app.clock.advance(Duration::from_secs(86_400));
        // Past expiresAt, the sweep has not run: refused anyway, and shown as expired.
        assert_error(app.get("/v1/user", key).await, 401, "invalid_api_key");
        let (_, view) = app.get(&format!("/v1/team/provisions/{id}"), k).await;
        assert_eq!(view["status"], "expired");
        let (_, expired) = app.get("/v1/team/provisions?status=expired", k).await;
        assert_eq!(expired["provisions"].as_array().unwrap().len(), 2);
        let (_, pending) = app.get("/v1/team/provisions?status=pending", k).await;
        assert_eq!(pending["provisions"].as_array().unwrap().len(), 0);
        assert_error(app.delete(&format!("/v1/team/provisions/{id}"), k).await, 409, "not_pending");
        assert_eq!(remaining_rows(&app, &p), 5, "rows stay until the sweep");

        assert_eq!(app.sweep(), 2);
        assert_eq!(remaining_rows(&app, &p), 0);
        assert_eq!(remaining_rows(&app, &keep), 0);
        assert_eq!(app.count("SELECT COUNT(*) FROM provisions WHERE id = ?1 AND status = 'expired'", id), 1);
        assert_eq!(app.sweep(), 0, "nothing left to sweep");
        assert_eq!(app.get("/v1/user", k).await.0, StatusCode::OK, "owner untouched");
    }
}

/// The database commits the server has made so far, from its /metrics.
async fn commits(app: &TestApp) -> i64 {
    let text = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("provisiond_db_commit_seconds_count "));
    let n = line.and_then(|l| l.split(' ').nth(1)).and_then(|n| n.parse::<f64>().ok());
    n.unwrap_or_else(|| panic!("no commit count in {text}")) as i64
}

engine_tests! {
    #[tokio::test]
    async fn sweep_works_through_more_than_one_batch() {
        // Metrics on: the commits the sweep made are the batches it ran (each waits for the last).
        let app = spawn_with(|s| {
            s.provision_rate_limit = 0;
            s.metrics = true;
        })
        .await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let caller = app.get("/v1/user", &org.owner.api_key).await.1;
        assert_eq!(caller["role"], "owner");
        // Straight through the service layer: 1,203 provisions is slow over HTTP and proves nothing more.
        let actor = provisiond::service::Actor::person(provisiond::domain::UserId::parse(org.owner.user_id.as_str()).unwrap(), provisiond::domain::OrgId::parse(&org.id).unwrap());
        let client = Default::default();
        let made = futures::future::join_all((0..1203).map(|_| {
            let input = provisiond::service::provisioning::ProvisionInput {
                role: Default::default(),
                skip_onboarding: true,
            };
            provisiond::service::provisioning::provision(&app.ctx, actor.clone(), &client, input)
        }))
        .await;
        assert!(made.iter().all(Result::is_ok));
        app.clock.advance(Duration::from_secs(7 * 86_400 + 1));
        let batch = provisiond::service::provisioning::SWEEP_BATCH as i64;
        let batches = (1203 + batch - 1) / batch;
        assert!(batches >= 3, "1,203 provisions take more than one batch of {batch}");
        let commits_before = commits(&app).await;
        assert_eq!(app.sweep(), 1203);
        let commits = commits(&app).await - commits_before;
        // One commit per batch, then one for the rest of the sweep (links, sessions, ...).
        assert!(commits > batches, "the sweep ran {batches} batches: {commits} commits");
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE status = ?1", "placeholder"), 0);
        assert_eq!(app.count("SELECT COUNT(*) FROM provisions WHERE status = ?1", "expired"), 1203);
    }
}

engine_tests! {
    #[tokio::test]
    async fn the_background_thread_sweeps_on_its_interval() {
        let app = spawn_with(|s| s.cleanup_interval = Duration::from_millis(20)).await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let p = app.provision(&org.owner.api_key).await;
        app.clock.advance(Duration::from_secs(8 * 86_400));
        // Waiting on the thread, not on time: the clock has already moved.
        let id = p["id"].as_str().unwrap();
        let mut swept = false;
        for _ in 0..250 {
            if app.count("SELECT COUNT(*) FROM provisions WHERE id = ?1 AND status = 'expired'", id) == 1 {
                swept = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(swept, "the cleanup thread marked the provision expired within 5 s");
        assert_eq!(remaining_rows(&app, &p), 0);
    }
}

engine_tests! {
    #[tokio::test]
    async fn x_project_id_header_is_accepted_and_ignored() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let res = app
            .client
            .post(format!("{}/v1/team/provisions", app.base))
            .header("X-API-Key", &org.owner.api_key)
            .header("X-Project-Id", "whatever")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
}

engine_tests! {
    #[tokio::test]
    async fn keys_carry_the_configured_prefix() {
        let app = spawn_with(|s| s.key_prefix = "acme_".into()).await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        app.assert_key(&serde_json::Value::String(org.owner.api_key.clone()));
        let p = app.provision(&org.owner.api_key).await;
        app.assert_key(&p["apiKey"]);
        let (_, new) = app.post("/v1/user/api-key/regenerate", p["apiKey"].as_str().unwrap(), json!({})).await;
        app.assert_key(&new["apiKey"]);
    }
}
