//! `hookhost test`: one request through the whole pipeline in-process —
//! routing, signature check, parsing, the plugin, the reply — with no
//! server and no socket, as errbot's `!webhook test`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, anyhow, bail};
use axum::body::Body;
use axum::http::{HeaderName, Method, Request, Response, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::args::TestArgs;
use super::commands::Loaded;
use crate::journal::SqliteJournal;
use crate::plugins::{LoadedPlugin, Lookup, Registry};
use crate::server::{self, AppState, DEFAULT_BODY_LIMIT, DEFAULT_JOURNAL_CAP, routes};

/// Prints the request as sent and the answer; fails unless the answer is a
/// success (2xx/3xx).
pub async fn run(args: &TestArgs, loaded: Loaded) -> anyhow::Result<()> {
    let mut report = String::new();
    let request = build_request(args, &loaded.registry.load(), &mut report)?;
    // A journal of its own, gone afterwards: a trial delivery must never
    // reach the journal a running server works from.
    let scratch = tempfile::tempdir().context("cannot make a scratch folder for the journal")?;
    let journal = SqliteJournal::open(scratch.path()).context("cannot open a scratch journal")?;
    let state = Arc::new(AppState::new(
        loaded.registry,
        loaded.runtime,
        DEFAULT_BODY_LIMIT,
        Arc::new(journal),
        DEFAULT_JOURNAL_CAP,
    ));
    let response = server::router(state.clone())
        .oneshot(request)
        .await
        .context("the request was not answered")?;
    let status = response.status();
    describe_response(response, &mut report).await?;
    // Journaled deliveries run after the answer: let the first attempt
    // finish and log (a retry is logged as scheduled, not waited for).
    state.deliveries.settle().await;
    state.deliveries.stop().await;
    print!("{report}");
    if !(status.is_success() || status.is_redirection()) {
        bail!("the route did not answer with a success status");
    }
    Ok(())
}

/// The request as a sender would send it; what was added is noted in `report`.
fn build_request(
    args: &TestArgs,
    registry: &Registry,
    report: &mut String,
) -> anyhow::Result<Request<Body>> {
    let body = read_body(args.body.as_deref())?;
    let path = args.route.split('?').next().unwrap_or_default();
    if !path.starts_with('/') {
        bail!("the route must start with '/', e.g. /hooks/NAME/test");
    }
    let method = match &args.method {
        Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| anyhow!("{m:?} is not an HTTP method"))?,
        None => default_method(registry, path),
    };

    let mut request = Request::builder().method(method.clone()).uri(&args.route);
    let _ = writeln!(report, "{method} {}", args.route);
    let mut has_type = false;
    for line in &args.headers {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| anyhow!("header {line:?} must look like Name: value"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| anyhow!("{name:?} is not a header name"))?;
        has_type |= name == header::CONTENT_TYPE;
        request = request.header(name, value.trim());
    }
    if !has_type && let Some(detected) = detect_content_type(&body) {
        let _ = writeln!(report, "content-type: {detected} (detected)");
        request = request.header(header::CONTENT_TYPE, detected);
    }
    if args.sign {
        let plugin = plugin_for(registry, path)?;
        let headers = plugin.verifier.sign(&body, SystemTime::now());
        let names: Vec<String> = headers.iter().map(|(n, _)| n.to_string()).collect();
        let scheme = plugin.verifier.scheme();
        let _ = writeln!(report, "signed: {scheme} ({})", names.join(", "));
        for (name, value) in headers {
            request = request.header(name, value);
        }
    }
    request
        .body(Body::from(body))
        .context("cannot build the request")
}

/// Status, headers and body, as `test` prints them.
async fn describe_response(response: Response<Body>, report: &mut String) -> anyhow::Result<()> {
    let _ = writeln!(report, "\n{}", response.status());
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        let _ = writeln!(report, "{name}: {value}");
    }
    let body = response
        .into_body()
        .collect()
        .await
        .context("cannot read the answer")?
        .to_bytes();
    report.push('\n');
    match std::str::from_utf8(&body) {
        Ok(text) => report.push_str(text),
        Err(_) => {
            let _ = write!(report, "<{} bytes, not UTF-8>", body.len());
        }
    }
    if !report.ends_with('\n') {
        report.push('\n');
    }
    Ok(())
}

fn read_body(arg: Option<&str>) -> anyhow::Result<Vec<u8>> {
    match arg {
        None => Ok(Vec::new()),
        Some("@-") => {
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut body)
                .context("cannot read the body from stdin")?;
            Ok(body)
        }
        Some(arg) => match arg.strip_prefix('@') {
            Some(file) => std::fs::read(file).with_context(|| format!("cannot read {file}")),
            None => Ok(arg.as_bytes().to_vec()),
        },
    }
}

/// JSON if it parses, form-encoded if it looks like `a=1&b=2`, else text.
pub fn detect_content_type(body: &[u8]) -> Option<&'static str> {
    if body.is_empty() {
        return None;
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        return Some("application/json");
    }
    let form_like = body
        .split(|&b| b == b'&')
        .all(|pair| pair.contains(&b'=') && !pair.iter().any(|b| b.is_ascii_whitespace()));
    Some(if form_like {
        "application/x-www-form-urlencoded"
    } else {
        "text/plain; charset=utf-8"
    })
}

/// The method the route takes when it takes only one (GET for a pulse);
/// POST otherwise, as senders do.
fn default_method(registry: &Registry, path: &str) -> Method {
    let mut own = routes::taking(path).map(|(route, _)| &route.method);
    if let Some(first) = own.next() {
        let only = own.all(|method| method == first);
        return if only { first.clone() } else { Method::POST };
    }
    let get_only = matches!(
        registry.hooks().lookup(path, "POST"),
        Lookup::WrongMethod { allow } if allow.iter().any(|m| m == "GET")
    );
    if get_only { Method::GET } else { Method::POST }
}

fn plugin_for(registry: &Registry, path: &str) -> anyhow::Result<Arc<LoadedPlugin>> {
    let Some((_, name)) = routes::taking(path).next() else {
        // The rule's plugin, whichever method the rule takes.
        let found = ["POST", "GET", "PUT", "PATCH", "DELETE"]
            .into_iter()
            .find_map(|method| match registry.hooks().lookup(path, method) {
                Lookup::Found { plugin, .. } => Some(plugin.clone()),
                _ => None,
            });
        return found
            .ok_or_else(|| anyhow!("no plugin serves {path}, so there is nothing to sign for"));
    };
    let entry = registry
        .get(name)
        .ok_or_else(|| anyhow!("no plugin named {name}"))?;
    entry.serving.clone().ok_or_else(|| {
        anyhow!(
            "plugin {name} is not served: {}",
            entry.problem.as_deref().unwrap_or("unknown reason")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::detect_content_type;

    #[test]
    fn content_type_is_guessed_like_a_sender_would_send_it() {
        assert_eq!(detect_content_type(b""), None);
        assert_eq!(detect_content_type(br#"{"a":1}"#), Some("application/json"));
        assert_eq!(
            detect_content_type(b"payload=%7B%7D&x=1"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            detect_content_type(b"hello world"),
            Some("text/plain; charset=utf-8")
        );
    }
}
