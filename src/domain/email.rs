//! Email addresses and DNS domain names, lowercase and stricter than the RFCs.

use super::shorten;

/// A DNS domain name, lowercase: labels of letters, digits and '-', at least two of them, a
/// final label of letters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain(String);

impl Domain {
    pub fn parse(s: &str) -> Result<Domain, String> {
        let d = s.to_ascii_lowercase();
        let labels: Vec<&str> = d.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        let tld_ok = labels.last().is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_lowercase()));
        if d.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok {
            Ok(Domain(d))
        } else {
            Err(format!("'{s}' is not a domain name like example.com."))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, stored lowercase. Deliberately stricter than RFC 5322: no quoted local
/// parts, no comments, no IP literals, no whitespace — what real sign-ups use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    local: String,
    domain: Domain,
}

impl Email {
    pub fn parse(s: &str) -> Result<Email, String> {
        let invalid = |why: &str| Err(format!("'{}' is not a valid email address: {why}.", shorten(s)));
        if s.is_empty() {
            return Err("The email address is empty; give an address like alice@example.com.".into());
        }
        if s.len() > 254 {
            return invalid("it is longer than 254 characters");
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid("it contains spaces or control characters");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return invalid("it has no '@'");
        };
        if domain.contains('@') {
            return invalid("it has more than one '@'");
        }
        let local = Self::parse_local(local)
            .map_err(|why| format!("'{}' is not a valid email address: {why}.", shorten(s)))?;
        let domain = Domain::parse(domain).map_err(|_| {
            format!("'{}' is not a valid email address: the part after '@' is not a domain name.", shorten(s))
        })?;
        Ok(Email { local, domain })
    }

    /// A local part (the text before '@'): 1-64 characters of RFC 5322 "atext" and dots, with no
    /// leading, trailing or doubled dot. Lowercased.
    pub fn parse_local(local: &str) -> Result<String, &'static str> {
        if local.is_empty() {
            return Err("the part before '@' is empty");
        }
        if local.len() > 64 {
            return Err("the part before '@' is longer than 64 characters");
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err("the part before '@' has a misplaced dot");
        }
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c);
        if !local.chars().all(atext) {
            return Err("the part before '@' has a character addresses cannot contain");
        }
        Ok(local.to_ascii_lowercase())
    }

    pub fn local(&self) -> &str {
        &self.local
    }
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The same person's address moved onto another domain (the orchestrator mapping).
    pub fn with_domain(&self, domain: &Domain) -> Email {
        Email { local: self.local.clone(), domain: domain.clone() }
    }

    pub fn as_string(&self) -> String {
        format!("{}@{}", self.local, self.domain.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        let e = Email::parse("Alice.B+tag@Alice-Startup.com").unwrap();
        assert_eq!(e.as_string(), "alice.b+tag@alice-startup.com");
        let long_local = format!("{}@example.com", "a".repeat(65));
        let too_long = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "al ice@example.com",
            " alice@example.com",
            "alice@@example.com",
            "a@b@example.com",
            "alice@example",
            "alice@-example.com",
            ".alice@example.com",
            "al..ice@example.com",
            "alice@exa_mple.com",
            "alice@example.c0m",
            "al\"ice@example.com",
            &long_local,
            &too_long,
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn domains() {
        assert_eq!(Domain::parse("Orchestrator.COM").unwrap().as_str(), "orchestrator.com");
        for bad in ["", "com", "a..com", "-a.com", "a.c", "a b.com"] {
            assert!(Domain::parse(bad).is_err(), "{bad}");
        }
    }
}
