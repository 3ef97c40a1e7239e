//! Upgrading a database made by an earlier release (schema version 1, `tests/fixtures/schema_v1.sql`)
//! on start: everything it held keeps working, and a database the upgrade cannot carry over whole
//! is left untouched with a message.

use crate::helpers::*;
use provisiond::app::Application;
use provisiond::clock::Clock;
use reqwest::StatusCode;
use rusqlite::{params, Connection};
use serde_json::json;
use std::path::Path;

const V1: &str = include_str!("../fixtures/schema_v1.sql");
const ORG: &str = "0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0001";
const OWNER: &str = "0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0002";
const OWNER_PROJECT: &str = "0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0003";
const PLACEHOLDER: &str = "0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0004";
const PROJECT: &str = "0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0005";
const AGENT: &str = "0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0006";
const PROVISION: &str = "0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0007";
const OLD_PLACEHOLDER: &str = "0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0008";
const OLD_PROJECT: &str = "0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0009";
const OLD_PROVISION: &str = "0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e000a";

fn key(c: char) -> String {
    format!("oc_{}", c.to_string().repeat(64))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A version-1 database as that release wrote it: an organization with credits, its owner, a
/// pending provision (placeholder, project, key, agent) and one whose time ran out before the
/// upgrade (not swept yet).
fn make_v1(path: &Path) -> Connection {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let c = Connection::open(path).unwrap();
    c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;").unwrap();
    c.execute_batch(V1).unwrap();
    let now = now_ms();
    let week = 7 * 24 * 3600 * 1000;
    c.execute(
        "INSERT INTO organizations (id, name, domain, credits_granted, credits_used, created_at)
         VALUES (?1, 'Acme', 'acme.com', 10000, 2500, ?2)",
        params![ORG, now - 10_000],
    )
    .unwrap();
    c.execute(
        "INSERT INTO users (id, email, status, api_only, created_at) VALUES (?1, 'owner@acme.com', 'active', 0, ?2)",
        params![OWNER, now - 10_000],
    )
    .unwrap();
    c.execute(
        "INSERT INTO memberships (user_id, org_id, role, is_provisioner, created_at) VALUES (?1, ?2, 'owner', 1, ?3)",
        params![OWNER, ORG, now - 10_000],
    )
    .unwrap();
    c.execute(
        "INSERT INTO projects (id, org_id, user_id, name, created_at) VALUES (?1, ?2, ?3, 'Default', ?4)",
        params![OWNER_PROJECT, ORG, OWNER, now - 10_000],
    )
    .unwrap();
    c.execute(
        "INSERT INTO credit_ledger (org_id, user_id, kind, amount, created_at) VALUES (?1, ?2, 'consume', 2500, ?3)",
        params![ORG, OWNER, now - 9_000],
    )
    .unwrap();
    let placeholders = [
        (PLACEHOLDER, PROJECT, AGENT, PROVISION, 'b', 'c', now + week),
        (
            OLD_PLACEHOLDER,
            OLD_PROJECT,
            "0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e000b",
            OLD_PROVISION,
            'd',
            'e',
            now - 1,
        ),
    ];
    for (i, (user, project, agent, provision, k, token, until)) in placeholders.into_iter().enumerate() {
        let at = now - 8_000 + i as i64;
        c.execute(
            "INSERT INTO users (id, status, api_only, pending_until, created_at) VALUES (?1, 'placeholder', 0, ?2, ?3)",
            params![user, until, at],
        )
        .unwrap();
        c.execute(
            "INSERT INTO memberships (user_id, org_id, role, created_at) VALUES (?1, ?2, 'member', ?3)",
            params![user, ORG, at],
        )
        .unwrap();
        c.execute(
            "INSERT INTO projects (id, org_id, user_id, name, created_at) VALUES (?1, ?2, ?3, 'Default', ?4)",
            params![project, ORG, user, at],
        )
        .unwrap();
        c.execute(
            "INSERT INTO api_keys (id, hash, hint, user_id, org_id, project_id, created_at)
             VALUES (?1, ?2, 'oc_…', ?3, ?4, ?5, ?6)",
            params![format!("{user}-key"), &provisiond::secrets::hash(&key(k))[..], user, ORG, project, at],
        )
        .unwrap();
        c.execute(
            "INSERT INTO agents (id, project_id, name, identifier, created_at) VALUES (?1, ?2, 'Default Agent', 'default', ?3)",
            params![agent, project, at],
        )
        .unwrap();
        c.execute(
            "INSERT INTO provisions (id, org_id, user_id, project_id, agent_id, role, skip_onboarding, status,
                                     token_hash, created_by, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'member', 0, 'pending', ?6, ?7, ?8, ?9)",
            params![
                provision,
                ORG,
                user,
                project,
                agent,
                &provisiond::secrets::hash(&token.to_string().repeat(64))[..],
                OWNER,
                at,
                until
            ],
        )
        .unwrap();
    }
    c.execute(
        "INSERT INTO api_keys (id, hash, hint, user_id, org_id, project_id, created_at) VALUES ('owner-key', ?1, 'oc_…', ?2, ?3, ?4, ?5)",
        params![&provisiond::secrets::hash(&key('a'))[..], OWNER, ORG, OWNER_PROJECT, now - 10_000],
    )
    .unwrap();
    c
}

