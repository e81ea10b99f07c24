//! Secrets handling: staff bearer tokens (stored as SHA-256), portal password hashing
//! (Argon2id, on dedicated threads off the async runtime), portal session tokens, and the
//! server secret for emailed links.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use argon2::password_hash::{PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

const STAFF_TOKEN_PREFIX: &str = "pat_";

/// A new staff token: its id (public, used to find the row) and the bearer string shown once.
pub fn new_staff_token() -> (Uuid, String) {
    new_prefixed_token(STAFF_TOKEN_PREFIX)
}

/// The token id inside a bearer string, if it has our shape.
pub fn staff_token_id(token: &str) -> Option<Uuid> {
    prefixed_token_id(STAFF_TOKEN_PREFIX, token)
}

pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// Compares a presented token with a stored hash without leaking where they differ.
pub fn token_matches(presented: &str, stored_hash: &[u8]) -> bool {
    sha256(presented.as_bytes()).ct_eq(stored_hash).into()
}

/// Argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

thread_local! {
    /// Argon2's working memory, kept per hashing thread: allocating and faulting in 19 MiB
    /// for every login costs about as much as a quarter of the hash itself.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Checks a password against a PHC string on the calling thread (blocking, ~15 ms), with the
/// algorithm, version and cost recorded in the string, comparing in constant time.
pub fn verify_password_blocking(password: &[u8], phc: &str) -> Result<bool> {
    let parsed = argon2::PasswordHash::new(phc)
        .map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| anyhow::anyhow!("{e}"))?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .unwrap_or(Version::V0x13);
    let params = Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        anyhow::bail!("stored hash lacks salt or output");
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt
        .decode_b64(&mut salt_buf)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    BLOCKS.with_borrow_mut(|memory| {
        memory.resize(blocks.max(memory.len()), argon2::Block::default());
        argon
            .hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks])
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    })?;
    Ok(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
}

type HashJob = Box<dyn FnOnce() + Send>;

/// Hashes and checks passwords on a few dedicated threads (one per core by default), so a
/// burst of password work queues there and never starves request handling; each thread
/// keeps its Argon2 memory between jobs.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: std::sync::mpsc::SyncSender<HashJob>,
    permits: Arc<tokio::sync::Semaphore>,
    dummy: Arc<String>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_threads(cores)
    }
}

impl PasswordHasher {
    pub fn with_threads(threads: usize) -> Self {
        let threads = threads.max(1);
        // Two jobs per thread in flight: one running, one waiting in the channel, so a thread
        // that finishes starts the next hash at once instead of idling until the runtime
        // schedules the task that hands it over.
        let in_flight = threads * 2;
        let (jobs, queue) = std::sync::mpsc::sync_channel::<HashJob>(in_flight);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || loop {
                    let job = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .expect("starting a password hashing thread");
        }
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let dummy = argon2()
            .hash_password(
                b"no such login: compared so failures take alike time",
                &salt,
            )
            .expect("hashing a constant")
            .to_string();
        Self {
            jobs,
            permits: Arc::new(tokio::sync::Semaphore::new(in_flight)),
            dummy: Arc::new(dummy),
        }
    }

    /// Runs `work` on a hashing thread and waits for it without blocking the runtime.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        // Work beyond what the channel holds waits here, as a task, so the send below
        // cannot block.
        let _permit = self.permits.acquire().await?;
        let (done, result) = tokio::sync::oneshot::channel();
        let job: HashJob = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs
            .try_send(job)
            .map_err(|_| anyhow::anyhow!("password hashing threads are gone"))?;
        Ok(result.await?)
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
        })
        .await?
    }

    /// Checks a password against a stored PHC string (or, with `None`, against a dummy hash
    /// of the same cost, so an unknown username takes as long as a wrong password).
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool> {
        let dummy = self.dummy.clone();
        self.run(move || {
            let phc = stored.as_deref().unwrap_or(dummy.as_str());
            let ok = verify_password_blocking(password.as_bytes(), phc)?;
            Ok(ok && stored.is_some())
        })
        .await?
    }
}

/// The server secret that emailed link tokens are derived from.
#[derive(Clone)]
pub struct ServerSecret(Arc<Vec<u8>>);

