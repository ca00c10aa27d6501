//! Worksection webhooks: a delivery is a JSON array of events (a single
//! object is taken as a delivery of one), each turned into a typed event
//! carrying its own raw JSON.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::BadRequest;
use super::wire::{from_json, opt_text, text, utf8};
use crate::bindings::worksection::hookhost::plugin::worksection_types::{
    Action, Event, ObjectKind, ObjectState, User,
};

/// The answer Worksection requires, within 5 s, for every delivery.
pub const OK_BODY: &str = r#"{"status":"OK"}"#;

/// A parsed delivery. Elements that are not events are skipped rather than
/// failing the whole delivery: its other events are still good, and every
/// error counts towards Worksection disabling the webhook.
#[derive(Debug, Default)]
pub struct Delivery {
    pub events: Vec<Event>,
    /// Why each skipped element was skipped, e.g. "element 2: not an object".
    pub skipped: Vec<String>,
}

pub fn parse_delivery(body: &[u8]) -> Result<Delivery, BadRequest> {
    let text = utf8(body)?;
    let mut delivery = Delivery::default();
    // An empty POST (a connectivity check) is acknowledged like any other.
    if text.trim().is_empty() {
        return Ok(delivery);
    }
    let raw: &RawValue = from_json(text, "JSON")?;
    let items: Vec<&RawValue> = match raw.get().trim_start().as_bytes().first() {
        Some(b'[') => from_json(raw.get(), "an array of Worksection events")?,
        Some(b'{') => vec![raw],
        _ => {
            return Err(BadRequest(
                "body is not a Worksection delivery: expected an array of events or one event object".into(),
            ));
        }
    };
    for (i, raw) in items.into_iter().enumerate() {
        match parse_event(raw) {
            Ok(event) => delivery.events.push(event),
            Err(BadRequest(why)) => delivery.skipped.push(format!("element {i}: {why}")),
        }
    }
    Ok(delivery)
}

#[derive(Deserialize, Default)]
struct WireObject {
    #[serde(rename = "type", default, deserialize_with = "text")]
    kind: String,
    #[serde(default, deserialize_with = "text")]
    id: String,
    #[serde(default, deserialize_with = "text")]
    page: String,
}

#[derive(Deserialize)]
struct WireUser {
    #[serde(default, deserialize_with = "text")]
    id: String,
    #[serde(default, deserialize_with = "text")]
    email: String,
    #[serde(default, deserialize_with = "text")]
    name: String,
}

impl From<WireUser> for User {
    fn from(u: WireUser) -> Self {
        User {
            id: u.id,
            email: u.email,
            name: u.name,
        }
    }
}

#[derive(Deserialize)]
struct WireState {
    #[serde(default, alias = "title", deserialize_with = "opt_text")]
    name: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    text: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    status: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    priority: Option<String>,
    #[serde(default, alias = "assignee")]
    user_to: Option<WireUser>,
    #[serde(default, deserialize_with = "opt_text")]
    date_start: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    date_end: Option<String>,
}

impl From<WireState> for ObjectState {
    fn from(s: WireState) -> Self {
        ObjectState {
            title: s.name,
            text: s.text,
            status: s.status,
            priority: s.priority,
            assignee: s.user_to.map(User::from),
            date_start: s.date_start,
            date_end: s.date_end,
        }
    }
}

#[derive(Deserialize)]
struct WireEvent {
    #[serde(default, deserialize_with = "text")]
    action: String,
    #[serde(default)]
    object: WireObject,
    #[serde(default, deserialize_with = "text")]
    date: String,
    #[serde(default, alias = "user")]
    user_from: Option<WireUser>,
    #[serde(default)]
    new: Option<WireState>,
    #[serde(default)]
    old: Option<WireState>,
}

