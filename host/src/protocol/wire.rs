//! Leniencies shared by the JSON parsers: senders write `null` for absent
//! values and numbers as strings (or the other way round); and [`entry`],
//! which the writers use to leave unset values out.

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize};

use super::BadRequest;

/// Parses `text` as `T`, naming what was expected when it does not fit.
pub fn from_json<'a, T: Deserialize<'a>>(text: &'a str, what: &str) -> Result<T, BadRequest> {
    serde_json::from_str(text).map_err(|e| {
        BadRequest(match e.classify() {
            serde_json::error::Category::Data => format!("body is not {what}: {e}"),
            _ => format!("body is not valid JSON: {e}"),
        })
    })
}

pub fn utf8(body: &[u8]) -> Result<&str, BadRequest> {
    std::str::from_utf8(body).map_err(|e| BadRequest(format!("body is not UTF-8: {e}")))
}

/// The body as an owned string, checked once; the buffer is reused when
/// nothing else holds it.
pub fn into_text(body: bytes::Bytes) -> Result<String, BadRequest> {
    String::from_utf8(Vec::from(body))
        .map_err(|e| BadRequest(format!("body is not UTF-8: {}", e.utf8_error())))
}

/// `null` reads as the default.
pub fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
}

/// A string, or a number/boolean written as one; `null` reads as "".
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(opt_text(d)?.unwrap_or_default())
}

/// Like [`text`], keeping `null` and absence apart from "".
pub fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(
        Option::<NumberOrText>::deserialize(d)?.map(|value| match value {
            NumberOrText::Text(s) => s,
            NumberOrText::Int(i) => i.to_string(),
            NumberOrText::Float(x) => x.to_string(),
            NumberOrText::Bool(b) => b.to_string(),
        }),
    )
}

/// An integer id, also when written as a string (`"user_id": "34231"`).
pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match NumberOrText::deserialize(d)? {
        NumberOrText::Int(i) => Ok(i),
        NumberOrText::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("{s:?} is not an integer id"))),
        _ => Err(D::Error::custom("expected an integer id")),
    }
}

/// A list of integer ids, each possibly a string; `null` is empty.
pub fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Id(#[serde(deserialize_with = "id")] i64);
    let ids: Option<Vec<Id>> = Option::deserialize(d)?;
    Ok(ids.unwrap_or_default().into_iter().map(|Id(i)| i).collect())
}

/// A required string (numbers allowed); unlike [`text`], `null` is an error.
pub fn required_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_text(d)?.ok_or_else(|| D::Error::custom("must not be null"))
}

/// An optional object where `{}` (and `null`) mean absent, as senders write
/// "can be empty".
pub fn empty_as_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Object(map)) if map.is_empty() => Ok(None),
        Some(value) => serde_json::from_value(value)
            .map(Some)
            .map_err(D::Error::custom),
    }
}

/// `key: value` in a JSON object being written, left out when there is no
/// value.
pub fn entry<M: SerializeMap>(
    map: &mut M,
    key: &str,
    value: Option<impl Serialize>,
) -> Result<(), M::Error> {
    value.map_or(Ok(()), |value| map.serialize_entry(key, &value))
}
