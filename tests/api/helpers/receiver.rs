//! A webhook receiver on loopback (tests/webhooks/receiver.mjs, in Node) that checks every
//! delivery's signature with the official `standardwebhooks` package, pinned in
//! tests/webhooks/package-lock.json, rather than with any code of ours. `npm ci` runs on first use
//! (`install::npm`); without Node.js and npm the tests fail, they are not skipped.
//!
//! Each recorded delivery is a JSON object: `name`, `id`, `timestamp` and `signature` (the
//! `webhook-*` headers as sent), `verified` (the library's verdict at the delivery's own
//! timestamp, with any of the name's secrets), `error` (why not, when not), `secretIndex` (which
//! secret verified), `verifiedWithRealClock` (the library's verdict including its 5-minute
//! tolerance against this machine's clock), `timestampSkewSeconds` (the delivery's timestamp minus
//! the real time it arrived), `status` (what it was answered, 0 for a hang), `headers` and `body`
//! (the JSON body, or null).
//!
//! Also `Hanging`, a receiver in this process that reads each request and never answers: a
//! receiver hanging past the delivery timeout, counting the requests it holds.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

fn webhooks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks")
}

pub struct Receiver {
    child: Child,
    pub port: u16,
    client: reqwest::Client,
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1 with no names registered. Panics when Node.js or npm is
    /// missing, or when the receiver does not come up.
    pub fn start() -> Receiver {
        let dir = webhooks_dir();
        super::install::npm(&dir);
        let mut child = Command::new("node")
            .arg("receiver.mjs")
            .current_dir(&dir)
            // Closing its stdin (our end of the pipe goes when this process does) stops it.
            .env("RECEIVER_EXIT_ON_STDIN_EOF", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("node must be installed to run the webhook receiver (Node.js 18 or newer): {e}")
            });

        let stdout = child.stdout.take().expect("the receiver's stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("webhook-receiver-stdout".into())
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut line = String::new();
                let _ = tx.send(reader.read_line(&mut line).map(|_| line));
                // Drained until the receiver exits, so it never writes into a closed pipe.
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
            })
            .expect("cannot spawn the thread reading the webhook receiver's stdout");

        let line = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => stop_and_panic(child, &format!("cannot read the webhook receiver's stdout: {e}")),
            Err(_) => stop_and_panic(
                child,
                &format!("the webhook receiver did not say `listening <port>` within {STARTUP_TIMEOUT:?}"),
            ),
        };
        let Some(port) = line.trim().strip_prefix("listening ").and_then(|p| p.parse::<u16>().ok()) else {
            stop_and_panic(
                child,
                &format!("the webhook receiver's first line is not `listening <port>`: {line:?}"),
            )
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client for the webhook receiver");
        Receiver { child, port, client }
    }

    /// Where deliveries for `name` go.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/hook/{name}", self.port)
    }

    /// Registers `name` with one secret (`whsec_...`) and the statuses its next deliveries get,
    /// in order (200 once they are used up; 0 hangs, never answering). Replaces what `name` had;
    /// deliveries already recorded are kept.
    pub async fn expect(&self, name: &str, secret: &str, script: &[u16]) {
        self.control(name, json!({ "secret": secret, "script": script })).await;
    }

    /// Replaces `name`'s secrets, keeping its script: a delivery verifies if any of them
    /// verifies it (secret rotation).
    pub async fn set_secrets(&self, name: &str, secrets: &[&str]) {
        self.control(name, json!({ "secrets": secrets })).await;
    }

    /// Every delivery recorded for `name`, in arrival order.
    pub async fn deliveries(&self, name: &str) -> Vec<Value> {
        let url = self.control_url(name);
        let resp =
            self.client.get(&url).send().await.unwrap_or_else(|e| panic!("webhook receiver: GET {url}: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_else(|e| panic!("webhook receiver: GET {url}: {e}"));
        assert!(status.is_success(), "webhook receiver: GET {url}: {status} {text}");
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("webhook receiver: GET {url}: not JSON ({e}): {text}"));
        match value.get("deliveries") {
            Some(Value::Array(list)) => list.clone(),
            _ => panic!("webhook receiver: GET {url}: no `deliveries` array: {text}"),
        }
    }

    /// Waits until at least `n` deliveries for `name` arrived (polling every 20 ms, up to 30 s of
    /// real time) and returns them all; panics with those that did arrive otherwise.
    pub async fn wait_for(&self, name: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let got = self.deliveries(name).await;
            if got.len() >= n {
                return got;
            }
            if Instant::now() >= deadline {
                panic!(
                    "waited {WAIT_TIMEOUT:?} for {n} deliveries to {name:?}, got {}: {:#}",
                    got.len(),
                    Value::Array(got)
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    fn control_url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/control/{name}", self.port)
    }

    async fn control(&self, name: &str, body: Value) {
        let url = self.control_url(name);
        let resp = self
            .client
            .put(&url)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("webhook receiver: PUT {url}: {e}"));
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            panic!("webhook receiver: PUT {url} {body}: {status} {text}");
        }
    }
}

