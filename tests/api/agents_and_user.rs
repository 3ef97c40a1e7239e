//! Agents in the key's project, the caller's view of itself, and key rotation.

use crate::helpers::*;
use provisiond::domain::Role;
use reqwest::StatusCode;
use serde_json::json;

engine_tests! {
    #[tokio::test]
    async fn create_list_delete_agents() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let (status, a) =
            app.post("/v1/agents", k, json!({"name": "  Research Bot  ", "identifier": "research-1"})).await;
        assert_eq!(status, StatusCode::CREATED, "{a}");
        assert_uuid(&a["id"]);
        assert_eq!(a["name"], "Research Bot", "name is trimmed");
        assert_eq!(a["identifier"], "research-1");
        assert_timestamp(&a["createdAt"]);

        let (status, child) = app
            .post(
                "/v1/agents",
                k,
                json!({"name": "Child", "identifier": "child", "parentIdentifier": "research-1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{child}");
        assert_eq!(child["parentIdentifier"], "research-1");

        assert_error(
            app.post("/v1/agents", k, json!({"name": "Again", "identifier": "research-1"})).await,
            409,
            "agent_exists",
        );

        let (status, list) = app.get("/v1/agents", k).await;
        assert_eq!(status, StatusCode::OK);
        let ids: Vec<_> = list["agents"].as_array().unwrap().iter().map(|a| a["identifier"].clone()).collect();
        assert_eq!(ids, vec![json!("research-1"), json!("child")]);

        let path = format!("/v1/agents/{}", a["id"].as_str().unwrap());
        let (status, _) = app.delete(&path, k).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_error(app.delete(&path, k).await, 404, "not_found");
        let (_, list) = app.get("/v1/agents", k).await;
        assert_eq!(list["agents"].as_array().unwrap().len(), 1);
        // The identifier is free again.
        assert_eq!(
            app.post("/v1/agents", k, json!({"name": "Back", "identifier": "research-1"})).await.0,
            StatusCode::CREATED
        );
    }
}

engine_tests! {
    #[tokio::test]
    async fn invalid_agents_get_400_invalid_field() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let long_name = "n".repeat(256);
        let long_id = "a".repeat(51);
        for body in [
            json!({}),
            json!({"identifier": "ok"}),
            json!({"name": "ok"}),
            json!({"name": "", "identifier": "ok"}),
            json!({"name": "   ", "identifier": "ok"}),
            json!({"name": long_name, "identifier": "ok"}),
            json!({"name": 5, "identifier": "ok"}),
            json!({"name": "ok", "identifier": ""}),
            json!({"name": "ok", "identifier": "-lead"}),
            json!({"name": "ok", "identifier": "Upper"}),
            json!({"name": "ok", "identifier": "under_score"}),
            json!({"name": "ok", "identifier": long_id}),
            json!({"name": "ok", "identifier": 7}),
            json!({"name": "ok", "identifier": "ok", "parentIdentifier": "Bad Parent"}),
            json!({"name": "ok", "identifier": "ok", "parentIdentifier": 3}),
        ] {
            assert_error(app.post("/v1/agents", k, body.clone()).await, 400, "invalid_field");
        }
        let (_, list) = app.get("/v1/agents", k).await;
        assert_eq!(list["agents"].as_array().unwrap().len(), 0, "nothing was created");
        // The limits themselves are accepted.
        let (status, _) =
            app.post("/v1/agents", k, json!({"name": "n".repeat(255), "identifier": "a".repeat(50)})).await;
        assert_eq!(status, StatusCode::CREATED);
    }
}

engine_tests! {
    #[tokio::test]
    async fn agents_belong_to_the_keys_project() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let member = app.add_member(&org, "m@acme.com", Role::Member);
        let (_, a) =
            app.post("/v1/agents", &org.owner.api_key, json!({"name": "Mine", "identifier": "mine"})).await;
        // Another project in the same organization neither sees nor deletes it...
        let (_, list) = app.get("/v1/agents", &member.api_key).await;
        assert_eq!(list["agents"].as_array().unwrap().len(), 0);
        assert_error(
            app.delete(&format!("/v1/agents/{}", a["id"].as_str().unwrap()), &member.api_key).await,
            404,
            "not_found",
        );
        // ...and may reuse the identifier in its own project.
        assert_eq!(
            app.post("/v1/agents", &member.api_key, json!({"name": "Mine", "identifier": "mine"})).await.0,
            StatusCode::CREATED
        );
    }
}

engine_tests! {
    #[tokio::test]
    async fn user_describes_the_caller() {
        let app = spawn().await;
        let org = app.create_org("Acme Inc", None, "Owner@Acme.com");
        let admin = app.add_member(&org, "admin@acme.com", Role::Admin);
        let (status, me) = app.get("/v1/user", &org.owner.api_key).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            me,
            json!({
                "id": org.owner.user_id, "email": "owner@acme.com", "status": "active", "apiOnly": false,
                "organizationId": org.id, "organizationName": "Acme Inc", "role": "owner",
                "isProvisioner": false, "projectId": org.owner.project_id,
            })
        );
        let (_, me) = app.get("/v1/user", &admin.api_key).await;
        assert_eq!(me["role"], "admin");
        assert_eq!(me["id"], admin.user_id.as_str());
    }
}

engine_tests! {
    #[tokio::test]
    async fn regenerate_replaces_the_key_at_once() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let old = org.owner.api_key.clone();
        let (status, body) = app.post("/v1/user/api-key/regenerate", &old, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body.as_object().unwrap().len(), 1);
        app.assert_key(&body["apiKey"]);
        let new = body["apiKey"].as_str().unwrap();
        assert_ne!(new, old);
        assert_error(app.get("/v1/user", &old).await, 401, "invalid_api_key");
        assert_error(app.post("/v1/user/api-key/regenerate", &old, json!({})).await, 401, "invalid_api_key");
        let (status, me) = app.get("/v1/user", new).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["projectId"], org.owner.project_id.as_str(), "same project");

        // A provisioned key can be rotated too, and the new one expires with the provision.
        let p = app.provision(new).await;
        let (_, rotated) =
            app.post("/v1/user/api-key/regenerate", p["apiKey"].as_str().unwrap(), json!({})).await;
        let rotated = rotated["apiKey"].as_str().unwrap();
        assert_eq!(app.get("/v1/user", rotated).await.0, StatusCode::OK);
        assert_error(app.get("/v1/user", p["apiKey"].as_str().unwrap()).await, 401, "invalid_api_key");
        app.clock.advance(std::time::Duration::from_secs(8 * 86_400));
        assert_error(app.get("/v1/user", rotated).await, 401, "invalid_api_key");
    }
}
