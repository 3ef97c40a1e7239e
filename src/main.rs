//! The binary: parses the command line and hands it to `provisiond::cli`.

use clap::Parser;
use provisiond::cli::{self, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    limit_malloc_arenas();
    let mut logger = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
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
