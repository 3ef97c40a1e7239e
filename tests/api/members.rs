//! `/v1/members` and `provisiond user role|remove`: listing with cursors, who may change or
//! remove whom, keys following the change at their next request, and the last owner kept
//! under concurrency.

use crate::helpers::*;
use provisiond::db::DbError;
use provisiond::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;

async fn patch(app: &TestApp, user: &str, key: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PATCH, &format!("/v1/members/{user}"), Some(key), Some(body)).await
}

async fn remove(app: &TestApp, user: &str, key: &str) -> (StatusCode, Value) {
    app.delete(&format!("/v1/members/{user}"), key).await
}

fn owners(app: &TestApp, org: &Org) -> i64 {
    app.count("SELECT COUNT(*) FROM memberships WHERE org_id = ?1 AND role = 'owner'", &org.id)
}

/// Every page of the members list at `limit`, as (page sizes, items).
async fn all_pages(app: &TestApp, key: &str, limit: u32) -> (Vec<usize>, Vec<Value>) {
    let pages = app.pages(&format!("/v1/members?limit={limit}"), key, "members").await;
    (pages.iter().map(Vec::len).collect(), pages.into_iter().flatten().collect())
}

engine_tests! {
    #[tokio::test]
    async fn list_pages_through_every_member_once() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        for i in 0..5 {
            app.add_member(&org, &format!("m{i}@acme.com"), if i == 0 { Role::Admin } else { Role::Member });
        }
        let placeholder = app.provision(k).await;
        let other = app.create_org("Other", None, "owner@other.com");
        app.add_member(&other, "stranger@other.com", Role::Member);

        let (sizes, items) = all_pages(&app, k, 3).await;
        assert_eq!(sizes, [3, 3, 1]);
        let ids: HashSet<&str> = items.iter().map(|m| m["userId"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 7, "each member exactly once");
        assert!(items.iter().all(|m| m["email"] != "stranger@other.com"));

        let owner = items.iter().find(|m| m["email"] == "owner@acme.com").unwrap();
        assert_uuid(&owner["userId"]);
        assert_eq!(owner["role"], "owner");
        assert_eq!(owner["status"], "active");
        assert_eq!(owner["isProvisioner"], false);
        assert_eq!(owner["apiOnly"], false);
        assert!(owner["name"].is_null());
        assert_timestamp(&owner["joinedAt"]);
        let p = items.iter().find(|m| m["userId"] == placeholder["userId"]).unwrap();
        assert_eq!(p["status"], "placeholder");
        assert!(p["email"].is_null());
        assert_eq!(p["role"], "member");
        let joined: Vec<i64> = items.iter().map(|m| assert_timestamp(&m["joinedAt"])).collect();
        assert!(joined.windows(2).all(|w| w[0] <= w[1]), "in the order they joined");

        // Default limit: everything on one page.
        let (status, page) = app.get("/v1/members", k).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["members"].as_array().unwrap().len(), 7);
        assert!(page["nextCursor"].is_null());

        // An admin may list too.
        let admin = app.add_member(&org, "admin2@acme.com", Role::Admin);
        assert_eq!(app.get("/v1/members", &admin.api_key).await.0, StatusCode::OK);
    }
}

