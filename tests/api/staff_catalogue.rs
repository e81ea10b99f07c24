//! Staff commands on the catalogue and contracts: items, prices, images, assignment to a
//! client's portal; contracts issued and voided.

use crate::common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn items_prices_images_and_assignment() {
    let s = Server::start().await;
    let t = s.tenant().await;
    let (_, client) = s
        .post(
            "/api/v1/clients",
            &t.staff,
            json!({"display_name": "Acme", "kind": "organisation"}),
        )
        .await;
    let client = id_of(&client, "id");
    let (status, item) = s
        .post("/api/v1/items", &t.staff, json!({"sku": "TAX-RET", "name": "Tax return", "unit_price": {"amount_minor": 25000, "currency": "GBP"}}))
        .await;
    assert_eq!(status, 201, "{item}");
    let item = id_of(&item, "id");
    let (status, problem) = s
        .post("/api/v1/items", &t.staff, json!({"sku": "tax-ret", "name": "Dup", "unit_price": {"amount_minor": 1, "currency": "GBP"}}))
        .await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("sku_taken")));

    let (status, _) = s
        .call(
            Method::PUT,
            &format!("/api/v1/items/{item}/price"),
            &t.staff,
            Some(json!({"unit_price": {"amount_minor": 27500, "currency": "GBP"}})),
        )
        .await;
    assert_eq!(status, 200);

    let png = portal_accounts::http::png::tiny_png();
    let put_image = |body: Vec<u8>, content_type: &'static str| {
        s.request(
            Method::PUT,
            &format!("/api/v1/items/{item}/image"),
            &t.staff,
        )
        .header("content-type", content_type)
        .body(body)
    };
    let (status, _) = send(put_image(png.clone(), "image/png")).await;
    assert_eq!(status, 200);
    let image = s
        .request(
            Method::GET,
            &format!("/api/v1/items/{item}/image"),
            &t.reporting,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(image.headers()["content-type"], "image/png");
    assert_eq!(image.bytes().await.unwrap().to_vec(), png);
    let (status, problem) = send(put_image(b"GIF89a not a png".to_vec(), "image/png")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let (status, _) = send(put_image(vec![0; 2 * 1024 * 1024 + 1], "image/png")).await;
    assert_eq!(status, 413);

    let (status, _) = s
        .post(
            &format!("/api/v1/clients/{client}/items"),
            &t.staff,
            json!({"item_id": item}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, problem) = s
        .post(
            &format!("/api/v1/clients/{client}/items"),
            &t.staff,
            json!({"item_id": item}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("item_already_assigned"))
    );
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/clients/{client}/items/{item}"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, problem) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/clients/{client}/items/{item}"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("item_not_assigned"))
    );

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
    let s = Server::start().await;
    let t = s.tenant().await;
    let (_, client) = s
        .post(
            "/api/v1/clients",
            &t.staff,
            json!({"display_name": "Jo", "kind": "individual"}),
        )
        .await;
    let client = id_of(&client, "id");
    let (status, contract) = s
        .post(
            &format!("/api/v1/clients/{client}/contracts"),
            &t.staff,
            json!({"title": "Letter of engagement", "body": "We will do your books.\nFees: £100."}),
        )
        .await;
    assert_eq!(status, 201, "{contract}");
    let expected = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(
            "Letter of engagement\nWe will do your books.\nFees: £100.".as_bytes(),
        ))
    };
    assert_eq!(contract["content_sha256"], expected);
    let id = id_of(&contract, "id");
    let (status, _) = s
        .post(
            &format!("/api/v1/contracts/{id}/void"),
            &t.staff,
            json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, problem) = s
        .post(&format!("/api/v1/contracts/{id}/void"), &t.staff, json!({}))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("contract_voided"))
    );
}

#[tokio::test]
async fn the_catalogue_lists_searches_describes_and_archives_items() {
    let s = Server::start_reading().await;
    let t = s.tenant().await;
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
    let page = staff.get(&format!("/api/v1/items?{wait}")).await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Bookkeeping", "Payroll"]);
    assert_eq!(page["items"][1]["assigned_clients"], 1);
    assert_eq!(
        page["items"][1]["unit_price"],
        json!({"amount_minor": 9000, "currency": "GBP"})
    );
    let found = staff.get("/api/v1/items?q=book&limit=1").await;
    assert_eq!(found["items"][0]["sku"], "BOOK-1");
    assert_eq!(found["next_cursor"], Value::Null);
    let first = staff.get("/api/v1/items?limit=1").await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let second = staff
        .get(&format!("/api/v1/items?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second["items"][0]["name"], "Payroll");

    // Renamed and described; the description can be removed again.
    let path = format!("/api/v1/items/{bookkeeping}");
    let changed = staff
        .ok(
            Method::PATCH,
            &path,
            Some(json!({"name": "Monthly bookkeeping", "description": "Every month, reconciled."})),
        )
        .await;
    let item = staff
        .get(&format!("{path}?min_position={}", changed["position"]))
        .await;
    assert_eq!(
        (&item["name"], &item["description"]),
        (
            &json!("Monthly bookkeeping"),
            &json!("Every month, reconciled.")
        )
    );

    // Archived: out of the picker, shown with archived=true, not put on new portals.
    let archived = staff
        .ok(Method::POST, &format!("{path}/archive"), None)
        .await;
    let page = staff
        .get(&format!(
            "/api/v1/items?min_position={}",
            archived["position"]
        ))
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let page = staff.get("/api/v1/items?archived=true").await;
    assert_eq!(page["items"][0]["id"], json!(bookkeeping));
    let assign = format!("/api/v1/clients/{client}/items");
    let body = json!({"item_id": bookkeeping});
    assert_eq!(
        staff
            .refused(Method::POST, &assign, Some(body.clone()))
            .await,
        (409, "item_archived".into())
    );
    staff
        .ok(Method::POST, &format!("{path}/unarchive"), None)
        .await;
    staff.ok(Method::POST, &assign, Some(body)).await;

    // Prices: ISO 4217 codes only, and in the item's own currency.
    let price = format!("/api/v1/items/{payroll}/price");
    assert_eq!(
        staff
            .refused(
                Method::PUT,
                &price,
                Some(json!({"unit_price": {"amount_minor": 9500, "currency": "EUR"}}))
            )
            .await,
        (409, "currency_mismatch".into())
    );
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
    let (status, _) = s.call(Method::GET, &path, &other.staff, None).await;
    assert_eq!(status, 404);
}
