//! The side-by-side bench's native baseline: a plain axum server doing what
//! hookhost and the echo-bot plugin do together for `POST /pyrus/echo-bot`,
//! with no Wasm: check `X-Pyrus-Sig` over the raw body (hookhost's own
//! verifier), parse the event (hookhost's own parser), answer
//! `Hello, {name}! You said "{text}".` as the echo bot does, serialized as
//! hookhost serializes a comment. So the difference between the two is the
//! sandbox and the host around it, not the work.
//!
//! `cargo run --release -p hookhost --example native_pyrus -- ADDR SECRET`

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hookhost::bindings::exports::hookhost::plugin::pyrus_bot_handler::{BotEvent, Comment};
use hookhost::protocol::pyrus_bot;
use hookhost::verify::{Credentials, Scheme, Verifier};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(secret)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: native_pyrus ADDR SECRET");
    };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    println!("native listening on http://{}", listener.local_addr()?);
    serve(listener, secret.as_bytes()).await
}

/// Serves `POST /pyrus/echo-bot` on `listener`, checking signatures made
/// with `secret`; the bench calls this in its own process.
pub async fn serve(listener: tokio::net::TcpListener, secret: &[u8]) -> anyhow::Result<()> {
    let verifier = Verifier::new(Scheme::PyrusSig, Credentials::Secret(secret.into()))?;
    let app = Router::new()
        .route("/pyrus/echo-bot", post(handle))
        .with_state(Arc::new(verifier));
    axum::serve(listener, app).await?;
    Ok(())
}

async fn handle(
    State(verifier): State<Arc<Verifier>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = verifier.verify(&headers, &body, SystemTime::now()) {
        return refuse(StatusCode::UNAUTHORIZED, &e.to_string());
    }
    let retry = match pyrus_bot::parse_retry(headers.get(pyrus_bot::RETRY_HEADER)) {
        Ok(retry) => retry,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.0),
    };
    let event = match pyrus_bot::parse_event(body, retry) {
        Ok(event) => event,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.0),
    };
    let Some(comment) = echo(&event) else {
        return StatusCode::OK.into_response();
    };
    match pyrus_bot::comment_json(comment) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.0),
    }
}

/// guest-examples/echo-bot's answer, in the host.
fn echo(event: &BotEvent) -> Option<Comment> {
    let last = event.task.comments.last()?;
    let user_name = match &last.author {
        Some(author) => format!("{} {}", author.first_name, author.last_name),
        None => String::from("there"),
    };
    Some(Comment {
        text: Some(format!(
            "Hello, {}! You said \"{}\".",
            user_name.trim(),
            last.text
        )),
        formatted_text: None,
        approval_choice: None,
        action: None,
        reassign_to: None,
        participants_added: Vec::new(),
        participants_removed: Vec::new(),
        subscribers_added: Vec::new(),
        subscribers_removed: Vec::new(),
        approvals_added: Vec::new(),
        approvals_removed: Vec::new(),
        field_updates: Vec::new(),
        due_date: None,
        due: None,
        duration: None,
        spent_minutes: None,
        attachments: Vec::new(),
    })
}

fn refuse(status: StatusCode, reason: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": reason }))).into_response()
}
