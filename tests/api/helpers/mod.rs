//! Spawns the real server on port 0, on a temporary SQLite file or a fresh PostgreSQL database
//! (`engine_tests!` runs a test once on each), and talks to it over HTTP. Its modules: `binary`
//! (the real binary as a child process), `install` (npm folders and venvs, once), `alone` (a test
//! in a process of its own), `pg`, `smtp`, `receiver` (webhooks) and `proxy`.
#![allow(dead_code)]

pub mod alone;
pub mod binary;
pub mod install;
pub mod pg;
pub mod proxy;
pub mod receiver;
pub mod smtp;

pub use provisiond::db::Engine;

tokio::task_local! {
    /// The engine the servers of the running test use (SQLite unless `engine_tests!` says).
    pub static ENGINE: Engine;
}

/// The engine of the running test.
pub fn engine() -> Engine {
    ENGINE.try_with(|e| *e).unwrap_or(Engine::Sqlite)
}

/// Runs each test once per database engine, as `<name>::sqlite` and `<name>::postgres`: the same
/// body, with every server it spawns on that engine.
macro_rules! engine_tests {
    ($($(#[$attr:meta])* async fn $name:ident() $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$attr])*
            async fn sqlite() {
                $crate::helpers::ENGINE.scope($crate::helpers::Engine::Sqlite, async $body).await
            }

            $(#[$attr])*
            async fn postgres() {
                $crate::helpers::ENGINE.scope($crate::helpers::Engine::Postgres, async $body).await
            }
        }
    )*};
}

/// A fresh PostgreSQL database holding provisiond's schema (cloned from a template that got it
/// once per test binary).
pub fn fresh_postgres() -> String {
    let cluster = pg::cluster();
    cluster.set_template_ready(|url| {
        let settings = provisiond::db::DbSettings {
            path: PathBuf::new(),
            synchronous: Default::default(),
            url: Some(url.to_string()),
        };
        // Opening a database puts the schema into it; dropped at once, so nothing stays connected.
        drop(Db::open(&settings, true).expect("schema into the template database"));
    });
    cluster.fresh_database()
}

/// A PostgreSQL database with nothing in it, not even the schema (CREATE DATABASE from
/// template0): for databases an earlier release made.
pub fn empty_postgres() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name =
        format!("empty_{}_{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    pg::cluster().psql("postgres", &format!("CREATE DATABASE {name} TEMPLATE template0"));
    pg::cluster().socket_url(&name)
}

use provisiond::app::Application;
use provisiond::clock::Clock;
use provisiond::config::Settings;
use provisiond::db::Db;
use provisiond::domain::{Domain, Email, OrgId, ProvisionRole, Role, UserId};
use provisiond::service::organizations::{self, Access, NewOrg};
use provisiond::service::provisioning::{self, ProvisionInput};
use provisiond::service::{accounts, maintenance, Actor, Client, Ctx};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

pub const PUBLIC_URL: &str = "https://provisiond.test";
/// The server key of test servers on PostgreSQL (on SQLite each makes its own beside its file).
pub const TEST_SECRET_KEY: &str = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7";

pub struct TestApp {
    pub base: String,
    pub port: u16,
    /// The server's services: tests reach the database and the rules through them.
    pub ctx: Ctx,
    pub db: Db,
    pub clock: Clock,
    pub db_path: PathBuf,
    pub client: reqwest::Client,
    pub settings: Settings,
    _dir: tempfile::TempDir,
}

pub fn test_settings(dir: &tempfile::TempDir) -> Settings {
    let mut s = Settings::defaults();
    s.bind = "127.0.0.1:0".into();
    s.database_path = dir.path().join("data").join("provisiond.db");
    s.public_url = PUBLIC_URL.into();
    s.bootstrap = false;
    s.workers = 2;
    s
}

pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_inner(tweak, false).await
}

/// A server that mails through a local SMTP sink, with anyone allowed to sign up (`SIGNUP=open`).
pub async fn spawn_with_mail(tweak: impl FnOnce(&mut Settings)) -> (TestApp, smtp::SmtpSink) {
    let sink = smtp::SmtpSink::start();
    let url = sink.url();
    let app = spawn_with(move |s| {
        s.smtp_url = Some(url);
        s.mail_from = "provisiond <noreply@provisiond.test>".into();
        s.signup = provisiond::config::SignupMode::Open;
        tweak(s);
    })
    .await;
    (app, sink)
}

/// A server whose `PUBLIC_URL` is its real address, so claim links open in a browser.
pub async fn spawn_public() -> TestApp {
    spawn_inner(|_| {}, true).await
}