fn user_version(path: &Path) -> i64 {
    Connection::open(path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn a_version_1_database_is_upgraded_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    drop(make_v1(&path));
    assert_eq!(user_version(&path), 1);

    let app = spawn_with(|s| s.database_path = path.clone()).await;
    assert_eq!(user_version(&path), provisiond::db::migrate::SCHEMA_VERSION);

    // The owner's key, identity, role and provisioner flag.
    let owner = key('a');
    let (s, me) = app.get("/v1/user", &owner).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["id"], OWNER);
    assert_eq!(me["email"], "owner@acme.com");
    assert_eq!(me["organizationId"], ORG);
    assert_eq!(me["role"], "owner");
    assert_eq!(me["isProvisioner"], true);
    assert_eq!(me["projectId"], OWNER_PROJECT);
    // Keys from before version 5 got public ids (distinct UUID v4s) and reach every route.
    let (s, keys) = app.get("/v1/keys", &owner).await;
    assert_eq!(s, StatusCode::OK, "{keys}");
    let ids: Vec<&str> = keys["keys"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap()).collect();
    assert!(!ids.is_empty());
    for id in &ids {
        assert!(uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 4), "{id}");
        assert_eq!(app.count("SELECT COUNT(*) FROM api_keys WHERE id = ?1", id), 1);
    }
    assert_eq!(keys["keys"][0]["scopes"].as_array().unwrap().len(), 9);

    // The pending provision: its key, project and agent, its record, its claim link.
    let (s, me) = app.get("/v1/user", &key('b')).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["id"], PLACEHOLDER);
    assert_eq!(me["projectId"], PROJECT);
    let (_, agents) = app.get("/v1/agents", &key('b')).await;
    assert_eq!(agents["agents"][0]["id"], AGENT, "{agents}");
    let (s, view) = app.get(&format!("/v1/team/provisions/{PROVISION}"), &owner).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["status"], "pending");
    assert_eq!(view["agentId"], AGENT);
    let page = app.client.get(format!("{}/claim?token={}", app.base, "c".repeat(64))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Acme"));

    // The credit pool and its ledger.
    let (_, balance) = app.get("/api/v1/credits/balance", &owner).await;
    assert_eq!(balance["credits_left"], 7.5, "{balance}");
    let (_, usage) = app.get("/api/v1/credits/usage", &owner).await;
    assert_eq!(usage["users"][0]["email"], "owner@acme.com", "{usage}");
    assert_eq!(usage["users"][0]["credits_used"], 2.5, "{usage}");

    // The provision that ran out: its key already fails; the sweep ends it and deletes its rows.
    assert_error(app.get("/v1/user", &key('d')).await, 401, "invalid_api_key");
    assert_eq!(app.sweep(), 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE id = ?1", OLD_PLACEHOLDER), 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM projects WHERE id = ?1", OLD_PROJECT), 0);
    let (_, old) = app.get(&format!("/v1/team/provisions/{OLD_PROVISION}"), &owner).await;
    assert_eq!(old["status"], "expired");

    // The upgraded links cascade: cancelling deletes what the provision created.
    assert_eq!(
        app.delete(&format!("/v1/team/provisions/{PROVISION}"), &owner).await.0,
        StatusCode::NO_CONTENT
    );
    assert_error(app.get("/v1/user", &key('b')).await, 401, "invalid_api_key");
    assert_eq!(app.count("SELECT COUNT(*) FROM agents WHERE id = ?1", AGENT), 0);
    assert_eq!(app.dangling(), 0);

    // New writes on the upgraded database.
    let p = app.provision(&owner).await;
    let (s, _) = app.get("/v1/user", p["apiKey"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);

    // The file itself is the point here: the upgrade must leave it whole.
    let conn = Connection::open(&app.db_path).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    assert!(!conn.prepare("PRAGMA foreign_key_check").unwrap().exists([]).unwrap());
    let fk: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
    assert_eq!(fk, 1, "foreign keys are enforced again after the upgrade");
}

