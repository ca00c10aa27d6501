//! Senders resend a delivery whose answer they did not get, with the id
//! they gave it the first time (Standard Webhooks' `webhook-id`, GitHub's
//! `X-GitHub-Delivery`, Shopify's `X-Shopify-Webhook-Id`, the `id` of a
//! Stripe event, the `event_id` of a Slack Events API callback). A generic hook's successful answer is remembered per
//! plugin and id, and a resend gets it again without the plugin running a
//! second time, as the Standard Webhooks spec recommends. A failure is not
//! remembered: the resend is the sender's retry, and runs.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::journal::SeenAnswer;
use crate::verify::Scheme;

/// How long an id is remembered: past every scheme's replay window (5 min
/// for Standard Webhooks and Stripe), and a day where a scheme has none
/// (GitHub, Shopify), which covers their redeliveries.
pub const REMEMBER_MS: i64 = 24 * 3600 * 1000;

/// Longer ids are not ids a sender makes; they are not remembered.
const MAX_ID_BYTES: usize = 256;

/// The sender's id for this delivery, under the scheme that verified it.
pub fn delivery_key(scheme: Scheme, headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let id = match scheme {
        Scheme::Github | Scheme::GithubSha1 => header_text(headers, "x-github-delivery"),
        Scheme::StandardWebhooks => header_text(headers, "webhook-id"),
        Scheme::Shopify => header_text(headers, "x-shopify-webhook-id"),
        Scheme::Stripe => {
            #[derive(Deserialize)]
            struct Event {
                id: String,
            }
            serde_json::from_slice::<Event>(body).ok().map(|e| e.id)
        }
        // Events API callbacks; slash commands and interactions (forms)
        // carry no id.
        Scheme::Slack => {
            #[derive(Deserialize)]
            struct Callback {
                event_id: String,
            }
            serde_json::from_slice::<Callback>(body)
                .ok()
                .map(|c| c.event_id)
        }
        // Token, basic and none carry no id; Pyrus has its answer memo.
        _ => None,
    }?;
    (!id.is_empty() && id.len() <= MAX_ID_BYTES).then_some(id)
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)?
        .to_str()
        .ok()
        .map(|v| v.trim().to_owned())
}

/// A remembered answer as a response.
pub fn response(answer: SeenAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    if let Some(value) = answer
        .content_type
        .and_then(|t| HeaderValue::from_str(&t).ok())
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    response
}

/// The response's status, type and body, to remember; and the response,
/// rebuilt from the same bytes.
pub async fn capture(response: Response) -> (Option<SeenAnswer>, Response) {
    let (parts, body) = response.into_parts();
    // The plugin's body is already in memory, bounded by its own limits.
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            let answer = SeenAnswer {
                status: parts.status.as_u16(),
                content_type: parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body: bytes.to_vec(),
            };
            (Some(answer), Response::from_parts(parts, Body::from(bytes)))
        }
        Err(_) => (None, Response::from_parts(parts, Body::empty())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scheme_s_id_is_found_where_its_sender_puts_it() {
        let mut headers = HeaderMap::new();
        headers.insert("x-github-delivery", HeaderValue::from_static("72d3162e"));
        headers.insert("webhook-id", HeaderValue::from_static("msg_2Kx"));
        headers.insert("x-shopify-webhook-id", HeaderValue::from_static("b54557e4"));
        let key = |scheme, body: &[u8]| delivery_key(scheme, &headers, body);
        assert_eq!(key(Scheme::Github, b"").as_deref(), Some("72d3162e"));
        assert_eq!(
            key(Scheme::StandardWebhooks, b"").as_deref(),
            Some("msg_2Kx")
        );
        assert_eq!(key(Scheme::Shopify, b"").as_deref(), Some("b54557e4"));
        let event = br#"{"id": "evt_1N", "type": "charge.succeeded"}"#;
        assert_eq!(key(Scheme::Stripe, event).as_deref(), Some("evt_1N"));
        assert_eq!(key(Scheme::Stripe, b"not json"), None);
        let callback = br#"{"type": "event_callback", "event_id": "Ev08MFMKH6"}"#;
        assert_eq!(key(Scheme::Slack, callback).as_deref(), Some("Ev08MFMKH6"));
        assert_eq!(key(Scheme::Slack, b"command=%2Fweather"), None);
        assert_eq!(key(Scheme::Token, b""), None);
        assert_eq!(delivery_key(Scheme::Github, &HeaderMap::new(), b""), None);
        let long = format!(r#"{{"id": "{}"}}"#, "x".repeat(300));
        assert_eq!(key(Scheme::Stripe, long.as_bytes()), None);
    }
}
