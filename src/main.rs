//! The command line. Everything it does is a call into the library.

use clap::{Parser, Subcommand};
use provisiond::app::Application;
use provisiond::clock::Clock;
use provisiond::config::Settings;
use provisiond::db::Db;
use provisiond::domain::{Domain, Email};
use provisiond::{cleanup, ops};
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
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a person to an organization with their own project; prints their API key once.
    Add {
        /// Organization id.
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
}

fn main() -> ExitCode {
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
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Org {
            command:
                OrgCommand::Create {
                    name,
                    domain,
                    owner_email,
                    provisioner,
                },
        } => {
            settings.validate()?;
            let db = Db::open(&settings.database_path)?;
            let domain = domain.map(|d| Domain::parse(&d)).transpose()?;
            let owner_email = Email::parse(&owner_email)?;
            let new = ops::NewOrg {
                name,
                domain,
                owner_email,
                provisioner,
            };
            let now = Clock::default().now();
            let a = db
                .write_blocking(|tx| ops::create_org(tx, &settings.key_prefix, &new, now))
                .map_err(|e| e.to_string())?;
            println!(
                "organization {}\nowner user {}\nproject {}\nowner API key (shown once): {}",
                a.org_id, a.user_id, a.project_id, a.api_key
            );
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    org,
                    email,
                    role,
                    provisioner,
                },
        } => {
            settings.validate()?;
            let db = Db::open(&settings.database_path)?;
            let email = Email::parse(&email)?;
            let role = provisiond::domain::Role::parse(&role)
                .ok_or("--role must be owner, admin or member")?;
            let now = Clock::default().now();
            let a = db
                .write_blocking(|tx| {
                    ops::add_member(
                        tx,
                        &settings.key_prefix,
                        &org,
                        &email,
                        role,
                        provisioner,
                        now,
                    )
                })
                .map_err(|e| e.to_string())?;
            println!(
                "user {}\nproject {}\nAPI key (shown once): {}",
                a.user_id, a.project_id, a.api_key
            );
            Ok(())
        }
        Command::Cleanup => {
            let db = Db::open(&settings.database_path)?;
            let n = cleanup::run_once(&db, Clock::default().now()).map_err(|e| e.to_string())?;
            println!("removed {n} expired provisions");
            Ok(())
        }
        Command::Healthcheck => healthcheck(&settings.bind),
        Command::Backup { file } => {
            let db = Db::open(&settings.database_path)?;
            db.backup_to(&file)
                .map_err(|e| format!("backup to {} failed: {e}", file.display()))?;
            println!(
                "backed up {} to {}",
                settings.database_path.display(),
                file.display()
            );
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
    let target = bind
        .replace("0.0.0.0", "127.0.0.1")
        .replace("[::]", "[::1]");
    let addr = target
        .to_socket_addrs()
        .map_err(|e| format!("BIND {bind} is not an address: {e}"))?
        .next()
        .ok_or_else(|| format!("BIND {bind} resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("no answer from {addr}: {e}"))?;
    let status_line = response.lines().next().unwrap_or("");
    if status_line.split_whitespace().nth(1) == Some("200") {
        println!("healthy");
        Ok(())
    } else {
        Err(format!("unhealthy: {status_line}"))
    }
}
