//! Recovery codes: ten random codes shown once when a login gets its first factor (or asks
//! for new ones), kept only as keyed hashes. Each has 50 random bits, so a keyed SHA-256
//! is enough (no slow hash needed: they cannot be guessed from their hash offline without
//! the server key, nor online before the lockout).

use rand::Rng;
use uuid::Uuid;

use crate::security::ServerSecret;

/// Lower-case letters and digits that cannot be mistaken for one another (no 0/o, 1/l/i).
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const GROUP: usize = 5;

/// `count` new codes, `xxxxx-xxxxx`.
pub fn generate(count: u32) -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..count)
        .map(|_| {
            let mut code: String = (0..GROUP * 2)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            code.insert(GROUP, '-');
            code
        })
        .collect()
}

/// What a typed code is compared as: lower case, without spaces and dashes.
fn normalised(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The keyed hash a code is kept as, bound to its login.
pub fn hash(secret: &ServerSecret, tenant_id: Uuid, portal_user_id: Uuid, typed: &str) -> Vec<u8> {
    secret.recovery_code_hash(tenant_id, portal_user_id, &normalised(typed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_typed_loosely() {
        let codes = generate(10);
        assert_eq!(codes.len(), 10);
        let unique: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        let secret =
            ServerSecret::from_config(Some(&"k".repeat(32)), std::path::Path::new("/")).unwrap();
        let (t, u) = (Uuid::now_v7(), Uuid::now_v7());
        let code = &codes[0];
        let typed = format!(" {} ", code.to_uppercase().replace('-', " "));
        assert_eq!(hash(&secret, t, u, code), hash(&secret, t, u, &typed));
        assert_ne!(
            hash(&secret, t, u, code),
            hash(&secret, t, Uuid::now_v7(), code)
        );
    }
}
