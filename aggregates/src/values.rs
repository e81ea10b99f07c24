//! Validated value types: each `parse` is the one place a raw input becomes a domain value.
//! Deserialising (from stored events) does not re-validate: history must always load.

use serde::{Deserialize, Serialize};
use std::fmt;

fn has_control_chars(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn bounded_text(raw: &str, min: usize, max: usize, what: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    let len = trimmed.chars().count();
    if len < min {
        return Err(if min == 1 {
            format!("{what} must not be empty")
        } else {
            format!("{what} must be at least {min} characters")
        });
    }
    if len > max {
        return Err(format!("{what} must be at most {max} characters"));
    }
    if has_control_chars(trimmed) {
        return Err(format!("{what} must not contain control characters"));
    }
    Ok(trimmed.to_string())
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, String> {
                bounded_text(raw, $min, $max, $what).map(Self)
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
    DisplayName, 1, 200, "name"
);
text_value!(
    /// The firm's own reference for a client (practice-management id, account number).
    ExternalRef, 1, 100, "external reference"
);
text_value!(
    /// A product's name on the portal.
    ItemName, 1, 200, "name"
);
text_value!(
    /// A contract's title.
    ContractTitle, 1, 200, "title"
);
text_value!(
    /// The name a signer types when signing.
    SignerName, 1, 200, "signer name"
);
text_value!(
    /// What an item is, in a sentence or a paragraph, for the catalogue and the portal.
    ItemDescription, 1, 2000, "description"
);
text_value!(
    /// A staff member's name as auditors read it.
    PersonName, 1, 200, "name"
);
text_value!(
    /// Why staff disabled a login or voided a contract.
    Reason, 1, 500, "reason"
);

/// Contract text; long, multi-line, and hashed exactly as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContractBody(String);

impl ContractBody {
    pub const MAX_CHARS: usize = 200_000;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("body must not be empty".into());
        }
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
        Ok(Self(raw.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address: used to send mail, never as an identity (several users may share one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim();
        let invalid = || Err("is not a valid email address".to_string());
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid();
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return invalid();
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return invalid();
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    Individual,
    Organisation,
}

impl ClientKind {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "individual" => Ok(Self::Individual),
            "organisation" => Ok(Self::Organisation),
            _ => Err("must be \"individual\" or \"organisation\"".into()),
        }
    }

    /// The stored and shown spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Individual => "individual",
            Self::Organisation => "organisation",
        }
    }
}

/// A stock-keeping unit: the firm's product code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let sku = raw.trim();
        if sku.is_empty() || sku.chars().count() > 64 {
            return Err("must be 1 to 64 characters".into());
        }
        if !sku
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        {
            return Err("may contain only letters, digits and - _ . /".into());
        }
        Ok(Self(sku.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// ISO 4217 alphabetic codes of currencies (and funds) in use, sorted; not the testing
/// (`XTS`) or no-currency (`XXX`) codes.
pub const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
    "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD",
    "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR",
    "XOF", "XPD", "XPF", "XPT", "XSU", "XUA", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

/// An amount in the currency's minor unit (pence, cents) and an ISO 4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
}

impl Money {
    pub fn parse(amount_minor: i64, currency: &str) -> Result<Self, (&'static str, String)> {
        if amount_minor < 0 {
            return Err(("amount_minor", "must not be negative".into()));
        }
        if amount_minor > 1_000_000_000_000 {
            return Err(("amount_minor", "is too large".into()));
        }
        if ISO_4217.binary_search(&currency).is_err() {
            return Err((
                "currency",
                "must be an ISO 4217 currency code such as GBP or EUR".into(),
            ));
        }
        Ok(Self {
            amount_minor,
            currency: currency.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in [
            "a@b.co",
            " jo.smith+tax@example.org ",
            "x@sub.example.co.uk",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a b@c.de", "a@b..c", "a@-b.com", "a@b.c@d",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        assert!(Username::parse("jo").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
        assert!(Username::parse("-jo").is_err());
        assert!(Username::parse("jo smith").is_err());
        assert_eq!(Username::parse(" Jo.Smith ").unwrap().as_str(), "Jo.Smith");
        assert_eq!(
            Username::generate("Jo.Smith@example.org", 42).as_str(),
            "jo.smith-00042"
        );
        assert_eq!(Username::generate("__", 7).as_str(), "user-00007");
        assert!(Username::parse(Username::generate("Zoë Ålund", 99999).as_str()).is_ok());
    }

    #[test]
    fn passwords() {
        assert!(check_password("short", "jo").is_err());
        assert!(check_password(&"x".repeat(257), "jo").is_err());
        assert!(check_password("aaaaaaaaaaaaaa", "jo").is_err());
        assert!(check_password("my-JoSmith-password", "josmith").is_err());
        assert!(check_password("correct horse battery", "josmith").is_ok());
    }

    #[test]
    fn text_bounds() {
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"n".repeat(201)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
        assert_eq!(
            DisplayName::parse("  Acme Ltd ").unwrap().as_str(),
            "Acme Ltd"
        );
    }

    #[test]
    fn money() {
        assert!(Money::parse(-1, "GBP").is_err());
        assert!(Money::parse(100, "gbp").is_err());
        assert!(Money::parse(100, "GBPX").is_err());
        assert_eq!(Money::parse(1999, "GBP").unwrap().amount_minor, 1999);
    }
}
