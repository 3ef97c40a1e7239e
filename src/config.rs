//! Settings: each one a command-line flag and an environment variable of the same name,
//! validated once at start so a typo stops the server with a message instead of surprising later.
//! `Settings` are the server's (`provisiond serve`); the other commands take only `StoreArgs`.

use crate::db::DbSettings;
pub use crate::db::Synchronous;
use crate::domain::Email;
use crate::serverkey::ServerKey;
use crate::service::Rules;
pub use crate::service::SignupMode;
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};
use std::path::PathBuf;

use std::time::Duration;

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_PATH: &str = "./data/provisiond.db";
pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:8080";
pub const DEFAULT_PROVISION_TTL: &str = "7d";
pub const DEFAULT_CLEANUP_INTERVAL: &str = "60s";
pub const DEFAULT_KEY_PREFIX: &str = "oc_";
pub const DEFAULT_BOOTSTRAP_EMAIL: &str = "owner@example.com";
pub const DEFAULT_BOOTSTRAP_ORG: &str = "My Organization";
pub const DEFAULT_MAIL_FROM: &str = "provisiond <noreply@localhost>";
pub const DEFAULT_AUDIT_RETENTION: &str = "365d";

#[derive(Args, Clone, Debug)]
pub struct Settings {
    /// Address and port to listen on.
    #[arg(long, env = "BIND", default_value = DEFAULT_BIND)]
    pub bind: String,

    /// The SQLite database file; its folder is created if missing. Not used with DATABASE_URL.
    #[arg(long, env = "DATABASE_PATH", default_value = DEFAULT_DATABASE_PATH)]
    pub database_path: PathBuf,

    /// A PostgreSQL database instead of SQLite, for several replicas:
    /// postgres://user:password@host:5432/db?sslmode=require (never logged).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// The address people reach this server at; claim links start with it.
    #[arg(long, env = "PUBLIC_URL", default_value = DEFAULT_PUBLIC_URL)]
    pub public_url: String,

    /// How long an unclaimed provision lives (e.g. 7d, 12h, 30m).
    #[arg(long, env = "PROVISION_TTL", default_value = DEFAULT_PROVISION_TTL, value_parser = parse_duration)]
    pub provision_ttl: Duration,

    /// How often the background sweep removes expired provisions (e.g. 60s, 5m).
    #[arg(long, env = "CLEANUP_INTERVAL", default_value = DEFAULT_CLEANUP_INTERVAL, value_parser = parse_duration)]
    pub cleanup_interval: Duration,

    /// The prefix of every API key issued from now on.
    #[arg(long, env = "KEY_PREFIX", default_value = DEFAULT_KEY_PREFIX, value_parser = parse_key_prefix)]
    pub key_prefix: String,

    /// On first start with an empty database, create an organization and its owner and print
    /// the owner's key once.
    #[arg(long, env = "BOOTSTRAP", default_value = "true", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub bootstrap: bool,

    /// The owner's email for the bootstrap organization.
    #[arg(long, env = "BOOTSTRAP_EMAIL", default_value = DEFAULT_BOOTSTRAP_EMAIL)]
    pub bootstrap_email: String,

    /// The name of the bootstrap organization.
    #[arg(long, env = "BOOTSTRAP_ORG", default_value = DEFAULT_BOOTSTRAP_ORG)]
    pub bootstrap_org: String,

    /// When a commit reaches the disk: `normal` (survives a crash of provisiond; a power loss may
    /// lose the last moments of writes) or `full` (every answered write also survives a power loss).
    #[arg(long, env = "SYNCHRONOUS", value_enum, default_value = "normal")]
    pub synchronous: Synchronous,

    /// Provisions (team provisioning and create-user together) one person may make per minute,
    /// whatever key or page they use (one IP address: four times that); 0 for no limit.
    #[arg(long, env = "PROVISION_RATE_LIMIT", default_value_t = 600)]
    pub provision_rate_limit: u32,

    /// Tries one IP address may make per minute at each sign-in form (log-in, sign-up, password
    /// reset, claim, address verification); 0 for no limit.
    #[arg(long, env = "LOGIN_RATE_LIMIT", default_value_t = 30)]
    pub login_rate_limit: u32,

    /// HTTP worker threads (0: one per CPU core).
    #[arg(long, env = "WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Who may create an account on the web pages: `claim` (only through a claim link),
    /// `open` (anyone; needs SMTP_URL, addresses verified by mail) or `off`.
    #[arg(long, env = "SIGNUP", value_enum, default_value = "claim")]
    pub signup: SignupMode,

    /// SMTP server for verification and password-reset mail, e.g. smtp://mail.example.com:25,
    /// smtp://user:pass@host:587?tls=required (STARTTLS) or smtps://user:pass@host:465. Unset: no
    /// mail; operators reset passwords with `provisiond user set-password`.
    #[arg(long, env = "SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Reverse proxies in front of this server, as CIDR ranges (e.g. 10.0.0.0/8,127.0.0.1/32):
    /// for a connection from one of them, the client is the right-most X-Forwarded-For address
    /// that is not. Unset: X-Forwarded-For is ignored and the connection's address counts.
    #[arg(long, env = "TRUSTED_PROXIES", value_parser = parse_cidrs, default_value = "")]
    pub trusted_proxies: Cidrs,

