//! What a signed-in portal user may see and do, said once for the Portal API (JSON) and the
//! hosted portal pages (HTML): their clients, items, item images, contracts, and signing.

use aggregates::client::Client;
use aggregates::contract::Contract;
use aggregates::ids::{ClientId, ContractId, ItemId};
use aggregates::values::SignerName;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{AppError, AppResult};
use super::portal_auth::PortalSession;
use crate::http::Edge;
use crate::reads::{self, contracts::ContractView, items::ClientItem};
use crate::services::contracts;

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct PortalClient {
    pub id: Uuid,
    pub display_name: String,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct PortalContract {
    pub id: Uuid,
    pub client_id: Uuid,
    /// The client area the contract is for, by its current name.
    pub client_display_name: String,
    pub title: String,
    /// The text to read before signing.
    pub body: String,
    /// What `sign` must be sent back: SHA-256 of the title, a line feed and the body.
    pub content_sha256: String,
    /// awaiting_signature, signed or voided.
    pub status: String,
    /// The name signed with, once signed.
    pub signed_by: Option<String>,
    pub signed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl PortalSession {
    /// The clients this login reaches, as their streams name them now.
    pub async fn clients(&self, app: &Edge) -> AppResult<Vec<PortalClient>> {
        let ids: Vec<Uuid> = self.account.clients.iter().copied().collect();
        let loaded = app
            .store
            .reader(&self.meta())
            .load_many::<Client>(&ids)
            .await?;
        Ok(loaded
            .into_iter()
            .filter_map(|c| {
                let name = c.state.profile?.display_name;
                Some(PortalClient {
                    id: c.id,
                    display_name: name.to_string(),
                })
            })
            .collect())
    }

    /// The items on one of this login's clients, with today's prices.
    pub async fn items_of(&self, client_id: Uuid) -> AppResult<Vec<ClientItem>> {
        if !self.reaches(client_id) {
            return Err(AppError::NotFound("client"));
        }
        Ok(
            reads::items::client_items(&self.tenant.scope, ClientId::from_uuid(client_id))
                .await?
                .unwrap_or_default(),
        )
    }

    /// An item's image, when the item is on one of this login's clients.
    pub async fn item_image(&self, item_id: Uuid) -> AppResult<Vec<u8>> {
        let clients: Vec<ClientId> = self
            .account
            .clients
            .iter()
            .filter(|c| self.reaches(**c))
            .map(|c| ClientId::from_uuid(*c))
            .collect();
        reads::items::image_on_portal(&self.tenant.scope, ItemId::from_uuid(item_id), &clients)
            .await?
            .ok_or(AppError::NotFound("item image"))
    }

    /// Awaiting and signed contracts of every client this login reaches.
    pub async fn contracts(&self) -> AppResult<Vec<ContractView>> {
        let clients: Vec<ClientId> = self
            .account
            .clients
            .iter()
            .map(|c| ClientId::from_uuid(*c))
            .collect();
        Ok(reads::contracts::contracts_of_clients(&self.tenant.scope, &clients).await?)
    }

    /// One contract of a client this login reaches, with its text.
    pub async fn contract(&self, app: &Edge, id: Uuid) -> AppResult<PortalContract> {
        let contract = app.store.reader(&self.meta()).load::<Contract>(id).await?;
        let issued = contract
            .state
            .issued
            .filter(|c| self.reaches(c.client_id))
            .ok_or(AppError::NotFound("contract"))?;
        let client_display_name = app
            .store
            .reader(&self.meta())
            .load::<Client>(issued.client_id)
            .await?
            .state
            .profile
            .map(|p| p.display_name.to_string())
            .unwrap_or_default();
        let (title, body) =
            reads::contracts::contract_text(&self.tenant.scope, ContractId::from_uuid(id))
                .await?
                .ok_or(AppError::NotFound("contract"))?;
        let status = serde_json::to_value(issued.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        Ok(PortalContract {
            id,
            client_id: issued.client_id,
            client_display_name,
            title,
            body,
            content_sha256: issued.content_sha256,
            status,
            signed_by: issued.signed.as_ref().map(|(name, _)| name.to_string()),
            signed_at: issued.signed.map(|(_, at)| at),
        })
    }

    /// Signs a contract as shown (`content_sha256`); the position of the signature.
    pub async fn sign(
        &self,
        app: &Edge,
        id: Uuid,
        signer_name: Option<SignerName>,
        content_sha256: &str,
    ) -> AppResult<i64> {
        let signature = contracts::Signature {
            portal_user_id: self.session.portal_user_id,
            signer_name,
            content_sha256: content_sha256.trim().to_ascii_lowercase(),
        };
        Ok(contracts::sign(app, &self.meta(), id, signature)
            .await?
            .position)
    }
}
