//! Pyrus bot webhooks: the task event Pyrus POSTs, and the comment a bot
//! answers with (the body of Pyrus's `POST /tasks/{task-id}/comments`).

use axum::http::HeaderValue;
use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use super::wire::{entry, from_json, into_text, nullable};
use super::{BadAnswer, BadRequest};
use crate::bindings::exports::hookhost::plugin::pyrus_bot_handler::{BotEvent, Comment};
use crate::bindings::hookhost::plugin::pyrus_types::{
    ApprovalChoice, FieldRef, FieldUpdate, FieldValue, Person, PersonRef, Retry, Task, TaskAction,
    TaskComment,
};

pub const RETRY_HEADER: &str = "X-Pyrus-Retry";

/// `X-Pyrus-Retry: n/3`. Absent means a first delivery.
pub fn parse_retry(header: Option<&HeaderValue>) -> Result<Retry, BadRequest> {
    let Some(header) = header else {
        return Ok(Retry {
            attempt: 1,
            max_attempts: 3,
        });
    };
    let bad = || BadRequest(format!("{RETRY_HEADER} must look like 1/3"));
    let text = header.to_str().map_err(|_| bad())?;
    let (attempt, max) = text.trim().split_once('/').ok_or_else(bad)?;
    let attempt: u8 = attempt.trim().parse().map_err(|_| bad())?;
    let max_attempts: u8 = max.trim().parse().map_err(|_| bad())?;
    if attempt == 0 || attempt > max_attempts {
        return Err(bad());
    }
    Ok(Retry {
        attempt,
        max_attempts,
    })
}

/// Builds the typed event from a verified body. The body moves into the
/// event's `raw-json` without a copy.
pub fn parse_event(body: bytes::Bytes, retry: Retry) -> Result<BotEvent, BadRequest> {
    let raw_json = into_text(body)?;
    let wire: WireEvent = from_json(&raw_json, "a Pyrus task event")?;
    Ok(BotEvent {
        event: wire.event,
        task_id: wire.task_id,
        user_id: wire.user_id,
        access_token: wire.access_token,
        retry,
        task: wire.task.into(),
        raw_json,
    })
}

/// The JSON body Pyrus expects, with unset fields left out.
pub fn comment_json(comment: Comment) -> Result<Vec<u8>, BadAnswer> {
    serde_json::to_vec(&Wire(&comment)).map_err(|e| BadAnswer(e.to_string()))
}

// ---- what Pyrus sends -------------------------------------------------------

#[derive(Deserialize)]
struct WireEvent {
    #[serde(default, deserialize_with = "nullable")]
    event: String,
    task_id: i64,
    #[serde(default, deserialize_with = "nullable")]
    user_id: i64,
    #[serde(default, deserialize_with = "nullable")]
    access_token: String,
    task: WireTask,
}

#[derive(Deserialize)]
struct WireTask {
    id: i64,
    #[serde(default, deserialize_with = "nullable")]
    text: String,
    #[serde(default, deserialize_with = "nullable")]
    create_date: String,
    #[serde(default, deserialize_with = "nullable")]
    last_modified_date: String,
    #[serde(default)]
    author: Option<WirePerson>,
    #[serde(default)]
    responsible: Option<WirePerson>,
    #[serde(default, deserialize_with = "nullable")]
    participants: Vec<WirePerson>,
    #[serde(default, deserialize_with = "nullable")]
    comments: Vec<WireTaskComment>,
}

#[derive(Deserialize)]
struct WirePerson {
    id: i64,
    #[serde(default, deserialize_with = "nullable")]
    first_name: String,
    #[serde(default, deserialize_with = "nullable")]
    last_name: String,
    #[serde(default, deserialize_with = "nullable")]
    email: String,
}

#[derive(Deserialize)]
struct WireTaskComment {
    id: i64,
    #[serde(default, deserialize_with = "nullable")]
    text: String,
    #[serde(default, deserialize_with = "nullable")]
    create_date: String,
    #[serde(default)]
    author: Option<WirePerson>,
}

impl From<WirePerson> for Person {
    fn from(p: WirePerson) -> Self {
        Person {
            id: p.id,
            first_name: p.first_name,
            last_name: p.last_name,
            email: p.email,
        }
    }
}

