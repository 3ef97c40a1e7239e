//! SCIM 2.0 (issue 24) as the identity providers drive it: Okta's and Entra ID's flows with the
//! wire bodies each sends (lookup by userName, create, PATCH deactivate, reactivate, group push
//! with members added and removed, delete), existing members linked, the admin group, the owner
//! rules, who may make a SCIM token, the audit rows and events, and new people signing in through
//! the password-reset mail. The helpers here serve the other `scim_*` modules too.

use crate::helpers::*;
use provisiond::domain::{OrgId, Role, UserId};
use provisiond::service::keys;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A SCIM request as an identity provider sends it (`application/scim+json`); every answer with
/// a body must be `application/scim+json` too.
pub async fn scim(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, format!("{}/scim/v2{path}", app.base))
        .bearer_auth(token)
        .header("Accept", "application/scim+json");
    if let Some(b) = body {
        req = req.header("Content-Type", "application/scim+json; charset=utf-8").body(b.to_string());
    }
    let res = req.send().await.expect("request sent");
    let status = res.status();
    let media = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let text = res.text().await.expect("body read");
    if text.is_empty() {
        return (status, Value::Null);
    }
    assert!(media.starts_with("application/scim+json"), "{status} answered as {media}: {text}");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}

/// `scim`, expecting `status`: the body.
pub async fn ok(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let (s, b) = scim(app, method.clone(), path, token, body).await;
    assert_eq!(s.as_u16(), status, "{method} {path}: {b}");
    b
}

/// A SCIM token made by the organization's owner.
pub async fn scim_token(app: &TestApp, org: &Org) -> String {
    let (s, k) = app.post("/v1/keys", &org.owner.api_key, json!({"scopes": ["scim"], "name": "idp"})).await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    assert_eq!(k["scopes"], json!(["scim"]));
    k["apiKey"].as_str().unwrap().to_string()
}

/// The SCIM error body (RFC 7644 §3.12), with this status and scimType.
#[track_caller]
pub fn assert_scim_error(got: &(StatusCode, Value), status: u16, scim_type: Option<&str>) {
    let (s, body) = got;
    assert_eq!(s.as_u16(), status, "status of {body}");
    assert_eq!(body["schemas"], json!([ERROR]), "{body}");
    assert_eq!(body["status"], status.to_string(), "{body}");
    match scim_type {
        Some(t) => assert_eq!(body["scimType"], t, "{body}"),
        None => assert!(body.get("scimType").is_none(), "no scimType in {body}"),
    }
    assert!(body["detail"].as_str().is_some_and(|d| d.len() > 10), "{body}");
}

/// A key the person made for themselves (signed in, as the dashboard does).
pub async fn key_of(app: &TestApp, org: &Org, user: &str) -> String {
    let (user, org) = (UserId::parse(user).unwrap(), OrgId::parse(&org.id).unwrap());
    keys::create_as_person(&app.ctx, &user, &org, None, None, None).await.expect("key made").api_key
}

/// The member's row in `GET /v1/members`, if they are one.
pub async fn member(app: &TestApp, org: &Org, user: &str) -> Option<Value> {
    let (s, list) = app.get("/v1/members", &org.owner.api_key).await;
    assert_eq!(s, StatusCode::OK);
    list["members"].as_array().unwrap().iter().find(|m| m["userId"] == user).cloned()
}

fn patch_op(ops: Value) -> Option<Value> {
    Some(json!({"schemas": [PATCH_OP], "Operations": ops}))
}

/// `filter=userName eq "…"`, URL-encoded as Okta sends it.
fn by_user_name(name: &str) -> String {
    let f: String =
        url::form_urlencoded::byte_serialize(format!("userName eq \"{name}\"").as_bytes()).collect();
    format!("/Users?filter={f}&startIndex=1&count=100")
}

