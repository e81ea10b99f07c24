//! Free text: the one-line values (names, titles, references, reasons) and contract bodies.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::{has_control_chars, has_invisible_chars};

/// Checks a one-line text value against `rules::TEXT` and at most `max` characters (of
/// the input as given), and returns it trimmed.
fn bounded_text(raw: &str, max: usize, what: &str) -> Result<String, String> {
    if raw.chars().count() > max {
        return Err(format!("{what} must be at most {max} characters"));
    }
    if has_control_chars(raw) {
        return Err(format!("{what} must not contain control characters"));
    }
    if has_invisible_chars(raw) {
        return Err(format!(
            "{what} must not contain invisible or text-direction characters"
        ));
    }
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    Ok(trimmed.to_string())
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $max:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The longest value, in characters of the input as given (`rules::TEXT` too).
            pub const MAX_CHARS: usize = $max;

            pub fn parse(raw: &str) -> Result<Self, String> {
                bounded_text(raw, $max, $what).map(Self)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_value!(
    /// A client's name as staff see it.
    DisplayName, 200, "name"
);
text_value!(
    /// The firm's own reference for a client (practice-management id, account number).
    ExternalRef, 100, "external reference"
);
text_value!(
    /// A product's name on the portal.
    ItemName, 200, "name"
);
text_value!(
    /// A contract's title.
    ContractTitle, 200, "title"
);
text_value!(
    /// The name a signer types when signing.
    SignerName, 200, "signer name"
);
text_value!(
    /// What an item is, in a sentence or a paragraph, for the catalogue and the portal.
    ItemDescription, 2000, "description"
);
text_value!(
    /// A staff member's name as auditors read it.
    PersonName, 200, "name"
);
text_value!(
    /// What a staff token is for ("Jo's laptop", "staff UI backend").
    Label, 200, "label"
);
text_value!(
    /// Why staff disabled a login or voided a contract.
    Reason, 500, "reason"
);

/// Contract text; long, multi-line, and hashed exactly as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContractBody(String);

impl ContractBody {
    pub const MAX_CHARS: usize = 200_000;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "body must be at most {} characters",
                Self::MAX_CHARS
            ));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err("body must not contain control characters".into());
        }
        if has_invisible_chars(raw) {
            return Err("body must not contain invisible or text-direction characters".into());
        }
        if raw.trim().is_empty() {
            return Err("body must not be empty".into());
        }
        Ok(Self(raw.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
