//! Limits on a request's shape that hold for every route, answered as problem+json: an
//! over-long address (414), too many or too large headers (431), a body announced larger
//! than its route takes (413, from `Content-Length`), and query parameters the route does
//! not document (422, naming them) — the published document is the list.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::OpenApi;

use crate::errors::service::{FieldError, ServiceError};
use crate::http::error::{AppError, Problem};

/// The longest request target (path and query) served.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header bytes (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most header fields a request may carry. The HTTP layer itself allows more (see
/// `listener`), so that going over this is answered here, in problem+json.
pub const MAX_HEADERS: usize = 100;

/// 414 and 431 before anything else looks at the request.
pub async fn refuse_oversized(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let target = uri.path().len() + uri.query().map_or(0, |q| q.len() + 1);
    if target > MAX_URI_BYTES {
        return Problem::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the address is longer than {MAX_URI_BYTES} bytes"),
        )
        .into_response_with(None);
    }
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "a request may carry at most {MAX_HEADERS} headers of {MAX_HEADER_BYTES} bytes in all"
            ),
        )
        .into_response_with(None);
    }
    let limit = body_limit(request.uri().path());
    if announced_length(&request).is_some_and(|length| length > limit as u64) {
        return refuse_announced_body(request, limit).await;
    }
    next.run(request).await
}

/// The most body bytes a route takes: an item image, or any other body.
fn body_limit(path: &str) -> usize {
    let image = path.starts_with("/api/v1/items/") && path.ends_with("/image");
    if image {
        crate::http::extract::IMAGE_LIMIT
    } else {
        crate::http::extract::JSON_LIMIT
    }
}

fn announced_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// What of a refused body is read and thrown away before answering, and for how long: a
/// client still sending when the server stops reading meets a reset instead of its 413.
const DRAIN_BYTES: usize = 8 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(1);

/// 413 for a body announced larger than the route takes, answered without reading it: up
/// to `DRAIN_BYTES` of it (for at most `DRAIN_TIME`) are drained first, so a client that
/// sends the whole body still reads the answer; the connection then closes.
async fn refuse_announced_body(request: Request, limit: usize) -> Response {
    let body = request.into_body();
    let _ = tokio::time::timeout(DRAIN_TIME, axum::body::to_bytes(body, DRAIN_BYTES)).await;
    let mut response = AppError::PayloadTooLarge { limit }.into_response();
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

/// The query parameters each documented operation takes, read from the OpenAPI document.
#[derive(Clone, Default)]
pub struct QueryParameters {
    by_operation: Arc<HashMap<(Method, String), HashSet<String>>>,
}

impl QueryParameters {
    pub fn from_document(spec: &OpenApi) -> Self {
        let mut by_operation = HashMap::new();
        for (path, item) in &spec.paths.paths {
            let operations = [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let names = operation
                    .parameters
                    .iter()
                    .flatten()
                    .filter(|p| matches!(p.parameter_in, ParameterIn::Query))
                    .map(|p| p.name.clone())
                    .collect();
                by_operation.insert((method, path.clone()), names);
            }
        }
        Self {
            by_operation: Arc::new(by_operation),
        }
    }
}

/// Refuses a query parameter the operation does not document, or one given twice (which
/// value would count?), with a 422 that names every such parameter.
pub async fn refuse_unknown_query(
    State(known): State<QueryParameters>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let key = (request.method().clone(), matched.as_str().to_string());
    let (Some(allowed), Some(query)) = (known.by_operation.get(&key), request.uri().query()) else {
        return next.run(request).await;
    };
    let mut seen = HashSet::new();
    let mut errors = Vec::new();
    for (name, _) in form_urlencoded::parse(query.as_bytes()) {
        if !allowed.contains(name.as_ref()) {
            if seen.insert(name.to_string()) {
                errors.push(FieldError::new(
                    name.as_ref(),
                    "is not a parameter of this route",
                ));
            }
        } else if !seen.insert(name.to_string()) {
            errors.push(FieldError::new(name.as_ref(), "is given more than once"));
        }
    }
    if errors.is_empty() {
        next.run(request).await
    } else {
        AppError::from(ServiceError::Validation(errors)).into_response()
    }
}
