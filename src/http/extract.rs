//! Request extractors that turn every malformed input into a problem+json answer: JSON
//! bodies, ids in the path, raw bodies with a size limit, and who/where a request came from.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use uuid::Uuid;

use crate::errors::service::ServiceError;
use crate::http::error::{AppError, FieldError};

/// JSON body limit for every route but image upload.
pub const JSON_LIMIT: usize = 64 * 1024;
/// Body limit of the image upload route.
pub const IMAGE_LIMIT: usize = 2 * 1024 * 1024;

/// A JSON body; wrong syntax, wrong shape, wrong media type and oversize all answer as
/// API.md says (400 `malformed_request`, 413 `payload_too_large`).
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let mime = v.split(';').next().unwrap_or_default().trim();
                mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
            });
        if !is_json {
            return Err(json_rejection(JsonRejection::MissingJsonContentType(
                Default::default(),
            )));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(bytes_rejection)?;
        refuse_nul(&bytes)?;
        refuse_non_object(&bytes)?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A JSON body that may be left out entirely or be `null` (then `T::default()`).
pub struct JsonOrEmpty<T>(pub T);

impl<S, T> FromRequest<S> for JsonOrEmpty<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(bytes_rejection)?;
        // No body, or `null`, is "nothing given".
        if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
            return Ok(Self(T::default()));
        }
        refuse_nul(&bytes)?;
        refuse_non_object(&bytes)?;
        serde_json::from_slice(&bytes).map(Self).map_err(|e| {
            AppError::Malformed(format!(
                "the body is not valid JSON of the expected shape: {e}"
            ))
        })
    }
}

/// A JSON string may spell a NUL character as `\u0000`; no field may hold one (PostgreSQL
/// text cannot), so such a body is malformed. An escaped backslash before `u0000` (an even
/// run of backslashes) is ordinary text.
fn refuse_nul(body: &[u8]) -> Result<(), AppError> {
    let escapes_nul = body.windows(5).enumerate().any(|(i, w)| {
        w == b"u0000" && body[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 1
    });
    if escapes_nul {
        return Err(AppError::Malformed(
            "the body contains a NUL character (\\u0000), which no field may hold".into(),
        ));
    }
    Ok(())
}

/// Every body is a JSON object: serde would otherwise read an array into a struct's fields
/// by position.
fn refuse_non_object(body: &[u8]) -> Result<(), AppError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => Ok(()),
        Some(_) => Err(AppError::Malformed("the body must be a JSON object".into())),
    }
}

/// A whole number given as a JSON integer or as a number with no fraction (`5` or `5.0`:
/// JSON Schema calls both integers, and some clients send every number as a float).
pub fn whole_number<'de, D>(deserializer: D) -> Result<i64, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let n = serde_json::Number::deserialize(deserializer)?;
    let whole = n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    });
    whole.ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number in range")))
}

/// `whole_number`, or `null`.
pub fn whole_number_or_null<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole_number")] i64);
    Option::<Whole>::deserialize(deserializer).map(|w| w.map(|Whole(n)| n))
}

/// `whole_number_or_null` for a field where `null` means something (turn it off) and absence
/// another (leave it): with `#[serde(default)]`, absent is `None`, `null` is `Some(None)`.
pub fn present_whole_number_or_null<'de, D>(
    deserializer: D,
) -> Result<Option<Option<i64>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    whole_number_or_null(deserializer).map(Some)
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    match rejection {
        JsonRejection::BytesRejection(b) => bytes_rejection(b),
        JsonRejection::MissingJsonContentType(_) => AppError::Malformed(
            "the body must be JSON, sent with Content-Type: application/json".into(),
        ),
        JsonRejection::JsonSyntaxError(e) => {
            AppError::Malformed(format!("the body is not valid JSON: {}", source_text(&e)))
        }
        JsonRejection::JsonDataError(e) => AppError::Malformed(format!(
            "the body does not have the expected shape: {}",
            source_text(&e)
        )),
        other => AppError::Malformed(other.body_text()),
    }
}

fn source_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

fn bytes_rejection(b: BytesRejection) -> AppError {
    if b.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge { limit: JSON_LIMIT }
    } else {
        AppError::Malformed(b.body_text())
    }
}

/// A raw body under the route's limit (`DefaultBodyLimit`), with its declared content type.
pub struct RawBody {
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| {
                s.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            });
        let bytes = Bytes::from_request(req, state).await.map_err(|b| {
            if b.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge { limit: IMAGE_LIMIT }
            } else {
                AppError::Malformed(b.body_text())
            }
        })?;
        Ok(Self {
            content_type,
            bytes,
        })
    }
}

/// The one UUID in a route's path. Anything that is not a UUID names nothing here: 404.
pub struct PathId(pub Uuid);

/// The two UUIDs in a route's path, in order.
pub struct PathIds(pub Uuid, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let [id] = path_uuids(parts, state).await?;
        Ok(Self(id))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let [a, b] = path_uuids(parts, state).await?;
        Ok(Self(a, b))
    }
}

async fn path_uuids<S: Send + Sync, const N: usize>(
    parts: &mut Parts,
    state: &S,
) -> Result<[Uuid; N], AppError> {
    {
        let Path(raw) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::NotFound("resource"))?;
        let mut ids = [Uuid::nil(); N];
        if raw.len() != N {
            return Err(AppError::NotFound("resource"));
        }
        for (slot, (_, value)) in ids.iter_mut().zip(raw) {
            *slot = canonical_uuid(&value).ok_or(AppError::NotFound("resource"))?;
        }
        Ok(ids)
    }
}

/// A UUID in its one canonical spelling (36 characters, hyphenated); braced, URN and
/// hyphen-less forms name nothing here.
pub fn canonical_uuid(raw: &str) -> Option<Uuid> {
    (raw.len() == 36)
        .then(|| Uuid::try_parse(raw).ok())
        .flatten()
}

/// The client's address when a trusted proxy named it (see `client_address`).
#[derive(Debug, Clone)]
pub struct ForwardedFor(pub String);

/// Where a request came from, for event metadata.
#[derive(Debug, Clone)]
pub struct Origin {
    pub request_id: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Origin {
    pub fn from_parts(parts: &Parts) -> Self {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(512).collect::<String>())
        };
        Self {
            request_id: header("x-request-id").unwrap_or_default(),
            client_ip: match parts.extensions.get::<ForwardedFor>() {
                Some(ForwardedFor(ip)) => Some(ip.clone()),
                None => parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(addr)| addr.ip().to_string()),
            },
            user_agent: header("user-agent"),
        }
    }
}

/// Collects field errors so one 422 reports every invalid field at once.
#[derive(Default)]
pub struct Checks {
    errors: Vec<FieldError>,
}

impl Checks {
    pub fn field<T>(&mut self, name: &str, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|message| self.errors.push(FieldError::new(name, message)))
            .ok()
    }

    pub fn optional<T>(
        &mut self,
        name: &str,
        raw: Option<&str>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match raw {
            None => Some(None),
            Some(raw) => self.field(name, parse(raw)).map(Some),
        }
    }

    pub fn finish(self) -> Result<(), AppError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Validation(self.errors).into())
        }
    }
}

/// After `Checks::finish` succeeded every checked value is present.
pub fn checked<T>(value: Option<T>) -> T {
    value.expect("validated before use")
}

/// `null` and absent are different in a PATCH: absent leaves a field, null clears it.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
