//! The command line: one function per command, each opening the database, calling one service
//! function, and printing its result in an operator's words.

use crate::app::Application;
use crate::config::{Settings, StoreArgs, DEFAULT_BIND};
use crate::db::{Db, DbSettings};
use crate::domain::{Credits, Domain, Email, Role};
use crate::mail::Mailer;
use crate::service::organizations::{self, NewOrg};
use crate::service::{accounts, audit, credits, maintenance, members, Ctx};
use clap::{Parser, Subcommand};
use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "provisiond",
    version,
    about = "Provisions users, projects and API keys for AI-agent platforms.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// With no command, the server runs with these settings (see `provisiond serve --help`).
    #[command(flatten)]
    serve: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(Box<Settings>),
    /// Manage organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Manage people in an organization.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage organizations' credit pools.
    Credits {
        #[command(subcommand)]
        command: CreditsCommand,
    },
    /// Read the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Remove expired provisions, mailed links and sessions now, then exit.
    Cleanup {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Exit 0 if the server at BIND answers /healthz with 200 (for container health checks).
    Healthcheck {
        /// The address the server listens on.
        #[arg(long, env = "BIND", default_value = DEFAULT_BIND)]
        bind: String,
    },
    /// Copy a SQLite database into an empty PostgreSQL one (DATABASE_URL), every row checked;
    /// then run the server with DATABASE_URL. Stop the server on the SQLite file first.
    MigrateToPostgres {
        /// The SQLite database file to copy from.
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL database to copy into: postgres://user:password@host:5432/db.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// Copy the database to FILE with SQLite's online backup (safe while the server runs). On
    /// PostgreSQL, use pg_dump.
    Backup {
        /// Where the copy goes.
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization and its owner; prints the owner's API key once. Creates the
    /// database when there is none yet.
    Create {
        /// The organization's name, as people will read it.
        #[arg(long)]
        name: String,
        /// Email domain for orchestrator provisioning (e.g. orchestrator.com).
        #[arg(long)]
        domain: Option<String>,
        /// The owner's email (an existing account must have a verified address).
        #[arg(long)]
        owner_email: String,
        /// Let the owner create API-only users on the organization's domain.
        #[arg(long)]
        provisioner: bool,
        /// Opening grant to the organization's credit pool (up to 3 decimals).
        #[arg(long, allow_hyphen_values = true)]
        credits: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Set the email domain that orchestrator-created users are mapped onto.
    SetDomain {
        /// Organization id, domain or name.
        #[arg(long)]
        org: String,
        /// The domain, e.g. orchestrator.com.
        #[arg(long)]
        domain: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print an organization's audit log as NDJSON (one JSON object per line, oldest first),
    /// e.g. `provisiond audit export --org acme.com --since 30d > audit.ndjson`.
    Export {
        /// Organization id, domain or name.
        #[arg(long)]
        org: String,
        /// From this time on: an RFC 3339 time (2026-11-01T00:00:00Z) or how long ago (30d, 12h).
        #[arg(long)]
        since: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum CreditsCommand {
    /// Add credits to an organization's pool.
    Grant {
        /// Organization id, domain or name.
        #[arg(long)]
        org: String,
        /// Credits to add (up to 3 decimals), e.g. 100 or 2.5.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// Why, for the ledger.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a person to an organization with their own project; prints their API key once.
    Add {
        /// Organization id, domain or name.
        #[arg(long)]
        org: String,
        /// The person's email (an existing account must have a verified address).
        #[arg(long)]
        email: String,
        /// owner, admin or member.
        #[arg(long, default_value = "member")]
        role: String,
        /// Let them create API-only users on the organization's domain.
        #[arg(long)]
        provisioner: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Set a person's web password, read from the first line of standard input. Every session
    /// of theirs ends.
    SetPassword {
        /// The person's email.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Vouch that an email address belongs to the account that has it (marks it verified).
    Verify {
        /// The account's email.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Turn a member's provisioner access (the orchestrator endpoint) on or off.
    Provisioner {
        /// Organization id, domain or name.
        #[arg(long)]
        org: String,
        /// The member's email or user id.
        #[arg(long)]
        user: String,
        /// on or off.
        #[arg(value_parser = ["on", "off"])]
        state: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Set a member's role; the organization's last owner cannot be demoted. Their keys act
    /// with the new role from their next request.
    Role {
        /// Organization id, domain or name.
        #[arg(long)]
        org: String,
        /// The member's email (verified) or user id.
        #[arg(long)]
        user: String,
        /// owner, admin or member.
        #[arg(value_parser = ["owner", "admin", "member"])]
        role: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a member from an organization and revoke every key they hold there; the last
    /// owner cannot be removed.
    Remove {
        /// Organization id, domain or name.
        #[arg(long)]
        org: String,
        /// The member's email or user id.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Runs the command; the error is the sentence to print.
pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command.unwrap_or(Command::Serve(Box::new(cli.serve))) {
        Command::Serve(settings) => serve(*settings),
        Command::Healthcheck { bind } => healthcheck(&bind),
        Command::Org {
            command: OrgCommand::Create { name, domain, owner_email, provisioner, credits, store },
        } => org_create(&store, name, domain, owner_email, provisioner, credits),
        Command::Org { command: OrgCommand::SetDomain { org, domain, store } } => {
            org_set_domain(&store, org, domain)
        }
        Command::User { command: UserCommand::Add { org, email, role, provisioner, store } } => {
            user_add(&store, org, email, role, provisioner)
        }
        Command::User { command: UserCommand::SetPassword { email, store } } => {
            user_set_password(&store, email)
        }
        Command::User { command: UserCommand::Verify { email, store } } => user_verify(&store, email),
        Command::User { command: UserCommand::Provisioner { org, user, state, store } } => {
            user_provisioner(&store, org, user, state == "on")
        }
        Command::User { command: UserCommand::Role { org, user, role, store } } => {
            user_role(&store, org, user, role)
        }
        Command::User { command: UserCommand::Remove { org, user, store } } => user_remove(&store, org, user),
        Command::Credits { command: CreditsCommand::Grant { org, amount, reason, store } } => {
            credits_grant(&store, org, amount, reason)
        }
        Command::Audit { command: AuditCommand::Export { org, since, store } } => {
            audit_export(&store, org, since)
        }
        Command::Cleanup { store } => cleanup(&store),
        Command::Backup { file, store } => backup(&store, file),
        Command::MigrateToPostgres { from, database_url } => migrate_to_postgres(from, database_url),
    }
}

/// The services on the configured database, for one command. Only `org create` may make a new
/// database; every other command refuses a missing one, naming where it looked.
fn services(store: &StoreArgs, create: bool) -> Result<Ctx, String> {
    let db = Db::open(&store.db(), create)?;
    Ok(Ctx::new(db, Default::default(), store.rules(), Mailer::disabled()))
}

/// Runs one service call to completion.
fn block_on<T>(f: impl Future<Output = crate::error::Result<T>>) -> Result<T, String> {
    actix_web::rt::System::new().block_on(f).map_err(|e| e.to_string())
}

fn org_create(
    store: &StoreArgs,
    name: String,
    domain: Option<String>,
    owner_email: String,
    provisioner: bool,
    credits: Option<String>,
) -> Result<(), String> {
    let domain = domain.map(|d| Domain::parse(&d)).transpose().map_err(|e| format!("--domain: {e}"))?;
    let owner_email = Email::parse(&owner_email).map_err(|e| format!("--owner-email: {e}"))?;
    let credits = credits.map(|c| Credits::parse(&c)).transpose().map_err(|e| format!("--credits: {e}"))?;
    let ctx = services(store, true)?;
    let new = NewOrg { name, domain, owner_email, provisioner, credits };
    let a = block_on(organizations::create(&ctx, new))?;
    println!(
        "organization {}\nowner user {}\nproject {}\nowner API key (shown once): {}",
        a.org_id, a.user_id, a.project_id, a.api_key
    );
    Ok(())
}

fn audit_export(store: &StoreArgs, org: String, since: Option<String>) -> Result<(), String> {
    let ctx = services(store, false)?;
    let since = match since.as_deref().map(str::trim) {
        None => None,
        Some(text) => Some(match chrono::DateTime::parse_from_rfc3339(text) {
            Ok(t) => t.timestamp_millis(),
            Err(_) => {
                let ago = humantime::parse_duration(text).map_err(|_| {
                    format!("--since '{text}' is neither an RFC 3339 time (2026-11-01T00:00:00Z) nor a duration (30d)")
                })?;
                ctx.now() - i64::try_from(ago.as_millis()).unwrap_or(i64::MAX / 2)
            }
        }),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let n = audit::export(&ctx, &org, since, |entry| {
        serde_json::to_writer(&mut out, &audit::entry_json(entry))?;
        out.write_all(b"\n")
    })
    .map_err(|e| e.to_string())?;
    out.flush().map_err(|e| format!("writing the export failed: {e}"))?;
    eprintln!("{n} audit rows exported");
    Ok(())
}

fn org_set_domain(store: &StoreArgs, org: String, domain: String) -> Result<(), String> {
    let domain = Domain::parse(&domain).map_err(|e| format!("--domain: {e}"))?;
    let ctx = services(store, false)?;
    let shown = domain.as_str().to_string();
    let id = block_on(organizations::set_domain(&ctx, org, domain))?;
    println!("domain of {id} set to {shown}");
    Ok(())
}

fn user_add(
    store: &StoreArgs,
    org: String,
    email: String,
    role: String,
    provisioner: bool,
) -> Result<(), String> {
    let email = Email::parse(&email).map_err(|e| format!("--email: {e}"))?;
    let role = Role::parse(&role).ok_or("--role must be owner, admin or member")?;
    let ctx = services(store, false)?;
    let a = block_on(organizations::add_member(&ctx, org, email, role, provisioner))?;
    println!("user {}\nproject {}\nAPI key (shown once): {}", a.user_id, a.project_id, a.api_key);
    Ok(())
}

fn user_set_password(store: &StoreArgs, email: String) -> Result<(), String> {
    let email = Email::parse(&email).map_err(|e| format!("--email: {e}"))?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read the password: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    let ctx = services(store, false)?;
    block_on(accounts::set_password_by_operator(&ctx, &email, password))?;
    println!("password set for {}; every session of theirs has ended", email.as_string());
    Ok(())
}

fn user_verify(store: &StoreArgs, email: String) -> Result<(), String> {
    let email = Email::parse(&email).map_err(|e| format!("--email: {e}"))?;
    let ctx = services(store, false)?;
    block_on(accounts::vouch(&ctx, &email))?;
    println!("{} is verified", email.as_string());
    Ok(())
}

fn user_provisioner(store: &StoreArgs, org: String, user: String, on: bool) -> Result<(), String> {
    let ctx = services(store, false)?;
    let shown = user.clone();
    block_on(organizations::set_provisioner_by_operator(&ctx, org, user, on))?;
    println!("provisioner access for {shown}: {}", if on { "on" } else { "off" });
    Ok(())
}

fn user_role(store: &StoreArgs, org: String, user: String, role: String) -> Result<(), String> {
    let role = Role::parse(&role).ok_or("the role must be owner, admin or member")?;
    let ctx = services(store, false)?;
    let m = block_on(members::set_role_by_operator(&ctx, org, user, role))?;
    println!("{} is now {}", m.email.unwrap_or_else(|| m.user_id.to_string()), m.role.as_str());
    Ok(())
}

fn user_remove(store: &StoreArgs, org: String, user: String) -> Result<(), String> {
    let ctx = services(store, false)?;
    let r = block_on(members::remove_by_operator(&ctx, org, user))?;
    let who = r.member.email.unwrap_or_else(|| r.member.user_id.to_string());
    let keys = if r.keys_revoked == 1 { "key" } else { "keys" };
    println!("{who} removed from the organization; {} API {keys} revoked", r.keys_revoked);
    Ok(())
}

fn credits_grant(
    store: &StoreArgs,
    org: String,
    amount: String,
    reason: Option<String>,
) -> Result<(), String> {
    let amount = Credits::parse(&amount).map_err(|e| format!("--amount: {e}"))?;
    let ctx = services(store, false)?;
    let b = block_on(credits::grant_by_operator(&ctx, org, amount, reason))?;
    println!("granted {amount}; pool: {} total, {} used, {} left", b.granted, b.used, b.left());
    Ok(())
}

fn cleanup(store: &StoreArgs) -> Result<(), String> {
    let ctx = services(store, false)?;
    let n = maintenance::sweep(&ctx, ctx.now()).map_err(|e| e.to_string())?;
    println!("removed {n} expired provisions");
    Ok(())
}

fn backup(store: &StoreArgs, file: PathBuf) -> Result<(), String> {
    let ctx = services(store, false)?;
    maintenance::backup(&ctx, &file).map_err(|e| format!("backup to {} failed: {e}", file.display()))?;
    println!("backed up {} to {}", ctx.db.location(), file.display());
    Ok(())
}

fn migrate_to_postgres(from: PathBuf, url: String) -> Result<(), String> {
    if url.trim().is_empty() {
        return Err("set DATABASE_URL to the PostgreSQL database to copy into".into());
    }
    let source = Db::open(&DbSettings { path: from, synchronous: Default::default(), url: None }, false)?;
    let dest = Db::open(
        &DbSettings { path: PathBuf::new(), synchronous: Default::default(), url: Some(url) },
        true,
    )?;
    let copied = maintenance::migrate_to_postgres(&source, &dest).map_err(|e| e.to_string())?;
    for (table, rows) in &copied.tables {
        println!("{table}: {rows} rows copied and checked");
    }
    println!(
        "done: {} holds everything {} held; start the server with DATABASE_URL",
        dest.location(),
        source.location()
    );
    Ok(())
}

/// Serves until SIGTERM or SIGINT (Ctrl-C); both stop gracefully: requests in flight are
/// answered, then the database is made complete on its own.
fn serve(settings: Settings) -> Result<(), String> {
    let bind = settings.bind.clone();
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings)?;
        log::info!("listening on {bind} (port {})", app.port());
        let handle = app.handle();
        actix_web::rt::spawn(async move {
            stop_signal().await;
            log::info!("stopping: answering the requests in flight first");
            handle.stop(true).await;
        });
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

/// The first SIGTERM or SIGINT.
async fn stop_signal() {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            log::error!("cannot listen for stop signals; stop the server with SIGKILL");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
/// A plain HTTP/1.0 GET of /healthz, so the container image needs no curl.
fn healthcheck(bind: &str) -> Result<(), String> {
    // A server bound to all interfaces is reached on loopback.
    let target = bind.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
    let addr = target
        .to_socket_addrs()
        .map_err(|e| format!("BIND {bind} is not an address: {e}"))?
        .next()
        .ok_or_else(|| format!("BIND {bind} resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| format!("no answer from {addr}: {e}"))?;
    let status_line = response.lines().next().unwrap_or("");
    if status_line.split_whitespace().nth(1) == Some("200") {
        println!("healthy");
        Ok(())
    } else {
        Err(format!("unhealthy: {status_line}"))
    }
}
