//! A throwaway PostgreSQL server for the integration tests.
//!
//! One cluster per test binary (process), started on first use of [`cluster()`] in a fresh
//! temporary directory (in `/dev/shm` when it has 6 GiB free: see [`scratch_root`]): `initdb`
//! (trust authentication, superuser `postgres`, UTF8, locale C), then `postgres` itself, listening on a Unix socket in that directory and on 127.0.0.1 at a
//! free TCP port with TLS (a throwaway CA made with the `openssl` command line signs a server
//! certificate for `localhost` and 127.0.0.1; [`PgCluster::ca_cert`] is the CA's certificate).
//! Durability is switched off (`fsync=off` ...): the data is thrown away.
//!
//! A missing PostgreSQL installation (or `openssl`) makes the tests fail with a message saying
//! what to install; they are never skipped.
//!
//! The server's binaries are looked for in `/usr/lib/postgresql/<version>/bin` (Debian and
//! Ubuntu; the highest version that has `initdb`), then on `PATH`, then in `pg_config --bindir`.
//!
//! Running as root (CI): `initdb` and `postgres` refuse to run as root, so the temporary
//! directory is given to the `postgres` OS user and both programs run as that user: the child
//! process drops its privileges itself (setgroups, setgid, setuid) between fork and exec.
//!
//! The server never outlives the test process:
//! * at a normal exit (all tests done, passed or failed: libtest ends with `exit()`), an
//!   `atexit` handler stops it (SIGQUIT: immediate shutdown), waits for it and deletes the
//!   temporary directory;
//! * if the process dies any other way (killed, aborted), the kernel kills the postmaster:
//!   it is started with `PR_SET_PDEATHSIG` = SIGKILL. That signal fires when the *thread* that
//!   forked the child ends, so the postmaster is forked by a dedicated thread that never ends.
//!   It is set after the change of user (the kernel clears it when a process's credentials
//!   change, which is also why `runuser`, which forks, or `setpriv`, which changes the user after
//!   our hook ran, would not do: the postmaster is the direct child of the test process). The
//!   server's own backends exit by themselves when the postmaster is gone. The temporary
//!   directory is left behind in that case (a run stopped with Ctrl-C, say) and removed by the
//!   next run's start ([`remove_stale`]): in `/dev/shm` it would hold memory until a reboot.
#![allow(dead_code)]

use std::fs;
use std::io;
use std::os::unix::fs::{chown, DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The database every [`PgCluster::fresh_database`] is cloned from.
pub const TEMPLATE_DB: &str = "provisiond_template";

/// How long the server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The process's throwaway PostgreSQL server.
pub struct PgCluster {
    /// Directory of the server's Unix socket (`.s.PGSQL.<port>`): the `host` for local connections.
    pub socket_dir: PathBuf,
    /// TCP port on 127.0.0.1 (TLS available), also the socket's number.
    pub port: u16,
    /// Certificate (PEM) of the CA that signed the server's certificate (for `localhost` and 127.0.0.1).
    pub ca_cert: PathBuf,
    /// Where `initdb`, `postgres`, `psql` and `pg_isready` were found.
    pub bin_dir: PathBuf,
    pub data_dir: PathBuf,
    /// The postmaster's process id.
    pub pid: u32,
    /// Wall time from the first call of [`cluster()`] to the template database being there.
    pub started_in: Duration,
    base_dir: PathBuf,
    log_file: PathBuf,
    psql_bin: PathBuf,
    exit: Arc<ExitState>,
    clones: Mutex<()>,
    template_ready: Once,
}

static CLUSTER: OnceLock<Result<PgCluster, String>> = OnceLock::new();
static NEXT_DB: AtomicU64 = AtomicU64::new(0);

/// The process's PostgreSQL server, started on the first call. Panics (every caller, with the
/// same message) when it cannot be started.
pub fn cluster() -> &'static PgCluster {
    match CLUSTER.get_or_init(start) {
        Ok(cluster) => cluster,
        Err(why) => panic!("the integration tests' PostgreSQL server could not be started: {why}"),
    }
}