fn stop_and_panic(mut child: Child, message: &str) -> ! {
    let _ = child.kill();
    let _ = child.wait();
    panic!("{message}");
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A receiver on 127.0.0.1 that accepts every connection, reads the request's head and then
/// never answers, until it is dropped (or the sender gives up and closes). It counts the
/// requests it holds open per hook name (`/hook/<name>`), and the most it ever held at once, in
/// total and for any one name.
pub struct Hanging {
    pub port: u16,
    held: Arc<Mutex<Held>>,
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Held {
    now: HashMap<String, usize>,
    total: usize,
    most_total: usize,
    most_one: usize,
    arrived: usize,
}

impl Hanging {
    pub fn start() -> Hanging {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the hanging receiver");
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(Mutex::new(Held::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let (h, st, ss) = (held.clone(), stop.clone(), streams.clone());
        let accept = std::thread::Builder::new()
            .name("hanging-receiver".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if st.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    if let Ok(copy) = conn.try_clone() {
                        ss.lock().unwrap().push(copy);
                    }
                    let h = h.clone();
                    std::thread::spawn(move || hold(conn, &h));
                }
            })
            .expect("spawn the hanging receiver");
        Hanging { port, held, stop, streams, accept: Some(accept) }
    }

    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/hook/{name}", self.port)
    }

    /// Requests held open now.
    pub fn holding(&self) -> usize {
        self.held.lock().unwrap().total
    }

    /// Requests that ever arrived.
    pub fn arrived(&self) -> usize {
        self.held.lock().unwrap().arrived
    }

    /// The most requests held at once: in total, and for any one name.
    pub fn most_at_once(&self) -> (usize, usize) {
        let h = self.held.lock().unwrap();
        (h.most_total, h.most_one)
    }

    /// Waits (polling, up to 30 s of real time) until `n` requests are held at once.
    pub async fn wait_until_holding(&self, n: usize) {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        while self.holding() < n {
            assert!(
                Instant::now() < deadline,
                "waited {WAIT_TIMEOUT:?} for {n} requests held, got {}",
                self.holding()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// Reads a request's head, counts it under its hook name, and reads on (never answering) until
/// the sender closes or the receiver is dropped.
fn hold(mut conn: TcpStream, held: &Mutex<Held>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_string();
    let name = line.split(' ').nth(1).and_then(|p| p.strip_prefix("/hook/")).unwrap_or("").to_string();
    {
        let mut h = held.lock().unwrap();
        h.arrived += 1;
        h.total += 1;
        let one = h.now.entry(name.clone()).or_default();
        *one += 1;
        let one = *one;
        h.most_one = h.most_one.max(one);
        h.most_total = h.most_total.max(h.total);
    }
    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
    let mut h = held.lock().unwrap();
    h.total -= 1;
    if let Some(one) = h.now.get_mut(&name) {
        *one -= 1;
    }
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        // Wakes the accepting thread, which then sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}
