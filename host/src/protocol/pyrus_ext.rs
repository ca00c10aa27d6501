//! Pyrus extension services: the bodies Pyrus sends to `/authorize`,
//! `/toggle`, `/event`, `/sendmessage` and `/getavailablenumbers`, their
//! documented limits, and the JSON answers with `error_code`/`error`.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::BadRequest;
use super::wire::{
    empty_as_none, entry, from_json, id, ids, into_text, nullable, opt_text, required_text, text,
    utf8,
};
use crate::bindings::pyrus_ext::hookhost::plugin::pyrus_ext_types::{
    Account, AccountAuth, AuthorizeRequest, Credential, ErrorCode, EventPerson, EventType,
    ExtError, ExtPerson, GrantType, Mapping, OauthRequest, OutgoingMessage, Resolution, TaskEvent,
    ToggleRequest,
};

pub enum ExtCall {
    Authorize(AuthorizeRequest),
    Toggle(ToggleRequest),
    Event(TaskEvent),
    SendMessage(OutgoingMessage),
    AvailableNumbers(AccountAuth),
}

pub enum ExtAnswer {
    Account(Account),
    Done,
    Numbers(Vec<String>),
}

/// The document's limits, in characters.
pub const MAX_CODE: usize = 50;
pub const MAX_VALUE: usize = 500;
pub const MAX_MESSAGE_TEXT: usize = 10_000;

#[derive(Deserialize)]
struct WireCredential {
    #[serde(deserialize_with = "text")]
    code: String,
    #[serde(default, deserialize_with = "text")]
    value: String,
}

#[derive(Deserialize)]
struct WireAuth {
    #[serde(default, deserialize_with = "nullable")]
    credentials: Vec<WireCredential>,
    #[serde(default, deserialize_with = "opt_text")]
    access_token: Option<String>,
}

impl WireAuth {
    fn into_auth(self) -> Result<AccountAuth, BadRequest> {
        Ok(AccountAuth {
            credentials: credentials(self.credentials)?,
            access_token: self.access_token,
        })
    }
}

fn credentials(wire: Vec<WireCredential>) -> Result<Vec<Credential>, BadRequest> {
    wire.into_iter()
        .map(|c| {
            check_len("credential code", &c.code, MAX_CODE)?;
            check_len("credential value", &c.value, MAX_VALUE)?;
            Ok(Credential {
                code: c.code,
                value: c.value,
            })
        })
        .collect()
}

