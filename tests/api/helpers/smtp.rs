//! A real, minimal SMTP server (RFC 5321, plain, no TLS) that records every delivered mail, so
//! tests exercise the actual lettre transport instead of a mock. Started with a login
//! ([`SmtpSink::start_with_login`]) it offers AUTH PLAIN (RFC 4954) and takes mail only after that
//! user and password, so a test sees the server really used the password of its SMTP_URL.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

const WAIT_TIMEOUT: Duration = Duration::from_secs(20);
// A stuck client must not pin its connection thread for the rest of the test run.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const HOSTNAME: &str = "smtp-sink.test";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Raw message after DATA, dot-unstuffed, every line CRLF-terminated.
    pub data: String,
}

#[derive(Default)]
struct State {
    mails: Vec<Mail>,
    log: Vec<String>,
}

struct Shared {
    state: Mutex<State>,
    arrived: Condvar,
    /// The user and password AUTH PLAIN must present before MAIL, when set.
    login: Option<(String, String)>,
}

impl Shared {
    // A panicking test thread must not turn every later assertion into a PoisonError.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Clone)]
pub struct SmtpSink {
    port: u16,
    shared: Arc<Shared>,
}

impl SmtpSink {
    /// Panics if no loopback port can be bound, since no test can proceed without it.
    pub fn start() -> SmtpSink {
        Self::start_inner(None)
    }

    /// A sink that offers AUTH PLAIN and refuses mail (530) until `user` and `password` log in.
    pub fn start_with_login(user: &str, password: &str) -> SmtpSink {
        Self::start_inner(Some((user.to_string(), password.to_string())))
    }

    fn start_inner(login: Option<(String, String)>) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("SMTP sink: cannot bind 127.0.0.1:0");
        let port = listener.local_addr().expect("SMTP sink: no local address").port();
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), arrived: Condvar::new(), login });
        let accept_shared = Arc::clone(&shared);
        thread::Builder::new()
            .name(format!("smtp-sink-{port}"))
            .spawn(move || accept_loop(listener, accept_shared))
            .expect("SMTP sink: cannot spawn accept thread");
        SmtpSink { port, shared }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.shared.lock().mails.clone()
    }

    /// Blocks until at least `n` mails arrived; panics after 20 s with what did arrive.
    pub fn wait_for(&self, n: usize) -> Vec<Mail> {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        let mut state = self.shared.lock();
        while state.mails.len() < n {
            let now = Instant::now();
            if now >= deadline {
                let got = state.mails.len();
                let log = state.log.join("\n  ");
                drop(state);
                panic!(
                    "SMTP sink: timed out after {}s waiting for {n} mail(s), got {got}; commands seen:\n  {log}",
                    WAIT_TIMEOUT.as_secs()
                );
            }
            state =
                self.shared.arrived.wait_timeout(state, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        state.mails.clone()
    }

    /// Mails with `addr` among the RCPT TO addresses (case-insensitive).
    pub fn mails_to(&self, addr: &str) -> Vec<Mail> {
        let state = self.shared.lock();
        state.mails.iter().filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(addr))).cloned().collect()
    }

    /// SMTP command lines received on all connections, in order (message data excluded).
    pub fn raw_log(&self) -> Vec<String> {
        self.shared.lock().log.clone()
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(&shared);
        // A failed spawn only loses this connection; the client sees it closed.
        let _ = thread::Builder::new().name("smtp-sink-conn".into()).spawn(move || {
            let _ = serve(stream, &shared);
        });
    }
}

/// Reads one line; `None` at EOF. The line is returned without its CRLF (or bare LF).
fn read_line(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    if reader.read_until(b'\n', &mut line)? == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    Ok(Some(line))
}

