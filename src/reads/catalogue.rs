//! The item catalogue staff pick from: search by SKU or name, active or archived items,
//! each with its current price and how many clients have it on their portal.

use aggregates::ids::ItemId;
use serde::Serialize;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::items::Price;
use crate::auth::TenantScope;
use crate::errors::read::ReadResult;

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct CatalogueItem {
    #[sqlx(rename = "item_id")]
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    /// Today's price.
    #[sqlx(flatten)]
    pub unit_price: Price,
    pub has_image: bool,
    /// Archived items stay where they are but are not put on new portals.
    pub archived: bool,
    /// How many clients have it on their portal.
    pub assigned_clients: i64,
}

pub struct CatalogueQuery {
    pub search: Option<String>,
    pub archived: bool,
    pub limit: i64,
    pub after: Option<(String, Uuid)>,
}

const COLUMNS: &str =
    "i.item_id, i.sku, i.name, i.description, i.amount_minor, i.currency, i.has_image,
    i.archived, lower(i.name) AS sort_name,
    (SELECT count(*) FROM rm_client_items ci
      WHERE ci.tenant_id = i.tenant_id AND ci.item_id = i.item_id) AS assigned_clients";

fn item(row: &PgRow) -> Result<CatalogueItem, sqlx::Error> {
    sqlx::FromRow::from_row(row)
}

/// The statement a catalogue page is read with (`$1` the firm, `$2` archived or not, `$3`
/// a search pattern, `$4`/`$5` the cursor, `$6` the page size and one).
pub fn list_statement() -> String {
    format!(
        "SELECT {COLUMNS} FROM rm_items i
          WHERE i.tenant_id = $1 AND i.archived = $2
            AND ($3::text IS NULL OR i.sku ILIKE $3 OR i.name ILIKE $3)
            AND ($4::text IS NULL OR (lower(i.name), i.item_id) > ($4, $5))
          ORDER BY lower(i.name), i.item_id
          LIMIT $6"
    )
}

/// A page of the catalogue by name, and the cursor of the next page.
pub async fn list(
    scope: &TenantScope,
    q: &CatalogueQuery,
) -> ReadResult<(Vec<CatalogueItem>, Option<String>)> {
    let pattern = q.search.as_deref().map(super::contains_pattern);
    let (after_name, after_id) = q.after.clone().unzip();
    let rows = sqlx::query(&list_statement())
        .bind(scope.id())
        .bind(q.archived)
        .bind(pattern)
        .bind(after_name)
        .bind(after_id)
        .bind(q.limit + 1)
        .fetch_all(scope.pool())
        .await?;
    Ok(super::page_of(&rows, q.limit, "item_id", item)?)
}

pub async fn get(scope: &TenantScope, id: ItemId) -> ReadResult<Option<CatalogueItem>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM rm_items i WHERE i.tenant_id = $1 AND i.item_id = $2"
    ))
    .bind(scope.id())
    .bind(id.uuid())
    .fetch_optional(scope.pool())
    .await?;
    Ok(row.as_ref().map(item).transpose()?)
}
