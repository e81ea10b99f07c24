//! The typed clients (`common/staff.rs`, `common/portal.rs`) cover every route the API
//! publishes: each operation's path template appears in one of them, so a route added to
//! `/openapi.json` without a client method fails here.

use crate::common;

use common::*;

const CLIENTS: [&str; 2] = [
    include_str!("../common/staff.rs"),
    include_str!("../common/portal.rs"),
];

#[tokio::test]
async fn the_typed_clients_cover_every_published_route() {
    let s = Server::start().await;
    let spec = s.get_json("/openapi.json").await;
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() > 50, "{} paths", paths.len());
    let missing: Vec<&String> = paths
        .keys()
        .filter(|path| {
            !CLIENTS
                .iter()
                .any(|src| src.contains(&format!("\"{path}\"")))
        })
        .collect();
    assert!(missing.is_empty(), "no client method for {missing:?}");
}

#[tokio::test]
async fn every_operation_has_an_id_of_its_own() {
    let s = Server::start().await;
    let spec = s.get_json("/openapi.json").await;
    let mut ids: Vec<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|operations| operations.as_object().unwrap().values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let all = ids.len();
    assert!(all > 50, "{all} operation ids");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all, "operation ids used twice");
}