impl PgCluster {
    /// A URL for a new, empty database (cloned from [`TEMPLATE_DB`]; unique name per call), on
    /// the Unix socket: `postgresql:///t_<pid>_<n>?user=postgres&host=<socket_dir>&port=<port>`
    pub fn fresh_database(&self) -> String {
        let name = format!("t_{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::Relaxed));
        let _clones = self.lock_clones();
        // CREATE DATABASE ... TEMPLATE fails while another session is connected to the template
        // (after waiting 5 s for it to go): sessions left over by a template preparation are ended.
        // Separate -c options: CREATE DATABASE cannot run in the implicit transaction of a
        // multi-statement string.
        let out = self
            .psql_command("postgres")
            .arg("-c")
            .arg(format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{TEMPLATE_DB}'"
            ))
            .arg("-c")
            .arg(format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}"))
            .output()
            .expect("running psql to create a test database");
        if !out.status.success() {
            panic!("{}", self.psql_failure(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}"), &out));
        }
        self.socket_url(&name)
    }

    /// URL of a database on the Unix socket:
    /// `postgresql:///<dbname>?user=postgres&host=<socket_dir>&port=<port>`.
    ///
    /// The one form that libpq (psql), the `postgres` crate's `Config` and the `url` crate all read
    /// as "this socket directory, this port": the `postgres` crate *appends* the `host`/`port`
    /// query parameters to the URL's own host (`postgresql://postgres@localhost/db?host=/dir&port=N`
    /// would be "localhost:5432, then /dir:N"), and `url::Url` refuses a user with an empty host
    /// (`postgresql://postgres@/db?...`: "empty host").
    pub fn socket_url(&self, dbname: &str) -> String {
        format!("postgresql:///{dbname}?user=postgres&host={}&port={}", self.socket_dir.display(), self.port)
    }

    /// The same database over TCP (127.0.0.1 as `localhost`) with TLS:
    /// `postgresql://postgres@localhost:<port>/<dbname>?sslmode=<sslmode>`, plus
    /// `&sslrootcert=<ca_cert>` when `sslmode` is `verify-ca` or `verify-full`.
    ///
    /// `database_url` may also be a bare database name. (The `postgres` crate's own parser only
    /// knows `sslmode` disable/prefer/require and no `sslrootcert`: verifying modes are for
    /// libpq or for code that reads those parameters itself.)
    pub fn tls_url(&self, database_url: &str, sslmode: &str) -> String {
        let mut url = format!(
            "postgresql://postgres@localhost:{}/{}?sslmode={sslmode}",
            self.port,
            db_name_of(database_url)
        );
        if sslmode.starts_with("verify") {
            url.push_str(&format!("&sslrootcert={}", self.ca_cert.display()));
        }
        url
    }

    /// Runs SQL with psql (`-X -q -A -t -v ON_ERROR_STOP=1`: unaligned rows, no headers, no
    /// notices) as `postgres` on the Unix socket, against `db` (a database name or a URL from
    /// this module), and returns its stdout. Panics with psql's stderr (and the server's log if
    /// the server is gone) on failure. Several statements in one string run as one transaction.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let dbname = db_name_of(db);
        let out = self.psql_command(&dbname).arg("-c").arg(sql).output().expect("running psql");
        if !out.status.success() {
            panic!("{}", self.psql_failure(sql, &out));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// URL (on the Unix socket) of the template database every fresh database is cloned from.
    pub fn template_url(&self) -> String {
        self.socket_url(TEMPLATE_DB)
    }

    /// Prepares the template (e.g. applies the schema) once per process: the first call runs
    /// `f(template_url)`, later calls do nothing (and no clone runs while `f` does). Call it
    /// before [`fresh_database`](Self::fresh_database) so every clone has what `f` made. `f` must
    /// close its connections to the template before returning (leftovers are terminated when
    /// the next database is cloned). If `f` panics, every later call panics too.
    pub fn set_template_ready(&self, f: impl FnOnce(&str)) {
        let _clones = self.lock_clones();
        self.template_ready.call_once(|| f(&self.template_url()));
    }

    /// Whether the postmaster has exited, and how ("exit status: 1", "signal: 9 (SIGKILL)"...).
    pub fn exited(&self) -> Option<String> {
        self.exit.get()
    }

    /// The end of the server's log (its stderr), for failure messages.
    pub fn log_tail(&self) -> String {
        tail_of_file(&self.log_file, 4000)
    }

    fn lock_clones(&self) -> MutexGuard<'_, ()> {
        // A test that panicked while cloning leaves nothing half-done behind the lock.
        self.clones.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn psql_command(&self, dbname: &str) -> Command {
        let mut cmd = Command::new(&self.psql_bin);
        without_pg_env(&mut cmd);
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-h"])
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(dbname)
            .stdin(Stdio::null());
        cmd
    }

    fn psql_failure(&self, sql: &str, out: &Output) -> String {
        let mut msg = format!(
            "psql failed ({}) running:\n{sql}\n--- psql stderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
        if let Some(how) = self.exited() {
            msg.push_str(&format!(
                "\n--- the test PostgreSQL server has exited ({how}); end of its log:\n{}",
                self.log_tail()
            ));
        }
        msg
    }

    /// Immediate shutdown, then the temporary directory goes. Used at process exit.
    fn stop(&self) {
        if self.exit.get().is_none() {
            // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child,
            // not yet reaped (reaping records an exit status first).
            unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGQUIT) };
            if !self.exit.wait(Duration::from_secs(5)) {
                // SAFETY: as above.
                unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) };
                self.exit.wait(Duration::from_secs(2));
            }
        }
        let _ = fs::remove_dir_all(&self.base_dir);
    }
}

