//! The PostgreSQL engine, for running several replicas over one database: a pool of
//! connections (each keeping its prepared statements), TLS as DATABASE_URL's `sslmode` asks, the
//! schema and its upgrades under an advisory lock, every write its own transaction (PostgreSQL
//! groups concurrent commits itself; holding row locks across requests, as savepoint batches
//! would, only adds waiting), and the key epoch read before the key cache is trusted, one read
//! shared by every request that arrives while it is on its way.

use super::conn::{Conn, DbError, DbResult, PgSession, Tx};
use super::KeyGeneration;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SCHEMA: &str = include_str!("../../schema.pg.sql");
/// The version `schema.pg.sql` leaves behind: the same numbering as SQLite's.
pub const SCHEMA_VERSION: i32 = 11;
/// Upgrade steps: `migrations/pg/N.sql` takes a database from version N-1 to N (the
/// PostgreSQL engine starts at version 4).
const MIGRATIONS: &[(i32, &str)] = &[
    (5, include_str!("../../migrations/pg/5.sql")),
    (6, include_str!("../../migrations/pg/6.sql")),
    (7, include_str!("../../migrations/pg/7.sql")),
    (8, include_str!("../../migrations/pg/8.sql")),
    (9, include_str!("../../migrations/pg/9.sql")),
    (10, include_str!("../../migrations/pg/10.sql")),
    (11, include_str!("../../migrations/pg/11.sql")),
];

/// Advisory lock keys (any two fixed numbers): one for the schema, one for the first
/// organization, so two replicas starting together on an empty database do each once.
pub const SCHEMA_LOCK: i64 = 0x7072_6f76_0001;
pub const BOOTSTRAP_LOCK: i64 = 0x7072_6f76_0002;

/// Connections per replica: enough for the HTTP workers' reads and writes at once; PostgreSQL
/// serves several replicas, each with this many.
const POOL_SIZE: u32 = 16;

/// How long a request waits for a connection while the database is up but every connection is
/// busy (a burst larger than the pool): it is served as soon as one comes back.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// How long a request waits once the pool's last attempt to connect failed (the database is
/// down or unreachable) before it answers 503 `unavailable`: long enough for a database that
/// has just come back to be reconnected to (the pool retries at least every `RETRY_WAIT / 2`),
/// short enough that clients are not held (before issue 22: the whole 10 s).
const UNREACHABLE_WAIT: Duration = Duration::from_millis(1500);

/// The pool's own timeout, which only sets how often it retries a failing connection (half of
/// it at most); requests wait by `BUSY_WAIT` and `UNREACHABLE_WAIT` (see `connection`).
const RETRY_WAIT: Duration = Duration::from_secs(2);

/// How often a waiting request looks whether the database is known to be down.
const WAIT_SLICE: Duration = Duration::from_millis(250);

/// A connection and the statements it has prepared.
pub struct PgConnection {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

impl PgConnection {
    fn session(&mut self) -> PgSession<'_> {
        PgSession::plain(&mut self.client, &mut self.statements)
    }
}

/// Runs `f` where the synchronous client may block: it drives a runtime of its own, which
/// cannot start on a thread that is running async tasks (start-up, the command line and tests
/// call in from one). Request paths come through the blocking pool and need no extra thread.
pub(super) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Makes the pool's connections, and notes whether the last attempt failed.
struct Manager {
    config: postgres::Config,
    tls: tls::Tls,
    down: Arc<AtomicBool>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConnection, postgres::Error> {
        let client = match &self.tls {
            tls::Tls::Off => self.config.connect(postgres::NoTls),
            tls::Tls::On(connector) => self.config.connect(connector.clone()),
        };
        self.down.store(client.is_err(), Ordering::Relaxed);
        Ok(PgConnection { client: client?, statements: HashMap::new() })
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        conn.client.is_closed()
    }
}

pub struct Postgres {
    /// Always Some but while being dropped (see `Drop`).
    pool: Option<r2d2::Pool<Manager>>,
    /// Where the database is, without any password (for messages).
    location: String,
    epoch: EpochCheck,
    /// The pool's last attempt to connect failed (see `Manager`).
    down: Arc<AtomicBool>,
}

