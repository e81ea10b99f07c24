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

/// Every operation says what it does in a line: generated clients and the explorer show it.
#[tokio::test]
async fn every_operation_has_a_summary() {
    let s = Server::start().await;
    let spec = s.get_json("/openapi.json").await;
    let mut missing = Vec::new();
    let mut summaries = Vec::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            match operation["summary"].as_str() {
                Some(summary) if !summary.trim().is_empty() => summaries.push(summary),
                _ => missing.push(format!("{method} {path}")),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations without a summary: {missing:?}"
    );
    let all = summaries.len();
    summaries.sort_unstable();
    summaries.dedup();
    assert_eq!(summaries.len(), all, "a summary used twice");
}

/// A generated client returns a documented problem instead of raising: every portal route
/// behind a session documents the refusals every one of them can give.
#[tokio::test]
async fn portal_session_routes_document_401_and_portal_inactive() {
    let s = Server::start().await;
    let spec = s.get_json("/openapi.json").await;
    let mut checked = 0;
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let security = operation["security"].to_string();
            if !security.contains("portal_session") {
                continue;
            }
            checked += 1;
            for status in ["401", "403"] {
                let response = &operation["responses"][status];
                assert!(response.is_object(), "{method} {path} lacks {status}");
            }
        }
    }
    assert!(checked >= 8, "{checked} session routes");
}

#[tokio::test]
async fn lists_of_values_are_named_schemas_in_requests_and_responses_alike() {
    let s = Server::start().await;
    let spec = s.get_json("/openapi.json").await;
    let schemas = &spec["components"]["schemas"];
    for &(schema, property, list, nullable) in portal_accounts::http::named_enums::RESPONSE_FIELDS {
        assert!(schemas[list]["enum"].is_array(), "{list} is a named list");
        let field = &schemas[schema]["properties"][property];
        let reference = if nullable {
            &field["oneOf"][0]["$ref"]
        } else {
            &field["$ref"]
        };
        assert_eq!(
            reference,
            &serde_json::json!(format!("#/components/schemas/{list}")),
            "{schema}.{property}: {field}"
        );
    }
    // A request field refers to the same list as the response field.
    assert_eq!(
        schemas["NewStaffMemberBody"]["properties"]["role"]["$ref"],
        "#/components/schemas/Role"
    );
    assert_eq!(
        schemas["RegisterClientBody"]["properties"]["kind"]["$ref"],
        "#/components/schemas/ClientKind"
    );
}
