//! Builds the server: database, routes, the cleanup thread; binds the listener (port 0 in tests).

use crate::cleanup::Cleanup;
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::Db;
use crate::domain::Email;
use crate::error::json_error_net;
use crate::mail::{Mailer, Outgoing};
use crate::ratelimit::RateLimit;
use crate::web::throttle::LoginThrottle;
use crate::{ops, routes, store};
use actix_web::dev::Server;
use actix_web::middleware::{Condition, ErrorHandlers, Logger};
use actix_web::{web, App, HttpServer};
use std::net::TcpListener;
use std::sync::Arc;

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub clock: Clock,
    pub throttle: LoginThrottle,
    /// Per API key or signed-in person.
    pub provision_limit: RateLimit,
    /// Per client address: four times the per-key rate, so several callers behind one address
    /// are not starved by one another, while one address still cannot flood.
    pub provision_ip_limit: RateLimit,
    /// Tries at the sign-in forms (log-in, sign-up, password reset, claim, verification), per
    /// form and client address.
    pub form_limit: RateLimit,
    pub mailer: Mailer,
    /// Dashboard provisioning results waiting to be shown once.
    pub shown: crate::web::team::ShowOnce,
}

impl AppState {
    /// Provisions a user in `org_id` on behalf of `by` (the API and the dashboard both come here).
    pub async fn provision(
        &self,
        org_id: &str,
        by: &str,
        role: crate::domain::ProvisionRole,
        skip_onboarding: bool,
    ) -> Result<crate::ops::Provisioned, crate::error::ApiError> {
        let s = crate::ops::ProvisionSettings {
            key_prefix: &self.settings.key_prefix,
            ttl: self.settings.provision_ttl,
        };
        let plan = crate::ops::ProvisionPlan::new(org_id, by, role, skip_onboarding, &s, self.clock.now())?;
        self.db
            .write(move |tx| {
                tx.keeps_keys();
                plan.apply(tx)
            })
            .await
    }

    pub fn claim_url(&self, token: &str) -> String {
        format!("{}/claim?token={token}", self.settings.public_url)
    }

    /// Mails a link, worked out on the mail thread by `issue` (one write), pointing at `path`.
    /// The request does not wait for the database or the mail server, so it takes the same time
    /// whether or not anything is sent. False when mail is off or its queue is full.
    pub fn mail_link<F>(&self, kind: LinkMail, issue: F) -> bool
    where
        F: FnOnce(&crate::db::Tx) -> Result<Option<ops::MailLink>, crate::error::ApiError> + Send + 'static,
    {
        let db = self.db.clone();
        let base = self.settings.public_url.clone();
        self.mailer.submit(Box::new(move || {
            let link = match db.write_queued(move |tx| {
                tx.keeps_keys();
                issue(tx)
            }) {
                Ok(Some(link)) => link,
                Ok(None) => return None,
                Err(e) => {
                    log::warn!("no mail: the link could not be stored: {e}");
                    return None;
                }
            };
            Some(kind.mail(&base, link))
        }))
    }

    /// One more try at a sign-in form (`form` names it) from this client, or 429 seconds.
    pub fn allow_form(&self, form: &str, req: &actix_web::HttpRequest) -> Result<(), u64> {
        self.form_limit.take(&format!("{form}:{}", client_ip(req)), self.clock.now())
    }

    /// One more provision for this caller and this client address, or 429 with Retry-After.
    /// Nothing is spent when either is out.
    pub fn allow_provision(
        &self,
        who: &str,
        req: &actix_web::HttpRequest,
    ) -> Result<(), crate::error::ApiError> {
        let (ip, now) = (client_ip(req), self.clock.now());
        self.provision_limit.peek(who, now).map_err(crate::error::ApiError::too_many_requests)?;
        self.provision_ip_limit.peek(&ip, now).map_err(crate::error::ApiError::too_many_requests)?;
        self.provision_limit.take(who, now).map_err(crate::error::ApiError::too_many_requests)?;
        self.provision_ip_limit.take(&ip, now).map_err(crate::error::ApiError::too_many_requests)
    }
}

/// The mails with links in them.
#[derive(Clone, Copy)]
pub enum LinkMail {
    Verify,
    Reset,
}

impl LinkMail {
    fn mail(self, base: &str, link: ops::MailLink) -> Outgoing {
        let (subject, body) = match self {
            LinkMail::Verify => (
                "Confirm your email address",
                format!(
                    "Confirm that this address is yours by opening this link (it works for 24 hours):\n\n\
                     {base}/verify?token={}\n\n\
                     If you did not sign up at {base}, ignore this mail.\n",
                    link.token
                ),
            ),
            LinkMail::Reset => (
                "Reset your password",
                format!(
                    "Someone asked to reset the password of your account at {base}. To choose a new \
                     password, open this link within one hour:\n\n\
                     {base}/password/reset?token={}\n\n\
                     If it was not you, ignore this mail: your password stays as it is.\n",
                    link.token
                ),
            ),
        };
        Outgoing { to: link.email, subject: subject.into(), body }
    }
}

