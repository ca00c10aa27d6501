//! A Pyrus bot for the host's tests. Its `[config] mode` picks how it
//! (mis)behaves, so one build covers every adversarial case.

wit_bindgen::generate!({
    world: "pyrus-bot",
    path: "../../../../wit",
});

use exports::hookhost::plugin::pyrus_bot_handler::{BotEvent, Comment, Guest};
use hookhost::plugin::host::{self, Field, Level};
use hookhost::plugin::pyrus_types::{FieldRef, FieldUpdate, FieldValue, PersonRef};
use hookhost::plugin::types::PluginError;

use std::sync::atomic::{AtomicU64, Ordering};

struct TestBot;

impl Guest for TestBot {
    fn handle(event: BotEvent) -> Result<Option<Comment>, PluginError> {
        let mode = host::get_config("mode").unwrap_or_default();
        host::log_fields(
            Level::Info,
            &format!("test-bot handling task {}", event.task_id),
            &[Field {
                key: "mode".into(),
                value: mode.clone(),
            }],
        );
        match mode.as_str() {
            // Answers differently from echo-bot: the hot-reload tests tell
            // the two apart by this text.
            "" | "reply" => Ok(Some(text(format!(
                "test-bot saw task {} on attempt {}/{}",
                event.task_id, event.retry.attempt, event.retry.max_attempts
            )))),
            "silent" => Ok(None),
            // For instance reuse: how many calls this instance has served
            // (1 for a fresh one), unless the task id says to fail.
            "count" => {
                static CALLS: AtomicU64 = AtomicU64::new(0);
                let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
                match event.task_id % 1000 {
                    666 => panic!("test-bot was told to trap"),
                    777 => loop {
                        std::hint::black_box(());
                    },
                    888 => {
                        let mut hoard: Vec<Vec<u8>> = Vec::new();
                        loop {
                            hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
                        }
                    }
                    _ => Ok(Some(text(format!("call {calls} of this instance")))),
                }
            }
            // A plugin whose first try fails (its API was down) and whose
            // resend succeeds: the host must not remember the failure.
            "first-attempt-fails" if event.retry.attempt == 1 => {
                Err(PluginError::Unavailable("first attempt fails".into()))
            }
            "first-attempt-fails" => Ok(Some(text(format!(
                "test-bot did task {} on attempt {}/{}",
                event.task_id, event.retry.attempt, event.retry.max_attempts
            )))),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "oom" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
            }
            "trap" => panic!("test-bot was told to trap"),
            "slow" => {
                // Busy for `slow_ms` of wall-clock time, then answer.
                let ms: u64 = host::get_config("slow_ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1000);
                let start = std::time::Instant::now();
                while start.elapsed().as_millis() < u128::from(ms) {
                    std::hint::black_box(());
                }
                Ok(Some(text(format!("slept {ms} ms"))))
            }
            "chatty" => {
                println!("stdout line from test-bot");
                eprintln!("stderr line from test-bot\nsecond\x1b[31m line");
                Ok(None)
            }
            // Far more than a request's log budget: 1000 lines of 200 bytes.
            "flood-log" => {
                let pad = "x".repeat(195);
                for i in 0..1000 {
                    println!("{i:04} {pad}");
                }
                Ok(None)
            }
            "config" => {
                let all: Vec<String> = host::list_config()
                    .into_iter()
                    .map(|f| format!("{}={}", f.key, f.value))
                    .collect();
                Ok(Some(text(all.join(","))))
            }
            "raw" => Ok(Some(text(event.raw_json))),
            "full" => Ok(Some(Comment {
                text: Some("all fields".into()),
                formatted_text: Some("<b>all</b>".into()),
                approval_choice: Some(hookhost::plugin::pyrus_types::ApprovalChoice::Acknowledged),
                action: Some(hookhost::plugin::pyrus_types::TaskAction::Reopened),
                reassign_to: Some(PersonRef::Email("bob@example.com".into())),
                participants_added: vec![PersonRef::Id(1)],
                participants_removed: vec![PersonRef::Email("x@example.com".into())],
                subscribers_added: vec![PersonRef::Id(2)],
                subscribers_removed: vec![PersonRef::Id(3)],
                approvals_added: vec![
                    vec![PersonRef::Id(4)],
                    vec![PersonRef::Id(5), PersonRef::Id(6)],
                ],
                approvals_removed: vec![vec![PersonRef::Id(7)]],
                field_updates: vec![
                    FieldUpdate {
                        field: FieldRef::Id(10),
                        value: FieldValue::Text("t".into()),
                    },
                    FieldUpdate {
                        field: FieldRef::Code("amount".into()),
                        value: FieldValue::Number(12.5),
                    },
                    FieldUpdate {
                        field: FieldRef::Name("Choice".into()),
                        value: FieldValue::Json(r#"{"choice_id":3}"#.into()),
                    },
                ],
                due_date: Some("2026-12-01".into()),
                due: Some("2026-12-01T10:00:00Z".into()),
                duration: Some(60),
                spent_minutes: Some(15),
                attachments: vec!["00000000-0000-0000-0000-000000000001".into()],
            })),
            "bad-json" => Ok(Some(Comment {
                field_updates: vec![FieldUpdate {
                    field: FieldRef::Id(1),
                    value: FieldValue::Json("{not json".into()),
                }],
                ..text(String::new())
            })),
            "reject" => Err(PluginError::Rejected("not for me".into())),
            "unavailable" => Err(PluginError::Unavailable("try later".into())),
            "internal" => Err(PluginError::Internal("bug".into())),
            other => Err(PluginError::Internal(format!("unknown mode {other}"))),
        }
    }
}

fn text(text: String) -> Comment {
    Comment {
        text: Some(text),
        formatted_text: None,
        approval_choice: None,
        action: None,
        reassign_to: None,
        participants_added: Vec::new(),
        participants_removed: Vec::new(),
        subscribers_added: Vec::new(),
        subscribers_removed: Vec::new(),
        approvals_added: Vec::new(),
        approvals_removed: Vec::new(),
        field_updates: Vec::new(),
        due_date: None,
        due: None,
        duration: None,
        spent_minutes: None,
        attachments: Vec::new(),
    }
}

export!(TestBot);
