//! Authority as one rule (issue 20, CONTRACT part three): every kind of caller, every action that
//! makes or changes a credential or a role, every kind of target — nothing comes out stronger
//! than the caller, and nothing stronger than the caller is touched. Then one test per finding of
//! the review that led to the rule.

use crate::helpers::*;
use provisiond::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const ALL_SCOPES: [&str; 9] = [
    "provisions",
    "members",
    "agents",
    "credits:read",
    "credits:consume",
    "keys",
    "keys:verify",
    "audit",
    "webhooks",
];

/// What a key is worth, as verification reports it.
#[derive(Clone, Debug)]
struct Worth {
    role: u8,
    scopes: Vec<String>,
    /// When it stops working by itself; None: never.
    ends: Option<i64>,
}

fn rank(role: &str) -> u8 {
    match role {
        "member" => 0,
        "admin" => 1,
        "owner" => 2,
        other => panic!("not a role: {other}"),
    }
}

impl Worth {
    fn within(&self, other: &Worth) -> bool {
        let ends = match (self.ends, other.ends) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a <= b,
        };
        self.role <= other.role && self.scopes.iter().all(|s| other.scopes.contains(s)) && ends
    }
}

/// The worth of a live key; None when it does not work.
async fn worth(app: &TestApp, verifier: &str, key: &str) -> Option<Worth> {
    let (status, v) = app.post("/v1/keys/verify", verifier, json!({ "key": key })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    if v["valid"] != true {
        return None;
    }
    Some(Worth {
        role: rank(s(&v["role"])),
        scopes: v["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect(),
        ends: v["expiresAt"].as_str().map(|_| assert_timestamp(&v["expiresAt"])),
    })
}

/// A person of the organization: their user id and their full key.
struct Person {
    user: String,
    key: String,
}

fn person(app: &TestApp, org: &Org, email: &str, role: Role) -> Person {
    let a = app.add_member(org, email, role);
    Person { user: a.user_id.to_string(), key: a.api_key }
}

/// The id of the person's oldest live key (the full key they were given).
async fn key_id(app: &TestApp, owner_key: &str, user: &str) -> String {
    let (status, v) = app.get(&format!("/v1/keys?userId={user}"), owner_key).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let live = v["keys"].as_array().unwrap().iter().rfind(|k| k["revokedAt"].is_null()).expect("a live key");
    s(&live["id"]).to_string()
}

/// The kinds of caller, each a key (the signed-in person has its own test below).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    Owner,
    Admin,
    Member,
    /// An unclaimed provision's key (role admin).
    Placeholder,
    /// An owner's key with only the `keys` scope and a member's ceiling.
    KeysScoped,
    /// An admin's key rotated with a grace period: it works for one more hour.
    InGrace,
    /// A member's key that expires in an hour.
    Expiring,
    /// A key of someone removed from the organization.
    Removed,
}

const CALLERS: [Caller; 8] = [
    Caller::Owner,
    Caller::Admin,
    Caller::Member,
    Caller::Placeholder,
    Caller::KeysScoped,
    Caller::InGrace,
    Caller::Expiring,
    Caller::Removed,
];

/// The organization's people as targets.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// Another owner.
    Owner,
    Admin,
    Member,
    /// The caller's own person (their full key, their own membership).
    Own,
}

const TARGETS: [Target; 4] = [Target::Owner, Target::Admin, Target::Member, Target::Own];

struct World {
    org: Org,
    /// The first owner: makes fixtures and verifies keys; never a target.
    boss: String,
    n: std::cell::Cell<u32>,
}

impl World {
    fn fresh(&self, app: &TestApp, role: Role) -> Person {
        self.n.set(self.n.get() + 1);
        person(app, &self.org, &format!("p{}-{}@acme.test", self.n.get(), role.as_str()), role)
    }
}

