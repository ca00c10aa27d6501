//! GitHub pushes to a chat room: for each commit of a `push`, posts
//! `Commit on REPO by NAME: MESSAGE` to a Slack-compatible incoming webhook
//! (`[config] chat_url`). A generic hook plugin, mounted at
//! `/hooks/github-to-chat`, verified with `verify = "github"`.
//!
//! The push arrives as a JSON body (GitHub's `application/json` delivery) or
//! as the form field `payload` (GitHub's `x-www-form-urlencoded` delivery, the
//! one errbot's examples use). GitHub redelivers a hook with the same
//! `X-GitHub-Delivery`; the plugin keeps, per delivery, how many of its
//! commits are already in the chat, so a redelivery posts nothing twice —
//! and one that failed half-way posts only the rest.

mod chat;
mod state;

wit_bindgen::generate!({
    world: "github-to-chat",
    path: "wit",
    // The wasi:http and wasi:io types are those of the `wasip2` crate, so the
    // client code below is plain wasip2 code; the rest (hookhost's worlds,
    // wasi:keyvalue) is generated here.
    with: {
        "wasi:http/types@0.2.12": wasip2::http::types,
        "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
    },
    generate_all,
});

use exports::hookhost::plugin::http_handler::Guest;
use hookhost::plugin::host::{self, Level};
use hookhost::plugin::http_types::{DecodedBody, Request, Response, Route};
use hookhost::plugin::types::PluginError;
use serde_json::Value;

struct GithubToChat;

impl Guest for GithubToChat {
    fn routes() -> Vec<Route> {
        vec![Route {
            rule: "/".into(),
            methods: vec!["POST".into()],
            // GitHub's form delivery puts the JSON in the field `payload`.
            form_param: Some("payload".into()),
            raw: false,
        }]
    }

    fn handle(request: Request) -> Result<Option<Response>, PluginError> {
        match header(&request, "x-github-event") {
            Some("push") => {}
            Some("ping") => return Ok(Some(text(200, "pong"))),
            Some(other) => return Ok(Some(text(200, &format!("ignored: {other} event")))),
            None => return Err(PluginError::Rejected("no X-GitHub-Event header".into())),
        }
        let delivery = header(&request, "x-github-delivery")
            .filter(|d| !d.is_empty())
            .ok_or_else(|| PluginError::Rejected("no X-GitHub-Delivery header".into()))?;
        let push = push_of(&request.decoded)?;
        let messages = commit_messages(&push)?;
        let chat_url = host::get_config("chat_url")
            .ok_or_else(|| PluginError::Internal("no chat_url in the sidecar's [config]".into()))?;

        let bucket = state::Bucket::open()?;
        let key = format!("delivery/{delivery}");
        // Commits of this delivery already in the chat, from an earlier try.
        let done = bucket.get_count(&key)?.min(messages.len());
        for (i, message) in messages.iter().enumerate().skip(done) {
            chat::post(&chat_url, message)?;
            // Recorded after every commit: a failure later on leaves the
            // posted ones marked, and the redelivery resumes after them.
            bucket.set_count(&key, i + 1)?;
        }
        let posted = messages.len() - done;
        host::log(
            Level::Info,
            &format!(
                "delivery {delivery}: posted {posted} of {} commits",
                messages.len()
            ),
        );
        Ok(Some(text(200, &format!("posted {posted} messages"))))
    }
}

/// The push payload, from a JSON body or the form field `payload`.
fn push_of(decoded: &DecodedBody) -> Result<Value, PluginError> {
    let json = match decoded {
        DecodedBody::Json(json) | DecodedBody::FormParamJson(json) => json,
        DecodedBody::FormParamText(_) => {
            return Err(PluginError::Rejected(
                "form field payload is not JSON".into(),
            ));
        }
        _ => {
            return Err(PluginError::Rejected(
                "expected a JSON body or the form field payload".into(),
            ));
        }
    };
    serde_json::from_str(json)
        .map_err(|e| PluginError::Rejected(format!("push payload is not JSON: {e}")))
}

/// `Commit on REPO by NAME: MESSAGE` for each commit, oldest first as GitHub
/// lists them. REPO is `owner/name` when GitHub sends `full_name`; MESSAGE is
/// the commit's first line (a chat line, not the whole description).
fn commit_messages(push: &Value) -> Result<Vec<String>, PluginError> {
    let repository = &push["repository"];
    let repo = repository["full_name"]
        .as_str()
        .or_else(|| repository["name"].as_str())
        .ok_or_else(|| PluginError::Rejected("push has no repository name".into()))?;
    let commits = push["commits"]
        .as_array()
        .ok_or_else(|| PluginError::Rejected("push has no commits list".into()))?;
    Ok(commits
        .iter()
        .map(|commit| {
            let name = commit["author"]["name"].as_str().unwrap_or("someone");
            let message = commit["message"].as_str().unwrap_or("").lines().next();
            format!(
                "Commit on {repo} by {name}: {}",
                message.unwrap_or_default()
            )
        })
        .collect())
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|f| f.key == name)
        .map(|f| f.value.as_str())
}

fn text(status: u16, body: &str) -> Response {
    Response {
        status,
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    }
}

export!(GithubToChat);
