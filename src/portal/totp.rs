//! Authenticator-app codes (RFC 6238: HMAC-SHA-1, six digits, 30-second steps) by
//! `totp-rs`: a new key, its `otpauth://` address for the app, and which step a typed code
//! belongs to — the step is what makes a code usable once.

use chrono::{DateTime, Utc};
use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

const DIGITS: usize = 6;
const STEP_SECONDS: u64 = 30;
/// 160 bits, the key size RFC 4226 recommends.
const KEY_BYTES: usize = 20;

/// A login's TOTP key (kept sealed; see `portal::mfa`).
pub struct TotpKey(Vec<u8>);

impl TotpKey {
    pub fn generate() -> Self {
        let mut key = vec![0u8; KEY_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(key)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, issuer: &str, account: &str) -> TOTP {
        // `:` separates issuer from account in the address; neither may hold one.
        let clean = |s: &str| s.replace(':', " ");
        TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            0,
            STEP_SECONDS,
            self.0.clone(),
            Some(clean(issuer)),
            clean(account),
        )
    }

    /// The key as an app wants it typed: base32 without padding.
    pub fn base32(&self) -> String {
        self.totp("", "").get_secret_base32()
    }

    /// `otpauth://totp/Issuer:account?secret=…&issuer=Issuer`, for the app to scan or open.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        self.totp(issuer, account).get_url()
    }

    /// The step of the code `code` is, if it is this key's code for the step of `now` or
    /// the one before or after (clocks drift; a code shown at the end of its step is typed
    /// in the next). Compared in constant time.
    pub fn matching_step(&self, code: &str, now: DateTime<Utc>) -> Option<i64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp("", "");
        let step = now.timestamp().max(0) as u64 / STEP_SECONDS;
        let mut found = None;
        for candidate in [step.saturating_sub(1), step, step + 1] {
            let expected = totp.generate(candidate * STEP_SECONDS);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                found = Some(candidate as i64);
            }
        }
        found
    }
}

/// Whether `typed` has the shape of an authenticator code (six digits, spaces allowed);
/// anything else typed at the second step is taken for a recovery code.
pub fn looks_like_code(typed: &str) -> bool {
    let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `typed` without the spaces people put in the middle of a code ("123 456").
pub fn normalised(typed: &str) -> String {
    typed.chars().filter(|c| !c.is_whitespace()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// RFC 6238, appendix B: the SHA-1 key "12345678901234567890" at 59 s gives 94287082
    /// (eight digits); its last six are this module's code.
    #[test]
    fn matches_the_rfc_test_vector() {
        let key = TotpKey::from_bytes(b"12345678901234567890".to_vec());
        let at = Utc.timestamp_opt(59, 0).unwrap();
        assert_eq!(key.matching_step("287082", at), Some(1));
        assert_eq!(key.matching_step("287083", at), None);
        assert_eq!(key.matching_step("28708", at), None);
    }

    #[test]
    fn a_code_of_the_next_or_last_step_is_accepted_but_not_older() {
        let key = TotpKey::generate();
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let code_at = |t: i64| key.totp("", "").generate(t as u64);
        let step = now.timestamp() / 30;
        assert_eq!(
            key.matching_step(&code_at(now.timestamp() - 30), now),
            Some(step - 1)
        );
        assert_eq!(
            key.matching_step(&code_at(now.timestamp() + 30), now),
            Some(step + 1)
        );
        assert_eq!(key.matching_step(&code_at(now.timestamp() - 90), now), None);
    }

    #[test]
    fn the_address_names_issuer_and_account() {
        let key = TotpKey::from_bytes(b"12345678901234567890".to_vec());
        let uri = key.otpauth_uri("Acme: Accountants", "jo");
        assert!(
            uri.starts_with("otpauth://totp/Acme%20%20Accountants:jo?secret="),
            "{uri}"
        );
        assert!(uri.contains(&key.base32()));
    }
}
