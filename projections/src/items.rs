//! Read model "items": the catalogue with each item's current price, and the items on each
//! client's portal (joined at read time, so a price change shows on every list at once).

use futures::future::BoxFuture;
use sqlx::PgConnection;

use crate::engine::{Projection, StoredEvent};

pub struct Items;

impl Projection for Items {
    fn name(&self) -> &'static str {
        "items"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_items", "rm_client_items"]
    }

    fn event_types(&self) -> &'static [&'static str] {
        &[
            "ItemCreated",
            "ItemPriceChanged",
            "ItemImageSet",
            "ItemAssigned",
            "ItemUnassigned",
        ]
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        e: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(apply(tx, e))
    }

    /// Price changes are the bulk of an item log: each run of them becomes one UPDATE (the
    /// last price per item in the run wins, as replaying them one by one would leave it).
    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let mut rest = events;
            while let Some(first) = rest.first() {
                let run = rest
                    .iter()
                    .take_while(|e| e.event_type == first.event_type)
                    .count();
                let (now, later) = rest.split_at(run);
                if first.event_type == "ItemPriceChanged" && run > 1 {
                    price_changes(tx, now).await?;
                } else {
                    for event in now {
                        apply(tx, event).await?;
                    }
                }
                rest = later;
            }
            Ok(())
        })
    }
}

async fn price_changes(tx: &mut PgConnection, run: &[StoredEvent]) -> Result<(), sqlx::Error> {
    let mut latest: std::collections::HashMap<(uuid::Uuid, uuid::Uuid), &StoredEvent> =
        std::collections::HashMap::new();
    for e in run {
        latest.insert((e.tenant_id, e.stream_uuid()?), e);
    }
    let (mut tenants, mut items, mut amounts, mut currencies, mut positions) =
        (vec![], vec![], vec![], vec![], vec![]);
    for ((tenant, item), e) in latest {
        let (amount, currency) = price(e);
        tenants.push(tenant);
        items.push(item);
        amounts.push(amount);
        currencies.push(currency);
        positions.push(e.global_position);
    }
    sqlx::query(
        "UPDATE rm_items i SET amount_minor = u.amount, currency = u.currency, last_position = u.position
           FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::bigint[])
                AS u(tenant_id, item_id, amount, currency, position)
          WHERE i.tenant_id = u.tenant_id AND i.item_id = u.item_id",
    )
    .bind(tenants)
    .bind(items)
    .bind(amounts)
    .bind(currencies)
    .bind(positions)
    .execute(tx)
    .await?;
    Ok(())
}

fn price(e: &StoredEvent) -> (i64, String) {
    let p = &e.data["unit_price"];
    (
        p["amount_minor"].as_i64().unwrap_or_default(),
        p["currency"].as_str().unwrap_or_default().to_string(),
    )
}

async fn apply(tx: &mut PgConnection, e: &StoredEvent) -> Result<(), sqlx::Error> {
    match e.event_type.as_str() {
        "ItemCreated" => {
            let (amount, currency) = price(e);
            sqlx::query(
                "INSERT INTO rm_items (tenant_id, item_id, sku, name, amount_minor, currency, created_at, last_position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .bind(e.tenant_id)
            .bind(e.stream_uuid()?)
            .bind(e.text("sku").unwrap_or_default())
            .bind(e.text("name").unwrap_or_default())
            .bind(amount)
            .bind(currency)
            .bind(e.recorded_at)
            .bind(e.global_position)
            .execute(tx)
            .await?;
        }
        "ItemPriceChanged" => {
            let (amount, currency) = price(e);
            sqlx::query(
                "UPDATE rm_items SET amount_minor = $3, currency = $4, last_position = $5
                  WHERE tenant_id = $1 AND item_id = $2",
            )
            .bind(e.tenant_id)
            .bind(e.stream_uuid()?)
            .bind(amount)
            .bind(currency)
            .bind(e.global_position)
            .execute(tx)
            .await?;
        }
        "ItemImageSet" => {
            sqlx::query("UPDATE rm_items SET has_image = true, last_position = $3 WHERE tenant_id = $1 AND item_id = $2")
                .bind(e.tenant_id)
                .bind(e.stream_uuid()?)
                .bind(e.global_position)
                .execute(tx)
                .await?;
        }
        "ItemAssigned" => {
            sqlx::query(
                "INSERT INTO rm_client_items (tenant_id, client_id, item_id, assigned_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
            )
            .bind(e.tenant_id)
            .bind(e.stream_uuid()?)
            .bind(e.uuid("item_id")?)
            .bind(e.recorded_at)
            .execute(tx)
            .await?;
        }
        "ItemUnassigned" => {
            sqlx::query("DELETE FROM rm_client_items WHERE tenant_id = $1 AND client_id = $2 AND item_id = $3")
                .bind(e.tenant_id)
                .bind(e.stream_uuid()?)
                .bind(e.uuid("item_id")?)
                .execute(tx)
                .await?;
        }
        _ => {}
    }
    Ok(())
}
