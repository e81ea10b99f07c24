//! What a firm sells: product codes (SKUs) and prices in ISO 4217 currencies.

use serde::{Deserialize, Serialize};

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
/// (`XTS`) or no-currency (`XXX`) codes. The list is data, one code a line.
pub static ISO_4217: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| include_str!("iso_4217.txt").lines().collect());

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
pub(super) const DECIMALS_OTHER_THAN_TWO: &[(&str, u32)] = &[
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