    /// The sender address of that mail.
    #[arg(long, env = "MAIL_FROM", default_value = DEFAULT_MAIL_FROM)]
    pub mail_from: String,

    /// The server key that seals webhook signing secrets: 32 bytes as 64 hex digits or base64
    /// (`openssl rand -hex 32`). Unset: SECRET_KEY_FILE, else (SQLite) a key generated on first
    /// start in `secret.key` beside the database. Replicas on PostgreSQL must share one.
    #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// A file holding the server key (as SECRET_KEY), e.g. a Docker or Kubernetes secret.
    #[arg(long, env = "SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,

    /// How long the audit log keeps a row, e.g. 365d, 90d.
    #[arg(long, env = "AUDIT_RETENTION", default_value = DEFAULT_AUDIT_RETENTION, value_parser = parse_duration)]
    pub audit_retention: Duration,

    /// `credits.low` fires when a pool falls below this percentage of all credits granted to it.
    #[arg(long, env = "CREDITS_LOW_THRESHOLD", default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub credits_low_threshold: u32,

    /// Serve `GET /metrics` in the Prometheus text format.
    #[arg(long, env = "METRICS", default_value = "false", action = ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub metrics: bool,

    /// With METRICS: a token the scraper must send as `Authorization: Bearer <token>`.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Let webhook endpoints be loopback, private or link-local addresses (internal receivers
    /// of a self-hosted deployment). Off: such endpoints are refused, at creation and at each
    /// delivery.
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE", default_value = "false", action = ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private: bool,
}

/// What every command needs: where the database is, how it commits, and the prefix of the keys
/// it issues.
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// The SQLite database file. Not used with DATABASE_URL.
    #[arg(long, env = "DATABASE_PATH", default_value = DEFAULT_DATABASE_PATH)]
    pub database_path: PathBuf,

    /// A PostgreSQL database instead of SQLite: postgres://user:password@host:5432/db (never
    /// logged).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// When a commit reaches the disk: `normal` or `full` (see `provisiond serve --help`).
    #[arg(long, env = "SYNCHRONOUS", value_enum, default_value = "normal")]
    pub synchronous: Synchronous,

    /// The prefix of every API key issued.
    #[arg(long, env = "KEY_PREFIX", default_value = DEFAULT_KEY_PREFIX, value_parser = parse_key_prefix)]
    pub key_prefix: String,
}

/// The database a server or a command opens: a PostgreSQL URL when one is set (an empty one is
/// none), else the SQLite file.
fn db_settings(path: &std::path::Path, synchronous: Synchronous, url: Option<&str>) -> DbSettings {
    DbSettings {
        path: path.to_path_buf(),
        synchronous,
        url: url.filter(|u| !u.trim().is_empty()).map(String::from),
    }
}

impl StoreArgs {
    pub fn db(&self) -> DbSettings {
        db_settings(&self.database_path, self.synchronous, self.database_url.as_deref())
    }

    /// The rules a command needs (only keys' prefix matters outside the server).
    pub fn rules(&self) -> Rules {
        let mut s = Settings::defaults();
        s.key_prefix = self.key_prefix.clone();
        s.rules()
    }
}

impl Settings {
    pub fn db(&self) -> DbSettings {
        db_settings(&self.database_path, self.synchronous, self.database_url.as_deref())
    }

    pub fn rules(&self) -> Rules {
        Rules {
            key_prefix: self.key_prefix.clone(),
            provision_ttl_ms: i64::try_from(self.provision_ttl.as_millis()).unwrap_or(i64::MAX),
            signup: self.signup,
            public_url: self.public_url.clone(),
            provision_rate_limit: self.provision_rate_limit,
            form_rate_limit: self.login_rate_limit,
            audit_retention_ms: i64::try_from(self.audit_retention.as_millis()).unwrap_or(i64::MAX),
            credits_low_percent: self.credits_low_threshold,
            webhook_allow_private: self.webhook_allow_private,
        }
    }

    /// The defaults, as a fresh start with no flags and no environment would have them.
    pub fn defaults() -> Settings {
        Settings {
            bind: DEFAULT_BIND.into(),
            database_path: DEFAULT_DATABASE_PATH.into(),
            database_url: None,
            public_url: DEFAULT_PUBLIC_URL.into(),
            provision_ttl: Duration::from_secs(7 * 86_400),
            cleanup_interval: Duration::from_secs(60),
            key_prefix: DEFAULT_KEY_PREFIX.into(),
            bootstrap: true,
            bootstrap_email: DEFAULT_BOOTSTRAP_EMAIL.into(),
            bootstrap_org: DEFAULT_BOOTSTRAP_ORG.into(),
            synchronous: Synchronous::Normal,
            provision_rate_limit: 600,
            login_rate_limit: 30,
            workers: 0,
            signup: SignupMode::Claim,
            smtp_url: None,
            mail_from: DEFAULT_MAIL_FROM.into(),
            trusted_proxies: Cidrs::default(),
            secret_key: None,
            secret_key_file: None,
            audit_retention: Duration::from_secs(365 * 86_400),
            credits_low_threshold: 10,
            webhook_allow_private: false,
            metrics: false,
            metrics_token: None,
        }
    }