/// The database name in a URL of this module (`postgresql://[user@host]/NAME?...`), or `s` itself
/// when it is not a URL.
pub fn db_name_of(s: &str) -> String {
    match s.split_once("://") {
        Some((_, rest)) => {
            let rest = rest.split('?').next().unwrap_or_default();
            match rest.split_once('/') {
                Some((_, name)) => name.to_string(),
                None => panic!("no database name in the URL {s:?}"),
            }
        }
        None => s.to_string(),
    }
}

extern "C" fn stop_cluster_at_exit() {
    if let Some(Ok(cluster)) = CLUSTER.get() {
        cluster.stop();
    }
}

/// The OS account the server runs as when the tests run as root.
#[derive(Clone, Copy)]
struct OsUser {
    uid: u32,
    gid: u32,
}

/// How the postmaster ended, once it has (recorded by the thread that forked and reaps it).
#[derive(Default)]
struct ExitState {
    status: Mutex<Option<String>>,
    changed: Condvar,
}

impl ExitState {
    fn get(&self) -> Option<String> {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, how: String) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = Some(how);
        self.changed.notify_all();
    }

    /// Waits up to `limit` for the exit; true when it happened.
    fn wait(&self, limit: Duration) -> bool {
        let guard = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, limit, |status| status.is_none())
            .unwrap_or_else(|p| p.into_inner());
        guard.is_some()
    }
}

fn start() -> Result<PgCluster, String> {
    let began = Instant::now();
    let bin_dir = find_bin_dir()?;
    let tool = |name: &str| -> Result<PathBuf, String> {
        let in_bin = bin_dir.join(name);
        if in_bin.is_file() {
            return Ok(in_bin);
        }
        find_on_path(name).ok_or_else(|| {
            format!(
                "`{name}` is neither in {} nor on PATH (Debian/Ubuntu: apt-get install postgresql)",
                bin_dir.display()
            )
        })
    };
    let initdb = tool("initdb")?;
    let postgres = tool("postgres")?;
    let psql = tool("psql")?;
    let pg_isready = tool("pg_isready")?;
    let openssl = find_on_path("openssl")
        .ok_or("the `openssl` command is not on PATH; it makes the test server's TLS certificates (Debian/Ubuntu: apt-get install openssl)")?;

    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let owner = if unsafe { libc::geteuid() } == 0 { Some(postgres_os_user()?) } else { None };
    let base_dir = make_base_dir(owner)?;
    let started = start_in(&base_dir, owner, &bin_dir, &initdb, &postgres, &psql, &pg_isready, &openssl);
    match started {
        Ok((port, pid, exit)) => {
            let cluster = PgCluster {
                socket_dir: base_dir.join("sock"),
                port,
                ca_cert: base_dir.join("tls").join("ca.crt"),
                bin_dir,
                data_dir: base_dir.join("data"),
                pid,
                started_in: began.elapsed(),
                log_file: base_dir.join("postgres.log"),
                base_dir,
                psql_bin: psql,
                exit,
                clones: Mutex::new(()),
                template_ready: Once::new(),
            };
            // SAFETY: registers a plain extern "C" function; it does not unwind (no panics in it).
            if unsafe { libc::atexit(stop_cluster_at_exit) } != 0 {
                eprintln!(
                    "test PostgreSQL: atexit failed; {} will be left behind",
                    cluster.base_dir.display()
                );
            }
            eprintln!(
                "test PostgreSQL ({}) started in {:.2?}: socket {}, port {}, pid {}",
                cluster.bin_dir.display(),
                cluster.started_in,
                cluster.socket_dir.display(),
                cluster.port,
                cluster.pid
            );
            Ok(cluster)
        }
        Err(why) => {
            let _ = fs::remove_dir_all(&base_dir);
            Err(why)
        }
    }
}