async fn spawn_inner(tweak: impl FnOnce(&mut Settings), public: bool) -> TestApp {
    install::warm_up();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let public_url = public.then(|| format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port()));
    spawn_on(listener, tweak, public_url, Clock::default()).await
}

/// A server on `listener` with the test settings, tweaked; `public_url` replaces PUBLIC_URL.
async fn spawn_on(
    listener: std::net::TcpListener,
    tweak: impl FnOnce(&mut Settings),
    public_url: Option<String>,
    clock: Clock,
) -> TestApp {
    // The server's log, for a failing test's output (RUST_LOG=warn and the like).
    let _ = env_logger::builder().is_test(true).try_init();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(&dir);
    tweak(&mut settings);
    if engine() == Engine::Postgres && settings.database_url.is_none() {
        settings.database_url = Some(fresh_postgres());
    }
    if settings.database_url.is_some() && settings.secret_key.is_none() {
        // Replicas share one server key, as an operator sets it.
        settings.secret_key = Some(TEST_SECRET_KEY.into());
    }
    if let Some(url) = public_url {
        settings.public_url = url;
    }
    let app = Application::build_on(settings.clone(), clock.clone(), listener).expect("server builds");
    let port = app.port();
    let ctx = app.ctx();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        port,
        db: ctx.db.clone(),
        ctx,
        clock,
        db_path: settings.database_path.clone(),
        client: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client"),
        settings,
        _dir: dir,
    }
}

/// Two replicas: servers on one fresh PostgreSQL database, sharing a clock (as machines share
/// time), each with its own caches and limits, as separate processes would have.
pub async fn spawn_replicas(tweak: impl Fn(&mut Settings)) -> (TestApp, TestApp) {
    let url = fresh_postgres();
    let clock = Clock::default();
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let tweak_a = |s: &mut Settings| {
        tweak(s);
        s.database_url = Some(url.clone());
    };
    let a = spawn_on(bind(), tweak_a, None, clock.clone()).await;
    let tweak_b = |s: &mut Settings| {
        tweak(s);
        s.database_url = Some(url.clone());
    };
    let b = spawn_on(bind(), tweak_b, None, clock).await;
    (a, b)
}

/// Two replicas behind one port (`proxy::Proxy`, a new connection to each in turn), with
/// PUBLIC_URL the proxy's address: what a browser or the SDK sees of a deployment.
pub async fn spawn_replicas_behind_one_port() -> (TestApp, TestApp, proxy::Proxy) {
    let front = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let public = format!("http://127.0.0.1:{}", front.local_addr().unwrap().port());
    let url = fresh_postgres();
    let clock = Clock::default();
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let with_db = |s: &mut Settings| s.database_url = Some(url.clone());
    let a = spawn_on(bind(), with_db, Some(public.clone()), clock.clone()).await;
    let b = spawn_on(bind(), with_db, Some(public), clock).await;
    let proxy = proxy::Proxy::start(front, vec![a.port, b.port]);
    (a, b, proxy)
}

/// What a command-line run printed.
#[derive(Debug)]
pub struct CliOut {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// An organization with its owner.
pub struct Org {
    pub id: String,
    pub owner: Access,
}

/// Runs a service call to completion from synchronous test code (its own thread and runtime, so
/// it works inside a test's runtime too).
pub fn blocking<T: Send>(f: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|s| s.spawn(|| actix_web::rt::System::new().block_on(f)).join().expect("service call"))
}

impl TestApp {
    pub fn create_org(&self, name: &str, domain: Option<&str>, owner_email: &str) -> Org {
        let new = NewOrg {
            name: name.into(),
            domain: domain.map(|d| Domain::parse(d).expect("domain")),
            owner_email: Email::parse(owner_email).expect("email"),
            provisioner: false,
            credits: None,
        };
        let owner = blocking(organizations::create(&self.ctx, new)).expect("org created");
        Org { id: owner.org_id.to_string(), owner }
    }

    /// A provision made `ago` in the past by the owner of `org` (through a copy of the services
    /// whose clock is that far behind): it expires that much earlier than one made now.
    pub fn provision_made_ago(
        &self,
        org: &Org,
        ago: Duration,
        role: ProvisionRole,
    ) -> provisioning::Provisioned {
        let mut past = self.ctx.clone();
        past.clock = self.clock.behind(ago);
        let actor =
            Actor::person(UserId::parse(org.owner.user_id.as_str()).unwrap(), OrgId::parse(&org.id).unwrap());
        let input = ProvisionInput { role, skip_onboarding: true };
        blocking(provisioning::provision(&past, actor, &Client::default(), input)).expect("provisioned")
    }

