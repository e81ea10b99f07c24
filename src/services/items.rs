//! Item commands: create a product, rename or describe it, change its price, set its PNG
//! image, archive and unarchive it.

use aggregates::item::{Item, ItemCommand};
use aggregates::values::{ItemDescription, ItemName, Money, Sku};
use uuid::Uuid;

use super::rows;
use super::{run_on, start};
use crate::app::App;
use crate::errors::service::ServiceResult;
use crate::store::{CommandMeta, Committed};

pub async fn create(
    app: &App,
    meta: &CommandMeta,
    sku: Sku,
    name: ItemName,
    unit_price: Money,
) -> ServiceResult<Committed<Uuid>> {
    let meta = meta.with_command("CreateItem");
    let command = ItemCommand::Create {
        sku,
        name,
        unit_price,
    };
    start::<Item>(app, &meta, command).await
}

pub async fn change_price(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
    unit_price: Money,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("ChangeItemPrice");
    run_on::<Item>(app, &meta, id, ItemCommand::ChangePrice { unit_price }).await
}

/// Renames an item or changes its description (ChangeItem).
pub async fn describe(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
    name: Option<ItemName>,
    description: Option<Option<ItemDescription>>,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("ChangeItem");
    run_on::<Item>(app, &meta, id, ItemCommand::Describe { name, description }).await
}

/// ArchiveItem: an archived item stays on the portals it is on, and cannot be put on new
/// ones.
pub async fn archive(app: &App, meta: &CommandMeta, id: Uuid) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("ArchiveItem");
    run_on::<Item>(app, &meta, id, ItemCommand::Archive).await
}

/// UnarchiveItem: the item can be put on portals again.
pub async fn unarchive(app: &App, meta: &CommandMeta, id: Uuid) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("UnarchiveItem");
    run_on::<Item>(app, &meta, id, ItemCommand::Unarchive).await
}

/// Stores a PNG that the caller has already checked is one.
pub async fn set_image(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
    png: Vec<u8>,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("SetItemImage");
    let sha256 = hex::encode(crate::security::sha256(&png));
    app.store
        .transact(&meta, id, |uow| {
            let (sha256, png) = (sha256.clone(), png.clone());
            Box::pin(async move {
                let mut item = uow.load::<Item>(id).await?;
                let command = ItemCommand::SetImage {
                    sha256: sha256.clone(),
                    size_bytes: png.len() as u64,
                };
                uow.execute(&mut item, command).await?;
                if uow.staged_events() > 0 {
                    uow.side_write(rows::ItemImage {
                        item_id: id,
                        sha256,
                        png,
                    });
                }
                Ok(())
            })
        })
        .await
}
