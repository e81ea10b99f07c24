//! Staff commands on the catalogue and contracts: items, prices, images, assignment to a
//! client's portal; contracts issued and voided.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

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