/// initdb, certificates, server start (retried with another port if the chosen one was taken
/// meanwhile), template database. Returns (port, postmaster pid, its exit state).
#[allow(clippy::too_many_arguments)]
fn start_in(
    base: &Path,
    owner: Option<OsUser>,
    bin_dir: &Path,
    initdb: &Path,
    postgres: &Path,
    psql: &Path,
    pg_isready: &Path,
    openssl: &Path,
) -> Result<(u16, u32, Arc<ExitState>), String> {
    let data = base.join("data");
    let sock = base.join("sock");
    let tls = base.join("tls");
    let log = base.join("postgres.log");
    make_dir(&sock, owner)?;
    make_dir(&tls, None)?;

    let mut cmd = Command::new(initdb);
    cmd.arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"])
        .current_dir(base);
    run_as(&mut cmd, owner, false);
    let out = cmd.output().map_err(|e| format!("could not run {}: {e}", initdb.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}){}:\n{}{}",
            initdb.display(),
            out.status,
            if owner.is_some() {
                " as the postgres OS user (it must be able to reach the temporary directory)"
            } else {
                ""
            },
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }

    make_certificates(openssl, &tls)?;
    let (cert, key) = (data.join("server.crt"), data.join("server.key"));
    fs::copy(tls.join("server.crt"), &cert)
        .map_err(|e| format!("copying server.crt into {}: {e}", data.display()))?;
    fs::copy(tls.join("server.key"), &key)
        .map_err(|e| format!("copying server.key into {}: {e}", data.display()))?;
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("chmod 600 {}: {e}", key.display()))?;
    if let Some(u) = owner {
        for f in [&cert, &key] {
            chown(f, Some(u.uid), Some(u.gid)).map_err(|e| format!("chown postgres {}: {e}", f.display()))?;
        }
    }

    let mut attempt = 0;
    let (port, pid, exit) = loop {
        attempt += 1;
        let port = free_port()?;
        let log_out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("creating {}: {e}", log.display()))?;
        let log_err = log_out.try_clone().map_err(|e| format!("duplicating the log's descriptor: {e}"))?;
        let mut cmd = Command::new(postgres);
        cmd.arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&sock)
            .arg("-p")
            .arg(port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=300", "-c", "shared_buffers=64MB"])
            .args(["-c", "ssl=on"])
            .arg("-c")
            .arg(format!("ssl_cert_file={}", cert.display()))
            .arg("-c")
            .arg(format!("ssl_key_file={}", key.display()))
            .current_dir(base)
            .stdin(Stdio::null())
            .stdout(log_out)
            .stderr(log_err);
        run_as(&mut cmd, owner, true);
        let (pid, exit) = spawn_from_immortal_thread(cmd)
            .map_err(|e| format!("could not start {}: {e}", postgres.display()))?;

        match wait_ready(pg_isready, &sock, port, &exit) {
            Ok(()) => break (port, pid, exit),
            Err(why) => {
                let log_text = tail_of_file(&log, 4000);
                if exit.get().is_none() {
                    // SAFETY: kill(2); our own, unreaped child.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                    exit.wait(Duration::from_secs(5));
                } else if attempt < 3 && log_text.contains("could not bind") {
                    continue; // the port was taken between our probe and the server's bind
                }
                return Err(format!(
                    "{why} (postgres from {}, data {}); end of the server's log:\n{log_text}",
                    bin_dir.display(),
                    data.display()
                ));
            }
        }
    };

    let mut create = Command::new(psql);
    without_pg_env(&mut create);
    let out = create
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "postgres", "-h"])
        .arg(&sock)
        .arg("-p")
        .arg(port.to_string())
        .arg("-c")
        .arg(format!("CREATE DATABASE {TEMPLATE_DB}"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {}: {e}", psql.display()))?;
    if !out.status.success() {
        // SAFETY: kill(2); our own child, running.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        exit.wait(Duration::from_secs(5));
        return Err(format!(
            "creating the template database failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((port, pid, exit))
}

/// Forks `cmd` from a thread that never ends (the parent-death signal is tied to the forking
/// thread), which also reaps the child and records how it ended.
fn spawn_from_immortal_thread(mut cmd: Command) -> Result<(u32, Arc<ExitState>), String> {
    let exit = Arc::new(ExitState::default());
    let recorder = Arc::clone(&exit);
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("test-postgres-parent".into())
        .spawn(move || {
            match cmd.spawn() {
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
                Ok(mut child) => {
                    let _ = tx.send(Ok(child.id()));
                    let how = match child.wait() {
                        Ok(status) => status.to_string(),
                        Err(e) => format!("could not wait for it: {e}"),
                    };
                    recorder.set(how);
                }
            }
            loop {
                thread::park();
            }
        })
        .map_err(|e| format!("could not start a thread: {e}"))?;
    let pid = rx.recv().map_err(|_| "the spawning thread died".to_string())??;
    Ok((pid, exit))
}

/// Between fork and exec: become `owner` (when running as root), and, with `die_with_parent`,
/// ask for SIGKILL when the forking thread ends, after the change of credentials, which clears
/// that setting.
fn run_as(cmd: &mut Command, owner: Option<OsUser>, die_with_parent: bool) {
    without_pg_env(cmd);
    cmd.env("LC_ALL", "C");
    if owner.is_some() {
        cmd.env("USER", "postgres").env("LOGNAME", "postgres");
    }
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure only makes async-signal-safe system calls (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || {
            if let Some(u) = owner {
                let groups = [u.gid as libc::gid_t];
                if libc::setgroups(1, groups.as_ptr()) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::setgid(u.gid as libc::gid_t) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::setuid(u.uid as libc::uid_t) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if die_with_parent {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have ended before the prctl: then nobody would kill us.
                if libc::getppid() != parent {
                    return Err(io::Error::other("the test process ended before the server started"));
                }
            }
            Ok(())
        });
    }
}

/// Polls `pg_isready` until the server accepts connections (bounded by READY_TIMEOUT), or
/// the server has exited.
fn wait_ready(pg_isready: &Path, sock: &Path, port: u16, exit: &ExitState) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(how) = exit.get() {
            return Err(format!("the PostgreSQL server exited during startup ({how})"));
        }
        let mut cmd = Command::new(pg_isready);
        without_pg_env(&mut cmd);
        let status = cmd
            .args(["-q", "-t", "2", "-U", "postgres", "-d", "postgres", "-h"])
            .arg(sock)
            .arg("-p")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("could not run {}: {e}", pg_isready.display()))?;
        if status.success() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("the PostgreSQL server did not accept connections within {READY_TIMEOUT:?}"));
        }
        // Until the next readiness probe: the server gives no other signal that it is up.
        thread::sleep(Duration::from_millis(25));
    }
}

