//! API keys and claim tokens: 32 bytes from the OS random source, shown once, stored only as
//! blake3 hashes.

/// A freshly issued secret: the text handed to the caller once, and what we keep of it.
pub struct Issued {
    pub secret: String,
    pub hash: [u8; 32],
    /// Prefix plus the first 8 hex characters: enough to recognise a key in a listing.
    pub hint: String,
}

/// Fails only when the OS random source does; there is no safe fallback, so the request fails.
fn random_hex() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

pub fn hash(secret: &str) -> [u8; 32] {
    *blake3::hash(secret.as_bytes()).as_bytes()
}

/// A new API key: `<prefix>` followed by 64 lowercase hex characters.
pub fn new_api_key(prefix: &str) -> Result<Issued, getrandom::Error> {
    let body = random_hex()?;
    let secret = format!("{prefix}{body}");
    Ok(Issued { hash: hash(&secret), hint: format!("{prefix}{}", &body[..8]), secret })
}

/// A new claim token: 64 lowercase hex characters.
pub fn new_claim_token() -> Result<Issued, getrandom::Error> {
    let secret = random_hex()?;
    Ok(Issued { hash: hash(&secret), hint: String::new(), secret })
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_has_prefix_and_64_hex() {
        let k = new_api_key("oc_").unwrap();
        let body = k.secret.strip_prefix("oc_").unwrap();
        assert_eq!(body.len(), 64);
        assert!(body.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_eq!(k.hash, hash(&k.secret));
        assert_eq!(k.hint, format!("oc_{}", &body[..8]));
    }

    #[test]
    fn secrets_differ() {
        assert_ne!(new_claim_token().unwrap().secret, new_claim_token().unwrap().secret);
        assert_eq!(new_claim_token().unwrap().secret.len(), 64);
    }
}
