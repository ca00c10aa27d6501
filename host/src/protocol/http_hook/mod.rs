//! Generic hooks: the request a plugin sees (with its body decoded as
//! errbot decodes it) and the HTTP response its answer becomes.

mod pattern;
mod rules;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
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

/// Headers as the plugin sees them: lower-case names, in order, values
/// that are not UTF-8 decoded lossily; `hidden` (the header carrying the
/// sender's credential) left out.
pub fn headers(map: &HeaderMap, hidden: Option<&HeaderName>) -> Vec<Field> {
    map.iter()
        .filter(|(name, _)| Some(*name) != hidden)
        .map(|(name, value)| Field {
            key: name.as_str().to_owned(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
        .collect()
}

/// The request a hook plugin sees for an authentic `body` that matched
/// `route` with `params`; `hidden` is the header carrying the sender's
/// credential, which the plugin does not get.
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
        headers: headers(map, hidden),
        decoded: decode(route, map, &body)?,
        // `Vec::from(Bytes)` reuses the buffer when nothing else holds it.
        body: Vec::from(body),
    })
}

/// Decodes the body for `route`: JSON when the content type says so,
/// form fields when form-encoded (or the route's one form parameter).
pub fn decode(route: &HookRoute, map: &HeaderMap, body: &[u8]) -> Result<DecodedBody, BadRequest> {
    if route.raw || body.is_empty() {
        return Ok(DecodedBody::None);
    }
    let mime = map
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if mime == "application/json" || mime.ends_with("+json") {
        let text = std::str::from_utf8(body)
            .map_err(|e| BadRequest(format!("JSON body is not UTF-8: {e}")))?;
        serde_json::from_str::<serde::de::IgnoredAny>(text)
            .map_err(|e| BadRequest(format!("body is not valid JSON: {e}")))?;
        return Ok(DecodedBody::Json(text.to_owned()));
    }
    if mime != "application/x-www-form-urlencoded" {
        return Ok(DecodedBody::None);
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
    Ok(
        match serde_json::from_str::<serde::de::IgnoredAny>(&value) {
            Ok(_) => DecodedBody::FormParamJson(value),
            Err(_) => DecodedBody::FormParamText(value),
        },
    )
}

/// The plugin's answer as HTTP parts. `None` is 200 with an empty body.
pub fn response(answer: Option<Response>) -> Result<(StatusCode, HeaderMap, Vec<u8>), BadAnswer> {
    let Some(answer) = answer else {
        return Ok((StatusCode::OK, HeaderMap::new(), Vec::new()));
    };
    let status = StatusCode::from_u16(answer.status)
        .ok()
        .filter(|s| (200..600).contains(&s.as_u16()))
        .ok_or_else(|| {
            BadAnswer(format!(
                "status {} is not a final HTTP status",
                answer.status
            ))
        })?;
    if answer.headers.len() > MAX_RESPONSE_HEADERS {
        return Err(BadAnswer(format!(
            "{} headers; at most {MAX_RESPONSE_HEADERS} allowed",
            answer.headers.len()
        )));
    }
    let mut map = HeaderMap::with_capacity(answer.headers.len() + 1);
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
}
