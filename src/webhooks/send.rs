//! One POST of one message with the Standard Webhooks headers, and what the receiver
//! answered: no redirect followed, a bounded part of the answer read.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{catalogue, schedule, signature};
use crate::infra::outbound::{OutboundPolicy, ANSWER_READ};

/// A claimed delivery with what it needs to be sent.
#[derive(sqlx::FromRow)]
pub(super) struct Due {
    pub(super) id: Uuid,
    pub(super) tenant_id: Uuid,
    pub(super) webhook_id: Uuid,
    pub(super) message_id: String,
    pub(super) event_type: String,
    pub(super) occurred_at: DateTime<Utc>,
    pub(super) data: serde_json::Value,
    pub(super) attempts: i32,
    pub(super) url: String,
    pub(super) secret_sealed: Vec<u8>,
    pub(super) previous_secret_sealed: Option<Vec<u8>>,
    pub(super) previous_valid_until: Option<DateTime<Utc>>,
}

/// What a receiver answered, or why there was no answer.
pub(super) enum Answer {
    Status(u16, Option<chrono::Duration>),
    NoAnswer(String),
}

/// Posts `due` signed with every key of `keys` (the current secret, and the previous one
/// within its overlap).
pub(super) async fn post(
    client: &reqwest::Client,
    policy: &OutboundPolicy,
    due: &Due,
    keys: &[Vec<u8>],
    now: DateTime<Utc>,
) -> Answer {
    if let Err(why) = policy.check_form(&due.url) {
        return Answer::NoAnswer(format!("the URL may not be sent to: {why}"));
    }
    let body = catalogue::body(&due.event_type, due.occurred_at, &due.data).to_string();
    let timestamp = now.timestamp();
    let request = client
        .post(&due.url)
        .header("content-type", "application/json")
        .header("webhook-id", &due.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            signature::header(keys, &due.message_id, timestamp, body.as_bytes()),
        )
        .body(body);
    match request.send().await {
        Ok(mut response) => {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| schedule::parse_retry_after(v, now));
            let status = response.status().as_u16();
            // Read a bounded part of the answer so the connection can be kept; the rest is
            // dropped with it.
            let mut read = 0;
            while let Ok(Some(chunk)) = response.chunk().await {
                read += chunk.len();
                if read > ANSWER_READ {
                    break;
                }
            }
            Answer::Status(status, retry_after)
        }
        Err(e) if e.is_timeout() => Answer::NoAnswer("no answer within 15 s".into()),
        Err(e) => Answer::NoAnswer(describe(&e.without_url())),
    }
}

/// A transport error in words, without the URL (it is on the endpoint already).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}