impl From<WireTask> for Task {
    fn from(t: WireTask) -> Self {
        Task {
            id: t.id,
            text: t.text,
            create_date: t.create_date,
            last_modified_date: t.last_modified_date,
            author: t.author.map(Person::from),
            responsible: t.responsible.map(Person::from),
            participants: t.participants.into_iter().map(Person::from).collect(),
            comments: t
                .comments
                .into_iter()
                .map(|c| TaskComment {
                    id: c.id,
                    text: c.text,
                    create_date: c.create_date,
                    author: c.author.map(Person::from),
                })
                .collect(),
        }
    }
}

// ---- what the bot answers ---------------------------------------------------

/// A WIT value as the JSON Pyrus reads.
struct Wire<'a, T>(&'a T);

impl Serialize for Wire<'_, Comment> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let approval_choice = c.approval_choice.map(|choice| match choice {
            ApprovalChoice::Approved => "approved",
            ApprovalChoice::Rejected => "rejected",
            ApprovalChoice::Acknowledged => "acknowledged",
            ApprovalChoice::Revoked => "revoked",
        });
        let action = c.action.map(|action| match action {
            TaskAction::Finished => "finished",
            TaskAction::Reopened => "reopened",
        });
        let mut map = s.serialize_map(None)?;
        entry(&mut map, "text", c.text.as_ref())?;
        entry(&mut map, "formatted_text", c.formatted_text.as_ref())?;
        entry(&mut map, "approval_choice", approval_choice.as_ref())?;
        entry(&mut map, "action", action.as_ref())?;
        entry(
            &mut map,
            "reassign_to",
            c.reassign_to.as_ref().map(Wire).as_ref(),
        )?;
        list(&mut map, "participants_added", &c.participants_added)?;
        list(&mut map, "participants_removed", &c.participants_removed)?;
        list(&mut map, "subscribers_added", &c.subscribers_added)?;
        list(&mut map, "subscribers_removed", &c.subscribers_removed)?;
        list(&mut map, "approvals_added", &c.approvals_added)?;
        list(&mut map, "approvals_removed", &c.approvals_removed)?;
        list(&mut map, "field_updates", &c.field_updates)?;
        entry(&mut map, "due_date", c.due_date.as_ref())?;
        entry(&mut map, "due", c.due.as_ref())?;
        entry(&mut map, "duration", c.duration.as_ref())?;
        entry(&mut map, "spent_minutes", c.spent_minutes.as_ref())?;
        let attachments = &c.attachments;
        entry(
            &mut map,
            "attachments",
            Some(attachments).filter(|a| !a.is_empty()),
        )?;
        map.end()
    }
}

/// `key: [...]`, left out when the list is empty.
fn list<M: SerializeMap, T>(map: &mut M, key: &str, items: &[T]) -> Result<(), M::Error>
where
    for<'b> Wire<'b, T>: Serialize,
{
    entry(map, key, Some(Seq(items)).filter(|_| !items.is_empty()))
}

/// A list of WIT values, as a JSON array.
struct Seq<'a, T>(&'a [T]);

impl<T> Serialize for Seq<'_, T>
where
    for<'b> Wire<'b, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Wire))
    }
}

/// An approval step: the persons in it.
impl Serialize for Wire<'_, Vec<PersonRef>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Seq(self.0).serialize(s)
    }
}

/// `{"id": 1731}` or `{"email": "bob@example.com"}`.
impl Serialize for Wire<'_, PersonRef> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        match self.0 {
            PersonRef::Id(id) => map.serialize_entry("id", id)?,
            PersonRef::Email(email) => map.serialize_entry("email", email)?,
        }
        map.end()
    }
}

