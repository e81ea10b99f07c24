//! Validated value types: each `parse` is the one place a raw input becomes a domain value.
//! Deserialising (from stored events) does not re-validate: history must always load.

use serde::{Deserialize, Serialize};
use std::fmt;

fn has_control_chars(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// The published form of each input rule: a pattern (ECMA-262, Python and Rust `regex`
/// read it alike) and, where the pattern leaves it open, a length bound on the raw input.
/// The HTTP schema publishes these; each `parse` below enforces exactly the same set
/// (`tests` check the two agree), so a request the schema calls valid is accepted and one
/// it calls invalid is refused.
pub mod rules {
    /// Characters `str::trim` removes (Unicode White_Space), as the inside of a class.
    macro_rules! ws {
        () => {
            r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
        };
    }
    /// Control characters (`char::is_control`, Unicode Cc), as the inside of a class.
    macro_rules! cc {
        () => {
            r"\x00-\x1f\x7f-\x9f"
        };
    }
    /// Control characters but tab, line feed and carriage return.
    macro_rules! cc_but_lines {
        () => {
            r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
        };
    }
    macro_rules! label {
        () => {
            r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        };
    }

    /// One-line text: no control character, not blank (surrounding space is trimmed).
    pub const TEXT: &str = concat!("^[^", cc!(), "]*[^", cc!(), ws!(), "][^", cc!(), "]*$");
    /// Multi-line text (contract bodies): tabs and line breaks allowed, not blank.
    pub const MULTILINE_TEXT: &str = concat!(
        "^[^",
        cc_but_lines!(),
        "]*[^",
        cc_but_lines!(),
        ws!(),
        "][^",
        cc_but_lines!(),
        "]*$"
    );
    /// An e-mail address: ASCII local part of up to 64 characters, a domain of two or more
    /// DNS labels (international domains in their `xn--` form).
    pub const EMAIL: &str = concat!(
        "^[",
        ws!(),
        "]*[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@",
        label!(),
        r"(?:\.",
        label!(),
        ")+[",
        ws!(),
        "]*$"
    );
    /// The longest e-mail address, counted on the raw input.
    pub const EMAIL_MAX_CHARS: usize = 254;
    /// A portal username: 3–64 of letters, digits and `. _ - @ +`, starting with a letter or digit.
    pub const USERNAME: &str = concat!(
        "^[",
        ws!(),
        "]*[A-Za-z0-9][A-Za-z0-9._@+-]{2,63}[",
        ws!(),
        "]*$"
    );
    /// A product code: 1–64 of letters, digits and `- _ . /`.
    pub const SKU: &str = concat!("^[", ws!(), "]*[A-Za-z0-9._/-]{1,64}[", ws!(), "]*$");
    /// Free text that is only searched or compared (labels, search terms, login names):
    /// anything but a NUL, which PostgreSQL text cannot hold.
    pub const ANY_TEXT: &str = r"^[^\x00]*$";
}

/// Checks a one-line text value against `rules::TEXT` and at most `max` characters (of
/// the input as given), and returns it trimmed.
fn bounded_text(raw: &str, max: usize, what: &str) -> Result<String, String> {
    if raw.chars().count() > max {
        return Err(format!("{what} must be at most {max} characters"));
    }
    if has_control_chars(raw) {
        return Err(format!("{what} must not contain control characters"));
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
        if raw.trim().is_empty() {
            return Err("body must not be empty".into());
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::VariantNames)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ClientKind {
    Individual,
    Organisation,
}

impl ClientKind {
    /// Every kind's spelling.
    pub const NAMES: &[&str] = <Self as strum::VariantNames>::VARIANTS;

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
    /// The largest amount, in minor units.
    pub const MAX_MINOR: i64 = 1_000_000_000_000;

    pub fn parse(amount_minor: i64, currency: &str) -> Result<Self, (&'static str, String)> {
        if amount_minor < 0 {
            return Err(("amount_minor", "must not be negative".into()));
        }
        if amount_minor > Self::MAX_MINOR {
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

/// ISO 4217 currencies whose minor unit is not a hundredth: how many decimals each has.
/// Codes with no minor unit at all (precious metals, bond-market units, SDR) count whole
/// units, like the zero-decimal currencies. Every other code has two.
const DECIMALS_OTHER_THAN_TWO: &[(&str, u32)] = &[
    ("BHD", 3),
    ("BIF", 0),
    ("CLF", 4),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("PYG", 0),
    ("RWF", 0),
    ("TND", 3),
    ("UGX", 0),
    ("UYI", 0),
    ("UYW", 4),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XAG", 0),
    ("XAU", 0),
    ("XBA", 0),
    ("XBB", 0),
    ("XBC", 0),
    ("XBD", 0),
    ("XDR", 0),
    ("XOF", 0),
    ("XPD", 0),
    ("XPF", 0),
    ("XPT", 0),
    ("XSU", 0),
    ("XUA", 0),
];

impl Money {
    /// Decimals of the currency's minor unit: 2 for GBP (pence), 0 for JPY, 3 for KWD.
    pub fn decimals(&self) -> u32 {
        DECIMALS_OTHER_THAN_TWO
            .binary_search_by(|(code, _)| (*code).cmp(self.currency.as_str()))
            .map_or(2, |i| DECIMALS_OTHER_THAN_TWO[i].1)
    }
}

/// "GBP 120.00", "JPY 1500", "KWD 1.250": the code and the amount with the currency's own
/// decimals (how staff and clients read prices).
impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (minor, decimals) = (self.amount_minor, self.decimals());
        if decimals == 0 {
            return write!(f, "{} {minor}", self.currency);
        }
        let unit = 10i64.pow(decimals);
        write!(
            f,
            "{} {}.{:0width$}",
            self.currency,
            minor / unit,
            (minor % unit).abs(),
            width = decimals as usize
        )
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

    /// Each published rule accepts exactly what its `parse` accepts, on strings made of
    /// the characters the rules care about (a fixed seed: the same strings every run).
    #[test]
    fn published_rules_equal_the_parsers() {
        type Parse = fn(&str) -> bool;
        let cases: [(&str, &str, Option<usize>, Parse); 6] = [
            ("text", rules::TEXT, Some(DisplayName::MAX_CHARS), |s| {
                DisplayName::parse(s).is_ok()
            }),
            (
                "multiline",
                rules::MULTILINE_TEXT,
                Some(ContractBody::MAX_CHARS),
                |s| ContractBody::parse(s).is_ok(),
            ),
            ("email", rules::EMAIL, Some(rules::EMAIL_MAX_CHARS), |s| {
                Email::parse(s).is_ok()
            }),
            ("username", rules::USERNAME, None, |s| {
                Username::parse(s).is_ok()
            }),
            ("sku", rules::SKU, None, |s| Sku::parse(s).is_ok()),
            ("any", rules::ANY_TEXT, None, |s| !s.contains('\0')),
        ];
        let pool: Vec<char> = "aZ09._-@+/!'`~ \t\n\r\u{0}\u{7}\u{1f}\u{7f}\u{85}\u{9f}\u{a0}\u{2003}\u{3000}\u{feff}éß漢😀x.co"
            .chars()
            .collect();
        let mut seed: u64 = 0x5eed;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        let mut samples: Vec<String> = vec![
            String::new(),
            "jo@example.org".into(),
            " jo.smith+tax@example.org ".into(),
            "a@b-.co".into(),
            "a@xn--bcher-kva.example".into(),
            format!("{}@example.org", "l".repeat(65)),
            format!("{}@example.org", "l".repeat(64)),
            format!("a@{}.org", "d".repeat(64)),
            "a".repeat(201),
            "a".repeat(200),
            format!(" {} ", "a".repeat(200)),
        ];
        for _ in 0..20_000 {
            let len = next(12);
            samples.push((0..len).map(|_| pool[next(pool.len())]).collect());
            // Shapes close to an address, so the e-mail rule is tried on near misses too.
            let word = |next: &mut dyn FnMut(usize) -> usize| -> String {
                (0..1 + next(4)).map(|_| pool[next(pool.len())]).collect()
            };
            let (a, b, c) = (word(&mut next), word(&mut next), word(&mut next));
            samples.push(format!("{a}@{b}.{c}"));
        }
        for (name, pattern, max, parse) in cases {
            let re = regex::Regex::new(pattern).unwrap();
            for s in &samples {
                let published = re.is_match(s) && max.is_none_or(|m| s.chars().count() <= m);
                assert_eq!(published, parse(s), "rule {name} disagrees on {s:?}");
            }
        }
    }

    #[test]
    fn money() {
        assert!(Money::parse(-1, "GBP").is_err());
        assert!(Money::parse(100, "gbp").is_err());
        assert!(Money::parse(100, "GBPX").is_err());
        assert_eq!(Money::parse(1999, "GBP").unwrap().amount_minor, 1999);
    }

    #[test]
    fn money_shows_the_currencys_own_decimals() {
        let shown = |minor, code| Money::parse(minor, code).unwrap().to_string();
        assert_eq!(shown(12000, "GBP"), "GBP 120.00");
        assert_eq!(shown(5, "EUR"), "EUR 0.05");
        assert_eq!(shown(1500, "JPY"), "JPY 1500");
        assert_eq!(shown(1250, "KWD"), "KWD 1.250");
        assert_eq!(shown(10001, "CLF"), "CLF 1.0001");
        assert_eq!(shown(3, "XAU"), "XAU 3");
    }

    #[test]
    fn every_currency_with_other_decimals_is_a_known_code_in_order() {
        let codes: Vec<&str> = DECIMALS_OTHER_THAN_TWO.iter().map(|(c, _)| *c).collect();
        assert!(
            codes.windows(2).all(|w| w[0] < w[1]),
            "sorted, for binary search"
        );
        for code in codes {
            assert!(ISO_4217.binary_search(&code).is_ok(), "{code}");
        }
    }
}