impl Postgres {
    /// Connects, and brings the schema up to date. Only the server and `org create` may put the
    /// schema into an empty database (`create`). The error never holds the URL's password.
    pub fn open(url: &str, create: bool) -> Result<Postgres, String> {
        off_runtime(|| Self::connect(url, create))
    }

    fn connect(url: &str, create: bool) -> Result<Postgres, String> {
        let target = tls::Target::parse(url)?;
        let location = target.location.clone();
        let down = Arc::new(AtomicBool::new(false));
        let manager = Manager { config: target.config, tls: target.tls, down: down.clone() };
        // r2d2 retries a failing first connection until its timeout and then reports only that
        // it timed out: one attempt of our own first says at once what is wrong (refused, no
        // such database, a certificate not trusted).
        use r2d2::ManageConnection;
        manager.connect().map_err(|e| format!("cannot connect to the database at {location}: {e}"))?;
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(RETRY_WAIT)
            // r2d2 logs connection errors itself, with the error only: no URL, no password.
            .build(manager)
            .map_err(|e| format!("cannot connect to the database at {location}: {e}"))?;
        let pg = Postgres { pool: Some(pool), location, epoch: EpochCheck::default(), down };
        pg.migrate(create)?;
        Ok(pg)
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// A connection from the pool: waited for while the pool is busy (`BUSY_WAIT`), but only
    /// `UNREACHABLE_WAIT` once the database is known to be down, so that an outage answers 503
    /// within 2 s rather than holding every request for the pool's whole timeout.
    fn connection(&self) -> DbResult<r2d2::PooledConnection<Manager>> {
        let Some(pool) = &self.pool else { return Err(DbError::WriterStopped) };
        let asked = Instant::now();
        loop {
            match pool.get_timeout(WAIT_SLICE) {
                Ok(conn) => return Ok(conn),
                Err(e) => {
                    let waited = asked.elapsed();
                    // Down means the last attempt to connect failed and no connection is left:
                    // under a burst on a loaded machine an extra connection may time out while
                    // the pool's others still work, and then requests wait for those.
                    let down = self.down.load(Ordering::Relaxed) && pool.state().connections == 0;
                    if waited >= BUSY_WAIT || (down && waited >= UNREACHABLE_WAIT) {
                        return Err(e.into());
                    }
                }
            }
        }
    }

    /// Applies the schema to an empty database, or the upgrades after its version, in one
    /// transaction under an advisory lock: replicas starting together wait for each other.
    fn migrate(&self, create: bool) -> Result<(), String> {
        let fail =
            |e: &dyn std::fmt::Display| format!("cannot prepare the database at {}: {e}", self.location);
        let mut conn = self.connection().map_err(|e| fail(&e))?;
        let mut tx = conn.client.transaction().map_err(|e| fail(&e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).map_err(|e| fail(&e))?;
        let has_schema: bool = tx
            .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
            .and_then(|r| r.try_get(0))
            .map_err(|e| fail(&e))?;
        let version: i32 = if has_schema {
            tx.query_one("SELECT version FROM schema_version", &[])
                .and_then(|r| r.try_get(0))
                .map_err(|e| fail(&e))?
        } else {
            0
        };
        if version > SCHEMA_VERSION {
            return Err(format!(
                "the database at {} has schema version {version}, newer than this provisiond understands ({SCHEMA_VERSION}); run a newer provisiond",
                self.location
            ));
        }
        if version == 0 {
            if !create {
                return Err(format!(
                    "the database at {} has no provisiond data yet; start the server once, or run `provisiond org create`, to set it up",
                    self.location
                ));
            }
            tx.batch_execute(SCHEMA).map_err(|e| fail(&e))?;
        }
        for &(to, script) in MIGRATIONS.iter().filter(|(to, _)| version > 0 && *to > version) {
            tx.batch_execute(script).map_err(|e| {
                format!(
                    "could not upgrade the database at {} to schema version {to} ({e}); it was left unchanged",
                    self.location
                )
            })?;
        }
        tx.commit().map_err(|e| fail(&e))
    }

    pub fn read<T, E: From<DbError>>(&self, f: impl FnOnce(&Conn) -> Result<T, E>) -> Result<T, E> {
        let mut pooled = self.connection()?;
        let conn = Conn::postgres(pooled.session());
        f(&conn)
    }

    /// One transaction on a pooled connection: committed before Ok, rolled back on Err. When it
    /// changed what keys mean, the key epoch moves in the same transaction.
    pub fn write<T, E: From<DbError>>(
        &self,
        keys: &KeyGeneration,
        f: impl FnOnce(&Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.connection()?;
        let PgConnection { client, statements } = &mut *conn;
        let tx = client.transaction().map_err(DbError::from)?;
        let tx = Tx::new(Conn::postgres(PgSession::transaction(tx, statements)));
        let out = f(&tx)?;
        let epoch = if tx.changed_keys() {
            Some(tx.value::<i64>("UPDATE key_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch", &[])?)
        } else {
            None
        };
        let session = tx.into_conn().into_postgres().ok_or(DbError::NoRow)?;
        let started = std::time::Instant::now();
        session.commit().map_err(|e| DbError::Commit(e.to_string()))?;
        keys.committed(1, started.elapsed());
        if let Some(epoch) = epoch {
            keys.changed(epoch);
        }
        Ok(out)
    }

    /// Makes sure every change to what keys mean that was committed before this call, by any
    /// replica, is known here (see `EpochCheck`).
    pub async fn refresh_keys(self: &Arc<Self>, keys: &Arc<KeyGeneration>) -> DbResult<()> {
        let (pg, keys) = (self.clone(), keys.clone());
        self.epoch
            .fresh(move || {
                let epoch: i64 = pg.read(|c| c.value("SELECT epoch FROM key_epoch WHERE id = 1", &[]))?;
                keys.observe(epoch);
                Ok(())
            })
            .await
    }
}

/// A client says goodbye to the server when dropped, through the runtime it drives; that cannot
/// happen on a thread that runs async tasks, which is where the last handle may go.
impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            off_runtime(move || drop(pool));
        }
    }
}

