//! An item's picture (`item_images`), stored beside the event that names its digest.

use uuid::Uuid;

use crate::store::{SideStatement, SideWrite};

/// The PNG of an item, new or replacing the old one.
pub struct ItemImage {
    pub item_id: Uuid,
    pub sha256: String,
    pub png: Vec<u8>,
}

impl SideWrite for ItemImage {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "INSERT INTO item_images (tenant_id, item_id, sha256, png) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, item_id)
             DO UPDATE SET sha256 = EXCLUDED.sha256, png = EXCLUDED.png, updated_at = now()",
        )
        .bind(tenant_id)
        .bind(self.item_id)
        .bind(&self.sha256)
        .bind(&self.png)
    }
}
