//! Names people read (organizations, persons, agents) and agent identifiers: trimmed, bounded,
//! and free of characters that would make them read as something else.

/// Characters a name must not contain: control characters, bidirectional-text controls (U+202E
/// makes "Acme\u{202E}moc.live" read as another name on a page) and invisible spaces. The
/// zero-width joiner stays: emoji sequences need it.
fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A name people read (an organization's, a person's): trimmed, 1 to `max` characters, nothing
/// in it that could make it read as something else (see `is_deceptive`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// `what` names the field in the error, e.g. "The organization name".
    pub fn parse(what: &str, s: &str, max: usize) -> Result<DisplayName, String> {
        let t = s.trim();
        match t.chars().count() {
            0 => Err(format!("{what} must not be empty.")),
            n if n > max => Err(format!("{what} must be at most {max} characters (got {n}).")),
            _ if t.chars().any(is_deceptive) => Err(format!(
                "{what} must not contain control characters, line breaks, or invisible or text-direction characters."
            )),
            _ => Ok(DisplayName(t.to_string())),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An agent's display name: 1 to 255 characters after trimming.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentName(String);

impl AgentName {
    pub fn parse(s: &str) -> Result<AgentName, String> {
        let t = s.trim();
        match t.chars().count() {
            0 => Err("'name' must not be empty.".into()),
            n if n > 255 => Err(format!("'name' must be at most 255 characters (got {n}).")),
            _ if t.chars().any(is_deceptive) => {
                Err("'name' must not contain control characters, or invisible or text-direction characters."
                    .into())
            }
            _ => Ok(AgentName(t.to_string())),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An agent identifier: `^[a-z0-9][a-z0-9-]{0,49}$`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentIdentifier(String);

impl AgentIdentifier {
    pub fn parse(field: &str, s: &str) -> Result<AgentIdentifier, String> {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if first_ok && rest_ok && s.len() <= 50 {
            Ok(AgentIdentifier(s.to_string()))
        } else {
            Err(format!(
                "'{field}' must be 1-50 characters of lowercase letters, digits and '-', starting with a letter or digit."
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["default", "a", "0-x", &"a".repeat(50)] {
            assert!(AgentIdentifier::parse("identifier", ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "A", "a_b", "a b", &"a".repeat(51), "é"] {
            assert!(AgentIdentifier::parse("identifier", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_names_refuse_what_could_spoof_them() {
        assert_eq!(DisplayName::parse("Name", "  Acme Inc. ", 200).unwrap().as_str(), "Acme Inc.");
        assert!(DisplayName::parse("Name", "Zoë 👩\u{200D}💻", 200).is_ok());
        for bad in
            ["", "  ", "a\u{0}b", "a\nb", "a\tb", "Acme\u{202E}moc", "a\u{2066}b", "a\u{200B}b", "\u{FEFF}a"]
        {
            assert!(DisplayName::parse("Name", bad, 200).is_err(), "{bad:?}");
        }
        assert!(DisplayName::parse("Name", &"x".repeat(201), 200).is_err());
        assert!(AgentName::parse("Bot\u{202E}").is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(AgentName::parse("  Bot ").unwrap().as_str(), "Bot");
        assert!(AgentName::parse("   ").is_err());
        assert!(AgentName::parse(&"é".repeat(255)).is_ok());
        assert!(AgentName::parse(&"é".repeat(256)).is_err());
    }
}