/// The connecting address. Behind a reverse proxy that is the proxy: limits then apply to all
/// clients together (documented in the README).
pub fn client_ip(req: &actix_web::HttpRequest) -> String {
    req.peer_addr().map(|a| format!("ip:{}", a.ip())).unwrap_or_else(|| "ip:unknown".into())
}

pub struct Application {
    server: Server,
    port: u16,
    db: Db,
    clock: Clock,
    cleanup: Cleanup,
}

impl Application {
    pub fn build(settings: Settings) -> Result<Application, String> {
        Self::build_with_clock(settings, Clock::default())
    }

    /// As `build`, with the clock the server and its sweep read (tests move it forward).
    pub fn build_with_clock(settings: Settings, clock: Clock) -> Result<Application, String> {
        let listener = TcpListener::bind(&settings.bind).map_err(|e| {
            format!("cannot listen on {}: {e}; set BIND to a free address and port", settings.bind)
        })?;
        Self::build_on(settings, clock, listener)
    }

    /// As `build_with_clock`, on a listener bound beforehand (so a test can put its real port
    /// into `PUBLIC_URL`). `BIND` is not used.
    pub fn build_on(
        mut settings: Settings,
        clock: Clock,
        listener: TcpListener,
    ) -> Result<Application, String> {
        settings.validate()?;
        let db = Db::open_with(&settings.database_path, settings.synchronous)?;
        if settings.bootstrap {
            bootstrap(&db, &settings, &clock)?;
        }
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let cleanup = Cleanup::spawn(db.clone(), clock.clone(), settings.cleanup_interval)
            .map_err(|e| format!("cannot start the cleanup thread: {e}"))?;

        let workers = settings.workers;
        let (provision_rate, login_rate) = (settings.provision_rate_limit, settings.login_rate_limit);
        let mailer = match &settings.smtp_url {
            Some(url) => Mailer::start(url, &settings.mail_from)?,
            None => Mailer::disabled(),
        };
        let state = web::Data::new(AppState {
            db: db.clone(),
            settings: Arc::new(settings),
            clock: clock.clone(),
            throttle: LoginThrottle::default(),
            provision_limit: RateLimit::new(provision_rate),
            provision_ip_limit: RateLimit::new(provision_rate.saturating_mul(4)),
            form_limit: RateLimit::new(login_rate),
            mailer,
            shown: Default::default(),
        });
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(routes::body::MAX_BODY))
                .wrap(ErrorHandlers::new().default_handler(json_error_net))
                // Method and path only: no headers (keys) and no query string (claim tokens).
                // No per-request logging work at all when the level hides it.
                .wrap(Condition::new(
                    log::log_enabled!(target: "actix_web::middleware::logger", log::Level::Info),
                    Logger::new("%a %{method}xi %U %s %b %Dms")
                        .custom_request_replace("method", |req| req.method().to_string()),
                ))
                .app_data(crate::web::form_config())
                .configure(routes::configure)
                .configure(crate::web::configure)
                .default_service(web::to(routes::not_found))
        })
        .shutdown_timeout(10);
        if workers > 0 {
            server = server.workers(workers);
        }
        let server = server.listen(listener).map_err(|e| format!("cannot serve on {port}: {e}"))?.run();
        Ok(Application { server, port, db, clock, cleanup })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn db(&self) -> Db {
        self.db.clone()
    }

    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    /// Serves until SIGINT/SIGTERM; in-flight requests finish, then the sweep stops and the WAL
    /// is checkpointed so the database file alone is complete.
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let result = self.server.await;
        self.cleanup.stop();
        if let Err(e) = self.db.flush_key_usage() {
            log::warn!("could not record API key use at shutdown: {e}");
        }
        if let Err(e) = self.db.checkpoint() {
            log::warn!("WAL checkpoint at shutdown failed: {e}");
        }
        log::info!("stopped");
        result
    }
}

/// On an empty database, creates one organization and its owner, and prints the owner's key
/// once on standard output (never to the log).
fn bootstrap(db: &Db, settings: &Settings, clock: &Clock) -> Result<(), String> {
    let email = Email::parse(&settings.bootstrap_email).map_err(|e| format!("BOOTSTRAP_EMAIL: {e}"))?;
    let created = db
        .write_blocking(|tx| {
            if store::orgs::count_orgs(tx)? > 0 {
                return Ok(None);
            }
            let new = ops::NewOrg {
                name: settings.bootstrap_org.clone(),
                domain: None,
                owner_email: email,
                provisioner: false,
                credits: None,
            };
            ops::create_org(tx, &settings.key_prefix, &new, clock.now()).map(Some)
        })
        .map_err(|e| format!("cannot create the first organization: {e}"))?;
    if let Some(a) = created {
        println!(
            "\nprovisiond: created organization '{}' ({}) with owner {}.\n\
             Owner API key (shown once; store it now):\n\n    {}\n",
            settings.bootstrap_org, a.org_id, settings.bootstrap_email, a.api_key
        );
    }
    Ok(())
}