/// The caller's key and the person it belongs to (None for a placeholder, whose person is no
/// member anyone can name).
async fn make_caller(app: &TestApp, w: &World, kind: Caller) -> (String, Option<Person>) {
    let boss = &w.boss;
    match kind {
        Caller::Owner => {
            let p = w.fresh(app, Role::Owner);
            (p.key.clone(), Some(p))
        }
        Caller::Admin => {
            let p = w.fresh(app, Role::Admin);
            (p.key.clone(), Some(p))
        }
        Caller::Member => {
            let p = w.fresh(app, Role::Member);
            (p.key.clone(), Some(p))
        }
        Caller::Placeholder => {
            let (status, v) = app.post("/v1/team/provisions", boss, json!({"role": "admin"})).await;
            assert_eq!(status, StatusCode::CREATED, "{v}");
            (s(&v["apiKey"]).to_string(), None)
        }
        Caller::KeysScoped => {
            let p = w.fresh(app, Role::Owner);
            let (status, v) =
                app.post("/v1/keys", &p.key, json!({"role": "member", "scopes": ["keys"]})).await;
            assert_eq!(status, StatusCode::CREATED, "{v}");
            (s(&v["apiKey"]).to_string(), Some(p))
        }
        Caller::InGrace => {
            let p = w.fresh(app, Role::Admin);
            let (_, made) = app.post("/v1/keys", &p.key, json!({"name": "ci"})).await;
            let id = s(&made["id"]).to_string();
            let (status, v) =
                app.post(&format!("/v1/keys/{id}/rotate"), &p.key, json!({"gracePeriodSeconds": 3600})).await;
            assert_eq!(status, StatusCode::CREATED, "{v}");
            (s(&made["apiKey"]).to_string(), Some(p))
        }
        Caller::Expiring => {
            let p = w.fresh(app, Role::Member);
            let (status, v) = app.post("/v1/keys", &p.key, json!({"expiresInSeconds": 3600})).await;
            assert_eq!(status, StatusCode::CREATED, "{v}");
            (s(&v["apiKey"]).to_string(), Some(p))
        }
        Caller::Removed => {
            let p = w.fresh(app, Role::Admin);
            let (status, _) = app.delete(&format!("/v1/members/{}", p.user), boss).await;
            assert_eq!(status, StatusCode::NO_CONTENT);
            (p.key.clone(), Some(p))
        }
    }
}

/// A credential in a response, if it carries one.
fn credential(v: &Value) -> Option<String> {
    v.get("apiKey").or_else(|| v.get("api_key")).and_then(Value::as_str).map(str::to_string)
}

/// Checks one action's outcome: any credential it handed out is within the caller's worth.
async fn check_made(app: &TestApp, w: &World, caller: &Worth, what: &str, (status, v): (StatusCode, Value)) {
    if !status.is_success() {
        return;
    }
    if let Some(key) = credential(&v) {
        let made = worth(app, &w.boss, &key).await.unwrap_or_else(|| panic!("{what}: the key it made works"));
        assert!(made.within(caller), "{what}: made {made:?}, stronger than the caller's {caller:?}");
    }
}

