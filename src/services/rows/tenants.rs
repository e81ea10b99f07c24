//! The firm's own row (`tenants`): its slug, for portal addresses, and its auditor's address.

use uuid::Uuid;

use crate::store::{SideStatement, SideWrite};

/// A new firm, findable by slug from the commit on.
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

impl SideWrite for Tenant {
    fn statement(&self, _tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)")
            .bind(self.id)
            .bind(&self.slug)
            .bind(&self.name)
    }
}

/// Where the signer e-mails the firm's new checkpoints, current from the commit on.
pub struct CheckpointRecipient {
    pub email: Option<String>,
}

impl SideWrite for CheckpointRecipient {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query("UPDATE tenants SET checkpoint_email = $2 WHERE id = $1")
            .bind(tenant_id)
            .bind(&self.email)
    }
}
