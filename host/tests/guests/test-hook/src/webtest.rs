//! A port of errbot's own webhook test plugin (`tests/webhooks_plugin/
//! webtest.py`) plus the `echo` hook of errbot's Webserver plugin, for the
//! port of errbot's `tests/webhooks_test.py`. Each handler answers what the
//! Python one returns: mostly `str(payload)`, rendered as Python renders
//! it, so the tests can compare with errbot's `repr(json.loads(…))`.

use crate::hookhost::plugin::host::Field;
use crate::hookhost::plugin::http_types::{DecodedBody, Request, Response, Route};
use crate::hookhost::plugin::types::PluginError;
use serde_json::Value;

pub fn routes() -> Vec<Route> {
    vec![
        // errbot's Webserver plugin: `@webhook def echo`.
        crate::route("/echo"),
        // `@webhook def webhook1` (a naked decorator: `/` + the name).
        crate::route("/webhook1"),
        crate::route("/custom_webhook"),
        Route {
            form_param: Some("form".into()),
            ..crate::route("/form")
        },
        Route {
            form_param: Some("form".into()),
            ..crate::route("/custom_form")
        },
        Route {
            raw: true,
            ..crate::route("/raw")
        },
        crate::route("/webhook6"),
        crate::route("/webhook7"),
        crate::route("/lambda"),
        // `@webhook(raw=True) def raw2`.
        Route {
            raw: true,
            ..crate::route("/raw2")
        },
    ]
}

pub fn handle(request: &Request) -> Result<Option<Response>, PluginError> {
    match request.rule.as_str() {
        "/echo" | "/webhook1" | "/custom_webhook" | "/form" | "/custom_form" | "/lambda" => {
            Ok(Some(text(200, str_of(&request.decoded, &request.body))))
        }
        // errbot answers `str(type(payload))`, the Flask request; here the
        // raw request is described so the test can see it came undecoded.
        "/raw" | "/raw2" => Ok(Some(crate::describe(request))),
        // `@after_this_request` adding `X-Powered-By: Errbot`.
        "/webhook6" => {
            let mut response = text(200, str_of(&request.decoded, &request.body));
            response.headers.push(Field {
                key: "X-Powered-By".into(),
                value: "Errbot".into(),
            });
            Ok(Some(response))
        }
        // `abort(403, "Forbidden")`.
        "/webhook7" => Ok(Some(text(403, "Forbidden".into()))),
        other => Err(PluginError::Internal(format!("no webtest rule {other}"))),
    }
}

fn text(status: u16, body: String) -> Response {
    Response {
        status,
        headers: Vec::new(),
        body: body.into_bytes(),
    }
}

/// Python's `str(payload)` of what the handler was given: the decoded JSON
/// or form parameter, the form as a dict, or else the body as text (as
/// errbot's `request.data.decode()`).
fn str_of(decoded: &DecodedBody, body: &[u8]) -> String {
    match decoded {
        DecodedBody::None => String::from_utf8_lossy(body).into_owned(),
        DecodedBody::Json(text) | DecodedBody::FormParamJson(text) => {
            match serde_json::from_str::<Value>(text) {
                Ok(value) => repr(&value),
                Err(_) => text.clone(),
            }
        }
        DecodedBody::FormParamText(text) => text.clone(),
        DecodedBody::Form(fields) => {
            let items: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", repr_str(&f.key), repr_str(&f.value)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Python's `repr` of what `json.loads` returns for `value`. Object keys
/// come out sorted (Python keeps the document's order); the tests use
/// objects of one key.
fn repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => repr_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => repr_str(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", repr_str(k), repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Python's float `repr`: Rust's shortest round-trip digits, with Python's
/// exponent form (`1e+16`, `1.5e-07`); both switch to it below 1e-4 and
/// from 1e16 on.
fn repr_float(f: f64) -> String {
    let s = format!("{f:?}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(digits) => ('-', digits),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// Python's `str.__repr__`: single quotes unless the text has one and no
/// double quote; backslash escapes for the quote, `\`, `\t`, `\n`, `\r`
/// and other control or non-printing characters.
fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            ' ' => out.push(' '),
            c if c.is_control() || c.is_whitespace() => {
                let n = u32::from(c);
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}
