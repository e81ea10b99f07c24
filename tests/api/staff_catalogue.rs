//! Staff commands on the catalogue and contracts: items, prices, images, assignment to a
//! client's portal; contracts issued and voided.

use crate::common;

use aggregates::ids::ContractId;
use common::*;
use portal_accounts::http::routes::contracts::ContractIssued;
use portal_accounts::reads::catalogue::CatalogueItem;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn items_prices_images_and_assignment() {
    let (s, t) = Server::with_firm().await;
    let staff = s.staff(&t.staff);
    let client = staff.register_client("Acme", "organisation", None).await;
    let item = staff.create_item("TAX-RET", "Tax return", 25000).await;
    let duplicate = json!({"sku": "tax-ret", "name": "Dup",
                           "unit_price": {"amount_minor": 1, "currency": "GBP"}});
    staff
        .assert_refused(
            Method::POST,
            "/api/v1/items",
            Some(duplicate),
            (409, "sku_taken"),
        )
        .await;
    staff.change_price(item, 27500).await;

    let png = portal_accounts::http::png::tiny_png();
    staff.set_image(item, png.clone()).await;
    assert_eq!(s.staff(&t.reporting).item_image(item).await, png);
    let put_image = |body: Vec<u8>| {
        s.request(
            Method::PUT,
            &format!("/api/v1/items/{item}/image"),
            &t.staff,
        )
        .header("content-type", "image/png")
        .body(body)
    };
    let (status, problem) = send(put_image(b"GIF89a not a png".to_vec())).await;
    assert_eq!(
        (status, &problem["code"]),
        (422, &json!("validation_failed"))
    );
    let (status, _) = send(put_image(vec![0; 2 * 1024 * 1024 + 1])).await;
    assert_eq!(status, 413);

    staff.assign_item(client, item).await;
    let assign = format!("/api/v1/clients/{client}/items");
    staff
        .assert_refused(
            Method::POST,
            &assign,
            Some(json!({"item_id": item})),
            (409, "item_already_assigned"),
        )
        .await;
    staff.unassign_item(client, item).await;
    let unassign = format!("{assign}/{item}");
    staff
        .assert_refused(Method::DELETE, &unassign, None, (404, "item_not_assigned"))
        .await;

    let events = events_of_tenant(s.pool(), t.id).await;
    let types: Vec<&str> = events
        .iter()
        .filter(|e| !matches!(e.aggregate_type.as_str(), "tenant" | "staff_member"))
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "ClientRegistered",
            "ItemCreated",
            "ItemPriceChanged",
            "ItemImageSet",
            "ItemAssigned",
            "ItemUnassigned"
        ]
    );
    let changed = events
        .iter()
        .find(|e| e.event_type == "ItemPriceChanged")
        .unwrap();
    assert_eq!(
        changed.payload["ItemPriceChanged"]["previous"]["amount_minor"],
        25000
    );
    let image_set = events
        .iter()
        .find(|e| e.event_type == "ItemImageSet")
        .unwrap();
    assert_eq!(image_set.payload["ItemImageSet"]["size_bytes"], png.len());
}

#[tokio::test]
async fn contracts_are_issued_and_voided() {
    let (s, t) = Server::with_firm().await;
    let staff = s.staff(&t.staff);
    let client = staff.register_client("Jo", "individual", None).await;
    let path = format!("/api/v1/clients/{client}/contracts");
    let body = json!({"title": "Letter of engagement",
                      "body": "We will do your books.\nFees: £100."});
    let issued: ContractIssued = staff.typed(Method::POST, &path, Some(body)).await;
    let expected = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(
            "Letter of engagement\nWe will do your books.\nFees: £100.".as_bytes(),
        ))
    };
    assert_eq!(issued.content_sha256, expected);
    let contract = ContractId::from_uuid(issued.id);
    staff.void_contract(contract, "superseded").await;
    let void = format!("/api/v1/contracts/{contract}/void");
    staff
        .assert_refused(
            Method::POST,
            &void,
            Some(json!({})),
            (409, "contract_voided"),
        )
        .await;
}

#[tokio::test]
async fn the_catalogue_lists_searches_describes_and_archives_items() {
    let (s, t) = Server::reading_with_firm().await;
    let other = s.tenant().await;
    let staff = s.staff(&t.staff);
    let client = staff
        .register_client("Catalogue Client", "organisation", None)
        .await;
    let payroll = staff.create_item("PAY-1", "Payroll", 9000).await;
    let bookkeeping = staff.create_item("BOOK-1", "Bookkeeping", 12000).await;
    let done = staff.assign_item(client, payroll).await;
    let wait = format!("min_position={}", done.position);

    // The picker: by name, searchable, with prices and how many clients have each.
    let page = staff.list_items(&wait).await;
    let names: Vec<&str> = page.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["Bookkeeping", "Payroll"]);
    assert_eq!(page.items[1].assigned_clients, 1);
    let price = &page.items[1].unit_price;
    assert_eq!((price.amount_minor, price.currency.as_str()), (9000, "GBP"));
    let found = staff.list_items("q=book&limit=1").await;
    assert_eq!(
        (found.items[0].sku.as_str(), found.next_cursor),
        ("BOOK-1", None)
    );
    let first = staff.list_items("limit=1").await;
    let cursor = first.next_cursor.unwrap();
    let second = staff.list_items(&format!("limit=1&cursor={cursor}")).await;
    assert_eq!(second.items[0].name, "Payroll");

    // Renamed and described; the description can be removed again.
    let body = json!({"name": "Monthly bookkeeping", "description": "Every month, reconciled."});
    let changed = staff.change_item(bookkeeping, body).await;
    let path = format!("/api/v1/items/{bookkeeping}");
    let item: CatalogueItem = staff
        .typed(
            Method::GET,
            &format!("{path}?min_position={}", changed.position),
            None,
        )
        .await;
    assert_eq!(
        (item.name.as_str(), item.description.as_deref()),
        ("Monthly bookkeeping", Some("Every month, reconciled."))
    );

    // Archived: out of the picker, shown with archived=true, not put on new portals.
    let archived = staff.archive_item(bookkeeping).await;
    let page = staff
        .list_items(&format!("min_position={}", archived.position))
        .await;
    assert_eq!(page.items.len(), 1);
    let page = staff.list_items("archived=true").await;
    assert_eq!(page.items[0].id, bookkeeping.uuid());
    let assign = format!("/api/v1/clients/{client}/items");
    let body = json!({"item_id": bookkeeping});
    staff
        .assert_refused(Method::POST, &assign, Some(body), (409, "item_archived"))
        .await;
    staff.unarchive_item(bookkeeping).await;
    staff.assign_item(client, bookkeeping).await;

    // Prices: ISO 4217 codes only, and in the item's own currency.
    let price = format!("/api/v1/items/{payroll}/price");
    let euros = json!({"unit_price": {"amount_minor": 9500, "currency": "EUR"}});
    staff
        .assert_refused(Method::PUT, &price, Some(euros), (409, "currency_mismatch"))
        .await;
    let (status, problem) = staff
        .call(
            Method::POST,
            "/api/v1/items",
            Some(json!({"sku": "X-1", "name": "X", "unit_price": {"amount_minor": 1, "currency": "XYZ"}})),
        )
        .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (422, Some("unit_price.currency"))
    );
    // Another firm's item is no item at all.
    let status = s
        .staff(&other.staff)
        .status_of(Method::GET, &path, None)
        .await;
    assert_eq!(status, 404);
}
