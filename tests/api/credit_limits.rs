//! Part two, Credit limits per user: a cap per UTC day, month or in total on what one member may
//! consume from the shared pool; usage with each user's limit; the ledger, a page at a time.

use crate::helpers::*;
use chrono::{Datelike, TimeZone, Timelike, Utc};
use provisiond::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

/// Moves the server's clock forward to `target` (ms since the epoch).
fn advance_to(app: &TestApp, target: i64) {
    let now = app.clock.now();
    assert!(target > now, "the clock only goes forward");
    app.clock.advance(Duration::from_millis((target - now) as u64));
}

/// 01:00 UTC on the day after the server's today: far from any midnight, so the steps of a test
/// never straddle one by accident.
fn next_day_1am(app: &TestApp) -> i64 {
    let today = chrono::DateTime::from_timestamp_millis(app.clock.now()).unwrap().date_naive();
    let next = today.succ_opt().unwrap().and_hms_opt(1, 0, 0).unwrap();
    Utc.from_utc_datetime(&next).timestamp_millis()
}

/// 01:00 UTC on day `day` of the month after the server's current one.
fn next_month(app: &TestApp, day: u32) -> i64 {
    let now = chrono::DateTime::from_timestamp_millis(app.clock.now()).unwrap();
    let (y, m) = if now.month() == 12 { (now.year() + 1, 1) } else { (now.year(), now.month() + 1) };
    Utc.with_ymd_and_hms(y, m, day, 1, 0, 0).unwrap().timestamp_millis()
}

/// A member's key and user id.
struct Who {
    api_key: String,
    user_id: String,
}

struct Setup {
    org: Org,
    member: provisiond::service::organizations::Access,
}

/// An organization with a pool of `pool` credits and one member.
async fn setup(app: &TestApp, pool: f64) -> Setup {
    let org = app.create_org("Acme", None, "owner@acme.com");
    let (s, b) = app.post("/api/v1/admin/credits", &org.owner.api_key, json!({"amount": pool})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let member = app.add_member(&org, "member@acme.com", Role::Member);
    Setup { org, member }
}

async fn set_limit(app: &TestApp, key: &str, user: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, &format!("/api/v1/admin/credit-limits/{user}"), Some(key), Some(body)).await
}

async fn consume(app: &TestApp, key: &str, amount: f64) -> (StatusCode, Value) {
    app.post("/api/v1/credits/consume", key, json!({ "amount": amount })).await
}

/// Consumes and asserts it went through.
async fn spend(app: &TestApp, key: &str, amount: f64) {
    let (s, b) = consume(app, key, amount).await;
    assert_eq!(s, StatusCode::OK, "{amount}: {b}");
}

/// Asserts a consume is refused by the user's limit and debits nothing: the pool's balance and
/// the ledger are as they were.
async fn refused_by_limit(app: &TestApp, s: &Setup, amount: f64) {
    let owner = &s.org.owner.api_key;
    let (_, before) = app.get("/api/v1/credits/balance", owner).await;
    let entries = app.count("SELECT COUNT(*) FROM credit_ledger WHERE org_id = ?1", &s.org.id);
    let got = consume(app, &s.member.api_key, amount).await;
    assert!(got.1["error"]["message"].as_str().unwrap().contains("limit"), "{}", got.1);
    assert_error(got, 402, "user_limit_exceeded");
    let (_, after) = app.get("/api/v1/credits/balance", owner).await;
    assert_eq!(after, before, "nothing debited");
    assert_eq!(app.count("SELECT COUNT(*) FROM credit_ledger WHERE org_id = ?1", &s.org.id), entries);
}

/// The usage row of `user`.
async fn usage_of(app: &TestApp, key: &str, user: &str) -> Value {
    let (s, u) = app.get("/api/v1/credits/usage?limit=1000", key).await;
    assert_eq!(s, StatusCode::OK, "{u}");
    u["users"].as_array().unwrap().iter().find(|r| r["user_id"] == user).cloned().unwrap_or(Value::Null)
}

