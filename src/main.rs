//! The command line. Everything it does is a call into the library.

use clap::{Parser, Subcommand};
use provisiond::app::Application;
use provisiond::clock::Clock;
use provisiond::config::Settings;
use provisiond::db::Db;
use provisiond::domain::{Credits, Domain, Email, Role};
use provisiond::error::ApiError;
use provisiond::{cleanup, ops, passwords, store};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "provisiond",
    version,
    about = "Provisions users, projects and API keys for AI-agent platforms."
)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
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
    /// Remove expired provisions now, then exit.
    Cleanup,
    /// Exit 0 if the server at BIND answers /healthz with 200 (for container health checks).
    Healthcheck,
    /// Copy the database to FILE with SQLite's online backup (safe while the server runs).
    Backup { file: PathBuf },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization and its owner; prints the owner's API key once.
    Create {
        #[arg(long)]
        name: String,
        /// Email domain for orchestrator provisioning (e.g. orchestrator.com).
        #[arg(long)]
        domain: Option<String>,
        #[arg(long)]
        owner_email: String,
        /// Let the owner create API-only users on the organization's domain.
        #[arg(long)]
        provisioner: bool,
        /// Opening grant to the organization's credit pool (up to 3 decimals).
        #[arg(long, allow_hyphen_values = true)]
        credits: Option<String>,
    },
    /// Set the email domain that orchestrator-created users are mapped onto.
    SetDomain {
        /// Organization id, domain or name.
        #[arg(long)]
        org: String,
        #[arg(long)]
        domain: String,
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
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a person to an organization with their own project; prints their API key once.
    Add {
        /// Organization id, domain or name.
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        /// owner, admin or member.
        #[arg(long, default_value = "member")]
        role: String,
        #[arg(long)]
        provisioner: bool,
    },
    /// Set a person's web password, read from the first line of standard input. Every session
    /// of theirs ends.
    SetPassword {
        #[arg(long)]
        email: String,
    },
    /// Vouch that an email address belongs to the account that has it (marks it verified).
    Verify {
        #[arg(long)]
        email: String,
    },
    /// Turn a member's provisioner access (the orchestrator endpoint) on or off.
    Provisioner {
        /// Organization id, domain or name.
        #[arg(long)]
        org: String,
        /// The member's email or user id.
        #[arg(long)]
        user: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("provisiond: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let mut settings = cli.settings;
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Serve = command {
        return serve(settings);
    }
    if let Command::Healthcheck = command {
        return healthcheck(&settings.bind);
    }
    settings.validate()?;
    let db = Db::open_with(&settings.database_path, settings.synchronous)?;
    let now = Clock::default().now();
    let prefix = settings.key_prefix.clone();
    // Every write below is one transaction; its errors are the API's sentences.
    let write = |f: &dyn Fn(&provisiond::db::Tx) -> Result<String, ApiError>| -> Result<(), String> {
        let out = db.write_blocking(|tx| f(tx)).map_err(|e| e.to_string())?;
        println!("{out}");
        Ok(())
    };
    match command {
        Command::Serve | Command::Healthcheck => Ok(()),
        Command::Org { command: OrgCommand::Create { name, domain, owner_email, provisioner, credits } } => {
            let domain = domain.map(|d| Domain::parse(&d)).transpose()?;
            let owner_email = Email::parse(&owner_email)?;
            let credits =
                credits.map(|c| Credits::parse(&c)).transpose().map_err(|e| format!("--credits: {e}"))?;
            let new = ops::NewOrg { name, domain, owner_email, provisioner, credits };
            write(&|tx| {
                let a = ops::create_org(tx, &prefix, &new, now)?;
                Ok(format!(
                    "organization {}\nowner user {}\nproject {}\nowner API key (shown once): {}",
                    a.org_id, a.user_id, a.project_id, a.api_key
                ))
            })
        }
        Command::Org { command: OrgCommand::SetDomain { org, domain } } => {
            let domain = Domain::parse(&domain)?;
            write(&|tx| {
                let id = ops::resolve_org(tx, &org)?;
                ops::set_domain(tx, &id, &domain)?;
                Ok(format!("domain of {id} set to {}", domain.as_str()))
            })
        }
        Command::User { command: UserCommand::Add { org, email, role, provisioner } } => {
            let email = Email::parse(&email)?;
            let role = Role::parse(&role).ok_or("--role must be owner, admin or member")?;
            write(&|tx| {
                let org_id = ops::resolve_org(tx, &org)?;
                let a = ops::add_member(tx, &prefix, &org_id, &email, role, provisioner, now)?;
                Ok(format!(
                    "user {}\nproject {}\nAPI key (shown once): {}",
                    a.user_id, a.project_id, a.api_key
                ))
            })
        }
        Command::User { command: UserCommand::SetPassword { email } } => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read the password: {e}"))?;
            let password = line.trim_end_matches(['\r', '\n']);
            passwords::acceptable(password)?;
            let hash = passwords::hash(password)?;
            let email = Email::parse(&email)?.as_string();
            write(&|tx| {
                let login = store::orgs::login_by_email(tx, &email)?.ok_or_else(|| {
                    ApiError::not_found(format!("No active account has the email {email}."))
                })?;
                if login.api_only {
                    return Err(ApiError::forbidden(
                        "api_only_user",
                        "An API-only user never signs in; it has no password.",
                    ));
                }
                ops::set_password(tx, &login.user_id, &hash, None)?;
                Ok(format!("password set for {email}; every session of theirs has ended"))
            })
        }
        Command::User { command: UserCommand::Verify { email } } => {
            let email = Email::parse(&email)?;
            // Keys carry whether their owner's address is verified (X-User-ID): not kept.
            write(&|tx| {
                ops::vouch_for_email(tx, &email)?;
                Ok(format!("{} is verified", email.as_string()))
            })
        }
        Command::User { command: UserCommand::Provisioner { org, user, state } } => write(&|tx| {
            let org_id = ops::resolve_org(tx, &org)?;
            ops::set_provisioner(tx, &org_id, &user, state == "on")?;
            Ok(format!("provisioner access for {user}: {state}"))
        }),
        Command::Credits { command: CreditsCommand::Grant { org, amount, reason } } => {
            let amount = Credits::parse(&amount).map_err(|e| format!("--amount: {e}"))?;
            write(&|tx| {
                let org_id = ops::resolve_org(tx, &org)?;
                let b = ops::grant_credits(tx, &org_id, None, amount, reason.as_deref(), now)?;
                Ok(format!("granted {amount}; pool: {} total, {} used, {} left", b.granted, b.used, b.left()))
            })
        }
        Command::Cleanup => {
            let n = cleanup::run_once(&db, now).map_err(|e| e.to_string())?;
            println!("removed {n} expired provisions");
            Ok(())
        }
        Command::Backup { file } => {
            db.backup_to(&file).map_err(|e| format!("backup to {} failed: {e}", file.display()))?;
            println!("backed up {} to {}", settings.database_path.display(), file.display());
            Ok(())
        }
    }
}

fn serve(settings: Settings) -> Result<(), String> {
    let bind = settings.bind.clone();
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings)?;
        log::info!("listening on {bind} (port {})", app.port());
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
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

/// glibc gives every thread that allocates its own malloc arena, each holding on to freed memory;
/// with actix workers, the blocking pool and our threads that is most of the resident memory.
/// Two arenas are plenty for this server.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