    /// Runs the real binary's command line against this server's database, as an operator
    /// would while the server runs; `stdin` is piped in when given.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> CliOut {
        let out = binary::run(
            binary::command()
                .env("DATABASE_PATH", &self.db_path)
                .env("DATABASE_URL", self.settings.database_url.as_deref().unwrap_or(""))
                .env("KEY_PREFIX", &self.settings.key_prefix)
                .args(args),
            stdin,
            binary::COMMAND_TIMEOUT,
        );
        CliOut {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    pub fn add_member(&self, org: &Org, email: &str, role: Role) -> Access {
        let email = Email::parse(email).expect("email");
        blocking(organizations::add_member(&self.ctx, org.id.clone(), email, role, false))
            .expect("member added")
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.expect("body read");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(key), None).await
    }

    /// Every page of a list at `path` (whose query names the limit), following `nextCursor` until
    /// it is null: the `field` items of each page, in order.
    pub async fn pages(&self, path: &str, key: &str, field: &str) -> Vec<Vec<Value>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                None => path.to_string(),
                Some(c) => format!("{path}&cursor={c}"),
            };
            let (status, page) = self.get(&url, key).await;
            assert_eq!(status, StatusCode::OK, "{url}: {page}");
            pages.push(page[field].as_array().unwrap_or_else(|| panic!("no {field}: {page}")).clone());
            assert!(pages.len() < 10_000, "{path}: the list ends (a cursor that never runs out would loop)");
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => {
                    assert!(page["nextCursor"].is_null(), "nextCursor is null on the last page: {page}");
                    return pages;
                }
            }
        }
    }

    /// `POST /v1/provisions/claim` with an API key.
    pub async fn claim_with_key(&self, key: &str, token: &str) -> (StatusCode, Value) {
        self.post("/v1/provisions/claim", key, serde_json::json!({ "token": token })).await
    }

    /// A POST with an `Idempotency-Key` (and `X-User-ID`, which only create-user reads).
    pub async fn post_idem(&self, path: &str, key: &str, idem: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .header("Idempotency-Key", idem)
            .header("X-User-ID", "owner@a.com")
            .json(&body)
            .send()
            .await
            .expect("request sent");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A POST with the key and no body at all, as `curl -X POST` sends it: the whole response.
    pub async fn post_bare(&self, path: &str, key: &str) -> reqwest::Response {
        self.client.post(format!("{}{path}", self.base)).bearer_auth(key).send().await.expect("request sent")
    }

    /// `POST /api/v1/admin/create-user` as an orchestrator sends it: the key as `X-API-Key`, and
    /// `X-User-ID` when given. The whole response, for callers that look at its headers.
    pub async fn create_user_raw(&self, key: &str, user_id: Option<&str>, body: Value) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}/api/v1/admin/create-user", self.base))
            .header("X-API-Key", key)
            .json(&body);
        if let Some(u) = user_id {
            req = req.header("X-User-ID", u);
        }
        req.send().await.expect("request sent")
    }

    /// `create_user_raw`, as status and JSON body.
    pub async fn create_user(&self, key: &str, user_id: Option<&str>, body: Value) -> (StatusCode, Value) {
        let res = self.create_user_raw(key, user_id, body).await;
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Provisions with defaults and asserts success; returns the 201 body.
    pub async fn provision(&self, key: &str) -> Value {
        let (status, body) = self.post("/v1/team/provisions", key, serde_json::json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// A number from the database, for assertions on what is (no longer) stored.
    pub fn count(&self, sql: &str, param: impl AsRef<str>) -> i64 {
        let param = param.as_ref();
        self.db.read_blocking(|c| c.value(sql, &[&param])).expect("count query")
    }

    /// A number from the database, for a query about a blob (a hash).
    pub fn count_blob(&self, sql: &str, blob: &[u8]) -> i64 {
        self.db.read_blocking(|c| c.value(sql, &[&blob])).expect("count query")
    }

    /// Whether the data at rest contains `needle`: SQLite's file and its WAL, byte for byte;
    /// PostgreSQL's tables as `pg_dump` writes them out (a BYTEA value as its hex).
    pub fn at_rest_contains(&self, needle: &[u8]) -> bool {
        let contains = |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
        match &self.settings.database_url {
            None => {
                let mut bytes = Vec::new();
                for suffix in ["", "-wal"] {
                    let mut path = self.db_path.clone().into_os_string();
                    path.push(suffix);
                    if let Ok(b) = std::fs::read(&path) {
                        bytes.extend(b);
                    }
                }
                assert!(bytes.len() > 4096, "read the database");
                contains(&bytes, needle)
            }
            Some(url) => {
                let cluster = pg::cluster();
                let dump = std::process::Command::new(cluster.bin_dir.join("pg_dump"))
                    .args(["--data-only", "-h"])
                    .arg(&cluster.socket_dir)
                    .args(["-p", &cluster.port.to_string(), "-U", "postgres", &pg::db_name_of(url)])
                    .output()
                    .expect("pg_dump runs");
                assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
                assert!(dump.stdout.len() > 1000, "dumped the database");
                let hex: String = needle.iter().map(|b| format!("{b:02x}")).collect();
                contains(&dump.stdout, needle) || contains(&dump.stdout, hex.as_bytes())
            }
        }
    }

    /// Rows whose link (user, project) points at nothing: must always be 0.
    pub fn dangling(&self) -> i64 {
        let sql = "SELECT (SELECT COUNT(*) FROM memberships m WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.n = m.user_n))
                        + (SELECT COUNT(*) FROM api_keys k WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.n = k.user_n))
                        + (SELECT COUNT(*) FROM api_keys k WHERE NOT EXISTS (SELECT 1 FROM projects j WHERE j.n = k.project_n))
                        + (SELECT COUNT(*) FROM projects j WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.n = j.user_n))
                        + (SELECT COUNT(*) FROM agents a WHERE NOT EXISTS (SELECT 1 FROM projects j WHERE j.n = a.project_n))";
        self.db.read_blocking(|c| c.value(sql, &[])).expect("dangling query")
    }

    pub fn sweep(&self) -> usize {
        maintenance::sweep(&self.ctx, self.clock.now()).expect("sweep")
    }
}

