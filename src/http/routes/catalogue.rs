//! The item catalogue for staff: list and search it ("Add Sold Item to Portal" picks from
//! here), read one item, rename or describe it, archive and unarchive it.

use aggregates::ids::ItemId;
use aggregates::values::{ItemDescription, ItemName};
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{MinPosition, Page, PositionOnly};
use crate::http::auth::{Reader, Writer};
use crate::http::error::{AppError, AppResult, Problem};
use crate::http::extract::{checked, double_option, Checks, JsonBody, PathId};
use crate::http::Edge;
use crate::reads::catalogue::{self, CatalogueItem, CatalogueQuery};
use crate::services::items as service;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CatalogueParams {
    /// Part of the SKU or name (case-insensitive), at most 200 characters.
    #[param(schema_with = crate::http::schema::short_text)]
    pub q: Option<String>,
    /// `true`: the archived items; absent or `false`: the items that can be assigned.
    #[param(schema_with = crate::http::schema::boolean_text)]
    pub archived: Option<String>,
}

super::list_page!(CataloguePage of CatalogueItem);

/// List and search the item catalogue
#[utoipa::path(get, path = "/api/v1/items", tag = "items", params(CatalogueParams, Page, MinPosition),
    responses((status = 200, body = CataloguePage), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn list_items(
    State(app): State<Edge>,
    Reader(staff): Reader,
    Query(p): Query<CatalogueParams>,
    Query(page): Query<Page>,
    Query(wait): Query<MinPosition>,
) -> AppResult<Json<CataloguePage>> {
    let mut v = Checks::default();
    let page = page.check(&wait, &mut v);
    let archived = v
        .optional("archived", p.archived.as_deref(), super::true_or_false)
        .map(|a| a.unwrap_or(false));
    let search = v.optional("q", p.q.as_deref(), super::search_text);
    v.finish()?;
    super::wait_until(&app, checked(page.min_position)).await?;
    let query = CatalogueQuery {
        search: checked(search).flatten(),
        archived: checked(archived),
        limit: checked(page.limit),
        after: checked(page.after),
    };
    let (items, next_cursor) = catalogue::list(&staff.scope, &query).await?;
    Ok(Json(CataloguePage { items, next_cursor }))
}

/// Get a catalogue item
#[utoipa::path(get, path = "/api/v1/items/{id}", tag = "items", params(("id" = Uuid, Path), MinPosition),
    responses((status = 200, body = CatalogueItem), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn get_item(
    State(app): State<Edge>,
    Reader(staff): Reader,
    PathId(id): PathId,
    Query(wait): Query<MinPosition>,
) -> AppResult<Json<CatalogueItem>> {
    wait.wait(&app).await?;
    let item = catalogue::get(&staff.scope, ItemId::from_uuid(id))
        .await?
        .ok_or(AppError::NotFound("item"))?;
    Ok(Json(item))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeItemBody {
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::item_name_or_null)]
    pub name: Option<String>,
    /// A new description, or `null` to remove it; absent leaves it as it is.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = crate::http::schema::item_description_or_null)]
    pub description: Option<Option<String>>,
}

/// Rename an item or change its description
#[utoipa::path(patch, path = "/api/v1/items/{id}", tag = "items", params(("id" = Uuid, Path)),
    request_body = ChangeItemBody,
    responses((status = 200, body = PositionOnly), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn change_item(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(id): PathId,
    JsonBody(body): JsonBody<ChangeItemBody>,
) -> AppResult<Json<PositionOnly>> {
    let mut v = Checks::default();
    let name = v.optional("name", body.name.as_deref(), ItemName::parse);
    let description = match &body.description {
        None => Some(None),
        Some(None) => Some(Some(None)),
        Some(Some(text)) => v
            .field("description", ItemDescription::parse(text))
            .map(|d| Some(Some(d))),
    };
    v.finish()?;
    let done = service::describe(&app, &meta, id, checked(name), checked(description)).await?;
    Ok(Json(done.into()))
}

/// Archive an item (no new assignments)
#[utoipa::path(post, path = "/api/v1/items/{id}/archive", tag = "items", params(("id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn archive_item(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(id): PathId,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(service::archive(&app, &meta, id).await?.into()))
}

/// Bring an archived item back
#[utoipa::path(post, path = "/api/v1/items/{id}/unarchive", tag = "items", params(("id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn unarchive_item(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(id): PathId,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(service::unarchive(&app, &meta, id).await?.into()))
}
