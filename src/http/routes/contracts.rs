//! Staff routes for contracts: issue one to a client for signature, void it.

use aggregates::values::{ContractBody, ContractTitle, Reason};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::PositionOnly;
use aggregates::ids::{ClientId, ContractId};

use crate::http::auth::{Reader, Writer};
use crate::http::error::AppError;
use crate::http::error::{AppResult, Problem};
use crate::http::extract::{checked, Checks, JsonBody, JsonOrEmpty, PathId};
use crate::http::routes::MinPosition;
use crate::http::Edge;
use crate::reads::contract_detail::{self, StaffContract};
use crate::reads::contracts::ContractView;
use crate::services::contracts as service;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueContractBody {
    #[schema(schema_with = crate::http::schema::contract_title)]
    pub title: String,
    #[schema(schema_with = crate::http::schema::contract_body)]
    pub body: String,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ContractIssued {
    pub id: Uuid,
    /// SHA-256 (hex) of the title, a line feed and the body: what a signer must confirm.
    pub content_sha256: String,
    pub position: i64,
    /// The client's logins e-mailed a request to sign (those that can log in now).
    pub signature_requested_from: Vec<Uuid>,
    /// True when nobody could be asked: the client has no active login yet. The contract
    /// waits on the portal; the client's invitation or activation e-mail names it.
    pub awaiting_login: bool,
}

/// Issue a contract to a client for signature
#[utoipa::path(post, path = "/api/v1/clients/{id}/contracts", tag = "contracts",
    params(("id" = Uuid, Path)), request_body = IssueContractBody,
    responses((status = 201, body = ContractIssued), (status = 404, body = Problem), (status = 422, body = Problem), (status = 409, description = "client_archived", body = Problem)),
    security(("staff_token" = [])))]
pub async fn issue_contract(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(client_id): PathId,
    JsonBody(body): JsonBody<IssueContractBody>,
) -> AppResult<(StatusCode, Json<ContractIssued>)> {
    let mut v = Checks::default();
    let title = v.field("title", ContractTitle::parse(&body.title));
    let text = v.field("body", ContractBody::parse(&body.body));
    v.finish()?;
    let done = service::issue(&app, &meta, client_id, checked(title), checked(text)).await?;
    let issued = ContractIssued {
        id: done.value.id,
        content_sha256: done.value.content_sha256,
        position: done.position,
        awaiting_login: done.value.signers.is_empty(),
        signature_requested_from: done.value.signers,
    };
    Ok((StatusCode::CREATED, Json(issued)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidBody {
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::reason_or_null)]
    pub reason: Option<String>,
}

/// Void a contract not yet signed
#[utoipa::path(post, path = "/api/v1/contracts/{id}/void", tag = "contracts",
    params(("id" = Uuid, Path)), request_body(content = Option<VoidBody>, description = "optional"),
    responses((status = 200, body = PositionOnly), (status = 409, description = "contract_already_signed, contract_voided", body = Problem), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn void_contract(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(id): PathId,
    JsonOrEmpty(body): JsonOrEmpty<VoidBody>,
) -> AppResult<Json<PositionOnly>> {
    let mut v = Checks::default();
    let reason = v.optional("reason", body.reason.as_deref(), Reason::parse);
    v.finish()?;
    Ok(Json(
        service::void(&app, &meta, id, checked(reason))
            .await?
            .into(),
    ))
}

/// Get a contract with its text and signature
#[utoipa::path(get, path = "/api/v1/contracts/{id}", tag = "contracts", params(("id" = Uuid, Path), MinPosition),
    responses((status = 200, body = StaffContract), (status = 404, body = Problem), (status = 504, body = Problem)),
    security(("staff_token" = [])))]
pub async fn get_contract(
    State(app): State<Edge>,
    Reader(staff): Reader,
    PathId(id): PathId,
    axum::extract::Query(q): axum::extract::Query<MinPosition>,
) -> AppResult<Json<StaffContract>> {
    q.wait(&app).await?;
    let contract = contract_detail::detail(&staff.scope, ContractId::from_uuid(id))
        .await?
        .ok_or(AppError::NotFound("contract"))?;
    Ok(Json(contract))
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ClientContracts {
    pub items: Vec<ContractView>,
}

/// A client's contracts, voided ones included
#[utoipa::path(get, path = "/api/v1/clients/{id}/contracts", tag = "contracts", params(("id" = Uuid, Path), MinPosition),
    responses((status = 200, body = ClientContracts), (status = 404, body = Problem), (status = 504, body = Problem)),
    security(("staff_token" = [])))]
pub async fn list_client_contracts(
    State(app): State<Edge>,
    Reader(staff): Reader,
    PathId(id): PathId,
    axum::extract::Query(q): axum::extract::Query<MinPosition>,
) -> AppResult<Json<ClientContracts>> {
    q.wait(&app).await?;
    let items = contract_detail::of_client(&staff.scope, ClientId::from_uuid(id))
        .await?
        .ok_or(AppError::NotFound("client"))?;
    Ok(Json(ClientContracts { items }))
}
