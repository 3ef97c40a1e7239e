//! Every error is the contract's JSON body: credentials, bad bodies, unknown routes, methods.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, format!("{}{path}", app.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let text = res.text().await.unwrap();
    assert!(ct.starts_with("application/json"), "{status} answered with content type {ct:?}: {text}");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}

engine_tests! {
    #[tokio::test]
    async fn credentials_are_required_and_checked_on_every_api_route() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let routes = [
            (Method::POST, "/v1/team/provisions"),
            (Method::GET, "/v1/team/provisions"),
            (Method::GET, "/v1/team/provisions/00000000-0000-4000-8000-000000000000"),
            (Method::DELETE, "/v1/team/provisions/00000000-0000-4000-8000-000000000000"),
            (Method::POST, "/v1/agents"),
            (Method::GET, "/v1/agents"),
            (Method::DELETE, "/v1/agents/00000000-0000-4000-8000-000000000000"),
            (Method::GET, "/v1/user"),
            (Method::POST, "/v1/user/api-key/regenerate"),
        ];
        let unknown = format!("oc_{}", "0".repeat(64));
        let long = "x".repeat(4096);
        for (m, path) in routes {
            assert_error(raw(&app, m.clone(), path, &[], None).await, 401, "missing_credentials");
            for headers in [
                vec![("Authorization", format!("Bearer {unknown}"))],
                vec![("X-API-Key", unknown.clone())],
                vec![("Authorization", "Bearer ".to_string())],
                vec![("Authorization", format!("Basic {}", org.owner.api_key))],
                vec![("Authorization", format!("Bearer {long}"))],
                vec![("X-API-Key", org.owner.api_key.to_uppercase())],
            ] {
                let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                // A bad body must not mask the missing authentication.
                assert_error(
                    raw(&app, m.clone(), path, &h, Some(b"{not json".to_vec())).await,
                    401,
                    "invalid_api_key",
                );
            }
        }
        // Both header forms work.
        assert_eq!(
            raw(&app, Method::GET, "/v1/user", &[("X-API-Key", &org.owner.api_key)], None).await.0,
            StatusCode::OK
        );
        let bearer = format!("bearer {}", org.owner.api_key);
        assert_eq!(
            raw(&app, Method::GET, "/v1/user", &[("Authorization", &bearer)], None).await.0,
            StatusCode::OK
        );
    }
}

engine_tests! {
    #[tokio::test]
    async fn malformed_bodies_get_json_400_415_413() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let auth = format!("Bearer {}", org.owner.api_key);
        let json_ct = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        for path in ["/v1/team/provisions", "/v1/agents"] {
            assert_error(
                raw(&app, Method::POST, path, &json_ct, Some(b"{\"role\":".to_vec())).await,
                400,
                "invalid_json",
            );
            assert_error(
                raw(&app, Method::POST, path, &json_ct, Some(b"\xff\xfe".to_vec())).await,
                400,
                "invalid_json",
            );
            assert_error(
                raw(&app, Method::POST, path, &json_ct, Some(b"null".to_vec())).await,
                400,
                "invalid_json",
            );
            let form = [("Authorization", auth.as_str()), ("Content-Type", "application/x-www-form-urlencoded")];
            assert_error(
                raw(&app, Method::POST, path, &form, Some(b"role=admin".to_vec())).await,
                415,
                "unsupported_media_type",
            );
            let none = [("Authorization", auth.as_str())];
            assert_error(
                raw(&app, Method::POST, path, &none, Some(b"{}".to_vec())).await,
                415,
                "unsupported_media_type",
            );
            let mut big = b"{\"name\":\"".to_vec();
            big.extend(std::iter::repeat_n(b'a', 64 * 1024));
            big.extend(b"\"}");
            assert_error(raw(&app, Method::POST, path, &json_ct, Some(big)).await, 413, "body_too_large");
        }
        // Charset parameters and +json types are JSON too.
        let ct = [("Authorization", auth.as_str()), ("Content-Type", "application/json; charset=utf-8")];
        assert_eq!(
            raw(&app, Method::POST, "/v1/team/provisions", &ct, Some(b"{}".to_vec())).await.0,
            StatusCode::CREATED
        );
        // Just under the limit is accepted (and then judged on its content).
        let mut fits = b"{\"name\":\"x\",\"identifier\":\"ok\",\"pad\":\"".to_vec();
        fits.extend(std::iter::repeat_n(b'a', 64 * 1024 - fits.len() - 2));
        fits.extend(b"\"}");
        assert_eq!(fits.len(), 64 * 1024);
        assert_eq!(raw(&app, Method::POST, "/v1/agents", &json_ct, Some(fits)).await.0, StatusCode::CREATED);
    }
}