engine_tests! {
    #[tokio::test]
    async fn okta_pushes_a_person_in_deactivates_reactivates_groups_and_removes_them() {
        let app = spawn().await;
        let org = app.create_org("Acme", Some("example.com"), "owner@example.com");
        let t = scim_token(&app, &org).await;
        let get = Method::GET;

        // Okta looks the person up first: nobody.
        let found = ok(&app, get.clone(), &by_user_name("dade.murphy@example.com"), &t, None, 200).await;
        assert_eq!((found["schemas"].clone(), found["totalResults"].clone()), (json!([LIST]), json!(0)));

        // Then creates them, as Okta sends it (its password is never taken).
        let body = json!({
            "schemas": [USER], "userName": "dade.murphy@example.com",
            "name": {"givenName": "Dade", "familyName": "Murphy"},
            "emails": [{"primary": true, "value": "dade.murphy@example.com", "type": "work"}],
            "displayName": "Dade Murphy", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [], "password": "1mz050nq", "active": true
        });
        let u = ok(&app, Method::POST, "/Users", &t, Some(body), 201).await;
        let id = u["id"].as_str().unwrap().to_string();
        assert_uuid(&u["id"]);
        assert_eq!((u["userName"].clone(), u["active"].clone()), (json!("dade.murphy@example.com"), json!(true)));
        assert_eq!(u["name"], json!({"givenName": "Dade", "familyName": "Murphy"}));
        assert_eq!(u["externalId"], "00ujl29u0le5T6Aj10h7");
        assert!(u.get("password").is_none() && u.get("groups").is_none(), "{u}");
        assert!(u["meta"]["location"].as_str().unwrap().ends_with(&format!("/scim/v2/Users/{id}")));
        // A member, of the organization's own verified domain: verified, no password, no key,
        // a project of their own.
        assert_eq!(member(&app, &org, &id).await.unwrap()["role"], "member");
        let verified = "SELECT COUNT(*) FROM users WHERE id = ?1 AND email_verified AND password_hash IS NULL";
        assert_eq!(app.count(verified, &id), 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM api_keys WHERE user_n = (SELECT n FROM users WHERE id = ?1)", &id), 0);
        assert_eq!(app.count("SELECT COUNT(*) FROM projects WHERE user_n = (SELECT n FROM users WHERE id = ?1)", &id), 1);
        // Found now, whatever the case.
        let found = ok(&app, get.clone(), &by_user_name("Dade.Murphy@EXAMPLE.com"), &t, None, 200).await;
        assert_eq!((found["totalResults"].clone(), found["Resources"][0]["id"].clone()), (json!(1), json!(id)));

        // Okta's profile push is a PUT of the whole User.
        let put = json!({
            "schemas": [USER], "id": id, "userName": "dade.murphy@example.com",
            "name": {"givenName": "Zero", "familyName": "Cool"},
            "emails": [{"primary": true, "value": "dade.murphy@example.com", "type": "work"}],
            "displayName": "Zero Cool", "externalId": "00ujl29u0le5T6Aj10h7", "active": true
        });
        let u = ok(&app, Method::PUT, &format!("/Users/{id}"), &t, Some(put), 200).await;
        assert_eq!((u["displayName"].clone(), u.get("locale")), (json!("Zero Cool"), None), "replaced, not merged");

        // The person signed in and made a key; Okta deactivates them: the key dies at once.
        let key = key_of(&app, &org, &id).await;
        assert_eq!(app.get("/v1/user", &key).await.0, StatusCode::OK);
        let off = patch_op(json!([{"op": "replace", "value": {"active": false}}]));
        let u = ok(&app, Method::PATCH, &format!("/Users/{id}"), &t, off, 200).await;
        assert_eq!(u["active"], false);
        assert_error(app.get("/v1/user", &key).await, 401, "invalid_api_key");
        assert!(member(&app, &org, &id).await.is_some(), "suspended, still a member");
        assert_eq!(ok(&app, get.clone(), &format!("/Users/{id}"), &t, None, 200).await["active"], false);

        // Reactivated: the membership is back, the old key is not; a new one works.
        let on = patch_op(json!([{"op": "replace", "value": {"active": true}}]));
        assert_eq!(ok(&app, Method::PATCH, &format!("/Users/{id}"), &t, on, 200).await["active"], true);
        assert_error(app.get("/v1/user", &key).await, 401, "invalid_api_key");
        let key = key_of(&app, &org, &id).await;
        assert_eq!(app.get("/v1/user", &key).await.0, StatusCode::OK);

        // Group push: the group, then its members; the admin group makes admins.
        let (s, _) = app.call(Method::PUT, "/v1/scim/settings", Some(&org.owner.api_key), Some(json!({"adminGroup": "engineering"}))).await;
        assert_eq!(s, StatusCode::OK);
        let g = ok(&app, Method::POST, "/Groups", &t, Some(json!({"schemas": [GROUP], "displayName": "Engineering", "members": []})), 201).await;
        let gid = g["id"].as_str().unwrap().to_string();
        let add = patch_op(json!([{"op": "add", "path": "members", "value": [{"value": id, "display": "dade.murphy@example.com"}]}]));
        let g = ok(&app, Method::PATCH, &format!("/Groups/{gid}"), &t, add, 200).await;
        assert_eq!(g["members"][0]["value"], json!(id));
        assert_eq!(member(&app, &org, &id).await.unwrap()["role"], "admin", "in the admin group");
        let f: String = url::form_urlencoded::byte_serialize(b"displayName eq \"engineering\"").collect();
        let listed = ok(&app, get.clone(), &format!("/Groups?filter={f}"), &t, None, 200).await;
        assert_eq!(listed["totalResults"], 1);
        let remove = patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]));
        let g = ok(&app, Method::PATCH, &format!("/Groups/{gid}"), &t, remove, 200).await;
        assert!(g.get("members").is_none(), "{g}");
        assert_eq!(member(&app, &org, &id).await.unwrap()["role"], "member", "out of the admin group");
        let rename = patch_op(json!([{"op": "replace", "value": {"id": gid, "displayName": "Eng"}}]));
        assert_eq!(ok(&app, Method::PATCH, &format!("/Groups/{gid}"), &t, rename, 200).await["displayName"], "Eng");

        // Okta deletes the person: membership gone, keys revoked.
        assert_eq!(ok(&app, Method::DELETE, &format!("/Users/{id}"), &t, None, 204).await, Value::Null);
        assert_scim_error(&scim(&app, get.clone(), &format!("/Users/{id}"), &t, None).await, 404, None);
        assert_error(app.get("/v1/user", &key).await, 401, "invalid_api_key");
        assert!(member(&app, &org, &id).await.is_none());

        // Every change is in the audit log as the SCIM token's, with the API's events.
        let (_, keys) = app.get("/v1/keys", &org.owner.api_key).await;
        let token_id = keys["keys"].as_array().unwrap().iter().find(|k| k["scopes"] == json!(["scim"])).unwrap()["id"].clone();
        let (_, log) = app.get(&format!("/v1/audit-logs?actorId={}", token_id.as_str().unwrap()), &org.owner.api_key).await;
        let rows = log["auditLogs"].as_array().unwrap();
        assert!(rows.iter().all(|r| r["actor"]["type"] == "scim" && r["actor"]["id"] == token_id), "{log}");
        let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
        for a in ["user.created", "member.updated", "member.removed", "scim.group_created", "scim.group_updated"] {
            assert!(actions.contains(&a), "{a} in {actions:?}");
        }
        assert_eq!(actions.iter().filter(|a| **a == "member.updated").count(), 5, "{actions:?}");
        // PostgreSQL's feed holds an event back until every older transaction in the cluster
        // has ended (other tests' included): waited for, with a deadline.
        let mut types: Vec<String> = Vec::new();
        for _ in 0..500 {
            let (_, events) = app.get("/v1/events?limit=1000", &org.owner.api_key).await;
            types = events["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
            if ["user.created", "member.updated", "member.removed"].iter().all(|t| types.iter().any(|x| x == t)) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        for t in ["user.created", "member.updated", "member.removed"] {
            assert!(types.iter().any(|x| x == t), "{t} in {types:?}");
        }
    }
}

