//! AssignItem and UnassignItem: put a catalogue item on a client's portal or take it off.
//! The client's stream records it (the rule "only an existing item" is checked here, the
//! rest in the client aggregate).

use aggregates::client::{Client, ClientCommand};
use aggregates::item::Item;
use uuid::Uuid;

use super::clients::registered_client;
use super::run_on;
use crate::app::App;
use crate::errors::service::ServiceResult;
use crate::store::{CommandMeta, Committed};

pub async fn assign_item(
    app: &App,
    meta: &CommandMeta,
    client_id: Uuid,
    item_id: Uuid,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("AssignItem");
    app.store
        .transact(&meta, client_id, |uow| {
            Box::pin(async move {
                let mut client = registered_client(uow, client_id).await?;
                let item = uow.load::<Item>(item_id).await?;
                item.state.ensure_assignable()?;
                uow.execute(&mut client, ClientCommand::AssignItem { item_id })
                    .await
            })
        })
        .await
}

pub async fn unassign_item(
    app: &App,
    meta: &CommandMeta,
    client_id: Uuid,
    item_id: Uuid,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("UnassignItem");
    run_on::<Client>(
        app,
        &meta,
        client_id,
        ClientCommand::UnassignItem { item_id },
    )
    .await
}
