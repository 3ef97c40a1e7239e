//! The HTML pages over plain HTTP: sessions, log-in rules, CSRF, headers, claim pages, dashboard.
//! (tests/browser.rs drives the same pages in Chromium.)

use crate::helpers::*;
use provisiond::domain::Role;
use reqwest::StatusCode;
use serde_json::json;

engine_tests! {
    #[tokio::test]
    async fn session_cookie_flags_and_logout() {
        let app = spawn().await; // PUBLIC_URL is https: cookies are Secure
        let org = app.create_org("Acme", None, "owner@acme.com");
        let p = app.provision(&org.owner.api_key).await;
        let mut web = WebClient::new(&app);
        let r = web.signup_claiming(&p, "p@example.com", "long enough pw").await;
        let cookie = r.set_cookie.iter().find(|c| c.starts_with("provisiond_session=")).unwrap();
        for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age="] {
            assert!(cookie.contains(flag), "{flag} in {cookie}");
        }
        let token = web.cookie.clone().unwrap();
        let token = token.strip_prefix("provisiond_session=").unwrap();
        let stored = app.count_blob(
            "SELECT COUNT(*) FROM sessions WHERE token_hash = ?1",
            blake3::hash(token.as_bytes()).as_bytes(),
        );
        assert!(!app.at_rest_contains(token.as_bytes()), "the cookie itself is nowhere");
        assert_eq!(stored, 1, "only the hash of the cookie is stored");

        assert_eq!(web.get("/team").await.status, StatusCode::OK);
        let csrf = web.csrf("/team").await;
        let r = web.post("/logout", &[("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(web.cookie, None, "cookie removed");
        let mut replay = WebClient::new(&app);
        replay.cookie = Some(format!("provisiond_session={token}"));
        let r = replay.get("/team").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "the old session is gone");
        assert_eq!(r.location.as_deref(), Some("/login?next=/team"));
    }
}

engine_tests! {
    #[tokio::test]
    async fn log_in_rules() {
        let app = spawn().await;
        app.org_with_password("Acme", "owner@acme.com", "owner password");
        let mut web = WebClient::new(&app);
        let r = web.login("owner@acme.com", "wrong password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("The email or password is wrong."));
        let r = web.login("nobody@acme.com", "whatever pw").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("The email or password is wrong."), "no hint that the account does not exist");
        let r = web.login("OWNER@acme.com", "owner password").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location.as_deref(), Some("/team"));

        // An API-only user never signs in, refused like a wrong password: the page tells neither
        // whether the password was right nor what kind of account the address has.
        let org = app.create_org("Orch", Some("orch.io"), "guy@orch.io");
        app.post(
            "/api/v1/admin/set-provisioner",
            &org.owner.api_key,
            json!({"email": "guy@orch.io", "is_provisioner": true}),
        )
        .await;
        let (s, _) =
            app.create_user(&org.owner.api_key, Some("guy@orch.io"), json!({"email": "bot@x.com"})).await;
        assert_eq!(s, StatusCode::CREATED);
        for pw in ["any password", ""] {
            let r = WebClient::new(&app).login("bot@orch.io", pw).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            assert!(!r.body.contains("API-only"), "{}", r.body);
            assert!(r.set_cookie.is_empty());
        }
        // Signing up over an existing address is refused.
        let p = app.provision(&org.owner.api_key).await;
        let next = format!("/claim?token={}", claim_token(&p));
        let r = WebClient::new(&app)
            .post("/signup", &[("email", "bot@orch.io"), ("password", "long enough pw"), ("next", &next)])
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        let r = WebClient::new(&app)
            .post("/signup", &[("email", "not an email"), ("password", "long enough pw"), ("next", &next)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = WebClient::new(&app)
            .post("/signup", &[("email", "a@b.com"), ("password", "short"), ("next", &next)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("at least 8 characters"));
    }
}

engine_tests! {
    #[tokio::test]
    async fn repeated_failed_log_ins_slow_down() {
        let app = spawn().await;
        app.org_with_password("Acme", "owner@acme.com", "owner password");
        let mut web = WebClient::new(&app);
        for _ in 0..5 {
            assert_eq!(web.login("owner@acme.com", "bad guess").await.status, StatusCode::UNAUTHORIZED);
        }
        // Even the right password waits now.
        let r = web.login("owner@acme.com", "owner password").await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(r.body.contains("Try again in"));
        app.clock.advance(std::time::Duration::from_secs(2));
        assert_eq!(web.login("owner@acme.com", "owner password").await.status, StatusCode::SEE_OTHER);
    }
}

engine_tests! {
    #[tokio::test]
    async fn forms_need_the_csrf_token_and_our_origin() {
        let app = spawn().await;
        app.org_with_password("Acme", "owner@acme.com", "owner password");
        let mut web = WebClient::new(&app);
        web.login("owner@acme.com", "owner password").await;
        let csrf = web.csrf("/team").await;
        let r = web.post("/team/provision", &[("role", "member"), ("csrf", "0".repeat(32).as_str())]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = web.post("/team/provision", &[("role", "member")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = web
            .post_with(
                "/team/provision",
                &[("role", "member"), ("csrf", &csrf)],
                &[("origin", "https://evil.example")],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = web
            .post_with(
                "/login",
                &[("email", "owner@acme.com"), ("password", "owner password")],
                &[("origin", "null")],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(
            app.count("SELECT COUNT(*) FROM provisions WHERE created_by <> ?1", ""),
            0,
            "nothing provisioned"
        );
        let host = format!("http://127.0.0.1:{}", app.port);
        let r =
            web.post_with("/team/provision", &[("role", "member"), ("csrf", &csrf)], &[("origin", &host)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
}

engine_tests! {
    #[tokio::test]
    async fn pages_carry_strict_security_headers() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        // A live claim page: its address holds the claim token, which no link may leak.
        let live = format!("/claim?token={}", claim_token(&app.provision(&org.owner.api_key).await));
        let mut web = WebClient::new(&app);
        for path in ["/login", "/signup", "/claim?token=nope", live.as_str()] {
            let r = web.get(path).await;
            let h = |n: &str| r.headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            assert!(h("content-type").starts_with("text/html"), "{path}");
            let csp = h("content-security-policy");
            assert!(
                csp.contains("default-src 'none'")
                    && csp.contains("script-src 'self'")
                    && csp.contains("frame-ancestors 'none'"),
                "{csp}"
            );
            assert_eq!(h("x-frame-options"), "DENY");
            assert_eq!(h("x-content-type-options"), "nosniff");
            assert_eq!(h("referrer-policy"), "same-origin", "{path}: the address bar's token stays here");
            assert!(!r.body.contains("<script>"), "no inline script");
        }
    }
}

engine_tests! {
    #[tokio::test]
    async fn claim_pages_for_every_state() {
        let app = spawn().await;
        let org = app.create_org("Acme & Co <b>", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let mut web = WebClient::new(&app);

        let live = app.provision(k).await;
        let r = web.get(&format!("/claim?token={}", claim_token(&live))).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("Acme &amp; Co &lt;b&gt;"), "org name, escaped");
        assert!(
            r.body.contains("action=\"/signup\"") && r.body.contains("action=\"/login\""),
            "sign up or log in first"
        );
        assert!(!r.body.contains("claim-submit"), "no claim button before signing in");

        for (path, status, text) in [
            ("/claim?token=".to_string() + &"f".repeat(64), 400, "This claim link is not valid"),
            ("/claim?token=xyz".to_string(), 400, "This claim link is not valid"),
            ("/claim".to_string(), 400, "This claim link is not valid"),
        ] {
            let r = web.get(&path).await;
            assert_eq!(r.status.as_u16(), status, "{path}");
            assert!(r.body.contains(text), "{path}: {}", r.body);
        }
        let cancelled = app.provision(k).await;
        app.delete(&format!("/v1/team/provisions/{}", cancelled["id"].as_str().unwrap()), k).await;
        let r = web.get(&format!("/claim?token={}", claim_token(&cancelled))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("cancelled"));

        // Sign up from the claim page, come back, claim with the button.
        let back = format!("/claim?token={}", claim_token(&live));
        let r = web
            .post("/signup", &[("email", "new@example.com"), ("password", "long enough pw"), ("next", &back)])
            .await;
        assert_eq!(r.location.as_deref(), Some(back.as_str()));
        let page = web.get(&back).await;
        assert!(page.body.contains("claim-submit"));
        let csrf = web.csrf(&back).await;
        let r = web.post("/claim", &[("token", &claim_token(&live)), ("csrf", &csrf)]).await;
        let received = r.location.clone().unwrap();
        assert!(received.starts_with("/claimed?project=") && !received.contains("onboarding"), "skipOnboarding: what was received, then the dashboard: {received}");
        let page = web.get(&received).await;
        assert!(page.body.contains("The account is yours") && page.body.contains("href=\"/team\""), "{}", page.body);
        let dash = web.get("/team").await;
        assert!(dash.body.contains("Acme &amp; Co &lt;b&gt;"));
        assert!(dash.body.contains("new@example.com"));
        let r = web.get(&back).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert!(r.body.contains("already been claimed"));

        let expiring = app.provision(k).await;
        app.clock.advance(std::time::Duration::from_secs(8 * 86_400));
        let r = web.get(&format!("/claim?token={}", claim_token(&expiring))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("This claim link has expired"));
    }
}

engine_tests! {
    #[tokio::test]
    async fn onboarding_comes_first_when_not_skipped() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let (_, p) = app.post("/v1/team/provisions", &org.owner.api_key, json!({"skipOnboarding": false})).await;
        let mut web = WebClient::new(&app);
        web.signup_claiming(&p, "n@example.com", "long enough pw").await;
        let r = web.claim(&p).await;
        let received = r.location.clone().unwrap();
        assert!(received.starts_with("/claimed?project=") && received.ends_with("&onboarding=1"), "{received}");
        let page = web.get(&received).await;
        assert!(page.body.contains("Acme") && page.body.contains("href=\"/onboarding\""), "onboarding comes next");
        let page = web.get("/onboarding").await;
        assert!(page.body.contains("Welcome") && page.body.contains("Acme"));
        let csrf = web.csrf("/onboarding").await;
        let r = web.post("/onboarding", &[("name", "  Nora  "), ("csrf", &csrf)]).await;
        assert_eq!(r.location.as_deref(), Some("/team"));
        assert!(web.get("/team").await.body.contains("Nora"));
    }
}

engine_tests! {
    #[tokio::test]
    async fn dashboard_for_admins_members_and_people_in_several_organizations() {
        let app = spawn().await;
        let acme = app.org_with_password("Acme", "owner@acme.com", "owner password");
        let mut owner = WebClient::new(&app);
        owner.login("owner@acme.com", "owner password").await;

        // Provision from the dashboard: the result shows link, key and ids once; the key works.
        let csrf = owner.csrf("/team").await;
        let posted = owner.post("/team/provision", &[("role", "admin"), ("csrf", &csrf)]).await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER, "post, then redirect: a reload cannot provision twice");
        let result_page = posted.location.clone().unwrap();
        assert!(result_page.starts_with("/team/shown?id="));
        let r = owner.get(&result_page).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
        // Shown once, and only to the person who provisioned.
        assert_eq!(owner.get(&result_page).await.status, StatusCode::NOT_FOUND);
        let grab = |id: &str| {
            let start = r.body.find(&format!("id=\"{id}\">")).unwrap() + id.len() + 6;
            r.body[start..start + r.body[start..].find('<').unwrap()].to_string()
        };
        let (url, key, user_id) = (grab("claim-url"), grab("api-key"), grab("user-id"));
        assert!(url.starts_with(&format!("{PUBLIC_URL}/claim?token=")));
        let (s, me) = app.get("/v1/user", &key).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(me["id"], user_id.as_str());
        assert_eq!(me["role"], "admin");
        let (_, view) = app.get("/v1/team/provisions?status=pending", &acme.owner.api_key).await;
        assert_eq!(view["provisions"][0]["skipOnboarding"], false, "unchecked box means onboarding");

        // Pending provisions list with Cancel (confirmed first).
        let pid = view["provisions"][0]["id"].as_str().unwrap();
        let dash = owner.get("/team?tab=pending").await;
        assert!(dash.body.contains(&format!("data-provision=\"{pid}\"")), "pending provision listed");
        let confirm = owner.get(&format!("/team/provisions/{pid}/cancel")).await;
        assert!(confirm.body.contains("stops working"), "a confirmation before the cancel");
        let r = owner.post(&format!("/team/provisions/{pid}/cancel"), &[("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_error(app.get("/v1/user", &key).await, 401, "invalid_api_key");

        // A member sees the team without admin controls, and cannot post them either.
        app.add_member(&acme, "m@acme.com", Role::Member);
        app.set_password("m@acme.com", "member password");
        let mut m = WebClient::new(&app);
        m.login("m@acme.com", "member password").await;
        let page = m.get("/team").await;
        assert!(page.body.contains("owner@acme.com") && page.body.contains("m@acme.com"));
        assert!(!page.body.contains("Provision new user") && !page.body.contains("Pending provisions"));
        let mcsrf = m.csrf("/team").await;
        assert_eq!(m.post("/team/provision", &[("csrf", &mcsrf)]).await.status, StatusCode::FORBIDDEN);
        // Someone else's result page shows nothing (and does not use it up).
        let loc = owner.post("/team/provision", &[("role", "member"), ("csrf", &csrf)]).await.location.unwrap();
        assert_eq!(m.get(&loc).await.status, StatusCode::NOT_FOUND);
        assert_eq!(owner.get(&loc).await.status, StatusCode::OK);

        // Someone in two organizations switches between them.
        let other = app.create_org("Other", None, "m2@other.com");
        app.add_member(&other, "m@acme.com", Role::Admin);
        let page = m.get("/team").await;
        assert!(page.body.contains("org-switch"));
        let r = m.post("/team/switch", &[("org_id", &other.id), ("csrf", &mcsrf)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let page = m.get("/team").await;
        assert!(page.body.contains("<h1 id=\"org-name\">Other</h1>"), "{}", page.body);
        assert!(page.body.contains("Provision new user"), "admin there");
        let stranger = app.create_org("Stranger", None, "s@s.com");
        assert_eq!(
            m.post("/team/switch", &[("org_id", &stranger.id), ("csrf", &mcsrf)]).await.status,
            StatusCode::NOT_FOUND
        );
    }
}

engine_tests! {
    #[tokio::test]
    async fn a_new_person_can_start_an_organization_once_their_address_is_verified() {
        let (app, mail) = spawn_with_mail(|_| {}).await;
        let mut web = WebClient::new(&app);
        web.signup("founder@example.com", "long enough pw").await;
        let page = web.get("/team").await;
        assert!(page.body.contains("not in an organization yet"));
        assert!(!page.body.contains("org-create"), "not before the address is verified");
        let csrf = web.csrf("/team").await;
        let r = web.post("/orgs", &[("name", "Founders"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.body.contains("Verify your email address first"), "{}", r.body);

        // The verification mail went out over SMTP; its link, confirmed, verifies the address.
        let sent = mail.wait_for(1);
        assert_eq!(sent[0].to, vec!["founder@example.com".to_string()]);
        let link = sent[0].link(&format!("{PUBLIC_URL}/verify?token=")).expect("a verification link");
        let path = link.strip_prefix(PUBLIC_URL).unwrap();
        assert_eq!(
            web.get(path).await.status,
            StatusCode::OK,
            "the link opens a page; it does not verify by itself"
        );
        let token = &path[path.len() - 64..];
        let r = web.post("/verify", &[("token", token)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("Your address is verified"));
        assert_eq!(web.post("/verify", &[("token", token)]).await.status, StatusCode::BAD_REQUEST, "once only");

        let page = web.get("/team").await;
        assert!(page.body.contains("org-create"));
        let posted = web.post("/orgs", &[("name", "Founders"), ("csrf", &csrf)]).await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER);
        let r = web.get(&posted.location.unwrap()).await;
        assert_eq!(r.status, StatusCode::OK);
        let key_start = r.body.find("id=\"api-key\">").unwrap() + 13;
        let key = &r.body[key_start..key_start + 67];
        let (_, me) = app.get("/v1/user", key).await;
        assert_eq!(me["role"], "owner");
        assert_eq!(me["organizationName"], "Founders");
        assert!(web.get("/team").await.body.contains("Provision new user"));
    }
}

engine_tests! {
    #[tokio::test]
    async fn sessions_expire_and_the_sweep_removes_them() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let p = app.provision(&org.owner.api_key).await;
        let mut web = WebClient::new(&app);
        web.signup_claiming(&p, "s@example.com", "long enough pw").await;
        assert_eq!(web.get("/team").await.status, StatusCode::OK);
        app.clock.advance(std::time::Duration::from_secs(15 * 86_400));
        let r = web.get("/team").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "a 14-day session is over after 15 days");
        assert_eq!(app.count("SELECT COUNT(*) FROM sessions WHERE user_id <> ?1", ""), 1);
        app.sweep();
        assert_eq!(app.count("SELECT COUNT(*) FROM sessions WHERE user_id <> ?1", ""), 0);
    }
}

engine_tests! {
    #[tokio::test]
    async fn credits_and_webhooks_are_run_from_the_pages() {
        let app = spawn_with(|s| s.webhook_allow_private = true).await;
        let acme = app.org_with_password("Acme", "owner@acme.com", "owner password");
        let member = app.add_member(&acme, "m@acme.com", Role::Member);
        let mut owner = WebClient::new(&app);
        owner.login("owner@acme.com", "owner password").await;
        let csrf = owner.csrf("/team/credits").await;
        let r = owner.post("/team/credits/grant", &[("amount", "100"), ("reason", "pilot"), ("csrf", &csrf)]).await;
        assert_eq!(r.location.as_deref(), Some("/team/credits?done=granted"));
        let r = owner.post("/team/credits/grant", &[("amount", "-3"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "a bad amount is a page saying so");
        app.post("/api/v1/credits/consume", &member.api_key, json!({"amount": 2.5})).await;
        let r = owner
            .post(&format!("/team/credits/limits/{}", member.user_id), &[("amount", "10"), ("period", "day"), ("csrf", &csrf)])
            .await;
        assert_eq!(r.location.as_deref(), Some("/team/credits?done=limit_set"));
        let page = owner.get("/team/credits?done=limit_set").await;
        assert!(page.body.contains("97.5") && page.body.contains("m@acme.com"), "{}", page.body);
        assert!(page.body.contains("2.5 of 10 per day"));
        assert!(page.body.contains("The limit is set."));
        let (_, audit) = app.get("/v1/audit-logs?action=credits.granted", &acme.owner.api_key).await;
        assert_eq!(audit["auditLogs"][0]["actor"]["type"], "user");

        // An endpoint: its secret shown once; a test event; disabled; deleted after confirming.
        let r = owner
            .post("/team/webhooks", &[("url", "http://127.0.0.1:9/hook"), ("event", "credits.low"), ("event", "credits.depleted"), ("csrf", &csrf)])
            .await;
        let shown = r.location.clone().unwrap();
        assert!(shown.starts_with("/team/shown?id="), "{:?}", r.body);
        let page = owner.get(&shown).await;
        assert!(page.body.contains("whsec_"));
        assert_eq!(owner.get(&shown).await.status, StatusCode::NOT_FOUND, "shown once");
        let (_, hooks) = app.get("/v1/webhooks", &acme.owner.api_key).await;
        let id = hooks["webhooks"][0]["id"].as_str().unwrap().to_string();
        assert_eq!(hooks["webhooks"][0]["events"], json!(["credits.low", "credits.depleted"]));
        let r = owner.post(&format!("/team/webhooks/{id}/test"), &[("csrf", &csrf)]).await;
        assert_eq!(r.location.as_deref(), Some("/team/webhooks?done=test_sent"));
        let r = owner.post(&format!("/team/webhooks/{id}/enabled"), &[("on", "false"), ("csrf", &csrf)]).await;
        assert_eq!(r.location.as_deref(), Some("/team/webhooks?done=webhook_off"));
        let page = owner.get("/team/webhooks").await;
        assert!(page.body.contains("disabled") && page.body.contains("webhook.test"), "{}", page.body);
        let bad = owner.post("/team/webhooks", &[("url", "http://127.0.0.1/x"), ("event", "nope"), ("csrf", &csrf)]).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.body.contains("value=\"http://127.0.0.1/x\"") && bad.body.contains("nope"), "the form comes back as typed: {}", bad.body);
        assert!(owner.get(&format!("/team/webhooks/{id}/delete")).await.body.contains("Delete the endpoint http://127.0.0.1:9/hook?"));
        let r = owner.post(&format!("/team/webhooks/{id}/delete"), &[("csrf", &csrf)]).await;
        assert_eq!(r.location.as_deref(), Some("/team/webhooks?done=webhook_deleted"));
        let (_, hooks) = app.get("/v1/webhooks", &acme.owner.api_key).await;
        assert_eq!(hooks["webhooks"].as_array().unwrap().len(), 0);

        // A member reads neither page.
        app.set_password("m@acme.com", "member password");
        let mut m = WebClient::new(&app);
        m.login("m@acme.com", "member password").await;
        assert_eq!(m.get("/team/credits").await.status, StatusCode::FORBIDDEN);
        assert_eq!(m.get("/team/webhooks").await.status, StatusCode::FORBIDDEN);
    }
}

engine_tests! {
    #[tokio::test]
    async fn error_pages_keep_the_signed_in_header_and_browsers_get_an_html_404() {
        let app = spawn().await;
        app.org_with_password("Acme", "owner@acme.com", "owner password");
        let mut web = WebClient::new(&app);
        web.login("owner@acme.com", "owner password").await;
        // A refusal rendered as the error page (a key id that is nobody's): the confirmation
        // names the key, so there is none to show.
        let r = web.get(&format!("/team/keys/{}/revoke", uuid::Uuid::new_v4())).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.body.contains("Something is not right") && r.body.contains("signed-in-as"), "{}", r.body);
        let csrf = web.csrf("/team").await;
        let host = format!("http://127.0.0.1:{}", app.port);
        let r = web.post_with(&format!("/team/keys/{}/revoke", uuid::Uuid::new_v4()), &[("csrf", &csrf)], &[("origin", &host)]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.body.contains("Something is not right") && r.body.contains("signed-in-as"), "{}", r.body);
        // A mistyped address: a page for a browser, JSON for an API client.
        let res = app.client.get(format!("{}/tema", app.base)).header("Accept", "text/html").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(res.text().await.unwrap().contains("There is no page here"));
        let (s, body) = app.get("/tema", "").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
        let res = app.client.get(format!("{}/v1/nope", app.base)).header("Accept", "text/html").send().await.unwrap();
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"), "the API answers JSON");
    }
}

engine_tests! {
    #[tokio::test]
    async fn claim_links_keys_and_endpoints_are_changed_from_the_pages_too() {
        let app = spawn_with(|s| s.webhook_allow_private = true).await;
        let acme = app.org_with_password("Acme", "owner@acme.com", "owner password");
        let mut owner = WebClient::new(&app);
        owner.login("owner@acme.com", "owner password").await;
        let csrf = owner.csrf("/team").await;

        // A provision with an external id, found by it; a new claim link for it.
        let r = owner.post("/team/provision", &[("role", "member"), ("external_id", "crm-77"), ("csrf", &csrf)]).await;
        let first = owner.get(r.location.as_deref().unwrap()).await.body;
        let token_of = |body: &str| {
            let at = body.find("/claim?token=").unwrap() + 13;
            body[at..at + 64].to_string()
        };
        let old = token_of(&first);
        let list = owner.get("/team?tab=pending&q=crm-77").await;
        assert!(list.body.contains("Showing 1–1 of 1") && list.body.contains("External ID: crm-77"), "{}", list.body);
        let (_, view) = app.get("/v1/team/provisions?externalId=crm-77", &acme.owner.api_key).await;
        let pid = view["provisions"][0]["id"].as_str().unwrap().to_string();
        let r = owner.post(&format!("/team/provisions/{pid}/renew"), &[("csrf", &csrf)]).await;
        let renewed = owner.get(r.location.as_deref().unwrap()).await.body;
        let new = token_of(&renewed);
        assert_ne!(new, old);
        assert_eq!(owner.get(&format!("/claim?token={old}")).await.status, StatusCode::BAD_REQUEST, "the old link stops");
        assert_eq!(owner.get(&format!("/claim?token={new}")).await.status, StatusCode::OK);

        // A key with two scopes and an expiry.
        let r = owner
            .post("/team/keys?x=1", &[("name", "ci"), ("expires_in", "2592000"), ("scope", "agents"), ("scope", "credits:read"), ("csrf", &csrf)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let body = owner.get(r.location.as_deref().unwrap()).await.body;
        let at = body.find("oc_").unwrap();
        let key = body[at..at + 67].to_string();
        let (_, keys) = app.get("/v1/keys", &acme.owner.api_key).await;
        let made = keys["keys"].as_array().unwrap().iter().find(|k| k["name"] == "ci").unwrap().clone();
        assert_eq!(made["scopes"], json!(["agents", "credits:read"]));
        assert!(made["expiresAt"].is_string());
        assert_eq!(app.get("/v1/agents", &key).await.0, StatusCode::OK);
        assert_error(app.get("/v1/team/provisions", &key).await, 403, "missing_scope");
        let r = owner.post("/team/keys", &[("scope", "nope"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);

        // An endpoint's URL and events changed.
        owner.post("/team/webhooks", &[("url", "http://127.0.0.1:9/a"), ("event", "*"), ("csrf", &csrf)]).await;
        let (_, hooks) = app.get("/v1/webhooks", &acme.owner.api_key).await;
        let id = hooks["webhooks"][0]["id"].as_str().unwrap().to_string();
        let r = owner
            .post(&format!("/team/webhooks/{id}/edit"), &[("url", "http://127.0.0.1:9/b"), ("event", "credits.low"), ("description", "billing"), ("csrf", &csrf)])
            .await;
        assert_eq!(r.location.as_deref(), Some("/team/webhooks?done=webhook_saved"));
        let (_, hook) = app.get(&format!("/v1/webhooks/{id}"), &acme.owner.api_key).await;
        assert_eq!((hook["url"].as_str(), hook["events"].clone(), hook["description"].as_str()), (Some("http://127.0.0.1:9/b"), json!(["credits.low"]), Some("billing")));
    }
}
