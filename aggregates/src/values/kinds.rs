//! The kinds of client a firm serves.

use serde::{Deserialize, Serialize};

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