/// Asserts the contract's error body: status, `type`, `code`, and a non-empty message.
#[track_caller]
pub fn assert_error(got: (StatusCode, Value), status: u16, code: &str) {
    let (s, body) = got;
    assert_eq!(s.as_u16(), status, "status for {body}");
    let e = &body["error"];
    assert_eq!(e["code"], code, "code in {body}");
    let expected_type = match status {
        400 | 405 | 413 | 415 => "invalid_request_error",
        401 => "authentication_error",
        402 => "credits_error",
        403 => "permission_error",
        404 => "not_found_error",
        409 => "conflict_error",
        _ => "api_error",
    };
    assert_eq!(e["type"], expected_type, "type in {body}");
    assert!(e["message"].as_str().is_some_and(|m| m.len() > 10), "message in {body}");
}

#[track_caller]
pub fn assert_uuid(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    let u = uuid::Uuid::parse_str(s).unwrap_or_else(|_| panic!("not a UUID: {s}"));
    assert_eq!(u.get_version_num(), 4, "not v4: {s}");
    assert_eq!(u.to_string(), s, "not canonical lowercase: {s}");
}

impl TestApp {
    /// A key as this server issues them: its configured prefix and 64 lowercase hex characters.
    #[track_caller]
    pub fn assert_key(&self, v: &Value) {
        let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
        let prefix = &self.settings.key_prefix;
        let hex = s.strip_prefix(prefix.as_str()).unwrap_or_else(|| panic!("no {prefix} prefix: {s}"));
        assert_eq!(hex.len(), 64, "{s}");
        assert!(hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')), "{s}");
    }
}

/// `2026-11-29T20:15:03.123Z`; returns the instant in ms.
#[track_caller]
pub fn assert_timestamp(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    assert_eq!(s.len(), 24, "{s}");
    assert!(s.ends_with('Z') && s.as_bytes()[19] == b'.', "{s}");
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|_| panic!("not RFC 3339: {s}")).timestamp_millis()
}

/// A server started outside this process (tests/api/secrets_in_logs.rs).
pub struct ExternalApp {
    pub base: String,
    pub port: u16,
}

/// A browser-less web client: form posts with the session cookie carried by hand.
pub struct WebClient<'a> {
    base: &'a str,
    pub cookie: Option<String>,
    /// The loopback address requests come from (127.0.0.1 unless set): another address is
    /// another client as far as the server's per-client limits go.
    from: Option<std::net::IpAddr>,
}