/// The address inside `<...>` after e.g. `FROM:`; ESMTP parameters after it are ignored.
fn parse_path(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        inner.find('>').map(|end| inner[..end].to_string())
    } else {
        rest.split_whitespace().next().map(str::to_string)
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    write!(out, "220 {HOSTNAME} ESMTP test sink ready\r\n")?;

    let mut greeted = false;
    let mut authenticated = shared.login.is_none();
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();

    while let Some(line) = read_line(&mut reader)? {
        let line = String::from_utf8_lossy(&line).into_owned();
        shared.lock().log.push(line.clone());
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim()),
            None => (line.to_ascii_uppercase(), ""),
        };
        let reply: String = match verb.as_str() {
            "EHLO" | "HELO" if arg.is_empty() => "501 Syntax: EHLO hostname".into(),
            "EHLO" => {
                greeted = true;
                from = None;
                to.clear();
                let auth = if shared.login.is_some() { "\r\n250-AUTH PLAIN" } else { "" };
                format!("250-{HOSTNAME} greets {arg}{auth}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING")
            }
            "HELO" => {
                greeted = true;
                from = None;
                to.clear();
                format!("250 {HOSTNAME}")
            }
            "AUTH" if shared.login.is_some() => match plain_login(arg) {
                Some(given) if Some(&given) == shared.login.as_ref() => {
                    authenticated = true;
                    "235 2.7.0 Authentication successful".into()
                }
                _ => "535 5.7.8 Authentication credentials invalid".into(),
            },
            "MAIL" if !greeted => "503 Send EHLO first".into(),
            "MAIL" if !authenticated => "530 5.7.0 Authentication required".into(),
            "MAIL" if from.is_some() => "503 Nested MAIL command".into(),
            "MAIL" => match parse_path(arg, "FROM:") {
                Some(addr) => {
                    from = Some(addr);
                    "250 OK".into()
                }
                None => "501 Syntax: MAIL FROM:<address>".into(),
            },
            "RCPT" if from.is_none() => "503 Need MAIL before RCPT".into(),
            "RCPT" => match parse_path(arg, "TO:") {
                Some(addr) if !addr.is_empty() => {
                    to.push(addr);
                    "250 OK".into()
                }
                _ => "501 Syntax: RCPT TO:<address>".into(),
            },
            "DATA" if to.is_empty() => "503 Need RCPT before DATA".into(),
            "DATA" => {
                write!(out, "354 End data with <CR><LF>.<CR><LF>\r\n")?;
                let mut data = Vec::new();
                loop {
                    // EOF mid-DATA means the client gave up: nothing was delivered.
                    let Some(line) = read_line(&mut reader)? else { return Ok(()) };
                    if line == b"." {
                        break;
                    }
                    let line = line.strip_prefix(b".").unwrap_or(&line);
                    data.extend_from_slice(line);
                    data.extend_from_slice(b"\r\n");
                }
                let mail = Mail {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data: String::from_utf8_lossy(&data).into_owned(),
                };
                let id = {
                    let mut state = shared.lock();
                    state.mails.push(mail);
                    state.mails.len()
                };
                shared.arrived.notify_all();
                format!("250 OK queued as {id}")
            }
            "RSET" => {
                from = None;
                to.clear();
                "250 OK".into()
            }
            "NOOP" => "250 OK".into(),
            "QUIT" => {
                write!(out, "221 {HOSTNAME} closing connection\r\n")?;
                return Ok(());
            }
            "VRFY" | "EXPN" | "HELP" | "STARTTLS" | "AUTH" | "TURN" => "502 Command not implemented".into(),
            _ => "500 Command unrecognized".into(),
        };
        write!(out, "{reply}\r\n")?;
    }
    Ok(())
}

/// The user and password of `AUTH PLAIN <base64(authzid NUL user NUL password)>`.
fn plain_login(arg: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let encoded = arg.strip_prefix("PLAIN ").or_else(|| arg.strip_prefix("plain "))?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let mut parts = bytes.split(|b| *b == 0).skip(1);
    let user = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let password = String::from_utf8(parts.next()?.to_vec()).ok()?;
    Some((user, password))
}

/// A MIME entity split into unfolded headers and its raw (still transfer-encoded) body.
struct Entity<'a> {
    headers: Vec<(String, String)>,
    body: &'a str,
}

impl<'a> Entity<'a> {
    fn parse(raw: &'a str) -> Entity<'a> {
        let (head, body) = match raw.strip_prefix("\r\n") {
            Some(body) => ("", body),
            None => raw.split_once("\r\n\r\n").unwrap_or((raw, "")),
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push_str(line);
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_string(), value.to_string()));
            }
        }
        for (_, value) in &mut headers {
            *value = value.trim().to_string();
        }
        Entity { headers, body }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        let content_type = self.header("Content-Type").unwrap_or("text/plain");
        if content_type.to_ascii_lowercase().starts_with("multipart/") {
            // Alternatives are listed plainest first, so the first text/plain part is "the body".
            let parts = mime_param(content_type, "boundary").map(|b| multipart_parts(self.body, &b));
            let parts = parts.unwrap_or_default();
            let texts: Vec<Entity> = parts.into_iter().map(Entity::parse).collect();
            let plain = texts.iter().find(|e| {
                e.header("Content-Type").is_none_or(|t| t.to_ascii_lowercase().starts_with("text/plain"))
            });
            if let Some(part) = plain.or(texts.first()) {
                return part.text();
            }
        }
        // The CRLF ending the last line belongs to the SMTP framing, not to the message text.
        let body = self.body.strip_suffix("\r\n").unwrap_or(self.body).as_bytes();
        let cte = self.header("Content-Transfer-Encoding").unwrap_or("7bit").to_ascii_lowercase();
        let decoded = match cte.as_str() {
            "quoted-printable" => qp_decode(body),
            "base64" => base64_decode(body),
            _ => body.to_vec(),
        };
        String::from_utf8_lossy(&decoded).replace("\r\n", "\n")
    }
}

