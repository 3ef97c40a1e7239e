//! Issue 10, finding by finding: each of these was reproduced against the server as it was, and
//! each test below failed on that code. (The flood of password hashes is tests/flood.rs: it
//! counts hashes per process, so it runs alone in its own binary.)

use crate::helpers::*;
use provisiond::domain::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// An organization on the domain orch.io whose owner (made by the operator) is a provisioner.
async fn orchestrator(app: &TestApp) -> Org {
    let org = app.create_org("Orch", Some("orch.io"), "guy@orch.io");
    let (s, _) = app
        .post(
            "/api/v1/admin/set-provisioner",
            &org.owner.api_key,
            json!({"email": "guy@orch.io", "is_provisioner": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    org
}

async fn create_user(app: &TestApp, key: &str, user_id: &str, email: &str) -> (StatusCode, Value) {
    app.create_user(key, Some(user_id), json!({ "email": email })).await
}

// 1. Squatting an address becomes ownership.

engine_tests! {
    #[tokio::test]
    async fn a_squatted_address_is_not_handed_an_organization_or_a_membership() {
        let app = spawn().await;
        // Someone got a claim link from another organization and signed up with the CEO's address.
        let elsewhere = app.create_org("Elsewhere", None, "admin@elsewhere.test");
        let link = app.provision(&elsewhere.owner.api_key).await;
        let mut squatter = WebClient::new(&app);
        squatter.signup_claiming(&link, "ceo@newco.test", "squatter password").await;
        assert_eq!(squatter.claim(&link).await.status, StatusCode::SEE_OTHER);

        // The operator creates NewCo for its CEO: refused, saying what to do.
        let out = app.cli(&["org", "create", "--name", "NewCo", "--owner-email", "ceo@newco.test"], None);
        assert!(!out.ok, "{out:?}");
        assert!(out.stderr.contains("not verified") || out.stderr.contains("nobody has verified"), "{out:?}");
        assert!(out.stderr.contains("provisiond user verify --email ceo@newco.test"), "{out:?}");
        assert!(key_in(&out.stdout).is_none(), "no owner key printed");
        assert_eq!(app.count("SELECT COUNT(*) FROM organizations WHERE name = ?1", "NewCo"), 0);
        // Nor is the address made a member of an existing organization.
        let acme = app.create_org("Acme", None, "owner@acme.com");
        let out =
            app.cli(&["user", "add", "--org", &acme.id, "--email", "ceo@newco.test", "--role", "admin"], None);
        assert!(!out.ok, "{out:?}");
        let page = squatter.get("/team").await;
        assert!(!page.body.contains("NewCo") && !page.body.contains("Acme"), "the squatter got nothing");

        // An operator who knows the account is the CEO's vouches for it; then it works.
        assert!(app.cli(&["user", "verify", "--email", "ceo@newco.test"], None).ok);
        let out = app.cli(&["org", "create", "--name", "NewCo", "--owner-email", "ceo@newco.test"], None);
        assert!(out.ok, "{out:?}");
    }
}

engine_tests! {
    #[tokio::test]
    async fn an_open_sign_up_is_unverified_until_its_mail_link_is_followed() {
        let (app, mail) = spawn_with_mail(|_| {}).await;
        let mut squatter = WebClient::new(&app);
        squatter.signup("ceo@newco.test", "squatter password").await;
        let out = app.cli(&["org", "create", "--name", "NewCo", "--owner-email", "ceo@newco.test"], None);
        assert!(!out.ok, "{out:?}");
        // The real owner of the address receives the link; following it verifies the address.
        let link = mail.wait_for(1)[0].link(&format!("{PUBLIC_URL}/verify?token=")).unwrap();
        let token = &link[link.len() - 64..];
        assert_eq!(WebClient::new(&app).post("/verify", &[("token", token)]).await.status, StatusCode::OK);
        assert!(app.cli(&["org", "create", "--name", "NewCo", "--owner-email", "ceo@newco.test"], None).ok);
    }
}

engine_tests! {
    #[tokio::test]
    async fn set_password_ends_every_session_of_the_account() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let p = app.provision(&org.owner.api_key).await;
        let mut holder = WebClient::new(&app);
        holder.signup_claiming(&p, "taken@acme.com", "their password").await;
        assert_eq!(holder.get("/team").await.status, StatusCode::OK);
        let out = app.cli(&["user", "set-password", "--email", "taken@acme.com"], Some("a new password\n"));
        assert!(out.ok, "{out:?}");
        let r = holder.get("/team").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "signed out");
        assert!(r.location.unwrap().starts_with("/login"));
    }
}

engine_tests! {
    #[tokio::test]
    async fn an_unverified_address_neither_names_a_provisioner_nor_vouches_for_a_key() {
        let app = spawn().await;
        let org = orchestrator(&app).await;
        let p = app.provision(&org.owner.api_key).await;
        let mut web = WebClient::new(&app);
        web.signup_claiming(&p, "ops@orch.io", "ops password 1").await;
        web.claim(&p).await;
        let key = p["apiKey"].as_str().unwrap();
        let user_id = p["userId"].as_str().unwrap();

        let by_email = json!({"email": "ops@orch.io", "is_provisioner": true});
        let r = app.post("/api/v1/admin/set-provisioner", &org.owner.api_key, by_email).await;
        assert_error(r, 409, "email_unverified");
        let by_id = json!({"user_id": user_id, "is_provisioner": true});
        let (s, _) = app.post("/api/v1/admin/set-provisioner", &org.owner.api_key, by_id).await;
        assert_eq!(s, StatusCode::OK);
        // X-User-ID names the key's owner by an address nobody verified: not proof of anything.
        assert_error(create_user(&app, key, "ops@orch.io", "x@y.com").await, 403, "email_unverified");
        assert!(app.cli(&["user", "verify", "--email", "ops@orch.io"], None).ok);
        let (s, body) = create_user(&app, key, "ops@orch.io", "x@y.com").await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
}

// 3. An admin can end up with an owner key.

engine_tests! {
    #[tokio::test]
    async fn a_provisioned_key_never_acts_above_its_provision_whoever_claims_it() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let admin = app.add_member(&org, "admin@acme.com", Role::Admin);
        for role in ["member", "admin"] {
            let (s, p) = app.post("/v1/team/provisions", &admin.api_key, json!({"role": role})).await;
            assert_eq!(s, StatusCode::CREATED);
            // The owner claims the link; the admin kept the key.
            let (s, body) =
                app.post("/v1/provisions/claim", &org.owner.api_key, json!({"token": claim_token(&p)})).await;
            assert_eq!(s, StatusCode::OK, "{body}");
            let kept = p["apiKey"].as_str().unwrap();
            let (_, me) = app.get("/v1/user", kept).await;
            assert_eq!(me["id"], org.owner.user_id.as_str());
            assert_eq!(me["role"], role, "at most the provision's role");
            assert_error(
                app.post("/api/v1/admin/credits", kept, json!({"amount": 5})).await,
                403,
                "insufficient_role",
            );
            let flag = json!({"email": "admin@acme.com", "is_provisioner": true});
            assert_error(app.post("/api/v1/admin/set-provisioner", kept, flag).await, 403, "insufficient_role");
            // Regenerating it does not lift the ceiling.
            let (_, new) = app.post("/v1/user/api-key/regenerate", kept, json!({})).await;
            let (_, me) = app.get("/v1/user", new["apiKey"].as_str().unwrap()).await;
            assert_eq!(me["role"], role);
        }
    }
}

// 4. Unclaimed admin keys live forever.

engine_tests! {
    #[tokio::test]
    async fn an_unclaimed_key_uses_its_own_project_and_manages_nobody() {
        let app = spawn().await;
        let org = app.create_org("Acme", Some("acme.com"), "owner@acme.com");
        app.post("/api/v1/admin/credits", &org.owner.api_key, json!({"amount": 10})).await;
        let other = app.provision(&org.owner.api_key).await;
        let (_, p) = app.post("/v1/team/provisions", &org.owner.api_key, json!({"role": "admin"})).await;
        let key = p["apiKey"].as_str().unwrap();

        let other_id = other["id"].as_str().unwrap();
        for r in [
            app.post("/v1/team/provisions", key, json!({"role": "admin"})).await,
            app.get("/v1/team/provisions", key).await,
            app.delete(&format!("/v1/team/provisions/{other_id}"), key).await,
            app.post("/api/v1/admin/credits", key, json!({"amount": 1})).await,
            app.get("/api/v1/credits/usage", key).await,
            app.post(
                "/api/v1/admin/set-provisioner",
                key,
                json!({"user_id": other["userId"], "is_provisioner": true}),
            )
            .await,
        ] {
            assert_error(r, 403, "insufficient_role");
        }
        // Its own project works: the caller, agents, credits.
        let (s, me) = app.get("/v1/user", key).await;
        assert_eq!(
            (s, me["status"].as_str(), me["role"].as_str()),
            (StatusCode::OK, Some("placeholder"), Some("admin"))
        );
        let (s, _) = app.post("/v1/agents", key, json!({"name": "Bot", "identifier": "bot"})).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, _) = app.post("/api/v1/credits/consume", key, json!({"amount": 1})).await;
        assert_eq!(s, StatusCode::OK);
        // Nothing it did extended anything: at the provision's expiry it is dead.
        app.clock.advance(Duration::from_secs(7 * 86_400 + 1));
        assert_error(app.get("/v1/user", key).await, 401, "invalid_api_key");
        assert_eq!(
            app.get(&format!("/v1/team/provisions/{other_id}"), &org.owner.api_key).await.1["status"],
            "expired"
        );
    }
}

