//! The dashboard a team admin would choose (issue 23), over plain HTTP on both engines: controls
//! only where the authority rule allows them, refused forms kept, owner promotion confirmed,
//! messages that name their object, verification counts, webhook attempts and resend, the audit
//! log's filters and export, the team list's word search and keyset pages, compressed pages.
//! (tests/e2e/browser.test.mjs drives the same pages in Chromium.)

use crate::helpers::receiver;
use crate::helpers::*;
use provisiond::domain::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The `<tr …>` of the row whose `attr` is `id`, as the page wrote it.
fn row<'a>(page: &'a str, attr: &str, id: &str) -> &'a str {
    let at = page.find(&format!("{attr}=\"{id}\"")).unwrap_or_else(|| panic!("no row {attr}={id}"));
    let end = page[at..].find("</tr>").unwrap() + at;
    &page[at..end]
}

/// Logs `email` in with a fresh client.
async fn signed_in<'a>(app: &'a TestApp, email: &str, password: &str) -> WebClient<'a> {
    let mut web = WebClient::new(app);
    let r = web.login(email, password).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{email}: {}", r.body);
    web
}

fn role_of(members: &Value, user: &str) -> String {
    let m = members["members"].as_array().unwrap().iter().find(|m| m["userId"] == user).unwrap();
    m["role"].as_str().unwrap().to_string()
}