/// Every action on every target for one kind of caller.
async fn one_caller(app: &TestApp, w: &World, kind: Caller) {
    let (key, me) = make_caller(app, w, kind).await;
    let boss = w.boss.clone();
    let Some(mine) = worth(app, &boss, &key).await else {
        assert_eq!(kind, Caller::Removed, "only the removed member's key fails");
        for (m, path, body) in [
            (Method::POST, "/v1/keys".to_string(), json!({})),
            (Method::POST, "/v1/user/api-key/regenerate".to_string(), json!({})),
            (Method::POST, "/v1/team/provisions".to_string(), json!({})),
        ] {
            let (status, _) = app.call(m, &path, Some(&key), Some(body)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{kind:?} {path}");
        }
        return;
    };
    let ctx = |what: &str| format!("{kind:?}: {what}");

    // New keys for oneself: as asked, and as strong as can be asked.
    for body in [
        json!({}),
        json!({"role": "owner", "scopes": ALL_SCOPES}),
        json!({"expiresInSeconds": 31_536_000}),
        json!({"role": "admin"}),
    ] {
        let got = app.post("/v1/keys", &key, body.clone()).await;
        check_made(app, w, &mine, &ctx(&format!("POST /v1/keys {body}")), got).await;
    }

    // A replay of what another credential made under an Idempotency-Key: never its outcome.
    let other = w.fresh(app, Role::Owner);
    let idem = format!("deploy-{kind:?}");
    let (status, theirs) = app.post_idem("/v1/keys", &other.key, &idem, json!({"name": "deploy"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let replay = app.post_idem("/v1/keys", &key, &idem, json!({"name": "deploy"})).await;
    if replay.0.is_success() {
        assert_ne!(replay.1["id"], theirs["id"], "{}", ctx("a replay of another credential's record"));
    }
    check_made(app, w, &mine, &ctx("replay"), replay).await;
    assert!(worth(app, &boss, s(&theirs["apiKey"])).await.is_some(), "{}", ctx("their key still works"));

    // A provision hands out a key: within the caller's worth too.
    let got = app.post("/v1/team/provisions", &key, json!({"role": "admin"})).await;
    check_made(app, w, &mine, &ctx("provision"), got).await;

    for target in TARGETS {
        let t = match (target, &me) {
            (Target::Own, Some(me)) => Person { user: me.user.clone(), key: me.key.clone() },
            (Target::Own, None) => continue,
            (Target::Owner, _) => w.fresh(app, Role::Owner),
            (Target::Admin, _) => w.fresh(app, Role::Admin),
            (Target::Member, _) => w.fresh(app, Role::Member),
        };
        let t_role = match target {
            Target::Owner => 2,
            Target::Admin => 1,
            Target::Member => 0,
            Target::Own => rank(match kind {
                Caller::Owner | Caller::KeysScoped => "owner",
                Caller::Admin | Caller::InGrace | Caller::Removed => "admin",
                _ => "member",
            }),
        };
        let t_worth = worth(app, &boss, &t.key).await.expect("the target's key works");
        let stronger = t_role > mine.role || !t_worth.within(&Worth { ends: None, ..mine.clone() });

        // Rotation: a credential as strong as the target's, in the caller's hands.
        let id = key_id(app, &boss, &t.user).await;
        let got =
            app.post(&format!("/v1/keys/{id}/rotate"), &key, json!({"gracePeriodSeconds": 86_400})).await;
        let what = ctx(&format!("rotate {target:?}'s key"));
        if stronger {
            assert!(got.0.is_client_error(), "{what}: {} {}", got.0, got.1);
        }
        check_made(app, w, &mine, &what, got).await;

        // Revocation of a stronger key: refused, and the key still works.
        let t2 = match target {
            Target::Own => None,
            Target::Owner => Some(w.fresh(app, Role::Owner)),
            Target::Admin => Some(w.fresh(app, Role::Admin)),
            Target::Member => Some(w.fresh(app, Role::Member)),
        };
        if let Some(t2) = t2 {
            let id = key_id(app, &boss, &t2.user).await;
            let (status, v) = app.delete(&format!("/v1/keys/{id}"), &key).await;
            if stronger {
                assert!(
                    status.is_client_error(),
                    "{}: {status} {v}",
                    ctx(&format!("revoke {target:?}'s key"))
                );
                assert!(worth(app, &boss, &t2.key).await.is_some(), "a refused revocation changed nothing");
            }
        }

        // Roles: nobody comes out stronger than the caller.
        for role in ["owner", "admin"] {
            let t3 = match target {
                Target::Own => Person { user: t.user.clone(), key: String::new() },
                Target::Owner => w.fresh(app, Role::Owner),
                Target::Admin => w.fresh(app, Role::Admin),
                Target::Member => w.fresh(app, Role::Member),
            };
            let (status, v) = app
                .call(
                    Method::PATCH,
                    &format!("/v1/members/{}", t3.user),
                    Some(&key),
                    Some(json!({"role": role})),
                )
                .await;
            let what = ctx(&format!("make {target:?} {role}"));
            if status.is_success() {
                assert!(rank(s(&v["role"])) <= mine.role, "{what}: {v}");
            }
            if t_role > mine.role || rank(role) > mine.role {
                assert!(status.is_client_error(), "{what}: {status} {v}");
            }
        }
        if !matches!(target, Target::Own) {
            let t4 = match target {
                Target::Owner => w.fresh(app, Role::Owner),
                Target::Admin => w.fresh(app, Role::Admin),
                _ => w.fresh(app, Role::Member),
            };
            let (status, v) = app.delete(&format!("/v1/members/{}", t4.user), &key).await;
            if t_role > mine.role {
                assert!(status.is_client_error(), "{}: {status} {v}", ctx(&format!("remove {target:?}")));
            }
        }
    }

    // Regenerating the calling key: the same worth at most, ending no later.
    let got = app.post("/v1/user/api-key/regenerate", &key, json!({})).await;
    check_made(app, w, &mine, &ctx("regenerate"), got).await;
}

engine_tests! {
    #[tokio::test]
    async fn no_credential_ever_yields_a_stronger_one() {
        let app = spawn_with(|s| s.provision_rate_limit = 0).await;
        let org = app.create_org("Acme", None, "boss@acme.test");
        let boss = org.owner.api_key.clone();
        let w = World { org, boss, n: std::cell::Cell::new(0) };
        for kind in CALLERS {
            one_caller(&app, &w, kind).await;
        }
    }
}

// Finding 1, through the dashboard: a signed-in admin cannot rotate an owner's key.
engine_tests! {
    #[tokio::test]
    async fn a_signed_in_admin_cannot_rotate_or_revoke_an_owners_key() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.test");
        app.add_member(&org, "admin@acme.test", Role::Admin);
        app.set_password("admin@acme.test", "admin password 1");
        let owner_user = org.owner.user_id.to_string();
        let owner_key = key_id(&app, &org.owner.api_key, &owner_user).await;
        let mut web = WebClient::new(&app);
        assert_eq!(web.login("admin@acme.test", "admin password 1").await.status, StatusCode::SEE_OTHER);
        let csrf = web.csrf("/team/keys").await;
        for action in ["rotate", "revoke"] {
            let r = web.post(&format!("/team/keys/{owner_key}/{action}"), &[("csrf", &csrf)]).await;
            assert!(r.status.is_client_error(), "{action}: {} {}", r.status, r.body);
            assert!(!r.body.contains("oc_"), "no key shown");
        }
        let (_, me) = app.get("/v1/user", &org.owner.api_key).await;
        assert_eq!(me["role"], "owner", "the owner's key still works");
        let (_, keys) = app.get(&format!("/v1/keys?userId={owner_user}"), &org.owner.api_key).await;
        assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "no new key for the owner");
    }
}

// Finding 1, the scoped part: a `keys`-scoped key cannot rotate its holder's full key.
engine_tests! {
    #[tokio::test]
    async fn a_key_scoped_to_keys_cannot_rotate_into_more() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.test");
        let member = app.add_member(&org, "m@acme.test", Role::Member);
        let (_, scoped) = app.post("/v1/keys", &member.api_key, json!({"scopes": ["keys"]})).await;
        let scoped = s(&scoped["apiKey"]).to_string();
        let full = key_id(&app, &org.owner.api_key, member.user_id.as_str()).await;
        let r = app.post(&format!("/v1/keys/{full}/rotate"), &scoped, json!({})).await;
        assert_error(r, 403, "insufficient_role");
        let (status, _) = app.delete(&format!("/v1/keys/{full}"), &scoped).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(worth(&app, &org.owner.api_key, &member.api_key).await.is_some());
    }
}

// Finding 4: idempotency is per credential and organization.
engine_tests! {
    #[tokio::test]
    async fn a_replay_answers_only_the_credential_that_made_it() {
        let app = spawn().await;
        let acme = app.create_org("Acme", None, "owner@acme.test");
        let owner = acme.owner.api_key.clone();
        let (_, weak) = app.post("/v1/keys", &owner, json!({"role": "member", "scopes": ["keys"]})).await;
        let weak = s(&weak["apiKey"]).to_string();
        let (status, first) = app.post_idem("/v1/keys", &owner, "deploy-1", json!({"name": "deploy"})).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, second) = app.post_idem("/v1/keys", &weak, "deploy-1", json!({"name": "deploy"})).await;
        assert_eq!(status, StatusCode::CREATED, "{second}");
        assert_ne!(second["id"], first["id"], "a new key, not the owner's");
        assert_eq!(second["role"], "member");
        assert_eq!(second["scopes"], json!(["keys"]));
        assert!(worth(&app, &owner, s(&first["apiKey"])).await.is_some(), "the owner's copy still works");
        // The owner's own replay still replays.
        let (status, again) = app.post_idem("/v1/keys", &owner, "deploy-1", json!({"name": "deploy"})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(again["id"], first["id"]);

        // The same person in another organization: a consumption there is its own.
        let bco = app.create_org("Bco", None, "other@bco.test");
        let same = app.add_member(&bco, "owner@acme.test", Role::Member);
        app.post("/api/v1/admin/credits", &owner, json!({"amount": 100})).await;
        app.post("/api/v1/admin/credits", &bco.owner.api_key, json!({"amount": 100})).await;
        let (status, a) = app.post_idem("/api/v1/credits/consume", &owner, "c-1", json!({"amount": 5})).await;
        assert_eq!(status, StatusCode::OK, "{a}");
        let (status, b) = app.post_idem("/api/v1/credits/consume", &same.api_key, "c-1", json!({"amount": 5})).await;
        assert_eq!(status, StatusCode::OK, "{b}");
        let (_, bal) = app.get("/api/v1/credits/balance", &bco.owner.api_key).await;
        assert_eq!(bal["credits_used"].as_f64(), Some(5.0), "Bco was debited: {bal}");
    }
}

// Finding 8: a key in its rotation grace period mints nothing that outlives it.
engine_tests! {
    #[tokio::test]
    async fn a_key_in_its_grace_period_makes_keys_that_end_with_it() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.test");
        let owner = org.owner.api_key.clone();
        let (_, made) = app.post("/v1/keys", &owner, json!({"name": "ci"})).await;
        let (old, id) = (s(&made["apiKey"]).to_string(), s(&made["id"]).to_string());
        app.post(&format!("/v1/keys/{id}/rotate"), &owner, json!({"gracePeriodSeconds": 600})).await;
        let end = worth(&app, &owner, &old).await.unwrap().ends.expect("it ends");
        for body in [json!({}), json!({"expiresInSeconds": 31_536_000})] {
            let (status, v) = app.post("/v1/keys", &old, body).await;
            assert_eq!(status, StatusCode::CREATED, "{v}");
            assert!(assert_timestamp(&v["expiresAt"]) <= end, "{v}");
        }
        let (status, v) = app.post("/v1/user/api-key/regenerate", &old, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let regenerated = worth(&app, &owner, s(&v["apiKey"])).await.unwrap();
        assert!(regenerated.ends.is_some_and(|e| e <= end), "{regenerated:?}");
        app.clock.advance(Duration::from_secs(601));
        assert!(worth(&app, &owner, s(&v["apiKey"])).await.is_none(), "gone with the old key's grace");
    }
}

// Finding 7: agents have a cap.
engine_tests! {
    #[tokio::test]
    async fn a_project_holds_at_most_a_thousand_agents() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.test");
        let key = org.owner.api_key.clone();
        // The first 999 straight into the store (fast); the API makes the thousandth.
        let project = app.count("SELECT n FROM projects WHERE id = ?1", org.owner.project_id.as_str());
        let project = provisiond::domain::ProjectN(project);
        app.db
            .write_blocking(move |tx| {
                    for i in 0..999 {
                        let agent = provisiond::domain::Agent {
                            id: provisiond::domain::AgentId::new(),
                            name: format!("a{i}"),
                            identifier: format!("a{i}"),
                            parent_identifier: None,
                            created_at: 1,
                        };
                        provisiond::store::projects::insert_agent(tx, project, &agent)?;
                    }
                    Ok::<_, provisiond::db::DbError>(())
                })
            .unwrap();
        let (status, v) = app.post("/v1/agents", &key, json!({"name": "last", "identifier": "last"})).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        let r = app.post("/v1/agents", &key, json!({"name": "more", "identifier": "more"})).await;
        assert_error(r, 409, "too_many_agents");
        // `ensureAgent` still learns that an agent it made exists.
        let r = app.post("/v1/agents", &key, json!({"name": "last", "identifier": "last"})).await;
        assert_error(r, 409, "agent_exists");
        let sql = "SELECT COUNT(*) FROM agents WHERE project_n = (SELECT n FROM projects WHERE id = ?1)";
        assert_eq!(app.count(sql, org.owner.project_id.as_str()), 1000);
    }
}

