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
