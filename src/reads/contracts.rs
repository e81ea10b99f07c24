//! Contracts as staff and portal users see them, and a contract's text.

use aggregates::contract::{ContractEvent, ContractEventKind};
use aggregates::events::AnyEvent;
use aggregates::ids::{ClientId, ContractId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::errors::read::ReadResult;

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct ContractView {
    #[sqlx(rename = "contract_id")]
    pub id: Uuid,
    pub client_id: Uuid,
    /// The client (area) the contract is for, by its current name: a group login sees
    /// several.
    pub client_display_name: String,
    pub title: String,
    pub content_sha256: String,
    /// awaiting_signature, signed or voided.
    pub status: String,
    pub signed_by: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
    pub issued_at: DateTime<Utc>,
}

/// Contracts with the name of the client each is for (a left join: the two read models
/// catch up with the log each at its own pace).
const CONTRACTS: &str = "SELECT k.*, coalesce(c.display_name, '') AS client_display_name
       FROM rm_contracts k LEFT JOIN rm_clients c USING (tenant_id, client_id)";

pub async fn contract(scope: &TenantScope, id: ContractId) -> ReadResult<Option<ContractView>> {
    let sql = format!("{CONTRACTS} WHERE k.tenant_id = $1 AND k.contract_id = $2");
    let row = sqlx::query(&sql)
        .bind(scope.id())
        .bind(id.uuid())
        .fetch_optional(scope.pool())
        .await?;
    Ok(row.as_ref().map(contract_view).transpose()?)
}

fn contract_view(r: &sqlx::postgres::PgRow) -> Result<ContractView, sqlx::Error> {
    sqlx::FromRow::from_row(r)
}

/// Awaiting-signature and signed contracts of the given clients (what a portal user sees).
pub async fn contracts_of_clients(
    scope: &TenantScope,
    client_ids: &[ClientId],
) -> ReadResult<Vec<ContractView>> {
    let sql = format!(
        "{CONTRACTS} WHERE k.tenant_id = $1 AND k.client_id = ANY($2) AND k.status <> 'voided'
          ORDER BY k.issued_at DESC, k.contract_id"
    );
    let rows = sqlx::query(&sql)
        .bind(scope.id())
        .bind(client_ids.iter().map(|c| c.uuid()).collect::<Vec<_>>())
        .fetch_all(scope.pool())
        .await?;
    Ok(rows.iter().map(contract_view).collect::<Result<_, _>>()?)
}

/// Every contract of one client, voided ones included, newest first.
pub async fn all_of_client(scope: &TenantScope, client: ClientId) -> ReadResult<Vec<ContractView>> {
    let sql = format!(
        "{CONTRACTS} WHERE k.tenant_id = $1 AND k.client_id = $2
          ORDER BY k.issued_at DESC, k.contract_id"
    );
    let rows = sqlx::query(&sql)
        .bind(scope.id())
        .bind(client.uuid())
        .fetch_all(scope.pool())
        .await?;
    Ok(rows.iter().map(contract_view).collect::<Result<_, _>>()?)
}

/// A contract's title and body, from the event that issued it (they never change).
pub async fn contract_text(
    scope: &TenantScope,
    id: ContractId,
) -> ReadResult<Option<(String, String)>> {
    let issued = eventlog::queries::events_of_kinds(
        scope.pool(),
        scope.keys(),
        scope.tenant(),
        &[id.uuid()],
        &[ContractEventKind::ContractIssued.into()],
    )
    .await?;
    Ok(issued.into_iter().find_map(|e| match e.event {
        AnyEvent::Contract(ContractEvent::ContractIssued { title, body, .. }) => {
            Some((title.as_str().to_string(), body.as_str().to_string()))
        }
        _ => None,
    }))
}
