//! Personal fields in and out of the log: sealed under their data subject's key as events
//! are written, opened as they are read. Keys are per subject (a client, a portal login),
//! stored wrapped by the master key in `secrets.data_keys`; erasure destroys a subject's
//! wrapped key, after which its fields read as `"[erased]"` — the stored ciphertext, which
//! the audit chain covers, never changes (docs/privacy.md).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::key_cache::{KeyCache, Slot};

use aggregates::personal::{self, ERASED, METADATA_FIELDS};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// How a sealed field is stored: `pd1:<subject id>:<base64url(nonce ‖ ciphertext ‖ tag)>`.
const PREFIX: &str = "pd1:";
/// What every sealed field's stored text begins with, as it appears in a payload's JSON.
pub(crate) const SEALED_PREFIX: &str = "\"pd1:";
const NONCE: usize = 24;
/// A portal login's name as its metadata's actor carries it.
const ACTOR_FIELDS: &[&str] = &["name"];
/// How long a process trusts a key it read: another instance's erasure reaches this one's
/// reads within this time (its own erasures at once).
const KEY_TTL: Duration = Duration::from_secs(60);

/// The key that wraps every data key: 32 random bytes, named by a digest of itself so rows
/// say which master key wrapped them (rotation rewraps row by row).
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let digest = Sha256::digest([b"portal-data-master:".as_slice(), bytes].concat());
        Self {
            id: digest[..6].iter().map(|b| format!("{b:02x}")).collect(),
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, key: &[u8; 32], subject: Uuid) -> Vec<u8> {
        seal_bytes(&self.cipher, key, subject.as_bytes())
    }

    fn unwrap(&self, wrapped: &[u8], subject: Uuid) -> Option<[u8; 32]> {
        open_bytes(&self.cipher, wrapped, subject.as_bytes())?
            .try_into()
            .ok()
    }
}

fn seal_bytes(cipher: &XChaCha20Poly1305, msg: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg, aad })
        .expect("XChaCha20-Poly1305 seals any length we store");
    [nonce.as_slice(), &sealed].concat()
}

fn open_bytes(cipher: &XChaCha20Poly1305, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE {
        return None;
    }
    let (nonce, msg) = sealed.split_at(NONCE);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg, aad })
        .ok()
}

/// A subject's new key, to be stored in the transaction of the write that uses it.
#[derive(Clone)]
pub struct FreshKey {
    subject: Uuid,
    wrapped: Vec<u8>,
    master_key_id: String,
    cipher: XChaCha20Poly1305,
}

impl FreshKey {
    /// `(subject_id, wrapped, master_key_id)` for its row in `secrets.data_keys`, written by
    /// the statement that appends the events sealed under it (`statements::APPEND_WITH_KEYS_SQL`).
    pub fn row(&self) -> (Uuid, &[u8], &str) {
        (self.subject, &self.wrapped, &self.master_key_id)
    }
}

/// Why a personal field could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The subject's key was destroyed: nothing personal may be written about it again.
    #[error("the data subject's personal data has been erased")]
    Erased,
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// The keys of one batch of stored values, read by `DataKeys::prepare`.
pub struct BatchKeys(HashMap<Uuid, Slot>);

impl BatchKeys {
    /// Replaces the sealed personal fields of a payload or metadata with their plaintext, or
    /// `"[erased]"` where the key is gone. A subject whose key was never stored, or that
    /// was not in the values prepared, reads as erased.
    pub fn open(&self, value: &mut Value) {
        for_each_sealed_mut(value, |field, text| {
            let Some((subject, sealed)) = parse_sealed(text) else {
                return;
            };
            let opened = match self.0.get(&subject) {
                Some(Slot::Live(cipher)) => {
                    open_bytes(cipher, &sealed, &aad(subject, field)).map(String::from_utf8)
                }
                _ => None,
            };
            *text = match opened {
                Some(Ok(plain)) => plain,
                _ => ERASED.to_string(),
            };
        });
    }
}

/// The data keys of one database: seals and opens personal fields, caching unwrapped keys.
/// Cheap to clone (shared).
#[derive(Clone)]
pub struct DataKeys(Arc<Inner>);

struct Inner {
    pool: PgPool,
    /// The current master key first; older ones still unwrap rows not yet rewrapped.
    masters: Vec<MasterKey>,
    /// Keys the username reservation (`username_key`) without the name itself.
    username_mac: [u8; 32],
    cache: RwLock<KeyCache>,
}

impl DataKeys {
    pub fn new(pool: PgPool, masters: Vec<MasterKey>, username_mac: [u8; 32]) -> Self {
        assert!(!masters.is_empty(), "a current master key");
        Self(Arc::new(Inner {
            pool,
            masters,
            username_mac,
            cache: RwLock::new(KeyCache::new(KEY_TTL)),
        }))
    }

