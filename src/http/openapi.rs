//! The OpenAPI document's fixed parts (info, security schemes), the error responses every
//! route documents, and the headers every route of a kind takes and answers with. `/docs` serves it in Swagger UI, whose assets are inside the binary.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Spec;
use utoipa::OpenApi;

use utoipa::openapi::content::Content;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{Ref, RefOr};

use crate::http::error::{FieldError, Problem, PROBLEM_JSON};

#[derive(OpenApi)]
#[openapi(
    info(title = "Portal Accounts", version = "1", description = "Event-sourced client-portal accounts: staff commands, read models, audit."),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "clients"), (name = "invitations"), (name = "portal users"),
        (name = "items"), (name = "contracts"), (name = "settings"), (name = "audit"),
        (name = "staff"), (name = "webhooks"), (name = "portal")
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

/// Every error a route can answer, in the form it is sent: `application/problem+json`
/// with the `Problem` schema. Statuses a route documents already keep their description;
/// the ones every route of its kind can give are added — 400 (malformed or NUL), 503 (no
/// database) everywhere; 401 and 403 on staff routes; 404 where a path names something
/// (portal routes name a firm); 413 and 422 where a body or parameters are read; 429 on
/// portal routes (lockouts and address limits).
pub fn document_errors(spec: &mut Spec) {
    for (path, item) in spec.paths.paths.iter_mut() {
        let portal = path.starts_with("/portal/");
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let staff = operation.security.as_ref().is_some_and(|requirements| {
                serde_json::to_string(requirements).is_ok_and(|s| s.contains("staff_token"))
            });
            // Every portal session route refuses a missing, ended or expired session, and
            // any session while the firm has switched its portal off.
            let session = operation.security.as_ref().is_some_and(|requirements| {
                serde_json::to_string(requirements).is_ok_and(|s| s.contains("portal_session"))
            });
            let named = path.contains('{');
            let reads_input = operation.request_body.is_some()
                || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let mut statuses = vec![
                (
                    "400",
                    "malformed_request: not JSON, wrong shape, or a NUL character",
                ),
                (
                    "503",
                    "database_unavailable (with Retry-After); event_log_integrity: a stored event of the streams involved cannot be read (nothing written)",
                ),
                ("414", "uri_too_long"),
                ("431", "headers_too_large"),
            ];
            if staff {
                statuses.push(("401", "unauthorized: no, bad, expired or revoked token"));
                statuses.push((
                    "403",
                    "forbidden_role; acting_staff_mismatch: a personal token named another person",
                ));
                statuses.push((
                    "404",
                    "not_found: no such resource for this firm, or X-Acting-Staff names no active staff member",
                ));
            }
            if session {
                statuses.push(("401", "unauthorized: no, ended or expired session"));
                statuses.push((
                    "403",
                    "portal_inactive: the firm has switched its portal off",
                ));
            }
            if named || portal {
                statuses.push((
                    "404",
                    "not_found: no such resource (or firm) for this caller",
                ));
            }
            if reads_input {
                statuses.push(("422", "validation_failed: every invalid field listed"));
            }
            if operation.request_body.is_some() {
                statuses.push(("413", "payload_too_large"));
            }
            let waits = operation
                .parameters
                .iter()
                .flatten()
                .any(|p| p.name == "min_position");
            if waits {
                statuses.push((
                    "504",
                    "projection_lag: the read models did not reach min_position within 5 s",
                ));
                statuses.push((
                    "409",
                    "position_not_reached: min_position is beyond the last committed event",
                ));
            }
            if portal {
                statuses.push(("429", "locked_out or rate_limited (with Retry-After)"));
            }
            let responses = &mut operation.responses.responses;
            for (status, description) in statuses {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| problem_response(description));
            }
            for (status, response) in responses.iter_mut() {
                if status.starts_with('4') || status.starts_with('5') {
                    if let RefOr::T(response) = response {
                        set_problem_content(response);
                    }
                }
            }
        }
    }
}