/// `{"id": 5, "value": …}`, `{"code": "…", "value": …}` or `{"name": "…", "value": …}`.
impl Serialize for Wire<'_, FieldUpdate> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        match &self.0.field {
            FieldRef::Id(id) => map.serialize_entry("id", id)?,
            FieldRef::Code(code) => map.serialize_entry("code", code)?,
            FieldRef::Name(name) => map.serialize_entry("name", name)?,
        }
        match &self.0.value {
            FieldValue::Text(text) => map.serialize_entry("value", text)?,
            FieldValue::Number(n) if n.is_finite() => map.serialize_entry("value", n)?,
            FieldValue::Number(n) => {
                let why = format!("field value {n} is not a JSON number");
                return Err(S::Error::custom(why));
            }
            FieldValue::Json(json) => {
                let invalid = |e: serde_json::Error| {
                    S::Error::custom(format!("field value is not valid JSON: {e}"))
                };
                let json: &RawValue = serde_json::from_str(json).map_err(invalid)?;
                // The syntax alone lets through numbers no reader can hold
                // (`1e400`); like a non-finite `number`, they are not sent.
                serde_json::from_str::<serde_json::Value>(json.get()).map_err(invalid)?;
                map.serialize_entry("value", json)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn retry_header() {
        let r = parse_retry(Some(&header("2/3"))).unwrap();
        assert_eq!((r.attempt, r.max_attempts), (2, 3));
        let r = parse_retry(None).unwrap();
        assert_eq!((r.attempt, r.max_attempts), (1, 3));
        for bad in ["", "2", "a/3", "0/3", "4/3", "1/x"] {
            assert!(parse_retry(Some(&header(bad))).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_names_missing_field() {
        let retry = Retry {
            attempt: 1,
            max_attempts: 3,
        };
        let err =
            parse_event(bytes::Bytes::from_static(br#"{"task": {"id": 1}}"#), retry).unwrap_err();
        assert!(err.0.contains("task_id"), "{err}");
        let err = parse_event(bytes::Bytes::from_static(b"{nope"), retry).unwrap_err();
        assert!(err.0.starts_with("body is not valid JSON"), "{err}");
    }

    #[test]
    fn nulls_read_as_absent() {
        let retry = Retry {
            attempt: 1,
            max_attempts: 3,
        };
        let body = br#"{"task_id": 5, "user_id": null, "task": {"id": 5, "text": null, "comments": null}}"#;
        let event = parse_event(bytes::Bytes::from_static(body), retry).unwrap();
        assert_eq!(event.task.text, "");
        assert!(event.task.comments.is_empty());
        assert_eq!(event.raw_json.as_bytes(), body);
    }

    fn empty_comment() -> Comment {
        Comment {
            text: None,
            formatted_text: None,
            approval_choice: None,
            action: None,
            reassign_to: None,
            participants_added: vec![],
            participants_removed: vec![],
            subscribers_added: vec![],
            subscribers_removed: vec![],
            approvals_added: vec![],
            approvals_removed: vec![],
            field_updates: vec![],
            due_date: None,
            due: None,
            duration: None,
            spent_minutes: None,
            attachments: vec![],
        }
    }

    #[test]
    fn comment_uses_pyrus_names_and_omits_unset() {
        let comment = Comment {
            text: Some("hi".into()),
            approval_choice: Some(ApprovalChoice::Approved),
            action: Some(TaskAction::Finished),
            reassign_to: Some(PersonRef::Email("a@b.c".into())),
            approvals_added: vec![vec![PersonRef::Id(1)], vec![PersonRef::Id(2)]],
            field_updates: vec![
                FieldUpdate {
                    field: FieldRef::Id(7),
                    value: FieldValue::Number(3.5),
                },
                FieldUpdate {
                    field: FieldRef::Code("c".into()),
                    value: FieldValue::Json(r#"{"item_id": 9}"#.into()),
                },
            ],
            spent_minutes: Some(15),
            ..empty_comment()
        };
        let json: serde_json::Value =
            serde_json::from_slice(&comment_json(comment).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "text": "hi",
                "approval_choice": "approved",
                "action": "finished",
                "reassign_to": {"email": "a@b.c"},
                "approvals_added": [[{"id": 1}], [{"id": 2}]],
                "field_updates": [{"id": 7, "value": 3.5}, {"code": "c", "value": {"item_id": 9}}],
                "spent_minutes": 15
            })
        );
        assert_eq!(comment_json(empty_comment()).unwrap(), b"{}");
    }

    #[test]
    fn invalid_field_json_is_a_bad_answer() {
        let comment = Comment {
            field_updates: vec![FieldUpdate {
                field: FieldRef::Name("x".into()),
                value: FieldValue::Json("{oops".into()),
            }],
            ..empty_comment()
        };
        assert!(comment_json(comment).is_err());
    }
}