    /// The keyed hash that reserves a username in a tenant (any case) once the name itself
    /// is sealed: what the unique index and the login lookup match on.
    pub fn username_key(&self, tenant: Uuid, username: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0.username_mac)
            .expect("HMAC takes any key length");
        mac.update(tenant.as_bytes());
        mac.update(username.trim().to_lowercase().as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    /// Seals the personal fields of an event `payload` under `subject`'s key (made on first
    /// use), adding the username reservation to a login's creation. Refused for an erased
    /// subject whatever the event: nothing more is written about it.
    /// `fresh`: the subject's key made for this write (`fresh`), not stored yet.
    pub async fn seal_payload(
        &self,
        tenant: Uuid,
        subject: Uuid,
        fresh: Option<&FreshKey>,
        payload: &mut Value,
    ) -> Result<(), SealError> {
        let cipher = match fresh {
            Some(key) => key.cipher.clone(),
            None => self.key_for(tenant, subject).await?,
        };
        let Some((kind, body)) = variant_mut(payload) else {
            return Ok(());
        };
        let fields = personal::fields(&kind);
        if kind == "PortalUserCreated" {
            if let Some(name) = body.get("username").and_then(Value::as_str) {
                let key = self.username_key(tenant, name);
                body.insert("username_key".into(), Value::String(key));
            }
        }
        for field in fields {
            seal_field(&cipher, subject, field, body.get_mut(*field));
        }
        Ok(())
    }

    /// Seals where a change came from (`METADATA_FIELDS`) and the login's name under
    /// `subject`'s key: for changes a portal login (or a visitor) made, not staff.
    pub async fn seal_metadata(
        &self,
        tenant: Uuid,
        subject: Uuid,
        fresh: Option<&FreshKey>,
        metadata: &mut Value,
    ) -> Result<(), SealError> {
        let cipher = match fresh {
            Some(key) => key.cipher.clone(),
            None => self.key_for(tenant, subject).await?,
        };
        for field in METADATA_FIELDS {
            seal_field(&cipher, subject, field, metadata.get_mut(*field));
        }
        if let Some(actor) = metadata.get_mut("actor") {
            for field in ACTOR_FIELDS {
                seal_field(&cipher, subject, field, actor.get_mut(*field));
            }
        }
        Ok(())
    }

    /// The keys of every subject whose sealed fields appear in `values` (payloads or
    /// metadata): from the cache, and those not in it read in one query. Opening with them
    /// does not depend on the cache keeping them.
    pub async fn prepare<'a>(
        &self,
        values: impl IntoIterator<Item = &'a Value>,
    ) -> Result<BatchKeys, sqlx::Error> {
        let mut keys = HashMap::new();
        let mut missing: Vec<Uuid> = Vec::new();
        {
            let now = Instant::now();
            let cache = self.0.cache.read().expect("key cache");
            for value in values {
                for_each_sealed(value, |sealed| {
                    let Some((subject, _)) = parse_sealed(sealed) else {
                        return;
                    };
                    if keys.contains_key(&subject) || missing.contains(&subject) {
                        return;
                    }
                    match cache.get(&subject, now) {
                        Some(slot) => {
                            keys.insert(subject, slot.clone());
                        }
                        None => missing.push(subject),
                    }
                });
            }
        }
        if !missing.is_empty() {
            keys.extend(self.load(&missing, true).await?.1);
        }
        Ok(BatchKeys(keys))
    }

    /// `prepare` then `open` for a batch.
    pub async fn open_all(&self, values: &mut [&mut Value]) -> Result<(), sqlx::Error> {
        let keys = self.prepare(values.iter().map(|v| &**v)).await?;
        for value in values.iter_mut() {
            keys.open(value);
        }
        Ok(())
    }

    /// Forgets the keys of erased subjects in this process at once (the database rows are
    /// destroyed in the erasing transaction).
    pub fn forget(&self, subjects: &[Uuid]) {
        let now = Instant::now();
        let mut cache = self.0.cache.write().expect("key cache");
        for subject in subjects {
            cache.insert(*subject, Slot::Erased, now);
        }
    }

    /// The subject's key: cached, stored, or made now. A new key is stored before any event
    /// sealed with it commits (on its own, so two first writers agree on one key); a key
    /// whose event then rolls back is an unused row.
    async fn key_for(&self, tenant: Uuid, subject: Uuid) -> Result<XChaCha20Poly1305, SealError> {
        if self.cached(subject).is_none() && self.load(&[subject], false).await?.0 == 0 {
            return self.new_key(tenant, subject).await;
        }
        match self.cached(subject) {
            Some(Slot::Live(cipher)) => Ok(*cipher),
            _ => Err(SealError::Erased),
        }
    }

