//! A webhook endpoint's address, which shows only its redacted form to every record.

use serde::Serialize;

/// A webhook endpoint's address: an absolute http(s) URL with a host and no user name or
/// password. Receivers often put a token of their own in it, so it has two faces: `as_sent`,
/// the whole URL, for the endpoint's row and the delivery; and every other way out — `Display`,
/// `Debug`, `Serialize`, the JSON `Value` it becomes — the redacted form (scheme, host, port and
/// path; no query, fragment or credentials), the only one a record (audit row, event, log line)
/// may hold (contract part three, "No secret in the audit log").
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(text: &str) -> Result<WebhookUrl, String> {
        let bad = |why: &str| format!("'url' {why}, e.g. https://hooks.example.com/provisiond.");
        let text = text.trim();
        if text.len() > Self::MAX_LEN {
            return Err(bad(&format!("must be at most {} characters", Self::MAX_LEN)));
        }
        let url = url::Url::parse(text).map_err(|_| bad("must be an absolute http or https URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("must start with http:// or https://"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not hold a user name or password (deliveries are signed instead)"));
        }
        if url.host().is_none() {
            return Err(bad("must name a host"));
        }
        Ok(WebhookUrl(url))
    }

    /// The host, as the client wrote it (normalized): a name or an address.
    pub fn host(&self) -> Option<url::Host<&str>> {
        self.0.host()
    }

    pub fn port_or_known_default(&self) -> Option<u16> {
        self.0.port_or_known_default()
    }

    /// The whole URL, token and all: for the endpoint's own row and the request to it, never
    /// for a record.
    pub fn as_sent(&self) -> &str {
        self.0.as_str()
    }

    /// Where deliveries go, without what may be a secret: no query, fragment, user name or
    /// password.
    pub fn redacted(&self) -> String {
        let mut u = self.0.clone();
        u.set_query(None);
        u.set_fragment(None);
        // Only fail for URLs that cannot have credentials, which then have none.
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.into()
    }
}

impl std::fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "WebhookUrl({:?})", self.redacted())
    }
}

impl Serialize for WebhookUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl From<&WebhookUrl> for serde_json::Value {
    fn from(u: &WebhookUrl) -> serde_json::Value {
        serde_json::Value::String(u.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_show_only_their_redacted_form() {
        let u = WebhookUrl::parse(" https://Hooks.Example.com:8443/in/x?token=SECRET&a=1#SECRET ").unwrap();
        assert_eq!(u.as_sent(), "https://hooks.example.com:8443/in/x?token=SECRET&a=1#SECRET");
        let shown = [
            u.to_string(),
            format!("{u:?}"),
            serde_json::to_string(&u).unwrap(),
            serde_json::Value::from(&u).to_string(),
            serde_json::json!({ "url": u }).to_string(),
        ];
        for s in &shown {
            assert!(s.contains("https://hooks.example.com:8443/in/x") && !s.contains("SECRET"), "{s}");
        }
        for bad in [
            "ftp://example.com/",
            "https://user:pass@example.com/",
            "https://user@example.com/",
            "not a url",
            "mailto:a@example.com",
            &format!("https://example.com/{}", "a".repeat(2048)),
        ] {
            let e = WebhookUrl::parse(bad).unwrap_err();
            assert!(e.starts_with("'url' ") && !e.contains("user:pass"), "{bad}: {e}");
        }
    }
}