fn mime_param(header: &str, param: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.trim().eq_ignore_ascii_case(param).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn multipart_parts<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    // Everything before the first delimiter is preamble; "--" after one marks the end.
    for chunk in body.split(delimiter.as_str()).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk.strip_prefix("\r\n").unwrap_or(chunk);
        parts.push(chunk);
    }
    parts
}

impl Mail {
    /// The decoded text body (7bit/8bit, quoted-printable or base64), headers stripped, line ends as
    /// `\n`. For multipart mail, the first text/plain part.
    pub fn body(&self) -> String {
        Entity::parse(&self.data).text()
    }

    /// First occurrence of header `name` (case-insensitive), unfolded, RFC 2047 encoded-words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.raw_header(name).map(|v| decode_encoded_words(&v))
    }

    /// Like `header`, but encoded-words (`=?utf-8?b?...?=`) left as sent.
    pub fn raw_header(&self, name: &str) -> Option<String> {
        Entity::parse(&self.data).header(name).map(str::to_string)
    }

    /// First URL in the body starting with `prefix`, up to whitespace (or `<>"`, never part of a URL).
    pub fn link(&self, prefix: &str) -> Option<String> {
        let body = self.body();
        let start = body.find(prefix)?;
        let rest = &body[start..];
        let end =
            rest.find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"')).unwrap_or(rest.len());
        Some(rest[..end].to_string())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn qp_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] != b'=' {
            out.push(input[i]);
            i += 1;
        } else if input[i + 1..].starts_with(b"\r\n") {
            i += 3; // soft line break
        } else if input[i + 1..].starts_with(b"\n") {
            i += 2;
        } else if let Some((h, l)) =
            input.get(i + 1).and_then(|&h| hex_value(h)).zip(input.get(i + 2).and_then(|&l| hex_value(l)))
        {
            out.push(h << 4 | l);
            i += 3;
        } else {
            // Malformed escape: RFC 2045 suggests keeping it literally.
            out.push(b'=');
            i += 1;
        }
    }
    out
}

fn base64_decode(input: &[u8]) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a') as u32 + 26),
            b'0'..=b'9' => Some((c - b'0') as u32 + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    };
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    // Line breaks and other non-alphabet bytes are ignored, as RFC 2045 requires; '=' ends the data.
    for &c in input.iter().take_while(|&&c| c != b'=') {
        let Some(v) = value(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Decodes one `=?charset?B|Q?text?=` word at the start of `s`: (decoded bytes, length consumed).
fn encoded_word(s: &str) -> Option<(Vec<u8>, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (_charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if text.contains(char::is_whitespace) {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => base64_decode(text.as_bytes()),
        "Q" | "q" => qp_decode(text.replace('_', " ").as_bytes()),
        _ => return None,
    };
    let consumed = s.len() - rest.len() + end + 2;
    Some((bytes, consumed))
}

/// RFC 2047: adjacent encoded-words are joined without the whitespace between them, and their bytes
/// are concatenated before UTF-8 decoding because lettre may split a character across words.
fn decode_encoded_words(s: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut after_word = false;
    let mut rest = s;
    while !rest.is_empty() {
        let gap = rest.len() - rest.trim_start().len();
        if let Some((bytes, len)) = encoded_word(&rest[gap..]) {
            if !after_word {
                out.push_str(&rest[..gap]);
            }
            pending.extend(bytes);
            after_word = true;
            rest = &rest[gap + len..];
            continue;
        }
        out.push_str(&String::from_utf8_lossy(&std::mem::take(&mut pending)));
        after_word = false;
        let ch_len = rest.chars().next().map_or(1, char::len_utf8);
        let take = if gap > 0 { gap } else { ch_len };
        out.push_str(&rest[..take]);
        rest = &rest[take..];
    }
    out.push_str(&String::from_utf8_lossy(&pending));
    out
}
