//! The audit log (contract, Audit log): a row for every action, with actor, target, client
//! address and user agent, never a secret; filters and cursors; `provisiond audit export`;
//! AUDIT_RETENTION.

use crate::helpers::*;
use provisiond::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

fn s_of(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}")).to_string()
}

async fn audit(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let (s, b) = app.get(&format!("/v1/audit-logs{query}"), key).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["auditLogs"].as_array().unwrap().clone()
}

/// Every row of the audit log, as text, straight from the database.
fn every_row(app: &TestApp) -> String {
    app.db
        .read_blocking(|c| {
            c.query_all(
                "SELECT action || '|' || actor_type || '|' || COALESCE(actor_id, '') || '|' || COALESCE(actor_email, '')
                        || '|' || target_type || '|' || target_id || '|' || COALESCE(ip, '') || '|'
                        || COALESCE(user_agent, '') || '|' || COALESCE(details, '')
                   FROM audit_log",
                &[],
                |r| r.get::<String>(0),
            )
        })
        .unwrap()
        .join("\n")
}

engine_tests! {
    #[tokio::test]
    async fn every_action_has_a_row_with_actor_and_target_and_none_holds_a_secret() {
        let app = spawn_with(|s| s.webhook_allow_private = true).await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = org.owner.api_key.clone();
        let member = app.add_member(&org, "m@acme.com", Role::Member);

        // Through the API, with a user agent of its own.
        let res = app
            .client
            .post(format!("{}/v1/team/provisions", app.base))
            .bearer_auth(&k)
            .header("User-Agent", "audit-test/1.0")
            .json(&json!({"email": "new@acme.com", "name": "New Person"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let provision: Value = res.json().await.unwrap();
        let (s, b) = app.claim_with_key(&member.api_key, &claim_token(&app.provision(&k).await)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, _) = app.delete(&format!("/v1/team/provisions/{}", s_of(&provision["id"])), &k).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, made) = app.post("/v1/keys", &k, json!({"name": "ci"})).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, rotated) = app.post(&format!("/v1/keys/{}/rotate", s_of(&made["id"])), &k, json!({})).await;
        assert_eq!(s, StatusCode::CREATED);
        app.delete(&format!("/v1/keys/{}", s_of(&rotated["id"])), &k).await;
        let (s, _) = app.call(Method::PATCH, &format!("/v1/members/{}", member.user_id), Some(&k), Some(json!({"role": "admin"}))).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.post("/api/v1/admin/credits", &k, json!({"amount": 10, "reason": "pilot"})).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.call(Method::PUT, &format!("/api/v1/admin/credit-limits/{}", member.user_id), Some(&k), Some(json!({"amount": 5, "period": "day"}))).await;
        assert_eq!(s, StatusCode::OK);
        let (s, hook) = app.post("/v1/webhooks", &k, json!({"url": "http://127.0.0.1:9/h", "events": ["*"]})).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, _) = app.post("/v1/agents", &k, json!({"name": "Bot", "identifier": "bot"})).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, _) = app.delete(&format!("/v1/members/{}", member.user_id), &k).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        // On the command line, and by the sweep.
        let out = app.cli(&["credits", "grant", "--org", &org.id, "--amount", "3"], None);
        assert!(out.ok, "{}", out.stderr);
        let expiring = app.provision(&k).await;
        app.clock.advance(Duration::from_secs(8 * 86_400));
        assert_eq!(app.sweep(), 1);

        let rows = audit(&app, &k, "?limit=1000").await;
        let find = |action: &str| -> Vec<Value> { rows.iter().filter(|r| r["action"] == action).cloned().collect() };
        for action in [
            "organization.created", "user.created", "provision.created", "provision.claimed", "provision.cancelled",
            "provision.expired", "api_key.created", "api_key.rotated", "api_key.revoked", "member.updated",
            "member.removed", "credits.granted", "credits.limit_set", "webhook.created", "agent.created",
        ] {
            let found = find(action);
            assert!(!found.is_empty(), "{action} recorded: {rows:#?}");
            for r in &found {
                assert!(r["target"]["type"].is_string() && r["target"]["id"].is_string(), "{r}");
                assert!(r["actor"]["type"].is_string(), "{r}");
                assert_timestamp(&r["createdAt"]);
            }
        }
        // Who: the key (with its holder's address) and the client it came from.
        let created = find("provision.created").into_iter().find(|r| r["target"]["id"] == provision["id"]).unwrap();
        assert_eq!(created["actor"]["type"], "api_key");
        assert_uuid(&created["actor"]["id"]);
        assert_eq!(created["actor"]["email"], "owner@acme.com");
        assert_eq!(created["ip"], "127.0.0.1");
        assert_eq!(created["userAgent"], "audit-test/1.0");
        assert_eq!(created["target"]["type"], "provision");
        assert_eq!(created["details"]["email"], "new@acme.com");
        let claimed = &find("provision.claimed")[0];
        assert_eq!(claimed["actor"]["type"], "user");
        assert_eq!(claimed["actor"]["id"], member.user_id.as_str());
        assert_eq!(claimed["actor"]["email"], "m@acme.com");
        let by_operator = find("credits.granted").into_iter().find(|r| r["actor"]["type"] == "operator");
        assert!(by_operator.is_some_and(|r| r["ip"].is_null()), "the command line's grant, with no address");
        let expired = &find("provision.expired")[0];
        assert_eq!(expired["actor"]["type"], "system");
        assert_eq!(expired["target"]["id"], expiring["id"]);
        let removed = &find("member.removed")[0];
        assert_eq!(removed["target"]["id"], member.user_id.as_str());
        assert_eq!(find("webhook.created")[0]["target"]["id"], hook["id"]);

        // No row holds a key, claim token or webhook secret.
        let text = every_row(&app);
        for secret in [
            k.clone(), member.api_key.clone(), s_of(&provision["apiKey"]), claim_token(&provision),
            s_of(&made["apiKey"]), s_of(&rotated["apiKey"]), s_of(&hook["secret"]),
        ] {
            assert!(!text.contains(&secret), "a secret in the audit log");
        }
        assert!(!text.contains("oc_") || !text.contains(&k[..20]), "no key material");
    }

    #[tokio::test]
    async fn the_log_filters_pages_and_is_for_admins() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = org.owner.api_key.clone();
        let member = app.add_member(&org, "m@acme.com", Role::Member);
        let mut ids = Vec::new();
        for _ in 0..7 {
            ids.push(s_of(&app.provision(&k).await["id"]));
            app.clock.advance(Duration::from_secs(60));
        }
        let all = audit(&app, &k, "?action=provision.created").await;
        assert_eq!(all.len(), 7);
        // Newest first.
        assert_eq!(all.iter().map(|r| s_of(&r["target"]["id"])).collect::<Vec<_>>(), ids.iter().rev().cloned().collect::<Vec<_>>());
        let pages = app.pages("/v1/audit-logs?action=provision.created&limit=3", &k, "auditLogs").await;
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
        let seen: HashSet<String> = pages.into_iter().flatten().map(|r| s_of(&r["id"])).collect();
        assert_eq!(seen.len(), 7);
        let one = audit(&app, &k, &format!("?targetId={}", ids[2])).await;
        assert_eq!(one.len(), 1);
        let by_key = audit(&app, &k, &format!("?actorId={}", s_of(&all[0]["actor"]["id"]))).await;
        assert_eq!(by_key.len(), 7);
        let since = s_of(&all[2]["createdAt"]);
        let until = s_of(&all[0]["createdAt"]);
        let window = audit(&app, &k, &format!("?action=provision.created&since={since}&until={until}")).await;
        assert_eq!(window.len(), 2, "since is inclusive, until exclusive");
        assert_error(app.get("/v1/audit-logs?since=yesterday", &k).await, 400, "invalid_field");
        assert_error(app.get("/v1/audit-logs?cursor=nope", &k).await, 400, "invalid_cursor");
        assert_error(app.get("/v1/audit-logs?limit=0", &k).await, 400, "invalid_field");
        assert_error(app.get("/v1/audit-logs", &member.api_key).await, 403, "insufficient_role");
        let (s, scoped) = app.post("/v1/keys", &k, json!({"scopes": ["provisions"]})).await;
        assert_eq!(s, StatusCode::CREATED);
        assert_error(app.get("/v1/audit-logs", &s_of(&scoped["apiKey"])).await, 403, "missing_scope");
        // Another organization's log is its own.
        let other = app.create_org("Other", None, "owner@other.com");
        assert!(audit(&app, &other.owner.api_key, "?action=provision.created").await.is_empty());
    }

    #[tokio::test]
    async fn the_command_line_exports_ndjson_and_the_sweep_forgets_rows_past_retention() {
        let app = spawn_with(|s| s.audit_retention = Duration::from_secs(30 * 86_400)).await;
        let org = app.create_org("Acme", Some("acme.com"), "owner@acme.com");
        let k = org.owner.api_key.clone();
        app.provision(&k).await;
        app.clock.advance(Duration::from_secs(20 * 86_400));
        let recent = app.provision(&k).await;

        let out = app.cli(&["audit", "export", "--org", "acme.com"], None);
        assert!(out.ok, "{}", out.stderr);
        let lines: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
        assert!(lines.len() >= 4, "{}", out.stdout);
        assert_eq!(lines[0]["action"], "organization.created", "oldest first");
        assert!(lines.iter().all(|l| l["organizationId"] == org.id.as_str()));
        let since = chrono::DateTime::from_timestamp_millis(app.clock.now() - 60_000).unwrap().to_rfc3339();
        let out = app.cli(&["audit", "export", "--org", &org.id, "--since", &since], None);
        assert!(out.ok, "{}", out.stderr);
        let lines: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 1, "{}", out.stdout);
        assert_eq!(lines[0]["target"]["id"], recent["id"]);
        let bad = app.cli(&["audit", "export", "--org", &org.id, "--since", "last tuesday"], None);
        assert!(!bad.ok && bad.stderr.contains("--since"), "{}", bad.stderr);
        let missing = app.cli(&["audit", "export", "--org", "nobody.example"], None);
        assert!(!missing.ok && missing.stderr.contains("nobody.example"), "{}", missing.stderr);

        // 15 days on, the rows from 35 days ago are past the 30-day retention; the recent stay.
        app.clock.advance(Duration::from_secs(15 * 86_400));
        app.sweep();
        let left = audit(&app, &k, "?action=provision.created").await;
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0]["target"]["id"], recent["id"]);
    }

    #[tokio::test]
    async fn webhook_urls_are_recorded_without_their_query_fragment_or_credentials() {
        // Issue 20, finding 9: a receiver's token in its URL was kept in webhook.created and
        // webhook.updated, readable with the `audit` scope long after the endpoint was gone.
        let app = spawn_with(|s| s.webhook_allow_private = true).await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = org.owner.api_key.clone();
        let (s, made) = app
            .post("/v1/webhooks", &k, json!({"url": "http://127.0.0.1:9/hook/a?token=SECRET-1#SECRET-2", "events": ["*"]}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{made}");
        let id = s_of(&made["id"]);
        // The endpoint keeps its whole URL (deliveries carry the token); only the record is cut.
        assert!(s_of(&made["url"]).contains("token=SECRET-1"), "{made}");
        let path = format!("/v1/webhooks/{id}");
        let (s, b) = app
            .call(Method::PATCH, &path, Some(&k), Some(json!({"url": "http://127.0.0.1:9/hook/b?token=SECRET-3&x=1"})))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        // Credentials in a URL are refused, on creation and on change, and recorded nowhere.
        let with_credentials = "http://user:pass@127.0.0.1:9/hook/c?token=SECRET-4";
        assert_error(app.post("/v1/webhooks", &k, json!({"url": with_credentials, "events": ["*"]})).await, 400, "invalid_field");
        assert_error(app.call(Method::PATCH, &path, Some(&k), Some(json!({"url": with_credentials}))).await, 400, "invalid_field");
        let (s, b) = app.post(&format!("{path}/test"), &k, json!({})).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");

        // What the log shows: where, without what rides along.
        let created = audit(&app, &k, "?action=webhook.created").await;
        assert_eq!(created[0]["details"]["url"], "http://127.0.0.1:9/hook/a", "{created:?}");
        let updated = audit(&app, &k, "?action=webhook.updated").await;
        assert_eq!(updated[0]["details"]["url"], "http://127.0.0.1:9/hook/b", "{updated:?}");
        let (s, _) = app.delete(&path, &k).await;
        assert_eq!(s, StatusCode::NO_CONTENT);

        // Nowhere a record is kept: audit rows (database and API), events, the export.
        let events = app
            .db
            .read_blocking(|c| c.query_all("SELECT type || ' ' || data FROM events", &[], |r| r.get::<String>(0)))
            .unwrap()
            .join("\n");
        assert!(events.contains("webhook.test"), "{events}");
        let (_, api) = app.get("/v1/audit-logs?limit=100", &k).await;
        let export = app.cli(&["audit", "export", "--org", &org.id], None);
        assert!(export.ok, "{}", export.stderr);
        assert!(export.stdout.contains("/hook/b"), "{}", export.stdout);
        for (what, text) in [("audit rows", every_row(&app)), ("events", events), ("API", api.to_string()), ("export", export.stdout)] {
            assert!(!text.contains("SECRET") && !text.contains("pass"), "{what}: {text}");
        }
    }

    #[tokio::test]
    async fn the_upgrade_cuts_tokens_out_of_webhook_urls_already_in_the_log() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        // Rows as the releases before issue 20 wrote them.
        let rows = [
            ("webhook.created", r#"{"url":"https://h.example/in?token=SECRET-1&a=b#c","events":["*"]}"#),
            ("webhook.updated", r#"{"url":"http://127.0.0.1:9/in#SECRET-2","enabled":true}"#),
            ("webhook.updated", r#"{"url":"https://h.example/x?SECRET-3","events":["credits.low"]}"#),
            ("webhook.updated", r#"{"enabled":false}"#),
            ("webhook.created", r#"{"url":"https://h.example/plain","events":["*"]}"#),
            ("member.updated", r#"{"note":"kept? as it was#"}"#),
        ];
        for (i, (action, details)) in rows.iter().enumerate() {
            let (id, org_id) = (format!("old-{i}"), org.id.clone());
            app.db
                .write_blocking(move |tx| {
                    tx.execute(
                        "INSERT INTO audit_log (id, org_id, action, actor_type, target_type, target_id, details, created_at)
                         VALUES (?1, ?2, ?3, 'system', 'webhook', 'w', ?4, 0)",
                        &[&id, &org_id, action, details],
                    )
                })
                .unwrap();
        }
        // The upgrade's statements that rewrite the log (the rest of the script made the schema
        // this server already has).
        let script = match engine() {
            Engine::Sqlite => include_str!("../../migrations/8.sql"),
            Engine::Postgres => include_str!("../../migrations/pg/8.sql"),
        };
        let rewrites: Vec<String> = script
            .split(';')
            .map(|s| s.lines().filter(|l| !l.starts_with("--")).collect::<Vec<_>>().join("\n"))
            .filter(|s| s.contains("UPDATE audit_log"))
            .collect();
        assert_eq!(rewrites.len(), 1);
        app.db.write_blocking(|tx| tx.execute_batch(&rewrites[0])).unwrap();

        let details: Vec<Value> = app
            .db
            .read_blocking(|c| {
                c.query_all("SELECT details FROM audit_log WHERE id LIKE 'old-%' ORDER BY id", &[], |r| r.get::<String>(0))
            })
            .unwrap()
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(
            details,
            [
                json!({"url": "https://h.example/in", "events": ["*"]}),
                json!({"url": "http://127.0.0.1:9/in", "enabled": true}),
                json!({"url": "https://h.example/x", "events": ["credits.low"]}),
                json!({"enabled": false}),
                json!({"url": "https://h.example/plain", "events": ["*"]}),
                json!({"note": "kept? as it was#"}),
            ]
        );
        assert!(!every_row(&app).contains("SECRET"));
    }

    #[tokio::test]
    async fn changes_made_on_the_pages_name_the_signed_in_person() {
        let app = spawn().await;
        let org = app.org_with_password("Acme", "owner@acme.com", "owner password");
        let mut web = WebClient::new(&app);
        assert_eq!(web.login("owner@acme.com", "owner password").await.status, StatusCode::SEE_OTHER);
        let csrf = web.csrf("/team").await;
        let host = format!("http://127.0.0.1:{}", app.port);
        let r = web.post_with("/team/provision", &[("role", "member"), ("csrf", &csrf)], &[("origin", &host)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let rows = audit(&app, &org.owner.api_key, "?action=provision.created").await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["actor"]["type"], "user");
        assert_eq!(rows[0]["actor"]["id"], org.owner.user_id.as_str());
        assert_eq!(rows[0]["actor"]["email"], "owner@acme.com");
        assert_eq!(rows[0]["ip"], "127.0.0.1");
    }
}

engine_tests! {
    /// The README's audit actions no other test reaches, each with its row: a domain set by the
    /// operator, a claim link renewed, an agent deleted, a webhook's secret rotated and a test
    /// event sent.
    #[tokio::test]
    async fn a_domain_set_a_link_renewed_an_agent_deleted_and_a_webhook_rotated_and_tested_are_recorded() {
        let app = spawn_with(|s| s.webhook_allow_private = true).await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = org.owner.api_key.clone();
        let out = app.cli(&["org", "set-domain", "--org", &org.id, "--domain", "acme.io"], None);
        assert!(out.ok, "{}", out.stderr);
        let p = app.provision(&k).await;
        let (s, renewed) = app.post(&format!("/v1/team/provisions/{}/claim-link", s_of(&p["id"])), &k, json!({})).await;
        assert_eq!(s, StatusCode::OK, "{renewed}");
        let (s, agent) = app.post("/v1/agents", &k, json!({"name": "Bot", "identifier": "bot"})).await;
        assert_eq!(s, StatusCode::CREATED, "{agent}");
        let (s, _) = app.delete(&format!("/v1/agents/{}", s_of(&agent["id"])), &k).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, hook) = app.post("/v1/webhooks", &k, json!({"url": "http://127.0.0.1:9/h", "events": ["*"]})).await;
        assert_eq!(s, StatusCode::CREATED, "{hook}");
        let hook_id = s_of(&hook["id"]);
        let (s, rotated) = app.post(&format!("/v1/webhooks/{hook_id}/rotate-secret"), &k, json!({})).await;
        assert_eq!(s, StatusCode::OK, "{rotated}");
        let (s, tested) = app.post(&format!("/v1/webhooks/{hook_id}/test"), &k, json!({})).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{tested}");

        let rows = audit(&app, &k, "?limit=1000").await;
        let only = |action: &str| -> Value {
            let found: Vec<&Value> = rows.iter().filter(|r| r["action"] == action).collect();
            assert_eq!(found.len(), 1, "one {action} row: {rows:#?}");
            found[0].clone()
        };
        let domain = only("organization.domain_set");
        assert_eq!((domain["target"]["type"].clone(), domain["target"]["id"].clone()), (json!("organization"), json!(org.id)));
        assert_eq!(domain["actor"]["type"], "operator", "{domain}");
        assert!(domain.to_string().contains("acme.io"), "the domain recorded: {domain}");
        let link = only("provision.link_renewed");
        assert_eq!(link["target"]["id"], p["id"], "{link}");
        assert_eq!(link["actor"]["type"], "api_key", "{link}");
        let deleted = only("agent.deleted");
        assert_eq!(deleted["target"]["id"], agent["id"], "{deleted}");
        for action in ["webhook.secret_rotated", "webhook.tested"] {
            let row = only(action);
            assert_eq!(row["target"]["id"], hook["id"], "{row}");
            assert_eq!(row["actor"]["email"], "owner@acme.com", "{row}");
        }
        // No row holds the secrets or claim tokens these actions made.
        let text = every_row(&app);
        for secret in [s_of(&rotated["secret"]), s_of(&hook["secret"]), claim_token(&renewed), claim_token(&p)] {
            assert!(!text.contains(&secret), "a secret in the audit log");
        }
    }
}