fn check_len(what: &str, value: &str, max: usize) -> Result<(), BadRequest> {
    let chars = value.chars().count();
    if chars > max {
        return Err(BadRequest(format!(
            "{what} is {chars} characters; at most {max} allowed"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
struct WireAuthorize {
    credentials: Option<Vec<WireCredential>>,
    #[serde(default, deserialize_with = "opt_text")]
    grant_type: Option<String>,
    /// The document names it `authorization_code`; its example sends `code`.
    #[serde(default, deserialize_with = "opt_text")]
    code: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    authorization_code: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    refresh_token: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    client_id: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    client_secret: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    scope: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    redirect_uri: Option<String>,
}

pub fn parse_authorize(body: &[u8]) -> Result<AuthorizeRequest, BadRequest> {
    let wire: WireAuthorize = from_json(utf8(body)?, "an authorize request")?;
    // An explicit grant type means OAuth, whatever else came along.
    if wire.grant_type.is_none()
        && let Some(list) = wire.credentials
    {
        return Ok(AuthorizeRequest::Credentials(credentials(list)?));
    }
    let grant_type = match wire.grant_type.as_deref() {
        Some("authorization_code") => GrantType::AuthorizationCode,
        Some("refresh_token") => GrantType::RefreshToken,
        Some(other) => {
            return Err(BadRequest(format!(
                "grant_type {other:?} is neither authorization_code nor refresh_token"
            )));
        }
        None => {
            return Err(BadRequest(
                "an authorize request needs `credentials` or an OAuth `grant_type`".into(),
            ));
        }
    };
    Ok(AuthorizeRequest::Oauth(OauthRequest {
        grant_type,
        code: wire.authorization_code.or(wire.code),
        refresh_token: wire.refresh_token,
        client_id: wire.client_id,
        client_secret: wire.client_secret,
        scope: wire.scope,
        redirect_uri: wire.redirect_uri,
    }))
}

#[derive(Deserialize)]
struct WireToggle {
    #[serde(flatten)]
    auth: WireAuth,
    enabled: bool,
}

pub fn parse_toggle(body: &[u8]) -> Result<ToggleRequest, BadRequest> {
    let wire: WireToggle = from_json(utf8(body)?, "a toggle request")?;
    Ok(ToggleRequest {
        auth: wire.auth.into_auth()?,
        enabled: wire.enabled,
    })
}

#[derive(Deserialize)]
struct WirePerson {
    #[serde(deserialize_with = "id")]
    user_id: i64,
    #[serde(default, deserialize_with = "text")]
    first_name: String,
    #[serde(default, deserialize_with = "text")]
    last_name: String,
    #[serde(default, deserialize_with = "text")]
    work_phone: String,
    #[serde(default, deserialize_with = "opt_text")]
    resolution: Option<String>,
}

impl From<&WirePerson> for ExtPerson {
    fn from(p: &WirePerson) -> Self {
        ExtPerson {
            user_id: p.user_id,
            first_name: p.first_name.clone(),
            last_name: p.last_name.clone(),
            work_phone: p.work_phone.clone(),
        }
    }
}

/// The document lists `key`/`values`; its example sends `code`/`value`.
#[derive(Deserialize)]
struct WireMapping {
    #[serde(alias = "key", deserialize_with = "text")]
    code: String,
    #[serde(default, alias = "values")]
    value: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireEvent {
    #[serde(flatten)]
    auth: WireAuth,
    #[serde(deserialize_with = "id")]
    task_id: i64,
    #[serde(default, deserialize_with = "text")]
    event_type: String,
    /// "Can be empty", says the document: `{}` reads as absent.
    #[serde(default, deserialize_with = "empty_as_none")]
    event_person: Option<WirePerson>,
    #[serde(default, deserialize_with = "empty_as_none")]
    responsible_person: Option<WirePerson>,
    #[serde(default, deserialize_with = "nullable")]
    mappings: Vec<WireMapping>,
}

pub fn parse_event(body: bytes::Bytes) -> Result<TaskEvent, BadRequest> {
    let raw_json = into_text(body)?;
    let wire: WireEvent = from_json(&raw_json, "a task event")?;
    let event_type = match wire.event_type.as_str() {
        "create" => EventType::Create,
        "close" => EventType::Close,
        "comment" => EventType::Comment,
        other => EventType::Other(other.to_owned()),
    };
    let event_person = wire.event_person.as_ref().map(|p| EventPerson {
        person: p.into(),
        resolution: match p.resolution.as_deref() {
            Some("approved") => Some(Resolution::Approved),
            Some("rejected") => Some(Resolution::Rejected),
            Some("acknowledged") => Some(Resolution::Acknowledged),
            Some("later") => Some(Resolution::Later),
            // Unknown decisions stay readable in `raw-json`.
            _ => None,
        },
    });
    let mappings = wire
        .mappings
        .into_iter()
        .map(|m| Mapping {
            code: m.code,
            value: match m.value {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s,
                Some(other) => other.to_string(),
            },
        })
        .collect();
    Ok(TaskEvent {
        auth: wire.auth.into_auth()?,
        task_id: wire.task_id,
        event_type,
        event_person,
        responsible_person: wire.responsible_person.as_ref().map(ExtPerson::from),
        mappings,
        raw_json,
    })
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(flatten)]
    auth: WireAuth,
    /// A string per the document; its example sends a number.
    #[serde(deserialize_with = "required_text")]
    channel_id: String,
    #[serde(default, deserialize_with = "text")]
    message_type: String,
    #[serde(default, deserialize_with = "text")]
    message_text: String,
    #[serde(default, deserialize_with = "ids")]
    attachment_ids: Vec<i64>,
}

pub fn parse_message(body: &[u8]) -> Result<OutgoingMessage, BadRequest> {
    let wire: WireMessage = from_json(utf8(body)?, "a sendmessage request")?;
    check_len("message_text", &wire.message_text, MAX_MESSAGE_TEXT)?;
    Ok(OutgoingMessage {
        auth: wire.auth.into_auth()?,
        channel_id: wire.channel_id,
        message_type: wire.message_type,
        message_text: wire.message_text,
        attachment_ids: wire.attachment_ids,
    })
}

/// `?username=qwe123&access_code=654321` or `?access_token=…`: every
/// parameter but `access_token` is a credential.
pub fn parse_numbers_query(query: &str) -> Result<AccountAuth, BadRequest> {
    let (tokens, others): (Vec<_>, Vec<_>) =
        form_urlencoded::parse(query.as_bytes()).partition(|(key, _)| key == "access_token");
    let others = others.into_iter().map(|(code, value)| WireCredential {
        code: code.into_owned(),
        value: value.into_owned(),
    });
    Ok(AccountAuth {
        credentials: credentials(others.collect())?,
        access_token: tokens
            .into_iter()
            .last()
            .map(|(_, token)| token.into_owned()),
    })
}

/// The JSON Pyrus reads: the document's field names, unset ones left out.
pub fn answer_json(answer: Result<ExtAnswer, ExtError>) -> Vec<u8> {
    // Plain strings and lists: serializing cannot fail.
    serde_json::to_vec(&Answer(&answer)).unwrap_or_else(|_| b"{}".to_vec())
}

struct Answer<'a>(&'a Result<ExtAnswer, ExtError>);

impl Serialize for Answer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        match self.0 {
            Ok(ExtAnswer::Account(account)) => {
                map.serialize_entry("account_id", &account.account_id)?;
                map.serialize_entry("account_name", &account.account_name)?;
                entry(&mut map, "access_token", account.access_token.as_ref())?;
                entry(&mut map, "refresh_token", account.refresh_token.as_ref())?;
            }
            Ok(ExtAnswer::Numbers(numbers)) => map.serialize_entry("numbers", numbers)?,
            Ok(ExtAnswer::Done) => {}
            Err(error) => {
                map.serialize_entry("error_code", error_code(error.code))?;
                entry(&mut map, "error", error.message.as_ref())?;
            }
        }
        map.end()
    }
}

pub fn error_code(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::BadCredentials => "bad_credentials",
        ErrorCode::NoAccount => "no_account",
        ErrorCode::BadAuthorizationCode => "bad_authorization_code",
        ErrorCode::BadRefreshToken => "bad_refresh_token",
        ErrorCode::AccountBlockedByUser => "account_blocked_by_user",
        ErrorCode::ExternalError => "external_error",
        ErrorCode::InternalError => "internal_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{ "credentials":[ {"code":"login", "value":"test@email.com"}, {"code":"password", "value":"pass123"} ], "task_id": 223412, "event_person": { "user_id": "34231", "first_name": "Ilya", "last_name": "Laserson", "work_phone": "+79338762030", "resolution": "approved" }, "responsible_person":{ "user_id": "34231", "first_name": "Ilya", "last_name": "Laserson", "work_phone": "+79338762030" }, "mappings":[ {"code":"PhoneNumberFrom", "value":"200"}, {"code":"Subject", "value":"Здравствуйте!"} ], "event_type": "comment" }"#;

    #[test]
    fn the_documents_event_parses() {
        let event = parse_event(bytes::Bytes::from_static(EVENT.as_bytes())).unwrap();
        assert_eq!(event.task_id, 223412);
        assert!(matches!(event.event_type, EventType::Comment));
        let person = event.event_person.unwrap();
        assert_eq!(person.person.user_id, 34231);
        assert!(matches!(person.resolution, Some(Resolution::Approved)));
        assert_eq!(event.mappings[1].value, "Здравствуйте!");
        assert_eq!(event.auth.credentials[0].value, "test@email.com");
        assert_eq!(event.raw_json, EVENT);
    }

    #[test]
    fn empty_people_and_explicit_grants() {
        let event = parse_event(bytes::Bytes::from_static(
            br#"{"task_id":1,"responsible_person":{},"event_person":null}"#,
        ))
        .unwrap();
        assert!(event.responsible_person.is_none() && event.event_person.is_none());
        let oauth = parse_authorize(
            br#"{"credentials":[],"grant_type":"refresh_token","refresh_token":"r"}"#,
        )
        .unwrap();
        assert!(matches!(oauth, AuthorizeRequest::Oauth(_)));
        assert!(parse_message(br#"{"channel_id":null}"#).is_err());
    }

    #[test]
    fn authorize_by_credentials_or_oauth() {
        let by_keys =
            parse_authorize(br#"{"credentials":[{"code":"login","value":"a"}]}"#).unwrap();
        assert!(matches!(by_keys, AuthorizeRequest::Credentials(c) if c.len() == 1));
        let oauth = parse_authorize(br#"{ "code": "idjfLjV2hc72cA" , "client_id": "384592" , "client_secret": "JnchsYYwbc92Isj" , "scope": "offline_access,profile_settings" , "grant_type": "authorization_code" }"#).unwrap();
        let AuthorizeRequest::Oauth(o) = oauth else {
            panic!("not oauth")
        };
        assert_eq!(o.code.as_deref(), Some("idjfLjV2hc72cA"));
        assert!(matches!(o.grant_type, GrantType::AuthorizationCode));
        assert!(parse_authorize(b"{}").is_err());
        assert!(parse_authorize(br#"{"grant_type":"password"}"#).is_err());
    }

    #[test]
    fn limits_are_enforced_in_characters() {
        let code = "к".repeat(MAX_CODE);
        let ok = format!(r#"{{"credentials":[{{"code":"{code}","value":"v"}}],"enabled":true}}"#);
        assert!(parse_toggle(ok.as_bytes()).is_ok());
        let long =
            format!(r#"{{"credentials":[{{"code":"{code}x","value":"v"}}],"enabled":true}}"#);
        let err = parse_toggle(long.as_bytes()).unwrap_err();
        assert!(err.0.contains("at most 50"), "{err}");
        let value = "v".repeat(MAX_VALUE + 1);
        let long =
            format!(r#"{{"credentials":[{{"code":"c","value":"{value}"}}],"enabled":true}}"#);
        assert!(
            parse_toggle(long.as_bytes())
                .unwrap_err()
                .0
                .contains("at most 500")
        );
        let text = "t".repeat(MAX_MESSAGE_TEXT + 1);
        let long = format!(r#"{{"channel_id":1,"message_text":"{text}"}}"#);
        assert!(
            parse_message(long.as_bytes())
                .unwrap_err()
                .0
                .contains("at most 10000")
        );
        assert!(parse_numbers_query(&format!("{}=1", "c".repeat(51))).is_err());
    }

    #[test]
    fn numbers_query_splits_token_from_credentials() {
        let auth = parse_numbers_query("username=qwe123&access_code=654321").unwrap();
        assert_eq!(auth.credentials.len(), 2);
        assert_eq!(auth.access_token, None);
        let auth = parse_numbers_query("access_token=ds233sdasdlfgoasd").unwrap();
        assert_eq!(auth.access_token.as_deref(), Some("ds233sdasdlfgoasd"));
        assert!(auth.credentials.is_empty());
    }

    #[test]
    fn answers_use_the_documents_names() {
        let json = answer_json(Ok(ExtAnswer::Account(Account {
            account_id: "uniqueID12345".into(),
            account_name: "Test account".into(),
            access_token: None,
            refresh_token: None,
        })));
        assert_eq!(
            json,
            br#"{"account_id":"uniqueID12345","account_name":"Test account"}"#
        );
        let json = answer_json(Err(ExtError {
            code: ErrorCode::AccountBlockedByUser,
            message: Some("blocked".into()),
        }));
        assert_eq!(
            json,
            br#"{"error_code":"account_blocked_by_user","error":"blocked"}"#
        );
        assert_eq!(answer_json(Ok(ExtAnswer::Done)), b"{}");
    }
}
