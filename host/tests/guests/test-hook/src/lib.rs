//! A generic HTTP hook for the host's tests. Its routes come from
//! `[config] rules`, so tests can declare overlapping or odd rules, and it
//! answers with a JSON description of the request it got. `[config] mode`
//! picks other answers: `ok` (the default), `status`, `none`, `error`,
//! `bad-header`, `slow` or `trap`; `webtest` serves the routes and answers
//! of errbot's own webhook test plugin instead (see `webtest.rs`).

wit_bindgen::generate!({
    world: "http-hook",
    path: "../../../../wit",
});

use exports::hookhost::plugin::http_handler::Guest;
use hookhost::plugin::host::{self, Field, Level};
use hookhost::plugin::http_types::{DecodedBody, Request, Response, Route};
use hookhost::plugin::types::PluginError;
use serde_json::{Map, Value, json};

mod webtest;

struct TestHook;

impl Guest for TestHook {
    fn routes() -> Vec<Route> {
        if host::get_config("mode").as_deref() == Some("webtest") {
            return webtest::routes();
        }
        match host::get_config("rules") {
            Some(rules) => rules.split(';').filter_map(parse_route).collect(),
            None => vec![
                Route {
                    methods: vec!["POST".into(), "GET".into(), "PUT".into()],
                    ..route("/echo/<name>")
                },
                Route {
                    form_param: Some("payload".into()),
                    ..route("/form")
                },
                Route {
                    raw: true,
                    ..route("/raw")
                },
            ],
        }
    }

    fn handle(request: Request) -> Result<Option<Response>, PluginError> {
        host::log(
            Level::Info,
            &format!(
                "hook {} {} rule={}",
                request.method, request.path, request.rule
            ),
        );
        let mode = host::get_config("mode").unwrap_or_default();
        match mode.as_str() {
            "" | "ok" => Ok(Some(describe(&request))),
            "status" => {
                let status = match host::get_config("status") {
                    None => 200,
                    Some(s) => s.trim().parse().map_err(|_| {
                        PluginError::Internal(format!("config status {s:?} is not a u16"))
                    })?,
                };
                Ok(Some(Response {
                    status,
                    headers: Vec::new(),
                    body: host::get_config("body").unwrap_or_default().into_bytes(),
                }))
            }
            "none" => Ok(None),
            "error" => Err(PluginError::Rejected("nope".into())),
            "bad-header" => Ok(Some(Response {
                status: 200,
                headers: vec![Field {
                    key: "bad header".into(),
                    value: "x".into(),
                }],
                body: b"bad".to_vec(),
            })),
            "slow" => {
                let ms: u64 = host::get_config("slow_ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1000);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Ok(Some(describe(&request)))
            }
            "trap" => panic!("test-hook was told to trap"),
            "webtest" => webtest::handle(&request),
            other => Err(PluginError::Internal(format!("unknown mode {other}"))),
        }
    }
}

/// One `rules` entry: `RULE`, `RULE=METHOD,METHOD`, either followed by
/// `|raw` and/or `|form=NAME`. Blank entries are skipped.
fn parse_route(entry: &str) -> Option<Route> {
    let mut parts = entry.split('|');
    let head = parts.next()?.trim();
    if head.is_empty() {
        return None;
    }
    let mut r = match head.split_once('=') {
        Some((rule, methods)) => Route {
            methods: methods
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(String::from)
                .collect(),
            ..route(rule.trim())
        },
        None => route(head),
    };
    for flag in parts.map(str::trim) {
        if flag == "raw" {
            r.raw = true;
        } else if let Some(name) = flag.strip_prefix("form=") {
            r.form_param = Some(name.to_string());
        }
    }
    Some(r)
}

fn route(rule: &str) -> Route {
    Route {
        rule: rule.into(),
        methods: Vec::new(),
        form_param: None,
        raw: false,
    }
}

/// The request as JSON, for the tests to inspect.
fn describe(request: &Request) -> Response {
    let params: Map<String, Value> = request
        .params
        .iter()
        .map(|f| (f.key.clone(), Value::String(f.value.clone())))
        .collect();
    let (kind, value) = match &request.decoded {
        DecodedBody::None => ("none", Value::Null),
        DecodedBody::Json(text) => ("json", parse(text)),
        DecodedBody::Form(fields) => (
            "form",
            Value::Object(
                fields
                    .iter()
                    .map(|f| (f.key.clone(), Value::String(f.value.clone())))
                    .collect(),
            ),
        ),
        DecodedBody::FormParamJson(text) => ("form-param-json", parse(text)),
        DecodedBody::FormParamText(text) => ("form-param-text", Value::String(text.clone())),
    };
    let user_agent = request
        .headers
        .iter()
        .find(|f| f.key == "user-agent")
        .map(|f| f.value.clone());
    let headers: Vec<[&str; 2]> = request
        .headers
        .iter()
        .map(|f| [f.key.as_str(), f.value.as_str()])
        .collect();
    let answer = json!({
        "rule": request.rule,
        "params": params,
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "decoded": { "kind": kind, "value": value },
        "body_len": request.body.len(),
        "user_agent": user_agent,
        "headers": headers,
        "body": String::from_utf8_lossy(&request.body),
    });
    Response {
        status: 200,
        headers: vec![Field {
            key: "content-type".into(),
            value: "application/json".into(),
        }],
        body: answer.to_string().into_bytes(),
    }
}

/// JSON the host promised is valid; if it is not, the text as a string, so
/// the test sees what arrived.
fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

export!(TestHook);
