//! A Worksection plugin for the host's tests. It logs each event as one line;
//! its `[config] mode` picks what follows: `ok` (the default), `slow`,
//! `fail` or `trap`.

wit_bindgen::generate!({
    world: "worksection",
    path: "../../../../wit",
});

use exports::hookhost::plugin::worksection_handler::Guest;
use hookhost::plugin::host::{self, Level};
use hookhost::plugin::types::PluginError;
use hookhost::plugin::worksection_types::{Action, Event, ObjectKind, ObjectState};

struct TestWorksection;

impl Guest for TestWorksection {
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
        let user = event.user.as_ref().map_or("-", |u| u.email.as_str());
        host::log(
            Level::Info,
            &format!(
                "ws event action={action} kind={kind} id={} user={user} title={} priority={} old_title={}",
                event.object_id,
                state(&event.new, |s| &s.title),
                state(&event.new, |s| &s.priority),
                state(&event.old, |s| &s.title),
            ),
        );
        let mode = host::get_config("mode").unwrap_or_default();
        match mode.as_str() {
            "" | "ok" => Ok(()),
            "slow" => {
                let ms: u64 = host::get_config("slow_ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1000);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                host::log(Level::Info, &format!("ws done id={}", event.object_id));
                Ok(())
            }
            "fail" => Err(PluginError::Internal(format!("boom {}", event.object_id))),
            "trap" => panic!("test-worksection was told to trap"),
            other => Err(PluginError::Internal(format!("unknown mode {other}"))),
        }
    }
}

/// One field of a state, or "-" when the state or the field is absent.
fn state<'a>(
    state: &'a Option<ObjectState>,
    field: impl Fn(&'a ObjectState) -> &'a Option<String>,
) -> &'a str {
    state
        .as_ref()
        .and_then(|s| field(s).as_deref())
        .unwrap_or("-")
}

export!(TestWorksection);
