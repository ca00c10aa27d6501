//! Generic hooks: the request a plugin sees (with its body decoded as
//! errbot decodes it) and the HTTP response its answer becomes.

mod pattern;
mod rules;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use bytes::Bytes;

use super::{BadAnswer, BadRequest};
use crate::bindings::hookhost::plugin::types::Field;
use crate::bindings::http_hook::hookhost::plugin::http_types::{DecodedBody, Request, Response};

pub use pattern::{Pattern, RuleError, Segment, split_path};
pub use rules::{HookRoute, MAX_RESPONSE_HEADERS, declare_routes};

/// Headers the host owns: a plugin's value for them would corrupt framing.
const HOST_OWNED: [HeaderName; 4] = [
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    header::UPGRADE,
];

/// The request a hook plugin sees for an authentic `body` that matched
/// `route` with `params`. Headers keep their order, with lower-case names
/// and values that are not UTF-8 decoded lossily; `hidden`, the header
/// carrying the sender's credential, is left out.
pub fn request(
    route: &HookRoute,
    params: Vec<(String, String)>,
    method: &Method,
    uri: &Uri,
    map: &HeaderMap,
    hidden: Option<&HeaderName>,
    body: Bytes,
) -> Result<Request, BadRequest> {
    Ok(Request {
        rule: route.rule.clone(),
        params: params
            .into_iter()
            .map(|(key, value)| Field { key, value })
            .collect(),
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: map
            .iter()
            .filter(|(name, _)| Some(*name) != hidden)
            .map(|(name, value)| Field {
                key: name.as_str().to_owned(),
                value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            })
            .collect(),
        decoded: decode(route, map, &body)?,
        // `Vec::from(Bytes)` reuses the buffer when nothing else holds it.
        body: Vec::from(body),
    })
}

/// Decodes the body for `route` as errbot does where that is safe: JSON
/// when the content type says so (and then it must parse, else `400`) or
/// when it is absent or `text/plain` and the body parses as JSON (errbot's
/// senders and tests post JSON that way); form fields when form-encoded
/// (or the route's one form parameter); otherwise `none`. A `raw` route
/// is never decoded.
pub fn decode(route: &HookRoute, map: &HeaderMap, body: &[u8]) -> Result<DecodedBody, BadRequest> {
    if route.raw || body.is_empty() {
        return Ok(DecodedBody::None);
    }
    // A value that is not visible ASCII is no type we know.
    let mime = match map.get(header::CONTENT_TYPE).map(HeaderValue::to_str) {
        None => "",
        Some(Ok(value)) => value.split(';').next().unwrap_or_default(),
        Some(Err(_)) => return Ok(DecodedBody::None),
    };
    match mime.trim().to_ascii_lowercase().as_str() {
        // No (or a blank) type, or `text/plain`, which errbot's senders also use for JSON.
        "" | "text/plain" => return Ok(json_if_it_parses(body)),
        "application/x-www-form-urlencoded" => {}
        json if json == "application/json" || json.ends_with("+json") => {
            let text = std::str::from_utf8(body)
                .map_err(|e| BadRequest(format!("JSON body is not UTF-8: {e}")))?;
            serde_json::from_str::<serde::de::IgnoredAny>(text)
                .map_err(|e| BadRequest(format!("body is not valid JSON: {e}")))?;
            return Ok(DecodedBody::Json(text.to_owned()));
        }
        _ => return Ok(DecodedBody::None),
    }
    let mut fields = form_urlencoded::parse(body).map(|(key, value)| Field {
        key: key.into_owned(),
        value: value.into_owned(),
    });
    let Some(param) = &route.form_param else {
        return Ok(DecodedBody::Form(fields.collect()));
    };
    let value = fields
        .find(|f| &f.key == param)
        .ok_or_else(|| BadRequest(format!("form parameter {param:?} is missing")))?
        .value;
    Ok(match is_json(&value) {
        true => DecodedBody::FormParamJson(value),
        false => DecodedBody::FormParamText(value),
    })
}

fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// `json` for a body that is UTF-8 and parses as JSON, else `none` (the
/// plugin still has the bytes).
fn json_if_it_parses(body: &[u8]) -> DecodedBody {
    match std::str::from_utf8(body) {
        Ok(text) if is_json(text) => DecodedBody::Json(text.to_owned()),
        _ => DecodedBody::None,
    }
}

/// The plugin's answer as the HTTP response sent: [`response`]'s parts
/// with the body as it is, so an empty body without a `content-type` goes
/// out without one (no `application/octet-stream` is made up).
pub fn reply(answer: Option<Response>) -> Result<axum::response::Response, BadAnswer> {
    let (status, headers, body) = response(answer)?;
    Ok((status, headers, Body::from(body)).into_response())
}