engine_tests! {
    /// A member is offered none of the administration (no Provisions, Credits, Audit log or
    /// Webhooks in the sidebar, no controls on the team); an admin acts on members only, never
    /// offered "owner" nor provisioner access nor anything on another admin or an owner; an owner
    /// is offered all of it. What shows is what the API's rule allows: a post of what is hidden
    /// is refused.
    #[tokio::test]
    async fn each_role_is_offered_what_the_authority_rule_allows() {
        let app = spawn().await;
        let acme = app.org_with_password("Acme", "owner@acme.com", "owner password");
        let admin = app.add_member(&acme, "admin@acme.com", Role::Admin);
        app.set_password("admin@acme.com", "admin password");
        let other_admin = app.add_member(&acme, "admin2@acme.com", Role::Admin);
        let member = app.add_member(&acme, "m@acme.com", Role::Member);
        app.set_password("m@acme.com", "member password");

        let mut m = signed_in(&app, "m@acme.com", "member password").await;
        let page = m.get("/team").await.body;
        assert!(page.contains(">Team<") && page.contains(">API keys<"), "{page}");
        for hidden in [">Provisions<", ">Credits<", ">Audit log<", ">Webhooks<", "Provision new user", "data-action="] {
            assert!(!page.contains(hidden), "a member is not offered {hidden}");
        }

        let mut a = signed_in(&app, "admin@acme.com", "admin password").await;
        let page = a.get("/team").await.body;
        for shown in [">Provisions<", ">Credits<", ">Audit log<", ">Webhooks<", "Provision new user"] {
            assert!(page.contains(shown), "an admin is offered {shown}");
        }
        let r = row(&page, "data-user", member.user_id.as_str());
        assert!(r.contains("value=\"admin\"") && !r.contains("value=\"owner\""), "no owner in an admin's list: {r}");
        assert!(r.contains("data-action=\"remove\"") && !r.contains("data-action=\"provisioner\""), "{r}");
        for stronger in [other_admin.user_id.as_str(), acme.owner.user_id.as_str()] {
            let r = row(&page, "data-user", stronger);
            for action in ["role", "provisioner", "remove"] {
                assert!(!r.contains(&format!("data-action=\"{action}\"")), "no {action} on an admin or owner: {r}");
            }
        }
        // What is not offered is refused when posted anyway.
        let csrf = a.csrf("/team").await;
        let r = a.post(&format!("/team/members/{}/role", other_admin.user_id), &[("role", "member"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = a.post(&format!("/team/members/{}/provisioner", member.user_id), &[("on", "true"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // An admin grants no credits: the form is not there.
        assert!(!a.get("/team/credits").await.body.contains("grant-amount"));

        let mut o = signed_in(&app, "owner@acme.com", "owner password").await;
        let page = o.get("/team").await.body;
        let r = row(&page, "data-user", admin.user_id.as_str());
        assert!(r.contains("value=\"owner\"") && r.contains("data-action=\"provisioner\"") && r.contains("data-action=\"remove\""), "{r}");
        assert!(o.get("/team/credits").await.body.contains("grant-amount"));
    }
}

engine_tests! {
    /// A form the service refuses comes back in place: the page with its sidebar, what was typed,
    /// and the error beside its field (tied to it by aria-describedby), not an error page.
    #[tokio::test]
    async fn a_refused_form_keeps_its_input_and_says_why_at_its_field() {
        let app = spawn_with(|s| s.webhook_allow_private = true).await;
        let acme = app.org_with_password("Acme", "owner@acme.com", "owner password");
        let member = app.add_member(&acme, "m@acme.com", Role::Member);
        let mut o = signed_in(&app, "owner@acme.com", "owner password").await;
        let csrf = o.csrf("/team/credits").await;

        let r = o.post("/team/credits/grant", &[("amount", "12,5x"), ("reason", "pilot"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("aria-label=\"Sections\""), "the page, with its sidebar");
        assert!(r.body.contains("value=\"12,5x\"") && r.body.contains("value=\"pilot\""), "the input kept");
        assert!(r.body.contains("id=\"grant-amount-error\"") && r.body.contains("aria-describedby=\"grant-amount-error\""));
        assert!(!r.body.contains("Something is not right"));

        let r = o.post(&format!("/team/credits/limits/{}", member.user_id), &[("amount", "lots"), ("period", "day"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let limit_row = row(&r.body, "data-user", member.user_id.as_str());
        assert!(limit_row.contains("value=\"lots\"") && limit_row.contains("field-error"), "{limit_row}");

        let r = o.post("/team/webhooks", &[("url", "ftp://hooks.example.com/x"), ("event", "credits.low"), ("description", "billing"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("value=\"ftp://hooks.example.com/x\"") && r.body.contains("value=\"billing\""));
        assert!(r.body.contains("id=\"hook-url-error\""));
        assert!(r.body.contains("value=\"credits.low\" checked"), "the event chosen stays chosen");
        let (_, hooks) = app.get("/v1/webhooks", &acme.owner.api_key).await;
        assert_eq!(hooks["webhooks"].as_array().unwrap().len(), 0, "nothing made");

        let r = o.post("/team/provision", &[("email", "not an address"), ("name", "Nora"), ("role", "member"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("value=\"not an address\"") && r.body.contains("value=\"Nora\""));
        assert!(r.body.contains("id=\"provision-email-error\""), "{}", r.body);
    }
}

engine_tests! {
    /// Making someone an owner asks first; the change then names whose role it was and keeps the
    /// list as it was (tab and search). Confirmations name their object, and so do results. A
    /// `done` link alone puts no name on the page (the sentence rides on a cookie of ours).
    #[tokio::test]
    async fn owner_promotion_is_confirmed_and_every_message_names_its_object() {
        let app = spawn().await;
        let acme = app.org_with_password("Acme", "owner@acme.com", "owner password");
        let member = app.add_member(&acme, "m@acme.com", Role::Member);
        let mut o = signed_in(&app, "owner@acme.com", "owner password").await;
        let csrf = o.csrf("/team").await;
        let back = "/team?tab=active&q=m%40acme.com";
        let path = format!("/team/members/{}/role", member.user_id);
        let r = o.post(&path, &[("role", "owner"), ("back", back), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("Make m@acme.com an owner?") && r.body.contains("name=\"confirmed\" value=\"yes\""), "{}", r.body);
        let (_, members) = app.get("/v1/members", &acme.owner.api_key).await;
        assert_eq!(role_of(&members, member.user_id.as_str()), "member", "nothing changed before confirming");

        let r = o.post(&path, &[("role", "owner"), ("back", back), ("confirmed", "yes"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location.as_deref(), Some("/team?tab=active&q=m%40acme.com&done=role_changed"), "the search kept");
        let (_, members) = app.get("/v1/members", &acme.owner.api_key).await;
        assert_eq!(role_of(&members, member.user_id.as_str()), "owner");
        let flash = r.set_cookie.iter().find(|c| c.starts_with("provisiond_flash=")).expect("the message's cookie");
        let pair = flash.split(';').next().unwrap();
        let session = o.cookie.clone().unwrap();
        let page = app
            .client
            .get(format!("{}{}", app.base, r.location.as_deref().unwrap()))
            .header("cookie", format!("{session}; {pair}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("m@acme.com is now an owner"), "the message names whose role");
        assert!(page.contains("value=\"m@acme.com\""), "the search box still holds the search");
        let plain = o.get("/team?done=role_changed").await.body;
        assert!(plain.contains("The role is changed") && !plain.contains("is now an owner"), "a link alone names nobody");

        // Named confirmations and results.
        let other = app.add_member(&acme, "n@acme.com", Role::Member);
        assert!(o.get(&format!("/team/members/{}/remove", other.user_id)).await.body.contains("Remove n@acme.com?"));
        let (_, p) = app.post("/v1/team/provisions", &acme.owner.api_key, json!({"email": "nora@example.com"})).await;
        let pid = p["id"].as_str().unwrap();
        assert!(o.get(&format!("/team/provisions/{pid}/cancel")).await.body.contains("Cancel the provision for nora@example.com?"));
        let renew = o.get(&format!("/team/provisions/{pid}/renew")).await.body;
        assert!(renew.contains("A new claim link for nora@example.com?"), "a new link is confirmed first");
        let (_, key) = app.post("/v1/keys", &acme.owner.api_key, json!({"name": "laptop"})).await;
        let revoke = o.get(&format!("/team/keys/{}/revoke", key["id"].as_str().unwrap())).await.body;
        assert!(revoke.contains("Revoke the key laptop (oc_"), "{revoke}");
        let r = o.post("/team/provision", &[("email", "dana@example.com"), ("role", "member"), ("csrf", &csrf)]).await;
        let shown = o.get(r.location.as_deref().unwrap()).await.body;
        assert!(shown.contains("User provisioned: dana@example.com"));
    }
}

engine_tests! {
    /// Verifications are counted per key and UTC day, valid and refused, in memory and added to
    /// the table in bulk: exact once flushed, on two replicas too (PostgreSQL). The key's page
    /// draws one bar per day with verifications.
    #[tokio::test]
    async fn verifications_are_counted_per_key_and_day_exact_across_replicas() {
        let (a, b) = match engine() {
            Engine::Postgres => {
                let (a, b) = spawn_replicas(|_| {}).await;
                (a, Some(b))
            }
            Engine::Sqlite => (spawn().await, None),
        };
        let acme = a.org_with_password("Acme", "owner@acme.com", "owner password");
        let member = a.add_member(&acme, "m@acme.com", Role::Member);
        let (_, gone) = a.post("/v1/keys", &member.api_key, json!({"name": "old"})).await;
        let gone_key = gone["apiKey"].as_str().unwrap().to_string();
        async fn verify(app: &TestApp, verifier: &str, key: String) -> Value {
            let (s, v) = app.post("/v1/keys/verify", verifier, json!({"key": key})).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v
        }
        let vk = acme.owner.api_key.clone();
        for _ in 0..3 {
            assert_eq!(verify(&a, &vk, member.api_key.clone()).await["code"], "valid");
        }
        a.delete(&format!("/v1/keys/{}", gone["id"].as_str().unwrap()), &member.api_key).await;
        assert_eq!(verify(&a, &vk, gone_key.clone()).await["code"], "revoked");
        if let Some(b) = &b {
            assert_eq!(verify(b, &vk, member.api_key.clone()).await["code"], "valid");
            assert_eq!(verify(b, &vk, gone_key.clone()).await["code"], "revoked");
        }
        // Nothing in the table before a flush; the counts of every server after theirs.
        let table = || a.count("SELECT CAST(COALESCE(SUM(valid) * 1000 + SUM(refused), 0) AS BIGINT) FROM key_verifications WHERE CAST(?1 AS TEXT) = ''", "");
        assert_eq!(table(), 0, "counted in memory first");
        provisiond::service::auth::flush_key_usage(&a.ctx).unwrap();
        if let Some(b) = &b {
            provisiond::service::auth::flush_key_usage(&b.ctx).unwrap();
        }
        let (valid, refused) = if b.is_some() { (4, 2) } else { (3, 1) };
        assert_eq!(table(), valid * 1000 + refused, "exact across servers once flushed");
        assert_eq!(a.count("SELECT COUNT(*) FROM key_verifications WHERE CAST(?1 AS TEXT) = ''", ""), 2, "one row per key and day");

        // Tomorrow, once more: two days with verifications, two bars.
        a.clock.advance(Duration::from_secs(86_400));
        verify(&a, &vk, member.api_key.clone()).await;
        provisiond::service::auth::flush_key_usage(&a.ctx).unwrap();
        let mut o = signed_in(&a, "owner@acme.com", "owner password").await;
        let (_, keys) = a.get(&format!("/v1/keys?userId={}", member.user_id), &acme.owner.api_key).await;
        let kid = keys["keys"].as_array().unwrap().iter().find(|k| k["name"].is_null()).unwrap()["id"].as_str().unwrap().to_string();
        let page = o.get(&format!("/team/keys/{kid}")).await.body;
        let chart = &page[page.find("id=\"verifications-chart\"").expect("the chart")..];
        let chart = &chart[..chart.find("</figure>").unwrap()];
        assert_eq!(chart.matches("data-day=").count(), 2, "one bar per day: {chart}");
        assert!(chart.contains(&format!("{} valid", valid + 1)), "{chart}");
    }
}

/// Waits (with a deadline) until the delivery of `event` to endpoint `id` has `n` attempts.
async fn attempts(app: &TestApp, key: &str, id: &str, n: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, log) = app.get(&format!("/v1/webhooks/{id}/deliveries"), key).await;
        let d = log["deliveries"][0].clone();
        if d["attempts"].as_i64().unwrap_or(0) >= n {
            return d;
        }
        assert!(Instant::now() < deadline, "attempt {n} never recorded: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

engine_tests! {
    /// A failing delivery's page shows each attempt (time, status, the answer's first bytes), the
    /// next attempt and the payload; Resend (the API's and the page's) makes a new attempt of
    /// the same event, with the same webhook-id, at once.
    #[tokio::test]
    async fn delivery_detail_and_resend() {
        let app = spawn_with(|s| s.webhook_allow_private = true).await;
        let rx = receiver::Receiver::start();
        let acme = app.org_with_password("Acme", "owner@acme.com", "owner password");
        let k = acme.owner.api_key.clone();
        let (s, hook) = app.post("/v1/webhooks", &k, json!({"url": rx.url("flaky"), "events": ["credits.granted"]})).await;
        assert_eq!(s, StatusCode::CREATED, "{hook}");
        let id = hook["id"].as_str().unwrap().to_string();
        rx.expect("flaky", hook["secret"].as_str().unwrap(), &[500, 200, 200]).await;
        app.post("/api/v1/admin/credits", &k, json!({"amount": 5})).await;
        rx.wait_for("flaky", 1).await;
        let d = attempts(&app, &k, &id, 1).await;
        assert_eq!((d["status"].as_str(), d["lastStatus"].as_i64()), (Some("pending"), Some(500)), "{d}");
        let event = d["id"].as_str().unwrap().to_string();
        assert_eq!(d["id"], d["eventId"]);

        let mut o = signed_in(&app, "owner@acme.com", "owner password").await;
        let list = o.get("/team/webhooks").await.body;
        assert!(list.contains("failing") && list.contains("the receiver answered 500"), "the endpoint says it fails");
        let page = o.get(&format!("/team/webhooks/{id}/deliveries/{event}")).await.body;
        let attempts_table = &page[page.find("id=\"attempts\"").unwrap()..];
        assert_eq!(attempts_table.matches("data-label=\"#\"").count(), 1);
        assert!(attempts_table.contains(">500<") && attempts_table.contains("the receiver answered 500"), "{attempts_table}");
        assert!(page.contains("next attempt"), "when it is tried again");
        assert!(page.contains("&quot;type&quot;: &quot;credits.granted&quot;") || page.contains("\"type\": \"credits.granted\""), "the payload");

        // Resend through the API: at once, not in 5 seconds.
        let (s, resent) = app.post(&format!("/v1/webhooks/{id}/deliveries/{event}/resend"), &k, json!({})).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{resent}");
        let got = rx.wait_for("flaky", 2).await;
        assert_eq!(got[1]["id"], got[0]["id"], "the same webhook-id");
        let d = attempts(&app, &k, &id, 2).await;
        assert_eq!(d["status"], "delivered", "{d}");
        // And from the page (a delivered one again).
        let csrf = o.csrf(&format!("/team/webhooks/{id}/deliveries/{event}")).await;
        let r = o.post(&format!("/team/webhooks/{id}/deliveries/{event}/resend"), &[("csrf", &csrf)]).await;
        assert_eq!(r.location.as_deref(), Some(format!("/team/webhooks/{id}/deliveries/{event}?done=resent").as_str()));
        let got = rx.wait_for("flaky", 3).await;
        assert_eq!(got[2]["id"], got[0]["id"]);
        attempts(&app, &k, &id, 3).await;
        let page = o.get(&format!("/team/webhooks/{id}/deliveries/{event}")).await.body;
        assert_eq!(page.matches("data-label=\"#\"").count(), 3, "every attempt listed");
        let (_, audit) = app.get("/v1/audit-logs?action=webhook.delivery_resent", &k).await;
        assert_eq!(audit["auditLogs"].as_array().unwrap().len(), 2);
        // Another organization's delivery is not there to resend.
        let other = app.create_org("Other", None, "o@other.com");
        let (s, _) = app.post(&format!("/v1/webhooks/{id}/deliveries/{event}/resend"), &other.owner.api_key, json!({})).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
}

engine_tests! {
    /// The audit log filters by a family of actions, by actor and target given as addresses and
    /// by dates; targets show by name; the export (API and page) holds what the filters select,
    /// as NDJSON or CSV.
    #[tokio::test]
    async fn audit_filters_names_and_export() {
        let app = spawn().await;
        let acme = app.org_with_password("Acme", "owner@acme.com", "owner password");
        let k = acme.owner.api_key.clone();
        let member = app.add_member(&acme, "m@acme.com", Role::Member);
        app.call(reqwest::Method::PATCH, &format!("/v1/members/{}", member.user_id), Some(&k), Some(json!({"role": "admin"}))).await;
        // A User-Agent a spreadsheet would run as a formula, recorded as sent.
        let res = app
            .client
            .post(format!("{}/api/v1/admin/credits", app.base))
            .bearer_auth(&k)
            .header("user-agent", "=HYPERLINK(\"http://evil.example\")")
            .json(&json!({"amount": 5}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let plain = app.add_member(&acme, "plain@acme.com", Role::Member);
        let mut o = signed_in(&app, "owner@acme.com", "owner password").await;

        let page = o.get("/team/audit?action=member.*").await.body;
        assert!(page.contains("<code>member.updated</code>") && !page.contains("<code>credits.granted</code>"), "a family of actions");
        assert!(page.contains("<option value=\"member.updated\""), "actions offered from a list");
        let page = o.get("/team/audit?target=m%40acme.com").await.body;
        assert!(page.contains("<code>member.updated</code>") && page.contains(">m@acme.com<"), "a target by address, shown by name: {page}");
        let page = o.get("/team/audit?actor=owner%40acme.com&action=credits.granted").await.body;
        assert!(page.contains("<code>credits.granted</code>"), "an actor by address (a key's holder)");
        let page = o.get("/team/audit?actor=nobody%40acme.com").await.body;
        assert!(page.contains("Nothing matches these filters."));
        let page = o.get("/team/audit?from=2000-01-01&until=2000-01-02").await.body;
        assert!(page.contains("Nothing matches these filters."), "a date range");

        // The API's export: the same filters, NDJSON and CSV.
        let res = app.client.get(format!("{}/v1/audit-logs/export?format=ndjson&action=member.*", app.base)).bearer_auth(&k).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/x-ndjson"));
        let text = res.text().await.unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(!lines.is_empty() && lines.iter().all(|l| l["action"].as_str().unwrap().starts_with("member.")), "{text}");
        let res = app.client.get(format!("{}/v1/audit-logs/export?format=csv", app.base)).bearer_auth(&k).send().await.unwrap();
        let csv = res.text().await.unwrap();
        assert!(csv.starts_with("id,createdAt,action,"), "{csv}");
        assert!(csv.contains("credits.granted") && csv.contains("member.updated"));
        assert!(csv.contains("\"'=HYPERLINK(") && !csv.contains(",=HYPERLINK") && !csv.contains(",\"=HYPERLINK"), "no cell a spreadsheet would run: {csv}");
        let (s, _) = app.get("/v1/audit-logs/export?format=xml", &k).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_error(app.get("/v1/audit-logs/export", &plain.api_key).await, 403, "insufficient_role");

        // The page's export link: the filters carried.
        let page = o.get("/team/audit?action=member.*").await.body;
        assert!(page.contains("/team/audit/export?format=csv&amp;action=member.*"), "{page}");
        let r = o.get("/team/audit/export?format=ndjson&action=member.*").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.lines().count() >= 1 && r.body.lines().all(|l| l.contains("\"action\":\"member.")));
    }
}

engine_tests! {
    /// The team list finds a provision by the start of any word of its address, label or external
    /// id, and pages through a tab by keyset, still numbering the rows ("Showing 101–200 of 252").
    #[tokio::test]
    async fn team_search_by_words_and_keyset_pages() {
        let app = spawn().await;
        let acme = app.org_with_password("Acme", "owner@acme.com", "owner password");
        for i in 0..252 {
            let (s, b) = app
                .post("/v1/team/provisions", &acme.owner.api_key, json!({"email": format!("p{i}@acme.test"), "externalId": format!("crm-{i:04}"), "name": if i == 7 { "Nora Example" } else { "x" }}))
                .await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
        }
        let mut o = signed_in(&app, "owner@acme.com", "owner password").await;
        let page = o.get("/team?tab=pending").await.body;
        assert!(page.contains("Showing 1–100 of 252") && page.contains("(252)"), "counts per tab");
        let next = |body: &str| {
            let at = body.find("id=\"page-next\" href=\"").unwrap() + 21;
            body[at..at + body[at..].find('"').unwrap()].replace("&amp;", "&")
        };
        let second = next(&page);
        assert!(second.contains("page=2&after="), "{second}");
        let page2 = o.get(&second).await.body;
        assert!(page2.contains("Showing 101–200 of 252"));
        let page3 = o.get(&next(&page2)).await.body;
        assert!(page3.contains("Showing 201–252 of 252") && !page3.contains("page-next"));
        let ids = |body: &str| body.matches("data-provision=").count();
        assert_eq!((ids(&page), ids(&page2), ids(&page3)), (100, 100, 52));
        // Back a page, by keyset the other way: the same rows as before.
        let at = page3.find("id=\"page-prev\" href=\"").unwrap() + 21;
        let prev = page3[at..at + page3[at..].find('"').unwrap()].replace("&amp;", "&");
        let back = o.get(&prev).await.body;
        assert!(back.contains("Showing 101–200 of 252"), "{prev}");
        let first_row = |body: &str| {
            let at = body.find("data-provision=\"").unwrap() + 16;
            body[at..at + 36].to_string()
        };
        assert_eq!(first_row(&back), first_row(&page2));

        for (q, n) in [("crm-0042", 1), ("p7", 11), ("nora", 1), ("EXAMPLE", 1), ("acme.test", 252), ("cme", 0), ("@", 0)] {
            let body = o.get(&format!("/team?tab=pending&q={}", urlencode(q))).await.body;
            let label = format!("id=\"tab-pending\">Pending <span class=\"count\">({n})</span>");
            assert!(body.contains(&label), "{q}: {n} found");
        }
        // Claimed rows say who claimed; cancelled ones are not said to expire.
        let (_, list) = app.get("/v1/team/provisions?externalId=crm-0001", &acme.owner.api_key).await;
        let pid = list["provisions"][0]["id"].as_str().unwrap().to_string();
        app.delete(&format!("/v1/team/provisions/{pid}"), &acme.owner.api_key).await;
        let body = o.get("/team?tab=cancelled").await.body;
        let r = row(&body, "data-provision", &pid);
        assert!(r.contains("cancelled") && !r.contains(">in 7 days<") && r.contains("by owner@acme.com"), "{r}");
        assert!(!r.contains("Provision again") || r.contains("/team/provision?role=member"));
    }
}

engine_tests! {
    /// A search whose longest word is in more rows than `store::terms::LEAD` (2,000) reads the
    /// list in its own order and checks each row (the other branch of the query): the same
    /// counts, pages and order as a search through the index would give.
    #[tokio::test]
    async fn a_search_on_a_word_in_most_rows_reads_the_list_in_order() {
        let app = spawn_with(|s| s.provision_rate_limit = 0).await;
        let acme = app.org_with_password("Acme", "owner@acme.com", "owner password");
        const N: usize = 2_050;
        let all: Vec<usize> = (0..N).collect();
        for chunk in all.chunks(50) {
            let made = futures::future::join_all(chunk.iter().map(|i| {
                app.post("/v1/team/provisions", &acme.owner.api_key, json!({"email": format!("p{i}@acme.test")}))
            }))
            .await;
            for (s, b) in made {
                assert_eq!(s, StatusCode::CREATED, "{b}");
            }
        }
        let mut o = signed_in(&app, "owner@acme.com", "owner password").await;
        let count = |body: &str| {
            let label = "id=\"tab-pending\">Pending <span class=\"count\">(";
            let at = body.find(label).unwrap() + label.len();
            body[at..at + body[at..].find(')').unwrap()].replace(',', "")
        };
        // "acme" is in every row; "p7" (the other word) narrows it to p7, p70–p79, p700–p799.
        for (q, n) in [("acme", N), ("acme.test", N), ("p7 acme", 111), ("ACME p7", 111)] {
            let body = o.get(&format!("/team?tab=pending&q={}", urlencode(q))).await.body;
            assert_eq!(count(&body), n.to_string(), "{q}");
        }
        // Pages of a search through every row: newest first, each row once, all of them.
        let mut seen = std::collections::HashSet::new();
        let mut url = "/team?tab=pending&q=acme".to_string();
        for page in 1..=21 {
            let body = o.get(&url).await.body;
            let rows: Vec<&str> = body.split("data-provision=\"").skip(1).map(|r| &r[..36]).collect();
            assert_eq!(rows.len(), if page < 21 { 100 } else { 50 }, "page {page}");
            assert!(rows.iter().all(|r| seen.insert(r.to_string())), "page {page} repeats no row");
            if page == 1 {
                // The last fifty made (the newest) come first.
                assert!((N - 50..N).all(|i| body.contains(&format!(">p{i}@acme.test<"))), "newest first");
            }
            match body.find("id=\"page-next\" href=\"") {
                Some(at) => {
                    let at = at + 21;
                    url = body[at..at + body[at..].find('"').unwrap()].replace("&amp;", "&");
                }
                None => assert_eq!(page, 21, "a next page until the last"),
            }
        }
        assert_eq!(seen.len(), N);
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

engine_tests! {
    /// Pages (and their stylesheet) are sent gzip-compressed to browsers that ask; the API's
    /// answers are not touched. The claim page names who invited whom to which role, with no
    /// machine time in its text; under SIGNUP=claim the log-in page offers no "Sign up".
    #[tokio::test]
    async fn compressed_pages_the_claim_page_names_the_inviter_and_no_dead_sign_up() {
        let app = spawn().await;
        let acme = app.org_with_password("Acme Robotics", "owner@acme.com", "owner password");
        let raw = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        for path in ["/login", "/static/style.css"] {
            let res = raw.get(format!("{}{path}", app.base)).header("accept-encoding", "gzip").send().await.unwrap();
            assert_eq!(res.headers().get("content-encoding").map(|v| v.to_str().unwrap()), Some("gzip"), "{path}");
        }
        let res = raw.get(format!("{}/v1/user", app.base)).bearer_auth(&acme.owner.api_key).header("accept-encoding", "gzip").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get("content-encoding").is_none(), "the API is not compressed");

        let login = WebClient::new(&app).get("/login").await.body;
        assert!(!login.contains("href=\"/signup") && login.contains("id=\"no-signup\""), "no Sign up that leads nowhere");
        let (_, p) = app.post("/v1/team/provisions", &acme.owner.api_key, json!({"role": "admin"})).await;
        let claim = format!("/claim?token={}", claim_token(&p));
        let page = WebClient::new(&app).get(&claim).await.body;
        assert!(page.contains("<strong id=\"claim-inviter\">owner@acme.com</strong> invited you to <strong id=\"claim-org\">Acme Robotics</strong> as <strong id=\"claim-role\">an admin</strong>"), "{page}");
        assert!(page.contains("href=\"/signup?next=") || page.contains("action=\"/signup\""), "sign-up is offered on the claim path");
        let visible: String = {
            let mut out = String::new();
            let mut in_tag = false;
            for c in page.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => out.push(c),
                    _ => {}
                }
            }
            out
        };
        let chars: Vec<char> = visible.chars().collect();
        let iso = chars.windows(11).any(|w| {
            w[..4].iter().all(char::is_ascii_digit) && w[4] == '-' && w[7] == '-' && w[10] == 'T'
        });
        assert!(!iso, "no ISO time in the text: {visible}");
        assert!(visible.contains("expires in 7 days"), "{visible}");
    }
}

engine_tests! {
    /// Credits: limits for anyone in the organization (prefilled where set), a warning when one
    /// is exceeded, the ledger with its member column and pages that say how many, numbers
    /// grouped for the browser's language and a picture with a bar per day of use.
    #[tokio::test]
    async fn credits_page_limits_ledger_and_picture() {
        let app = spawn().await;
        let acme = app.org_with_password("Acme", "owner@acme.com", "owner password");
        let spender = app.add_member(&acme, "spender@acme.com", Role::Member);
        let saver = app.add_member(&acme, "saver@acme.com", Role::Member);
        let k = acme.owner.api_key.clone();
        app.post("/api/v1/admin/credits", &k, json!({"amount": 1_007_600.5})).await;
        for _ in 0..60 {
            let (s, b) = app.post("/api/v1/credits/consume", &spender.api_key, json!({"amount": 1.25})).await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
        app.clock.advance(Duration::from_secs(86_400));
        app.post("/api/v1/credits/consume", &spender.api_key, json!({"amount": 2})).await;
        // A limit below what was used today: exceeded.
        app.call(reqwest::Method::PUT, &format!("/api/v1/admin/credit-limits/{}", spender.user_id), Some(&k), Some(json!({"amount": 1, "period": "day"}))).await;
        let mut o = signed_in(&app, "owner@acme.com", "owner password").await;
        let page = o.get("/team/credits").await.body;
        assert!(row(&page, "data-user", saver.user_id.as_str()).contains("id=\"limit-"), "a limit for someone who never spent");
        let spent = row(&page, "data-user", spender.user_id.as_str());
        assert!(spent.contains("value=\"1\"") && spent.contains("value=\"day\" selected"), "the current limit prefilled: {spent}");
        assert!(page.contains("id=\"over-limit\"") && spent.contains("over the limit"), "an exceeded limit warns");
        assert!(page.contains("1,007,523.5"), "grouped: {}", &page[page.find("credits-balance").unwrap()..][..200]);
        assert!(page.contains("Showing 1–50 of 62") && page.contains("id=\"ledger-next\""), "the ledger's count and pager");
        let ledger = &page[page.find("id=\"ledger\"").unwrap()..];
        assert!(ledger.contains("spender@acme.com"), "the member column");
        assert!(ledger.contains("class=\"num\""), "amounts right-aligned");
        let marker = "id=\"ledger-next\" href=\"";
        let at = page.find(marker).unwrap() + marker.len();
        let older = page[at..at + page[at..].find('"').unwrap()].replace("&amp;", "&");
        let page2 = o.get(&older).await.body;
        assert!(page2.contains("Showing 51–62 of 62"), "{older}");
        let chart = &page[page.find("id=\"credits-chart\"").unwrap()..];
        assert_eq!(chart[..chart.find("</figure>").unwrap()].matches("data-day=").count(), 2, "two days of use");
        // German numbers for a German browser.
        let session = o.cookie.clone().unwrap();
        let de = app.client.get(format!("{}/team/credits", app.base)).header("cookie", session).header("accept-language", "de-DE,de;q=0.9").send().await.unwrap().text().await.unwrap();
        assert!(de.contains("1.007.523,5"), "grouped as German does");
    }
}