// Finding 10: one claim link, one account.
engine_tests! {
    #[tokio::test]
    async fn one_claim_link_makes_one_account() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.test");
        let p = app.provision(&org.owner.api_key).await;
        let mut first = WebClient::new(&app);
        first.signup_claiming(&p, "one@example.com", "password one").await;
        let back = format!("/claim?token={}", claim_token(&p));
        for (i, email) in ["two@example.com", "three@example.com"].iter().enumerate() {
            let mut other = WebClient::from_address(&app, &format!("127.0.0.{}", i + 2));
            let r = other.post("/signup", &[("email", email), ("password", "password two"), ("next", &back)]).await;
            assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
            assert!(r.body.contains("already made through this claim link"), "{}", r.body);
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE email LIKE ?1", "%@example.com"), 1);
        // The one account claims as usual; the addresses refused are free for their owners.
        assert_eq!(first.claim(&p).await.status, StatusCode::SEE_OTHER);
        let out = app.cli(&["user", "add", "--org", &org.id, "--email", "two@example.com"], None);
        assert!(out.ok, "{out:?}");
    }
}

// Finding 2: an address typed into a provision is not verified by claiming through its link.
engine_tests! {
    #[tokio::test]
    async fn a_provisioner_cannot_mint_a_verified_identity() {
        let app = spawn().await;
        let org = app.create_org("Acme", None, "owner@acme.test");
        let (status, p) =
            app.post("/v1/team/provisions", &org.owner.api_key, json!({"email": "ceo@newco.test"})).await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        let mut squatter = WebClient::new(&app);
        squatter.signup_claiming(&p, "ceo@newco.test", "squatter password").await;
        assert_eq!(squatter.claim(&p).await.status, StatusCode::SEE_OTHER);
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE email = ?1 AND email_verified", "ceo@newco.test"), 0);
        let out = app.cli(&["org", "create", "--name", "NewCo", "--owner-email", "ceo@newco.test"], None);
        assert!(!out.ok, "{out:?}");
        assert_eq!(app.count("SELECT COUNT(*) FROM organizations WHERE name = ?1", "NewCo"), 0);
        assert!(!squatter.get("/team").await.body.contains("NewCo"));
    }
}