engine_tests! {
    #[tokio::test]
    async fn entra_id_links_existing_members_and_speaks_its_own_dialect() {
        let app = spawn().await;
        let org = app.create_org("Contoso", Some("contoso.com"), "owner@contoso.com");
        let alice = app.add_member(&org, "alice@contoso.com", Role::Member);
        let t = scim_token(&app, &org).await;
        let get = Method::GET;

        // An existing member is a User already: userName = their address, so Entra links them.
        let found = ok(&app, get.clone(), &by_user_name("alice@contoso.com"), &t, None, 200).await;
        let linked = &found["Resources"][0];
        assert_eq!((linked["id"].as_str(), linked["active"].clone()), (Some(alice.user_id.as_str()), json!(true)));
        assert_eq!(linked["emails"], json!([{"value": "alice@contoso.com", "primary": true}]));
        // Entra deactivates with a "False" string: her key (made before SCIM) dies.
        assert_eq!(app.get("/v1/user", &alice.api_key).await.0, StatusCode::OK);
        let off = patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}]));
        assert_eq!(ok(&app, Method::PATCH, &format!("/Users/{}", alice.user_id), &t, off, 200).await["active"], false);
        assert_error(app.get("/v1/user", &alice.api_key).await, 401, "invalid_api_key");
        let on = patch_op(json!([{"op": "Replace", "path": "active", "value": "True"}]));
        assert_eq!(ok(&app, Method::PATCH, &format!("/Users/{}", alice.user_id), &t, on, 200).await["active"], true);

        // A new person, as Entra sends it: userName is a UPN-like name, the address a work email.
        let body = json!({
            "schemas": [USER, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": []
        });
        let u = ok(&app, Method::POST, "/Users", &t, Some(body), 201).await;
        let id = u["id"].as_str().unwrap().to_string();
        let unverified = "SELECT COUNT(*) FROM users WHERE id = ?1 AND email = 'test_user_fd0ea19b@testuser.com' AND NOT email_verified";
        assert_eq!(app.count(unverified, &id), 1, "outside the organization's domain: not verified");
        let found = ok(&app, get.clone(), &by_user_name("Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"), &t, None, 200).await;
        assert_eq!(found["Resources"][0]["id"], json!(id));
        assert_eq!(ok(&app, get.clone(), "/Users?filter=externalId%20eq%20%220a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef%22", &t, None, 200).await["totalResults"], 1);

        // Entra's updates: a filtered path, a sub-attribute, the enterprise extension, a manager
        // as a bare id.
        let ops = patch_op(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@contoso.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": alice.user_id.to_string()}
        ]));
        let u = ok(&app, Method::PATCH, &format!("/Users/{id}"), &t, ops, 200).await;
        assert_eq!(u["emails"][0]["value"], "updatedEmail@contoso.com");
        assert_eq!(u["name"]["familyName"], "updatedFamilyName");
        assert_eq!(u[ENTERPRISE], json!({"department": "Sales", "manager": {"value": alice.user_id.to_string()}}));
        assert_eq!(u["schemas"], json!([USER, ENTERPRISE]));
        // The account SCIM made follows its address, now in the organization's domain: verified.
        let moved = "SELECT COUNT(*) FROM users WHERE id = ?1 AND email = 'updatedemail@contoso.com' AND email_verified";
        assert_eq!(app.count(moved, &id), 1);
        let f: String = url::form_urlencoded::byte_serialize(b"emails[type eq \"work\" and value co \"updatedemail\"]").collect();
        assert_eq!(ok(&app, get.clone(), &format!("/Users?filter={f}"), &t, None, 200).await["totalResults"], 1);

        // Groups as Entra pushes them: members added and removed with a value list.
        let g = ok(&app, Method::POST, "/Groups", &t, Some(json!({
            "schemas": [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Sales", "meta": {"resourceType": "Group"}
        })), 201).await;
        let gid = g["id"].as_str().unwrap().to_string();
        let f: String = url::form_urlencoded::byte_serialize(b"displayName eq \"Sales\"").collect();
        let listed = ok(&app, get.clone(), &format!("/Groups?excludedAttributes=members&filter={f}"), &t, None, 200).await;
        assert_eq!(listed["Resources"][0]["id"], json!(gid));
        let add = patch_op(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}, {"$ref": null, "value": alice.user_id.to_string()}]}]));
        assert_eq!(ok(&app, Method::PATCH, &format!("/Groups/{gid}"), &t, add, 200).await["members"].as_array().unwrap().len(), 2);
        let remove = patch_op(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": id}]}]));
        let g = ok(&app, Method::PATCH, &format!("/Groups/{gid}"), &t, remove, 200).await;
        assert_eq!(g["members"], json!([{"value": alice.user_id.to_string(), "$ref": format!("{PUBLIC_URL}/scim/v2/Users/{}", alice.user_id), "type": "User"}]));
        assert_eq!(ok(&app, get.clone(), &format!("/Groups/{gid}?excludedAttributes=members"), &t, None, 200).await.get("members"), None);

        // Entra deletes the person; the group forgets them too.
        ok(&app, Method::DELETE, &format!("/Users/{id}"), &t, None, 204).await;
        ok(&app, Method::DELETE, &format!("/Users/{}", alice.user_id), &t, None, 204).await;
        assert!(ok(&app, get.clone(), &format!("/Groups/{gid}"), &t, None, 200).await.get("members").is_none());
        ok(&app, Method::DELETE, &format!("/Groups/{gid}"), &t, None, 204).await;
        assert_scim_error(&scim(&app, get, &format!("/Groups/{gid}"), &t, None).await, 404, None);
    }
}