/// The key epoch, read before the key cache is trusted: a change committed by another replica
/// before a request arrived must be seen by that request. Notifications alone can be lost, so
/// the epoch row itself is read; and so that this costs one round trip per moment rather than
/// one per request, the reads are shared: a request waits for a read that *started after it
/// arrived* (one already on its way may predate the change), and every request that arrived
/// while that read was on its way shares the next one.
#[derive(Default)]
struct EpochCheck {
    state: Mutex<CheckState>,
    done: tokio::sync::Notify,
}

#[derive(Default)]
struct CheckState {
    /// The number the next read to start gets.
    next: u64,
    /// Whether a read is on its way.
    running: bool,
    /// The last read that finished, and how.
    finished: Option<(u64, Result<(), String>)>,
}

impl EpochCheck {
    async fn fresh<F>(&self, read: F) -> DbResult<()>
    where
        F: Fn() -> DbResult<()> + Send + Sync + Clone + 'static,
    {
        let need = self.state.lock().unwrap_or_else(|p| p.into_inner()).next;
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mine = {
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((id, outcome)) = &s.finished {
                    if *id >= need {
                        return outcome.clone().map_err(DbError::Commit);
                    }
                }
                if s.running {
                    None
                } else {
                    s.running = true;
                    s.next += 1;
                    Some(s.next - 1)
                }
            };
            match mine {
                Some(id) => {
                    // Dropped with this future if the request is (a client that hung up): the
                    // check is put back either way, so the others do not wait forever.
                    let mut runner = Runner { check: self, id, outcome: None };
                    let read = read.clone();
                    let outcome = actix_web::web::block(read)
                        .await
                        .map_err(|e| DbError::Blocking(e.to_string()))
                        .and_then(|r| r)
                        .map_err(|e| e.to_string());
                    runner.outcome = Some(outcome);
                }
                None => notified.await,
            }
        }
    }
}

/// The read on its way: when it stops, finished or dropped half-way, no read is running any
/// more and the waiters are woken (to share its outcome, or to start the next read).
struct Runner<'a> {
    check: &'a EpochCheck,
    id: u64,
    outcome: Option<Result<(), String>>,
}

