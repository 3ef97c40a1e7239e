//! Deprovisioning is exact across replicas (issue 24): a member's key and signed-in session work
//! through replica B; the identity provider deactivates them through replica A; the very next
//! request with that key, and with that session, through B is refused. Reactivation restores the
//! membership (and the session's organization), never the key. Removal through A likewise.

use crate::helpers::*;
use crate::scim::{ok, scim_token, PATCH_OP};
use provisiond::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Two GETs of /v1/user, so the key sits in that replica's cache.
async fn warm(app: &TestApp, key: &str) {
    for _ in 0..2 {
        assert_eq!(app.get("/v1/user", key).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_deactivation_through_one_replica_refuses_the_key_and_the_session_on_the_other_at_once() {
    let (a, b) = spawn_replicas(|_| {}).await;
    let org = a.create_org("Acme", Some("acme.com"), "owner@acme.com");
    let t = scim_token(&a, &org).await;
    let m = a.add_member(&org, "mallory@acme.com", Role::Member);
    a.set_password("mallory@acme.com", "mallory password");
    let id = m.user_id.to_string();

    // Her key, cached by B; her session, signed in through B.
    warm(&b, &m.api_key).await;
    let mut session = WebClient::new(&b);
    assert_eq!(session.login("mallory@acme.com", "mallory password").await.status, StatusCode::SEE_OTHER);
    let keys_page = session.get("/team/keys").await;
    assert_eq!(keys_page.status, StatusCode::OK, "{}", keys_page.body);
    assert!(session.get("/team").await.body.contains("Acme"), "her dashboard shows the organization");

    // Deactivated through A (Okta's PATCH)...
    let off = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": false}}]});
    assert_eq!(ok(&a, Method::PATCH, &format!("/Users/{id}"), &t, Some(off), 200).await["active"], false);
    // ...and the very next request through B is refused: the key...
    assert_error(b.get("/v1/user", &m.api_key).await, 401, "invalid_api_key");
    // ...and the session: the organization's pages are no longer hers.
    let keys_page = session.get("/team/keys").await;
    assert_eq!(keys_page.status, StatusCode::SEE_OTHER, "{}", keys_page.body);
    let team = session.get("/team").await;
    assert!(team.status == StatusCode::OK && !team.body.contains("Acme"), "{}", team.body);
    let csrf = session.csrf("/team").await;
    session.post("/team/keys", &[("csrf", &csrf), ("name", "sneaky")]).await;
    assert_eq!(a.count("SELECT COUNT(*) FROM api_keys WHERE name = ?1", "sneaky"), 0, "no key made there");

    // Reactivated through A: the session has its organization again through B; the key does not.
    let on =
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "True"}]});
    ok(&a, Method::PATCH, &format!("/Users/{id}"), &t, Some(on), 200).await;
    assert_eq!(session.get("/team/keys").await.status, StatusCode::OK);
    assert_error(b.get("/v1/user", &m.api_key).await, 401, "invalid_api_key");

    // Removed through A: a fresh key of hers, cached by B, is refused by B at once.
    let fresh = crate::scim::key_of(&a, &org, &id).await;
    warm(&b, &fresh).await;
    ok(&a, Method::DELETE, &format!("/Users/{id}"), &t, None, 204).await;
    assert_error(b.get("/v1/user", &fresh).await, 401, "invalid_api_key");
    assert_eq!(session.get("/team/keys").await.status, StatusCode::SEE_OTHER);
    // The owner's key and the token were never disturbed.
    assert_eq!(b.get("/v1/user", &org.owner.api_key).await.0, StatusCode::OK);
    ok(&b, Method::GET, "/Users", &t, None, 200).await;
}
