//! Secrets the service must read back (a webhook's signing secret) are stored sealed:
//! XChaCha20-Poly1305 under a key derived from the server secret, bound to the row they
//! belong to, so a sealed value copied onto another row does not open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::security::ServerSecret;

const NONCE: usize = 24;

#[derive(Clone)]
pub struct SealingKey(XChaCha20Poly1305);

impl SealingKey {
    /// The key for `purpose`, derived from the server secret (`PORTAL_SECRET` or the data
    /// directory's `secret.key`): replacing that secret makes what it sealed unreadable.
    pub fn of(secret: &ServerSecret, purpose: &str) -> Self {
        let key = secret.derived_key(&format!("seal:{purpose}"));
        Self(XChaCha20Poly1305::new(&key.into()))
    }

    /// `nonce ‖ ciphertext ‖ tag` of `plaintext`, bound to `row`.
    pub fn seal(&self, plaintext: &[u8], row: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: row,
                },
            )
            .expect("XChaCha20-Poly1305 seals any length we store");
        [nonce.as_slice(), &sealed].concat()
    }

    /// The plaintext, or `None` if `sealed` was not sealed by this key for `row`.
    pub fn open(&self, sealed: &[u8], row: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE);
        self.0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: row,
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_row() {
        let dir = std::env::temp_dir().join(format!("sealing-{}", uuid::Uuid::now_v7()));
        let secret = ServerSecret::from_config(Some(&"k".repeat(32)), &dir).unwrap();
        let key = SealingKey::of(&secret, "webhook-secret");
        let sealed = key.seal(b"whsec_abc", b"row-1");
        assert!(!sealed.windows(9).any(|w| w == b"whsec_abc"));
        assert_eq!(
            key.open(&sealed, b"row-1").as_deref(),
            Some(&b"whsec_abc"[..])
        );
        assert_eq!(key.open(&sealed, b"row-2"), None);
        assert_eq!(
            SealingKey::of(&secret, "other").open(&sealed, b"row-1"),
            None
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(&tampered, b"row-1"), None);
        assert_eq!(key.open(b"short", b"row-1"), None);
    }
}
