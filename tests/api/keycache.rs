//! The key cache is exact: a key whose meaning changed is judged anew on the very next request,
//! and group commit keeps one failing write from undoing the others in its batch.

/// Keys the server's cache trusts right now.
fn cached(app: &TestApp) -> usize {
    blocking(provisiond::service::keys::cached_keys(&app.ctx)).unwrap()
}

use crate::helpers::*;
use provisiond::domain::Role;
use reqwest::StatusCode;
use serde_json::json;

/// Uses `key` until the cache holds it, so the next check is a cache hit unless invalidated.
async fn warm(app: &TestApp, key: &str) {
    assert_eq!(app.get("/v1/user", key).await.0, StatusCode::OK);
    assert_eq!(app.get("/v1/user", key).await.0, StatusCode::OK);
    assert!(cached(app) > 0, "the key is cached");
}

engine_tests! {
    #[tokio::test]
    async fn regenerated_cancelled_expired_and_swept_keys_fail_on_the_next_request() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;

        // Regenerated.
        let p = app.provision(k).await;
        let key = p["apiKey"].as_str().unwrap().to_string();
        warm(&app, &key).await;
        let (_, new) = app.post("/v1/user/api-key/regenerate", &key, json!({})).await;
        assert_error(app.get("/v1/user", &key).await, 401, "invalid_api_key");
        let new = new["apiKey"].as_str().unwrap().to_string();
        warm(&app, &new).await;

        // Cancelled (the regenerated key of the same placeholder goes too).
        app.delete(&format!("/v1/team/provisions/{}", p["id"].as_str().unwrap()), k).await;
        assert_error(app.get("/v1/user", &new).await, 401, "invalid_api_key");

        // Expired: no write at all happens, the cached entry carries the expiry.
        let p = app.provision(k).await;
        let key = p["apiKey"].as_str().unwrap().to_string();
        warm(&app, &key).await;
        let before = cached(&app);
        app.clock.advance(std::time::Duration::from_secs(7 * 86_400));
        assert_error(app.get("/v1/user", &key).await, 401, "invalid_api_key");
        assert_eq!(cached(&app), before, "refused from the cache itself");

        // Swept: the sweep empties the cache, and the owner's key is looked up afresh and still works.
        warm(&app, k).await;
        assert_eq!(app.sweep(), 1);
        assert!(cached(&app) == 0);
        assert_eq!(app.get("/v1/user", k).await.0, StatusCode::OK);
    }
}

engine_tests! {
    #[tokio::test]
    async fn claims_and_permission_changes_are_seen_at_once() {
        let app = spawn().await;
        let org = app.create_org("Acme", Some("acme.com"), "owner@acme.com");
        let admin = app.add_member(&org, "admin@acme.com", Role::Admin);

        // Provisioner access switched on and off: the admin's cached key follows.
        warm(&app, &admin.api_key).await;
        app.post(
            "/api/v1/admin/set-provisioner",
            &org.owner.api_key,
            json!({"email": "admin@acme.com", "is_provisioner": true}),
        )
        .await;
        assert_eq!(app.get("/v1/user", &admin.api_key).await.1["isProvisioner"], true);
        app.post(
            "/api/v1/admin/set-provisioner",
            &org.owner.api_key,
            json!({"email": "admin@acme.com", "is_provisioner": false}),
        )
        .await;
        assert_eq!(app.get("/v1/user", &admin.api_key).await.1["isProvisioner"], false);

        // A claim moves the key to another user: the next request sees the new owner.
        let p = app.provision(&org.owner.api_key).await;
        let key = p["apiKey"].as_str().unwrap();
        warm(&app, key).await;
        let (s, _) = app.post("/v1/provisions/claim", &admin.api_key, json!({"token": claim_token(&p)})).await;
        assert_eq!(s, StatusCode::OK);
        let (_, me) = app.get("/v1/user", key).await;
        assert_eq!(me["id"], admin.user_id.as_str());
        assert_eq!(me["role"], "member", "the provision's role: the key's ceiling");
        assert_eq!(me["status"], "active", "no longer a placeholder's key");
    }
}

engine_tests! {
    #[tokio::test]
    async fn reads_and_adding_writes_keep_the_cache() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        warm(&app, &org.owner.api_key).await;
        let before = cached(&app);
        app.provision(&org.owner.api_key).await;
        app.post("/v1/agents", &org.owner.api_key, json!({"name": "a", "identifier": "a"})).await;
        assert_eq!(cached(&app), before, "provisioning and agents do not empty the cache");
    }
}

engine_tests! {
    #[tokio::test]
    async fn one_failing_write_does_not_undo_the_others_in_its_batch() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        // 60 concurrent creates, 20 of them duplicates of others: batched together by the writer.
        let tries = (0..60).map(|i| {
            let (client, url, key) =
                (app.client.clone(), format!("{}/v1/agents", app.base), org.owner.api_key.clone());
            async move {
                let body = json!({"name": "Agent", "identifier": format!("agent-{}", i % 40)});
                client.post(url).bearer_auth(key).json(&body).send().await.unwrap().status()
            }
        });
        let statuses = futures::future::join_all(tries).await;
        let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
        let conflicts = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
        assert_eq!((created, conflicts), (40, 20), "{statuses:?}");
        let (_, list) = app.get("/v1/agents", &org.owner.api_key).await;
        assert_eq!(list["agents"].as_array().unwrap().len(), 40);
    }
}

engine_tests! {
    #[tokio::test]
    async fn key_use_is_recorded_in_bulk_not_on_the_request() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let key_id = |app: &TestApp| {
            app.count(
                "SELECT COUNT(*) FROM api_keys WHERE last_used_at IS NOT NULL AND user_n = (SELECT n FROM users WHERE id = ?1)",
                &org.owner.user_id,
            )
        };
        assert_eq!(app.get("/v1/user", &org.owner.api_key).await.0, StatusCode::OK);
        assert_eq!(key_id(&app), 0, "the request itself wrote nothing");
        assert_eq!(provisiond::service::keys::flush_key_usage(&app.ctx).unwrap(), 1);
        assert_eq!(key_id(&app), 1);
        assert_eq!(
            provisiond::service::keys::flush_key_usage(&app.ctx).unwrap(),
            0,
            "noted at most once a minute"
        );
    }
}
