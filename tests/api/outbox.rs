//! The webhooks' outbox costs nothing where nobody listens (issue 22): a change in an
//! organization without an endpoint that wants its event type writes no delivery row, and one
//! with such an endpoint still gets exactly one per endpoint — through every way an endpoint
//! starts or stops wanting a type (created, its events changed, disabled and enabled, turned off
//! by a 410, deleted), for single changes and for the sweep's set-wise ones, on both engines and
//! across two replicas. The events themselves are recorded either way, whole.

use crate::helpers::*;
use provisiond::domain::{ProvisionRole, WebhookId};
use provisiond::service::maintenance;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// Delivery rows queued for events of type `kind`.
fn deliveries(app: &TestApp, kind: &str) -> i64 {
    let kind = kind.to_string();
    app.db
        .read_blocking(move |c| {
            c.value::<i64>(
                "SELECT COUNT(*) FROM webhook_deliveries d JOIN events e ON e.n = d.event_n WHERE e.type = ?1",
                &[&kind],
            )
        })
        .unwrap()
}

/// Delivery rows queued for the event that names provision `id`.
fn deliveries_for(app: &TestApp, kind: &str, id: &str) -> i64 {
    let (kind, id) = (kind.to_string(), id.to_string());
    app.db
        .read_blocking(move |c| {
            c.value::<i64>(
                "SELECT COUNT(*) FROM webhook_deliveries d JOIN events e ON e.n = d.event_n
                   LEFT JOIN audit_log a ON a.n = e.audit_n
                  WHERE e.type = ?1 AND (a.target_id = ?2 OR e.data LIKE '%' || ?2 || '%')",
                &[&kind, &id],
            )
        })
        .unwrap()
}

