//! SCIM's refusals: another organization's token sees nothing of ours (404 for our ids), and
//! every bad input — a bad filter, an unknown path, a duplicate, a wrong media type, a huge body,
//! malformed JSON, hostile values — is answered with the SCIM error body and a 4xx, never a 5xx.

use crate::helpers::*;
use crate::scim::{assert_scim_error, ok, scim, scim_token, ERROR, PATCH_OP};
use provisiond::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A raw request under /scim/v2: the status, the media type and the body as text.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    media: Option<&str>,
    body: Vec<u8>,
) -> (u16, String, String) {
    let mut req = app.client.request(method, format!("{}/scim/v2{path}", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(m) = media {
        req = req.header("Content-Type", m);
    }
    let res = req.body(body).send().await.expect("request sent");
    let status = res.status().as_u16();
    let media = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, media, res.text().await.unwrap())
}

/// A SCIM error as raw parts: the status, the media type, the body's schema.
#[track_caller]
fn scim_error_raw(got: &(u16, String, String), status: u16) {
    let (s, media, text) = got;
    assert_eq!(*s, status, "{text}");
    assert!(media.starts_with("application/scim+json"), "{media}: {text}");
    let v: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(
        (v["schemas"].clone(), v["status"].clone()),
        (json!([ERROR]), json!(status.to_string())),
        "{text}"
    );
}

engine_tests! {
    #[tokio::test]
    async fn another_organizations_token_sees_nothing_of_ours() {
        let app = spawn().await;
        let a = app.create_org("A", Some("a.com"), "owner@a.com");
        let member = app.add_member(&a, "member@a.com", Role::Member);
        let ta = scim_token(&app, &a).await;
        let b = app.create_org("B", Some("b.com"), "owner@b.com");
        let tb = scim_token(&app, &b).await;
        let made = ok(&app, Method::POST, "/Users", &ta, Some(json!({"userName": "made@a.com"})), 201).await;
        let group = ok(&app, Method::POST, "/Groups", &ta, Some(json!({"displayName": "A team", "members": [{"value": member.user_id.to_string()}]})), 201).await;
        let gid = group["id"].as_str().unwrap().to_string();

        // B lists only its own.
        let users = ok(&app, Method::GET, "/Users", &tb, None, 200).await;
        assert_eq!(users["totalResults"], 1);
        assert_eq!(users["Resources"][0]["userName"], "owner@b.com");
        assert_eq!(ok(&app, Method::GET, "/Groups", &tb, None, 200).await["totalResults"], 0);
        for name in ["member@a.com", "made@a.com", "owner@a.com"] {
            let f: String = url::form_urlencoded::byte_serialize(format!("userName eq \"{name}\"").as_bytes()).collect();
            assert_eq!(ok(&app, Method::GET, &format!("/Users?filter={f}"), &tb, None, 200).await["totalResults"], 0);
        }
        // Our ids are not found, whatever B does with them.
        for id in [member.user_id.to_string(), made["id"].as_str().unwrap().to_string(), a.owner.user_id.to_string()] {
            let path = format!("/Users/{id}");
            assert_scim_error(&scim(&app, Method::GET, &path, &tb, None).await, 404, None);
            let put = json!({"userName": "stolen"});
            assert_scim_error(&scim(&app, Method::PUT, &path, &tb, Some(put)).await, 404, None);
            let off = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": false}}]});
            assert_scim_error(&scim(&app, Method::PATCH, &path, &tb, Some(off)).await, 404, None);
            assert_scim_error(&scim(&app, Method::DELETE, &path, &tb, None).await, 404, None);
        }
        let group_path = format!("/Groups/{gid}");
        for method in [Method::GET, Method::DELETE] {
            assert_scim_error(&scim(&app, method, &group_path, &tb, None).await, 404, None);
        }
        let put = json!({"displayName": "Taken over", "members": []});
        assert_scim_error(&scim(&app, Method::PUT, &group_path, &tb, Some(put)).await, 404, None);
        let empty = json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": "members"}]});
        assert_scim_error(&scim(&app, Method::PATCH, &group_path, &tb, Some(empty)).await, 404, None);
        // Nor may B put our people into its groups.
        let steal = json!({"displayName": "B team", "members": [{"value": member.user_id.to_string()}]});
        assert_scim_error(&scim(&app, Method::POST, "/Groups", &tb, Some(steal)).await, 400, Some("invalidValue"));
        // Everything of A is as it was; A's member key still works.
        assert_eq!(app.get("/v1/user", &member.api_key).await.0, StatusCode::OK);
        assert_eq!(ok(&app, Method::GET, &format!("/Groups/{gid}"), &ta, None, 200).await["members"].as_array().unwrap().len(), 1);
        assert_eq!(ok(&app, Method::GET, "/Users", &ta, None, 200).await["totalResults"], 3);
    }
}

engine_tests! {
    #[tokio::test]
    async fn every_bad_input_is_a_scim_error_and_never_a_server_error() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let t = scim_token(&app, &org).await;
        let u = ok(&app, Method::POST, "/Users", &t, Some(json!({"userName": "taken@acme.com"})), 201).await;
        let id = u["id"].as_str().unwrap().to_string();
        let patch = |ops: Value| Some(json!({"schemas": [PATCH_OP], "Operations": ops}));
        let user_path = format!("/Users/{id}");

        // The named cases.
        let cases: Vec<Case> = vec![
            (Method::GET, "/Users?filter=userName%20eq".into(), None, 400, Some("invalidFilter")),
            (Method::GET, "/Users?filter=nosuch%20eq%20%22x%22".into(), None, 400, Some("invalidFilter")),
            (Method::GET, "/Users?filter=(((userName%20pr".into(), None, 400, Some("invalidFilter")),
            (Method::GET, "/Groups?filter=displayName%20xx%20%22a%22".into(), None, 400, Some("invalidFilter")),
            (Method::GET, "/Users?startIndex=first".into(), None, 400, Some("invalidValue")),
            (Method::GET, "/Users?count=1e99".into(), None, 400, Some("invalidValue")),
            (Method::PATCH, user_path.clone(), patch(json!([{"op": "replace", "path": "nosuch", "value": "x"}])), 400, Some("invalidPath")),
            (Method::PATCH, user_path.clone(), patch(json!([{"op": "add", "path": "emails[nosuch eq \"x\"].value", "value": "x"}])), 400, Some("invalidFilter")),
            (Method::PATCH, user_path.clone(), patch(json!([{"op": "remove"}])), 400, Some("noTarget")),
            (Method::PATCH, user_path.clone(), patch(json!([{"op": "move", "path": "userName"}])), 400, Some("invalidSyntax")),
            (Method::PATCH, user_path.clone(), patch(json!([{"op": "replace", "path": "meta", "value": {}}])), 400, Some("mutability")),
            (Method::PATCH, user_path.clone(), patch(json!([{"op": "replace", "path": "active", "value": "maybe"}])), 400, Some("invalidValue")),
            (Method::PATCH, user_path.clone(), patch(json!([{"op": "remove", "path": "userName"}])), 400, Some("invalidValue")),
            (Method::PATCH, user_path.clone(), Some(json!({"Operations": "all of them"})), 400, Some("invalidSyntax")),
            (Method::POST, "/Users".into(), Some(json!({"userName": "TAKEN@acme.com"})), 409, Some("uniqueness")),
            (Method::POST, "/Users".into(), Some(json!({"userName": "owner@ACME.com"})), 409, Some("uniqueness")),
            (Method::POST, "/Users".into(), Some(json!({"displayName": "no userName"})), 400, Some("invalidValue")),
            (Method::POST, "/Users".into(), Some(json!({"userName": "   "})), 400, Some("invalidValue")),
            (Method::POST, "/Users".into(), Some(json!({"userName": "x\u{0}y"})), 400, Some("invalidValue")),
            (Method::POST, "/Users".into(), Some(json!({"userName": 5})), 400, Some("invalidValue")),
            (Method::POST, "/Users".into(), Some(json!({"userName": "n", "emails": [{"value": "not an address"}]})), 400, Some("invalidValue")),
            (Method::POST, "/Users".into(), Some(json!({"userName": "n", "name": "not an object"})), 400, Some("invalidValue")),
            (Method::POST, "/Users".into(), Some(json!({"userName": "y".repeat(300)})), 400, Some("invalidValue")),
            (Method::POST, "/Groups".into(), Some(json!({"displayName": "G", "members": [{"value": "nobody"}]})), 400, Some("invalidValue")),
            (Method::POST, "/Groups".into(), Some(json!({"displayName": "G", "members": [{"display": "no value"}]})), 400, Some("invalidValue")),
            (Method::POST, "/Groups".into(), Some(json!({"members": []})), 400, Some("invalidValue")),
            (Method::PUT, user_path.clone(), Some(json!({"userName": "owner@acme.com"})), 409, Some("uniqueness")),
            (Method::GET, "/Users/not-a-uuid".into(), None, 404, None),
            (Method::GET, "/Users/00000000-0000-4000-8000-000000000000".into(), None, 404, None),
            (Method::GET, "/Groups/nope".into(), None, 404, None),
            (Method::GET, "/Schemas/urn:nope".into(), None, 404, None),
            (Method::GET, "/ResourceTypes/Device".into(), None, 404, None),
            (Method::GET, "/Devices".into(), None, 404, None),
            (Method::POST, "/ServiceProviderConfig".into(), None, 405, None),
            (Method::DELETE, "/Users".into(), None, 405, None),
            (Method::POST, "/.search".into(), Some(json!({})), 501, None),
        ];
        for (method, path, body, status, scim_type) in cases {
            let got = scim(&app, method.clone(), &path, &t, body.clone()).await;
            assert!(got.0.as_u16() < 500 || status == 501, "{method} {path} {body:?}: {}", got.1);
            assert_scim_error(&got, status, scim_type);
        }
        // A duplicate group name.
        ok(&app, Method::POST, "/Groups", &t, Some(json!({"displayName": "Eng"})), 201).await;
        assert_scim_error(&scim(&app, Method::POST, "/Groups", &t, Some(json!({"displayName": "ENG"}))).await, 409, Some("uniqueness"));

        // Credentials: none, garbage, a revoked token.
        scim_error_raw(&raw(&app, Method::GET, "/Users", None, None, vec![]).await, 401);
        scim_error_raw(&raw(&app, Method::GET, "/Users", Some("garbage"), None, vec![]).await, 401);
        // Media types: application/scim+json and application/json; anything else 415.
        let body = serde_json::to_vec(&json!({"userName": "plain@acme.com"})).unwrap();
        assert_eq!(raw(&app, Method::POST, "/Users", Some(&t), Some("application/json"), body.clone()).await.0, 201);
        let body = serde_json::to_vec(&json!({"userName": "other@acme.com"})).unwrap();
        for media in [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/xml"), None] {
            scim_error_raw(&raw(&app, Method::POST, "/Users", Some(&t), media, body.clone()).await, 415);
        }
        // Bodies: malformed, not an object, empty, huge (413 before anything is read into a User).
        for junk in [&b"{"[..], b"[1,2]", b"\"text\"", b"", b"\xff\xfe"] {
            scim_error_raw(&raw(&app, Method::POST, "/Users", Some(&t), Some("application/scim+json"), junk.to_vec()).await, 400);
        }
        let huge = serde_json::to_vec(&json!({"userName": "big", "displayName": "x".repeat(70 * 1024)})).unwrap();
        for (method, path) in [(Method::POST, "/Users".to_string()), (Method::PATCH, user_path.clone()), (Method::PUT, user_path.clone())] {
            scim_error_raw(&raw(&app, method, &path, Some(&t), Some("application/scim+json"), huge.clone()).await, 413);
        }
        // Hostile values in every place a value goes: a 4xx or a success, never a 5xx.
        let hostile = [json!(null), json!(true), json!(-1), json!(1e308), json!("\u{202e}\u{0}"), json!([[[]]]), json!({"a": {"b": {}}}), json!("x".repeat(5000))];
        let attributes = ["userName", "active", "emails", "name", "externalId", "members", "displayName", ENTERPRISE_DEPT, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
        for (i, v) in hostile.iter().enumerate() {
            for a in attributes {
                for (method, path, body) in [
                    (Method::POST, "/Users".to_string(), json!({"userName": format!("h{i}-{a}"), a: v})),
                    (Method::PUT, user_path.clone(), json!({"userName": "taken@acme.com", a: v})),
                    (Method::PATCH, user_path.clone(), json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": a, "value": v}]})),
                    (Method::PATCH, user_path.clone(), json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "value": {a: v}}]})),
                    (Method::POST, "/Groups".to_string(), json!({"displayName": format!("g{i}-{a}"), a: v})),
                    (Method::POST, "/Users/.search".to_string(), json!({"filter": v, "startIndex": v, "count": v, "attributes": v})),
                ] {
                    let (s, b) = scim(&app, method.clone(), &path, &t, Some(body.clone())).await;
                    assert!(s.as_u16() < 500, "{method} {path} {body}: {s} {b}");
                    if s.as_u16() >= 400 {
                        assert_eq!(b["schemas"], json!([ERROR]), "{method} {path} {body}: {b}");
                    }
                }
            }
        }
        // The person is still there, as the named cases left them.
        assert_eq!(ok(&app, Method::GET, &user_path, &t, None, 200).await["userName"], "taken@acme.com");
    }
}

/// A request and the SCIM error it must get: method, path, body, status, scimType.
type Case = (Method, String, Option<Value>, u16, Option<&'static str>);

const ENTERPRISE_DEPT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";