    /// A key for a subject that cannot have one yet (a stream this write creates): made
    /// here, stored by the write's own transaction (`INSERT_FRESH_KEY_SQL`), so a write
    /// that rolls back leaves no key and its retry makes its own.
    pub fn fresh(&self, subject: Uuid) -> FreshKey {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let master = &self.0.masters[0];
        FreshKey {
            subject,
            wrapped: master.wrap(&key, subject),
            master_key_id: master.id().to_string(),
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// Keeps a fresh key once its write committed (until then no reader may see it).
    pub fn remember(&self, key: &FreshKey) {
        let slot = Slot::Live(Box::new(key.cipher.clone()));
        let mut cache = self.0.cache.write().expect("key cache");
        cache.insert(key.subject, slot, Instant::now());
    }

    /// A key for a subject that has none stored: made and stored on its own, so that two
    /// first writers agree on one (a key already there after all is read instead).
    async fn new_key(&self, tenant: Uuid, subject: Uuid) -> Result<XChaCha20Poly1305, SealError> {
        if self.cached(subject).is_none() {
            match self.create(tenant, subject).await? {
                Some(cipher) => {
                    let slot = Slot::Live(Box::new(cipher));
                    self.0
                        .cache
                        .write()
                        .expect("key cache")
                        .insert(subject, slot, Instant::now());
                }
                None => {
                    self.load(&[subject], true).await?;
                }
            }
        }
        match self.cached(subject) {
            Some(Slot::Live(cipher)) => Ok(*cipher),
            _ => Err(SealError::Erased),
        }
    }

    fn cached(&self, subject: Uuid) -> Option<Slot> {
        let cache = self.0.cache.read().expect("key cache");
        cache.get(&subject, Instant::now()).cloned()
    }

    /// Stores a new key for `subject` unless one is stored: the new key, if it was.
    async fn create(
        &self,
        tenant: Uuid,
        subject: Uuid,
    ) -> Result<Option<XChaCha20Poly1305>, sqlx::Error> {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let master = &self.0.masters[0];
        let stored = sqlx::query(
            "INSERT INTO secrets.data_keys (subject_id, tenant_id, wrapped, master_key_id)
             VALUES ($1, $2, $3, $4) ON CONFLICT (subject_id) DO NOTHING",
        )
        .bind(subject)
        .bind(tenant)
        .bind(master.wrap(&key, subject))
        .bind(master.id())
        .execute(&self.0.pool)
        .await?
        .rows_affected();
        Ok((stored == 1).then(|| XChaCha20Poly1305::new(&key.into())))
    }

    /// Reads the stored keys of `subjects` into the cache: how many rows there were, and
    /// what was read. A subject without a row is erased when `missing_erased` (its
    /// ciphertext can never be opened), and left out otherwise (a key may be made for it).
    async fn load(
        &self,
        subjects: &[Uuid],
        missing_erased: bool,
    ) -> Result<(usize, Vec<(Uuid, Slot)>), sqlx::Error> {
        let rows: Vec<(Uuid, Option<Vec<u8>>, String)> = sqlx::query_as(
            "SELECT subject_id, wrapped, master_key_id FROM secrets.data_keys
              WHERE subject_id = ANY($1)",
        )
        .bind(subjects)
        .fetch_all(&self.0.pool)
        .await?;
        let mut read: HashMap<Uuid, Slot> = HashMap::new();
        if missing_erased {
            read.extend(subjects.iter().map(|s| (*s, Slot::Erased)));
        }
        for (subject, wrapped, master_id) in &rows {
            let key = wrapped.as_deref().and_then(|w| {
                let master = self.0.masters.iter().find(|m| m.id() == master_id)?;
                master.unwrap(w, *subject)
            });
            let slot = match key {
                Some(key) => Slot::Live(Box::new(XChaCha20Poly1305::new(&key.into()))),
                // Wrapped by a master key this process was not given: unreadable here.
                None if wrapped.is_some() => {
                    tracing::error!(%subject, master_id, "a data key's master key is missing");
                    Slot::Erased
                }
                None => Slot::Erased,
            };
            read.insert(*subject, slot);
        }
        let now = Instant::now();
        let mut cache = self.0.cache.write().expect("key cache");
        for (subject, slot) in &read {
            cache.insert(*subject, slot.clone(), now);
        }
        Ok((rows.len(), read.into_iter().collect()))
    }

    /// Rewraps every data key not under the current master key (rotation): no event changes.
    /// Returns how many keys were rewrapped.
    pub async fn rewrap_all(&self) -> Result<u64, sqlx::Error> {
        let current = &self.0.masters[0];
        let rows: Vec<(Uuid, Vec<u8>, String)> = sqlx::query_as(
            "SELECT subject_id, wrapped, master_key_id FROM secrets.data_keys
              WHERE wrapped IS NOT NULL AND master_key_id <> $1",
        )
        .bind(current.id())
        .fetch_all(&self.0.pool)
        .await?;
        let mut done = 0;
        for chunk in rows.chunks(1000) {
            let (mut ids, mut wrapped) = (Vec::new(), Vec::new());
            for (subject, old, master_id) in chunk {
                let Some(master) = self.0.masters.iter().find(|m| m.id() == master_id) else {
                    tracing::error!(%subject, master_id, "no master key to unwrap with");
                    continue;
                };
                if let Some(key) = master.unwrap(old, *subject) {
                    ids.push(*subject);
                    wrapped.push(current.wrap(&key, *subject));
                }
            }
            done += sqlx::query(
                "UPDATE secrets.data_keys k SET wrapped = w.wrapped, master_key_id = $3
                   FROM unnest($1::uuid[], $2::bytea[]) AS w(subject_id, wrapped)
                  WHERE k.subject_id = w.subject_id AND k.wrapped IS NOT NULL",
            )
            .bind(&ids)
            .bind(&wrapped)
            .bind(current.id())
            .execute(&self.0.pool)
            .await?
            .rows_affected();
        }
        Ok(done)
    }
}

/// A sealed field is bound to its subject and its field name: moved elsewhere, it does not
/// open.
fn aad(subject: Uuid, field: &str) -> Vec<u8> {
    [subject.as_bytes().as_slice(), field.as_bytes()].concat()
}

fn seal_field(cipher: &XChaCha20Poly1305, subject: Uuid, field: &str, value: Option<&mut Value>) {
    if let Some(Value::String(text)) = value {
        if text.starts_with(PREFIX) {
            return;
        }
        let sealed = seal_bytes(cipher, text.as_bytes(), &aad(subject, field));
        *text = format!("{PREFIX}{subject}:{}", B64.encode(sealed));
    }
}

/// Whether a stored text is a sealed personal field.
pub fn is_sealed(text: &str) -> bool {
    parse_sealed(text).is_some()
}

fn parse_sealed(text: &str) -> Option<(Uuid, Vec<u8>)> {
    let rest = text.strip_prefix(PREFIX)?;
    let (subject, sealed) = rest.split_once(':')?;
    Some((Uuid::try_parse(subject).ok()?, B64.decode(sealed).ok()?))
}

fn variant_mut(payload: &mut Value) -> Option<(String, &mut serde_json::Map<String, Value>)> {
    let object = payload.as_object_mut()?;
    if object.len() != 1 {
        return None;
    }
    let (kind, body) = object.iter_mut().next()?;
    Some((kind.clone(), body.as_object_mut()?))
}

/// The personal fields a payload (by its event type) or metadata (`METADATA_FIELDS`) may
/// hold sealed, as (field name, text).
fn for_each_sealed(value: &Value, mut f: impl FnMut(&str)) {
    let Some(object) = value.as_object() else {
        return;
    };
    let texts =
        |body: &serde_json::Map<String, Value>, fields: &[&str], f: &mut dyn FnMut(&str)| {
            for field in fields {
                if let Some(Value::String(text)) = body.get(*field) {
                    f(text);
                }
            }
        };
    if let Some((kind, Value::Object(body))) = object.iter().next().filter(|_| object.len() == 1) {
        texts(body, personal::fields(kind), &mut f);
    }
    texts(object, METADATA_FIELDS, &mut f);
    if let Some(Value::Object(actor)) = object.get("actor") {
        texts(actor, ACTOR_FIELDS, &mut f);
    }
}

fn for_each_sealed_mut(value: &mut Value, mut f: impl FnMut(&str, &mut String)) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    let mut texts = |body: &mut serde_json::Map<String, Value>, fields: &[&str]| {
        for field in fields {
            if let Some(Value::String(text)) = body.get_mut(*field) {
                f(field, text);
            }
        }
    };
    if object.len() == 1 {
        if let Some((kind, Value::Object(body))) = object.iter_mut().next() {
            let fields = personal::fields(kind);
            texts(body, fields);
        }
    }
    texts(object, METADATA_FIELDS);
    if let Some(Value::Object(actor)) = object.get_mut("actor") {
        texts(actor, ACTOR_FIELDS);
    }
}