engine_tests! {
    #[tokio::test]
    async fn owners_are_beyond_reach_and_only_an_owner_makes_a_scim_token() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let o = &org.owner.api_key;
        let second = app.add_member(&org, "second@acme.com", Role::Owner);
        let admin = app.add_member(&org, "admin@acme.com", Role::Admin);
        let t = scim_token(&app, &org).await;
        for owner in [org.owner.user_id.to_string(), second.user_id.to_string()] {
            let off = patch_op(json!([{"op": "replace", "value": {"active": false}}]));
            assert_scim_error(&scim(&app, Method::PATCH, &format!("/Users/{owner}"), &t, off).await, 409, None);
            let put = json!({"schemas": [USER], "userName": "x", "active": false});
            assert_scim_error(&scim(&app, Method::PUT, &format!("/Users/{owner}"), &t, Some(put)).await, 409, None);
            assert_scim_error(&scim(&app, Method::DELETE, &format!("/Users/{owner}"), &t, None).await, 409, None);
            // Nor a new address or name (an address is the way into an account: a reset mail).
            let moved = json!({"schemas": [USER], "userName": "owner2@acme.com", "active": true,
                               "emails": [{"value": "taken-over@acme.com", "primary": true}]});
            assert_scim_error(&scim(&app, Method::PUT, &format!("/Users/{owner}"), &t, Some(moved)).await, 409, None);
            let renamed = patch_op(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "taken-over@acme.com"}]));
            assert_scim_error(&scim(&app, Method::PATCH, &format!("/Users/{owner}"), &t, renamed).await, 409, None);
            let m = member(&app, &org, &owner).await.unwrap();
            assert_eq!(m["role"], "owner");
            assert_ne!(m["email"], "taken-over@acme.com", "{m}");
        }
        assert_eq!(app.get("/v1/user", o).await.0, StatusCode::OK, "the owner's key still works");

        // The admin group never demotes an owner, in it or not, and never makes one.
        app.call(Method::PUT, "/v1/scim/settings", Some(o), Some(json!({"adminGroup": "Admins"}))).await;
        let g = ok(&app, Method::POST, "/Groups", &t, Some(json!({"displayName": "Admins", "members": [{"value": second.user_id.to_string()}]})), 201).await;
        assert_eq!(member(&app, &org, org.owner.user_id.as_str()).await.unwrap()["role"], "owner");
        assert_eq!(member(&app, &org, second.user_id.as_str()).await.unwrap()["role"], "owner");
        assert_eq!(member(&app, &org, admin.user_id.as_str()).await.unwrap()["role"], "member", "not in the admin group");
        let u = ok(&app, Method::POST, "/Users", &t, Some(json!({"userName": "eve", "roles": [{"value": "owner"}]})), 201).await;
        assert_eq!(member(&app, &org, u["id"].as_str().unwrap()).await.unwrap()["role"], "member");
        assert_scim_error(&scim(&app, Method::PATCH, &format!("/Users/{}", u["id"].as_str().unwrap()), &t,
            patch_op(json!([{"op": "add", "path": "roles", "value": [{"value": "owner"}]}]))).await, 400, Some("invalidPath"));
        let gid = g["id"].as_str().unwrap();
        ok(&app, Method::DELETE, &format!("/Groups/{gid}"), &t, None, 204).await;

        // Only an owner makes a SCIM token, with a full credential; a token goes alone.
        let wanted = json!({"scopes": ["scim"]});
        assert_error(app.post("/v1/keys", &admin.api_key, wanted.clone()).await, 403, "insufficient_role");
        let (_, narrowed) = app.post("/v1/keys", o, json!({"scopes": ["keys"]})).await;
        assert_error(app.post("/v1/keys", narrowed["apiKey"].as_str().unwrap(), wanted.clone()).await, 403, "missing_scope");
        assert_error(app.post("/v1/keys", o, json!({"scopes": ["scim", "keys"]})).await, 400, "invalid_field");
        // A SCIM token reaches nothing else, and makes nothing.
        assert_error(app.get("/v1/members", &t).await, 403, "missing_scope");
        assert_error(app.post("/v1/keys", &t, wanted.clone()).await, 403, "missing_scope");
        assert_error(app.get("/v1/scim/settings", &t).await, 403, "missing_scope");
        // Other keys do not reach SCIM: the owner's full key, an admin's.
        assert_scim_error(&scim(&app, Method::GET, "/Users", o, None).await, 403, None);
        assert_scim_error(&scim(&app, Method::GET, "/Users", &admin.api_key, None).await, 403, None);
        // A token whose owner is demoted acts no more, from the next request.
        let (_, mine) = app.post("/v1/keys", &second.api_key, wanted).await;
        let theirs = mine["apiKey"].as_str().unwrap();
        ok(&app, Method::GET, "/Users", theirs, None, 200).await;
        let (s, _) = app.call(Method::PATCH, &format!("/v1/members/{}", second.user_id), Some(o), Some(json!({"role": "admin"}))).await;
        assert_eq!(s, StatusCode::OK);
        assert_scim_error(&scim(&app, Method::GET, "/Users", theirs, None).await, 403, None);
        // The one owner left is the last owner: still beyond reach, by PATCH, PUT or DELETE.
        let last = format!("/Users/{}", org.owner.user_id);
        let off = patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}]));
        assert_scim_error(&scim(&app, Method::PATCH, &last, &t, off).await, 409, None);
        let put = json!({"schemas": [USER], "userName": "owner@acme.com", "active": false});
        assert_scim_error(&scim(&app, Method::PUT, &last, &t, Some(put)).await, 409, None);
        assert_scim_error(&scim(&app, Method::DELETE, &last, &t, None).await, 409, None);
        assert_eq!(member(&app, &org, org.owner.user_id.as_str()).await.unwrap()["role"], "owner");
        assert_eq!(app.get("/v1/user", o).await.0, StatusCode::OK, "the last owner's key still works");
        // Settings are the owners'.
        assert_error(app.get("/v1/scim/settings", &admin.api_key).await, 403, "insufficient_role");
        assert_eq!(app.get("/v1/scim/settings", o).await.1, json!({"adminGroup": "Admins"}));
    }
}

