//! Contract commands: issue a contract to a client for signature, void it.

use aggregates::contract::{Contract, ContractCommand};
use aggregates::values::{ContractBody, ContractTitle, Reason};
use uuid::Uuid;

use super::clients::registered_client;
use super::run_on;
use crate::app::App;
use crate::error::AppResult;
use crate::store::{CommandMeta, Committed};

#[derive(Debug, Clone)]
pub struct IssuedContract {
    pub id: Uuid,
    pub content_sha256: String,
}

pub async fn issue(
    app: &App,
    meta: &CommandMeta,
    client_id: Uuid,
    title: ContractTitle,
    body: ContractBody,
) -> AppResult<Committed<IssuedContract>> {
    let meta = meta.with_command("IssueContract");
    let id = Uuid::now_v7();
    app.store
        .transact(&meta, client_id, |uow| {
            let (title, body) = (title.clone(), body.clone());
            Box::pin(async move {
                registered_client(uow, client_id).await?;
                let mut contract = uow.new_stream::<Contract>(id);
                uow.execute(
                    &mut contract,
                    ContractCommand::Issue {
                        client_id,
                        title,
                        body,
                    },
                )
                .await?;
                let content_sha256 = contract
                    .state
                    .issued
                    .map(|c| c.content_sha256)
                    .expect("just issued");
                Ok(IssuedContract { id, content_sha256 })
            })
        })
        .await
}

pub async fn void(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
    reason: Option<Reason>,
) -> AppResult<Committed<()>> {
    let meta = meta.with_command("VoidContract");
    run_on::<Contract>(app, &meta, id, ContractCommand::Void { reason }).await
}