pub struct WebResponse {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookie: Vec<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl<'a> WebClient<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        WebClient { base: &app.base, cookie: None, from: None }
    }

    pub fn external(app: &'a ExternalApp) -> Self {
        WebClient { base: &app.base, cookie: None, from: None }
    }

    /// A client whose requests come from another loopback address (e.g. 127.0.0.2).
    pub fn from_address(app: &'a TestApp, ip: &str) -> Self {
        WebClient { base: &app.base, cookie: None, from: Some(ip.parse().unwrap()) }
    }

    fn no_redirects(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(self.from)
            .build()
            .unwrap()
    }

    async fn finish(&mut self, res: reqwest::Response) -> WebResponse {
        let status = res.status();
        let headers = res.headers().clone();
        let location = headers.get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
        let set_cookie: Vec<String> = headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect();
        for c in &set_cookie {
            let pair = c.split(';').next().unwrap_or("").to_string();
            if pair.starts_with("provisiond_session=") {
                self.cookie = if pair == "provisiond_session=" { None } else { Some(pair) };
            }
        }
        let body = res.text().await.unwrap();
        WebResponse { status, location, set_cookie, headers, body }
    }

    pub async fn get(&mut self, path: &str) -> WebResponse {
        let mut req = self.no_redirects().get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let res = req.send().await.unwrap();
        self.finish(res).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> WebResponse {
        self.post_with(path, form, &[]).await
    }

    pub async fn post_with(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> WebResponse {
        let mut req = self.no_redirects().post(format!("{}{path}", self.base)).form(form);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        self.finish(res).await
    }

    /// Signs up on a server where anyone may (`SIGNUP=open`): the form says to check the mail
    /// (whatever the address), then the new account logs in, its address not yet verified.
    pub async fn signup(&mut self, email: &str, password: &str) -> WebResponse {
        let r = self.post("/signup", &[("email", email), ("password", password)]).await;
        assert_eq!(r.status, StatusCode::OK, "sign-up: {}", r.body);
        assert!(r.body.contains("Check your email"), "sign-up: {}", r.body);
        let r = self.login(email, password).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "log-in after sign-up: {}", r.body);
        r
    }

    /// Signs up through the claim link of `provision` (the default `SIGNUP=claim` allows only
    /// that); lands back on the claim page, signed in, not claimed yet. Where anyone may sign up
    /// (`SIGNUP=open`) the form only says to check the mail; the new account then logs in.
    pub async fn signup_claiming(&mut self, provision: &Value, email: &str, password: &str) -> WebResponse {
        let back = format!("/claim?token={}", claim_token(provision));
        let mut r = self.post("/signup", &[("email", email), ("password", password), ("next", &back)]).await;
        if r.status == StatusCode::OK && r.body.contains("Check your email") {
            r = self.post("/login", &[("email", email), ("password", password), ("next", &back)]).await;
        }
        assert_eq!(r.status, StatusCode::SEE_OTHER, "sign-up: {}", r.body);
        assert_eq!(r.location.as_deref(), Some(back.as_str()));
        r
    }

    /// Claims `provision` with the claim page's button, signed in.
    pub async fn claim(&mut self, provision: &Value) -> WebResponse {
        let page = format!("/claim?token={}", claim_token(provision));
        let csrf = self.csrf(&page).await;
        self.post("/claim", &[("token", &claim_token(provision)), ("csrf", &csrf)]).await
    }

    pub async fn login(&mut self, email: &str, password: &str) -> WebResponse {
        self.post("/login", &[("email", email), ("password", password)]).await
    }

    /// The CSRF token the page at `path` puts into its forms.
    pub async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        let marker = "name=\"csrf\" value=\"";
        let start = page.body.find(marker).unwrap_or_else(|| panic!("no csrf on {path}: {}", page.body))
            + marker.len();
        page.body[start..start + 32].to_string()
    }
}

impl TestApp {
    /// A person with a password, owning a new organization; returns (org, password).
    pub fn org_with_password(&self, name: &str, email: &str, password: &str) -> Org {
        let org = self.create_org(name, None, email);
        self.set_password(email, password);
        org
    }

    /// Gives the account at `email` a password, as an operator would.
    pub fn set_password(&self, email: &str, password: &str) {
        let email = Email::parse(email).unwrap();
        blocking(accounts::set_password_by_operator(&self.ctx, &email, password.into()))
            .expect("password set");
    }
}

/// A JSON string's text (the test fails on anything else).
pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

pub fn claim_token(provision: &Value) -> String {
    let url = provision["claimUrl"].as_str().unwrap();
    url[url.len() - 64..].to_string()
}