// Finding 11: the sign-in forms do not tell which addresses have accounts.
engine_tests! {
    #[tokio::test]
    async fn sign_up_and_log_in_do_not_tell_which_addresses_exist() {
        let (app, mail) = spawn_with_mail(|_| {}).await;
        let org = app.create_org("Orch", Some("orch.io"), "owner@orch.io");
        app.set_password("owner@orch.io", "owner password 1");
        // Open sign-up, for an address with an account and for a new one: the same answer.
        let taken = WebClient::new(&app).post("/signup", &[("email", "owner@orch.io"), ("password", "x password 1")]).await;
        let fresh = WebClient::new(&app).post("/signup", &[("email", "new@example.com"), ("password", "x password 1")]).await;
        assert_eq!(taken.status, fresh.status);
        assert_eq!(taken.status, StatusCode::OK);
        assert_eq!(taken.body.replace("owner@orch.io", "@"), fresh.body.replace("new@example.com", "@"));
        assert!(taken.set_cookie.is_empty() && fresh.set_cookie.is_empty(), "nobody is signed in");
        // Each address got its mail: a verification link, and a note for the account holder.
        let sent = mail.wait_for(2);
        let to_owner = sent.iter().find(|m| m.to == vec!["owner@orch.io".to_string()]).expect("a note to the owner");
        assert!(to_owner.link(&format!("{PUBLIC_URL}/verify?token=")).is_none(), "no link that verifies anything");
        let (s1, _) = app.post("/api/v1/admin/set-provisioner", &org.owner.api_key, json!({"email": "owner@orch.io", "is_provisioner": true})).await;
        assert_eq!(s1, StatusCode::OK);
        // An API-only account at log-in: refused like a wrong password.
        let made = app.create_user(&org.owner.api_key, Some("owner@orch.io"), json!({"email": "bot@x.com"})).await;
        assert_eq!(made.0, StatusCode::CREATED, "{}", made.1);
        let api_only = WebClient::new(&app).login("bot@orch.io", "whatever 123").await;
        let nobody = WebClient::new(&app).login("nobody@orch.io", "whatever 123").await;
        assert_eq!(api_only.status, nobody.status);
        assert!(!api_only.body.contains("API-only"), "{}", api_only.body);
        assert_eq!(api_only.body.replace("bot@orch.io", "@"), nobody.body.replace("nobody@orch.io", "@"));
    }
}
