//! Posting one line to a Slack-compatible incoming webhook over the standard
//! `wasi:http/outgoing-handler`, synchronously: hookhost's exports are plain
//! functions, so the plugin blocks on the response instead of running an
//! async executor.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

use crate::hookhost::plugin::types::PluginError;

/// POSTs `{"text": TEXT}` to `url` and expects a 2xx answer. Any failure is
/// `unavailable` (503): the chat may be back by the next delivery.
pub fn post(url: &str, text: &str) -> Result<(), PluginError> {
    let body = serde_json::json!({ "text": text }).to_string();
    let status = send(url, body.as_bytes()).map_err(|e| unavailable(url, &e))?;
    if !(200..300).contains(&status) {
        return Err(unavailable(url, &format!("answered {status}")));
    }
    Ok(())
}

fn unavailable(url: &str, why: &str) -> PluginError {
    // The webhook URL carries its token in the path: name only the origin.
    let origin = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    PluginError::Unavailable(format!("chat webhook {origin}: {why}"))
}

/// The request as wasi:http takes it: a request with its headers, its body
/// written after `handle` (the host reads it as it sends), then the response
/// waited for. Returns the status.
fn send(url: &str, body: &[u8]) -> Result<u16, String> {
    let (scheme, authority, path) = split_url(url)?;
    let headers = Fields::from_list(&[("content-type".to_owned(), b"application/json".to_vec())])
        .map_err(|e| format!("header: {e:?}"))?;
    let request = OutgoingRequest::new(headers);
    let set = request
        .set_method(&Method::Post)
        .and_then(|()| request.set_scheme(Some(&scheme)))
        .and_then(|()| request.set_authority(Some(authority)))
        .and_then(|()| request.set_path_with_query(Some(path)));
    set.map_err(|()| format!("not a valid URL: {url}"))?;
    let outgoing = request.body().map_err(|()| "no request body".to_owned())?;

    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    {
        let stream = outgoing
            .write()
            .map_err(|()| "no request body stream".to_owned())?;
        // blocking-write-and-flush takes at most 4096 bytes per call.
        for chunk in body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| format!("sending the body: {e:?}"))?;
        }
        // The stream must be gone before the body is finished.
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"))?;

    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response.status()),
        Some(Ok(Err(code))) => Err(format!("{code:?}")),
        Some(Err(())) | None => Err("no response".to_owned()),
    }
}

/// `scheme://authority/path?query` split for wasi:http.
fn split_url(url: &str) -> Result<(Scheme, &str, &str), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("not an absolute URL: {url}"))?;
    let scheme = match scheme {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => return Err(format!("unsupported scheme {other}")),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("no host in {url}"));
    }
    Ok((scheme, authority, path))
}
