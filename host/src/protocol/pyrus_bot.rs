//! Pyrus bot webhooks: the task event Pyrus POSTs, and the comment a bot
//! answers with (the body of Pyrus's `POST /tasks/{task-id}/comments`).

use axum::http::HeaderValue;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::wire::{from_json, into_text, nullable};
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
    let field_updates = comment
        .field_updates
        .into_iter()
        .map(WireFieldUpdate::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let wire = WireComment {
        text: comment.text,
        formatted_text: comment.formatted_text,
        approval_choice: comment.approval_choice.map(|c| match c {
            ApprovalChoice::Approved => "approved",
            ApprovalChoice::Rejected => "rejected",
            ApprovalChoice::Acknowledged => "acknowledged",
            ApprovalChoice::Revoked => "revoked",
        }),
        action: comment.action.map(|a| match a {
            TaskAction::Finished => "finished",
            TaskAction::Reopened => "reopened",
        }),
        reassign_to: comment.reassign_to.map(WirePersonRef::from),
        participants_added: people(comment.participants_added),
        participants_removed: people(comment.participants_removed),
        subscribers_added: people(comment.subscribers_added),
        subscribers_removed: people(comment.subscribers_removed),
        approvals_added: steps(comment.approvals_added),
        approvals_removed: steps(comment.approvals_removed),
        field_updates,
        due_date: comment.due_date,
        due: comment.due,
        duration: comment.duration,
        spent_minutes: comment.spent_minutes,
        attachments: comment.attachments,
    };
    serde_json::to_vec(&wire).map_err(|e| BadAnswer(e.to_string()))
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

#[derive(Serialize)]
struct WireComment {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    formatted_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval_choice: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reassign_to: Option<WirePersonRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    participants_added: Vec<WirePersonRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    participants_removed: Vec<WirePersonRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscribers_added: Vec<WirePersonRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscribers_removed: Vec<WirePersonRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    approvals_added: Vec<Vec<WirePersonRef>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    approvals_removed: Vec<Vec<WirePersonRef>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    field_updates: Vec<WireFieldUpdate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    due_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    due: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spent_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<String>,
}

/// `{"id": 1731}` or `{"email": "bob@example.com"}`.
#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum WirePersonRef {
    Id(i64),
    Email(String),
}

impl From<PersonRef> for WirePersonRef {
    fn from(p: PersonRef) -> Self {
        match p {
            PersonRef::Id(id) => WirePersonRef::Id(id),
            PersonRef::Email(email) => WirePersonRef::Email(email),
        }
    }
}

fn people(list: Vec<PersonRef>) -> Vec<WirePersonRef> {
    list.into_iter().map(WirePersonRef::from).collect()
}

fn steps(list: Vec<Vec<PersonRef>>) -> Vec<Vec<WirePersonRef>> {
    list.into_iter().map(people).collect()
}

/// `{"id": 5, "value": …}`, `{"code": "…", "value": …}` or `{"name": "…", "value": …}`.
#[derive(Serialize)]
struct WireFieldUpdate {
    #[serde(flatten)]
    field: WireFieldRef,
    value: WireFieldValue,
}

#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum WireFieldRef {
    Id(i64),
    Code(String),
    Name(String),
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireFieldValue {
    Text(String),
    Number(f64),
    Json(Box<RawValue>),
}

impl TryFrom<FieldUpdate> for WireFieldUpdate {
    type Error = BadAnswer;

    fn try_from(update: FieldUpdate) -> Result<Self, BadAnswer> {
        let field = match update.field {
            FieldRef::Id(id) => WireFieldRef::Id(id),
            FieldRef::Code(code) => WireFieldRef::Code(code),
            FieldRef::Name(name) => WireFieldRef::Name(name),
        };
        let value = match update.value {
            FieldValue::Text(text) => WireFieldValue::Text(text),
            FieldValue::Number(n) if n.is_finite() => WireFieldValue::Number(n),
            FieldValue::Number(n) => {
                return Err(BadAnswer(format!("field value {n} is not a JSON number")));
            }
            FieldValue::Json(json) => WireFieldValue::Json(
                RawValue::from_string(json)
                    .map_err(|e| BadAnswer(format!("field value is not valid JSON: {e}")))?,
            ),
        };
        Ok(WireFieldUpdate { field, value })
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
