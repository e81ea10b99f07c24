//! The items on a client's portal with today's prices.

use aggregates::ids::{ClientId, ItemId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::errors::read::ReadResult;

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Price {
    pub amount_minor: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct ClientItem {
    pub item_id: Uuid,
    pub sku: String,
    pub name: String,
    /// What the firm says about the item, if anything.
    pub description: Option<String>,
    /// The item's current price.
    #[sqlx(flatten)]
    pub unit_price: Price,
    pub has_image: bool,
    pub assigned_at: DateTime<Utc>,
}

/// The items on a client's portal with today's prices; `None` for an unknown client.
pub async fn client_items(
    scope: &TenantScope,
    client_id: ClientId,
) -> ReadResult<Option<Vec<ClientItem>>> {
    if !super::clients::known(scope, client_id).await? {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT i.item_id, i.sku, i.name, i.description, i.amount_minor, i.currency, i.has_image,
                ci.assigned_at
           FROM rm_client_items ci JOIN rm_items i USING (tenant_id, item_id)
          WHERE ci.tenant_id = $1 AND ci.client_id = $2
          ORDER BY i.name, i.item_id",
    )
    .bind(scope.id())
    .bind(client_id.uuid())
    .fetch_all(scope.pool())
    .await?;
    let items = rows
        .iter()
        .map(sqlx::FromRow::from_row)
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Some(items))
}

/// An item's image, if it has one and it is on one of `clients`' portals (what a portal
/// user may see).
pub async fn image_on_portal(
    scope: &TenantScope,
    id: ItemId,
    clients: &[ClientId],
) -> ReadResult<Option<Vec<u8>>> {
    let clients: Vec<uuid::Uuid> = clients.iter().map(|c| c.uuid()).collect();
    Ok(sqlx::query_scalar(
        "SELECT png FROM item_images im
          WHERE im.tenant_id = $1 AND im.item_id = $2
            AND EXISTS (SELECT 1 FROM rm_client_items ci
                         WHERE ci.tenant_id = $1 AND ci.item_id = $2 AND ci.client_id = ANY($3))",
    )
    .bind(scope.id())
    .bind(id.uuid())
    .bind(&clients)
    .fetch_optional(scope.pool())
    .await?)
}

/// An item's image (PNG bytes), if it has one.
pub async fn image(scope: &TenantScope, id: ItemId) -> ReadResult<Option<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT png FROM item_images WHERE tenant_id = $1 AND item_id = $2")
            .bind(scope.id())
            .bind(id.uuid())
            .fetch_optional(scope.pool())
            .await?,
    )
}
