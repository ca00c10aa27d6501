//! The examples of errbot's webhook documentation as one hookhost plugin:
//! a plain hook, URI parameters, a form parameter carrying JSON, a raw
//! request, custom headers and statuses, and a JSON echo.

wit_bindgen::generate!({
    world: "http-hook",
    path: "../../wit",
});

use exports::hookhost::plugin::http_handler::Guest;
use hookhost::plugin::host::{self, Field, Level};
use hookhost::plugin::http_types::{DecodedBody, Request, Response, Route};
use hookhost::plugin::types::PluginError;

struct ErrbotExamples;

impl Guest for ErrbotExamples {
    fn routes() -> Vec<Route> {
        vec![
            route("/test"),
            route("/example/<name>/<action>/"),
            Route {
                form_param: Some("payload".into()),
                ..route("/github/")
            },
            Route {
                raw: true,
                ..route("/raw")
            },
            route("/powered"),
            route("/forbidden"),
            route("/json"),
        ]
    }

    fn handle(request: Request) -> Result<Option<Response>, PluginError> {
        match request.rule.as_str() {
            "/test" => {
                host::log(Level::Info, "Hello there");
                Ok(Some(text(200, "OK")))
            }
            "/example/<name>/<action>/" => {
                let name = param(&request, "name");
                let action = param(&request, "action");
                Ok(Some(text(
                    200,
                    &format!("User {name} is performing {action}"),
                )))
            }
            "/github/" => Ok(Some(github(&request.decoded))),
            "/raw" => {
                let user_agent = header(&request, "user-agent").unwrap_or("Unknown");
                Ok(Some(text(200, &format!("Your user-agent is {user_agent}"))))
            }
            "/powered" => {
                let mut response = text(200, "OK");
                response.headers.push(Field {
                    key: "X-Powered-By".into(),
                    value: "hookhost".into(),
                });
                Ok(Some(response))
            }
            "/forbidden" => Ok(Some(text(403, "Forbidden"))),
            "/json" => Ok(Some(json_echo(&request.decoded))),
            other => Err(PluginError::Internal(format!(
                "no handler for rule {other}"
            ))),
        }
    }
}

/// `Commit on {repository.name}!` from the form field `payload`.
fn github(decoded: &DecodedBody) -> Response {
    let payload = match decoded {
        DecodedBody::FormParamJson(payload) => payload,
        DecodedBody::FormParamText(_) => return text(400, "payload is not JSON"),
        _ => return text(400, "missing form field payload"),
    };
    let Ok(payload) = serde_json::from_str::<serde_json::Value>(payload) else {
        return text(400, "payload is not JSON");
    };
    let Some(name) = payload
        .pointer("/repository/name")
        .and_then(serde_json::Value::as_str)
    else {
        return text(400, "payload has no repository.name");
    };
    let message = format!("Commit on {name}!");
    host::log(Level::Info, &message);
    text(200, &message)
}

/// `{"received": <the JSON body>}`.
fn json_echo(decoded: &DecodedBody) -> Response {
    let DecodedBody::Json(body) = decoded else {
        return text(400, "expected a JSON body");
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return text(400, "body is not JSON");
    };
    let answer = serde_json::json!({ "received": value });
    Response {
        status: 200,
        headers: vec![Field {
            key: "content-type".into(),
            value: "application/json".into(),
        }],
        body: answer.to_string().into_bytes(),
    }
}

/// A rule for POST and GET, with the body decoded.
fn route(rule: &str) -> Route {
    Route {
        rule: rule.into(),
        methods: Vec::new(),
        form_param: None,
        raw: false,
    }
}

/// A body without a content type, which the host sends as plain UTF-8 text.
fn text(status: u16, body: &str) -> Response {
    Response {
        status,
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    }
}

fn param<'a>(request: &'a Request, name: &str) -> &'a str {
    request
        .params
        .iter()
        .find(|f| f.key == name)
        .map_or("", |f| f.value.as_str())
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|f| f.key == name)
        .map(|f| f.value.as_str())
}

export!(ErrbotExamples);