/// An endpoint for `events`, at an address nothing answers (the rows are what is looked at).
async fn endpoint(app: &TestApp, key: &str, events: Value) -> String {
    let (s, b) =
        app.post("/v1/webhooks", key, json!({"url": "http://127.0.0.1:9/hook", "events": events})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["id"].as_str().unwrap().to_string()
}

async fn patch(app: &TestApp, key: &str, id: &str, body: Value) {
    let (s, b) = app.call(Method::PATCH, &format!("/v1/webhooks/{id}"), Some(key), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// Provisions once; returns the provision's id.
async fn provision(app: &TestApp, key: &str) -> String {
    app.provision(key).await["id"].as_str().unwrap().to_string()
}

/// The organization's events of `kind`, from the feed, waited for (PostgreSQL's feed holds an
/// event back until every older transaction in the cluster has ended).
async fn feed_of(app: &TestApp, key: &str, kind: &str, n: usize) -> Vec<Value> {
    for _ in 0..500 {
        let (s, b) = app.get(&format!("/v1/events?type={kind}&limit=1000"), key).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let events = b["events"].as_array().unwrap().clone();
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the feed never showed {n} {kind} events");
}

engine_tests! {
    #[tokio::test]
    async fn a_change_makes_delivery_rows_only_for_endpoints_that_want_it() {
        let app = spawn_with(|s| s.webhook_allow_private = true).await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;

        // Nobody listens: the event is recorded, no delivery row.
        let first = provision(&app, k).await;
        assert_eq!(deliveries(&app, "provision.created"), 0);
        // An endpoint for other types only: still none.
        let low = endpoint(&app, k, json!(["credits.low"])).await;
        provision(&app, k).await;
        assert_eq!(deliveries(&app, "provision.created"), 0);
        // One that wants it: one row for the next provision, for that provision.
        let wants = endpoint(&app, k, json!(["provision.created", "provision.expired"])).await;
        let p = provision(&app, k).await;
        assert_eq!(deliveries(&app, "provision.created"), 1);
        assert_eq!(deliveries_for(&app, "provision.created", &p), 1);
        // Another that wants everything: two rows per provision.
        let all = endpoint(&app, k, json!(["*"])).await;
        let p = provision(&app, k).await;
        assert_eq!(deliveries_for(&app, "provision.created", &p), 2);
        // The first one's events changed to other types: only the catch-all's row.
        patch(&app, k, &wants, json!({"events": ["credits.low"]})).await;
        let p = provision(&app, k).await;
        assert_eq!(deliveries_for(&app, "provision.created", &p), 1);
        // Disabled: none; enabled again: one.
        patch(&app, k, &all, json!({"enabled": false})).await;
        let p = provision(&app, k).await;
        assert_eq!(deliveries_for(&app, "provision.created", &p), 0);
        patch(&app, k, &all, json!({"enabled": true})).await;
        let p = provision(&app, k).await;
        assert_eq!(deliveries_for(&app, "provision.created", &p), 1);
        // Turned off by its receiver (410): none.
        let all_n = endpoint_row(&app, &all);
        app.db
            .write_blocking(move |tx| provisiond::store::webhooks::disable(tx, all_n, "the receiver answered 410 Gone", 0))
            .unwrap();
        let p = provision(&app, k).await;
        assert_eq!(deliveries_for(&app, "provision.created", &p), 0);
        // Wanting it again, then deleted: none.
        patch(&app, k, &wants, json!({"events": ["provision.created"]})).await;
        let p = provision(&app, k).await;
        assert_eq!(deliveries_for(&app, "provision.created", &p), 1);
        let (s, _) = app.delete(&format!("/v1/webhooks/{wants}"), k).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = app.delete(&format!("/v1/webhooks/{low}"), k).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        // (A deleted endpoint's rows go with it; the disabled one's stay.)
        let before = deliveries(&app, "provision.created");
        let p = provision(&app, k).await;
        assert_eq!(deliveries_for(&app, "provision.created", &p), 0);
        assert_eq!(deliveries(&app, "provision.created"), before, "no row since");

        // Every provision's event was recorded whole, listened to or not.
        let events = feed_of(&app, k, "provision.created", 10).await;
        assert_eq!(events.len(), 10);
        let e = events.iter().find(|e| e["data"]["provisionId"] == first.as_str()).expect("the first one's event");
        for field in ["userId", "projectId", "apiKeyId", "expiresAt"] {
            assert!(e["data"][field].is_string(), "{field}: {e}");
        }
        assert_eq!(e["data"]["role"], "member", "{e}");
    }

    #[tokio::test]
    async fn the_sweep_queues_deliveries_only_where_an_endpoint_wants_them() {
        let app = spawn_with(|s| s.webhook_allow_private = true).await;
        let listening = app.create_org("Acme", None, "owner@acme.com");
        let quiet = app.create_org("Quiet", None, "owner@quiet.com");
        endpoint(&app, &listening.owner.api_key, json!(["provision.expired"])).await;
        endpoint(&app, &quiet.owner.api_key, json!(["provision.created"])).await;
        let week = Duration::from_secs(8 * 86_400);
        let mut expired = Vec::new();
        for _ in 0..3 {
            expired.push(app.provision_made_ago(&listening, week, ProvisionRole::Member).row.id.to_string());
            app.provision_made_ago(&quiet, week, ProvisionRole::Member);
        }
        assert_eq!(maintenance::sweep(&app.ctx, app.clock.now()).unwrap(), 6);
        assert_eq!(deliveries(&app, "provision.expired"), 3, "the listening organization's three only");
        for id in &expired {
            assert_eq!(deliveries_for(&app, "provision.expired", id), 1, "{id}");
        }
        // Both organizations' ends are recorded, with what an expiry says.
        for org in [&listening, &quiet] {
            let events = feed_of(&app, &org.owner.api_key, "provision.expired", 3).await;
            assert_eq!(events.len(), 3);
            for e in &events {
                assert!(e["data"]["provisionId"].is_string() && e["data"]["userId"].is_string(), "{e}");
                assert!(e["data"]["expiresAt"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
            }
        }
        let (s, b) = app.get("/v1/audit-logs?action=provision.expired", &quiet.owner.api_key).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["auditLogs"].as_array().map(Vec::len), Some(3), "{b}");
    }
}

/// An endpoint's row number, by its public id.
fn endpoint_row(app: &TestApp, id: &str) -> i64 {
    let id = WebhookId::parse(id).unwrap();
    app.db.read_blocking(move |c| c.value::<i64>("SELECT n FROM webhooks WHERE id = ?1", &[&id])).unwrap()
}

/// A subscription made through one replica is honoured by a change made through the other at
/// once, and so is its removal: each replica learns it from the database with the write, not
/// from anything it keeps.
#[tokio::test]
async fn a_subscription_made_on_one_replica_is_honoured_by_a_write_on_the_other_at_once() {
    let (a, b) = spawn_replicas(|s| s.webhook_allow_private = true).await;
    let org = a.create_org("Acme", None, "owner@acme.com");
    let k = &org.owner.api_key;
    // Both replicas write for the organization first (nobody listening), so neither starts cold.
    provision(&a, k).await;
    provision(&b, k).await;
    assert_eq!(deliveries(&a, "provision.created"), 0);

    let id = endpoint(&a, k, json!(["credits.low"])).await;
    let p = provision(&b, k).await;
    assert_eq!(deliveries_for(&b, "provision.created", &p), 0, "another type only");
    patch(&a, k, &id, json!({"events": ["provision.created"]})).await;
    let p = provision(&b, k).await;
    assert_eq!(deliveries_for(&b, "provision.created", &p), 1, "changed on A, honoured on B");
    patch(&b, k, &id, json!({"events": ["credits.low"]})).await;
    let p = provision(&a, k).await;
    assert_eq!(deliveries_for(&a, "provision.created", &p), 0, "changed on B, honoured on A");
    patch(&a, k, &id, json!({"events": ["provision.created"]})).await;
    let p = provision(&b, k).await;
    assert_eq!(deliveries_for(&b, "provision.created", &p), 1, "changed back on A, honoured on B");
    patch(&b, k, &id, json!({"enabled": false})).await;
    let p = provision(&a, k).await;
    assert_eq!(deliveries_for(&a, "provision.created", &p), 0, "disabled on B, honoured on A");
    patch(&a, k, &id, json!({"enabled": true})).await;
    let p = provision(&b, k).await;
    assert_eq!(deliveries_for(&b, "provision.created", &p), 1, "enabled on A, honoured on B");
    let (s, _) = b.delete(&format!("/v1/webhooks/{id}"), k).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let p = provision(&a, k).await;
    assert_eq!(deliveries_for(&a, "provision.created", &p), 0, "deleted on B, honoured on A");
}
