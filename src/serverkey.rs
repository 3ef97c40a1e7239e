//! The server key: 32 bytes kept outside the database (`SECRET_KEY`, `SECRET_KEY_FILE`, or a
//! file generated beside the SQLite database), under which the webhooks' signing secrets are
//! sealed (ChaCha20-Poly1305, from RustCrypto). A copy of the database alone reveals no secret.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::Path;

#[derive(Clone)]
pub struct ServerKey([u8; 32]);

/// Never printed: a log line or panic message shows only that there is one.
impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("ServerKey(…)")
    }
}

impl ServerKey {
    /// 64 hex digits or the base64 of 32 bytes (`openssl rand -hex 32`, `openssl rand -base64 32`).
    pub fn parse(text: &str) -> Result<ServerKey, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..64).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or(0)).collect()
        } else {
            base64::engine::general_purpose::STANDARD.decode(text).unwrap_or_default()
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            "must be 32 bytes as 64 hex digits or base64, e.g. the output of `openssl rand -hex 32`"
                .to_string()
        })?;
        Ok(ServerKey(key))
    }

    /// The key in `path`, or a new one written there (readable by the owner only) when there is
    /// no file yet.
    pub fn load_or_create(path: &Path) -> Result<ServerKey, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                ServerKey::parse(&text).map_err(|e| format!("the server key in {}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| format!("no random source for a server key: {e}"))?;
                let text: String = key.iter().map(|b| format!("{b:02x}")).collect();
                write_private(path, &format!("{text}\n"))
                    .map_err(|e| format!("cannot write a new server key to {}: {e}", path.display()))?;
                log::info!(
                    "generated a server key in {} (keep it with backups of the database)",
                    path.display()
                );
                Ok(ServerKey(key))
            }
            Err(e) => Err(format!("cannot read the server key {}: {e}", path.display())),
        }
    }

    /// `secret` sealed, bound to `context` (the row it belongs to): nonce then ciphertext.
    pub fn seal(&self, secret: &[u8], context: &[u8]) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| e.to_string())?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret, aad: context })
            .map_err(|_| "sealing failed".to_string())?;
        Ok(nonce.iter().copied().chain(sealed).collect())
    }

    /// What `seal` sealed; an error when the key or the context is not the one it was sealed with.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, String> {
        if sealed.len() < 12 {
            return Err("sealed value too short".into());
        }
        let (nonce, body) = sealed.split_at(12);
        ChaCha20Poly1305::new(Key::from_slice(&self.0))
            .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: context })
            .map_err(|_| {
                "cannot open a sealed secret: the server key is not the one it was sealed with".into()
            })
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_with_the_same_key_and_context() {
        let k = ServerKey::parse(&"ab".repeat(32)).unwrap();
        let other = ServerKey::parse(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])).unwrap();
        let sealed = k.seal(b"whsec_x", b"row").unwrap();
        assert_eq!(k.open(&sealed, b"row").unwrap(), b"whsec_x");
        assert!(k.open(&sealed, b"other row").is_err());
        assert!(other.open(&sealed, b"row").is_err());
        assert!(ServerKey::parse("short").is_err());
        assert_eq!(format!("{k:?}"), "ServerKey(…)");
    }
}