impl Drop for Runner<'_> {
    fn drop(&mut self) {
        {
            let mut s = self.check.state.lock().unwrap_or_else(|p| p.into_inner());
            s.running = false;
            if let Some(outcome) = self.outcome.take() {
                s.finished = Some((self.id, outcome));
            }
        }
        self.check.done.notify_waiters();
    }
}

#[cfg(test)]
mod epoch_tests {
    use super::EpochCheck;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// A request that reads the epoch for everyone and is then dropped (its client hung up, or a
    /// timeout cancelled it) must not leave every later request waiting for a read whose end
    /// nobody reports: the server stopped answering authenticated requests that way.
    #[tokio::test]
    async fn a_reader_that_gives_up_does_not_hold_up_the_next_request() {
        let check = EpochCheck::default();
        let release = Arc::new(AtomicBool::new(false));
        let r = release.clone();
        let slow = move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !r.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::yield_now();
            }
            Ok(())
        };
        let mut first = Box::pin(check.fresh(slow));
        assert!(futures::poll!(first.as_mut()).is_pending(), "its read is on its way");
        drop(first);
        release.store(true, Ordering::SeqCst);
        let next = tokio::time::timeout(Duration::from_secs(10), check.fresh(|| Ok(()))).await;
        assert!(matches!(next, Ok(Ok(()))), "the next request is answered");
    }
}

/// TLS for the database connection, as `sslmode` in DATABASE_URL asks (libpq's meanings):
/// `disable`; `prefer` (the default: TLS when the server offers it) and `require` (TLS or no
/// connection) encrypt without checking whose certificate it is, unless `sslrootcert` names a
/// CA, which it must then be signed by; `verify-ca` checks the certificate against
/// `sslrootcert` (else the system's roots); `verify-full` also checks the host name.
mod tls {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
    use std::str::FromStr;
    use std::sync::Arc;
    use tokio_postgres_rustls::MakeRustlsConnect;

    pub enum Tls {
        Off,
        On(MakeRustlsConnect),
    }

    /// A parsed DATABASE_URL.
    pub struct Target {
        pub config: postgres::Config,
        pub tls: Tls,
        /// Host and database, for messages: never the password.
        pub location: String,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        Disable,
        Prefer,
        Require,
        VerifyCa,
        VerifyFull,
    }

