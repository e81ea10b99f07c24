//! Contract commands: issue a contract to a client for signature, void it.

use aggregates::contract::{Contract, ContractCommand};
use aggregates::portal_user::PortalUser;
use aggregates::values::{ContractBody, ContractTitle, Reason, SignerName};
use uuid::Uuid;

use super::clients::registered_client;
use super::run_on;
use crate::app::App;
use crate::errors::service::{ServiceError, ServiceResult};
use crate::store::{CommandMeta, Committed};

#[derive(Debug, Clone)]
pub struct IssuedContract {
    pub id: Uuid,
    pub content_sha256: String,
    /// The logins asked by e-mail to sign; empty when the client has no active login yet
    /// (the contract then waits: its invitation or activation e-mail names it).
    pub signers: Vec<Uuid>,
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
                let signers = signers_of(uow, &client).await?;
                let mut contract = uow.new_stream::<Contract>(id);
                uow.execute(
                    &mut contract,
                    ContractCommand::Issue {
                        client_id,
                        title,
                        body,
                        client_archived: client.state.archived,
                        signers: signers.clone(),
                    },
                )
                .await?;
                let content_sha256 = contract
                    .state
                    .issued
                    .map(|c| c.content_sha256)
                    .expect("just issued");
                Ok(IssuedContract {
                    id,
                    content_sha256,
                    signers,
                })
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

/// The client's logins that can act for it now: they are asked to sign.
async fn signers_of(
    uow: &mut crate::store::UnitOfWork,
    client: &crate::store::Loaded<aggregates::client::Client>,
) -> ServiceResult<Vec<Uuid>> {
    let ids: Vec<Uuid> = client.state.portal_users.iter().copied().collect();
    let users = uow.load_many::<PortalUser>(&ids).await?;
    Ok(users
        .iter()
        .filter(|u| {
            u.state
                .account
                .as_ref()
                .is_some_and(|a| a.can_act_for(client.id))
        })
        .map(|u| u.id)
        .collect())
}

/// What a portal user submits to sign a contract.
pub struct Signature {
    pub portal_user_id: Uuid,
    /// Left out, the login's full name on file is used.
    pub signer_name: Option<aggregates::values::SignerName>,
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
    let now = app.clock.now();
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
                let user = uow.load::<PortalUser>(portal_user_id).await?;
                let Some(account) = user
                    .state
                    .account
                    .as_ref()
                    .filter(|a| a.can_act_for(client_id))
                else {
                    // Another client's contract is, to this user, no contract at all.
                    return Err(ServiceError::NotFound("contract"));
                };
                let name_on_file = account
                    .names
                    .full_name()
                    .and_then(|n| SignerName::parse(&n).ok());
                let meta = uow.meta().clone();
                let command = ContractCommand::Sign {
                    portal_user_id,
                    signer_name,
                    name_on_file,
                    content_sha256,
                    signed_at: now,
                    ip: meta.client_ip,
                    user_agent: meta.user_agent,
                };
                uow.execute(&mut contract, command).await
            })
        })
        .await
}
