//! A generic hook that makes outbound requests with the standard
//! `wasi:http` bindings (the `wasip2` crate), for the host's outbound tests.
//!
//! `POST /fetch` with a JSON body
//! `{"url": "http://…", "method": "GET", "headers": [["k", "v"]], "body": "…", "times": 1}`
//! (or just the URL as text) sends the request `times` times and answers 200
//! with one block per attempt:
//!
//! ```text
//! status 302
//! location: http://…
//!
//! <body>
//! ```
//!
//! or `error <ErrorCode as Debug>` (the response future's error) or
//! `body-error <code or text>` (a failure while reading the body). A header
//! the host refused to set is listed first as `forbidden <name>`.

wit_bindgen::generate!({
    world: "http-hook",
    path: "../../../../wit",
});

use exports::hookhost::plugin::http_handler::Guest;
use hookhost::plugin::http_types::{Request, Response, Route};
use hookhost::plugin::types::{Field, PluginError};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasip2::io::streams::StreamError;

static CALLS: AtomicU64 = AtomicU64::new(0);

struct TestFetch;

impl Guest for TestFetch {
    fn routes() -> Vec<Route> {
        vec![Route {
            rule: "/fetch".into(),
            methods: vec!["POST".into()],
            form_param: None,
            raw: true,
        }]
    }

    fn handle(request: Request) -> Result<Option<Response>, PluginError> {
        let text = String::from_utf8_lossy(&request.body).into_owned();
        let spec = Spec::parse(&text)?;
        let mut out = String::new();
        for _ in 0..spec.times {
            out.push_str(&fetch(&spec));
            out.push('\n');
        }
        // How many calls this instance has served: 1 unless it is reused.
        let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Some(Response {
            status: 200,
            headers: vec![Field {
                key: "x-instance-calls".into(),
                value: calls.to_string(),
            }],
            body: out.into_bytes(),
        }))
    }
}

struct Spec {
    url: String,
    method: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    times: u32,
}

impl Spec {
    fn parse(text: &str) -> Result<Spec, PluginError> {
        let bad = |what: &str| PluginError::Rejected(format!("bad fetch request: {what}"));
        let Ok(Value::Object(json)) = serde_json::from_str::<Value>(text) else {
            return Ok(Spec {
                url: text.trim().to_owned(),
                method: "GET".into(),
                headers: Vec::new(),
                body: None,
                times: 1,
            });
        };
        let url = json
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no url"))?
            .to_owned();
        let method = json
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET")
            .to_owned();
        let mut headers = Vec::new();
        if let Some(Value::Array(list)) = json.get("headers") {
            for pair in list {
                let (Some(k), Some(v)) = (
                    pair.get(0).and_then(Value::as_str),
                    pair.get(1).and_then(Value::as_str),
                ) else {
                    return Err(bad("headers must be [[name, value], …]"));
                };
                headers.push((k.to_owned(), v.to_owned()));
            }
        }
        Ok(Spec {
            url,
            method,
            headers,
            body: json.get("body").and_then(Value::as_str).map(str::to_owned),
            times: json.get("times").and_then(Value::as_u64).unwrap_or(1) as u32,
        })
    }
}

/// One attempt, described as the module docs say.
fn fetch(spec: &Spec) -> String {
    let mut out = String::new();
    let headers = Fields::new();
    for (name, value) in &spec.headers {
        if headers.append(name, value.as_bytes()).is_err() {
            out.push_str(&format!("forbidden {name}\n"));
        }
    }
    let request = OutgoingRequest::new(headers);
    let (scheme, rest) = match spec.url.split_once("://") {
        Some(("http", rest)) => (Scheme::Http, rest),
        Some(("https", rest)) => (Scheme::Https, rest),
        Some((other, rest)) => (Scheme::Other(other.to_owned()), rest),
        None => return format!("{out}error bad url"),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let method = match spec.method.as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "HEAD" => Method::Head,
        "DELETE" => Method::Delete,
        other => Method::Other(other.to_owned()),
    };
    if request.set_method(&method).is_err()
        || request.set_scheme(Some(&scheme)).is_err()
        || request.set_authority(Some(authority)).is_err()
        || request.set_path_with_query(Some(path)).is_err()
    {
        return format!("{out}error bad url");
    }
    let Ok(body) = request.body() else {
        return format!("{out}error no body");
    };
    let future = match outgoing_handler::handle(request, None) {
        Ok(future) => future,
        Err(code) => return format!("{out}error {}", name(&code)),
    };
    if let Some(text) = &spec.body {
        let Ok(stream) = body.write() else {
            return format!("{out}error no body stream");
        };
        if stream.blocking_write_and_flush(text.as_bytes()).is_err() {
            return format!("{out}error body write");
        }
        drop(stream);
    }
    if OutgoingBody::finish(body, None).is_err() {
        return format!("{out}error body finish");
    }
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return format!("{out}error {}", name(&code)),
        Some(Err(())) | None => return format!("{out}error no response"),
    };
    out.push_str(&format!("status {}\n", response.status()));
    for (name, value) in response.headers().entries() {
        if name == "location" {
            out.push_str(&format!("location: {}\n", String::from_utf8_lossy(&value)));
        }
    }
    out.push('\n');
    match read_body(&response) {
        Ok(bytes) => out.push_str(&String::from_utf8_lossy(&bytes)),
        Err(why) => out.push_str(&format!("body-error {why}")),
    }
    out
}

fn read_body(response: &IncomingResponse) -> Result<Vec<u8>, String> {
    let body = response.consume().map_err(|()| "no body".to_owned())?;
    let stream = body.stream().map_err(|()| "no stream".to_owned())?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                let code: Option<ErrorCode> = wasip2::http::types::http_error_code(&e);
                return Err(match code {
                    Some(code) => name(&code),
                    None => e.to_debug_string(),
                });
            }
        }
    }
    Ok(bytes)
}

/// `HttpRequestDenied`, `HttpResponseBodySize(Some(4096))`: the code as
/// Debug prints it, without the enum's name.
fn name(code: &ErrorCode) -> String {
    let text = format!("{code:?}");
    text.strip_prefix("ErrorCode::").unwrap_or(&text).to_owned()
}

export!(TestFetch);
