//! Keeping the database tidy and whole: the sweep of expired provisions, links and sessions;
//! backups; the health check.

use super::{keys, provisioning, Ctx};
use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::store;
use std::path::Path;

/// Sweeps everything that has expired by `now`: provisions (in batches through the writer queue,
/// between the requests' writes), then mailed links and web sessions. Returns how many
/// provisions it ended. Blocking: for the cleanup thread and the command line.
pub fn sweep(ctx: &Ctx, now: Millis) -> Result<usize> {
    let mut total = 0;
    loop {
        let ended = ctx.db.write_queued(move |tx| provisioning::expire_batch(tx, now))?;
        total += ended;
        if ended < provisioning::SWEEP_BATCH as usize {
            break;
        }
    }
    ctx.db.write_queued(move |tx| -> Result<()> {
        store::email_tokens::delete_expired(tx, now)?;
        store::sessions::delete_expired(tx, now)?;
        Ok(())
    })?;
    Ok(total)
}

/// The periodic work of the cleanup thread: the sweep, then the key uses noted since last time.
pub fn tidy(ctx: &Ctx) -> Result<usize> {
    let ended = sweep(ctx, ctx.now())?;
    keys::flush_key_usage(ctx)?;
    Ok(ended)
}

/// A consistent copy of the database at `dest`, safe while the server runs.
pub fn backup(ctx: &Ctx, dest: &Path) -> Result<()> {
    ctx.db.backup_to(dest).map_err(Error::from)
}

/// Whether the database answers.
pub async fn health(ctx: &Ctx) -> Result<()> {
    ctx.db.read(|c| Ok(store::orgs::count_orgs(c).map(|_| ())?)).await
}

/// At a clean stop: the key uses noted so far are written, and the database is made complete on
/// its own.
pub fn shut_down(ctx: &Ctx) {
    if let Err(e) = keys::flush_key_usage(ctx) {
        log::warn!("could not record API key use at shutdown: {e}");
    }
    if let Err(e) = ctx.db.checkpoint() {
        log::warn!("WAL checkpoint at shutdown failed: {e}");
    }
}
