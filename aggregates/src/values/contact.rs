//! How a portal user is reached and named: e-mail addresses, usernames, and the rules a
//! new password must meet.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::rules;

/// An email address: used to send mail, never as an identity (several users may share one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Enforces `rules::EMAIL` and `rules::EMAIL_MAX_CHARS`; the address is kept trimmed.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let invalid = || Err("is not a valid email address".to_string());
        if raw.chars().count() > rules::EMAIL_MAX_CHARS {
            return invalid();
        }
        let email = raw.trim();
        let Some((local, domain)) = email.split_once('@') else {
            return invalid();
        };
        let local_ok = (1..=64).contains(&local.len())
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c));
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let labels: Vec<&str> = domain.split('.').collect();
        if !local_ok || labels.len() < 2 || !labels.into_iter().all(label_ok) {
            return invalid();
        }
        Ok(Self(email.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A portal login name: unique within a tenant ignoring case, and never changed once created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub const MIN: usize = 3;
    pub const MAX: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        let len = name.chars().count();
        if !(Self::MIN..=Self::MAX).contains(&len) {
            return Err(format!("must be {} to {} characters", Self::MIN, Self::MAX));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
        {
            return Err("may contain only letters, digits and . _ - @ +".into());
        }
        if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err("must start with a letter or digit".into());
        }
        Ok(Self(name.to_string()))
    }

    /// A username built from a hint (an email's local part or a name) and a numeric suffix,
    /// for logins whose username staff leave blank.
    pub fn generate(hint: &str, suffix: u32) -> Self {
        let mut base: String = hint
            .split('@')
            .next()
            .unwrap_or_default()
            .chars()
            .filter_map(|c| {
                if c.is_ascii_alphanumeric() {
                    Some(c.to_ascii_lowercase())
                } else if matches!(c, '.' | '_' | '-') {
                    Some(c)
                } else {
                    None
                }
            })
            .skip_while(|c| !c.is_ascii_alphanumeric())
            .take(24)
            .collect();
        if base.len() < 3 {
            base = format!("user{base}");
        }
        Self(format!("{base}-{suffix:05}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Rules a new portal password must meet. The password itself never leaves the edge and the
/// hashing step: it is not a domain value and is never stored in an event.
pub fn check_password(password: &str, username: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < 12 {
        return Err("must be at least 12 characters".into());
    }
    if len > 256 {
        return Err("must be at most 256 characters".into());
    }
    let lowered = password.to_lowercase();
    if !username.is_empty() && lowered.contains(&username.to_lowercase()) {
        return Err("must not contain the username".into());
    }
    if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(' '))
    {
        return Err("must not be one character repeated".into());
    }
    Ok(())
}
