//! Every API route against every kind of caller, with the status each must get.

use crate::helpers::*;
use provisiond::domain::{ProvisionRole, Role};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const CALLERS: [&str; 16] = [
    "none",
    "malformed",
    "unknown",
    "revoked",
    "expired",
    "cancelled",
    "expired key",
    "removed member",
    "member",
    "admin",
    "owner",
    "provisioner",
    "other org admin",
    "api-only",
    "scoped",
    "scim",
];

struct World {
    org_a: Org,
    member_a: String,
    keys: Vec<Option<String>>,
    emails: Vec<String>,
    org_a_owner: String,
    provision_a: String,
}

async fn world(app: &TestApp) -> World {
    let a = app.create_org("A", Some("a.com"), "owner@a.com");
    let b = app.create_org("B", None, "owner@b.com");
    let member = app.add_member(&a, "member@a.com", Role::Member);
    let member_id = member.user_id.to_string();
    let admin = app.add_member(&a, "admin@a.com", Role::Admin);
    let prov = app.add_member(&a, "prov@a.com", Role::Member);
    let other_admin = app.add_member(&b, "admin@b.com", Role::Admin);
    let o = &a.owner.api_key;
    // Every step of the setup is checked: a caller the setup failed to make would pass its
    // cells for the wrong reason.
    let ok = |(status, body): (reqwest::StatusCode, Value), expected: u16, what: &str| {
        assert_eq!(status.as_u16(), expected, "setup: {what}: {body}");
        body
    };
    let set = json!({"email": "prov@a.com", "is_provisioner": true});
    ok(app.post("/api/v1/admin/set-provisioner", o, set).await, 200, "set-provisioner");
    ok(app.post("/api/v1/admin/credits", o, json!({"amount": 1000})).await, 200, "credits");

    let revoked = app.add_member(&a, "revoked@a.com", Role::Admin).api_key;
    ok(app.post("/v1/user/api-key/regenerate", &revoked, json!({})).await, 200, "regenerate");
    let expired = app.provision_made_ago(&a, Duration::from_secs(8 * 86_400), ProvisionRole::Admin).api_key;
    let cancelled = app.provision(o).await;
    let cancel = app.delete(&format!("/v1/team/provisions/{}", cancelled["id"].as_str().unwrap()), o).await;
    ok(cancel, 204, "cancel");
    let res = app
        .client
        .post(format!("{}/api/v1/admin/create-user", app.base))
        .header("X-API-Key", &prov.api_key)
        .header("X-User-ID", "prov@a.com")
        .json(&json!({"email": "bot@x.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "setup: create-user");
    let api_only: Value = res.json().await.unwrap();
    let provision_a = app.provision(o).await["id"].as_str().unwrap().to_string();
    let gone = app.add_member(&a, "gone@a.com", Role::Admin);
    let (status, _) = app.delete(&format!("/v1/members/{}", gone.user_id), o).await;
    assert_eq!(status, 204);
    let expiring =
        ok(app.post("/v1/keys", &member.api_key, json!({"expiresInSeconds": 60})).await, 201, "key");
    app.clock.advance(Duration::from_secs(61));
    // An admin's key that reaches agents and reads credits, nothing else.
    let scoped = json!({"scopes": ["agents", "credits:read"]});
    let scoped = ok(app.post("/v1/keys", &admin.api_key, scoped).await, 201, "scoped key");
    // The owner's SCIM token: /scim/v2, and nothing of the API that needs a scope.
    let scim = ok(app.post("/v1/keys", o, json!({"scopes": ["scim"]})).await, 201, "scim token");

    let keys = vec![
        None,
        Some("not-a-key".to_string()),
        Some(format!("oc_{}", "0".repeat(64))),
        Some(revoked),
        Some(expired),
        Some(cancelled["apiKey"].as_str().unwrap().to_string()),
        Some(expiring["apiKey"].as_str().unwrap().to_string()),
        Some(gone.api_key),
        Some(member.api_key),
        Some(admin.api_key),
        Some(a.owner.api_key.clone()),
        Some(prov.api_key),
        Some(other_admin.api_key),
        Some(api_only["api_key"].as_str().unwrap().to_string()),
        Some(scoped["apiKey"].as_str().unwrap().to_string()),
        Some(scim["apiKey"].as_str().unwrap().to_string()),
    ];
    let emails = [
        "",
        "",
        "",
        "revoked@a.com",
        "",
        "",
        "member@a.com",
        "gone@a.com",
        "member@a.com",
        "admin@a.com",
        "owner@a.com",
        "prov@a.com",
        "admin@b.com",
        "bot@a.com",
        "admin@a.com",
        "owner@a.com",
    ]
    .map(String::from)
    .to_vec();
    World { org_a_owner: a.owner.api_key.clone(), member_a: member_id, org_a: a, keys, emails, provision_a }
}

/// The error code a refused cell answers: why it was refused, not only that it was.
fn expected_code(row: &str, caller: &str, status: u16) -> &'static str {
    match (status, caller, row) {
        (401, "none", _) => "missing_credentials",
        (401, "expired key", _) => "expired_api_key",
        (401, _, _) => "invalid_api_key",
        // The scoped key's scopes are checked before anything else about the caller; so are the
        // SCIM token's, which hold none of the API's.
        (403, "scoped" | "scim", _) => "missing_scope",
        (403, _, "create-user") => "not_a_provisioner",
        (403, _, _) => "insufficient_role",
        (404, _, _) => "not_found",
        (402, _, _) => "credits_exceeded",
        (400, _, "claim (unknown token)") => "invalid_token",
        _ => "no error expected here",
    }
}

engine_tests! {
    #[tokio::test]
    async fn every_route_by_every_caller() {
        // Webhooks to loopback: the receivers of this test need not exist.
        let app = spawn_with(|s| s.webhook_allow_private = true).await;
        let w = world(&app).await;
        let o = w.org_a_owner.clone();
        // Statuses in CALLERS order.
        let unauth = [401; 8];
        // member, admin, owner, provisioner, other org admin, api-only, scoped (agents, credits:read),
        // scim (the owner's SCIM token)
        let rows: Vec<(&str, Method, &str, [u16; 8])> = vec![
            ("provision", Method::POST, "/v1/team/provisions", [403, 201, 201, 403, 201, 403, 403, 403]),
            ("list provisions", Method::GET, "/v1/team/provisions", [403, 200, 200, 403, 200, 403, 403, 403]),
            ("get provision", Method::GET, "/v1/team/provisions/{A}", [403, 200, 200, 403, 404, 403, 403, 403]),
            ("cancel provision", Method::DELETE, "/v1/team/provisions/{fresh}", [403, 204, 204, 403, 404, 403, 403, 403]),
            ("create agent", Method::POST, "/v1/agents", [201, 201, 201, 201, 201, 201, 201, 403]),
            ("list agents", Method::GET, "/v1/agents", [200, 200, 200, 200, 200, 200, 200, 403]),
            ("delete agent", Method::DELETE, "/v1/agents/{owner's agent}", [404, 404, 204, 404, 404, 404, 404, 403]),
            ("user", Method::GET, "/v1/user", [200, 200, 200, 200, 200, 200, 200, 200]),
            ("claim (unknown token)", Method::POST, "/v1/provisions/claim", [400, 400, 400, 400, 400, 400, 400, 400]),
            ("create-user", Method::POST, "/api/v1/admin/create-user", [403, 403, 403, 201, 403, 403, 403, 403]),
            ("set-provisioner", Method::POST, "/api/v1/admin/set-provisioner", [403, 403, 200, 403, 403, 403, 403, 403]),
            ("grant credits", Method::POST, "/api/v1/admin/credits", [403, 403, 200, 403, 403, 403, 403, 403]),
            ("balance", Method::GET, "/api/v1/credits/balance", [200, 200, 200, 200, 200, 200, 200, 403]),
            ("consume", Method::POST, "/api/v1/credits/consume", [200, 200, 200, 200, 402, 200, 403, 403]),
            ("usage", Method::GET, "/api/v1/credits/usage", [403, 200, 200, 200, 200, 403, 200, 403]),
            ("list keys", Method::GET, "/v1/keys", [200, 200, 200, 200, 200, 200, 403, 403]),
            ("create key", Method::POST, "/v1/keys", [201, 201, 201, 201, 201, 201, 403, 403]),
            // An admin never acts on an owner's key (CONTRACT part three, Authority).
            ("revoke key", Method::DELETE, "/v1/keys/{owner's key}", [404, 403, 204, 404, 404, 404, 403, 403]),
            ("rotate key", Method::POST, "/v1/keys/{owner's key}/rotate", [404, 403, 201, 404, 404, 404, 403, 403]),
            ("verify key", Method::POST, "/v1/keys/verify", [200, 200, 200, 200, 200, 200, 403, 403]),
            ("new claim link", Method::POST, "/v1/team/provisions/{fresh}/claim-link", [403, 200, 200, 403, 404, 403, 403, 403]),
            ("ledger", Method::GET, "/api/v1/credits/ledger", [403, 200, 200, 200, 200, 403, 200, 403]),
            ("set credit limit", Method::PUT, "/api/v1/admin/credit-limits/{member}", [403, 200, 200, 403, 404, 403, 403, 403]),
            ("list members", Method::GET, "/v1/members", [403, 200, 200, 403, 200, 403, 403, 403]),
            ("change member", Method::PATCH, "/v1/members/{member}", [403, 200, 200, 403, 404, 403, 403, 403]),
            ("remove member", Method::DELETE, "/v1/members/{fresh member}", [403, 204, 204, 403, 404, 403, 403, 403]),
            ("healthz", Method::GET, "/healthz", [200, 200, 200, 200, 200, 200, 200, 200]),
            ("audit log", Method::GET, "/v1/audit-logs", [403, 200, 200, 403, 200, 403, 403, 403]),
            ("events", Method::GET, "/v1/events", [403, 200, 200, 403, 200, 403, 403, 403]),
            ("create webhook", Method::POST, "/v1/webhooks", [403, 201, 201, 403, 201, 403, 403, 403]),
            ("list webhooks", Method::GET, "/v1/webhooks", [403, 200, 200, 403, 200, 403, 403, 403]),
            ("get webhook", Method::GET, "/v1/webhooks/{hook}", [403, 200, 200, 403, 404, 403, 403, 403]),
            ("change webhook", Method::PATCH, "/v1/webhooks/{hook}", [403, 200, 200, 403, 404, 403, 403, 403]),
            ("delete webhook", Method::DELETE, "/v1/webhooks/{fresh hook}", [403, 204, 204, 403, 404, 403, 403, 403]),
            ("rotate webhook secret", Method::POST, "/v1/webhooks/{hook}/rotate-secret", [403, 200, 200, 403, 404, 403, 403, 403]),
            ("webhook deliveries", Method::GET, "/v1/webhooks/{hook}/deliveries", [403, 200, 200, 403, 404, 403, 403, 403]),
            ("test webhook", Method::POST, "/v1/webhooks/{hook}/test", [403, 202, 202, 403, 404, 403, 403, 403]),
            // SCIM (issue 24): the protocol is the SCIM token's alone; its settings and making a
            // token are an owner's full credential's.
            ("scim users", Method::GET, "/scim/v2/Users", [403, 403, 403, 403, 403, 403, 403, 200]),
            ("scim create user", Method::POST, "/scim/v2/Users", [403, 403, 403, 403, 403, 403, 403, 201]),
            ("scim deactivate", Method::PATCH, "/scim/v2/Users/{fresh member}", [403, 403, 403, 403, 403, 403, 403, 200]),
            ("scim groups", Method::GET, "/scim/v2/Groups", [403, 403, 403, 403, 403, 403, 403, 200]),
            ("scim settings", Method::GET, "/v1/scim/settings", [403, 403, 200, 403, 403, 403, 403, 403]),
            ("set scim settings", Method::PUT, "/v1/scim/settings", [403, 403, 200, 403, 403, 403, 403, 403]),
            ("create scim token", Method::POST, "/v1/keys", [403, 403, 201, 403, 403, 403, 403, 403]),
            // Last: it revokes the keys that call it (the owner's among them).
            ("regenerate key", Method::POST, "/v1/user/api-key/regenerate", [200, 200, 200, 200, 200, 200, 403, 403]),
        ];
        let new_hook = || async {
            let (s, h) = app.post("/v1/webhooks", &o, json!({"url": "http://127.0.0.1:9/h", "events": ["*"]})).await;
            assert_eq!(s, 201, "setup: webhook: {h}");
            h["id"].as_str().unwrap().to_string()
        };
        let hook = new_hook().await;
        let row_count = rows.len();
        let mut failures = Vec::new();
        let mut n = 0;
        for (name, method, template, authed) in rows {
            let expected: Vec<u16> = if template == "/healthz" {
                vec![200; CALLERS.len()]
            } else {
                unauth.iter().chain(authed.iter()).copied().collect()
            };
            for (i, caller) in CALLERS.iter().enumerate() {
                n += 1;
                let path = match template {
                    "/v1/team/provisions/{A}" => format!("/v1/team/provisions/{}", w.provision_a),
                    "/v1/team/provisions/{fresh}" => {
                        format!("/v1/team/provisions/{}", app.provision(&o).await["id"].as_str().unwrap())
                    }
                    "/v1/agents/{owner's agent}" => {
                        let (s, a) = app
                            .post("/v1/agents", &o, json!({"name": "x", "identifier": format!("del-{n}")}))
                            .await;
                        assert_eq!(s, 201, "setup: agent: {a}");
                        format!("/v1/agents/{}", a["id"].as_str().unwrap())
                    }
                    "/v1/members/{member}" => format!("/v1/members/{}", w.member_a),
                    "/api/v1/admin/credit-limits/{member}" => format!("/api/v1/admin/credit-limits/{}", w.member_a),
                    "/v1/team/provisions/{fresh}/claim-link" => format!(
                        "/v1/team/provisions/{}/claim-link",
                        app.provision(&o).await["id"].as_str().unwrap()
                    ),
                    "/v1/members/{fresh member}" => {
                        let m = app.add_member(&w.org_a, &format!("fresh{n}@a.com"), Role::Member);
                        format!("/v1/members/{}", m.user_id)
                    }
                    "/scim/v2/Users/{fresh member}" => {
                        let m = app.add_member(&w.org_a, &format!("fresh{n}@a.com"), Role::Member);
                        format!("/scim/v2/Users/{}", m.user_id)
                    }
                    "/v1/webhooks/{hook}" | "/v1/webhooks/{hook}/rotate-secret" | "/v1/webhooks/{hook}/deliveries"
                    | "/v1/webhooks/{hook}/test" => template.replace("{hook}", &hook),
                    "/v1/webhooks/{fresh hook}" => format!("/v1/webhooks/{}", new_hook().await),
                    "/v1/keys/{owner's key}" | "/v1/keys/{owner's key}/rotate" => {
                        let (s, k) = app.post("/v1/keys", &o, json!({"name": format!("k-{n}")})).await;
                        assert_eq!(s, 201, "setup: key: {k}");
                        template.replace("{owner's key}", k["id"].as_str().unwrap())
                    }
                    t => t.to_string(),
                };
                let body = match name {
                    "create agent" => Some(json!({"name": "Agent", "identifier": format!("a-{n}")})),
                    "claim (unknown token)" => Some(json!({"token": "f".repeat(64)})),
                    "create-user" => Some(json!({"email": format!("user{n}@x.com")})),
                    "set-provisioner" => Some(json!({"email": "member@a.com", "is_provisioner": false})),
                    "grant credits" => Some(json!({"amount": 1})),
                    "consume" => Some(json!({"amount": 0.001})),
                    "verify key" => Some(json!({"key": o})),
                    "change member" => Some(json!({"role": "member"})),
                    "set credit limit" => Some(json!({"amount": 5, "period": "day"})),
                    "create webhook" => Some(json!({"url": "http://127.0.0.1:9/h", "events": ["*"]})),
                    "change webhook" => Some(json!({"description": "changed"})),
                    "scim create user" => Some(json!({"userName": format!("pushed{n}@a.com")})),
                    "scim deactivate" => Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "value": {"active": false}}]})),
                    "set scim settings" => Some(json!({"adminGroup": null})),
                    "create scim token" => Some(json!({"scopes": ["scim"]})),
                    _ if method == Method::POST => Some(json!({})),
                    _ => None,
                };
                let mut req = app.client.request(method.clone(), format!("{}{path}", app.base));
                if let Some(k) = &w.keys[i] {
                    req = req.header("Authorization", format!("Bearer {k}"));
                }
                if name == "create-user" {
                    req = req.header("X-User-ID", &w.emails[i]);
                }
                if let Some(b) = body {
                    req = req.json(&b);
                }
                let res = req.send().await.unwrap();
                let got = res.status().as_u16();
                let text = res.text().await.unwrap();
                if got != expected[i] {
                    failures.push(format!("{name} by {caller}: expected {}, got {got}: {text}", expected[i]));
                }
                if got >= 400 && path.starts_with("/scim/v2/") {
                    // SCIM answers its own error body.
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let scim_error = v["schemas"] == json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
                        && v["status"].as_str() == Some(got.to_string().as_str());
                    assert!(scim_error, "{name} by {caller}: a SCIM error body, got {text}");
                } else if got >= 400 {
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    assert!(v["error"]["code"].is_string(), "{name} by {caller}: JSON error body, got {text}");
                    let code = expected_code(name, caller, got);
                    if v["error"]["code"] != code {
                        failures.push(format!("{name} by {caller}: {got} {code} expected, got {text}"));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{} of {n} cells wrong:\n{}", failures.len(), failures.join("\n"));
        assert_eq!(n, row_count * CALLERS.len());
    }
}
