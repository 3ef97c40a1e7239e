//! Organizations cannot see each other, and no secret is ever stored.

use crate::helpers::*;
use provisiond::domain::Role;
use reqwest::StatusCode;
use serde_json::json;

engine_tests! {
    #[tokio::test]
    async fn nothing_of_one_organization_is_visible_or_changeable_from_another() {
        let app = spawn().await;
        let a = app.create_org("A", None, "owner@a.com");
        let b = app.create_org("B", None, "owner@b.com");
        let b_admin = app.add_member(&b, "admin@b.com", Role::Admin);

        let p = app.provision(&a.owner.api_key).await;
        let (_, agent) =
            app.post("/v1/agents", &a.owner.api_key, json!({"name": "A's", "identifier": "a"})).await;
        let pid = p["id"].as_str().unwrap();

        for key in [&b.owner.api_key, &b_admin.api_key] {
            assert_error(app.get(&format!("/v1/team/provisions/{pid}"), key).await, 404, "not_found");
            assert_error(app.delete(&format!("/v1/team/provisions/{pid}"), key).await, 404, "not_found");
            assert_error(
                app.delete(&format!("/v1/agents/{}", agent["id"].as_str().unwrap()), key).await,
                404,
                "not_found",
            );
            assert_error(
                app.delete(&format!("/v1/agents/{}", p["agentId"].as_str().unwrap()), key).await,
                404,
                "not_found",
            );
            let (_, list) = app.get("/v1/team/provisions", key).await;
            assert_eq!(list["provisions"].as_array().unwrap().len(), 0);
            let (_, agents) = app.get("/v1/agents", key).await;
            assert!(agents["agents"].as_array().unwrap().iter().all(|x| x["identifier"] != "a"));
        }
        // A's provision is untouched and its key still works.
        let (_, view) = app.get(&format!("/v1/team/provisions/{pid}"), &a.owner.api_key).await;
        assert_eq!(view["status"], "pending");
        assert_eq!(app.get("/v1/user", p["apiKey"].as_str().unwrap()).await.0, StatusCode::OK);
        // B's provisions land in B.
        app.provision(&b.owner.api_key).await;
        let (_, list) = app.get("/v1/team/provisions", &a.owner.api_key).await;
        assert_eq!(list["provisions"].as_array().unwrap().len(), 1);
    }
}

engine_tests! {
    #[tokio::test]
    async fn no_key_or_token_is_stored_in_the_database_files() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let mut secrets = vec![org.owner.api_key.clone()];
        for _ in 0..3 {
            let p = app.provision(&org.owner.api_key).await;
            secrets.push(p["apiKey"].as_str().unwrap().to_string());
            let url = p["claimUrl"].as_str().unwrap();
            secrets.push(url[url.len() - 64..].to_string());
        }
        let (_, r) = app.post("/v1/user/api-key/regenerate", &org.owner.api_key, json!({})).await;
        secrets.push(r["apiKey"].as_str().unwrap().to_string());

        // Whatever the engine keeps (see `at_rest_contains`).
        for s in &secrets {
            let hex = &s[s.len() - 64..];
            assert!(!app.at_rest_contains(s.as_bytes()), "secret stored in plain text");
            assert!(!app.at_rest_contains(hex.as_bytes()), "secret's hex stored");
            // Nor the raw 32 bytes it encodes.
            let raw: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
            assert!(!app.at_rest_contains(&raw), "secret's raw bytes stored");
            // The hash, on the other hand, must be there: the check above is looking in the right place.
            assert!(app.at_rest_contains(blake3::hash(s.as_bytes()).as_bytes()), "hash stored");
        }
    }
}
