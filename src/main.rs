//! The binary: parses the command line and hands it to `provisiond::cli`.

use clap::Parser;
use provisiond::cli::{self, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    limit_malloc_arenas();
    let json = match std::env::var("LOG_FORMAT").as_deref().map(str::trim) {
        Err(_) | Ok("") | Ok("text") => false,
        Ok("json") => true,
        Ok(other) => {
            eprintln!("provisiond: error: LOG_FORMAT must be text or json (got '{other}')");
            return ExitCode::FAILURE;
        }
    };
    let mut logger = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    logger.format(move |buf, record| log_line(buf, record, json));
    // The PostgreSQL driver logs every statement's parameters at debug: every value written
    // (addresses, names, webhook URLs with their receivers' tokens) would reach the log with
    // RUST_LOG=debug. Only when asked for by name.
    if !std::env::var("RUST_LOG").is_ok_and(|v| v.contains("tokio_postgres")) {
        logger.filter_module("tokio_postgres::query", log::LevelFilter::Info);
    }
    logger.init();
    match cli::run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("provisiond: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// One log line: `[time LEVEL target] message rid=…`, or with LOG_FORMAT=json one JSON object
/// (`ts`, `level`, `target`, `msg`, `request_id`). The request id is there for every line written
/// while a request is handled on its own task (the access line, handler and service warnings);
/// lines from the database writer and the background threads have none.
fn log_line(buf: &mut env_logger::fmt::Formatter, record: &log::Record, json: bool) -> std::io::Result<()> {
    use std::io::Write;
    let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let id = provisiond::http::request_id();
    let msg = record.args().to_string();
    if json {
        let mut line = serde_json::json!({
            "ts": ts.to_string(),
            "level": record.level().as_str(),
            "target": record.target(),
            "msg": msg,
        });
        if let Some(id) = id {
            line["request_id"] = serde_json::Value::String(id);
        }
        writeln!(buf, "{line}")
    } else {
        match id {
            Some(id) if !msg.contains("rid=") => {
                writeln!(buf, "[{ts} {} {}] {msg} rid={id}", record.level(), record.target())
            }
            _ => writeln!(buf, "[{ts} {} {}] {msg}", record.level(), record.target()),
        }
    }
}

/// glibc gives every thread that allocates its own malloc arena, each holding on to freed memory;
/// with actix workers, the blocking pool and our threads that is most of the resident memory.
/// Two arenas are plenty for this server. And a fixed mmap threshold: glibc otherwise raises it
/// after the first large block is freed, so each password hash's 19 MiB then comes from the heap,
/// fragments it and stays resident (bench/flood measured 240-580 MiB under a log-in flood; with
/// the threshold fixed, about 50 MiB). Large blocks are rare here, so mapping them costs nothing.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
