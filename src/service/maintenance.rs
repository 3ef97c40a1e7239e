//! Keeping the database tidy and whole: the sweep of expired provisions, links and sessions;
//! backups; the health check.

use super::{audit, auth, idempotency, limits, provisioning, shown, Ctx};
use crate::clock::Millis;
use crate::db::{Db, Engine};
use crate::error::{Error, Result};
use crate::store;
use std::path::Path;

/// How long the events feed and the webhook delivery log reach back (a delivery still being
/// retried keeps its event).
pub const EVENTS_KEPT_MS: Millis = 30 * 86_400_000;

/// Sweeps everything that has expired by `now`: provisions (in batches through the writer queue,
/// between the requests' writes), then mailed links, web sessions, results nobody came back for,
/// idle limits, idempotency records past their 24 hours, audit rows past AUDIT_RETENTION, and events and finished deliveries past 30 days. Returns how many provisions it ended. Blocking: for the cleanup thread and the command line.
pub fn sweep(ctx: &Ctx, now: Millis) -> Result<usize> {
    let started = std::time::Instant::now();
    let swept = sweep_all(ctx, now);
    ctx.metrics.swept(started.elapsed());
    swept
}

fn sweep_all(ctx: &Ctx, now: Millis) -> Result<usize> {
    let mut total = 0;
    loop {
        let ended = ctx.db.write_queued(move |tx| provisioning::expire_batch(tx, now))?;
        total += ended;
        if ended < provisioning::SWEEP_BATCH as usize {
            break;
        }
    }
    let retention = ctx.rules.audit_retention_ms;
    ctx.db.write_queued(move |tx| -> Result<()> {
        audit::prune(tx, now, retention)?;
        store::webhooks::prune(tx, now - EVENTS_KEPT_MS)?;
        store::events::prune(tx, now - EVENTS_KEPT_MS)?;
        store::email_tokens::delete_expired(tx, now)?;
        store::sessions::delete_expired(tx, now)?;
        shown::forget_expired(tx, now)?;
        store::idempotency::prune(tx, now - idempotency::KEEP_MS)?;
        limits::forget_idle(tx, now)
    })?;
    Ok(total)
}

/// The application's metrics in the Prometheus text format, with the gauges that live in the
/// database (the provisions by status, the webhook deliveries waiting, SQLite's WAL) read now:
/// two small queries per scrape rather than bookkeeping on every write.
pub async fn metrics(ctx: &Ctx) -> Result<String> {
    if !ctx.metrics.is_on() {
        return Ok(String::new());
    }
    let now = ctx.now();
    let (by_status, pending) = ctx
        .db
        .read(move |c| {
            Ok::<_, Error>((store::provisions::count_by_status(c, now)?, store::webhooks::pending(c)?))
        })
        .await?;
    // Our four statuses, each given (0 when none): the labels are ours, not the rows'.
    let provisions = ["pending", "claimed", "cancelled", "expired"]
        .map(|status| (status, by_status.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n)));
    let wal = ctx.db.wal().map(|w| crate::metrics::Wal { bytes: w.bytes, restarts: w.restarts });
    Ok(ctx.metrics.render(&provisions, pending, wal))
}

/// The periodic work of the cleanup thread: the sweep, then the key uses noted since last time.
pub fn tidy(ctx: &Ctx) -> Result<usize> {
    let ended = sweep(ctx, ctx.now())?;
    auth::flush_key_usage(ctx)?;
    Ok(ended)
}

/// A consistent copy of the database at `dest`, safe while the server runs.
pub fn backup(ctx: &Ctx, dest: &Path) -> Result<()> {
    ctx.db.backup_to(dest).ok_or(Error::UsePgDump)?.map_err(Error::from)
}

/// Whether the database answers.
pub async fn health(ctx: &Ctx) -> Result<()> {
    ctx.db.read(|c| Ok(store::orgs::count_orgs(c).map(|_| ())?)).await
}

/// At a clean stop: the key uses noted so far are written, and the database is made complete on
/// its own.
pub fn shut_down(ctx: &Ctx) {
    if let Err(e) = auth::flush_key_usage(ctx) {
        log::warn!("could not record API key use at shutdown: {e}");
    }
    if let Err(e) = ctx.db.checkpoint() {
        log::warn!("WAL checkpoint at shutdown failed: {e}");
    }
}

/// What `migrate_to_postgres` copied: rows per table.
pub struct Copied {
    pub tables: Vec<(&'static str, usize)>,
}

/// Copies every row of `from` (a SQLite database) into `to` (an empty PostgreSQL database) in
/// one transaction, internal row numbers, hashes and times as they are, then reads both back
/// and compares them row by row: the keys, provisions, claim links, credits and sessions all
/// keep working on PostgreSQL. Blocking: for the command line.
pub fn migrate_to_postgres(from: &Db, to: &Db) -> Result<Copied> {
    use crate::store::copy::TABLES;
    if to.engine() != Engine::Postgres {
        return Err(Error::Internal("DATABASE_URL must name the PostgreSQL database to copy into".into()));
    }
    let empty = to.read_blocking(|c| -> Result<bool> {
        Ok(store::orgs::count_orgs(c)? == 0 && store::users::count_users(c)? == 0)
    })?;
    if !empty {
        return Err(Error::Internal(format!(
            "the database at {} already holds data; copy into an empty one",
            to.location()
        )));
    }
    let mut tables = Vec::new();
    to.write_blocking(|tx| -> Result<()> {
        for table in TABLES {
            let rows = from.read_blocking(|c| table.rows(c))?;
            table.write(tx, &rows)?;
            tables.push((table.name, rows.len()));
        }
        Ok(())
    })?;
    for table in TABLES {
        let (source, copy) = (from.read_blocking(|c| table.rows(c))?, to.read_blocking(|c| table.rows(c))?);
        if source.len() != copy.len() {
            return Err(Error::Internal(format!(
                "{}: {} rows in the copy, {} in the original",
                table.name,
                copy.len(),
                source.len()
            )));
        }
        if let Some(i) = source.iter().zip(&copy).position(|(a, b)| a != b) {
            return Err(Error::Internal(format!("{}: row {} differs in the copy", table.name, i + 1)));
        }
    }
    Ok(Copied { tables })
}
