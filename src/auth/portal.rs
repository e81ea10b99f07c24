//! The portal edge: a firm's portal address (`/portal/{tenant_slug}/…`) names its tenant.
//! Who the portal user is comes after, from a session token checked within that scope
//! (`portal::sessions`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aggregates::ids::TenantId;
use sqlx::PgPool;

use super::TenantScope;

/// Tenant ids by slug, remembered: every portal request names its firm by slug, and a
/// slug never changes owner (tenants are not deleted or renamed).
#[derive(Clone, Default)]
pub struct TenantSlugs(Arc<RwLock<HashMap<String, TenantId>>>);

impl TenantSlugs {
    /// The scope of the firm a portal address names, if there is one.
    pub async fn resolve(
        &self,
        pool: &PgPool,
        keys: &eventlog::DataKeys,
        slug: &str,
    ) -> Result<Option<TenantScope>, sqlx::Error> {
        let cached = self.0.read().expect("slug cache").get(slug).copied();
        let tenant = match cached {
            Some(tenant) => Some(tenant),
            None => {
                let found = super::scope::tenant_by_slug(pool, slug).await?;
                if let Some(tenant) = found {
                    let mut cache = self.0.write().expect("slug cache");
                    cache.insert(slug.to_string(), tenant);
                }
                found
            }
        };
        Ok(tenant.map(|t| TenantScope::new(pool.clone(), keys, t)))
    }
}