engine_tests! {
    #[tokio::test]
    async fn a_daily_limit_refuses_beyond_it_and_opens_again_the_next_day() {
        let app = spawn().await;
        let s = setup(&app, 1000.0).await;
        let (owner, uid) = (&s.org.owner.api_key, s.member.user_id.as_str());
        advance_to(&app, next_day_1am(&app));
        let (st, limit) = set_limit(&app, owner, uid, json!({"amount": 10, "period": "day"})).await;
        assert_eq!(st, StatusCode::OK, "{limit}");
        let midnight = next_day_1am(&app) - 25 * 3_600_000;
        assert_eq!(
            limit,
            json!({"userId": uid, "amount": 10, "period": "day", "used": 0,
                   "windowStart": provisiond::clock::format(midnight)})
        );

        spend(&app, &s.member.api_key, 6.5).await;
        spend(&app, &s.member.api_key, 3.5).await;
        refused_by_limit(&app, &s, 0.001).await;
        let row = usage_of(&app, owner, uid).await;
        assert_eq!(row["limit"], json!({"amount": 10, "period": "day", "used": 10}));
        // Later the same day: still refused. The owner, without a limit, is not affected.
        app.clock.advance(Duration::from_secs(20 * 3600));
        refused_by_limit(&app, &s, 1.0).await;
        spend(&app, owner, 50.0).await;

        // The next UTC day it opens again, for the limit's amount.
        advance_to(&app, next_day_1am(&app));
        assert_eq!(usage_of(&app, owner, uid).await["limit"]["used"], json!(0), "a new window");
        spend(&app, &s.member.api_key, 10.0).await;
        refused_by_limit(&app, &s, 0.5).await;
        assert_eq!(usage_of(&app, owner, uid).await["credits_used"], json!(20), "usage counts all time");
    }

    #[tokio::test]
    async fn a_monthly_limit_lasts_the_calendar_month() {
        let app = spawn().await;
        let s = setup(&app, 1000.0).await;
        let (owner, uid) = (&s.org.owner.api_key, s.member.user_id.as_str());
        advance_to(&app, next_month(&app, 2));
        let (st, limit) = set_limit(&app, owner, uid, json!({"amount": 5.25, "period": "month"})).await;
        assert_eq!(st, StatusCode::OK, "{limit}");
        let ws = assert_timestamp(&limit["windowStart"]);
        let start = chrono::DateTime::from_timestamp_millis(ws).unwrap();
        assert_eq!((start.day(), start.hour(), start.minute(), start.second()), (1, 0, 0, 0), "the 1st, 00:00 UTC");
        assert!(app.clock.now() - ws < 2 * 86_400_000, "this month's 1st");

        spend(&app, &s.member.api_key, 5.0).await;
        spend(&app, &s.member.api_key, 0.25).await;
        refused_by_limit(&app, &s, 0.001).await;
        // Days later in the same month: still refused.
        app.clock.advance(DAY * 20);
        refused_by_limit(&app, &s, 1.0).await;
        // The next month it opens again.
        advance_to(&app, next_month(&app, 1));
        spend(&app, &s.member.api_key, 5.25).await;
        refused_by_limit(&app, &s, 0.001).await;
    }

    #[tokio::test]
    async fn a_total_limit_never_resets_and_null_removes_it() {
        let app = spawn().await;
        let s = setup(&app, 1000.0).await;
        let (owner, uid) = (&s.org.owner.api_key, s.member.user_id.as_str());
        let (st, limit) = set_limit(&app, owner, uid, json!({"amount": 3, "period": "total"})).await;
        assert_eq!(st, StatusCode::OK, "{limit}");
        assert_eq!(limit, json!({"userId": uid, "amount": 3, "period": "total", "used": 0, "windowStart": null}));
        spend(&app, &s.member.api_key, 3.0).await;
        refused_by_limit(&app, &s, 0.001).await;
        app.clock.advance(DAY * 40);
        refused_by_limit(&app, &s, 0.001).await;
        app.clock.advance(DAY * 400);
        refused_by_limit(&app, &s, 1.0).await;

        let (st, removed) = set_limit(&app, owner, uid, json!({"amount": null})).await;
        assert_eq!(st, StatusCode::OK, "{removed}");
        assert_eq!(removed, json!({"userId": uid, "amount": null, "period": null, "used": null, "windowStart": null}));
        spend(&app, &s.member.api_key, 100.0).await;
        assert_eq!(usage_of(&app, owner, uid).await["limit"], Value::Null);
        // Removing what is not there is fine too.
        assert_eq!(set_limit(&app, owner, uid, json!({"amount": null, "period": "day"})).await.0, StatusCode::OK);

        // Zero: nothing at all.
        set_limit(&app, owner, uid, json!({"amount": 0, "period": "total"})).await;
        refused_by_limit(&app, &s, 0.001).await;
    }

    #[tokio::test]
    async fn a_new_limit_counts_what_was_consumed_in_its_window_already() {
        let app = spawn().await;
        let s = setup(&app, 1000.0).await;
        let (owner, uid) = (&s.org.owner.api_key, s.member.user_id.as_str());
        advance_to(&app, next_day_1am(&app));
        spend(&app, &s.member.api_key, 4.0).await;
        advance_to(&app, next_day_1am(&app));
        spend(&app, &s.member.api_key, 1.5).await;

        // Yesterday's 4 are not today's.
        let (_, day) = set_limit(&app, owner, uid, json!({"amount": 5, "period": "day"})).await;
        assert_eq!(day["used"], json!(1.5), "{day}");
        refused_by_limit(&app, &s, 4.0).await;
        spend(&app, &s.member.api_key, 3.5).await;
        refused_by_limit(&app, &s, 0.001).await;

        // All time: 9 already, over a new cap of 8.
        let (_, total) = set_limit(&app, owner, uid, json!({"amount": 8, "period": "total"})).await;
        assert_eq!(total["used"], json!(9), "{total}");
        refused_by_limit(&app, &s, 0.001).await;
        assert_eq!(usage_of(&app, owner, uid).await["limit"], json!({"amount": 8, "period": "total", "used": 9}));
    }

    #[tokio::test]
    async fn a_refusal_by_the_pool_leaves_the_limit_untouched() {
        let app = spawn().await;
        let s = setup(&app, 5.0).await;
        let (owner, uid) = (&s.org.owner.api_key, s.member.user_id.as_str());
        set_limit(&app, owner, uid, json!({"amount": 100, "period": "day"})).await;
        assert_error(consume(&app, &s.member.api_key, 10.0).await, 402, "credits_exceeded");
        assert_eq!(usage_of(&app, owner, uid).await["limit"]["used"], json!(0), "given back");
        spend(&app, &s.member.api_key, 5.0).await;
        assert_eq!(usage_of(&app, owner, uid).await["limit"]["used"], json!(5));
    }

    #[tokio::test]
    async fn concurrent_consumers_never_pass_the_limit_together() {
        let app = spawn().await;
        let s = setup(&app, 1000.0).await;
        let (owner, uid) = (&s.org.owner.api_key, s.member.user_id.as_str());
        advance_to(&app, next_day_1am(&app));
        set_limit(&app, owner, uid, json!({"amount": 10, "period": "day"})).await;
        let results =
            futures::future::join_all((0..25).map(|_| consume(&app, &s.member.api_key, 1.0))).await;
        let ok = results.iter().filter(|(st, _)| *st == StatusCode::OK).count();
        assert_eq!(ok, 10);
        assert!(results.iter().all(|(st, b)| *st == StatusCode::OK || b["error"]["code"] == "user_limit_exceeded"));
        let (_, b) = app.get("/api/v1/credits/balance", owner).await;
        assert_eq!(b["credits_used"], json!(10));
    }

    #[tokio::test]
    async fn who_may_set_limits_and_what_they_may_be() {
        let app = spawn().await;
        let s = setup(&app, 10.0).await;
        let (owner, uid) = (&s.org.owner.api_key, s.member.user_id.as_str());
        let ok = json!({"amount": 5, "period": "day"});
        assert_error(set_limit(&app, &s.member.api_key, uid, ok.clone()).await, 403, "insufficient_role");
        let admin = app.add_member(&s.org, "admin@acme.com", Role::Admin);
        assert_eq!(set_limit(&app, &admin.api_key, uid, ok.clone()).await.0, StatusCode::OK);
        // Not a member of this organization: not found, whoever it is.
        let other = app.create_org("Other", None, "o@other.com");
        assert_error(set_limit(&app, owner, other.owner.user_id.as_str(), ok.clone()).await, 404, "not_found");
        assert_error(set_limit(&app, &other.owner.api_key, uid, ok.clone()).await, 404, "not_found");
        assert_error(set_limit(&app, owner, &uuid::Uuid::new_v4().to_string(), ok.clone()).await, 404, "not_found");
        assert_error(set_limit(&app, owner, "not-a-user", ok.clone()).await, 404, "not_found");
        // A provisioned (placeholder) member can be capped too.
        let p = app.provision(owner).await;
        assert_eq!(set_limit(&app, owner, p["userId"].as_str().unwrap(), ok.clone()).await.0, StatusCode::OK);

        for (body, field) in [
            (json!({}), "amount"),
            (json!({"period": "day"}), "amount"),
            (json!({"amount": 5}), "period"),
            (json!({"amount": 5, "period": "week"}), "period"),
            (json!({"amount": 5, "period": "Day"}), "period"),
            (json!({"amount": 5, "period": 1}), "period"),
            (json!({"amount": -1, "period": "day"}), "amount"),
            (json!({"amount": 1.0001, "period": "day"}), "amount"),
            (json!({"amount": "5", "period": "day"}), "amount"),
            (json!({"amount": 1e13, "period": "day"}), "amount"),
        ] {
            let got = set_limit(&app, owner, uid, body.clone()).await;
            let message = got.1["error"]["message"].as_str().unwrap_or("").to_string();
            assert_error(got, 400, "invalid_field");
            assert!(message.contains(&format!("'{field}'")), "{body} → {message}");
        }
        assert_eq!(usage_of(&app, owner, uid).await["limit"], json!({"amount": 5, "period": "day", "used": 0}));
        let (st, _) = app.call(Method::GET, &format!("/api/v1/admin/credit-limits/{uid}"), Some(owner), None).await;
        assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
        assert_error(app.call(Method::PUT, &format!("/api/v1/admin/credit-limits/{uid}"), None, Some(ok)).await, 401, "missing_credentials");
    }

    #[tokio::test]
    async fn usage_shows_each_users_limit_a_page_at_a_time() {
        let app = spawn().await;
        let s = setup(&app, 1000.0).await;
        let owner = &s.org.owner.api_key;
        let mut members = vec![Who { api_key: s.member.api_key.clone(), user_id: s.member.user_id.to_string() }];
        for i in 0..6 {
            let a = app.add_member(&s.org, &format!("m{i}@acme.com"), Role::Member);
            members.push(Who { api_key: a.api_key, user_id: a.user_id.to_string() });
        }
        for (i, m) in members.iter().enumerate().take(5) {
            spend(&app, &m.api_key, (i + 1) as f64).await;
        }
        // A limit on someone who never consumed lists them too (with 0 used).
        let idle = members[6].user_id.to_string();
        set_limit(&app, owner, &idle, json!({"amount": 2, "period": "month"})).await;
        set_limit(&app, owner, members[0].user_id.as_str(), json!({"amount": 50, "period": "total"})).await;

        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                None => "/api/v1/credits/usage?limit=2".to_string(),
                Some(c) => format!("/api/v1/credits/usage?limit=2&cursor={c}"),
            };
            let (st, page) = app.get(&url, owner).await;
            assert_eq!(st, StatusCode::OK, "{page}");
            let total = 15.0 + 0.5 * (rows.len() / 2) as f64;
            assert_eq!(page["credits_used"].as_f64(), Some(total), "the pool's total, as of each page");
            let users = page["users"].as_array().unwrap();
            assert!(users.len() <= 2);
            rows.extend(users.iter().cloned());
            assert!(rows.len() < 100, "the usage list ends (a cursor that never runs out would loop)");
            // A consumption between pages changes no position.
            spend(&app, &members[1].api_key, 0.5).await;
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let ids: Vec<String> = rows.iter().map(|r| r["user_id"].as_str().unwrap().to_string()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "by user id");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 6, "each once: five consumers and the idle one");
        let row = |u: &str| rows.iter().find(|r| r["user_id"] == u).unwrap().clone();
        assert_eq!(row(&idle)["credits_used"], json!(0));
        assert_eq!(row(&idle)["limit"], json!({"amount": 2, "period": "month", "used": 0}));
        assert_eq!(row(&idle)["email"], "m5@acme.com");
        assert_eq!(row(members[0].user_id.as_str())["limit"], json!({"amount": 50, "period": "total", "used": 1}));
        assert_eq!(row(members[2].user_id.as_str())["limit"], Value::Null);
        assert_eq!(row(members[2].user_id.as_str())["credits_used"], json!(3));

        assert_error(app.get("/api/v1/credits/usage?cursor=nope", owner).await, 400, "invalid_cursor");
        assert_error(app.get("/api/v1/credits/usage?cursor=c1.31", owner).await, 400, "invalid_cursor");
        assert_error(app.get("/api/v1/credits/usage?limit=0", owner).await, 400, "invalid_field");
        assert_error(app.get("/api/v1/credits/usage", &s.member.api_key).await, 403, "insufficient_role");
    }

    #[tokio::test]
    async fn the_ledger_pages_newest_first() {
        let app = spawn().await;
        let s = setup(&app, 1000.0).await;
        let owner = &s.org.owner.api_key;
        for i in 0..25 {
            let (st, _) = app
                .post("/api/v1/credits/consume", &s.member.api_key, json!({"amount": 1.5, "reason": format!("job {i}")}))
                .await;
            assert_eq!(st, StatusCode::OK);
        }
        spend(&app, owner, 2.0).await;

        let mut entries = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let url = match &cursor {
                None => "/api/v1/credits/ledger?limit=10".to_string(),
                Some(c) => format!("/api/v1/credits/ledger?limit=10&cursor={c}"),
            };
            let (st, page) = app.get(&url, owner).await;
            assert_eq!(st, StatusCode::OK, "{page}");
            pages += 1;
            assert!(pages <= 10, "the ledger ends (a cursor that never runs out would loop)");
            entries.extend(page["entries"].as_array().unwrap().iter().cloned());
            // New entries go to the top: they never show up on later pages.
            spend(&app, owner, 0.001).await;
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(entries.len(), 27, "the grant, 25 of the member's and 1 of the owner's");
        let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_str().unwrap().parse().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first, each once: {ids:?}");
        assert_eq!(entries[0]["userId"], s.org.owner.user_id.as_str());
        assert_eq!(entries[0]["amount"], json!(2));
        assert_eq!(entries[1], json!({"id": entries[1]["id"], "kind": "consume", "amount": 1.5,
            "userId": s.member.user_id.as_str(), "reason": "job 24", "createdAt": entries[1]["createdAt"]}));
        assert_timestamp(&entries[1]["createdAt"]);
        let last = entries.last().unwrap();
        assert_eq!((last["kind"].as_str(), last["amount"].as_i64()), (Some("grant"), Some(1000)));

        let (_, mine) = app.get(&format!("/api/v1/credits/ledger?userId={}&limit=1000", s.member.user_id), owner).await;
        let mine = mine["entries"].as_array().unwrap();
        assert_eq!(mine.len(), 25);
        assert!(mine.iter().all(|e| e["userId"] == s.member.user_id.as_str()));
        let (_, nobody) = app.get(&format!("/api/v1/credits/ledger?userId={}", uuid::Uuid::new_v4()), owner).await;
        assert_eq!(nobody, json!({"entries": [], "nextCursor": null}));

        assert_error(app.get("/api/v1/credits/ledger?userId=bob", owner).await, 400, "invalid_field");
        assert_error(app.get("/api/v1/credits/ledger?cursor=c1.6162", owner).await, 400, "invalid_cursor");
        assert_error(app.get("/api/v1/credits/ledger?limit=1001", owner).await, 400, "invalid_field");
        assert_error(app.get("/api/v1/credits/ledger", &s.member.api_key).await, 403, "insufficient_role");
        // Another organization sees only its own.
        let other = app.create_org("Other", None, "o@other.com");
        let (_, theirs) = app.get("/api/v1/credits/ledger", &other.owner.api_key).await;
        assert_eq!(theirs, json!({"entries": [], "nextCursor": null}));
    }
}
