//! Contract commands: issue a contract to a client for signature, void it.

use aggregates::contract::{Contract, ContractCommand};
use aggregates::values::{ContractBody, ContractTitle, Reason};
use uuid::Uuid;

use super::clients::registered_client;
use super::run_on;
use crate::app::App;
use crate::services::error::{ServiceError, ServiceResult};
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
) -> ServiceResult<Committed<IssuedContract>> {
    let meta = meta.with_command("IssueContract");
    let id = Uuid::now_v7();
    app.store
        .transact(&meta, client_id, |uow| {
            let (title, body) = (title.clone(), body.clone());
            Box::pin(async move {
                let client = registered_client(uow, client_id).await?;
                let mut contract = uow.new_stream::<Contract>(id);
                uow.execute(
                    &mut contract,
                    ContractCommand::Issue {
                        client_id,
                        title,
                        body,
                        client_archived: client.state.archived,
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
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("VoidContract");
    run_on::<Contract>(app, &meta, id, ContractCommand::Void { reason }).await
}

/// What a portal user submits to sign a contract.
pub struct Signature {
    pub portal_user_id: Uuid,
    pub signer_name: aggregates::values::SignerName,
    pub content_sha256: String,
}

/// SignContract: a portal user with access to the contract's client signs the content they
/// were shown. (The portal route that calls this arrives with the portal API.)
pub async fn sign(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
    signature: Signature,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("SignContract");
    let Signature {
        portal_user_id,
        signer_name,
        content_sha256,
    } = signature;
    app.store
        .transact(&meta, id, |uow| {
            let (signer_name, content_sha256) = (signer_name.clone(), content_sha256.clone());
            Box::pin(async move {
                let mut contract = uow.load::<Contract>(id).await?;
                let client_id = contract
                    .state
                    .issued
                    .as_ref()
                    .map(|c| c.client_id)
                    .ok_or(ServiceError::NotFound("contract"))?;
                let user = uow
                    .load::<aggregates::portal_user::PortalUser>(portal_user_id)
                    .await?;
                let reaches_client = user
                    .state
                    .account
                    .as_ref()
                    .is_some_and(|a| a.can_act_for(client_id));
                if !reaches_client {
                    // Another client's contract is, to this user, no contract at all.
                    return Err(ServiceError::NotFound("contract"));
                }
                let meta = uow.meta().clone();
                let command = ContractCommand::Sign {
                    portal_user_id,
                    signer_name,
                    content_sha256,
                    signed_at: chrono::Utc::now(),
                    ip: meta.client_ip,
                    user_agent: meta.user_agent,
                };
                Ok(uow.execute(&mut contract, command).await?)
            })
        })
        .await
}