    /// Checks what clap cannot check field by field. Returns a message that says what to fix.
    pub fn validate(&mut self) -> Result<(), String> {
        let url = self.public_url.trim().trim_end_matches('/');
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).ok_or_else(|| {
            format!("PUBLIC_URL must start with http:// or https:// (got '{}')", self.public_url)
        })?;
        if rest.is_empty() || rest.contains(char::is_whitespace) {
            return Err(format!(
                "PUBLIC_URL must name a host, e.g. https://provisiond.example.com (got '{}')",
                self.public_url
            ));
        }
        self.public_url = url.to_string();
        if self.provision_ttl.is_zero() {
            return Err("PROVISION_TTL must be longer than zero, e.g. 7d".into());
        }
        if self.cleanup_interval.is_zero() {
            return Err("CLEANUP_INTERVAL must be longer than zero, e.g. 60s".into());
        }
        if self.bind.trim().is_empty() {
            return Err("BIND must be an address and port, e.g. 127.0.0.1:8080".into());
        }
        if self.smtp_url.as_deref().is_some_and(|u| u.trim().is_empty()) {
            self.smtp_url = None;
        }
        if self.signup == SignupMode::Open && self.smtp_url.is_none() {
            return Err("SIGNUP=open needs SMTP_URL: open sign-ups are verified by mail".into());
        }
        if self.metrics_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            self.metrics_token = None;
        }
        if self.audit_retention.is_zero() {
            return Err("AUDIT_RETENTION must be longer than zero, e.g. 365d".into());
        }
        if self.bootstrap {
            Email::parse(&self.bootstrap_email).map_err(|e| format!("BOOTSTRAP_EMAIL: {e}"))?;
        }
        Ok(())
    }

    /// The server key: SECRET_KEY, else SECRET_KEY_FILE, else (SQLite) `secret.key` beside the
    /// database, made on first start. None on PostgreSQL without one: replicas must share the
    /// key, so none is made up (webhooks stay off until it is set).
    pub fn server_key(&self) -> Result<Option<ServerKey>, String> {
        if let Some(text) = self.secret_key.as_deref().filter(|t| !t.trim().is_empty()) {
            return ServerKey::parse(text).map(Some).map_err(|e| format!("SECRET_KEY {e}"));
        }
        if let Some(path) = &self.secret_key_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read SECRET_KEY_FILE {}: {e}", path.display()))?;
            return ServerKey::parse(&text)
                .map(Some)
                .map_err(|e| format!("SECRET_KEY_FILE {}: {e}", path.display()));
        }
        if self.db().url.is_some() {
            return Ok(None);
        }
        let beside =
            self.database_path.parent().map(|d| d.join("secret.key")).unwrap_or_else(|| "secret.key".into());
        ServerKey::load_or_create(&beside).map(Some)
    }

    pub fn public_is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration like 7d, 12h, 90s ({e})"))
}

/// A list of address ranges.
#[derive(Clone, Debug, Default)]
pub struct Cidrs(pub Vec<ipnet::IpNet>);

impl Cidrs {
    pub fn contains(&self, ip: &std::net::IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }
}

fn parse_cidrs(s: &str) -> Result<Cidrs, String> {
    s.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            // A bare address is a range of one.
            part.parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("'{part}' is not an address range like 10.0.0.0/8 or 192.168.1.10"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Cidrs)
}

fn parse_key_prefix(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 16
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("'{s}' is not a key prefix: use 1-16 letters, digits, '_' or '-' (e.g. oc_)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_human_units() {
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn validate_rejects_bad_public_url_and_trims_slash() {
        let mut s = Settings::defaults();
        s.public_url = "ftp://x".into();
        assert!(s.validate().is_err());
        s.public_url = "https://p.example.com/".into();
        s.validate().unwrap();
        assert_eq!(s.public_url, "https://p.example.com");
        assert!(s.public_is_https());
    }

    #[test]
    fn trusted_proxies_are_ranges_or_addresses() {
        let c = parse_cidrs("10.0.0.0/8, 127.0.0.1 ,::1").unwrap();
        assert!(c.contains(&"10.1.2.3".parse().unwrap()));
        assert!(c.contains(&"127.0.0.1".parse().unwrap()) && c.contains(&"::1".parse().unwrap()));
        assert!(!c.contains(&"127.0.0.2".parse().unwrap()));
        assert!(parse_cidrs("").unwrap().0.is_empty());
        assert!(parse_cidrs("10.0.0.0/33").is_err());
    }

    #[test]
    fn key_prefix_is_restricted() {
        assert!(parse_key_prefix("oc_").is_ok());
        assert!(parse_key_prefix("").is_err());
        assert!(parse_key_prefix("a b").is_err());
    }
}
