//! Results with a secret in them (a new key, a claim link), made by a form post and shown on the
//! page the browser is sent to next, so that a reload cannot make them again: once, to the
//! person who made them, within ten minutes. The redirect may land on another replica, so the
//! result waits in the database, sealed (ChaCha20-Poly1305) under a key derived from the session
//! cookie, which only the browser holds: the database alone reveals no secret.

use super::Ctx;
use crate::clock::Millis;
use crate::db::Tx;
use crate::domain::UserId;
use crate::error::{Error, Result};
use crate::secrets;
use crate::store;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// How long a result waits to be shown; after that it is gone.
const SHOW_WITHIN_MS: Millis = 10 * 60_000;

/// The key a session's results are sealed under, from its cookie token.
pub fn session_key(cookie_token: &str) -> [u8; 32] {
    blake3::derive_key("provisiond 2026-11 show-once results", cookie_token.as_bytes())
}

/// Keeps `body` for the person's next page; returns the id that page is opened with.
pub async fn put(ctx: &Ctx, key: [u8; 32], user: &UserId, title: &str, body: String) -> Result<String> {
    let id = secrets::new_claim_token()?;
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce)?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: body.as_bytes(), aad: &id.hash })
        .map_err(|_| Error::Internal("sealing a result failed".into()))?;
    let stored: Vec<u8> = nonce.iter().copied().chain(sealed).collect();
    let (user, title, now) = (user.clone(), title.to_string(), ctx.now());
    let hash = id.hash;
    ctx.db
        .write(move |tx| Ok::<_, Error>(store::shown::put(tx, &hash, &user, &title, &stored, now)?))
        .await?;
    Ok(id.secret)
}

/// The result `id`, once: its title and body; None when it was shown already, has expired, is
/// someone else's, or cannot be opened with this session's key.
pub async fn take(ctx: &Ctx, key: [u8; 32], user: &UserId, id: &str) -> Result<Option<(String, String)>> {
    if id.len() != 64 {
        return Ok(None);
    }
    let hash = secrets::hash(id);
    let (user, since) = (user.clone(), ctx.now() - SHOW_WITHIN_MS);
    let found = ctx.db.write(move |tx| Ok::<_, Error>(store::shown::take(tx, &hash, &user, since)?)).await?;
    let Some((title, stored)) = found else { return Ok(None) };
    if stored.len() < 12 {
        return Ok(None);
    }
    let (nonce, sealed) = stored.split_at(12);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
    let Ok(body) = cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: &hash }) else {
        return Ok(None);
    };
    Ok(String::from_utf8(body).ok().map(|b| (title, b)))
}

/// Results nobody came back for (the cleanup job).
pub(super) fn forget_expired(tx: &Tx, now: Millis) -> Result<()> {
    store::shown::delete_older_than(tx, now - SHOW_WITHIN_MS)?;
    Ok(())
}