    impl Target {
        pub fn parse(url: &str) -> Result<Target, String> {
            let mut parsed = url::Url::parse(url).map_err(|e| {
                format!("DATABASE_URL is not a URL like postgres://user:password@host:5432/db ({e})")
            })?;
            if !matches!(parsed.scheme(), "postgres" | "postgresql") {
                return Err("DATABASE_URL must start with postgres:// or postgresql://".into());
            }
            let location = format!(
                "{}/{}",
                parsed.host_str().filter(|h| !h.is_empty()).unwrap_or("localhost"),
                parsed.path().trim_start_matches('/')
            );
            // sslmode's verify-* and sslrootcert are libpq's; the driver knows neither, so they
            // are taken out here and applied to the TLS configuration.
            let (mut mode, mut root) = (Mode::Prefer, None);
            let kept: Vec<(String, String)> = parsed
                .query_pairs()
                .filter_map(|(k, v)| match k.as_ref() {
                    "sslmode" => {
                        mode = match v.as_ref() {
                            "disable" => Mode::Disable,
                            "allow" | "prefer" => Mode::Prefer,
                            "require" => Mode::Require,
                            "verify-ca" => Mode::VerifyCa,
                            "verify-full" => Mode::VerifyFull,
                            _ => Mode::Require,
                        };
                        if !matches!(
                            v.as_ref(),
                            "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full"
                        ) {
                            root = Some(Err(format!(
                                "sslmode={v} is not one of disable, prefer, require, verify-ca, verify-full"
                            )));
                        }
                        None
                    }
                    "sslrootcert" => {
                        if root.is_none() {
                            root = Some(Ok(v.into_owned()));
                        }
                        None
                    }
                    _ => Some((k.into_owned(), v.into_owned())),
                })
                .collect();
            let root = root.transpose().map_err(|e| format!("DATABASE_URL: {e}"))?;
            parsed.query_pairs_mut().clear();
            if kept.is_empty() {
                parsed.set_query(None);
            } else {
                parsed.query_pairs_mut().extend_pairs(kept);
            }
            let driver_mode = match mode {
                Mode::Disable => "disable",
                Mode::Prefer => "prefer",
                _ => "require",
            };
            let separator = if parsed.query().is_some() { '&' } else { '?' };
            let text = format!("{parsed}{separator}sslmode={driver_mode}");
            let mut config = postgres::Config::from_str(&text).map_err(|e| {
                format!("DATABASE_URL is not usable ({e}); it looks like postgres://user:password@host:5432/db?sslmode=require")
            })?;
            // The driver waits for an unanswered connection as long as the operating system
            // does (minutes): a database that went away must answer 503 sooner than that, and
            // within 2 s (issue 22): a reachable PostgreSQL accepts in milliseconds, and a URL's
            // own connect_timeout (a slow link) still wins.
            if config.get_connect_timeout().is_none() {
                config.connect_timeout(std::time::Duration::from_millis(1500));
            }
            let tls = match mode {
                Mode::Disable => Tls::Off,
                _ => Tls::On(connector(mode, root.as_deref())?),
            };
            Ok(Target { config, tls, location })
        }
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn connector(mode: Mode, root: Option<&str>) -> Result<MakeRustlsConnect, String> {
        let provider = provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS for the database: {e}"))?;
        let mut roots = RootCertStore::empty();
        match root {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| format!("DATABASE_URL sslrootcert {path}: {e}"))?;
                for cert in rustls_pemfile_certs(&pem).map_err(|e| format!("sslrootcert {path}: {e}"))? {
                    roots.add(cert).map_err(|e| format!("sslrootcert {path}: {e}"))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let verify = match mode {
            Mode::VerifyCa | Mode::VerifyFull => true,
            // libpq: with a root certificate given, require checks the chain too.
            Mode::Require | Mode::Prefer => root.is_some(),
            Mode::Disable => false,
        };
        let config = if !verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Partial { chain: None, provider }))
                .with_no_client_auth()
        } else {
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| format!("TLS for the database: {e}"))?;
            if mode == Mode::VerifyFull {
                builder.with_webpki_verifier(webpki).with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Partial { chain: Some(webpki), provider }))
                    .with_no_client_auth()
            }
        };
        Ok(MakeRustlsConnect::new(config))
    }

    /// The certificates of a PEM file.
    fn rustls_pemfile_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
    }

    /// Less than webpki's whole check, as libpq's modes ask: `sslmode=require` without a root
    /// certificate checks nothing (`chain: None`: encrypted, whoever the server is; use
    /// verify-full to check), `verify-ca` checks that the chain leads to a trusted root but not
    /// the name on it. Either way the handshake's signatures are checked, with the provider's
    /// algorithms (what webpki's verifier uses too).
    #[derive(Debug)]
    struct Partial {
        chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
        provider: Arc<CryptoProvider>,
    }

    impl ServerCertVerifier for Partial {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
            match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
                | Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                other => other,
            }
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider.signature_verification_algorithms.supported_schemes()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_password_stays_out_of_messages_and_libpq_parameters_are_taken_out() {
            let t = Target::parse(
                "postgres://app:s3cret@db.example.com:5432/prov?sslmode=disable&connect_timeout=5",
            )
            .ok()
            .unwrap();
            assert_eq!(t.location, "db.example.com/prov");
            assert!(matches!(t.tls, Tls::Off));
            let e = Target::parse("postgres://app:s3cret@h/db?sslmode=sometimes").err().unwrap();
            assert!(!e.contains("s3cret") && e.contains("sslmode"), "{e}");
            let e = Target::parse("mysql://app:s3cret@h/db").err().unwrap();
            assert!(!e.contains("s3cret"), "{e}");
            let e = Target::parse("postgres://app:s3cret@h/db?sslmode=verify-full&sslrootcert=/nonexistent")
                .err()
                .unwrap();
            assert!(!e.contains("s3cret") && e.contains("/nonexistent"), "{e}");
            assert!(Target::parse(
                "postgresql://postgres@localhost/db?host=/tmp/sock&port=5433&sslmode=disable"
            )
            .is_ok());
        }
    }
}
