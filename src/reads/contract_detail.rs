//! A contract as staff read it: the read model's row, its text, and — once signed — who
//! signed, as what name, from where and when (read from its events, which never change).

use aggregates::contract::{ContractEvent, ContractEventKind};
use aggregates::events::{AnyEvent, EventKind};
use aggregates::ids::{ClientId, ContractId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::contracts::{self, ContractView};
use crate::auth::TenantScope;
use crate::errors::read::ReadResult;

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Signature {
    pub portal_user_id: Uuid,
    /// The login's username (null if the login is unknown to the read model).
    pub username: Option<String>,
    /// The name the signer typed.
    pub signer_name: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub signed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StaffContract {
    #[serde(flatten)]
    pub contract: ContractView,
    /// The text the client is asked to sign.
    pub body: String,
    /// Present once signed.
    pub signature: Option<Signature>,
}

/// One contract with its body and signature; `None` when the firm has no such contract.
pub async fn detail(scope: &TenantScope, id: ContractId) -> ReadResult<Option<StaffContract>> {
    let Some(contract) = contracts::contract(scope, id).await? else {
        return Ok(None);
    };
    let kinds: [EventKind; 2] = [
        ContractEventKind::ContractIssued.into(),
        ContractEventKind::ContractSigned.into(),
    ];
    let events = eventlog::queries::events_of_kinds(
        scope.pool(),
        scope.keys(),
        scope.tenant(),
        &[id.uuid()],
        &kinds,
    )
    .await?;
    let (mut body, mut signature) = (String::new(), None);
    for e in events {
        match e.event {
            AnyEvent::Contract(ContractEvent::ContractIssued { body: text, .. }) => {
                body = text.as_str().to_string();
            }
            AnyEvent::Contract(ContractEvent::ContractSigned {
                portal_user_id,
                signer_name,
                signed_at,
                ip,
                user_agent,
                ..
            }) => {
                signature = Some(Signature {
                    portal_user_id,
                    username: None,
                    signer_name: signer_name.to_string(),
                    ip,
                    user_agent,
                    signed_at,
                });
            }
            _ => {}
        }
    }
    if let Some(signature) = signature.as_mut() {
        signature.username = sqlx::query_scalar(
            "SELECT username FROM rm_portal_users WHERE tenant_id = $1 AND portal_user_id = $2",
        )
        .bind(scope.id())
        .bind(signature.portal_user_id)
        .fetch_optional(scope.pool())
        .await?;
    }
    Ok(Some(StaffContract {
        contract,
        body,
        signature,
    }))
}

/// Every contract issued to a client (voided ones too), newest first; `None` when the firm
/// has no such client.
pub async fn of_client(
    scope: &TenantScope,
    client: ClientId,
) -> ReadResult<Option<Vec<ContractView>>> {
    if !super::clients::known(scope, client).await? {
        return Ok(None);
    }
    Ok(Some(contracts::all_of_client(scope, client).await?))
}
