//! The OpenAPI document's fixed parts (info, security scheme) and the `/docs` page, which
//! renders the document as HTML on the server so it works with no network access.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Spec, PathItem};
use utoipa::OpenApi;

use crate::http::error::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(title = "Portal Accounts", version = "1", description = "Event-sourced client-portal accounts: staff commands, read models, audit."),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "clients"), (name = "invitations"), (name = "portal users"),
        (name = "items"), (name = "contracts"), (name = "settings"), (name = "audit")
    )
)]
struct ApiDoc;

pub fn base() -> Spec {
    let mut spec = ApiDoc::openapi();
    let components = spec.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "staff_token",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("A staff token from `portal-accounts token create`"))
                .build(),
        ),
    );
    components.add_security_scheme(
        "portal_session",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A portal session token from `POST /portal/v1/{tenant_slug}/login`",
                ))
                .build(),
        ),
    );
    spec
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn operations(item: &PathItem) -> Vec<(&'static str, &utoipa::openapi::path::Operation)> {
    [
        ("GET", &item.get),
        ("POST", &item.post),
        ("PUT", &item.put),
        ("PATCH", &item.patch),
        ("DELETE", &item.delete),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_ref().map(|op| (m, op)))
    .collect()
}

pub fn docs_page(spec: &Spec) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=utf-8><title>Portal Accounts API</title>\
         <style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}\
         code{background:#f3f3f3;padding:.1rem .3rem}h2{margin-top:2rem}.m{font-weight:bold;display:inline-block;width:4.5rem}\
         li{margin:.3rem 0}</style></head><body><h1>Portal Accounts API</h1>\
         <p>The machine-readable contract is <a href=\"/openapi.json\">/openapi.json</a>. \
         Staff routes take <code>Authorization: Bearer &lt;token&gt;</code>; errors are \
         <code>application/problem+json</code>.</p><ul>",
    );
    for (path, item) in &spec.paths.paths {
        for (method, op) in operations(item) {
            let statuses: Vec<&str> = op.responses.responses.keys().map(String::as_str).collect();
            let summary = op
                .description
                .as_deref()
                .or(op.summary.as_deref())
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or_default();
            html.push_str(&format!(
                "<li><span class=m>{method}</span><code>{}</code> — {} <small>({})</small></li>",
                escape(path),
                escape(summary),
                statuses.join(", ")
            ));
        }
    }
    html.push_str("</ul></body></html>");
    html
}
