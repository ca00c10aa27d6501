//! Signatures computed the way each sender computes them, written from the
//! senders' documentation and independent of hookhost's own `verify` code.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac key");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn github(secret: &str, body: &[u8]) -> (&'static str, String) {
    (
        "x-hub-signature-256",
        format!(
            "sha256={}",
            hex::encode(hmac256(secret.as_bytes(), &[body]))
        ),
    )
}

/// GitHub's legacy `X-Hub-Signature: sha1=<hex>`.
pub fn github_sha1(secret: &str, body: &[u8]) -> (&'static str, String) {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(body);
    (
        "x-hub-signature",
        format!("sha1={}", hex::encode(mac.finalize().into_bytes())),
    )
}

/// Standard Webhooks: `v1,<base64 HMAC-SHA256(base64-decoded secret,
/// "id.timestamp.body")>`; the secret is `whsec_` + base64.
pub fn standard_webhooks(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("base64 secret");
    let mac = hmac256(
        &key,
        &[
            id.as_bytes(),
            b".",
            timestamp.to_string().as_bytes(),
            b".",
            body,
        ],
    );
    format!("v1,{}", STANDARD.encode(mac))
}

/// Stripe: `Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256(secret, "ts.body")>`.
pub fn stripe(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mac = hmac256(
        secret.as_bytes(),
        &[timestamp.to_string().as_bytes(), b".", body],
    );
    format!("t={timestamp},v1={}", hex::encode(mac))
}

/// Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:ts:body")>`.
pub fn slack(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mac = hmac256(
        secret.as_bytes(),
        &[b"v0:", timestamp.to_string().as_bytes(), b":", body],
    );
    format!("v0={}", hex::encode(mac))
}

/// Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(secret, body)>`.
pub fn shopify(secret: &str, body: &[u8]) -> String {
    STANDARD.encode(hmac256(secret.as_bytes(), &[body]))
}

/// `Authorization: Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}