// 5. `next` with control characters.

engine_tests! {
    #[tokio::test]
    async fn next_is_a_local_path_or_the_dashboard() {
        let (app, _mail) = spawn_with_mail(|_| {}).await;
        let org = app.org_with_password("Acme", "owner@acme.com", "owner password");
        let hostile = [
            "/\t/evil.example",
            "/\n",
            "/\r\nSet-Cookie: x=1",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "/\u{7f}",
        ];
        for next in hostile {
            let r = WebClient::new(&app)
                .post("/login", &[("email", "owner@acme.com"), ("password", "owner password"), ("next", next)])
                .await;
            assert_eq!((r.status, r.location.as_deref()), (StatusCode::SEE_OTHER, Some("/team")), "{next:?}");
            let page = WebClient::new(&app).get(&format!("/login?next={}", urlencode(next))).await;
            assert!(page.body.contains(r#"name="next" value="/team""#), "{next:?}");
        }
        // A sign-up with a hostile `next` creates the account once and never answers 500 (open
        // sign-up goes nowhere: it says to check the mail).
        for (i, next) in hostile.iter().enumerate() {
            let email = format!("n{i}@example.com");
            let r = WebClient::new(&app)
                .post("/signup", &[("email", &email), ("password", "long enough pw"), ("next", next)])
                .await;
            assert_eq!((r.status, r.location.as_deref()), (StatusCode::OK, None), "{next:?}");
            assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE email = ?1", &email), 1);
        }
        drop(org);
    }
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

// 6. The rate limit is reset by regenerating the key.

engine_tests! {
    #[tokio::test]
    async fn a_new_key_brings_no_new_provisioning_allowance() {
        let app = spawn_with(|s| s.provision_rate_limit = 3).await;
        let org = app.org_with_password("Acme", "owner@acme.com", "owner password");
        for _ in 0..3 {
            app.provision(&org.owner.api_key).await;
        }
        let (s, _) = app.post("/v1/team/provisions", &org.owner.api_key, json!({})).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        let (_, new) = app.post("/v1/user/api-key/regenerate", &org.owner.api_key, json!({})).await;
        let (s, _) = app.post("/v1/team/provisions", new["apiKey"].as_str().unwrap(), json!({})).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "the same person, the same allowance");
        // Nor does the dashboard.
        let mut web = WebClient::new(&app);
        web.login("owner@acme.com", "owner password").await;
        let csrf = web.csrf("/team").await;
        assert_eq!(web.post("/team/provision", &[("csrf", &csrf)]).await.status, StatusCode::TOO_MANY_REQUESTS);
    }
}

// 7. Anyone can lock an account out.

engine_tests! {
    #[tokio::test]
    async fn a_strangers_failures_do_not_lock_the_owner_out() {
        let app = spawn().await;
        app.org_with_password("Acme", "owner@acme.com", "owner password");
        let mut stranger = WebClient::from_address(&app, "127.0.0.2");
        for _ in 0..8 {
            let r = stranger.login("owner@acme.com", "a wrong guess").await;
            assert!(matches!(r.status.as_u16(), 401 | 429), "{}", r.status);
        }
        assert_eq!(
            stranger.login("owner@acme.com", "owner password").await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
        let r = WebClient::new(&app).login("owner@acme.com", "owner password").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "the owner, from their own address, gets in");
    }
}

// 8. Revocation through the command line never arrives.

engine_tests! {
    #[tokio::test]
    async fn command_line_changes_reach_the_running_server_on_the_next_request() {
        let app = spawn().await;
        let org = orchestrator(&app).await;
        let key = &org.owner.api_key;
        assert_eq!(app.get("/v1/user", key).await.1["isProvisioner"], true, "cached now");

        let out = app.cli(&["user", "provisioner", "--org", "orch.io", "--user", "guy@orch.io", "off"], None);
        assert!(out.ok, "{out:?}");
        assert_eq!(app.get("/v1/user", key).await.1["isProvisioner"], false);
        assert_error(create_user(&app, key, "guy@orch.io", "a@x.com").await, 403, "not_a_provisioner");

        assert!(app.cli(&["user", "provisioner", "--org", "orch.io", "--user", "guy@orch.io", "on"], None).ok);
        assert!(app.cli(&["org", "set-domain", "--org", "orch.io", "--domain", "orch2.io"], None).ok);
        let (s, body) = create_user(&app, key, "guy@orch.io", "b@x.com").await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["email"], "b@orch2.io", "the new domain, at once");
    }
}

// 9. The smaller findings.

engine_tests! {
    #[tokio::test]
    async fn names_with_control_or_text_direction_characters_are_refused() {
        let (app, _mail) = spawn_with_mail(|_| {}).await;
        for name in ["Acme\u{202E}moc.evil", "A\nB", "A\u{1b}[31mB", "A\u{200B}B"] {
            let out = app.cli(&["org", "create", "--name", name, "--owner-email", "o@acme.com"], None);
            assert!(!out.ok && out.stderr.contains("The organization name"), "{name:?}: {out:?}");
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM organizations WHERE id <> ?1", ""), 0);
        // The dashboard's forms refuse them too: onboarding and a new organization.
        let org = app.create_org("Acme", None, "owner@acme.com");
        let (_, p) = app.post("/v1/team/provisions", &org.owner.api_key, json!({"skipOnboarding": false})).await;
        let mut web = WebClient::new(&app);
        web.signup_claiming(&p, "n@example.com", "long enough pw").await;
        app.cli(&["user", "verify", "--email", "n@example.com"], None);
        web.claim(&p).await;
        let csrf = web.csrf("/onboarding").await;
        let r = web.post("/onboarding", &[("name", "Nora\u{202E}"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("text-direction"));
        let r = web.post("/onboarding", &[("name", "No\u{0}ra"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = web.post("/orgs", &[("name", "Evil\u{2066}Co"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("text-direction"));
    }
}

engine_tests! {
    #[tokio::test]
    async fn responses_with_a_key_or_a_link_are_never_cached() {
        let app = spawn().await;
        let org = orchestrator(&app).await;
        let no_store =
            |r: &reqwest::Response| r.headers().get("cache-control").map(|v| v.to_str().unwrap().to_string());
        let key = &org.owner.api_key;
        let provisioned = app.post_bare("/v1/team/provisions", key).await;
        let created = app.create_user_raw(key, Some("guy@orch.io"), json!({"email": "a@b.com"})).await;
        let regenerated = app.post_bare("/v1/user/api-key/regenerate", key).await;
        for (r, status) in [(provisioned, 201), (created, 201), (regenerated, 200)] {
            assert_eq!(r.status().as_u16(), status, "{}", r.url());
            assert_eq!(no_store(&r).as_deref(), Some("no-store"), "{}", r.url());
        }
    }
}

engine_tests! {
    #[tokio::test]
    async fn a_credential_header_sent_twice_is_refused() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let other = app.create_org("Other", None, "owner@other.com");
        for (h, a, b) in [
            ("x-api-key", org.owner.api_key.clone(), other.owner.api_key.clone()),
            ("x-api-key", org.owner.api_key.clone(), org.owner.api_key.clone()),
            ("authorization", format!("Bearer {}", org.owner.api_key), format!("Bearer {}", other.owner.api_key)),
        ] {
            let r =
                app.client.get(format!("{}/v1/user", app.base)).header(h, a).header(h, b).send().await.unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert_error((status, body), 401, "invalid_api_key");
        }
    }
}

engine_tests! {
    #[tokio::test]
    async fn a_claim_signed_in_by_cookie_needs_the_csrf_token_and_our_origin() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let first = app.provision(&org.owner.api_key).await;
        let p = app.provision(&org.owner.api_key).await;
        let mut web = WebClient::new(&app);
        web.signup_claiming(&first, "person@example.com", "long enough pw").await;
        let csrf = web.csrf("/team").await;
        let cookie = web.cookie.clone().unwrap();
        let post = |headers: Vec<(&'static str, String)>| {
            let mut r = app
                .client
                .post(format!("{}/v1/provisions/claim", app.base))
                .header("cookie", cookie.clone())
                .json(&json!({"token": claim_token(&p)}));
            for (k, v) in headers {
                r = r.header(k, v);
            }
            r.send()
        };
        for headers in [
            vec![],
            vec![("x-csrf-token", "0".repeat(32))],
            vec![("x-csrf-token", csrf.clone()), ("origin", "https://evil.example".into())],
        ] {
            let r = post(headers).await.unwrap();
            let status = r.status();
            assert_error((status, r.json().await.unwrap()), 403, "csrf_failed");
        }
        let r = post(vec![("x-csrf-token", csrf.clone())]).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}

engine_tests! {
    #[tokio::test]
    async fn an_oversized_form_is_told_the_form_limit() {
        let app = spawn().await;
        let big = "x".repeat(20 * 1024);
        let r = WebClient::new(&app).post("/login", &[("email", "a@b.com"), ("password", &big)]).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(r.headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/html"));
        assert!(r.body.contains("16 KiB") && !r.body.contains("64 KiB"), "{}", r.body);
    }
}

// Email, for real: reset links, and the pages without SMTP.

engine_tests! {
    #[tokio::test]
    async fn a_mailed_reset_link_works_once_for_an_hour_and_ends_every_session() {
        let (app, mail) = spawn_with_mail(|_| {}).await;
        app.org_with_password("Acme", "owner@acme.com", "old password");
        let (mut a, mut b) = (WebClient::new(&app), WebClient::new(&app));
        a.login("owner@acme.com", "old password").await;
        b.login("owner@acme.com", "old password").await;

        // The same answer whether or not an account has the address; a mail only for the account.
        let nobody = WebClient::new(&app).post("/password/forgot", &[("email", "nobody@acme.com")]).await;
        let owner = WebClient::new(&app).post("/password/forgot", &[("email", "OWNER@acme.com")]).await;
        assert_eq!((nobody.status, owner.status), (StatusCode::OK, StatusCode::OK));
        assert_eq!(nobody.body.replace("nobody@acme.com", "X"), owner.body.replace("owner@acme.com", "X"));
        let sent = mail.wait_for(1);
        assert_eq!(sent.len(), 1, "nothing mailed for an address without an account");
        assert_eq!(sent[0].to, vec!["owner@acme.com".to_string()]);
        assert!(mail.raw_log().iter().any(|l| l.starts_with("DATA")), "a real SMTP conversation");
        let link = sent[0].link(&format!("{PUBLIC_URL}/password/reset?token=")).unwrap();
        let token = link[link.len() - 64..].to_string();

        let mut c = WebClient::new(&app);
        assert_eq!(c.get(&format!("/password/reset?token={token}")).await.status, StatusCode::OK);
        let r = c.post("/password/reset", &[("token", &token), ("password", "new password 1")]).await;
        assert_eq!((r.status, r.location.as_deref()), (StatusCode::SEE_OTHER, Some("/team")));
        assert_eq!(c.get("/team").await.status, StatusCode::OK, "signed in with the new password");
        for old in [&mut a, &mut b] {
            assert_eq!(old.get("/team").await.status, StatusCode::SEE_OTHER, "every other session ended");
        }
        assert_eq!(
            WebClient::new(&app).login("owner@acme.com", "old password").await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            WebClient::new(&app).login("owner@acme.com", "new password 1").await.status,
            StatusCode::SEE_OTHER
        );
        let again = WebClient::new(&app)
            .post("/password/reset", &[("token", &token), ("password", "third password")])
            .await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST, "single use");

        // A link is good for one hour.
        WebClient::new(&app).post("/password/forgot", &[("email", "owner@acme.com")]).await;
        let link = mail.wait_for(2)[1].link(&format!("{PUBLIC_URL}/password/reset?token=")).unwrap();
        app.clock.advance(Duration::from_secs(3601));
        let late = WebClient::new(&app)
            .post("/password/reset", &[("token", &link[link.len() - 64..]), ("password", "late password")])
            .await;
        assert_eq!(late.status, StatusCode::BAD_REQUEST);
        let stored = app.count_blob("SELECT COUNT(*) FROM email_tokens WHERE token_hash = ?1", blake3::hash(token.as_bytes()).as_bytes());
        assert_eq!(stored, 0, "a used link is gone");
        assert!(!app.at_rest_contains(token.as_bytes()), "only hashes are stored");
    }
}

engine_tests! {
    #[tokio::test]
    async fn changing_the_password_ends_every_other_session() {
        let app = spawn().await;
        app.org_with_password("Acme", "owner@acme.com", "old password");
        let (mut a, mut b) = (WebClient::new(&app), WebClient::new(&app));
        a.login("owner@acme.com", "old password").await;
        b.login("owner@acme.com", "old password").await;
        let csrf = a.csrf("/account").await;
        let wrong = a
            .post(
                "/account/password",
                &[("current", "nope nope"), ("password", "new password 1"), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        let r = a
            .post(
                "/account/password",
                &[("current", "old password"), ("password", "new password 1"), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(a.get("/team").await.status, StatusCode::OK, "this session stays");
        assert_eq!(b.get("/team").await.status, StatusCode::SEE_OTHER, "the other one ends");
    }
}

engine_tests! {
    #[tokio::test]
    async fn without_smtp_the_pages_say_how_passwords_are_reset() {
        let app = spawn().await;
        let r = WebClient::new(&app).get("/password/forgot").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("does not send mail") && r.body.contains("provisiond user set-password"));
        let r = WebClient::new(&app).post("/password/forgot", &[("email", "a@b.com")]).await;
        assert!(r.body.contains("does not send mail"));
    }
}

engine_tests! {
    #[tokio::test]
    async fn sign_up_follows_the_signup_mode() {
        // claim (the default): only through a live claim link.
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let p = app.provision(&org.owner.api_key).await;
        let r = WebClient::new(&app).get("/signup").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.body.contains("claim link"));
        let r =
            WebClient::new(&app).post("/signup", &[("email", "a@b.com"), ("password", "long enough pw")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let dead = format!("/claim?token={}", "a".repeat(64));
        let r = WebClient::new(&app)
            .post("/signup", &[("email", "a@b.com"), ("password", "long enough pw"), ("next", &dead)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE email = ?1", "a@b.com"), 0);
        WebClient::new(&app).signup_claiming(&p, "a@b.com", "long enough pw").await;

        // off: nobody; the claim page offers log-in only.
        let app = spawn_with(|s| s.signup = provisiond::config::SignupMode::Off).await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let p = app.provision(&org.owner.api_key).await;
        let back = format!("/claim?token={}", claim_token(&p));
        let page = WebClient::new(&app).get(&back).await;
        assert!(page.body.contains("action=\"/login\"") && !page.body.contains("action=\"/signup\""));
        let r = WebClient::new(&app)
            .post("/signup", &[("email", "a@b.com"), ("password", "long enough pw"), ("next", &back)])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);

        // open needs mail to verify addresses: without SMTP_URL the server does not start.
        let dir = tempfile::tempdir().unwrap();
        let mut s = test_settings(&dir);
        s.signup = provisiond::config::SignupMode::Open;
        let err = provisiond::app::Application::build(s).err().expect("refused");
        assert!(err.contains("SIGNUP=open needs SMTP_URL"), "{err}");
    }
}

fn key_in(text: &str) -> Option<String> {
    text.split_whitespace().find(|w| w.starts_with("oc_") && w.len() == 67).map(str::to_string)
}