engine_tests! {
    #[tokio::test]
    async fn unknown_routes_and_wrong_methods_are_json() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let auth = format!("Bearer {}", org.owner.api_key);
        let h = [("Authorization", auth.as_str())];
        for path in ["/v1", "/v1/nope", "/nope", "/v1/team/provisions/a/b", "/healthz/x"] {
            assert_error(raw(&app, Method::GET, path, &h, None).await, 404, "not_found");
        }
        for (m, path) in [
            (Method::PUT, "/v1/team/provisions"),
            (Method::DELETE, "/v1/team/provisions"),
            (Method::PATCH, "/v1/team/provisions/00000000-0000-4000-8000-000000000000"),
            (Method::PUT, "/v1/agents"),
            (Method::GET, "/v1/agents/00000000-0000-4000-8000-000000000000"),
            (Method::POST, "/v1/user"),
            (Method::GET, "/v1/user/api-key/regenerate"),
            (Method::POST, "/healthz"),
        ] {
            assert_error(raw(&app, m, path, &h, None).await, 405, "method_not_allowed");
        }
    }
}

engine_tests! {
    #[tokio::test]
    async fn healthz_answers_without_credentials() {
        let app = spawn().await;
        let (status, body) = raw(&app, Method::GET, "/healthz", &[], None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"status": "ok"}));
    }
}

/// What a raw HTTP/1.1 exchange gets back: the whole response text, read until the server closes.
async fn exchange(app: &TestApp, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let (port, request) = (app.port, request.to_vec());
    // A plain socket, off the test's runtime (which also runs the server).
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        s.write_all(&request).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap()
}

/// The body of the last response in `text`, as JSON.
fn last_json(text: &str) -> Value {
    let body = text.rsplit("\r\n\r\n").next().unwrap();
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

engine_tests! {
    #[tokio::test]
    async fn requests_the_http_layer_refuses_get_json_bodies_too() {
        let app = spawn().await;
        // More than 96 header fields: answered before any handler, 431, and still the contract's body.
        let many = format!("GET /v1/user HTTP/1.1\r\nHost: x\r\n{}\r\n", "X-A: b\r\n".repeat(100));
        let text = exchange(&app, many.as_bytes()).await;
        assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
        assert!(text.contains("content-type: application/json"), "{text}");
        let body = last_json(&text);
        assert_eq!(body["error"]["code"], "header_too_large");
        assert_eq!(body["error"]["type"], "invalid_request_error");

        // A malformed request line.
        let text = exchange(&app, b"GET /v1/user HTTP/1.1 extra\r\nHost: x\r\n\r\n").await;
        assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
        assert_eq!(last_json(&text)["error"]["code"], "invalid_request");

        // After a good request on the same connection (pipelined), the good answer is untouched.
        let text =
            exchange(&app, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nBad Header: x\r\n\r\n")
                .await;
        assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
        assert!(text.contains(r#"{"status":"ok"}"#), "{text}");
        assert_eq!(last_json(&text)["error"]["code"], "invalid_request");
    }
}