fn parse_event(raw: &RawValue) -> Result<Event, BadRequest> {
    let wire: WireEvent = from_json(raw.get(), "a Worksection event")?;
    let action = match wire.action.as_str() {
        "post" => Action::Post,
        "update" => Action::Update,
        "close" => Action::Close,
        "reopen" => Action::Reopen,
        "delete" => Action::Delete,
        other => Action::Other(other.to_owned()),
    };
    let object_kind = match wire.object.kind.as_str() {
        "task" => ObjectKind::Task,
        "comment" => ObjectKind::Comment,
        "project" => ObjectKind::Project,
        other => ObjectKind::Other(other.to_owned()),
    };
    Ok(Event {
        action,
        object_kind,
        object_id: wire.object.id,
        page: wire.object.page,
        date: wire.date,
        user: wire.user_from.map(User::from),
        new: wire.new.map(ObjectState::from),
        old: wire.old.map(ObjectState::from),
        raw_json: raw.get().to_owned(),
    })
}

/// `update task #123` — for log lines about an event.
pub fn summary(event: &Event) -> String {
    let action = match &event.action {
        Action::Post => "post",
        Action::Update => "update",
        Action::Close => "close",
        Action::Reopen => "reopen",
        Action::Delete => "delete",
        Action::Other(other) => other,
    };
    let kind = match &event.object_kind {
        ObjectKind::Task => "task",
        ObjectKind::Comment => "comment",
        ObjectKind::Project => "project",
        ObjectKind::Other(other) => other,
    };
    format!("{action} {kind} #{}", event.object_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASK: &str = r#"{"action":"post","object":{"type":"task","id":"4567","page":"/project/123/4567/"},"date":"2026-11-23 10:00","user_from":{"id":"7","email":"ann@example.com","name":"Ann"},"new":{"name":"Ship it","text":"<p>now</p>","priority":"9","user_to":{"id":"8","email":"bob@example.com","name":"Bob"},"date_end":"2026-11-30"}}"#;

    #[test]
    fn a_delivery_is_an_array_or_one_object() {
        let events = parse_delivery(format!("[{TASK},{TASK}]").as_bytes())
            .unwrap()
            .events;
        assert_eq!(events.len(), 2);
        let e = &events[0];
        assert!(matches!(e.action, Action::Post));
        assert!(matches!(e.object_kind, ObjectKind::Task));
        assert_eq!(e.object_id, "4567");
        assert_eq!(e.user.as_ref().unwrap().email, "ann@example.com");
        let new = e.new.as_ref().unwrap();
        assert_eq!(new.title.as_deref(), Some("Ship it"));
        assert_eq!(new.priority.as_deref(), Some("9"));
        assert_eq!(new.assignee.as_ref().unwrap().name, "Bob");
        assert_eq!(e.raw_json, TASK);
        assert_eq!(summary(e), "post task #4567");
        assert_eq!(parse_delivery(TASK.as_bytes()).unwrap().events.len(), 1);
        assert!(parse_delivery(b"[]").unwrap().events.is_empty());
        assert!(parse_delivery(b" \n").unwrap().events.is_empty());
    }

    #[test]
    fn malformed_deliveries_say_what_is_wrong() {
        assert!(
            parse_delivery(b"nope")
                .unwrap_err()
                .0
                .contains("not valid JSON")
        );
        assert!(
            parse_delivery(b"42")
                .unwrap_err()
                .0
                .contains("expected an array")
        );
    }

    #[test]
    fn odd_elements_are_skipped_not_fatal() {
        let delivery =
            parse_delivery(format!(r#"[{TASK},{{"object":{{}}}},7,{{"object":"x"}}]"#).as_bytes())
                .unwrap();
        assert_eq!(delivery.events.len(), 2);
        assert!(matches!(&delivery.events[1].action, Action::Other(a) if a.is_empty()));
        assert_eq!(delivery.skipped.len(), 2);
        assert!(
            delivery.skipped[0].starts_with("element 2:"),
            "{:?}",
            delivery.skipped
        );
    }
}
