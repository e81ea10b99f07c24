//! The items on a client's portal (AssignItem, UnassignItem, the list): the client's own
//! stream records them, the `items` read model lists them with today's prices.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{MinPosition, PositionOnly};
use aggregates::ids::ClientId;

use crate::http::auth::{Reader, Writer};
use crate::http::error::{AppError, AppResult, Problem};
use crate::http::extract::{canonical_uuid, JsonBody, PathId, PathIds};
use crate::http::Edge;
use crate::reads::items::ClientItem;
use crate::reads::{self};
use crate::services::client_items as service;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignItemBody {
    #[schema(schema_with = crate::http::schema::uuid_text)]
    pub item_id: String,
}

/// Put an item on a client's portal (AssignItem)
#[utoipa::path(post, path = "/api/v1/clients/{id}/items", tag = "items",
    params(("id" = Uuid, Path)), request_body = AssignItemBody,
    responses((status = 201, body = PositionOnly), (status = 409, description = "item_already_assigned", body = Problem), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn assign_item(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(client_id): PathId,
    JsonBody(body): JsonBody<AssignItemBody>,
) -> AppResult<(StatusCode, Json<PositionOnly>)> {
    let item_id = canonical_uuid(&body.item_id).ok_or(AppError::NotFound("item"))?;
    let done = service::assign_item(&app, &meta, client_id, item_id).await?;
    Ok((StatusCode::CREATED, Json(done.into())))
}

/// Take an item off a client's portal
#[utoipa::path(delete, path = "/api/v1/clients/{id}/items/{item_id}", tag = "items",
    params(("id" = Uuid, Path), ("item_id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 404, description = "unknown client or item_not_assigned", body = Problem),
        (status = 409, description = "client_erased", body = Problem)),
    security(("staff_token" = [])))]
pub async fn unassign_item(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathIds(client_id, item_id): PathIds,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(
        service::unassign_item(&app, &meta, client_id, item_id)
            .await?
            .into(),
    ))
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ClientItems {
    pub items: Vec<ClientItem>,
}

/// The items on a client's portal, at today's prices
#[utoipa::path(get, path = "/api/v1/clients/{id}/items", tag = "items", params(("id" = Uuid, Path), MinPosition),
    responses((status = 200, body = ClientItems), (status = 404, body = Problem), (status = 504, body = Problem)),
    security(("staff_token" = [])))]
pub async fn list_client_items(
    State(app): State<Edge>,
    Reader(staff): Reader,
    PathId(id): PathId,
    Query(q): Query<MinPosition>,
) -> AppResult<Json<ClientItems>> {
    q.wait(&app).await?;
    let items = reads::items::client_items(&staff.scope, ClientId::from_uuid(id))
        .await?
        .ok_or(AppError::NotFound("client"))?;
    Ok(Json(ClientItems { items }))
}