engine_tests! {
    #[tokio::test]
    async fn cursors_are_stable_while_members_come_and_go() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        for i in 0..6 {
            app.add_member(&org, &format!("m{i}@acme.com"), Role::Member);
        }
        let (status, first) = app.get("/v1/members?limit=3", k).await;
        assert_eq!(status, StatusCode::OK);
        let first_ids: Vec<String> =
            first["members"].as_array().unwrap().iter().map(|m| m["userId"].as_str().unwrap().to_string()).collect();
        // A member already shown leaves and a new one joins: the rest of the list neither
        // repeats nor skips anyone.
        let gone = first_ids[1].clone();
        assert_eq!(remove(&app, &gone, k).await.0, StatusCode::NO_CONTENT);
        let newcomer = app.add_member(&org, "late@acme.com", Role::Member);
        let cursor = first["nextCursor"].as_str().unwrap();
        let mut rest = Vec::new();
        let mut next = Some(cursor.to_string());
        while let Some(c) = next {
            let (status, page) = app.get(&format!("/v1/members?limit=3&cursor={c}"), k).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            rest.extend(page["members"].as_array().unwrap().iter().map(|m| m["userId"].as_str().unwrap().to_string()));
            next = page["nextCursor"].as_str().map(str::to_string);
        }
        assert_eq!(rest.len(), 5, "{rest:?}");
        assert!(rest.iter().all(|id| !first_ids.contains(id)));
        assert_eq!(rest.last().unwrap(), newcomer.user_id.as_str());
    }
}

