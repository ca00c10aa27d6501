//! Logs every Worksection event as one line, and warns about tasks that are
//! overdue or of high priority.
//!
//! Config keys: `overdue_before` ("YYYY-MM-DD"; unset: no overdue check) and
//! `high_priority` (a number, default 8).

wit_bindgen::generate!({
    world: "worksection",
    path: "../../wit",
});

use exports::hookhost::plugin::worksection_handler::Guest;
use hookhost::plugin::host::{self, Level};
use hookhost::plugin::types::PluginError;
use hookhost::plugin::worksection_types::{Action, Event, ObjectKind};

const DEFAULT_HIGH_PRIORITY: f64 = 8.0;

struct WorksectionLog;

impl Guest for WorksectionLog {
    fn handle(event: Event) -> Result<(), PluginError> {
        let action = match &event.action {
            Action::Post => "post",
            Action::Update => "update",
            Action::Close => "close",
            Action::Reopen => "reopen",
            Action::Delete => "delete",
            Action::Other(other) => other.as_str(),
        };
        let kind = match &event.object_kind {
            ObjectKind::Task => "task",
            ObjectKind::Comment => "comment",
            ObjectKind::Project => "project",
            ObjectKind::Other(other) => other.as_str(),
        };
        let title = event
            .new
            .as_ref()
            .and_then(|s| s.title.as_deref())
            .or_else(|| event.old.as_ref().and_then(|s| s.title.as_deref()))
            .unwrap_or_default();
        let by = match &event.user {
            Some(user) => format!("{} <{}>", user.name, user.email),
            None => String::from("unknown"),
        };
        host::log(
            Level::Info,
            &format!(
                "{action} {kind} #{} \"{title}\" by {by} {}",
                event.object_id, event.page
            ),
        );

        let Some(new) = &event.new else {
            return Ok(());
        };
        if let (Some(limit), Some(due)) = (host::get_config("overdue_before"), &new.date_end) {
            match (parse_date(&limit), parse_date(due)) {
                (None, _) => host::log(
                    Level::Warn,
                    &format!("config overdue_before {limit:?} is not YYYY-MM-DD; not checked"),
                ),
                (Some(limit_date), Some(due_date)) if due_date < limit_date => host::log(
                    Level::Warn,
                    &format!(
                        "overdue: #{} \"{title}\" is due {due}, before {limit}",
                        event.object_id
                    ),
                ),
                _ => {}
            }
        }
        if let Some(priority) = &new.priority {
            let threshold = match host::get_config("high_priority") {
                None => DEFAULT_HIGH_PRIORITY,
                Some(v) => v.trim().parse().unwrap_or_else(|_| {
                    host::log(
                        Level::Warn,
                        &format!("config high_priority {v:?} is not a number; using 8"),
                    );
                    DEFAULT_HIGH_PRIORITY
                }),
            };
            if let Ok(p) = priority.trim().parse::<f64>()
                && threshold <= p
            {
                host::log(
                    Level::Warn,
                    &format!(
                        "high priority: #{} \"{title}\" has priority {priority} (>= {threshold})",
                        event.object_id
                    ),
                );
            }
        }
        Ok(())
    }
}

/// `(year, month, day)` of a date that starts "YYYY-MM-DD" (a time may
/// follow) or "DD.MM.YYYY", as Worksection writes dates in some places.
fn parse_date(text: &str) -> Option<(u32, u32, u32)> {
    let text = text.trim();
    let head = text.get(..10)?;
    if let Some(rest) = text.get(10..)
        && !(rest.is_empty() || rest.starts_with([' ', 'T']))
    {
        return None;
    }
    let num = |s: &str| -> Option<u32> {
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = match head.as_bytes() {
        [_, _, _, _, b'-', _, _, b'-', _, _] => {
            (num(&head[..4])?, num(&head[5..7])?, num(&head[8..])?)
        }
        [_, _, b'.', _, _, b'.', _, _, _, _] => {
            (num(&head[6..])?, num(&head[3..5])?, num(&head[..2])?)
        }
        _ => return None,
    };
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

export!(WorksectionLog);
