//! Staff routes for items (products): create, price, PNG image.

use aggregates::values::{ItemName, Money, Sku};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Created, PositionOnly};
use aggregates::ids::ItemId;

use crate::http::auth::{Reader, Writer};
use crate::http::error::{AppError, AppResult, Problem};
use crate::http::extract::{checked, Checks, JsonBody, PathId, RawBody};
use crate::http::png;
use crate::http::Edge;
use crate::services::items as service;

/// Largest image accepted.
pub use crate::http::extract::IMAGE_LIMIT;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyBody {
    /// In the currency's minor unit (pence for GBP).
    #[serde(deserialize_with = "crate::http::extract::whole_number")]
    #[schema(schema_with = crate::http::schema::amount_minor)]
    pub amount_minor: i64,
    /// ISO 4217, e.g. `GBP`.
    #[schema(schema_with = crate::http::schema::currency)]
    pub currency: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateItemBody {
    #[schema(schema_with = crate::http::schema::sku)]
    pub sku: String,
    #[schema(schema_with = crate::http::schema::item_name)]
    pub name: String,
    pub unit_price: MoneyBody,
}

fn money(v: &mut Checks, m: &MoneyBody) -> Option<Money> {
    match Money::parse(m.amount_minor, &m.currency) {
        Ok(money) => Some(money),
        Err((field, message)) => v.field(&format!("unit_price.{field}"), Err(message)),
    }
}

/// Create a catalogue item with its price
#[utoipa::path(post, path = "/api/v1/items", tag = "items",
    request_body = CreateItemBody,
    responses((status = 201, body = Created), (status = 409, description = "sku_taken", body = Problem), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn create_item(
    State(app): State<Edge>,
    Writer(meta): Writer,
    JsonBody(body): JsonBody<CreateItemBody>,
) -> AppResult<(StatusCode, Json<Created>)> {
    let mut v = Checks::default();
    let sku = v.field("sku", Sku::parse(&body.sku));
    let name = v.field("name", ItemName::parse(&body.name));
    let price = money(&mut v, &body.unit_price);
    v.finish()?;
    let done = service::create(&app, &meta, checked(sku), checked(name), checked(price)).await?;
    Ok((StatusCode::CREATED, Json(Created::from(done))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceBody {
    pub unit_price: MoneyBody,
}

/// Change an item's price
#[utoipa::path(put, path = "/api/v1/items/{id}/price", tag = "items",
    params(("id" = Uuid, Path)), request_body = PriceBody,
    responses((status = 200, body = PositionOnly), (status = 404, body = Problem), (status = 422, body = Problem), (status = 409, description = "currency_mismatch", body = Problem)),
    security(("staff_token" = [])))]
pub async fn change_price(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(id): PathId,
    JsonBody(body): JsonBody<PriceBody>,
) -> AppResult<Json<PositionOnly>> {
    let mut v = Checks::default();
    let price = money(&mut v, &body.unit_price);
    v.finish()?;
    Ok(Json(
        service::change_price(&app, &meta, id, checked(price))
            .await?
            .into(),
    ))
}

/// Upload an item's PNG image
#[utoipa::path(put, path = "/api/v1/items/{id}/image", tag = "items",
    params(("id" = Uuid, Path)),
    request_body(content = crate::http::schema::PngBody, content_type = "image/png", description = "a PNG of at most 2 MiB"),
    responses((status = 200, body = PositionOnly), (status = 413, body = Problem), (status = 422, description = "not a PNG", body = Problem), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn set_image(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(id): PathId,
    body: RawBody,
) -> AppResult<Json<PositionOnly>> {
    if body.content_type.as_deref() != Some("image/png") {
        return Err(AppError::invalid("content-type", "must be image/png"));
    }
    png::check(&body.bytes).map_err(|m| AppError::invalid("body", m))?;
    Ok(Json(
        service::set_image(&app, &meta, id, body.bytes.to_vec())
            .await?
            .into(),
    ))
}

/// Download an item's PNG image
#[utoipa::path(get, path = "/api/v1/items/{id}/image", tag = "items",
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "image/png", body = crate::http::schema::PngBody), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn get_image(Reader(staff): Reader, PathId(id): PathId) -> AppResult<Response> {
    let png = crate::reads::items::image(&staff.scope, ItemId::from_uuid(id))
        .await?
        .ok_or(AppError::NotFound("item image"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=60"),
        ],
        png,
    )
        .into_response())
}
