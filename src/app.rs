//! Startup: settings to a running server. Opens the database, builds the services, starts the
//! background jobs and binds the listener (port 0 in tests). Nothing here decides a rule.

use crate::clock::Clock;
use crate::config::Settings;
use crate::db::Db;
use crate::domain::Email;
use crate::http::error::json_error_net;
use crate::http::{wire, AppState};
use crate::jobs::{Cleanup, Webhooks};
use crate::mail::Mailer;
use crate::metrics::{MethodLabel, Metrics};
use crate::service::organizations::{self, NewOrg};
use crate::service::{maintenance, Ctx};
use crate::{routes, web as pages};
use actix_web::dev::Service as _;
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::ErrorHandlers;
use actix_web::{web, App};
use std::net::TcpListener;
use std::sync::Arc;

pub struct Application {
    server: Server,
    port: u16,
    ctx: Ctx,
    cleanup: Cleanup,
    webhooks: Webhooks,
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
        let mailer = match &settings.smtp_url {
            Some(url) => Mailer::start(url, &settings.mail_from)?,
            None => Mailer::disabled(),
        };
        // This application's own registry (a test's servers do not count into each other's),
        // or nothing at all when METRICS is off.
        let metrics = if settings.metrics { Metrics::on() } else { Metrics::off() };
        let db = Db::open_with_metrics(&settings.db(), true, metrics.clone())?;
        let mut ctx = Ctx::new(db, clock, settings.rules(), mailer);
        match settings.server_key()? {
            Some(key) => ctx = ctx.with_server_key(key),
            None => log::warn!(
                "webhooks are off: with DATABASE_URL set SECRET_KEY or SECRET_KEY_FILE, the same on every replica (make one with `openssl rand -hex 32`)"
            ),
        }
        if settings.bootstrap {
            bootstrap(&ctx, &settings)?;
        }
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let cleanup = Cleanup::spawn(ctx.clone(), settings.cleanup_interval)
            .map_err(|e| format!("cannot start the cleanup thread: {e}"))?;
        let webhooks = Webhooks::spawn(ctx.clone())
            .map_err(|e| format!("cannot start the webhook delivery thread: {e}"))?;

        let workers = settings.workers;
        let state = web::Data::new(AppState { ctx: ctx.clone(), settings: Arc::new(settings) });
        let server = wire::serve(listener, workers, 10, move || {
            let (metrics, route_metrics) = (metrics.clone(), metrics.is_on());
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(crate::http::json::MAX_BODY))
                .wrap(ErrorHandlers::new().default_handler(json_error_net))
                .app_data(pages::form_config())
                // Where each request came from, for the audit rows its changes write; its id,
                // echoed and in its log lines; its access log line and metrics.
                .wrap_fn(move |req, srv| {
                    let origin = crate::http::origin(req.request());
                    let id = crate::http::request_id_of(req.request());
                    let method = req.method().clone();
                    // The access line's path and peer, copied only when it is written (not with
                    // RUST_LOG=warn): formatting an address per request showed in the profile
                    // of a cached read (docs/performance.md).
                    let access = log::log_enabled!(target: "access", log::Level::Info).then(|| {
                        let peer = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
                        (req.path().to_string(), peer)
                    });
                    let started = std::time::Instant::now();
                    let metrics = metrics.clone();
                    let handled = srv.call(req);
                    let scoped = origin.scope(pages::session::with_page_session(handled));
                    crate::http::with_request_id(id.clone(), async move {
                        let mut res = scoped.await?;
                        let elapsed = started.elapsed();
                        let status = res.status().as_u16();
                        if metrics.is_on() {
                            // The route's template, never the path itself: ids and tokens stay
                            // out of the labels, and their number stays bounded.
                            let route = res.request().match_pattern();
                            let label = MethodLabel::of(method.as_str());
                            metrics.request(label, route.as_deref(), status, elapsed);
                        }
                        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&id) {
                            res.headers_mut()
                                .insert(actix_web::http::header::HeaderName::from_static("x-request-id"), v);
                        }
                        // Method and path only: no headers (keys) and no query string (claim tokens).
                        if let Some((path, peer)) = access {
                            log::info!(
                                target: "access",
                                "{peer} {method} {path} {status} {}ms rid={id}",
                                elapsed.as_millis()
                            );
                        }
                        Ok(res)
                    })
                })
                .service(crate::openapi::get)
                .configure(|cfg| {
                    routes::configure(&mut utoipa_actix_web::service_config::ServiceConfig::new(cfg))
                })
                .configure(|cfg| {
                    if route_metrics {
                        routes::metrics::configure(cfg)
                    }
                })
                // The pages (and their stylesheet and script) compressed for browsers that ask;
                // the API's answers, on every agent's hot path, are left as they are.
                .service(
                    web::scope("")
                        .wrap(actix_web::middleware::Compress::default())
                        .configure(pages::configure),
                )
                .default_service(web::to(not_found))
        })
        .map_err(|e| format!("cannot serve on {port}: {e}"))?;
        Ok(Application { server, port, ctx, cleanup, webhooks })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The services this server runs on (tests reach the database and clock through it).
    pub fn ctx(&self) -> Ctx {
        self.ctx.clone()
    }

    /// Stops the server gracefully: no new connections, requests in flight answered.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped; in-flight requests finish, then the sweep stops and the database is
    /// made complete on its own (key uses written, WAL checkpointed).
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let result = self.server.await;
        self.cleanup.stop();
        self.webhooks.stop();
        maintenance::shut_down(&self.ctx);
        log::info!("stopped");
        result
    }
}

/// A path nothing serves: an HTML page for a browser (it asks for text/html) outside the API's
/// prefixes; the API's JSON error for everyone else.
async fn not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    let path = req.path();
    if path == crate::scim::PREFIX || path.starts_with("/scim/v2/") {
        return crate::scim::unmatched(crate::openapi::allowed_methods(path));
    }
    let api = ["/v1/", "/api/"].iter().any(|p| path.starts_with(p)) || path == "/v1" || path == "/api";
    let browser = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if api || !browser {
        actix_web::ResponseError::error_response(&crate::openapi::unmatched(&req))
    } else {
        pages::not_found_page(req).await
    }
}

/// On an empty database, creates one organization and its owner, and prints the owner's key
/// once on standard output (never to the log).
fn bootstrap(ctx: &Ctx, settings: &Settings) -> Result<(), String> {
    let email = Email::parse(&settings.bootstrap_email).map_err(|e| format!("BOOTSTRAP_EMAIL: {e}"))?;
    let new = NewOrg {
        name: settings.bootstrap_org.clone(),
        domain: None,
        owner_email: email,
        provisioner: false,
        credits: None,
    };
    let created = organizations::bootstrap(ctx, new)
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