#[test]
fn an_upgrade_that_would_lose_rows_leaves_the_database_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let c = make_v1(&path);
    // Version 1 did not enforce a key's project; a key pointing at no project cannot be carried
    // over (keys now link to their project's row).
    c.execute(
        "INSERT INTO api_keys (id, hash, hint, user_id, org_id, project_id, created_at) VALUES ('stray', ?1, 'oc_…', ?2, ?3, 'no-such-project', 0)",
        params![&provisiond::secrets::hash(&key('f'))[..], OWNER, ORG],
    )
    .unwrap();
    drop(c);

    let mut settings = test_settings(&dir);
    settings.database_path = path.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = Application::build_on(settings, Clock::default(), listener).err().expect("start refused");
    let err = err.to_string();
    assert!(err.contains("could not upgrade") && err.contains("left unchanged"), "{err}");
    assert_eq!(user_version(&path), 1);
    let c = Connection::open(&path).unwrap();
    let keys: i64 = c.query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get(0)).unwrap();
    assert_eq!(keys, 4, "nothing was dropped");
    let fk: i64 = c.query_row("PRAGMA foreign_key_check", [], |_| Ok(1)).unwrap_or(0);
    assert_eq!(fk, 0);
}

/// What a version-6 database held of the authority findings (issue 20): an account verified
/// only because someone typed its address into a provision and it signed up through that link,
/// an operator-made account, and an idempotency record filed by person.
const V6_ROWS: &str = "
INSERT INTO organizations (id, name, created_at) VALUES ('0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0101', 'Acme', 0);
INSERT INTO users (id, email, status, email_verified, created_at)
     VALUES ('0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0102', 'owner@acme.test', 'active', TRUE, 0),
            ('0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0103', 'ceo@newco.test', 'active', TRUE, 0);
INSERT INTO memberships (user_n, org_id, role, created_at)
     SELECT n, '0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0101', 'owner', 0 FROM users;
INSERT INTO projects (id, org_id, user_n, name, created_at)
     SELECT '0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0104', '0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0101', n, 'Default', 0
       FROM users WHERE email = 'ceo@newco.test';
INSERT INTO provisions (id, org_id, user_id, project_id, agent_id, role, skip_onboarding, status, token_hash,
                        created_by, created_at, expires_at, claimed_at, claimed_by, email)
     VALUES ('0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0105', '0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0101',
             '0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0103', '0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0104',
             '0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0106', 'member', FALSE, 'claimed', HASH_A,
             '0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0102', 0, 1, 1, '0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0103', 'ceo@newco.test');
INSERT INTO api_keys (id, hash, hint, user_n, org_id, project_n, created_at)
     SELECT '0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0107', HASH_KEY, 'oc_5555', u.n, '0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0101', p.n, 0
       FROM users u, projects p WHERE u.email = 'ceo@newco.test';
INSERT INTO idempotency (user_id, route, key, body_hash, status, response, created_at)
     VALUES ('0b1e5a8e-6a52-4c1e-9d1a-3f1f6c0e0103', 'POST /v1/keys', 'k-1', HASH_A, 200, '\"x\"', NOW_MS);
";

engine_tests! {
    #[tokio::test]
    async fn a_version_6_database_forgets_typed_addresses_and_person_idempotency() {
        let key = format!("oc_{}", "5".repeat(64));
        let hex = |b: [u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let (hash_a, hash_key) = (hex([0xaa; 32]), hex(provisiond::secrets::hash(&key)));
        let rows = |blob: &dyn Fn(&str) -> String| {
            V6_ROWS
                .replace("HASH_A", &blob(&hash_a))
                .replace("HASH_KEY", &blob(&hash_key))
                .replace("NOW_MS", &now_ms().to_string())
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v6.db");
        let app = if engine() == Engine::Postgres {
            let url = empty_postgres();
            let setup = rows(&|h| format!("decode('{h}', 'hex')"));
            let at = url.clone();
            // The blocking client runs its own runtime: off this test's.
            std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&at, postgres::NoTls).unwrap();
                c.batch_execute(include_str!("../fixtures/schema_pg_v6.sql")).unwrap();
                c.batch_execute(&setup).unwrap();
            })
            .join()
            .unwrap();
            spawn_with(move |s| s.database_url = Some(url)).await
        } else {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(include_str!("../fixtures/schema_v6.sql")).unwrap();
            c.execute_batch(&rows(&|h| format!("x'{h}'"))).unwrap();
            drop(c);
            let at = path.clone();
            spawn_with(move |s| s.database_path = at).await
        };
        let verified = |email: &str| {
            app.count("SELECT COUNT(*) FROM users WHERE email = ?1 AND email_verified = TRUE", email)
        };
        assert_eq!(verified("ceo@newco.test"), 0, "a typed address is verified no longer");
        assert_eq!(verified("owner@acme.test"), 1, "an operator's account stays verified");
        // The record filed by person answers nobody, and is not done again either.
        let r = app.post_idem("/v1/keys", &key, "k-1", json!({})).await;
        assert_error(r, 409, "idempotency_conflict");
        let (status, _) = app.post_idem("/v1/keys", &key, "k-2", json!({})).await;
        assert_eq!(status, StatusCode::CREATED);
    }
}