/// The plugin's answer as HTTP parts. `None` is 200 with an empty body and
/// no headers; a non-empty body without a `content-type` is given
/// `text/plain; charset=utf-8`.
pub fn response(answer: Option<Response>) -> Result<(StatusCode, HeaderMap, Vec<u8>), BadAnswer> {
    let Some(answer) = answer else {
        return Ok((StatusCode::OK, HeaderMap::new(), Vec::new()));
    };
    let code = answer.status;
    let status = StatusCode::from_u16(code)
        .ok()
        .filter(|_| (200..600).contains(&code))
        .ok_or_else(|| BadAnswer(format!("status {code} is not a final HTTP status")))?;
    let count = answer.headers.len();
    if count > MAX_RESPONSE_HEADERS {
        return Err(BadAnswer(format!(
            "{count} headers; at most {MAX_RESPONSE_HEADERS} allowed"
        )));
    }
    let mut map = HeaderMap::with_capacity(count + 1);
    for Field { key, value } in answer.headers {
        let name = HeaderName::from_bytes(key.as_bytes())
            .map_err(|_| BadAnswer(format!("{key:?} is not a header name")))?;
        let value = HeaderValue::from_str(&value)
            .map_err(|_| BadAnswer(format!("header {name} has a value that cannot be sent")))?;
        if HOST_OWNED.contains(&name) {
            tracing::debug!("plugin header {name} dropped: the host frames the response");
            continue;
        }
        map.try_append(name, value)
            .map_err(|_| BadAnswer("too many headers".into()))?;
    }
    if !answer.body.is_empty() && !map.contains_key(header::CONTENT_TYPE) {
        map.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    Ok((status, map, answer.body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::http_hook::hookhost::plugin::http_types::Route;

    fn route(form_param: Option<&str>, raw: bool) -> HookRoute {
        let declared = declare_routes(
            &Pattern::parse_mount("/hooks/t").unwrap(),
            true,
            vec![Route {
                rule: "/x".into(),
                methods: vec![],
                form_param: form_param.map(str::to_owned),
                raw,
            }],
        )
        .unwrap();
        declared.into_iter().next().unwrap()
    }

    fn typed(content_type: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        map
    }

    #[test]
    fn json_is_validated_unless_raw() {
        let json = typed("application/json; charset=utf-8");
        assert!(
            matches!(decode(&route(None, false), &json, br#"{"a":1}"#), Ok(DecodedBody::Json(t)) if t == r#"{"a":1}"#)
        );
        let err = decode(&route(None, false), &json, b"{nope").unwrap_err();
        assert!(err.0.contains("not valid JSON"), "{err}");
        assert!(matches!(
            decode(&route(None, true), &json, b"{nope"),
            Ok(DecodedBody::None)
        ));
        assert!(matches!(
            decode(&route(None, false), &typed("text/plain"), b"hi"),
            Ok(DecodedBody::None)
        ));
    }

    #[test]
    fn forms_and_the_form_param() {
        let form = typed("application/x-www-form-urlencoded");
        let body = b"payload=%7B%22a%22%3A1%7D&x=y+z";
        match decode(&route(None, false), &form, body) {
            Ok(DecodedBody::Form(fields)) => {
                assert_eq!(fields[0].value, r#"{"a":1}"#);
                assert_eq!(fields[1].value, "y z");
            }
            _ => panic!("not a form"),
        }
        assert!(
            matches!(decode(&route(Some("payload"), false), &form, body), Ok(DecodedBody::FormParamJson(t)) if t == r#"{"a":1}"#)
        );
        assert!(
            matches!(decode(&route(Some("x"), false), &form, body), Ok(DecodedBody::FormParamText(t)) if t == "y z")
        );
        assert!(
            decode(&route(Some("missing"), false), &form, body)
                .unwrap_err()
                .0
                .contains("missing")
        );
    }

    #[test]
    fn answers_become_responses() {
        let (status, map, body) = response(None).unwrap();
        assert_eq!((status, map.len(), body.len()), (StatusCode::OK, 0, 0));
        let answer = |status, headers: Vec<(&str, &str)>| {
            response(Some(Response {
                status,
                headers: headers
                    .into_iter()
                    .map(|(k, v)| Field {
                        key: k.into(),
                        value: v.into(),
                    })
                    .collect(),
                body: b"OK".to_vec(),
            }))
        };
        let (status, map, _) = answer(
            403,
            vec![("X-Powered-By", "hookhost"), ("content-length", "99")],
        )
        .unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(map["x-powered-by"], "hookhost");
        assert_eq!(map[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert!(!map.contains_key(header::CONTENT_LENGTH));
        assert!(answer(99, vec![]).is_err());
        assert!(answer(101, vec![]).is_err());
        assert!(answer(600, vec![]).is_err());
        let many: Vec<(String, String)> = (0..=MAX_RESPONSE_HEADERS)
            .map(|i| (format!("x-{i}"), "v".to_owned()))
            .collect();
        let many = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(answer(200, many).unwrap_err().0.contains("at most"));
        assert!(answer(200, vec![("bad header", "x")]).is_err());
        assert!(answer(200, vec![("x", "a\nb")]).is_err());
    }

    #[test]
    fn json_without_a_content_type_or_as_text_plain_is_decoded() {
        let plain = route(None, false);
        let json = br#"["foo", {"bar": ["baz", null, 1.0, 2]}]"#;
        let is_json = |d: Result<DecodedBody, BadRequest>, text: &[u8]| matches!(d, Ok(DecodedBody::Json(t)) if t.as_bytes() == text);
        // errbot's tests post JSON with no content type at all.
        assert!(is_json(decode(&plain, &HeaderMap::new(), json), json));
        for content_type in ["text/plain", "Text/Plain; charset=utf-8", "", " ; x=y"] {
            assert!(
                is_json(decode(&plain, &typed(content_type), json), json),
                "{content_type:?}"
            );
        }
        // Any JSON value, the ones errbot hands over as text too.
        for value in [&b"{}"[..], b"[]", b"0", b"null", b"\"s\"", b" {\"a\":1}\n"] {
            assert!(is_json(decode(&plain, &HeaderMap::new(), value), value));
        }
        // What does not parse is not decoded, and not refused either.
        for body in [&b"{nope"[..], b"hi", b"a=1&b=2", b"NaN", b"\xff{}"] {
            assert!(
                matches!(
                    decode(&plain, &HeaderMap::new(), body),
                    Ok(DecodedBody::None)
                ),
                "{body:?}"
            );
            assert!(matches!(
                decode(&plain, &typed("text/plain"), body),
                Ok(DecodedBody::None)
            ));
        }
        // Another type, or one that cannot be read, is not sniffed.
        for content_type in ["text/html", "application/octet-stream", "application/xml"] {
            assert!(matches!(
                decode(&plain, &typed(content_type), json),
                Ok(DecodedBody::None)
            ));
        }
        let mut unreadable = HeaderMap::new();
        unreadable.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_bytes(b"text/plain\xff").unwrap(),
        );
        assert!(matches!(
            decode(&plain, &unreadable, json),
            Ok(DecodedBody::None)
        ));
        // A raw route stays undecoded; a form-param route decodes a JSON
        // body as any route does.
        assert!(matches!(
            decode(&route(None, true), &HeaderMap::new(), json),
            Ok(DecodedBody::None)
        ));
        assert!(is_json(
            decode(&route(Some("payload"), false), &HeaderMap::new(), json),
            json
        ));
        // A body that claims JSON still has to be JSON.
        for content_type in ["application/json", "application/vnd.api+json"] {
            let err = decode(&plain, &typed(content_type), b"{nope").unwrap_err();
            assert!(err.0.contains("not valid JSON"), "{err}");
        }
    }

    #[test]
    fn empty_answers_carry_no_content_type() {
        let reply_with = |headers: Vec<(&str, &str)>, body: &[u8]| {
            reply(Some(Response {
                status: 200,
                headers: headers
                    .into_iter()
                    .map(|(k, v)| Field {
                        key: k.into(),
                        value: v.into(),
                    })
                    .collect(),
                body: body.to_vec(),
            }))
            .unwrap()
        };
        let size =
            |res: &axum::response::Response| axum::body::HttpBody::size_hint(res.body()).exact();
        let none = reply(None).unwrap();
        assert_eq!(none.status(), StatusCode::OK);
        assert!(none.headers().is_empty(), "{:?}", none.headers());
        assert_eq!(size(&none), Some(0));

        let headers_only = reply_with(vec![("X-Powered-By", "Errbot")], b"");
        assert_eq!(headers_only.headers()["x-powered-by"], "Errbot");
        assert!(!headers_only.headers().contains_key(header::CONTENT_TYPE));
        assert_eq!(size(&headers_only), Some(0));

        let text = reply_with(vec![], b"OK");
        assert_eq!(
            text.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(size(&text), Some(2));
        let typed_empty = reply_with(vec![("content-type", "application/json")], b"");
        assert_eq!(
            typed_empty.headers()[header::CONTENT_TYPE],
            "application/json"
        );
    }
}
