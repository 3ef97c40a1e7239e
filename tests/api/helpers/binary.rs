//! The real `provisiond` binary as a child process, for the tests that need a process of its own
//! (its log, its signals, kill -9, strace, its memory): [`Binary`] starts `serve` with a clean
//! environment, reads its port from its log within a deadline and kills it when dropped, so a
//! test that panics leaves nothing running. [`run`] runs any command (a subcommand of the binary,
//! node, npm, pip) to its end within a deadline, and says what it printed when it overruns.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_provisiond");

/// How long the server may take from start to answering /healthz.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful stop (SIGTERM, SIGINT) may take: requests in flight, then the WAL.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a command-line run of the binary may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Between looks at a child or a file the child writes: it gives no other signal.
const POLL: Duration = Duration::from_millis(10);

/// The binary with nothing of this process's environment but PATH (a test's settings are the
/// only ones it sees).
pub fn command() -> Command {
    let mut c = Command::new(BIN);
    c.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    c
}

/// Runs `cmd` to its end (stdin: `input`, then closed) within `limit`; past it the command is
/// killed and the test fails with what it printed so far.
#[track_caller]
pub fn run(cmd: &mut Command, input: Option<&str>, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut stdin = child.stdin.take().expect("piped");
    if let Some(text) = input {
        // A command that exits without reading its input closes the pipe: not our failure.
        let _ = stdin.write_all(text.as_bytes());
    }
    drop(stdin);
    // Read on threads, so a chatty command never blocks on a full pipe while we wait.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let status = wait_within(&mut child, limit);
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let Some(status) = status else {
        panic!(
            "{what} did not finish within {limit:?}; it printed:\n{}\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        )
    };
    Output { status, stdout, stderr }
}

/// `run` with no input and the command-line deadline, as `.run_to_end()` on a Command.
pub trait RunToEnd {
    fn run_to_end(&mut self) -> Output;
}

impl RunToEnd for Command {
    #[track_caller]
    fn run_to_end(&mut self) -> Output {
        run(self, None, COMMAND_TIMEOUT)
    }
}

/// Waits up to `limit` for `child` to exit; when it has not, kills it (and reaps it) and
/// returns None.
pub fn wait_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child process") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// A running `provisiond serve`, killed (SIGKILL) when dropped.
pub struct Binary {
    child: Child,
    pub port: u16,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    log: PathBuf,
    out: PathBuf,
}

/// How a stopped server ended, with everything it wrote.
pub struct Stopped {
    pub status: ExitStatus,
    pub log: String,
    pub stdout: String,
}

impl Binary {
    /// Starts the server with its files in `dir`: its log (stderr) in `server.log`, its stdout
    /// in `server.out` (both new), the database at `dir/p.db` unless `envs` says DATABASE_PATH.
    /// Defaults BIND=127.0.0.1:0 and RUST_LOG=info; `envs` come on top. Returns once the log has
    /// named the port and the server answers /healthz (its signal handlers are in place by
    /// then); panics with the log when it exits or takes longer than 30 s.
    #[track_caller]
    pub fn start(dir: &Path, envs: &[(&str, &str)]) -> Binary {
        let (log, out) = (dir.join("server.log"), dir.join("server.out"));
        let file =
            |p: &Path| std::fs::File::create(p).unwrap_or_else(|e| panic!("creating {}: {e}", p.display()));
        let mut cmd = command();
        cmd.env("DATABASE_PATH", dir.join("p.db")).env("BIND", "127.0.0.1:0").env("RUST_LOG", "info");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(file(&out)))
            .stderr(Stdio::from(file(&log)))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        // Held from here on: a failed start still ends the process (Drop).
        let mut server = Binary { child, port: 0, base: String::new(), log, out };
        let deadline = Instant::now() + START_TIMEOUT;
        server.port = loop {
            let text = server.log();
            if let Some(p) =
                text.split("(port ").nth(1).and_then(|r| r.split(')').next()).and_then(|p| p.parse().ok())
            {
                break p;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the server exited ({status}) before it named its port: {text}");
            }
            assert!(
                Instant::now() < deadline,
                "the server did not name its port within {START_TIMEOUT:?}: {text}"
            );
            std::thread::sleep(POLL);
        };
        server.base = format!("http://127.0.0.1:{}", server.port);
        // Bound is not yet serving: wait until it answers.
        while !http_get(server.port, "/healthz").contains(" 200 ") {
            assert!(server.child.try_wait().unwrap().is_none(), "the server exited: {}", server.log());
            assert!(Instant::now() < deadline, "the server did not answer /healthz within {START_TIMEOUT:?}");
            std::thread::sleep(POLL);
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What it printed on stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// The owner key the first start printed (bootstrap).
    #[track_caller]
    pub fn owner_key(&self) -> String {
        let out = self.stdout();
        out.split_whitespace()
            .find(|w| w.starts_with("oc_"))
            .unwrap_or_else(|| panic!("no owner key printed: {out}"))
            .to_string()
    }

    /// Sends `signal` (`-TERM`, `-INT`, ...) without waiting.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill").args([signal, &self.pid().to_string()]).status().expect("kill runs");
        assert!(sent.success(), "kill {signal} {}", self.pid());
    }

    /// Stops it as an operator does (SIGTERM) and waits for the exit, up to 30 s.
    #[track_caller]
    pub fn stop(self) -> Stopped {
        self.stop_with("-TERM")
    }

    /// Stops it with `signal` and waits for the exit, up to 30 s.
    #[track_caller]
    pub fn stop_with(mut self, signal: &str) -> Stopped {
        self.signal(signal);
        let status = wait_within(&mut self.child, STOP_TIMEOUT);
        let status = status.unwrap_or_else(|| {
            panic!("the server did not stop within {STOP_TIMEOUT:?} of {signal}: {}", self.log())
        });
        Stopped { status, log: self.log(), stdout: self.stdout() }
    }

    /// Waits (up to 30 s) for an exit already asked for (`signal`).
    #[track_caller]
    pub fn wait(mut self) -> Stopped {
        let status = wait_within(&mut self.child, STOP_TIMEOUT);
        let status = status
            .unwrap_or_else(|| panic!("the server did not stop within {STOP_TIMEOUT:?}: {}", self.log()));
        Stopped { status, log: self.log(), stdout: self.stdout() }
    }

    /// kill -9: no chance to finish anything.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaping the killed server");
    }

    /// Resident memory now, in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in {status}"));
        kib * 1024
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET over HTTP/1.0 with raw TCP: the whole answer, or "" when nothing answers (5 s at most).
pub fn http_get(port: u16, path: &str) -> String {
    http_get_with_key(port, path, "")
}

/// `http_get` with `Authorization: Bearer <key>`.
pub fn http_get_with_key(port: u16, path: &str, key: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nAuthorization: Bearer {key}\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}
