//! Read model "items": the catalogue with each item's current price, and the items on each
//! client's portal (joined at read time, so a price change shows on every list at once).

use std::collections::HashMap;

use aggregates::client::{ClientEvent, ClientEventKind as C};
use aggregates::events::AnyEvent;
use aggregates::item::{ItemEvent, ItemEventKind as I};
use aggregates::values::Money;
use eventlog::Envelope;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::engine::{Projection, ProjectionError};

pub struct Items;

impl Projection for Items {
    crate::projection_basics!(
        "items",
        tables: ["rm_items", "rm_client_items"],
        events: [
            I::ItemCreated,
            I::ItemPriceChanged,
            I::ItemImageSet,
            I::ItemRenamed,
            I::ItemDescriptionChanged,
            I::ItemArchived,
            I::ItemUnarchived,
            C::ItemAssigned,
            C::ItemUnassigned,
        ],
        batch: apply_runs,
    );
}

/// Price changes are the bulk of an item log: each run of them becomes one UPDATE (the
/// last price per item in the run wins, as replaying them one by one would leave it).
async fn apply_runs(tx: &mut PgConnection, events: &[&Envelope]) -> Result<(), ProjectionError> {
    for run in crate::engine::runs(events) {
        if run.is_many(I::ItemPriceChanged) {
            price_changes(tx, run.events).await?;
        } else {
            for event in run.events {
                apply(tx, event).await?;
            }
        }
    }
    Ok(())
}

async fn price_changes(tx: &mut PgConnection, run: &[&Envelope]) -> Result<(), ProjectionError> {
    let mut latest: HashMap<(Uuid, Uuid), (&Money, i64)> = HashMap::new();
    for e in run {
        if let AnyEvent::Item(ItemEvent::ItemPriceChanged { unit_price, .. }) = &e.event {
            latest.insert(
                (e.tenant.uuid(), e.stream_uuid()?),
                (unit_price, e.global_position),
            );
        }
    }
    let (mut tenants, mut items, mut amounts, mut currencies, mut positions) =
        (vec![], vec![], vec![], vec![], vec![]);
    for ((tenant, item), (price, position)) in latest {
        tenants.push(tenant);
        items.push(item);
        amounts.push(price.amount_minor);
        currencies.push(price.currency.clone());
        positions.push(position);
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

async fn apply(tx: &mut PgConnection, e: &Envelope) -> Result<(), ProjectionError> {
    let (tenant, stream, position) = (e.tenant.uuid(), e.stream_uuid()?, e.global_position);
    match &e.event {
        AnyEvent::Item(ItemEvent::ItemCreated {
            sku,
            name,
            unit_price,
        }) => {
            sqlx::query(
                "INSERT INTO rm_items (tenant_id, item_id, sku, name, amount_minor, currency, created_at, last_position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(stream)
            .bind(sku.as_str())
            .bind(name.as_str())
            .bind(unit_price.amount_minor)
            .bind(&unit_price.currency)
            .bind(e.recorded_at)
            .bind(position)
            .execute(tx)
            .await?;
        }
        AnyEvent::Item(ItemEvent::ItemPriceChanged { .. }) => {
            price_changes(tx, std::slice::from_ref(&e)).await?;
        }
        AnyEvent::Item(ItemEvent::ItemImageSet { .. }) => {
            sqlx::query("UPDATE rm_items SET has_image = true, last_position = $3 WHERE tenant_id = $1 AND item_id = $2")
                .bind(tenant)
                .bind(stream)
                .bind(position)
                .execute(tx)
                .await?;
        }
        AnyEvent::Item(ItemEvent::ItemRenamed { name }) => {
            set_item(tx, e, "name = $4", name.as_str().to_string()).await?;
        }
        AnyEvent::Item(ItemEvent::ItemDescriptionChanged { description }) => {
            let description = description.as_ref().map(|d| d.as_str().to_string());
            set_item(tx, e, "description = $4", description).await?;
        }
        AnyEvent::Item(ItemEvent::ItemArchived {}) => {
            set_item(tx, e, "archived = $4", true).await?
        }
        AnyEvent::Item(ItemEvent::ItemUnarchived {}) => {
            set_item(tx, e, "archived = $4", false).await?
        }
        AnyEvent::Client(ClientEvent::ItemAssigned { item_id }) => {
            sqlx::query(
                "INSERT INTO rm_client_items (tenant_id, client_id, item_id, assigned_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(stream)
            .bind(item_id)
            .bind(e.recorded_at)
            .execute(tx)
            .await?;
        }
        AnyEvent::Client(ClientEvent::ItemUnassigned { item_id }) => {
            sqlx::query("DELETE FROM rm_client_items WHERE tenant_id = $1 AND client_id = $2 AND item_id = $3")
                .bind(tenant)
                .bind(stream)
                .bind(item_id)
                .execute(tx)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// Sets one column (`set` uses `$4` for `value`) of the event's item row.
async fn set_item<T>(
    tx: &mut PgConnection,
    e: &Envelope,
    set: &str,
    value: T,
) -> Result<(), ProjectionError>
where
    T: Send + for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    crate::row::set_column(tx, e, "rm_items", "item_id", set, value).await
}