/// A throwaway CA and, signed by it, a certificate for `localhost` / 127.0.0.1 (P-256 keys).
fn make_certificates(openssl: &Path, tls: &Path) -> Result<(), String> {
    let ext = tls.join("server.ext");
    fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .map_err(|e| format!("writing {}: {e}", ext.display()))?;
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("the clock is after 1970");
    let serial = format!("0x{:x}{:08x}", now.as_secs(), now.subsec_nanos() ^ std::process::id());
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "7",
            "-subj",
            "/CN=provisiond test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            &serial,
            "-days",
            "7",
            "-out",
            "server.crt",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let out = Command::new(openssl)
            .args(args)
            .current_dir(tls)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run {}: {e}", openssl.display()))?;
        if !out.status.success() {
            return Err(format!(
                "openssl {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

/// The highest `/usr/lib/postgresql/<version>/bin` with `initdb`, else the `PATH` directory
/// that has it, else `pg_config --bindir`.
fn find_bin_dir() -> Result<PathBuf, String> {
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version: Vec<u32> = name.split('.').map(|part| part.parse().ok()).collect::<Option<_>>()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Some(initdb) = find_on_path("initdb") {
        if let Some(dir) = initdb.parent() {
            return Ok(dir.to_path_buf());
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.join("initdb").is_file() {
            return Ok(dir);
        }
    }
    Err("no PostgreSQL server found: no initdb in /usr/lib/postgresql/*/bin, on PATH or in \
         `pg_config --bindir`. The integration tests need a real PostgreSQL server \
         (Debian/Ubuntu: apt-get install postgresql)"
        .into())
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

fn postgres_os_user() -> Result<OsUser, String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(|e| format!("could not run `id {flag} postgres`: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        match text.trim().parse() {
            Ok(n) if out.status.success() => Ok(n),
            _ => Err(format!(
                "the tests run as root, and PostgreSQL refuses to run as root, but there is no `postgres` \
                 OS user to run it as (`id {flag} postgres`: {}). Install Debian's postgresql package \
                 (it creates the user) or run the tests as another user",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
    };
    Ok(OsUser { uid: id("-u")?, gid: id("-g")? })
}

/// Where the cluster lives: in memory (`/dev/shm`) when it has room, else the system's temporary
/// directory. Every test clones a database of its own (some 8 MB of files each, 2 GB over a whole
/// run): on a disk, each clone took ~180 ms instead of ~70 ms, and deleting the cluster at exit
/// waited 11 s for the writeback of files nobody would read again. The data is thrown away
/// either way (`fsync=off`).
fn scratch_root() -> PathBuf {
    const ROOM: u64 = 6 << 30;
    let shm = Path::new("/dev/shm");
    // SAFETY: statvfs(3) writes only into the zeroed struct we pass; the path is NUL-terminated.
    let free = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c"/dev/shm".as_ptr(), &mut st) == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
    };
    match free {
        Some(bytes) if bytes >= ROOM && shm.is_dir() => shm.to_path_buf(),
        _ => std::env::temp_dir(),
    }
}

/// Removes the directories `provisiond-pg-<pid>-<n>` under `root` whose process is gone: a run
/// killed before its `atexit` handler (Ctrl-C, a crash) leaves its cluster behind.
fn remove_stale(root: &Path) {
    for entry in fs::read_dir(root).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("provisiond-pg-").and_then(|r| r.split('-').next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<libc::pid_t>() else { continue };
        // SAFETY: kill(2) with signal 0 only asks whether the process exists; no memory is passed.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A new directory of our own under [`scratch_root`] (mode 0700, owned by `owner` when given).
fn make_base_dir(owner: Option<OsUser>) -> Result<PathBuf, String> {
    let tmp = scratch_root();
    // Both places: a run before this one may have had the other.
    remove_stale(Path::new("/dev/shm"));
    remove_stale(&std::env::temp_dir());
    for n in 0..1000 {
        let dir = tmp.join(format!("provisiond-pg-{}-{n}", std::process::id()));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                if let Some(u) = owner {
                    chown(&dir, Some(u.uid), Some(u.gid))
                        .map_err(|e| format!("chown postgres {}: {e}", dir.display()))?;
                }
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("creating a directory in {}: {e}", tmp.display())),
        }
    }
    Err(format!("no free directory name under {}", tmp.display()))
}

fn make_dir(dir: &Path, owner: Option<OsUser>) -> Result<(), String> {
    fs::DirBuilder::new().mode(0o700).create(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if let Some(u) = owner {
        chown(dir, Some(u.uid), Some(u.gid)).map_err(|e| format!("chown postgres {}: {e}", dir.display()))?;
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free TCP port: {e}"))?;
    listener.local_addr().map(|addr| addr.port()).map_err(|e| format!("finding a free TCP port: {e}"))
}

/// The environment's libpq settings (PGHOST, PGSSLMODE, ...) must not redirect our tools.
fn without_pg_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
}

fn tail_of_file(path: &Path, max: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(max)..]).into_owned(),
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}