impl ServerSecret {
    pub fn from_config(configured: Option<&str>, data_dir: &Path) -> Result<Self> {
        if let Some(s) = configured {
            anyhow::ensure!(
                s.len() >= 32,
                "PORTAL_SECRET must be at least 32 characters"
            );
            return Ok(Self(Arc::new(s.as_bytes().to_vec())));
        }
        let path = data_dir.join("secret.key");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            return Ok(Self(Arc::new(
                hex::decode(existing.trim()).context("reading secret.key")?,
            )));
        }
        std::fs::create_dir_all(data_dir)?;
        let mut bytes = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        write_private(&path, hex::encode(&bytes).as_bytes())?;
        Ok(Self(Arc::new(bytes)))
    }

    /// The token in an emailed link: the stream and link ids it is for, and an HMAC over
    /// them and the purpose. The event log holds only the link's id, so the token can be
    /// rebuilt by the mailer but never read back from history.
    pub fn link_token(&self, purpose: &str, tenant_id: Uuid, link: LinkRef) -> String {
        format!(
            "{}.{}.{}",
            link.stream_id.simple(),
            link.link_id.simple(),
            URL_SAFE_NO_PAD.encode(self.link_mac(purpose, tenant_id, link))
        )
    }

    /// The stream and link a token stands for, if the token is authentic (constant-time).
    pub fn verify_link_token(
        &self,
        purpose: &str,
        tenant_id: Uuid,
        token: &str,
    ) -> Option<LinkRef> {
        let mut parts = token.splitn(3, '.');
        let stream_id = Uuid::try_parse(parts.next()?).ok()?;
        let link_id = Uuid::try_parse(parts.next()?).ok()?;
        let presented = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
        let link = LinkRef { stream_id, link_id };
        let expected = self.link_mac(purpose, tenant_id, link);
        bool::from(expected.as_slice().ct_eq(&presented)).then_some(link)
    }

    fn link_mac(&self, purpose: &str, tenant_id: Uuid, link: LinkRef) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(purpose.as_bytes());
        mac.update(tenant_id.as_bytes());
        mac.update(link.stream_id.as_bytes());
        mac.update(link.link_id.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A key of its own for `purpose` (e.g. sealing webhook secrets), so no two uses of
    /// the server secret share a key.
    pub fn derived_key(&self, purpose: &str) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(b"derived-key:");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Keys counting by the client's address (per `purpose`: failed logins, reset
    /// requests) without storing the address.
    pub fn address_key(&self, purpose: &str, tenant_id: Uuid, address: &str) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(b"throttle-address:");
        mac.update(purpose.as_bytes());
        mac.update(b":");
        mac.update(tenant_id.as_bytes());
        mac.update(address.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Keys failed-login counting by what was typed without storing it.
    pub fn username_key(&self, tenant_id: Uuid, username: &str) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(b"login-throttle");
        mac.update(tenant_id.as_bytes());
        mac.update(username.trim().to_lowercase().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The anti-forgery token a portal page puts in its forms: a MAC of the random value in
    /// the browser's CSRF cookie, so a form posted from elsewhere (without the cookie's
    /// value, which other sites cannot read) is refused.
    pub fn csrf_token(&self, tenant_id: Uuid, cookie_value: &str) -> String {
        let mut mac = self.mac();
        mac.update(b"portal-csrf:");
        mac.update(tenant_id.as_bytes());
        mac.update(cookie_value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Whether a form's token belongs to the cookie it came with (constant time).
    pub fn csrf_matches(&self, tenant_id: Uuid, cookie_value: &str, presented: &str) -> bool {
        let expected = self.csrf_token(tenant_id, cookie_value);
        bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
    }

    /// The keyed hash a recovery code is kept as, bound to its login.
    pub fn recovery_code_hash(&self, tenant_id: Uuid, portal_user_id: Uuid, code: &str) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(b"recovery-code:");
        mac.update(tenant_id.as_bytes());
        mac.update(portal_user_id.as_bytes());
        mac.update(code.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A keyed fingerprint of a request body (kept to recognise an idempotent retry): keyed,
    /// so a body holding a password cannot be guessed back from the stored value.
    pub fn request_fingerprint(&self, material: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(b"idempotency");
        mac.update(material);
        mac.finalize().into_bytes().to_vec()
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length")
    }
}

/// What an emailed link points at: the stream (client or portal user) and the link's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkRef {
    pub stream_id: Uuid,
    pub link_id: Uuid,
}

const SESSION_TOKEN_PREFIX: &str = "pss_";

/// A fresh random value for a browser's CSRF cookie.
pub fn new_csrf_cookie_value() -> String {
    let mut value = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut value);
    URL_SAFE_NO_PAD.encode(value)
}

/// A new portal session: its id (the row key) and the bearer string handed out once.
pub fn new_session_token() -> (Uuid, String) {
    new_prefixed_token(SESSION_TOKEN_PREFIX)
}

/// The session id inside a portal bearer string, if it has our shape.
pub fn session_token_id(token: &str) -> Option<Uuid> {
    prefixed_token_id(SESSION_TOKEN_PREFIX, token)
}

const MFA_TOKEN_PREFIX: &str = "pmf_";

/// A login's second step: its id (the row key) and the string handed out once.
pub fn new_mfa_token() -> (Uuid, String) {
    new_prefixed_token(MFA_TOKEN_PREFIX)
}

pub fn mfa_token_id(token: &str) -> Option<Uuid> {
    prefixed_token_id(MFA_TOKEN_PREFIX, token)
}

/// Names a passkey ceremony in flight (registering, or logging in with a passkey).
const PASSKEY_TOKEN_PREFIX: &str = "ppk_";

pub fn new_passkey_token() -> (Uuid, String) {
    new_prefixed_token(PASSKEY_TOKEN_PREFIX)
}

pub fn passkey_token_id(token: &str) -> Option<Uuid> {
    prefixed_token_id(PASSKEY_TOKEN_PREFIX, token)
}

/// `{prefix}{id}_{32 random bytes}`: the id finds the row, the rest is compared by hash.
fn new_prefixed_token(prefix: &str) -> (Uuid, String) {
    let id = Uuid::now_v7();
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = format!("{prefix}{}_{}", id.simple(), URL_SAFE_NO_PAD.encode(secret));
    (id, token)
}

fn prefixed_token_id(prefix: &str, token: &str) -> Option<Uuid> {
    let rest = token.strip_prefix(prefix)?;
    let (id, _secret) = rest.split_once('_')?;
    Uuid::try_parse(id).ok()
}

/// The master keys that wrap the data keys of personal fields (`eventlog::personal`): the
/// current one from `configured` (`PORTAL_DATA_KEY`, 64 hex digits) or the data directory's
/// `data.key` (generated on first start), then `previous` ones (comma-separated,
/// `PORTAL_DATA_KEY_PREVIOUS`) that still unwrap keys until `portal-accounts keys rewrap`.
pub fn data_master_keys(
    configured: Option<&str>,
    previous: Option<&str>,
    data_dir: &Path,
) -> Result<Vec<eventlog::MasterKey>> {
    fn parse(hex_key: &str) -> Result<eventlog::MasterKey> {
        let bytes: [u8; 32] = hex::decode(hex_key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .context("a data master key is 32 bytes written as 64 hex digits")?;
        Ok(eventlog::MasterKey::from_bytes(&bytes))
    }
    let current = match configured {
        Some(key) => parse(key)?,
        None => {
            let path = data_dir.join("data.key");
            match std::fs::read_to_string(&path) {
                Ok(existing) => parse(&existing).context("reading data.key")?,
                Err(_) => {
                    std::fs::create_dir_all(data_dir)?;
                    let mut bytes = [0u8; 32];
                    rand::rngs::OsRng.fill_bytes(&mut bytes);
                    write_private(&path, hex::encode(bytes).as_bytes())?;
                    eventlog::MasterKey::from_bytes(&bytes)
                }
            }
        }
    };
    let mut keys = vec![current];
    for old in previous.into_iter().flat_map(|p| p.split(',')) {
        if !old.trim().is_empty() {
            keys.push(parse(old)?);
        }
    }
    Ok(keys)
}

pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_tokens_round_trip_and_compare() {
        let (id, token) = new_staff_token();
        assert_eq!(staff_token_id(&token), Some(id));
        let stored = sha256(token.as_bytes());
        assert!(token_matches(&token, &stored));
        assert!(!token_matches(&format!("{token}x"), &stored));
        assert_eq!(staff_token_id("Bearer nonsense"), None);
    }

    #[test]
    fn link_tokens_verify_only_for_their_purpose_and_tenant() {
        let secret = ServerSecret(Arc::new(vec![7; 32]));
        let tenant = Uuid::now_v7();
        let link = LinkRef {
            stream_id: Uuid::now_v7(),
            link_id: Uuid::now_v7(),
        };
        let token = secret.link_token("invitation", tenant, link);
        assert_eq!(
            secret.verify_link_token("invitation", tenant, &token),
            Some(link)
        );
        assert_eq!(secret.verify_link_token("reset", tenant, &token), None);
        assert_eq!(
            secret.verify_link_token("invitation", Uuid::now_v7(), &token),
            None
        );
        let mut forged = token.clone();
        forged.pop();
        assert_eq!(
            secret.verify_link_token("invitation", tenant, &forged),
            None
        );
        // Pointing an authentic MAC at another stream fails too.
        let other_stream = format!("{}{}", Uuid::now_v7().simple(), &token[32..]);
        assert_eq!(
            secret.verify_link_token("invitation", tenant, &other_stream),
            None
        );
    }

    #[test]
    fn session_tokens_carry_their_id() {
        let (id, token) = new_session_token();
        assert_eq!(session_token_id(&token), Some(id));
        assert_eq!(session_token_id(&token.replace("pss_", "pat_")), None);
    }

    #[tokio::test]
    async fn passwords_verify_and_unknown_users_never_match() {
        let hasher = PasswordHasher::with_threads(1);
        let stored = hasher.hash("correct horse battery".into()).await.unwrap();
        assert!(hasher
            .verify("correct horse battery".into(), Some(stored.clone()))
            .await
            .unwrap());
        assert!(!hasher.verify("wrong".into(), Some(stored)).await.unwrap());
        assert!(!hasher
            .verify(
                "no such login: compared so failures take alike time".into(),
                None
            )
            .await
            .unwrap());
    }
}
