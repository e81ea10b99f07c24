//! The audit key: an Ed25519 key that signs checkpoints of each firm's chain. Generated into
//! the data dir on first start (`audit-ed25519.key`, 0600) or given by configuration
//! (`PORTAL_AUDIT_KEY`, the 32-byte seed in base64); its public key is served
//! (`GET /api/v1/audit/public-key`) and printed by `portal-accounts audit public-key`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The signing key and its short name.
#[derive(Clone)]
pub struct AuditKey {
    signing: Arc<SigningKey>,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// A fresh key held only in memory (tests, tools).
    pub fn ephemeral() -> Self {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        Self::from_seed(seed)
    }

    fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            signing: Arc::new(SigningKey::from_bytes(&seed)),
        }
    }

    /// The configured key, else the one kept in `data_dir` (made on first use).
    pub fn from_config(configured: Option<&str>, data_dir: &Path) -> Result<Self> {
        let decode = |text: &str| -> Result<Self> {
            let bytes = STANDARD
                .decode(text.trim())
                .context("the audit key is not base64")?;
            let seed: [u8; 32] = bytes
                .try_into()
                .map_err(|_| anyhow::anyhow!("the audit key must be 32 bytes"))?;
            Ok(Self::from_seed(seed))
        };
        if let Some(text) = configured {
            return decode(text).context("PORTAL_AUDIT_KEY");
        }
        let path = data_dir.join("audit-ed25519.key");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            return decode(&existing).context("reading audit-ed25519.key");
        }
        std::fs::create_dir_all(data_dir)?;
        let key = Self::ephemeral();
        crate::security::write_private(&path, STANDARD.encode(key.signing.to_bytes()).as_bytes())?;
        Ok(key)
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key in base64, as served and printed.
    pub fn public_key_base64(&self) -> String {
        STANDARD.encode(self.public_key().as_bytes())
    }

    /// The first 16 hex digits of SHA-256 of the public key.
    pub fn key_id(&self) -> String {
        key_id_of(&self.public_key())
    }

    pub fn sign(&self, text: &[u8]) -> Signature {
        self.signing.sign(text)
    }
}

pub fn key_id_of(public: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(public.as_bytes())[..8])
}

/// A public key given in base64.
pub fn public_key_from_base64(text: &str) -> Result<VerifyingKey> {
    let bytes: [u8; 32] = STANDARD
        .decode(text.trim())
        .context("the public key is not base64")?
        .try_into()
        .map_err(|_| anyhow::anyhow!("the public key must be 32 bytes"))?;
    VerifyingKey::from_bytes(&bytes).context("not an Ed25519 public key")
}

/// Whether `signature` (base64) is `public`'s signature of `text`.
pub fn signature_valid(public: &VerifyingKey, text: &[u8], signature: &str) -> bool {
    let Ok(bytes) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(&bytes) else {
        return false;
    };
    public.verify(text, &signature).is_ok()
}