engine_tests! {
    #[tokio::test]
    async fn new_people_sign_in_through_the_reset_mail_and_an_unproven_address_is_not_linked() {
        let (app, mail) = spawn_with_mail(|_| {}).await;
        let org = app.create_org("Acme", Some("acme.com"), "owner@acme.com");
        let t = scim_token(&app, &org).await;
        // Someone signed up with a colleague's address before the provider pushed her.
        WebClient::new(&app).signup("carol@acme.com", "squatter password").await;
        let push = json!({"schemas": [USER], "userName": "carol@acme.com"});
        assert_scim_error(&scim(&app, Method::POST, "/Users", &t, Some(push)).await, 409, Some("uniqueness"));
        assert_eq!(app.count("SELECT COUNT(*) FROM memberships WHERE org_id = ?1", &org.id), 1, "nobody joined");

        // A new person: no password, in through the reset mail.
        let u = ok(&app, Method::POST, "/Users", &t, Some(json!({"userName": "dave@acme.com"})), 201).await;
        assert_eq!(WebClient::new(&app).login("dave@acme.com", "any password at all").await.status, StatusCode::UNAUTHORIZED);
        WebClient::new(&app).post("/password/forgot", &[("email", "dave@acme.com")]).await;
        // Carol's verification mail may land after this one or before: wait for Dave's (each wait
        // has its deadline).
        let mut n = 1;
        let reset = loop {
            let sent = mail.wait_for(n);
            if let Some(m) = sent.iter().find(|m| m.to.iter().any(|t| t == "dave@acme.com")) {
                break m.clone();
            }
            n = sent.len() + 1;
        };
        let link = reset.link(&format!("{PUBLIC_URL}/password/reset?token=")).unwrap();
        let token = link[link.len() - 64..].to_string();
        let mut dave = WebClient::new(&app);
        let r = dave.post("/password/reset", &[("token", &token), ("password", "dave's new password")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let team = dave.get("/team").await;
        assert!(team.status == StatusCode::OK && team.body.contains("Acme"), "{}", team.body);
        // An existing verified account joins as it is (no new account).
        let other = app.create_org("Other", None, "erin@elsewhere.org");
        let u2 = ok(&app, Method::POST, "/Users", &t, Some(json!({"userName": "erin", "emails": [{"value": "ERIN@elsewhere.org"}]})), 201).await;
        assert_eq!(u2["id"], json!(other.owner.user_id.to_string()));
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE email = ?1", "erin@elsewhere.org"), 1);
        // Its address is not the provider's: a later change of emails leaves the account alone.
        let change = patch_op(json!([{"op": "replace", "path": "emails", "value": [{"value": "erin@acme.com", "primary": true}]}]));
        ok(&app, Method::PATCH, &format!("/Users/{}", u2["id"].as_str().unwrap()), &t, change, 200).await;
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE email = ?1", "erin@elsewhere.org"), 1);
        assert_eq!(u["active"], true);
    }
}

engine_tests! {
    #[tokio::test]
    async fn the_scim_page_is_the_owners_makes_a_token_sets_the_admin_group_and_shows_changes() {
        let app = spawn().await;
        let org = app.org_with_password("Acme", "owner@acme.com", "owner password");
        app.add_member(&org, "admin@acme.com", Role::Admin);
        app.set_password("admin@acme.com", "admin password");
        let mut owner = WebClient::new(&app);
        owner.login("owner@acme.com", "owner password").await;
        let page = owner.get("/team/scim").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains(&format!("{PUBLIC_URL}/scim/v2")) && page.body.contains("No SCIM token yet"));
        let csrf = owner.csrf("/team/scim").await;
        let made = owner.post("/team/scim/token", &[("csrf", &csrf), ("name", "Okta")]).await;
        let shown = owner.get(made.location.as_deref().unwrap()).await;
        let start = shown.body.find("id=\"api-key\">").unwrap() + 13;
        let token = shown.body[start..start + 67].to_string();
        let u = ok(&app, Method::POST, "/Users", &token, Some(json!({"userName": "zed@acme.com"})), 201).await;
        let saved = owner.post("/team/scim/settings", &[("csrf", &csrf), ("admin_group", "Platform")]).await;
        assert_eq!(saved.location.as_deref(), Some("/team/scim?done=saved"));
        assert_eq!(app.get("/v1/scim/settings", &org.owner.api_key).await.1, json!({"adminGroup": "Platform"}));
        let page = owner.get("/team/scim").await;
        assert!(page.body.contains("value=\"Platform\"") && page.body.contains("user.created"), "{}", page.body);
        assert!(page.body.contains(u["id"].as_str().unwrap()) && page.body.contains("Okta"));
        // Not an admin's.
        let mut admin = WebClient::new(&app);
        admin.login("admin@acme.com", "admin password").await;
        assert_eq!(admin.get("/team/scim").await.status, StatusCode::FORBIDDEN);
        let csrf = admin.csrf("/team").await;
        assert_eq!(admin.post("/team/scim/token", &[("csrf", &csrf)]).await.status, StatusCode::FORBIDDEN);
    }
}

engine_tests! {
    #[tokio::test]
    async fn a_suspended_member_gains_no_key_by_claiming_a_provision() {
        // The membership, not only the keys it had, is what is suspended: a key that comes to a
        // suspended member later (a provision's, moved to them by a claim) is refused too.
        let app = spawn().await;
        let org = app.org_with_password("Acme", "owner@acme.com", "owner password");
        let m = app.add_member(&org, "mel@acme.com", Role::Member);
        app.set_password("mel@acme.com", "mel password");
        let t = scim_token(&app, &org).await;
        let off = patch_op(json!([{"op": "replace", "value": {"active": false}}]));
        ok(&app, Method::PATCH, &format!("/Users/{}", m.user_id), &t, off, 200).await;

        let p = app.provision(&org.owner.api_key).await;
        let key = p["apiKey"].as_str().unwrap().to_string();
        assert_eq!(app.get("/v1/user", &key).await.0, StatusCode::OK, "the provision's key works unclaimed");
        let mut mel = WebClient::new(&app);
        assert_eq!(mel.login("mel@acme.com", "mel password").await.status, StatusCode::SEE_OTHER);
        mel.claim(&p).await;
        assert_eq!(app.count("SELECT COUNT(*) FROM provisions WHERE status = ?1", "claimed"), 1, "claimed");
        assert_error(app.get("/v1/user", &key).await, 401, "invalid_api_key");
        // Still suspended, still refused; reactivated, the claimed key is hers and acts.
        assert_eq!(ok(&app, Method::GET, &format!("/Users/{}", m.user_id), &t, None, 200).await["active"], false);
        let on = patch_op(json!([{"op": "replace", "value": {"active": true}}]));
        ok(&app, Method::PATCH, &format!("/Users/{}", m.user_id), &t, on, 200).await;
        assert_eq!(app.get("/v1/user", &key).await.1["email"], "mel@acme.com");
    }
}