engine_tests! {
    #[tokio::test]
    async fn list_refuses_bad_paging_and_members() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        for cursor in ["garbage", "c1.zz", "c1", "c1.3132", "c1.61.62", "c1.3132.3132.3132"] {
            assert_error(app.get(&format!("/v1/members?cursor={cursor}"), k).await, 400, "invalid_cursor");
        }
        for limit in ["0", "1001", "-1", "x", ""] {
            assert_error(app.get(&format!("/v1/members?limit={limit}"), k).await, 400, "invalid_field");
        }
        let member = app.add_member(&org, "m@acme.com", Role::Member);
        assert_error(app.get("/v1/members", &member.api_key).await, 403, "insufficient_role");
        let placeholder = app.provision(k).await;
        assert_error(
            app.get("/v1/members", placeholder["apiKey"].as_str().unwrap()).await,
            403,
            "insufficient_role",
        );
        let (status, _) = app.call(Method::GET, "/v1/members", None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = app.call(Method::POST, "/v1/members", Some(k), Some(json!({}))).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
        assert_eq!(body["error"]["code"], "method_not_allowed");
        let path = format!("/v1/members/{}", org.owner.user_id);
        let (status, body) = app.call(Method::GET, &path, Some(k), None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    }
}

engine_tests! {
    #[tokio::test]
    async fn who_may_change_whom() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let admin = app.add_member(&org, "admin@acme.com", Role::Admin);
        let admin2 = app.add_member(&org, "admin2@acme.com", Role::Admin);
        let member = app.add_member(&org, "m@acme.com", Role::Member);
        let member2 = app.add_member(&org, "m2@acme.com", Role::Member);
        let (a, a2, m, m2) = (
            admin.user_id.as_str(),
            admin2.user_id.as_str(),
            member.user_id.as_str(),
            member2.user_id.as_str(),
        );

        // The owner demotes an admin: 200 with the member item.
        let (status, body) = patch(&app, a2, k, json!({"role": "member"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["userId"], a2);
        assert_eq!(body["email"], "admin2@acme.com");
        assert_eq!(body["role"], "member");
        assert_eq!(body["status"], "active");
        assert_timestamp(&body["joinedAt"]);

        // An admin promotes a member to admin...
        let (status, body) = patch(&app, m2, &admin.api_key, json!({"role": "admin"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["role"], "admin");
        // ...but touches neither admins nor owners, grants no ownership, and leaves
        // provisioner access to owners (as set-provisioner does).
        assert_error(patch(&app, m2, &admin.api_key, json!({"role": "member"})).await, 403, "insufficient_role");
        assert_error(
            patch(&app, org.owner.user_id.as_str(), &admin.api_key, json!({"role": "member"})).await,
            403,
            "insufficient_role",
        );
        assert_error(patch(&app, a, &admin.api_key, json!({"role": "member"})).await, 403, "insufficient_role");
        assert_error(patch(&app, m, &admin.api_key, json!({"role": "owner"})).await, 403, "insufficient_role");
        assert_error(
            patch(&app, m, &admin.api_key, json!({"isProvisioner": true})).await,
            403,
            "insufficient_role",
        );
        // A member changes nobody, themselves included.
        assert_error(patch(&app, a2, &member.api_key, json!({"role": "admin"})).await, 403, "insufficient_role");
        assert_error(patch(&app, m, &member.api_key, json!({"role": "admin"})).await, 403, "insufficient_role");

        // The owner turns provisioner access on, and the member's key sees it at once.
        let (status, body) = patch(&app, m, k, json!({"isProvisioner": true})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["isProvisioner"], true);
        assert_eq!(body["role"], "member");
        assert_eq!(app.get("/v1/user", &member.api_key).await.1["isProvisioner"], true);
        // Both fields at once; the owner may make another owner.
        let (status, body) = patch(&app, m, k, json!({"role": "owner", "isProvisioner": false})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!((body["role"].as_str(), body["isProvisioner"].as_bool()), (Some("owner"), Some(false)));
        assert_eq!(app.get("/v1/user", &member.api_key).await.1["role"], "owner");
        assert_eq!(owners(&app, &org), 2);

        // Nobody outside the organization, nothing that is not a user id.
        let stranger = app.create_org("Other", None, "owner@other.com");
        for who in [
            stranger.owner.user_id.to_string(),
            uuid::Uuid::new_v4().to_string(),
            "nope".into(),
            a.to_uppercase(),
        ] {
            assert_error(patch(&app, &who, k, json!({"role": "member"})).await, 404, "not_found");
        }
        assert_error(patch(&app, a, &stranger.owner.api_key, json!({"role": "member"})).await, 404, "not_found");
    }
}

engine_tests! {
    #[tokio::test]
    async fn bad_bodies_get_400() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let a = app.add_member(&org, "admin@acme.com", Role::Admin);
        let a = a.user_id.as_str();
        for body in [
            json!({}),
            json!({"role": null}),
            json!({"name": "x"}),
            json!({"role": "king"}),
            json!({"role": "Owner"}),
            json!({"role": 5}),
            json!({"isProvisioner": "yes"}),
            json!({"isProvisioner": 1}),
        ] {
            assert_error(patch(&app, a, k, body.clone()).await, 400, "invalid_field");
        }
        assert_error(patch(&app, a, k, json!([1])).await, 400, "invalid_json");
        let (status, body) = app.call(Method::PATCH, &format!("/v1/members/{a}"), Some(k), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "an empty body changes nothing: {body}");
        // Nothing changed.
        assert_eq!(app.count("SELECT COUNT(*) FROM memberships WHERE org_id = ?1 AND role = 'admin'", &org.id), 1);
    }
}

engine_tests! {
    #[tokio::test]
    async fn a_demoted_admins_key_loses_the_role_at_its_next_request() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let admin = app.add_member(&org, "admin@acme.com", Role::Admin);
        // The key is known to the cache as an admin's.
        app.provision(&admin.api_key).await;
        let (status, body) = patch(&app, admin.user_id.as_str(), &org.owner.api_key, json!({"role": "member"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_error(app.post("/v1/team/provisions", &admin.api_key, json!({})).await, 403, "insufficient_role");
        assert_eq!(app.get("/v1/user", &admin.api_key).await.1["role"], "member");
        // Promoted again, it provisions again.
        patch(&app, admin.user_id.as_str(), &org.owner.api_key, json!({"role": "admin"})).await;
        app.provision(&admin.api_key).await;
    }
}

engine_tests! {
    #[tokio::test]
    async fn the_last_owner_stays() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let me = org.owner.user_id.to_string();
        for role in ["admin", "member"] {
            assert_error(patch(&app, &me, k, json!({"role": role})).await, 409, "last_owner");
        }
        assert_error(remove(&app, &me, k).await, 409, "last_owner");
        // Keeping the role (or changing only provisioner access) is no demotion.
        assert_eq!(patch(&app, &me, k, json!({"role": "owner", "isProvisioner": true})).await.0, StatusCode::OK);
        assert_eq!(owners(&app, &org), 1);

        // With a second owner, the first may step down; the second is then the last.
        let second = app.add_member(&org, "second@acme.com", Role::Owner);
        let (status, body) = patch(&app, &me, k, json!({"role": "admin"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let s = second.user_id.to_string();
        assert_error(patch(&app, &s, &second.api_key, json!({"role": "member"})).await, 409, "last_owner");
        assert_error(remove(&app, &s, &second.api_key).await, 409, "last_owner");
        assert_eq!(owners(&app, &org), 1);
        // The demoted one, now an admin, cannot touch the owner.
        assert_error(patch(&app, &s, k, json!({"role": "member"})).await, 403, "insufficient_role");
        assert_error(remove(&app, &s, k).await, 403, "insufficient_role");
    }
}

engine_tests! {
    #[tokio::test]
    async fn two_owners_demoting_or_removing_each_other_at_once_leave_one() {
        let app = spawn().await;
        for round in 0..20 {
            let org = app.create_org(&format!("Org {round}"), None, &format!("a{round}@acme.com"));
            let b = app.add_member(&org, &format!("b{round}@acme.com"), Role::Owner);
            let (a_key, a_id) = (org.owner.api_key.clone(), org.owner.user_id.to_string());
            let (b_key, b_id) = (b.api_key.clone(), b.user_id.to_string());
            let (ra, rb) = if round % 2 == 0 {
                tokio::join!(remove(&app, &b_id, &a_key), remove(&app, &a_id, &b_key))
            } else {
                tokio::join!(
                    patch(&app, &b_id, &a_key, json!({"role": "member"})),
                    patch(&app, &a_id, &b_key, json!({"role": "member"}))
                )
            };
            assert_eq!(owners(&app, &org), 1, "round {round}: {ra:?} {rb:?}");
            let ok = [&ra, &rb].iter().filter(|r| r.0.is_success()).count();
            assert_eq!(ok, 1, "round {round}: exactly one wins: {ra:?} {rb:?}");
            for r in [&ra, &rb].into_iter().filter(|r| !r.0.is_success()) {
                // Lost the race: the other went first and this one was already demoted
                // (403), removed (401), or is now the last owner (409).
                let code = r.1["error"]["code"].as_str().unwrap_or("");
                assert!(
                    matches!(code, "last_owner" | "insufficient_role" | "invalid_api_key"),
                    "round {round}: {r:?}"
                );
            }
        }
    }
}

engine_tests! {
    #[tokio::test]
    async fn removal_revokes_every_key_in_the_organization_at_once() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let member = app.add_member(&org, "m@acme.com", Role::Member);
        // A second key of theirs in this organization: a provision they claimed.
        let provision = app.provision(k).await;
        let (status, body) =
            app.post("/v1/provisions/claim", &member.api_key, json!({"token": claim_token(&provision)})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let second_key = provision["apiKey"].as_str().unwrap();
        // And a key in another organization, which stays theirs.
        let other = app.create_org("Other", None, "owner@other.com");
        let elsewhere = app.add_member(&other, "m@acme.com", Role::Member);
        let uid = member.user_id.to_string();
        for key in [&member.api_key, second_key] {
            assert_eq!(app.get("/v1/user", key).await.0, StatusCode::OK);
        }
        // A credit limit of theirs in the organization goes with them.
        let (org_id, user_id) = (org.id.clone(), uid.clone());
        app.db
            .write_blocking(move |tx| {
                tx.execute(
                    "INSERT INTO credit_limits (org_id, user_id, period, amount, used, window_start)
                     VALUES (?1, ?2, 'total', 1000, 0, 0)",
                    &[&org_id, &user_id],
                )?;
                Ok::<_, DbError>(())
            })
            .unwrap();

        let (status, body) = remove(&app, &uid, k).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        for key in [&member.api_key, second_key] {
            assert_error(app.get("/v1/user", key).await, 401, "invalid_api_key");
        }
        assert_eq!(app.get("/v1/user", &elsewhere.api_key).await.0, StatusCode::OK, "other organizations stay");
        let still_live = app.db
            .read_blocking(|c| {
                c.value::<i64>(
                    "SELECT COUNT(*) FROM api_keys WHERE user_n = (SELECT n FROM users WHERE id = ?1)
                        AND org_id = ?2 AND revoked_at IS NULL",
                    &[&uid, &org.id],
                )
            })
            .unwrap();
        assert_eq!(still_live, 0, "every key in the organization is revoked");
        assert_eq!(app.count("SELECT COUNT(*) FROM credit_limits WHERE user_id = ?1", &uid), 0);
        let (_, list) = app.get("/v1/members", k).await;
        assert!(list["members"].as_array().unwrap().iter().all(|m| m["userId"] != uid.as_str()));
        assert_error(remove(&app, &uid, k).await, 404, "not_found");
        assert_eq!(app.dangling(), 0);
    }
}

engine_tests! {
    #[tokio::test]
    async fn who_may_remove_whom() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.com");
        let k = &org.owner.api_key;
        let admin = app.add_member(&org, "admin@acme.com", Role::Admin);
        let admin2 = app.add_member(&org, "admin2@acme.com", Role::Admin);
        let member = app.add_member(&org, "m@acme.com", Role::Member);
        let member2 = app.add_member(&org, "m2@acme.com", Role::Member);
        let leaver = app.add_member(&org, "leaver@acme.com", Role::Member);
        let owner_id = org.owner.user_id.to_string();

        assert_error(remove(&app, member2.user_id.as_str(), &member.api_key).await, 403, "insufficient_role");
        assert_error(remove(&app, admin2.user_id.as_str(), &admin.api_key).await, 403, "insufficient_role");
        assert_error(remove(&app, &owner_id, &admin.api_key).await, 403, "insufficient_role");
        let stranger = app.create_org("Other", None, "owner@other.com");
        assert_error(remove(&app, stranger.owner.user_id.as_str(), k).await, 404, "not_found");
        assert_error(remove(&app, member.user_id.as_str(), &stranger.owner.api_key).await, 404, "not_found");
        assert_error(remove(&app, "not-a-user", k).await, 404, "not_found");

        // A pending provision is cancelled, not removed.
        let p = app.provision(k).await;
        let r = remove(&app, p["userId"].as_str().unwrap(), k).await;
        assert!(r.1["error"]["message"].as_str().unwrap().contains("/v1/team/provisions/"), "{r:?}");
        assert_error(r, 409, "pending_provision");
        assert_error(
            patch(&app, p["userId"].as_str().unwrap(), k, json!({"role": "admin"})).await,
            409,
            "pending_provision",
        );
        assert_eq!(app.get("/v1/user", p["apiKey"].as_str().unwrap()).await.0, StatusCode::OK);

        // An admin removes a member; the owner removes an admin; anyone may leave.
        assert_eq!(remove(&app, member2.user_id.as_str(), &admin.api_key).await.0, StatusCode::NO_CONTENT);
        assert_eq!(remove(&app, admin2.user_id.as_str(), k).await.0, StatusCode::NO_CONTENT);
        assert_eq!(remove(&app, leaver.user_id.as_str(), &leaver.api_key).await.0, StatusCode::NO_CONTENT);
        assert_error(app.get("/v1/user", &leaver.api_key).await, 401, "invalid_api_key");
        assert_error(app.get("/v1/user", &admin2.api_key).await, 401, "invalid_api_key");
        assert_eq!(app.get("/v1/user", &member.api_key).await.0, StatusCode::OK);
        let (_, list) = app.get("/v1/members", k).await;
        assert_eq!(list["members"].as_array().unwrap().len(), 4, "owner, admin, member, placeholder: {list}");
    }
}

engine_tests! {
    #[tokio::test]
    async fn operators_set_roles_and_remove_members_from_the_command_line() {
        let app = spawn().await;
        let org = app.create_org("Acme", Some("acme.com"), "owner@acme.com");
        let member = app.add_member(&org, "m@acme.com", Role::Member);
        let gone = app.add_member(&org, "gone@acme.com", Role::Admin);

        let out = app.cli(&["user", "role", "--org", "acme.com", "--user", "M@acme.com", "admin"], None);
        assert!(out.ok, "{out:?}");
        assert_eq!(out.stdout.trim(), "m@acme.com is now admin");
        assert_eq!(app.get("/v1/user", &member.api_key).await.1["role"], "admin");
        let out = app.cli(&["user", "role", "--org", &org.id, "--user", member.user_id.as_str(), "owner"], None);
        assert!(out.ok, "{out:?}");
        assert_eq!(app.get("/v1/user", &member.api_key).await.1["role"], "owner");
        assert_eq!(owners(&app, &org), 2);

        let out = app.cli(&["user", "remove", "--org", "Acme", "--user", "gone@acme.com"], None);
        assert!(out.ok, "{out:?}");
        assert!(out.stdout.contains("gone@acme.com removed") && out.stdout.contains("1 API key revoked"), "{out:?}");
        assert_error(app.get("/v1/user", &gone.api_key).await, 401, "invalid_api_key");

        // The last owner stays; the refusals are sentences for an operator, and exit non-zero.
        app.cli(&["user", "role", "--org", "acme.com", "--user", "m@acme.com", "member"], None);
        for args in [
            &["user", "role", "--org", "acme.com", "--user", "owner@acme.com", "admin"][..],
            &["user", "remove", "--org", "acme.com", "--user", "owner@acme.com"],
        ] {
            let out = app.cli(args, None);
            assert!(!out.ok, "{args:?}: {out:?}");
            assert!(out.stderr.contains("last owner"), "{args:?}: {out:?}");
            for http in ["409", "Conflict", "last_owner"] {
                assert!(!out.stderr.contains(http), "{args:?}: HTTP wording in {}", out.stderr);
            }
        }
        assert_eq!(owners(&app, &org), 1);
        assert_eq!(app.get("/v1/user", &org.owner.api_key).await.1["role"], "owner");

        let p = app.provision(&org.owner.api_key).await;
        for args in [
            &["user", "remove", "--org", "acme.com", "--user", "nobody@acme.com"][..],
            &["user", "remove", "--org", "nope.com", "--user", "m@acme.com"],
            &["user", "role", "--org", "acme.com", "--user", "m@acme.com", "king"],
            &["user", "remove", "--org", "acme.com", "--user", p["userId"].as_str().unwrap()],
        ] {
            let out = app.cli(args, None);
            assert!(!out.ok, "{args:?}: {out:?}");
            assert!(out.stderr.len() > 20, "{args:?}: {out:?}");
        }
        assert_eq!(app.get("/v1/user", p["apiKey"].as_str().unwrap()).await.0, StatusCode::OK);
        assert_eq!(app.get("/v1/user", &member.api_key).await.1["role"], "member");

        // An unverified address names nobody for certain: by user id instead.
        app.db
            .write_blocking(|tx| {
                tx.execute("UPDATE users SET email_verified = FALSE WHERE email = ?1", &[&"m@acme.com"])?;
                Ok::<_, DbError>(())
            })
            .unwrap();
        let out = app.cli(&["user", "role", "--org", "acme.com", "--user", "m@acme.com", "admin"], None);
        assert!(!out.ok && out.stderr.contains("not verified"), "{out:?}");
        let out = app.cli(&["user", "role", "--org", "acme.com", "--user", member.user_id.as_str(), "admin"], None);
        assert!(out.ok, "{out:?}");
        assert_eq!(app.get("/v1/user", &member.api_key).await.1["role"], "admin");
    }
}