fn set_problem_content(response: &mut Response) {
    let schema = RefOr::Ref(Ref::from_schema_name("Problem"));
    response.content.clear();
    response
        .content
        .insert(PROBLEM_JSON.to_string(), Content::new(Some(schema)));
}

fn problem_response(description: &str) -> RefOr<Response> {
    let mut response = ResponseBuilder::new().description(description).build();
    set_problem_content(&mut response);
    RefOr::T(response)
}

/// The headers the middleware reads and writes, on every operation they apply to:
/// `X-Acting-Staff` (staff routes: the person a service token's request names) and
/// `Idempotency-Key` (staff POSTs) in requests; `x-request-id` on every answer,
/// `Retry-After` on 429 and 503, `idempotent-replayed` on a staff POST's success.
pub fn document_headers(spec: &mut Spec) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::Required;

    let text = |pattern: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .build()
    };
    let header = |description: &str, schema: utoipa::openapi::schema::Object| {
        HeaderBuilder::new()
            .schema(schema)
            .description(Some(description))
            .build()
    };
    for item in spec.paths.paths.values_mut() {
        let operations = [
            (false, &mut item.get),
            (true, &mut item.post),
            (false, &mut item.put),
            (false, &mut item.patch),
            (false, &mut item.delete),
        ];
        for (post, operation) in operations {
            let Some(operation) = operation else { continue };
            let staff = operation.security.as_ref().is_some_and(|requirements| {
                serde_json::to_string(requirements).is_ok_and(|s| s.contains("staff_token"))
            });
            let parameters = operation.parameters.get_or_insert_with(Vec::new);
            if staff {
                parameters.push(
                    ParameterBuilder::new()
                        .name("X-Acting-Staff")
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(
                            "The id of the staff member the request acts for (events name them): \
                             required on a service token's commands (400 acting_staff_required); \
                             a personal token may name only its own person (403 acting_staff_mismatch); \
                             an unknown member is 404.",
                        ))
                        .schema(Some(text(crate::http::schema::UUID_PATTERN)))
                        .build(),
                );
            }
            let idempotent = staff && post;
            if idempotent {
                parameters.push(
                    ParameterBuilder::new()
                        .name("Idempotency-Key")
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(
                            "1–255 printable characters: a repeat with the same key and request \
                             gets the first answer again (and runs nothing); with another request, 422.",
                        ))
                        .schema(Some(text("^[\\x21-\\x7e]{1,255}$")))
                        .build(),
                );
            }
            for (status, response) in operation.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                response.headers.insert(
                    "x-request-id".into(),
                    header(
                        "This request's id, also in the server's log lines for it",
                        text(".*"),
                    ),
                );
                if status == "429" || status == "503" {
                    let seconds = ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0))
                        .build();
                    response.headers.insert(
                        "Retry-After".into(),
                        header("Seconds to wait before trying again", seconds),
                    );
                }
                if idempotent && status.starts_with('2') {
                    response.headers.insert(
                        "idempotent-replayed".into(),
                        header(
                            "`true` when this is the kept answer to an earlier request with the same Idempotency-Key, `false` for the first",
                            text("^(true|false)$"),
                        ),
                    );
                }
            }
        }
    }
}

/// The named lists (`Role`, `ClientStatus`, …) as components, and the response fields
/// that take them pointed at them (request fields and parameters already are).
pub fn document_enums(spec: &mut Spec) {
    let components = spec.components.get_or_insert_with(Default::default);
    for (name, schema) in crate::http::named_enums::components() {
        components.schemas.insert(name.to_string(), schema);
    }
    let missing = crate::http::named_enums::refer_response_fields(&mut components.schemas);
    if !missing.is_empty() {
        tracing::error!(
            ?missing,
            "response fields named in named_enums::RESPONSE_FIELDS are not in the document"
        );
    }
}
