//! The hash chain every audit log shares: the link before the first row, how a link is
//! hashed, the text of an event that its link covers, and the wait for a row to be sealed.

use std::time::Duration;

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

/// The link before a chain's first row.
pub const GENESIS: [u8; 32] = [0; 32];

/// The canonical text of an event's link, given the text of everything after `chain_seq`
/// (see `BODY_SQL`): what `sha256(prev_hash || text)` covers.
pub fn link_hash(prev_hash: &[u8], chain_seq: i64, body: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(chain_seq.to_string().as_bytes());
    hasher.update(b"\n");
    hasher.update(body.as_bytes());
    hasher.finalize().into()
}

/// The text of an event its link covers (`eventlog::statements::CHAIN_BODY_SQL`).
pub use eventlog::statements::CHAIN_BODY_SQL as BODY_SQL;

/// Runs sealing passes (`seal_pass`) until `is_sealed` says the row waited for is sealed, or
/// `deadline` passes (a transaction still open elsewhere holds the commit horizon back, or
/// another runner holds the chain); returns whether it was sealed. The wait of
/// `seal_tenant` here and of `side_chain::seal_tenant`.
pub(crate) async fn sealed_by<'a>(
    deadline: std::time::Instant,
    mut seal_pass: impl FnMut() -> BoxFuture<'a, Result<(), sqlx::Error>>,
    mut is_sealed: impl FnMut() -> BoxFuture<'a, Result<bool, sqlx::Error>>,
) -> Result<bool, sqlx::Error> {
    loop {
        seal_pass().await?;
        if is_sealed().await? {
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
